"""Building blocks of the fake corpora: tiny tones, junk and broken files.

Every fake corpus writes its real layout with the traps real downloads
have: macOS AppleDouble files (``._name.wav``, also under ``__MACOSX/``),
``.DS_Store``, zero-byte files, undecodable files and duplicate trees.
:class:`FakeCorpus` records what a correct preparation must produce.

Authors
 * emotion2vec-sb contributors
"""

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple, Union

import numpy as np
import soundfile

PathLike = Union[str, os.PathLike]

APPLEDOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(64)
NOT_AUDIO = b"RIFF\x24\x00\x00\x00WAVEthis is not a wav file at all" * 4


@dataclass
class FakeCorpus:
    """What a fake corpus holds and what preparing it must give.

    Arguments
    ---------
    src_dir : Path
        Folder to pass to the preparation.
    rows : dict
        Utterance ID -> expected manifest fields (``label``, ``speaker``,
        ``gender``, ``wav`` and corpus columns), for every usable utterance.
    skipped : dict
        Path of every file the preparation must report -> a fragment of
        the reason.
    """

    src_dir: Path
    rows: Dict[str, Dict[str, str]] = field(default_factory=dict)
    skipped: Dict[str, str] = field(default_factory=dict)

    def add(self, utt_id: str, wav: Path, **fields: str) -> None:
        """Records a usable utterance and the copy the manifest points at."""
        self.rows[utt_id] = dict(fields, wav=str(wav))

    def skip(self, path: Path, reason: str) -> None:
        """Records a file the preparation must report and skip."""
        self.skipped[str(path)] = reason


def tone(seconds: float, sample_rate: int, pitch: float, channels: int = 1) -> np.ndarray:
    """A sine at ``pitch`` Hz (``[samples]`` or ``[samples, channels]``).

    Arguments
    ---------
    seconds : float
        Length.
    sample_rate : int
        Rate.
    pitch : float
        Frequency of the first channel (each further channel +30 Hz).
    channels : int
        Channels.

    Returns
    -------
    numpy.ndarray
        float32 samples.

    Example
    -------
    >>> tone(0.01, 16000, 440.0, channels=2).shape
    (160, 2)
    """
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    data = np.stack([0.4 * np.sin(2 * np.pi * (pitch + 30 * c) * t) for c in range(channels)], 1)
    data = data.astype(np.float32)
    return data[:, 0] if channels == 1 else data


def write_wav(
    path: PathLike,
    seconds: float,
    sample_rate: int,
    pitch: float = 220.0,
    channels: int = 1,
    subtype: str = "PCM_16",
) -> Path:
    """Writes a tone as WAV (parents created).

    Arguments
    ---------
    path : str or path
        Output file.
    seconds : float
        Length.
    sample_rate : int
        Rate.
    pitch : float
        Tone frequency.
    channels : int
        Channels.
    subtype : str
        soundfile subtype (``PCM_16``, ``PCM_24``).

    Returns
    -------
    Path
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), tone(seconds, sample_rate, pitch, channels), sample_rate,
                    subtype=subtype, format="WAV")
    return path


def write_bytes(path: PathLike, data: bytes) -> Path:
    """Writes raw bytes (parents created): junk, broken and empty files."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_macos_junk(root: PathLike, rel_paths: List[str]) -> None:
    """AppleDouble twins of ``rel_paths`` beside them and under ``__MACOSX/``,
    plus a ``.DS_Store`` in the first one's folder."""
    root = Path(root)
    for rel in rel_paths:
        rel = Path(rel)
        write_bytes(root / rel.parent / f"._{rel.name}", APPLEDOUBLE)
        write_bytes(root / "__MACOSX" / rel.parent / f"._{rel.name}", APPLEDOUBLE)
    write_bytes(root / Path(rel_paths[0]).parent / ".DS_Store", b"\x00\x00\x00\x01Bud1")


def copy_tree(files: List[Tuple[Path, Path]]) -> None:
    """Copies ``(source, destination)`` file pairs (a duplicate tree)."""
    for source, destination in files:
        write_bytes(destination, source.read_bytes())
