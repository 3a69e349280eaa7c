"""A tiny fake EmoDB (``download.zip`` layout) with a Kaggle duplicate and traps.

::

    root/download/wav/SSTTTEV.wav             16 kHz mono
    root/download/lablaut/, silb/, erkennung.txt   annotation files (not audio)
    root/download/wav/._*.wav, __MACOSX/...   AppleDouble junk
    root/kaggle/emodb/wav/SSTTTEV.wav         a second copy of every file

Speakers 03 (M), 08 (F) and 16 (F) each say one sentence in all seven
emotions. Traps: ``08b02Wb`` is undecodable in both copies (two reports,
no row), ``16a05Na`` is empty in ``download/`` (the Kaggle copy is used,
nothing reported), ``99a01Fa.wav`` names an unknown speaker (reported).

Authors
 * emotion2vec-sb contributors
"""

from pathlib import Path

from tests.fakes.common import NOT_AUDIO, FakeCorpus, copy_tree, write_bytes, write_macos_junk, write_wav

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
    pairs = []
    for n, (spk, (gender, sentence, version)) in enumerate(SPEAKERS.items()):
        for k, (letter, label) in enumerate(LETTERS.items()):
            name = f"{spk}{sentence}{letter}{version}"
            path = write_wav(wav_dir / f"{name}.wav", seconds, RATE, 120 + 30 * k + 5 * n)
            pairs.append((path, mirror / f"{name}.wav"))
            fake.add(name, path, label=label, speaker=spk, gender=gender, emo_raw=letter,
                     sentence=sentence, version=version)
            write_bytes(root / "download" / "lablaut" / f"{name}.lab", b"0.0 0.1 a\n")
    copy_tree(pairs)
    for where in (wav_dir, mirror):
        write_bytes(where / "08b02Wb.wav", NOT_AUDIO)
        fake.skip(where / "08b02Wb.wav", "cannot read")
    del fake.rows["08b02Wb"]
    write_bytes(wav_dir / "16a05Na.wav", b"")
    fake.rows["16a05Na"]["wav"] = str(mirror / "16a05Na.wav")
    write_wav(wav_dir / "99a01Fa.wav", seconds, RATE)
    fake.skip(wav_dir / "99a01Fa.wav", "no speaker 99")
    write_bytes(root / "download" / "silb" / "03a01Fa.silb", b"0 1\n")
    write_bytes(root / "download" / "erkennung.txt", b"Satz Erkennung\n")
    write_macos_junk(root / "download", ["wav/03a01Fa.wav", "wav/16a05Ta.wav"])
    return fake
