"""A tiny fake AESDD in the real layout (one folder per emotion).

:func:`make_fake_aesdd` writes, under ``root``::

    root/
      __MACOSX/Acted Emotional Speech Dynamic Database/anger/._a01 (1).wav
      Acted Emotional Speech Dynamic Database/
        anger/ disgust/ fear/ happiness/ sadness/
          <e><UU> (<S>)[<t>].wav          e.g. "a03 (4).wav", "f18 (5)b.wav", "f10 (01).wav"
          ._*.wav, .DS_Store              AppleDouble junk
        sadness/h07 (3).wav               filed in the wrong folder: label from the name
        disgust/d05 (2).wav               broken (not audio): skipped
        fear/f02 (6).wav                  zero bytes: skipped
        Acted Emotional Speech Dynamic Database/anger/   a nested duplicate of anger/

Authors
 * emotion2vec-sb contributors
"""

from pathlib import Path

from tests.fakes.layout import (
    BROKEN,
    FakeCorpus,
    copy_tree,
    write_bytes,
    write_junk,
    write_macosx,
    write_tone,
)

TOP = "Acted Emotional Speech Dynamic Database"
LETTERS = {"a": "anger", "d": "disgust", "f": "fear", "h": "happiness", "s": "sadness"}
FILES = {
    "anger": [("a01 (1).wav", "a01_spk1"), ("a03 (4).wav", "a03_spk4")],
    "disgust": [("d01 (6).wav", "d01_spk6")],
    "fear": [("f18 (5)b.wav", "f18_spk5b"), ("f10 (01).wav", "f10_spk1")],
    "happiness": [("h02 (2).wav", "h02_spk2"), ("h02 (2)a.wav", "h02_spk2a")],
    "sadness": [
        ("s11 (3).wav", "s11_spk3"), ("s12 (6).wav", "s12_spk6"), ("h07 (3).wav", "h07_spk3"),
    ],
}


def make_fake_aesdd(root, seconds: float = 0.05) -> FakeCorpus:
    """Writes the fake AESDD under ``root`` (see the module docstring).

    Arguments
    ---------
    root : str or path
        Folder to write into.
    seconds : float
        Length of every file.

    Returns
    -------
    FakeCorpus
        Expected rows (10 utterances), skipped files and duplicates.
    """
    src = Path(root)
    top = src / TOP
    fake = FakeCorpus(src)
    for folder, files in FILES.items():
        for name, utt_id in files:
            letter = name[0]
            wav = write_tone(top / folder / name, "adfhs".index(letter), seconds, 44100)
            speaker = str(int(name.split("(")[1].split(")")[0]))
            take = name.split(")")[1][:-4]
            fake.add(utt_id, wav, seconds, label=LETTERS[letter], speaker=speaker, gender="",
                     session="", emo_raw=letter, utterance=name[1:3], take=take)
        write_junk(top / folder, [files[0][0]])
    write_macosx(src, f"{TOP}/anger/a01 (1).wav")
    nested = copy_tree(top / "anger", top / TOP / "anger")
    for name, utt_id in FILES["anger"]:
        fake.copies(utt_id, [nested / name])
    fake.skip(write_bytes(top / "disgust" / "d05 (2).wav", BROKEN), "cannot read")
    fake.skip(write_bytes(top / "fear" / "f02 (6).wav", b""), "empty")
    return fake
