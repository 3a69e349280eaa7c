"""Building blocks of the fake corpora: tiny tones, junk files, what to expect.

Every fake corpus module (``tests/fakes/<corpus>.py``) writes its corpus in
the real layout with these helpers, with the traps real downloads have:
macOS AppleDouble files (``._name.wav``, also under ``__MACOSX/``),
``.DS_Store``, zero-byte and undecodable files, duplicate trees. It returns
a :class:`FakeCorpus` saying which manifest rows the preparation must
produce, which files it must report as skipped and which copies it must
ignore; :func:`assert_prepared` checks a prepared manifest against it.

Authors
 * emotion2vec-sb contributors
"""

import io
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence, Union

import numpy as np
import soundfile

PathLike = Union[str, os.PathLike]

APPLEDOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(64)
"""Header of a macOS AppleDouble ``._name`` file (not audio)."""

BROKEN = b"RIFF\x10\x00\x00\x00WAVEthis is not audio" * 2
"""Bytes of a file named like audio that no decoder reads."""


@dataclass
class FakeCorpus:
    """What a fake corpus writer produced, and what preparing it must give.

    Arguments
    ---------
    src_dir : Path
        Folder to pass to the preparation.
    rows : dict
        Expected manifest rows: ID -> {column: value} (strings), including
        ``ID`` and ``wav`` (absolute path, the copy the manifest must use)
        but not ``duration``.
    durations : dict
        ID -> expected duration in seconds.
    skipped : dict
        What the preparation must report as skipped (paths, or
        ``"<file> (<item>)"`` annotation references) -> a fragment of the
        reason ("" when any reason will do).
    """

    src_dir: Path
    rows: Dict[str, Dict[str, str]] = field(default_factory=dict)
    durations: Dict[str, float] = field(default_factory=dict)
    skipped: Dict[str, str] = field(default_factory=dict)
    _paths: Dict[str, List[str]] = field(default_factory=dict, repr=False)
    _ignored: List[str] = field(default_factory=list, repr=False)

    def add(self, utt_id: str, wav: PathLike, seconds: float, **columns: str) -> None:
        """Records an utterance the preparation must keep, read from ``wav``."""
        wav = str(Path(wav).absolute())
        self.rows[utt_id] = {"ID": utt_id, "wav": wav, **columns}
        self.durations[utt_id] = seconds
        self._paths[utt_id] = [wav]

    def copies(self, utt_id: str, paths: Sequence[PathLike]) -> None:
        """Declares extra copies of ``utt_id``: the shallowest (then first in
        path order) is used, the others must be listed as duplicates."""
        ordered = self._paths[utt_id] + [str(Path(p).absolute()) for p in paths]
        ordered.sort(key=lambda p: (len(Path(p).parts), p))
        self._paths[utt_id] = ordered
        self.rows[utt_id]["wav"] = ordered[0]

    def copy_to(self, utt_id: str, destination: PathLike) -> Path:
        """Writes a byte copy of the file ``utt_id`` uses and declares it (:meth:`copies`)."""
        copy = write_bytes(destination, Path(self._paths[utt_id][0]).read_bytes())
        self.copies(utt_id, [copy])
        return copy

    def spoil(self, utt_id: str, data: bytes, reason: str = "", path: PathLike = None) -> Path:
        """Overwrites a copy of ``utt_id`` (default: the one used) with ``data``.

        The copy must be reported as skipped (with ``reason``); the next copy
        is used instead, or the row is dropped when none is left.
        """
        path = str(Path(path).absolute()) if path else self._paths[utt_id][0]
        write_bytes(path, data)
        self._paths[utt_id].remove(path)
        if self._paths[utt_id]:
            self.rows[utt_id]["wav"] = self._paths[utt_id][0]
            reason = reason or "used the copy"
        else:
            del self.rows[utt_id], self.durations[utt_id], self._paths[utt_id]
        self.skip(path, reason)
        return Path(path)

    def skip(self, what: PathLike, reason: str = "") -> None:
        """Records a file (or annotation reference) the preparation must report and skip."""
        self.skipped[str(what)] = reason

    def duplicate(self, what: PathLike) -> None:
        """Records an ignored duplicate that is not a file copy (a repeated annotation row)."""
        self._ignored.append(str(what))

    @property
    def duplicates(self) -> List[str]:
        """Every copy the preparation must list as an ignored duplicate."""
        unused = [p for utt in sorted(self._paths) for p in self._paths[utt][1:]]
        return unused + self._ignored

    def labels(self) -> Dict[str, str]:
        """ID -> expected label."""
        return {utt: row["label"] for utt, row in self.rows.items()}


def tone(
    index: int, seconds: float = 0.1, sample_rate: int = 16000, channels: int = 1
) -> np.ndarray:
    """A short sine (pitch 150 Hz * (index + 1)) plus a little noise.

    Arguments
    ---------
    index : int
        Class index; picks the pitch.
    seconds : float
        Length.
    sample_rate : int
        Samples per second.
    channels : int
        1 (mono) or more (the same tone on every channel).

    Returns
    -------
    numpy.ndarray
        ``[samples]`` or ``[samples, channels]`` float32.
    """
    rng = np.random.default_rng(index)
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    wave = 0.4 * np.sin(2 * np.pi * 150.0 * (index + 1) * t) + rng.normal(0, 0.02, t.shape)
    data = np.repeat(wave[:, None], channels, axis=1) if channels > 1 else wave
    return data.astype(np.float32)


def write_tone(
    path: PathLike,
    index: int,
    seconds: float = 0.1,
    sample_rate: int = 16000,
    channels: int = 1,
    subtype: str = "PCM_16",
) -> Path:
    """Writes :func:`tone` as a WAV (parent folders created) and returns the path.

    ``subtype`` is the soundfile subtype (``PCM_16``, ``PCM_24``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), tone(index, seconds, sample_rate, channels), sample_rate,
                    subtype=subtype, format="WAV")
    return path


def tone_bytes(
    index: int, seconds: float = 0.1, sample_rate: int = 16000, fmt: str = "WAV"
) -> bytes:
    """The bytes of a :func:`tone` audio file (``fmt``: WAV or FLAC, PCM16)."""
    buffer = io.BytesIO()
    soundfile.write(buffer, tone(index, seconds, sample_rate), sample_rate, format=fmt,
                    subtype="PCM_16")
    return buffer.getvalue()


def write_bytes(path: PathLike, data: Union[bytes, str]) -> Path:
    """Writes bytes (or UTF-8 text), creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def write_junk(folder: PathLike, names: Sequence[str]) -> None:
    """AppleDouble ``._<name>`` files in ``folder`` and a ``.DS_Store``."""
    folder = Path(folder)
    for name in names:
        write_bytes(folder / f"._{name}", APPLEDOUBLE)
    write_bytes(folder / ".DS_Store", b"\x00\x00\x00\x01Bud1")


def write_macosx(src_dir: PathLike, relative: PathLike) -> None:
    """A ``__MACOSX/<relative>`` AppleDouble entry, as zip tools add."""
    relative = Path(relative)
    write_bytes(Path(src_dir) / "__MACOSX" / relative.parent / f"._{relative.name}", APPLEDOUBLE)


def write_macos_junk(root: PathLike, relative_paths: Sequence[PathLike]) -> None:
    """The junk a macOS zip adds around ``relative_paths`` (files under ``root``):
    :func:`write_junk` beside each one and :func:`write_macosx` entries."""
    for relative in relative_paths:
        relative = Path(relative)
        write_junk(Path(root) / relative.parent, [relative.name])
        write_macosx(root, relative)


def copy_tree(source: PathLike, target: PathLike) -> Path:
    """A duplicate of a folder (mirrors that ship the corpus twice)."""
    shutil.copytree(source, target)
    return Path(target)


def assert_prepared(
    csv_path: PathLike, fake: FakeCorpus, extra_columns: Sequence[str]
) -> List[Dict[str, str]]:
    """Asserts that a prepared manifest holds exactly the fake's rows and skips.

    Checks the header (standard columns, then ``extra_columns``), every row
    and column the fake declares, the durations, and the marker's lists of
    skipped files (each with its reason) and ignored duplicates; nothing
    skipped may be junk (``._*``, ``__MACOSX``).

    Arguments
    ---------
    csv_path : str or path
        The manifest.
    fake : FakeCorpus
        What the fake corpus writer declared.
    extra_columns : sequence of str
        The corpus's extra columns, in order.

    Returns
    -------
    list of dict
        The manifest rows.
    """
    import json

    import pytest

    from emotion2vec.corpora.manifest import MANIFEST_COLUMNS, marker_path, read_manifest

    csv_path = Path(csv_path)
    header = csv_path.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header == list(MANIFEST_COLUMNS) + list(extra_columns)
    rows = read_manifest(csv_path)
    assert [row["ID"] for row in rows] == sorted(fake.rows)
    for row in rows:
        expected = fake.rows[row["ID"]]
        assert {k: row[k] for k in expected} == expected
        assert float(row["duration"]) == pytest.approx(fake.durations[row["ID"]], abs=1e-4)
    summary = json.loads(marker_path(csv_path).read_text())["summary"]
    assert sorted(path for path, _ in summary["skipped"]) == sorted(fake.skipped)
    for path, reason in summary["skipped"]:
        assert fake.skipped[path] in reason, (path, reason)
        assert "/._" not in path and "__MACOSX" not in path, path
    assert sorted(copy for copy, _ in summary["duplicates"]) == sorted(fake.duplicates)
    return rows
