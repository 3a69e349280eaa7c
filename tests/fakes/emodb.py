"""A tiny fake EmoDB (``download.zip`` layout) with a Kaggle duplicate and traps.

::

    root/download/wav/SSTTTEV.wav             16 kHz mono
    root/download/lablaut/, silb/, erkennung.txt   annotation files (not audio)
    root/download/wav/._*.wav, __MACOSX/...   AppleDouble junk
    root/kaggle/emodb/wav/SSTTTEV.wav         a second copy of every file (ignored)

Speakers 03 (M), 08 (F) and 16 (F) each say one sentence in all seven
emotions. Traps: ``08b02Wb`` is undecodable in both copies (two reports,
no row), ``16a05Na`` is empty in ``download/`` (reported, the Kaggle copy
is used), ``99a01Fa.wav`` names an unknown speaker (reported).

Authors
 * emotion2vec-sb contributors
"""

from pathlib import Path

from tests.fakes.layout import BROKEN, FakeCorpus, write_bytes, write_macos_junk, write_tone

LETTERS = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear",
           "F": "happiness", "T": "sadness", "N": "neutral"}
SPEAKERS = {"03": ("M", "a01", "a"), "08": ("F", "b02", "b"), "16": ("F", "a05", "a")}
RATE = 16000


def make_fake_emodb(root, seconds: float = 0.1) -> FakeCorpus:
    """Writes the fake corpus under ``root`` and returns what it holds.

    Arguments
    ---------
    root : str or path
        Folder to write into (the preparation's source folder).
    seconds : float
        Length of each file.

    Returns
    -------
    FakeCorpus
    """
    root = Path(root)
    fake = FakeCorpus(root)
    wav_dir, mirror = root / "download" / "wav", root / "kaggle" / "emodb" / "wav"
    for spk, (gender, sentence, version) in SPEAKERS.items():
        for k, (letter, label) in enumerate(LETTERS.items()):
            name = f"{spk}{sentence}{letter}{version}"
            path = write_tone(wav_dir / f"{name}.wav", k, seconds, RATE)
            fake.add(name, path, seconds, label=label, speaker=spk, gender=gender,
                     session="", emo_raw=letter, sentence=sentence, version=version)
            fake.copy_to(name, mirror / f"{name}.wav")
            write_bytes(root / "download" / "lablaut" / f"{name}.lab", b"0.0 0.1 a\n")
    fake.spoil("08b02Wb", BROKEN, "cannot read")
    fake.spoil("08b02Wb", BROKEN, "cannot read")  # the Kaggle copy too: no row
    fake.spoil("16a05Na", b"", "empty file (0 bytes) (used the copy")
    stray = write_tone(wav_dir / "99a01Fa.wav", 0, seconds, RATE)
    fake.skip(stray, "no speaker 99")
    write_bytes(root / "download" / "silb" / "03a01Fa.silb", b"0 1\n")
    write_bytes(root / "download" / "erkennung.txt", b"Satz Erkennung\n")
    write_macos_junk(root / "download", ["wav/03a01Fa.wav", "wav/16a05Ta.wav"])
    return fake
