"""Waveforms and their batches for fine-tuning.

* :class:`WaveformDataset`: manifest rows -> ``{"id", "sig", "label_id"}``
  (audio read by :func:`emotion2vec.audio.read_audio`: mono, 16 kHz);
  training items longer than ``crop_samples`` are cropped at a random
  start drawn from ``(seed, epoch, index)``, so an epoch is the same
  whether or not the run was interrupted.
* :class:`LengthBucketBatchSampler`: batches of similar lengths under a
  budget of padded samples (:func:`emotion2vec.audio.batching.length_batches`),
  reproducible from ``(seed, epoch)``: lengths are rounded up to buckets
  (half a second), items of a bucket come in a random order and the batch
  order is shuffled. The number of batches is the same every epoch.
* Batches are SpeechBrain ``PaddedBatch`` es (``batch.sig`` = padded
  waveforms and relative lengths, ``batch.label_id``, ``batch.id``).

Authors
 * emotion2vec-sb contributors
"""

import math
from typing import Dict, Iterator, List, Mapping, Optional, Sequence

import torch
from speechbrain.dataio.batch import PaddedBatch
from torch.utils.data import Dataset, Sampler

from emotion2vec.audio import SAMPLE_RATE, AudioError, read_audio
from emotion2vec.audio.batching import length_batches
from emotion2vec.pretrain.data import mix_seed

#: Length buckets of the training batches (samples).
BUCKET_SAMPLES = SAMPLE_RATE // 2


def manifest_samples(row: Mapping[str, str]) -> int:
    """Samples of a manifest row at 16 kHz (from its ``duration``).

    Arguments
    ---------
    row : mapping
        Manifest row.

    Returns
    -------
    int

    Example
    -------
    >>> manifest_samples({"duration": "1.50000"})
    24000
    """
    return int(round(float(row["duration"]) * SAMPLE_RATE))


class WaveformDataset(Dataset):
    """Labelled waveforms of a split.

    Arguments
    ---------
    rows : sequence of mapping
        Manifest rows (``ID``, ``wav``, ``duration``, ``label``).
    encoder : CategoricalEncoder
        Fixed label order (``emotion2vec.downstream.brain.label_encoder``).
    crop_samples : int, optional
        Longer items are cropped to this length (training); None: whole.
    seed : int
        Seed of the crops (with the epoch and the item index).

    Example
    -------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from emotion2vec.audio import write_audio
    >>> from emotion2vec.downstream.brain import label_encoder
    >>> path = Path(tempfile.mkdtemp()) / "a.wav"
    >>> write_audio(path, torch.zeros(8000), sr=8000)
    >>> rows = [{"ID": "a", "wav": str(path), "duration": "1.0", "label": "zen"}]
    >>> data = WaveformDataset(rows, label_encoder(["Grumpy", "zen"]), crop_samples=4000)
    >>> item = data[0]
    >>> item["id"], item["sig"].shape, item["label_id"].tolist(), data.sizes
    ('a', torch.Size([4000]), [1], [4000])
    """

    def __init__(self, rows: Sequence[Mapping[str, str]], encoder, crop_samples: Optional[int] = None,
                 seed: int = 0):
        super().__init__()
        unknown = sorted({row["label"] for row in rows} - set(encoder.lab2ind))
        if unknown:
            raise ValueError(
                f"labels {unknown} are not in the label list {list(encoder.lab2ind)}; "
                "add them to `labels` in the hparams or drop those rows"
            )
        self.rows = list(rows)
        self.encoder = encoder
        self.crop_samples = int(crop_samples) if crop_samples else None
        self.seed = int(seed)
        self.epoch = 0
        self.sizes = [
            min(manifest_samples(row), self.crop_samples or math.inf) for row in self.rows
        ]

    def __len__(self) -> int:
        return len(self.rows)

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch that seeds the crops.

        Arguments
        ---------
        epoch : int
            Epoch number.
        """
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> Dict:
        row = self.rows[index]
        try:
            wav = read_audio(row["wav"], SAMPLE_RATE)
        except AudioError as error:
            raise RuntimeError(
                f"utterance {row['ID']!r}: {error} (it was readable when the manifest "
                "was prepared; prepare again into a new folder)"
            ) from None
        if self.crop_samples and len(wav) > self.crop_samples:
            generator = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch, index))
            start = int(torch.randint(len(wav) - self.crop_samples + 1, (1,), generator=generator))
            wav = wav[start : start + self.crop_samples]
        label = torch.LongTensor([self.encoder.encode_label(row["label"])])
        return {"id": row["ID"], "sig": wav, "label_id": label}


def collate(items: Sequence[Dict]) -> PaddedBatch:
    """SpeechBrain's ``PaddedBatch`` of dataset items.

    Arguments
    ---------
    items : sequence of dict
        :class:`WaveformDataset` items.

    Returns
    -------
    PaddedBatch
    """
    return PaddedBatch(list(items))


class LengthBucketBatchSampler(Sampler):
    """Batches of similar lengths under a padded-samples budget.

    Arguments
    ---------
    sizes : sequence of int
        Length of every item in samples (:attr:`WaveformDataset.sizes`).
    max_batch_samples : int
        Budget: longest item x batch size (0: one item per batch, the CPU
        policy of :func:`emotion2vec.audio.batching.batch_budget`).
    max_batch_size : int, optional
        Most items per batch.
    shuffle : bool
        Random order among equal buckets and random batch order (training);
        False: shortest first, exact lengths.
    seed : int
        Seed (with the epoch).
    dataset : WaveformDataset, optional
        Receives :meth:`set_epoch` (its crops follow the epoch).

    Example
    -------
    >>> sampler = LengthBucketBatchSampler([16000, 8000, 48000, 16000], 32000, shuffle=False)
    >>> list(sampler), len(sampler)
    ([[1, 0], [3], [2]], 3)
    """

    def __init__(
        self,
        sizes: Sequence[int],
        max_batch_samples: int,
        max_batch_size: Optional[int] = None,
        shuffle: bool = True,
        seed: int = 0,
        dataset=None,
    ):
        self.sizes = [int(s) for s in sizes]
        self.max_batch_samples = int(max_batch_samples)
        self.max_batch_size = int(max_batch_size) if max_batch_size else None
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.dataset = dataset
        self.epoch = 0
        self._num_batches = len(self._make_batches(0))

    def _make_batches(self, epoch: int) -> List[List[int]]:
        n = len(self.sizes)
        if self.shuffle:
            generator = torch.Generator().manual_seed(mix_seed(self.seed, epoch, -1))
            order = torch.randperm(n, generator=generator).tolist()
            length = lambda i: -(-self.sizes[i] // BUCKET_SAMPLES) * BUCKET_SAMPLES  # noqa: E731
        else:
            order, length = list(range(n)), lambda i: self.sizes[i]  # noqa: E731
        items = [(i, None, length(i)) for i in order]  # the sort in length_batches is stable
        batches = []
        for batch in length_batches(items, self.max_batch_samples, long_samples=math.inf):
            indices = [item[0] for item in batch]
            step = self.max_batch_size or len(indices)
            batches += [indices[k : k + step] for k in range(0, len(indices), step)]
        if self.shuffle:
            batches = [batches[k] for k in torch.randperm(len(batches), generator=generator).tolist()]
        return batches

    def set_epoch(self, epoch: int) -> None:
        """Selects the epoch (its batches, and the dataset's crops).

        Arguments
        ---------
        epoch : int
            Epoch number.
        """
        self.epoch = int(epoch)
        if self.dataset is not None and hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __iter__(self) -> Iterator[List[int]]:
        return iter(self._make_batches(self.epoch))

    def __len__(self) -> int:
        return self._num_batches


def loader_options(sampler: LengthBucketBatchSampler, num_workers: int = 0) -> Dict:
    """DataLoader keyword arguments for a split (``Brain.fit`` / ``evaluate``).

    Arguments
    ---------
    sampler : LengthBucketBatchSampler
        The split's batches.
    num_workers : int
        Loader processes (items are read and resampled there).

    Returns
    -------
    dict
    """
    return {"batch_sampler": sampler, "collate_fn": collate, "num_workers": int(num_workers)}
