"""A tiny fake SAVEE in the official or the Kaggle layout, with its traps.

Official (``layout="official"``)::

    root/SAVEE/AudioData/<SPK>/<code><NN>.wav     SPK = DC JE JK KL
    root/SAVEE/AudioData/AudioData/JE/...         duplicated nested tree
    root/SAVEE/AudioData/Info.txt, ._*.wav, .DS_Store, __MACOSX/...

Kaggle (``layout="kaggle"``): ``root/ALL/<SPK>_<code><NN>.wav``.

Each speaker has ``a01 d01 f01 h01 n01 n02 sa01 su01`` (44.1 kHz mono).
Traps: ``KL h01`` undecodable and ``JK f01`` empty (both reported, no
row); in the official layout ``JE sa01`` is undecodable but its copy in
the nested tree is used (the other nested copies are ignored duplicates).

Authors
 * emotion2vec-sb contributors
"""

from pathlib import Path

from tests.fakes.layout import BROKEN, FakeCorpus, write_bytes, write_macos_junk, write_tone

SPEAKERS = ("DC", "JE", "JK", "KL")
CODES = ("a01", "d01", "f01", "h01", "n01", "n02", "sa01", "su01")
LABELS = {"a": "anger", "d": "disgust", "f": "fear", "h": "happiness",
          "n": "neutral", "sa": "sadness", "su": "surprise"}
RATE = 44100


def make_fake_savee(root, layout: str = "official", seconds: float = 0.1) -> FakeCorpus:
    """Writes the fake corpus under ``root`` and returns what it holds.

    Arguments
    ---------
    root : str or path
        Folder to write into (the preparation's source folder).
    layout : str
        ``"official"`` (speaker folders) or ``"kaggle"`` (flat ``ALL/``).
    seconds : float
        Length of each file.

    Returns
    -------
    FakeCorpus
    """
    root = Path(root)
    fake = FakeCorpus(root)
    labels = list(LABELS.values())
    for spk in SPEAKERS:
        for code in CODES:
            utt = f"{spk}_{code}"
            rel = f"SAVEE/AudioData/{spk}/{code}.wav" if layout == "official" else f"ALL/{utt}.wav"
            emo = code.rstrip("0123456789")
            path = write_tone(root / rel, labels.index(LABELS[emo]), seconds, RATE)
            fake.add(utt, path, seconds, label=LABELS[emo], speaker=spk, gender="M",
                     session="", emo_raw=emo, sentence=code[-2:])
    fake.spoil("KL_h01", BROKEN, "cannot read")
    fake.spoil("JK_f01", b"", "empty")
    if layout == "official":
        base = root / "SAVEE" / "AudioData"
        for code in CODES:
            fake.copy_to(f"JE_{code}", base / "AudioData" / "JE" / f"{code}.wav")
        fake.spoil("JE_sa01", BROKEN)  # the nested copy is used
        write_bytes(base / "Info.txt", "Surrey Audio-Visual Expressed Emotion\n")
        write_macos_junk(root / "SAVEE", ["AudioData/DC/a01.wav", "AudioData/KL/n02.wav"])
    else:
        write_macos_junk(root, ["ALL/DC_a01.wav"])
    return fake
