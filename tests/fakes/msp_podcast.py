"""A tiny fake MSP-Podcast release: ``Audios/MSP-PODCAST_*.wav`` and a consensus label file.

::

    root/MSP-Podcast/
      Audios/MSP-PODCAST_0001_0008.wav ...   16 kHz mono; one not in the labels
      Audios/MSP-PODCAST_0002_0001.wav       undecodable (reported)
      Audios/MSP-PODCAST_0003_0001.wav       empty (reported)
      Audios/._MSP-PODCAST_0001_0008.wav     junk
      Labels/labels_consensus.csv            FileName, EmoClass, EmoAct/Val/Dom, SpkrID, Gender, Split_Set

Authors
 * emotion2vec-sb contributors
"""

from pathlib import Path

from tests.fakes.layout import APPLEDOUBLE, BROKEN, FakeCorpus, write_bytes, write_tone

# stem -> (EmoClass, act, val, dom, speaker, gender, split) or None (not labelled), seconds
FILES = {
    "MSP-PODCAST_0001_0008": (("N", "4.2", "4.0", "4.4", "127", "Female", "Train"), 0.4),
    "MSP-PODCAST_0001_0011": (("H", "5.0", "6.0", "4.2", "127", "Female", "Development"), 1.3),
    "MSP-PODCAST_0004_0003": (("A", "6.0", "2.0", "5.0", "15", "Male", "Test1"), 2.5),
    "MSP-PODCAST_0005_0010": (None, 0.7),
}
CLASSES = {"N": "neutral", "H": "happy", "A": "angry"}


def make_fake_msp_podcast(root) -> FakeCorpus:
    """Writes the fake release under ``root`` and returns what it holds."""
    root = Path(root)
    base = root / "MSP-Podcast"
    fake = FakeCorpus(root)
    lines = ["FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set"]
    for index, (stem, (label, seconds)) in enumerate(FILES.items()):
        wav = write_tone(base / "Audios" / f"{stem}.wav", index, seconds)
        if label is None:
            fake.add(stem, wav, seconds, label="", speaker="", split="")
            continue
        code, act, val, dom, spk, gender, split = label
        lines.append(f"{stem}.wav,{code},{act},{val},{dom},{spk},{gender},{split}")
        fake.add(stem, wav, seconds, label=CLASSES[code], speaker=spk, gender=gender[0],
                 split=split, emo_raw=code, arousal=act, valence=val, dominance=dom)
    for stem, data, reason in [("MSP-PODCAST_0002_0001", BROKEN, ""),
                               ("MSP-PODCAST_0003_0001", b"", "")]:
        path = write_bytes(base / "Audios" / f"{stem}.wav", data)
        lines.append(f"{stem}.wav,X,4,4,4,99,Male,Train")
        fake.skip(path, reason)
    write_bytes(base / "Audios" / "._MSP-PODCAST_0001_0008.wav", APPLEDOUBLE)
    write_bytes(base / "Labels" / "labels_consensus.csv", "\n".join(lines) + "\n")
    return fake
