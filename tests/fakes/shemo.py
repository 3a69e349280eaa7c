"""A tiny fake ShEMO in the real layout (``female/``, ``male/``, ``shemo.json``).

:func:`make_fake_shemo` writes, under ``root``::

    root/
      __MACOSX/female/._F01A01.wav       zip junk
      female/F<NN><E><MM>.wav             44.1 kHz, two files at 22.05 kHz
      male/M<NN><E><MM>.wav
      male/male/                          a nested duplicate of two files
      female/._*.wav, .DS_Store           AppleDouble junk
      female/F02H01.wav                   broken (not audio): skipped
      male/M03S01.wav                     zero bytes: skipped
      shemo.json                          every file above plus F01N09, F02W04
                                          (listed, no audio: reported)

Authors
 * emotion2vec-sb contributors
"""

import json
from pathlib import Path

from tests.fakes.layout import (
    BROKEN,
    FakeCorpus,
    write_bytes,
    write_junk,
    write_macosx,
    write_tone,
)

LETTERS = {
    "A": "anger", "F": "fear", "H": "happiness", "N": "neutral", "S": "sadness", "W": "surprise",
}
FILES = {
    "female": ["F01A01", "F01F01", "F01H01", "F01N01", "F01N02", "F01S01", "F01W01", "F02A01"],
    "male": ["M01N01", "M01S01", "M02A01", "M02W01", "M56F01"],
}


def make_fake_shemo(root, seconds: float = 0.05) -> FakeCorpus:
    """Writes the fake ShEMO under ``root`` (see the module docstring).

    Arguments
    ---------
    root : str or path
        Folder to write into.
    seconds : float
        Length of every file.

    Returns
    -------
    FakeCorpus
        Expected rows (13 utterances), skipped files and duplicates.
    """
    src = Path(root)
    fake = FakeCorpus(src)
    listed = {}
    for n, (folder, stem) in enumerate((f, s) for f in FILES for s in FILES[f]):
        letter = stem[3]
        wav = write_tone(src / folder / f"{stem}.wav", "AFHNSW".index(letter), seconds,
                         sample_rate=22050 if n in (2, 9) else 44100)
        fake.add(stem, wav, seconds, label=LETTERS[letter], speaker=stem[:3], gender=stem[0],
                 session="", emo_raw=letter, number=stem[4:])
        listed[stem] = {"speaker_id": stem[:3], "gender": stem[0], "emotion": LETTERS[letter]}
    fake.skip(write_bytes(src / "female" / "F02H01.wav", BROKEN), "cannot read")
    fake.skip(write_bytes(src / "male" / "M03S01.wav", b""), "empty")
    listed.update({stem: {} for stem in ("F02H01", "M03S01", "F01N09", "F02W04")})
    label_file = write_bytes(src / "shemo.json", json.dumps(listed, indent=1))
    for stem in ("F01N09", "F02W04"):
        fake.skip(f"{label_file} ({stem})", "listed in shemo.json but no audio file found")
    for stem in ("M01N01", "M02A01"):
        fake.copy_to(stem, src / "male" / "male" / f"{stem}.wav")
    write_junk(src / "female", ["F01A01.wav", "F01N01.wav"])
    write_macosx(src, "female/F01A01.wav")
    return fake
