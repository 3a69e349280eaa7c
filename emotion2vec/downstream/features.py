"""The on-disk cache of frozen-upstream features.

Feature options (``frm``, ``utt``, ``layer:N``, ...) are defined in
:mod:`emotion2vec.model.featurize`; this module only stores their arrays.

Cache. Features are computed once per (upstream, corpus, feature option)
and stored under ``<root>/<corpus>-<feature>-<kind>-<key16>/``: raw
row-major arrays ``frames.bin`` ``[sum T, D]`` and/or ``utt.bin``
``[utterances, D]`` plus ``meta.json`` (IDs and lengths in file order, the
key and everything it was computed from). The key is the SHA-256 of the
upstream identity (class, configuration and a digest of every weight), the
feature option, the storage dtype and a digest of the manifest rows (ID,
wav path, duration): any change gives a new folder. A cache is built in a
temporary sibling folder whose ``meta.json`` is written last and then
renamed into place; a folder without a valid ``meta.json``, with another
key or with files of the wrong size (an interrupted or damaged run) is
deleted and recomputed, never used.

Authors
 * emotion2vec-sb contributors
"""

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from tqdm import tqdm

from emotion2vec.audio import SAMPLE_RATE, read_audio
from emotion2vec.audio.batching import batch_budget, length_batches, pad_batch
from emotion2vec.fileutils import PathLike
from emotion2vec.model.featurize import FeatureOption

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1
META_FILE = "meta.json"
DTYPES = ("float32", "float16")


class CacheError(ValueError):
    """A feature cache that cannot be built or read (the message says why)."""


def manifest_digest(rows: Sequence[Mapping[str, Any]]) -> str:
    """SHA-256 of the rows' ``ID``, ``wav`` and ``duration`` (sorted by ID).

    Arguments
    ---------
    rows : sequence of mapping
        Manifest rows.

    Returns
    -------
    str

    Example
    -------
    >>> a = [dict(ID="u1", wav="/a.wav", duration="1.0")]
    >>> manifest_digest(a) == manifest_digest([dict(a[0], label="x")])
    True
    >>> manifest_digest(a) == manifest_digest([dict(a[0], wav="/b.wav")])
    False
    """
    digest = hashlib.sha256()
    for row in sorted(rows, key=lambda r: str(r["ID"])):
        digest.update(f"{row['ID']}\t{row['wav']}\t{row.get('duration', '')}\n".encode())
    return digest.hexdigest()


class FeatureCache:
    """Computes (once) and opens the cached features of one corpus.

    Arguments
    ---------
    root : str or path
        Folder holding caches (shared by runs, folds and seeds).
    upstream : Upstream
        The frozen upstream (see :mod:`emotion2vec.downstream.upstreams`).
    feature : str
        Feature option.
    rows : sequence of mapping
        Manifest rows (``ID``, ``wav``, ``duration``).
    corpus : str
        Corpus name (folder prefix).
    dtype : str
        Storage dtype, ``float32`` or ``float16`` (heads always get float32).
    batch_seconds : float
        Padded audio per upstream batch, in seconds, on an accelerator (on a
        CPU each utterance is its own batch:
        :func:`emotion2vec.audio.batching.batch_budget`).
    device : str or torch.device, optional
        Where the upstream runs (default: CPU).
    progress : bool
        Show a progress bar while extracting.
    """

    def __init__(
        self,
        root: PathLike,
        upstream,
        feature: str,
        rows: Sequence[Mapping[str, Any]],
        corpus: str = "corpus",
        dtype: str = "float32",
        batch_seconds: float = 160.0,
        device: Optional[Union[str, torch.device]] = None,
        progress: bool = True,
    ):
        if dtype not in DTYPES:
            raise ValueError(f"cache dtype must be one of {DTYPES}, got {dtype!r}")
        if not rows:
            raise CacheError("no manifest rows to extract features for")
        self.option = FeatureOption.parse(feature)
        self.option.check(upstream)
        self.upstream, self.rows = upstream, list(rows)
        self.dtype, self.batch_seconds = dtype, float(batch_seconds)
        self.device, self.progress = device or "cpu", progress
        self.material = {
            "format": CACHE_FORMAT,
            "upstream": upstream.identity(),
            "feature": self.option.name,
            "dtype": dtype,
            "corpus": corpus,
            "manifest_sha256": manifest_digest(self.rows),
        }
        blob = json.dumps(self.material, sort_keys=True, default=str).encode()
        self.key = hashlib.sha256(blob).hexdigest()
        name = f"{corpus}-{self.option.slug}-{upstream.kind}-{self.key[:16]}"
        self.path = Path(root) / name

    def is_complete(self) -> bool:
        """Whether ``path`` holds a finished cache for this key.

        Returns
        -------
        bool
        """
        try:
            _read_meta(self.path, self.key)
        except CacheError:
            return False
        return True

    def build(self) -> Path:
        """Computes the features unless a complete cache exists.

        Returns
        -------
        Path
            The cache folder.
        """
        root = self.path.parent
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.glob(f".{self.path.name}.tmp-*"):
            logger.warning("removing an interrupted feature cache build: %s", stale)
            shutil.rmtree(stale, ignore_errors=True)
        if self.is_complete():
            logger.info("feature cache %s is complete; reusing it", self.path)
            return self.path
        if self.path.exists():
            logger.warning("feature cache %s is incomplete or damaged; recomputing it", self.path)
            shutil.rmtree(self.path)
        tmp = root / f".{self.path.name}.tmp-{os.getpid()}"
        tmp.mkdir()
        try:
            meta = self._extract(tmp)
            self.upstream.cpu()  # free accelerator memory for the heads
            meta.update(key=self.key, material=self.material)
            with open(tmp / META_FILE, "w", encoding="utf-8") as handle:
                json.dump(meta, handle, indent=1, default=str)
            os.replace(tmp, self.path)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        logger.info("feature cache written: %s", self.path)
        return self.path

    def open(self) -> "FeatureStore":
        """Opens the (complete) cache for reading.

        Returns
        -------
        FeatureStore
        """
        return FeatureStore(self.path, self.key)

    def _batches(self) -> List[List[Mapping[str, Any]]]:
        """Rows sorted by (duration, ID) in length buckets (the manifest
        durations stand in for the lengths)."""
        budget = batch_budget(self.device, self.batch_seconds * SAMPLE_RATE)
        rows = sorted(self.rows, key=lambda r: (float(r.get("duration") or 0.0), str(r["ID"])))
        items = [(row, None, float(row.get("duration") or 0.0) * SAMPLE_RATE) for row in rows]
        return [
            [row for row, _, _ in batch]
            for batch in length_batches(items, budget, long_samples=float("inf"))
        ]

    def _read(self, row: Mapping[str, Any]) -> torch.Tensor:
        try:
            wav = read_audio(row["wav"], SAMPLE_RATE)
        except Exception as error:
            raise CacheError(f"cannot read audio of {row['ID']} ({row['wav']}): {error}") from None
        if len(wav) < self.upstream.min_samples:
            raise CacheError(
                f"utterance {row['ID']} ({row['wav']}) has {len(wav)} samples, fewer than "
                f"the upstream needs ({self.upstream.min_samples}); drop it from the manifest"
            )
        return wav

    @torch.no_grad()
    def _extract(self, folder: Path) -> Dict[str, Any]:
        upstream = self.upstream.to(self.device).eval()
        files = {s: open(folder / f"{s}.bin", "wb") for s in self.option.streams}
        ids, lengths, rows_written = [], [], {s: 0 for s in self.option.streams}
        np_dtype = np.dtype(self.dtype)
        batches = self._batches()
        try:
            for batch in tqdm(batches, desc=f"features {self.path.name}", disable=not self.progress):
                padded, samples = pad_batch([self._read(row) for row in batch])
                rel = torch.tensor([int(n) / padded.shape[1] for n in samples])  # upstream contract
                out = upstream(padded.to(self.device), rel.to(self.device),
                               layers=list(self.option.layers) if self.option.layers else None)
                streams = self.option.batch_streams(out)
                for b, row in enumerate(batch):
                    for name, handle in files.items():
                        array = streams[name][b].float().cpu().numpy().astype(np_dtype)
                        handle.write(np.ascontiguousarray(array).tobytes())
                        rows_written[name] += array.shape[0]
                    ids.append(str(row["ID"]))
                    lengths.append(int(streams["frames"][b].shape[0]) if "frames" in streams else 1)
        finally:
            for handle in files.values():
                handle.close()
        return {
            "feature": self.option.name,
            "dtype": self.dtype,
            "dim": int(upstream.dim),
            "ids": ids,
            "lengths": lengths,
            "rows": rows_written,
        }


def _read_meta(path: Path, key: Optional[str]) -> Dict[str, Any]:
    meta_path = path / META_FILE
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CacheError(f"{path}: no {META_FILE} (unfinished cache)") from None
    except (OSError, ValueError) as error:
        raise CacheError(f"{meta_path}: unreadable ({error})") from None
    if key is not None and meta.get("key") != key:
        raise CacheError(f"{meta_path}: key {meta.get('key')} differs from {key}")
    try:
        itemsize = np.dtype(meta["dtype"]).itemsize
        if len(meta["ids"]) != len(meta["lengths"]):
            raise CacheError(f"{meta_path}: ids and lengths differ in number")
        for stream, rows in meta["rows"].items():
            expected = int(rows) * int(meta["dim"]) * itemsize
            file = path / f"{stream}.bin"
            size = file.stat().st_size if file.is_file() else -1
            if size != expected:
                raise CacheError(
                    f"{file}: {size} bytes, expected {expected} ({rows} rows); damaged cache"
                )
    except (KeyError, TypeError) as error:
        raise CacheError(f"{meta_path}: incomplete metadata ({error})") from None
    return meta


class FeatureStore:
    """Read access to a finished cache (memory-mapped, opened lazily).

    Picklable (for DataLoader workers): the memory maps are reopened in
    each process.

    Arguments
    ---------
    path : str or path
        Cache folder.
    key : str, optional
        Expected key (checked).

    Example
    -------
    >>> import tempfile
    >>> from emotion2vec.downstream.upstreams import FbankUpstream
    >>> from emotion2vec.audio import write_audio
    >>> tmp = Path(tempfile.mkdtemp())
    >>> write_audio(tmp / "a.wav", torch.randn(8000))
    >>> rows = [dict(ID="a", wav=str(tmp / "a.wav"), duration="0.5")]
    >>> cache = FeatureCache(tmp / "cache", FbankUpstream(n_mels=8), "frm", rows,
    ...                      progress=False)
    >>> _ = cache.build()
    >>> store = cache.open()
    >>> store.get("a").shape, store.input_dim
    ((51, 8), 8)
    """

    def __init__(self, path: PathLike, key: Optional[str] = None):
        self.path = Path(path)
        meta = _read_meta(self.path, key)
        self.option = FeatureOption.parse(meta["feature"])
        self.dtype, self.dim = np.dtype(meta["dtype"]), int(meta["dim"])
        self.input_dim = self.option.input_dim(self.dim)
        self.ids: List[str] = list(meta["ids"])
        self.lengths: Dict[str, int] = dict(zip(self.ids, meta["lengths"]))
        offsets = np.concatenate([[0], np.cumsum(meta["lengths"])]).astype(np.int64)
        self._frame_at = {uid: int(offsets[i]) for i, uid in enumerate(self.ids)}
        self._row_of = {uid: i for i, uid in enumerate(self.ids)}
        self._rows = dict(meta["rows"])
        self._maps: Dict[str, np.ndarray] = {}

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_maps"] = {}
        return state

    def __contains__(self, uid: str) -> bool:
        return uid in self._row_of

    def __len__(self) -> int:
        return len(self.ids)

    def _map(self, stream: str) -> np.ndarray:
        if stream not in self._maps:
            self._maps[stream] = np.memmap(
                self.path / f"{stream}.bin", dtype=self.dtype, mode="r",
                shape=(int(self._rows[stream]), self.dim),
            )
        return self._maps[stream]

    def get(self, uid: str) -> np.ndarray:
        """The head input of one utterance.

        Arguments
        ---------
        uid : str
            Utterance ID.

        Returns
        -------
        numpy.ndarray
            ``[steps, input_dim]`` float32 (a copy).
        """
        if uid not in self._row_of:
            raise KeyError(f"utterance {uid!r} is not in the feature cache {self.path}")
        streams = {}
        if "frames" in self._rows:
            start = self._frame_at[uid]
            streams["frames"] = self._map("frames")[start : start + self.lengths[uid]]
        if "utt" in self._rows:
            row = self._row_of[uid]
            streams["utt"] = self._map("utt")[row : row + 1]
        return self.option.assemble(streams)
