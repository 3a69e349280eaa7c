"""A tiny fake EMOVO (speaker folders under ``EMOVO/``) with its traps.

::

    root/EMOVO/{f1,f2,f3,m1,m2,m3}/<emo>-<spk>-b1.wav   48 kHz, stereo
    root/EMOVO/documents/EMOVO.pdf
    root/EMOVO/EMOVO/m1/...                            nested duplicate of m1 (ignored)
    ._*.wav, .DS_Store, __MACOSX/...                   junk

Every speaker says sentence ``b1`` in the seven emotions (``m2`` in mono, as
a few real files are). Traps: ``sor-m3-b1`` undecodable and ``pau-f2-b1``
empty (reported, no row).

Authors
 * emotion2vec-sb contributors
"""

from pathlib import Path

from tests.fakes.layout import BROKEN, FakeCorpus, write_bytes, write_macos_junk, write_tone

CODES = {"dis": "disgust", "gio": "joy", "neu": "neutral", "pau": "fear",
         "rab": "anger", "sor": "surprise", "tri": "sadness"}
SPEAKERS = ("f1", "f2", "f3", "m1", "m2", "m3")
RATE = 48000


def make_fake_emovo(root, seconds: float = 0.1) -> FakeCorpus:
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
    base = root / "EMOVO"
    for spk in SPEAKERS:
        for k, (code, label) in enumerate(CODES.items()):
            name = f"{code}-{spk}-b1"
            path = write_tone(base / spk / f"{name}.wav", k, seconds, RATE,
                              channels=1 if spk == "m2" else 2)
            fake.add(name, path, seconds, label=label, speaker=spk, gender=spk[0].upper(),
                     session="", emo_raw=code, sentence="b1")
            if spk == "m1":
                fake.copy_to(name, base / "EMOVO" / spk / f"{name}.wav")
    fake.spoil("sor-m3-b1", BROKEN, "cannot read")
    fake.spoil("pau-f2-b1", b"", "empty")
    write_bytes(base / "documents" / "EMOVO.pdf", b"%PDF-1.4\n")
    write_macos_junk(root, ["EMOVO/f1/dis-f1-b1.wav", "EMOVO/m3/tri-m3-b1.wav"])
    return fake
