"""A tiny fake CaFE in the ``CaFE_48k.zip`` layout, with mojibake folders.

::

    root/CaFE_48k/<Émotion>/<Faible|Fort>/AA-E-I-S.wav    48 kHz mono
    root/CaFE_48k/Neutre/AA-N-1-S.wav
    root/CaFE_192k/...                                   actor 01 again, 192 kHz 24-bit
    ._*.wav, .DS_Store, __MACOSX/...                      junk

Folder names are written as a legacy-code-page extraction shows them for
Colère and Dégoût (``ColŠre``, ``D‚go–t``) and correctly for the others,
so labels must come from the file-name letter. Actors 01 and 07 (EmoBox
fold 1), 02 (fold 2) and 03 (fold 3) say sentence 1 in every emotion and
intensity. Traps: ``03-T-2-1`` undecodable and ``02-S-1-1`` empty (reported,
no row), ``13-C-1-1.wav`` names an actor CaFE does not have (reported);
actor 01 is also in the 192 kHz release, whose copies sort first and are
used (the 48 kHz ones are ignored duplicates).

Authors
 * emotion2vec-sb contributors
"""

from pathlib import Path

from tests.fakes.layout import BROKEN, FakeCorpus, write_macos_junk, write_tone

FOLDERS = {"C": "ColŠre", "D": "D‚go–t", "J": "Joie", "P": "Peur", "S": "Surprise",
           "T": "Tristesse"}
LABELS = {"C": "anger", "D": "disgust", "J": "happiness", "N": "neutral", "P": "fear",
          "S": "surprise", "T": "sadness"}
ACTORS = ("01", "02", "03", "07")


def _rel(letter: str, intensity: str, name: str) -> Path:
    if letter == "N":
        return Path("Neutre") / name
    return Path(FOLDERS[letter]) / ("Faible" if intensity == "1" else "Fort") / name


def make_fake_cafe(root, seconds: float = 0.1) -> FakeCorpus:
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
    for actor in ACTORS:
        for k, (letter, label) in enumerate(LABELS.items()):
            for intensity in ("1",) if letter == "N" else ("1", "2"):
                name = f"{actor}-{letter}-{intensity}-1"
                rel = _rel(letter, intensity, f"{name}.wav")
                path = write_tone(root / "CaFE_48k" / rel, k, seconds, 48000)
                fake.add(name, path, seconds, label=label, speaker=actor,
                         gender="M" if int(actor) % 2 else "F", session="", emo_raw=letter,
                         intensity=intensity, sentence="1")
                if actor == "01":
                    hifi = write_tone(root / "CaFE_192k" / rel, k, seconds, 192000,
                                      subtype="PCM_24")
                    fake.copies(name, [hifi])
    fake.spoil("03-T-2-1", BROKEN, "cannot read")
    fake.spoil("02-S-1-1", b"", "empty")
    stray = write_tone(root / "CaFE_48k" / _rel("C", "1", "13-C-1-1.wav"), 0, seconds, 48000)
    fake.skip(stray, "no actor 13")
    write_macos_junk(root, ["CaFE_48k/Joie/Fort/01-J-2-1.wav", "CaFE_48k/Neutre/02-N-1-1.wav"])
    return fake
