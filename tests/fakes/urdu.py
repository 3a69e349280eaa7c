"""A tiny fake URDU repository in the real layout (``Angry/ Happy/ Neutral/ Sad/``).

:func:`make_fake_urdu` writes, under ``root``::

    root/
      URDU-Dataset-master/
        README.md
        Angry/SM1_F1_A01.wav ...          names with uneven zero padding
        Sad/SM3_F2_H05.wav                filed in the wrong folder: label from the name (happy)
        Happy/SF2_F4_H010.wav             broken here, readable in the mirror (mirror copy used)
        Neutral/SM17_F1_N01.wav           zero bytes: skipped
        <folder>/._*.wav, .DS_Store       AppleDouble junk
      copy/URDU-Dataset-master/           a mirror duplicating the tree

Authors
 * emotion2vec-sb contributors
"""

from pathlib import Path

from tests.fakes.layout import BROKEN, FakeCorpus, copy_tree, write_bytes, write_junk, write_tone

LETTERS = {"A": "angry", "H": "happy", "N": "neutral", "S": "sad"}
FILES = {
    "Angry": ["SM1_F1_A01", "SF11_F3_A010", "SM27_F9_A0100"],
    "Happy": ["SM1_F2_H01", "SF2_F4_H010"],
    "Neutral": ["SF1_F1_N1", "SM7_F3_N02"],
    "Sad": ["SM1_F3_S01", "SF11_F5_S0100", "SM3_F2_H05"],
}


def make_fake_urdu(root, seconds: float = 0.05) -> FakeCorpus:
    """Writes the fake URDU repository under ``root`` (see the module docstring).

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
    repo = src / "URDU-Dataset-master"
    fake = FakeCorpus(src)
    write_bytes(repo / "README.md", "URDU dataset (fake)\n")
    mirror = src / "copy" / "URDU-Dataset-master"
    for folder, stems in FILES.items():
        for stem in stems:
            speaker, number, code = stem.split("_")
            wav = write_tone(repo / folder / f"{stem}.wav", "AHNS".index(code[0]), seconds, 44100)
            fake.add(stem, wav, seconds, label=LETTERS[code[0]], speaker=speaker,
                     gender=speaker[1], session="", emo_raw=code[0],
                     file_number=number[1:], number=code[1:])
        write_junk(repo / folder, [f"{stems[0]}.wav"])
    copy_tree(repo, mirror)
    for folder, stems in FILES.items():
        for stem in stems:
            fake.copies(stem, [mirror / folder / f"{stem}.wav"])
    fake.spoil("SF2_F4_H010", BROKEN)  # the mirror's copy is used
    fake.skip(write_bytes(repo / "Neutral" / "SM17_F1_N01.wav", b""), "empty")
    return fake
