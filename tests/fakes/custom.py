"""A user's own corpus: a folder per class with an odd label set.

``make_custom_folder`` writes ``ROOT/<label>/.../<file>`` for the labels
``Grumpy``, ``zen`` and ``über`` (capitals, lower case, non-ASCII), at mixed
sample rates (8, 16, 22.05 and 44.1 kHz), mono and stereo, some files
nested deeper, plus the junk a real folder has: a broken file, an
AppleDouble file, a file too short for the model, a stray file at the
root and a text file. Each class is a tone at its own pitch, so a model
can learn it.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List

import numpy as np
import soundfile

LABELS = ("Grumpy", "zen", "über")
PITCH = {"Grumpy": 110.0, "zen": 260.0, "über": 520.0}
RATES = (8000, 16000, 22050, 44100)


@dataclass
class CustomFolder:
    """What :func:`make_custom_folder` wrote."""

    root: Path
    kept: Dict[str, str] = field(default_factory=dict)  # manifest ID -> label
    junk: List[Path] = field(default_factory=list)  # files that must be skipped (reported)
    ignored: List[Path] = field(default_factory=list)  # hidden files (silently ignored)


def tone(label: str, seconds: float, rate: int, channels: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    pitch = PITCH[label] * rng.uniform(0.95, 1.05)
    x = 0.3 * np.sin(2 * np.pi * pitch * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))
    x = x + 0.02 * rng.standard_normal(len(t))
    if channels == 2:
        x = np.stack([x, 0.5 * x], axis=1)
    return x.astype(np.float32)


def make_custom_folder(root: Path, per_class: int = 8, seconds=(0.6, 1.2)) -> CustomFolder:
    root = Path(root)
    fake = CustomFolder(root)
    rng = np.random.default_rng(7)
    for c, label in enumerate(LABELS):
        for i in range(per_class):
            sub = Path(label) / ("take2" / Path("deep") if i % 3 == 2 else Path(""))
            rel = sub / f"{label.lower()}_{i:02d}.{'flac' if i % 4 == 3 else 'wav'}"
            rate = RATES[(i + c) % len(RATES)]
            channels = 2 if i % 2 else 1
            wav = tone(label, rng.uniform(*seconds), rate, channels, seed=100 * c + i)
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(root / rel, wav, rate)
            fake.kept[rel.as_posix()] = label
    broken = root / "zen" / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(100))
    short = root / "Grumpy" / "blip.wav"
    soundfile.write(short, np.zeros(200, dtype=np.float32), 16000)
    stray = root / "stray.wav"
    soundfile.write(stray, tone("zen", 0.5, 16000, 1, 1), 16000)
    fake.junk += [broken, short, stray]
    apple = root / "über" / "._über_00.wav"
    apple.write_bytes(b"\x00\x05\x16\x07Mac OS X        ")
    (root / "zen" / "notes.txt").write_text("not audio")
    fake.ignored.append(apple)
    return fake
