"""Tiny fake RESD in both published layouts (Hugging Face parquet, older CSV + WAV).

:func:`make_fake_resd_parquet` writes, under ``root``::

    root/
      resd/README.md, resd/.gitattributes
      resd/data/train-00000-of-00001-<hash>.parquet   name, path, emotion, speech{bytes, path}
      resd/data/test-00000-of-00001-<hash>.parquet
      mirror/resd/data/...                           a duplicate of both parquet files
      __MACOSX/resd/data/._train-00000-of-00001-<hash>.parquet

with WAV bytes at 16 and 44.1 kHz, one row stored as FLAC (re-encoded to
WAV), and the traps: undecodable bytes, no bytes, zero-length bytes, an
unknown emotion and a test row repeating a train row's name (all
reported, not kept).

:func:`make_fake_resd_csv` writes the older form::

    root/
      resd/train.csv, resd/test.csv                  name, path, emotion
      resd/train/<dialog folder>/<file>.wav           folder names not always like the file name
      resd/test/...
      resd/resd/                                      a nested duplicate of the whole tree
      <folders>/._<file>.wav, __MACOSX/...            AppleDouble junk

with the traps: a row whose file is missing, a broken file, a zero-byte
file and an unknown emotion.

Authors
 * emotion2vec-sb contributors
"""

import csv
import io
from pathlib import Path
from typing import Dict, List

from tests.fakes.layout import (
    APPLEDOUBLE,
    BROKEN,
    FakeCorpus,
    copy_tree,
    tone_bytes,
    write_bytes,
    write_junk,
    write_macosx,
)

EMOTIONS = ("anger", "disgust", "enthusiasm", "fear", "happiness", "neutral", "sadness")
SECONDS = 0.05
#: (split, name, dialog folder, emotion, sample rate); names as the real files.
UTTERANCES = (
    ("train", "01_happiness_anger a_010", "01_happiness_anger", "anger", 16000),
    ("train", "01_happiness_anger h_011", "01_happiness_anger", "happiness", 44100),
    ("train", "32_happiness_enthusiasm_e_120", "happiness_enthusiasm_32", "enthusiasm", 16000),
    ("train", "05_fear_disgust_d_030", "05_fear_disgust", "disgust", 44100),
    ("train", "05_fear_disgust_f_031", "05_fear_disgust", "fear", 16000),
    ("train", "07_neutral_sadness_n_040", "07_neutral_sadness", "neutral", 16000),
    ("train", "07_neutral_sadness_s_041", "07_neutral_sadness", "sadness", 44100),
    ("train", "09_anger_fear_a_050", "anger_fear_09", "anger", 16000),
    ("train", "09_anger_fear_f_051", "anger_fear_09", "fear", 16000),
    ("train", "11_happiness_sadness_h_060", "11_happiness_sadness", "happiness", 44100),
    ("test", "01_happiness_anger a_012", "01_happiness_anger", "anger", 16000),
    ("test", "05_fear_disgust_d_032", "05_fear_disgust", "disgust", 16000),
    ("test", "07_neutral_sadness_s_042", "07_neutral_sadness", "sadness", 44100),
    ("test", "32_happiness_enthusiasm_e_121", "happiness_enthusiasm_32", "enthusiasm", 16000),
)
FLAC_ROW = "09_anger_fear_f_051"
PARQUET_NAMES = {
    "train": "train-00000-of-00001-5a6b7c8d.parquet",
    "test": "test-00000-of-00001-9e0f1a2b.parquet",
}


def _id(name: str) -> str:
    return name.replace(" ", "_")


def _dialog(name: str) -> str:
    return str(int(name.split("_")[0]))


def _expect(fake: FakeCorpus, split: str, name: str, emotion: str, wav: Path) -> None:
    fake.add(_id(name), wav, SECONDS, label=emotion, speaker="", gender="", session="",
             split=split, emo_raw=emotion, dialog=_dialog(name))


def parquet_wav(out_dir, split: str, name: str) -> Path:
    """Where the preparation writes a parquet row's audio."""
    return Path(out_dir) / "resd_wav" / split / f"{_id(name)}.wav"


def make_fake_resd_parquet(root, out_dir) -> FakeCorpus:
    """Writes the parquet form under ``root`` (needs pyarrow).

    Arguments
    ---------
    root : str or path
        Folder to write into (the one given to the preparation).
    out_dir : str or path
        The output folder the test will use (the expected ``wav`` paths
        point into it).

    Returns
    -------
    FakeCorpus
        Expected rows (14 utterances), skipped rows and duplicates.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = Path(root)
    data = src / "resd" / "data"
    fake = FakeCorpus(src)
    records: Dict[str, List[dict]] = {"train": [], "test": []}
    for split, name, folder, emotion, rate in UTTERANCES:
        fmt = "FLAC" if name == FLAC_ROW else "WAV"
        audio = tone_bytes(EMOTIONS.index(emotion), SECONDS, rate, fmt)
        records[split].append(_record(name, folder, emotion, audio))
        _expect(fake, split, name, emotion, parquet_wav(out_dir, split, name))
    traps = [
        ("train", _record("12_fear_anger_a_070", "12_fear_anger", "anger", BROKEN)),
        ("train", _record("12_fear_anger_f_071", "12_fear_anger", "fear", None)),
        ("train", _record("12_fear_anger_a_072", "12_fear_anger", "anger", b"")),
        ("test", _record("13_anger_contempt_c_080", "13_anger_c", "contempt", tone_bytes(0))),
        ("test", _record("01_happiness_anger a_010", "01_happiness_anger", "anger", tone_bytes(0))),
    ]
    for split, record in traps:
        records[split].append(record)
    for split, rows in records.items():
        path = data / PARQUET_NAMES[split]
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows), str(path))
        for index, row in enumerate(rows, start=1):
            where = f"{path} (row {index}, {row['name']})"
            if row["name"] == "01_happiness_anger a_010" and split == "test":
                fake.duplicate(where)
            elif row["name"] not in {u[1] for u in UTTERANCES}:
                fake.skip(where)
    write_bytes(src / "resd" / "README.md", "RESD (fake)\n")
    write_bytes(src / "resd" / ".gitattributes", "*.parquet filter=lfs\n")
    copy_tree(data, src / "mirror" / "resd" / "data")
    write_macosx(src, f"resd/data/{PARQUET_NAMES['train']}")
    write_bytes(data / f"._{PARQUET_NAMES['test']}", APPLEDOUBLE)
    return fake


def _record(name: str, folder: str, emotion: str, audio) -> dict:
    path = f"{folder}/{name}.wav"
    speech = {"bytes": audio, "path": path}
    return {"name": name, "path": path, "emotion": emotion, "speech": speech}


def make_fake_resd_csv(root) -> FakeCorpus:
    """Writes the older CSV + WAV form under ``root``.

    Arguments
    ---------
    root : str or path
        Folder to write into.

    Returns
    -------
    FakeCorpus
        Expected rows (13 utterances: one row's file is missing), skipped
        rows/files and duplicates.
    """
    src = Path(root)
    top = src / "resd"
    fake = FakeCorpus(src)
    rows: Dict[str, List[dict]] = {"train": [], "test": []}
    missing = "11_happiness_sadness_h_060"
    for split, name, folder, emotion, rate in UTTERANCES:
        wav = top / split / folder / f"{name}.wav"
        rows[split].append({"name": name, "path": f"{folder}/{name}.wav", "emotion": emotion})
        if name == missing:
            fake.skip(f"{top / 'train.csv'} (row {len(rows[split])}, {name})", "no audio file")
            continue
        write_bytes(wav, tone_bytes(EMOTIONS.index(emotion), SECONDS, rate))
        _expect(fake, split, name, emotion, wav)
    bad = {"12_fear_anger_a_070": BROKEN, "12_fear_anger_f_071": b""}
    for name, content in bad.items():
        wav = write_bytes(top / "train" / "12_fear_anger" / f"{name}.wav", content)
        rows["train"].append({"name": name, "path": f"12_fear_anger/{name}.wav", "emotion": "fear"})
        fake.skip(wav, "empty" if not content else "cannot read")
    rows["test"].append(
        {"name": "13_anger_contempt_c_080", "path": "x/13.wav", "emotion": "contempt"}
    )
    fake.skip(f"{top / 'test.csv'} (row {len(rows['test'])}, 13_anger_contempt_c_080)",
              "unknown emotion 'contempt'")
    for split, split_rows in rows.items():
        write_bytes(top / f"{split}.csv", _csv_text(split_rows))
    write_junk(top / "train" / "01_happiness_anger", ["01_happiness_anger a_010.wav"])
    write_macosx(src, "resd/train/01_happiness_anger/01_happiness_anger a_010.wav")
    nested = copy_tree(top, top / "resd")  # entries are listed before the copy starts
    for split, name, folder, _, _ in UTTERANCES:
        if name != missing:
            fake.copies(_id(name), [nested / split / folder / f"{name}.wav"])
    for name, content in bad.items():
        fake.skip(nested / "train" / "12_fear_anger" / f"{name}.wav",
                  "empty" if not content else "cannot read")
    return fake


def _csv_text(rows: List[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["name", "path", "emotion"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
