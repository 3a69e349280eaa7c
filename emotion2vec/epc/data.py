"""Per-utterance inputs, the sample dataset and padded batches for EPC.

* :class:`UtteranceVectors`: one frozen vector per utterance, the
  concatenation of its sources (speech: an opened
  :class:`~emotion2vec.downstream.features.FeatureStore`, whose
  ``[steps, dim]`` head input is averaged over steps, ``[1, dim]`` for
  ``frm_mean``; text: a :class:`~emotion2vec.epc.text.VectorStore`);
* :class:`EpcDataset`: samples -> per-turn lists of vectors and tokens;
* :func:`collate_samples` -> :class:`EpcBatch` (the layout
  :class:`~emotion2vec.epc.model.EpcModel` takes; ``id`` and ``label_id``
  as a SpeechBrain ``PaddedBatch`` has them, for the classification Brain).

Authors
 * emotion2vec-sb contributors
"""

from dataclasses import dataclass, fields, replace
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np
import torch
from speechbrain.dataio.batch import PaddedData
from torch.utils.data import Dataset

from emotion2vec.epc.dialogues import EpcSample
from emotion2vec.epc.text import PAD_ID


class UtteranceVectors:
    """The concatenated frozen vectors of an utterance.

    Arguments
    ---------
    sources : sequence
        Objects with ``get(uid)`` returning ``[dim]`` or ``[steps, dim]``
        (averaged over steps).

    Example
    -------
    >>> class Store:
    ...     def __init__(self, value, shape): self.value, self.shape = value, shape
    ...     def get(self, uid): return np.full(self.shape, self.value, dtype=np.float32)
    >>> vectors = UtteranceVectors([Store(1.0, (1, 2)), Store(3.0, (3,))])
    >>> vectors.get("u").tolist(), vectors.dim
    ([1.0, 1.0, 3.0, 3.0, 3.0], 5)
    """

    def __init__(self, sources: Sequence[Any]):
        if not sources:
            raise ValueError("UtteranceVectors needs at least one source")
        self.sources = list(sources)
        self._dim: Optional[int] = None

    def get(self, uid: str) -> np.ndarray:
        """``[dim]`` float32."""
        parts = []
        for source in self.sources:
            value = np.asarray(source.get(uid), dtype=np.float32)
            parts.append(value.mean(axis=0) if value.ndim == 2 else value)
        vector = np.concatenate(parts)
        self._dim = int(vector.shape[0])
        return vector

    @property
    def dim(self) -> int:
        """Vector size (known once an utterance has been read)."""
        if self._dim is None:
            raise ValueError("UtteranceVectors.dim is known after the first get(uid)")
        return self._dim

    def statistics(self, ids: Sequence[str]):
        """Per-dimension mean and std over ``ids`` (float32 tensors; float64 sums)."""
        if not ids:
            raise ValueError("no utterance to compute input statistics on")
        stacked = np.stack([self.get(uid) for uid in ids]).astype(np.float64)
        return (torch.from_numpy(stacked.mean(0)).float(), torch.from_numpy(stacked.std(0)).float())


class EpcDataset(Dataset):
    """Samples with their inputs gathered, one item per sample.

    Arguments
    ---------
    samples : sequence of EpcSample
        The split's samples.
    label_index : mapping
        Label -> class index.
    vectors : UtteranceVectors, optional
        Frozen vectors.
    tokens : mapping, optional
        Utterance ID -> int64 token IDs.

    Example
    -------
    >>> from emotion2vec.epc.dialogues import Turn, Utterance
    >>> turn = Turn("A", (Utterance("u1", "A", 0, 1, "neu"),))
    >>> sample = EpcSample("d_T001", "d", "1", "B", "hap", 1, (turn,))
    >>> item = EpcDataset([sample], {"hap": 1}, tokens={"u1": np.array([5, 6])})[0]
    >>> item["id"], item["label"], item["own"], [t.tolist() for t in item["tokens"][0]]
    ('d_T001', 1, [False], [[5, 6]])
    """

    def __init__(self, samples: Sequence[EpcSample], label_index: Mapping[str, int],
                 vectors: Optional[UtteranceVectors] = None,
                 tokens: Optional[Mapping[str, np.ndarray]] = None):
        if vectors is None and tokens is None:
            raise ValueError("EpcDataset needs vectors and/or tokens")
        unknown = sorted({s.label for s in samples} - set(label_index))
        if unknown:
            raise ValueError(f"sample labels {unknown} are not classes {list(label_index)}")
        self.samples, self.label_index = list(samples), dict(label_index)
        self.vectors, self.tokens = vectors, tokens

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        sample = self.samples[index]
        item: Dict[str, Any] = {
            "id": sample.sample_id,
            "label": self.label_index[sample.label],
            "own": list(sample.own_turns),
            "utt_counts": [len(turn.utterances) for turn in sample.history],
        }
        if self.vectors is not None:
            item["vectors"] = [[self.vectors.get(u) for u in turn.utt_ids] for turn in sample.history]
        if self.tokens is not None:
            item["tokens"] = [[self.tokens[u] for u in turn.utt_ids] for turn in sample.history]
        return item


@dataclass
class EpcBatch:
    """A padded batch of samples (see :mod:`emotion2vec.epc.model` for shapes).

    Arguments
    ---------
    id : list of str
        Sample IDs.
    label_id : PaddedData
        ``data [batch, 1]`` class indices (as in a SpeechBrain PaddedBatch).
    utt_counts : torch.Tensor
        ``[batch, turns]``.
    turn_counts : torch.Tensor
        ``[batch]``.
    own : torch.Tensor
        ``[batch, turns]`` bool.
    vectors : torch.Tensor or None
        ``[batch, turns, utts, dim]``.
    tokens : torch.Tensor or None
        ``[batch, turns, utts, length]``.
    token_counts : torch.Tensor or None
        ``[batch, turns, utts]``.
    """

    id: List[str]
    label_id: PaddedData
    utt_counts: torch.Tensor
    turn_counts: torch.Tensor
    own: torch.Tensor
    vectors: Optional[torch.Tensor] = None
    tokens: Optional[torch.Tensor] = None
    token_counts: Optional[torch.Tensor] = None

    def to(self, device) -> "EpcBatch":
        """A copy with every tensor on ``device``."""
        moved = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor):
                moved[f.name] = value.to(device)
            elif isinstance(value, PaddedData):
                moved[f.name] = PaddedData(value.data.to(device), value.lengths.to(device))
        return replace(self, **moved)

    def model_inputs(self) -> Dict[str, Optional[torch.Tensor]]:
        """Keyword arguments of :meth:`EpcModel.forward`."""
        return {name: getattr(self, name) for name in
                ("utt_counts", "turn_counts", "own", "vectors", "tokens", "token_counts")}


def collate_samples(items: Sequence[Mapping[str, Any]]) -> EpcBatch:
    """Pads :class:`EpcDataset` items into an :class:`EpcBatch`.

    Turns and utterances are padded after the valid ones (zeros; token
    padding is ID 0), to the longest in the batch.

    Arguments
    ---------
    items : sequence of dict
        Dataset items.

    Returns
    -------
    EpcBatch

    Example
    -------
    >>> items = [dict(id="a", label=0, own=[True, False], utt_counts=[2, 1],
    ...               vectors=[[np.ones(3), np.ones(3)], [np.ones(3)]]),
    ...          dict(id="b", label=2, own=[False], utt_counts=[1], vectors=[[np.ones(3)]])]
    >>> batch = collate_samples(items)
    >>> batch.vectors.shape, batch.utt_counts.tolist(), batch.turn_counts.tolist()
    (torch.Size([2, 2, 2, 3]), [[2, 1], [1, 0]], [2, 1])
    >>> batch.label_id.data.view(-1).tolist(), batch.vectors[1, 1].abs().sum().item()
    ([0, 2], 0.0)
    """
    batch = len(items)
    turns = max(len(item["utt_counts"]) for item in items)
    utts = max(max(item["utt_counts"]) for item in items)
    utt_counts = torch.zeros(batch, turns, dtype=torch.long)
    own = torch.zeros(batch, turns, dtype=torch.bool)
    for b, item in enumerate(items):
        utt_counts[b, : len(item["utt_counts"])] = torch.tensor(item["utt_counts"])
        own[b, : len(item["own"])] = torch.tensor(item["own"], dtype=torch.bool)
    labels = torch.tensor([[int(item["label"])] for item in items], dtype=torch.long)
    out = EpcBatch(
        id=[str(item["id"]) for item in items],
        label_id=PaddedData(labels, torch.ones(batch)),
        utt_counts=utt_counts,
        turn_counts=torch.tensor([len(item["utt_counts"]) for item in items], dtype=torch.long),
        own=own,
    )
    if "vectors" in items[0]:
        dim = len(items[0]["vectors"][0][0])
        out.vectors = torch.zeros(batch, turns, utts, dim)
        for b, item in enumerate(items):
            for t, turn in enumerate(item["vectors"]):
                out.vectors[b, t, : len(turn)] = torch.from_numpy(np.stack(turn).astype(np.float32))
    if "tokens" in items[0]:
        length = max(len(ids) for item in items for turn in item["tokens"] for ids in turn)
        out.tokens = torch.full((batch, turns, utts, length), PAD_ID, dtype=torch.long)
        out.token_counts = torch.zeros(batch, turns, utts, dtype=torch.long)
        for b, item in enumerate(items):
            for t, turn in enumerate(item["tokens"]):
                for u, ids in enumerate(turn):
                    out.tokens[b, t, u, : len(ids)] = torch.as_tensor(ids, dtype=torch.long)
                    out.token_counts[b, t, u] = len(ids)
    return out
