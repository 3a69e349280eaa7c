"""Pre-training data: dataset, dynamic batch sampler, crop-to-shortest
collate with block masks (the fairseq ``audio_pretraining`` pipeline of the
release).

- :class:`PretrainDataset` reads one manifest row (``ID, wav, duration``):
  the 16 kHz mono waveform, normalised over the WHOLE file (release:
  before cropping), and ``clone_batch`` block masks over the file's frames
  (release: computed on the uncropped item).
- :class:`PretrainBatchSampler` packs items fairseq style: sorted by length
  (ties broken at random), greedily filled while ``longest * count <=
  max_batch_samples``, batch order shuffled per epoch. The NUMBER of
  batches never changes between epochs (DDP needs that).
- :class:`CropCollate` crops every item at a random offset to the shortest
  one (and to ``max_sample_size``), and crops each item's masks the same way
  (at an independent offset, as released), giving a :class:`PretrainBatch`.

Determinism (so that an interrupted epoch resumes exactly): every random
choice of an item (masks, crop offsets) comes from a generator seeded by
``(seed, epoch, index)``, never from the global RNG or a worker seed, and the
batches are a function of ``(seed, epoch)``. SpeechBrain's
``SaveableDataLoader`` stores how many batches were yielded and skips them
on recovery. The sampler's ``set_epoch`` (called by the Brain at every epoch
start) forwards the epoch to the dataset; do not use ``persistent_workers``
(workers would keep a stale epoch).

Authors
 * emotion2vec-sb contributors
"""

from __future__ import annotations

import logging
import string
from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, Sampler

from emotion2vec.audio import SAMPLE_RATE, AudioError, read_audio
from emotion2vec.corpora.manifest import read_manifest as read_csv_manifest
from emotion2vec.pretrain.masking import (
    compute_block_mask_1d,
    crop_mask,
    shortest_trainable_frames,
)

logger = logging.getLogger(__name__)


def mix_seed(*parts: int) -> int:
    """A 63-bit seed mixed from integers (splitmix64), e.g. ``(seed, epoch,
    index)`` for an item or ``(seed, update, rank)`` for a training step.

    Arguments
    ---------
    *parts : int
        The integers to mix (order matters).

    Returns
    -------
    int

    Example
    -------
    >>> mix_seed(1, 1, 0) == mix_seed(1, 1, 0), mix_seed(1, 1, 0) == mix_seed(1, 2, 0)
    (True, False)
    """
    value = 0
    for part in parts:
        value = (value ^ (int(part) & 0xFFFFFFFFFFFFFFFF)) + 0x9E3779B97F4A7C15
        value &= 0xFFFFFFFFFFFFFFFF
        value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        value ^= value >> 31
    return value >> 1


def read_manifest(path, replacements: Optional[dict] = None) -> List[dict]:
    """Reads a pre-training CSV (``ID, wav, duration``; other columns kept).

    The rows come from the package's one manifest reader
    (:func:`emotion2vec.corpora.manifest.read_manifest`); this adds the
    ``$name`` substitutions and the float durations pre-training needs.

    Arguments
    ---------
    path : str or path
        The CSV (see :func:`~emotion2vec.pretrain.manifest.build_pretrain_manifest`).
    replacements : dict, optional
        ``$name`` substitutions in the ``wav`` column.

    Returns
    -------
    list of dict
        One row per item, ``duration`` as float.
    """
    rows = read_csv_manifest(path, columns=("ID", "wav", "duration"))
    for row in rows:
        if replacements:
            row["wav"] = string.Template(row["wav"]).safe_substitute(replacements)
        row["duration"] = float(row["duration"])
    if not rows:
        raise ValueError(f"{path}: the manifest has no rows")
    return rows


class PretrainDataset(Dataset):
    """Items of pre-training: normalised waveform + uncropped block masks.

    Arguments
    ---------
    rows : list of dict
        Manifest rows (``ID``, ``wav``, ``duration`` in seconds).
    frame_count : callable
        ``frame_count(num_samples) -> frames`` of the model's conv front-end
        (e.g. ``functools.partial(count_frames, config=model.config)``).
    clone_batch : int
        Masks per item.
    mask_prob : float
        Fraction of frames masked (exactly) per mask.
    mask_length : int
        Block length.
    mask_prob_adjust : float
        Extra centre density (release base: 0.05).
    normalize : bool
        Zero mean / unit variance over the whole file (released models:
        True).
    seed : int
        Seed of every random choice (with the epoch and the index).

    Example
    -------
    >>> import tempfile, numpy, soundfile
    >>> from pathlib import Path
    >>> from emotion2vec.model.emotion2vec import count_frames
    >>> path = Path(tempfile.mkdtemp()) / "a.wav"
    >>> soundfile.write(path, numpy.random.randn(16000) * 0.1, 16000)
    >>> rows = [{"ID": "a", "wav": str(path), "duration": 1.0}]
    >>> ds = PretrainDataset(rows, count_frames, 2, 0.5, 5, 0.05)
    >>> item = ds[0]
    >>> item["wav"].shape, item["mask"].shape, item["mask"].sum(1).tolist()
    (torch.Size([16000]), torch.Size([2, 49]), [24, 24])
    """

    def __init__(
        self,
        rows: Sequence[dict],
        frame_count: Callable[[int], int],
        clone_batch: int,
        mask_prob: float,
        mask_length: int,
        mask_prob_adjust: float = 0.0,
        normalize: bool = True,
        seed: int = 0,
    ):
        super().__init__()
        self.rows = list(rows)
        self.frame_count = frame_count
        self.clone_batch = clone_batch
        self.mask_prob = mask_prob
        self.mask_length = mask_length
        self.mask_prob_adjust = mask_prob_adjust
        self.normalize = normalize
        self.seed = int(seed)
        self.epoch = 0
        self.sizes = [int(round(r["duration"] * SAMPLE_RATE)) for r in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch that seeds the items' random choices.

        Arguments
        ---------
        epoch : int
            Epoch number.
        """
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> dict:
        row = self.rows[index]
        try:
            wav = read_audio(row["wav"], SAMPLE_RATE)
        except AudioError as error:
            raise RuntimeError(
                f"pre-training item {row['ID']!r}: {error}. Rebuild the "
                "manifest (build_pretrain_manifest skips unreadable files)"
            ) from None
        if self.normalize:
            wav = F.layer_norm(wav, wav.shape)
        frames = self.frame_count(wav.shape[0])
        if frames < 1:
            raise RuntimeError(
                f"pre-training item {row['ID']!r} is too short "
                f"({wav.shape[0]} samples): raise min_duration"
            )
        gen = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch, index))
        mask = compute_block_mask_1d(
            frames, self.clone_batch, self.mask_prob, self.mask_length,
            self.mask_prob_adjust, generator=gen,
        )
        crops = torch.rand(2, generator=gen, dtype=torch.float64)
        return {
            "id": row["ID"],
            "wav": wav,
            "mask": mask,
            "wav_crop": float(crops[0]),
            "mask_crop": float(crops[1]),
        }


@dataclass
class PretrainBatch:
    """A cropped, unpadded pre-training batch.

    Arguments
    ---------
    ids : list of str
        Item IDs.
    wavs : torch.Tensor
        ``[batch, samples]`` normalised waveforms, all of the same length.
    mask : torch.Tensor
        Bool ``[batch * clone_batch, frames]``, item-major.
    """

    ids: List[str]
    wavs: torch.Tensor
    mask: torch.Tensor

    def to(self, device) -> "PretrainBatch":
        """Moves the tensors (SpeechBrain ``batch.to(device)`` idiom).

        Arguments
        ---------
        device : str or torch.device
            Target device.

        Returns
        -------
        PretrainBatch
        """
        return PretrainBatch(self.ids, self.wavs.to(device), self.mask.to(device))

    def pin_memory(self) -> "PretrainBatch":
        """Pins the tensors (DataLoader ``pin_memory=True``).

        Returns
        -------
        PretrainBatch
        """
        return PretrainBatch(self.ids, self.wavs.pin_memory(), self.mask.pin_memory())

    @property
    def num_samples(self) -> int:
        """Audio samples in the batch (what throughput counts)."""
        return self.wavs.numel()


def _crop_start(fraction: float, excess: int) -> int:
    return min(int(fraction * (excess + 1)), excess)


class CropCollate:
    """Crop-to-shortest collate of the release (``enable_padding: false``).

    Every waveform is cropped at a random offset to ``min(shortest,
    max_sample_size)`` samples; every item's masks are cropped to the frames
    of that length at their own random offset (release: independent of the
    audio offset).

    Arguments
    ---------
    frame_count : callable
        ``frame_count(num_samples) -> frames``.
    max_sample_size : int, optional
        Longest crop in samples (data2vec 2.0 recipe: 320000 = 20 s).

    Example
    -------
    >>> from emotion2vec.model.emotion2vec import count_frames
    >>> items = [{"id": "a", "wav": torch.zeros(16000), "wav_crop": 0.5,
    ...           "mask": torch.zeros(2, 49, dtype=torch.bool), "mask_crop": 0.0},
    ...          {"id": "b", "wav": torch.zeros(9600), "wav_crop": 0.0,
    ...           "mask": torch.zeros(2, 29, dtype=torch.bool), "mask_crop": 0.0}]
    >>> batch = CropCollate(count_frames)(items)
    >>> batch.wavs.shape, batch.mask.shape
    (torch.Size([2, 9600]), torch.Size([4, 29]))
    """

    def __init__(
        self, frame_count: Callable[[int], int], max_sample_size: Optional[int] = None
    ):
        self.frame_count = frame_count
        self.max_sample_size = max_sample_size

    def __call__(self, items: Sequence[dict]) -> PretrainBatch:
        if not items:
            raise ValueError("empty batch")
        target = min(item["wav"].shape[0] for item in items)
        if self.max_sample_size:
            target = min(target, int(self.max_sample_size))
        frames = self.frame_count(target)
        wavs, masks = [], []
        for item in items:
            wav = item["wav"]
            start = _crop_start(item["wav_crop"], wav.shape[0] - target)
            wavs.append(wav[start : start + target])
            mask = item["mask"]
            start = _crop_start(item["mask_crop"], mask.shape[1] - frames)
            masks.append(crop_mask(mask, start, frames))
        return PretrainBatch(
            ids=[item["id"] for item in items],
            wavs=torch.stack(wavs),
            mask=torch.cat(masks, dim=0),
        )


def pack_batches(
    sizes: Sequence[int], order: Sequence[int], max_batch_samples: int,
    max_batch_size: Optional[int] = None,
) -> List[List[int]]:
    """Greedy packing in the given order: a batch grows while ``longest *
    count <= max_batch_samples`` (and ``count <= max_batch_size``); an item
    longer than the bound gets a batch of its own.

    Arguments
    ---------
    sizes : sequence of int
        Effective length of every item (samples).
    order : sequence of int
        Item indices in packing order (longest first, as fairseq).
    max_batch_samples : int
        Bound on ``longest * count``.
    max_batch_size : int, optional
        Bound on ``count``.

    Returns
    -------
    list of list of int

    Example
    -------
    >>> pack_batches([5, 4, 4, 2, 1], [0, 1, 2, 3, 4], 10)
    [[0, 1], [2, 3], [4]]
    """
    batches, current, longest = [], [], 0
    for index in order:
        size = int(sizes[index])
        new_longest = max(longest, size)
        too_big = current and new_longest * (len(current) + 1) > max_batch_samples
        too_many = max_batch_size and len(current) >= max_batch_size
        if too_big or too_many:
            batches.append(current)
            current, new_longest = [], size
        current.append(index)
        longest = new_longest
    if current:
        batches.append(current)
    return batches


class PretrainBatchSampler(Sampler):
    """Dynamic batches bounded by total audio samples (fairseq
    ``max_tokens``), reproducible from ``(seed, epoch)``.

    Items are ordered longest first (effective length = ``min(size,
    max_sample_size)``; equal lengths in a random order), packed by
    :func:`pack_batches`, and the batch order is shuffled. Because packing
    only depends on the sorted lengths, every epoch has the same number of
    batches.

    Arguments
    ---------
    dataset : PretrainDataset
        Provides ``sizes`` and receives ``set_epoch``.
    max_batch_samples : int
        Bound on ``longest * count`` (release: 1,000,000 per GPU).
    max_sample_size : int, optional
        Crop length (release recipe 320000).
    max_batch_size : int, optional
        Bound on items per batch.
    shuffle : bool
        Random tie-breaking and batch order (False: longest first, fixed).
    seed : int
        Seed (with the epoch).

    Example
    -------
    >>> class Sizes:
    ...     sizes = [16000, 32000, 48000, 16000]
    ...     def set_epoch(self, epoch): pass
    >>> sampler = PretrainBatchSampler(Sizes(), 64000, shuffle=False)
    >>> list(sampler), len(sampler)
    ([[2], [1, 0], [3]], 3)
    """

    def __init__(
        self,
        dataset,
        max_batch_samples: int,
        max_sample_size: Optional[int] = None,
        max_batch_size: Optional[int] = None,
        shuffle: bool = True,
        seed: int = 0,
    ):
        if max_batch_samples < 1:
            raise ValueError(f"max_batch_samples must be >= 1, got {max_batch_samples}")
        self.dataset = dataset
        self.sizes = [
            min(int(s), int(max_sample_size)) if max_sample_size else int(s)
            for s in dataset.sizes
        ]
        self.max_batch_samples = int(max_batch_samples)
        self.max_batch_size = max_batch_size
        self.shuffle = shuffle
        self.seed = int(seed)
        self.epoch = 0
        self._batches = None
        self._num_batches = len(self._make_batches(0))

    def _make_batches(self, epoch: int) -> List[List[int]]:
        n = len(self.sizes)
        sizes = torch.tensor(self.sizes, dtype=torch.long)
        if self.shuffle:
            gen = torch.Generator().manual_seed(mix_seed(self.seed, epoch, -1))
            ties = torch.randperm(n, generator=gen)
            # stable sort of a random permutation = random order among ties
            order = ties[torch.sort(sizes[ties], descending=True, stable=True).indices]
        else:
            order = torch.sort(sizes, descending=True, stable=True).indices
        batches = pack_batches(
            self.sizes, order.tolist(), self.max_batch_samples, self.max_batch_size
        )
        if self.shuffle:
            perm = torch.randperm(len(batches), generator=gen).tolist()
            batches = [batches[i] for i in perm]
        return batches

    def set_epoch(self, epoch: int) -> None:
        """Selects the epoch (batches and the dataset's item seeds).

        Arguments
        ---------
        epoch : int
            Epoch number.
        """
        self.epoch = int(epoch)
        self._batches = None
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __iter__(self) -> Iterator[List[int]]:
        if self._batches is None:
            self._batches = self._make_batches(self.epoch)
        return iter([list(b) for b in self._batches])

    def __len__(self) -> int:
        return self._num_batches


def shortest_trainable_duration(
    frame_count: Callable[[int], int], mask_prob: float, sample_rate: int = SAMPLE_RATE
) -> float:
    """Shortest file (seconds) whose masks hold a masked and a kept frame.

    Files below it cannot train: under the CNN's receptive field they give
    no frame at all (an error mid-epoch), and with too few frames nothing
    is masked (no loss). The recipe raises ``min_duration`` to this floor.

    Arguments
    ---------
    frame_count : callable
        Samples -> frames of the model (``count_frames`` with its config).
    mask_prob : float
        Fraction of frames masked.
    sample_rate : int
        Samples per second.

    Returns
    -------
    float

    Example
    -------
    >>> from emotion2vec.model.emotion2vec import count_frames
    >>> shortest_trainable_duration(count_frames, 0.5)  # 720 samples: 2 frames
    0.045
    """
    frames = shortest_trainable_frames(mask_prob)
    samples = 1
    while frame_count(samples) < frames:
        samples *= 2
    low = samples // 2 + 1 if samples > 1 else 1
    while low < samples:  # frame_count is non-decreasing: bisect the first
        middle = (low + samples) // 2
        if frame_count(middle) >= frames:
            samples = middle
        else:
            low = middle + 1
    return samples / sample_rate


def batch_audio_summary(sampler: "PretrainBatchSampler", sizes: Sequence[int]) -> dict:
    """How much of the audio one epoch of ``sampler`` feeds the model.

    Every item of a batch is cropped to ``max_sample_size`` and to the
    batch's shortest item (:class:`CropCollate`): what is cut never
    reaches the model. Sorted packing keeps that cut small; this measures
    it on the real lengths.

    Arguments
    ---------
    sampler : PretrainBatchSampler
        The training batches (epoch 0).
    sizes : sequence of int
        Uncropped length of every item (samples), as the dataset's ``sizes``.

    Returns
    -------
    dict
        ``batches``, ``hours`` (files), ``hours_after_max_crop``,
        ``hours_used`` (after both crops), ``max_crop_share`` and
        ``shortest_crop_share`` (fractions of the files' hours).

    Example
    -------
    >>> class Sizes:
    ...     sizes = [16000, 32000, 48000, 16000]
    ...     def set_epoch(self, epoch): pass
    >>> sampler = PretrainBatchSampler(Sizes(), 64000, shuffle=False)
    >>> summary = batch_audio_summary(sampler, Sizes.sizes)
    >>> summary["batches"], round(summary["shortest_crop_share"], 3)
    (3, 0.143)
    """
    capped = sampler.sizes
    used = sum(min(capped[i] for i in batch) * len(batch) for batch in sampler._make_batches(0))
    total = sum(int(s) for s in sizes)
    hours = 3600.0 * SAMPLE_RATE
    return {
        "batches": len(sampler),
        "hours": total / hours,
        "hours_after_max_crop": sum(capped) / hours,
        "hours_used": used / hours,
        "max_crop_share": (total - sum(capped)) / total if total else 0.0,
        "shortest_crop_share": (sum(capped) - used) / total if total else 0.0,
    }


def duration_summary(rows: Sequence[dict]) -> str:
    """One line describing a manifest (count, hours, min/mean/max seconds).

    Arguments
    ---------
    rows : sequence of dict
        Manifest rows.

    Returns
    -------
    str

    Example
    -------
    >>> duration_summary([{"duration": 1.0}, {"duration": 3.0}])
    '2 files, 0.00 h (min 1.00 s, mean 2.00 s, max 3.00 s)'
    """
    durations = [float(r["duration"]) for r in rows]
    if not durations:
        return "0 files"
    return (
        f"{len(durations)} files, {sum(durations) / 3600:.2f} h (min "
        f"{min(durations):.2f} s, mean {sum(durations) / len(durations):.2f} s, "
        f"max {max(durations):.2f} s)"
    )


def check_loader_options(options: dict) -> None:
    """Rejects DataLoader options that break exact resumption.

    Arguments
    ---------
    options : dict
        Loader keyword arguments.

    Example
    -------
    >>> check_loader_options({"num_workers": 2})
    >>> check_loader_options({"persistent_workers": True})
    Traceback (most recent call last):
    ...
    ValueError: persistent_workers would keep a stale epoch in the workers (item masks and crops are seeded by the epoch); remove it
    """
    if options.get("persistent_workers"):
        raise ValueError(
            "persistent_workers would keep a stale epoch in the workers (item "
            "masks and crops are seeded by the epoch); remove it"
        )
    for key in ("shuffle", "batch_size", "sampler", "batch_sampler", "collate_fn"):
        if key in options:
            raise ValueError(
                f"loader option {key!r} is set by the pre-training data "
                "pipeline; remove it"
            )

