"""CMU-MOSI / CMU-MOSEI preparation on fake trees in their real layouts.

Checked exactly: rows, labels, splits, scores, zero-score handling (listed,
no label), durations of the cut MOSEI segments (and their samples), junk
and duplicates ignored, bad files reported and skipped, re-runs reuse, and
nothing that the preparation did not write is overwritten. The ``.csd``
(HDF5) forms run only where ``h5py`` is installed (the optional extra
``emotion2vec[cmu]``).
"""

import dataclasses
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from emotion2vec.audio import read_audio
from emotion2vec.corpora import corpus_info, prepare_corpus
from emotion2vec.corpora.cmu import prepare_cmu
from emotion2vec.corpora.cmu_sources import read_folds, split_segment_id
from emotion2vec.corpora.common import PrepError
from emotion2vec.corpora.manifest import marker_path, read_manifest
from emotion2vec.corpora.mosei import MOSEI, prepare_mosei
from emotion2vec.corpora.mosi import MOSI, prepare_mosi
from tests.fakes.cmu import (
    MOSEI_OUTSIDE,
    MOSEI_VIDEOS,
    make_fake_mosei,
    make_fake_mosi,
    mosei_whole_video,
)

COLUMNS = ["ID", "wav", "duration", "label", "speaker", "gender", "session", "split", "score",
           "polarity", "video_id", "clip_id", "start", "end", "text"]
VALUES = ("label", "split", "score", "polarity", "video_id", "clip_id", "start", "end", "text")


def _check_rows(csv_path: Path, fake, extra=None):
    rows = read_manifest(csv_path)
    assert list(rows[0]) == COLUMNS
    expected = dict(fake.expected, **(extra or {}))
    assert [r["ID"] for r in rows] == sorted(expected)
    for row in rows:
        want = expected[row["ID"]]
        assert {k: row[k] for k in VALUES} == {k: want[k] for k in VALUES}, row["ID"]
        assert float(row["duration"]) == pytest.approx(want["duration"], abs=1e-5)
        assert row["speaker"] == want["video_id"] and row["gender"] == row["session"] == ""
        assert Path(row["wav"]).is_file() and not Path(row["wav"]).name.startswith(".")
    skipped = json.loads(marker_path(csv_path).read_text())["summary"]["skipped"]
    for uid, reason in fake.skipped.items():
        assert any(uid in what + why and reason in why for what, why in skipped), (uid, skipped)
    return rows


def test_registration():
    for name in ("mosi", "mosei"):
        info = corpus_info(name)
        assert info.labels == ("negative", "positive")
        assert info.default_protocol == "predefined" and info.value_column == "score"


def test_segment_ids_split_at_the_last_underscore():
    assert split_segment_id("I5y0__X72p0_12") == ("I5y0__X72p0", "12")
    assert split_segment_id("-3g5yACwYnA_0") == ("-3g5yACwYnA", "0")


def test_mosi_raw_segments_with_mmsa_labels(tmp_path):
    fake = make_fake_mosi(tmp_path / "download")
    csv_path = prepare_corpus("mosi", fake.src_dir, tmp_path / "out")
    rows = _check_rows(csv_path, fake)
    by_id = {r["ID"]: r for r in rows}
    assert by_id["atnd_PF-Lbs_3"]["label"] == "" and by_id["atnd_PF-Lbs_3"]["polarity"] == "neutral"
    assert "mirror" not in by_id["9J25DZhivz8_1"]["wav"]  # the duplicate copy is ignored
    summary = json.loads(marker_path(csv_path).read_text())["summary"]
    assert summary["per_split"]["train"] == {"negative": 3, "neutral": 1, "positive": 3}
    assert summary["whole_corpus"] is False and summary["expected_per_split"]["test"]["negative"] == 379
    # same options: reused; other options: refused, never overwritten
    before = csv_path.read_bytes()
    assert prepare_mosi(fake.src_dir, tmp_path / "out") == csv_path and csv_path.read_bytes() == before
    with pytest.raises(PrepError, match="different options"):
        prepare_mosi(fake.src_dir, tmp_path / "out", decode_audio=True)


def test_mosi_mmsa_clip_folders(tmp_path):
    fake = make_fake_mosi(tmp_path / "download", form="mmsa")
    rows = _check_rows(prepare_mosi(fake.src_dir, tmp_path / "out"), fake)
    assert all(Path(r["wav"]).parent.name == r["video_id"] for r in rows)


def test_counts_are_compared_only_for_the_whole_corpus(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    fake = make_fake_mosi(tmp_path / "download")
    whole = dataclasses.replace(MOSI, expected_videos=4, expected={
        "train": {"positive": 3, "negative": 3, "neutral": 1},
        "valid": {"positive": 1, "negative": 1, "neutral": 1},
        "test": {"positive": 1, "negative": 3},
    })
    csv_path = prepare_cmu(whole, fake.src_dir, tmp_path / "out")
    summary = json.loads(marker_path(csv_path).read_text())["summary"]
    assert summary["whole_corpus"] is True
    assert "test (polarity): 3 utterances, expected 4; differences: negative 2 (expected 3)" in caplog.text


def test_no_label_file_is_a_clear_error(tmp_path):
    fake = make_fake_mosi(tmp_path / "download", label_csv=False)
    with pytest.raises(PrepError, match="no label file .*label.csv .*CMU_MOSI_Opinion_Labels.csd"):
        prepare_mosi(fake.src_dir, tmp_path / "out")
    assert not (tmp_path / "out" / "mosi.csv").exists()


def test_csd_without_h5py_says_how_to_get_it(tmp_path, monkeypatch):
    h5py = pytest.importorskip("h5py")  # writing the fake .csd needs it
    del h5py
    fake = make_fake_mosi(tmp_path / "download", label_csv=False, csd=True)
    monkeypatch.setitem(sys.modules, "h5py", None)  # as if not installed
    with pytest.raises(PrepError, match=r"needs h5py: pip install 'emotion2vec\[cmu\]'"):
        prepare_mosi(fake.src_dir, tmp_path / "out")


def test_mosi_sdk_labels_and_folds(tmp_path):
    pytest.importorskip("h5py")
    fake = make_fake_mosi(tmp_path / "download", label_csv=False, csd=True)
    csv_path = prepare_mosi(fake.src_dir, tmp_path / "out")
    _check_rows(csv_path, fake)  # clips numbered by interval order, not file order
    with pytest.raises(PrepError, match="no split and no fold lists"):
        prepare_mosi(make_fake_mosi(tmp_path / "b", label_csv=False, csd=True, folds=False).src_dir,
                     tmp_path / "out_b")
    moved = tmp_path / "folds.py"  # the fold lists given explicitly
    fake_c = make_fake_mosi(tmp_path / "c", label_csv=False, csd=True, folds=False)
    moved.write_text(fake.folds_file.read_text())
    _check_rows(prepare_mosi(fake_c.src_dir, tmp_path / "out_c", folds_file=moved), fake_c)


def test_fold_lists_are_parsed_never_run(tmp_path):
    path = tmp_path / "cmu_mosi_std_folds.py"
    path.write_text("import os\nos.system('touch PWNED')\nstandard_train_fold = ['a']\n"
                    "standard_valid_fold = ['b']\nstandard_test_fold = ['a']\n")
    with pytest.raises(PrepError, match="video a is in the train and test folds"):
        read_folds(path)
    path.write_text("standard_train_fold = [x for x in 'ab']\n")
    with pytest.raises(PrepError, match="unreadable fold lists"):
        read_folds(path)
    assert not (tmp_path / "PWNED").exists() and not Path("PWNED").exists()


def _segment_files(out: Path):
    return sorted(p for p in (out / "mosei_segments").rglob("*") if p.is_file())


def test_mosei_segments_cut_from_whole_videos(tmp_path):
    fake = make_fake_mosei(tmp_path / "download")
    out = tmp_path / "out"
    csv_path = prepare_corpus("mosei", fake.src_dir, out)
    rows = _check_rows(csv_path, fake)
    for row in rows:  # each segment holds exactly the samples of its time span
        video, (start, end) = row["video_id"], (float(row["start"]), float(row["end"]))
        whole = read_audio(fake.src_dir / "CMU_MOSEI" / "Raw" / "Audio" / "Full" / "WAV_16000"
                           / f"{video}.wav").numpy()
        piece = read_audio(row["wav"]).numpy()
        first = int(round(start * 16000))
        np.testing.assert_array_equal(piece, whole[first:min(int(round(end * 16000)), whole.size)])
        assert Path(row["wav"]).parent == out / "mosei_segments" / video
    assert mosei_whole_video("zk2jTlAtvSU").size == 35200  # 2.2 s; clip 3 cut at its end
    clamped = {r["ID"]: r for r in rows}["zk2jTlAtvSU_3"]
    assert clamped["end"] == "2.400" and float(clamped["duration"]) == pytest.approx(0.4)
    assert MOSEI_OUTSIDE not in {r["ID"] for r in rows}
    assert not [p for p in _segment_files(out) if p.name.startswith(".") and p.suffix == ".wav"]


def test_mosei_rerun_reuses_segments_and_refuses_foreign_folders(tmp_path, caplog):
    fake = make_fake_mosei(tmp_path / "download")
    out = tmp_path / "out"
    caplog.set_level(logging.INFO)
    csv_path = prepare_mosei(fake.src_dir, out)
    stamps = {p: p.stat().st_mtime_ns for p in _segment_files(out)}
    csv_path.unlink()  # as if interrupted after cutting, before the manifest
    marker_path(csv_path).unlink()
    caplog.clear()
    prepare_mosei(fake.src_dir, out)
    assert "0 segments cut from whole-video audio, 13 reused" in caplog.text
    assert {p: p.stat().st_mtime_ns for p in _segment_files(out)} == stamps
    _check_rows(csv_path, fake)
    foreign = tmp_path / "foreign"
    (foreign / "mosei_segments" / "x").mkdir(parents=True)
    (foreign / "mosei_segments" / "x" / "mine.wav").write_bytes(b"not yours")
    with pytest.raises(PrepError, match="was not written by this preparation"):
        prepare_mosei(fake.src_dir, foreign)
    assert (foreign / "mosei_segments" / "x" / "mine.wav").read_bytes() == b"not yours"
    other = make_fake_mosei(tmp_path / "other_download")
    csv_path.unlink()
    marker_path(csv_path).unlink()
    with pytest.raises(PrepError, match="holds segments cut from"):
        prepare_mosei(other.src_dir, out)


def test_mosei_interrupted_cut_leaves_no_half_file(tmp_path, monkeypatch):
    import emotion2vec.corpora.cmu as cmu

    fake = make_fake_mosei(tmp_path / "download")
    out = tmp_path / "out"
    real, calls = cmu.write_audio, []

    def dies_on_the_fifth(path, wav, sr):
        calls.append(path)
        if len(calls) == 5:
            Path(path).write_bytes(b"RIFF half")  # half written, then the power goes
            raise KeyboardInterrupt
        real(path, wav, sr=sr)

    monkeypatch.setattr(cmu, "write_audio", dies_on_the_fifth)
    with pytest.raises(KeyboardInterrupt):
        prepare_mosei(fake.src_dir, out)
    files = _segment_files(out)
    assert len([p for p in files if p.suffix == ".wav"]) == 4  # complete ones only
    assert not [p for p in files if p.name.startswith(".") and p.name != ".gitkeep"]
    assert not (out / "mosei.csv").exists()
    monkeypatch.setattr(cmu, "write_audio", real)
    _check_rows(prepare_mosei(fake.src_dir, out), fake)


def test_mosei_unlabelled_segments_for_pretraining(tmp_path):
    fake = make_fake_mosei(tmp_path / "download")
    rows = _check_rows(prepare_mosei(fake.src_dir, tmp_path / "out", include_unlabelled=True),
                       fake, fake.unlabelled)
    row = {r["ID"]: r for r in rows}[MOSEI_OUTSIDE]
    assert row["score"] == row["label"] == row["polarity"] == "" and row["split"] == "train"


def test_mosei_sdk_labels_matched_by_time(tmp_path):
    pytest.importorskip("h5py")
    fake = make_fake_mosei(tmp_path / "download", label_csv=False, csd=True)
    _check_rows(prepare_mosei(fake.src_dir, tmp_path / "out"), fake)
    assert set(MOSEI_VIDEOS) == {r["video_id"] for r in fake.expected.values()}
