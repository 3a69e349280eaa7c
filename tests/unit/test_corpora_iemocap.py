"""Tests of the corpus registry, the shared prep helpers and IEMOCAP prep,
on the fake corpus of tests/fakes/iemocap.py (real layout, tiny audio)."""

import json
import logging
import shutil

import pytest

from emotion2vec.corpora import CORPORA, prepare_corpus, register_corpus
from emotion2vec.corpora.common import PrepError
from emotion2vec.corpora.manifest import MANIFEST_COLUMNS, marker_path, read_manifest, write_manifest
from emotion2vec.corpora.iemocap import (
    EXTRA_COLUMNS,
    IEMOCAP_LABEL_MAP,
    parse_emo_evaluation,
    prepare_iemocap,
)
from tests.fakes.iemocap import make_fake_iemocap


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """One fake corpus per module; tests that damage it use ``fake``."""
    return make_fake_iemocap(tmp_path_factory.mktemp("iemocap") / "download", seconds=0.2)


@pytest.fixture
def fake(tmp_path):
    return make_fake_iemocap(tmp_path / "download", seconds=0.2)


@pytest.fixture(scope="module")
def prepared(pristine, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    csv_path = prepare_corpus("iemocap", pristine.src_dir, out)
    return csv_path, read_manifest(csv_path)


def test_registry_knows_iemocap_and_rejects_unknown():
    assert CORPORA["iemocap"].prepare is prepare_iemocap
    with pytest.raises(ValueError, match="unknown corpus 'nope'.*iemocap"):
        prepare_corpus("nope", "src", "out")
    with pytest.raises(ValueError, match="already registered"):
        register_corpus("iemocap")(lambda src, out: None)


def test_manifest_content(prepared, pristine):
    csv_path, rows = prepared
    assert csv_path.name == "iemocap.csv"
    header = csv_path.read_text().splitlines()[0].split(",")
    assert header == list(MANIFEST_COLUMNS) + list(EXTRA_COLUMNS)
    assert [r["ID"] for r in rows] == sorted(pristine.kept)
    assert {r["ID"]: r["label"] for r in rows} == pristine.kept
    for row in rows:
        assert row["speaker"] == pristine.speaker(row["ID"])
        assert row["gender"] == row["speaker"][-1]
        assert row["session"] == row["ID"][4]
        assert row["emo_raw"] in IEMOCAP_LABEL_MAP
        assert row["dialog"] == row["ID"].rsplit("_", 1)[0]
        assert float(row["duration"]) == pytest.approx(0.2)
        assert float(row["end"]) > float(row["start"])
        assert row["wav"] == str(pristine.wav_path(row["ID"]).absolute())
    assert {r["label"] for r in rows} == {"ang", "hap", "neu", "sad"}
    assert {r["emo_raw"] for r in rows} >= {"exc", "hap"}
    assert len({r["speaker"] for r in rows}) == 10


def test_speaker_comes_from_utterance_not_dialog(prepared):
    _, rows = prepared
    by_id = {r["ID"]: r for r in rows}
    suffixed = [
        i for i in by_id if i.startswith(("Ses03M_impro05a_F", "Ses05M_script01_1b_F"))
    ]
    assert suffixed
    for utt in suffixed:
        assert by_id[utt]["speaker"] == utt[:5] + "F"


def test_crlf_and_latin1_label_files_are_read(prepared, pristine):
    _, rows = prepared
    assert sum(r["session"] == "2" for r in rows) == sum(
        pristine.expected_counts()[2].values()
    )


def test_marker_records_summary(prepared, pristine):
    csv_path, _ = prepared
    marker = json.loads(marker_path(csv_path).read_text())
    assert marker["maker"].endswith("prepare_iemocap")
    assert marker["summary"]["utterances"] == len(pristine.kept)
    assert marker["summary"]["per_session"]["1"] == pristine.expected_counts()[1]
    assert marker["summary"]["skipped"] == []
    assert marker["summary"]["annotated_codes"]["xxx"] > 0


def test_count_mismatch_is_a_warning(pristine, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        prepare_iemocap(pristine.src_dir, tmp_path)
    assert "60 utterances prepared, expected 5531" in caplog.text
    assert "session 1: 12 utterances, expected 1085" in caplog.text


def test_rerun_skips(pristine, tmp_path, caplog):
    csv_path = prepare_iemocap(pristine.src_dir, tmp_path)
    stamp = csv_path.stat().st_mtime_ns
    with caplog.at_level(logging.INFO):
        again = prepare_iemocap(pristine.root, tmp_path)  # release root given directly
    assert again == csv_path and csv_path.stat().st_mtime_ns == stamp
    assert "already prepared" in caplog.text


def test_other_options_refused(pristine, tmp_path):
    prepare_iemocap(pristine.src_dir, tmp_path)
    before = (tmp_path / "iemocap.csv").read_text()
    with pytest.raises(PrepError, match="different options.*sessions.*another output folder"):
        prepare_iemocap(pristine.src_dir, tmp_path, sessions=[1, 2])
    assert (tmp_path / "iemocap.csv").read_text() == before


def test_foreign_csv_not_overwritten(pristine, tmp_path):
    foreign = tmp_path / "iemocap.csv"
    foreign.write_text("ID,wav\nmine,/my/file.wav\n")
    with pytest.raises(PrepError, match="not written by.*refusing to overwrite"):
        prepare_iemocap(pristine.src_dir, tmp_path)
    assert foreign.read_text() == "ID,wav\nmine,/my/file.wav\n"
    assert not marker_path(foreign).exists()


def test_edited_csv_not_overwritten(pristine, tmp_path):
    csv_path = prepare_iemocap(pristine.src_dir, tmp_path)
    csv_path.write_text(csv_path.read_text() + "extra,row\n")
    with pytest.raises(PrepError, match="modified"):
        prepare_iemocap(pristine.src_dir, tmp_path)


def test_release_found_two_levels_deeper(pristine, tmp_path):
    nested = tmp_path / "src" / "kaggle" / "mirror"
    shutil.copytree(pristine.src_dir, nested)
    rows = read_manifest(prepare_iemocap(tmp_path / "src", tmp_path / "out"))
    assert len(rows) == len(pristine.kept)
    assert rows[0]["wav"].startswith(str(nested))


def test_no_release_found(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "IEMOCAP_full_release.tar.gz").write_bytes(b"x")
    with pytest.raises(PrepError, match="no corpus folder.*Session1.*extract"):
        prepare_iemocap(tmp_path / "src", tmp_path / "out")
    with pytest.raises(PrepError, match="does not exist"):
        prepare_iemocap(tmp_path / "missing", tmp_path / "out")


def test_missing_session_named(fake, tmp_path):
    shutil.rmtree(fake.root / "Session3")
    with pytest.raises(PrepError, match=r"Session3/ is missing") as info:
        prepare_iemocap(fake.src_dir, tmp_path / "out")
    assert str(fake.root) in str(info.value) and "sessions=" in str(info.value)
    assert not (tmp_path / "out" / "iemocap.csv").exists()
    rows = read_manifest(
        prepare_iemocap(fake.src_dir, tmp_path / "out", sessions=[1, 2, 4, 5])
    )
    assert {r["session"] for r in rows} == {"1", "2", "4", "5"}


def test_missing_label_and_audio_folders_named(fake, tmp_path):
    shutil.rmtree(fake.root / "Session2" / "dialog" / "EmoEvaluation")
    shutil.rmtree(fake.root / "Session4" / "sentences")
    with pytest.raises(PrepError) as info:
        prepare_iemocap(fake.src_dir, tmp_path)
    message = str(info.value)
    assert "Session2/dialog/EmoEvaluation/" in message
    assert "Session4/sentences/wav/" in message


def test_unreadable_and_missing_wavs_reported_and_skipped(fake, tmp_path, caplog):
    kept = sorted(fake.kept)
    broken, gone = fake.wav_path(kept[0]), fake.wav_path(kept[1])
    broken.write_bytes(b"definitely not a wav file" * 4)
    gone.unlink()
    with caplog.at_level(logging.WARNING):
        csv_path = prepare_iemocap(fake.src_dir, tmp_path)
    ids = {r["ID"] for r in read_manifest(csv_path)}
    assert ids == set(kept) - {kept[0], kept[1]}
    assert str(broken) in caplog.text and "cannot" in caplog.text
    assert str(gone) in caplog.text and "not found" in caplog.text
    skipped = json.loads(marker_path(csv_path).read_text())["summary"]["skipped"]
    assert sorted(path for path, _ in skipped) == sorted([str(broken), str(gone)])


def test_custom_label_map_and_decode(pristine, tmp_path):
    label_map = dict(IEMOCAP_LABEL_MAP, fru="fru")
    rows = read_manifest(
        prepare_iemocap(pristine.src_dir, tmp_path, label_map=label_map, decode_audio=True)
    )
    assert "fru" in {r["label"] for r in rows}
    assert len(rows) == len(pristine.kept) + sum(
        code == "fru" for code in pristine.labels.values()
    )


def test_bad_options(pristine, tmp_path):
    with pytest.raises(ValueError, match="sessions"):
        prepare_iemocap(pristine.src_dir, tmp_path, sessions=[6])
    with pytest.raises(ValueError, match="label_map"):
        prepare_iemocap(pristine.src_dir, tmp_path, label_map={})


def test_parse_emo_evaluation_ignores_annotator_lines(pristine):
    lines = parse_emo_evaluation(
        pristine.root / "Session2" / "dialog" / "EmoEvaluation" / "Ses02F_impro01.txt"
    )
    assert [line.utt_id for line in lines][:2] == [
        "Ses02F_impro01_F000",
        "Ses02F_impro01_M000",
    ]
    assert all(line.end > line.start for line in lines)


def test_write_manifest_rejects_duplicates_and_missing_columns(tmp_path):
    row = {"ID": "a", "wav": "/a.wav", "duration": 1.0, "label": "x"}
    row.update(speaker="s", gender="", session="")
    with pytest.raises(ValueError, match="duplicate"):
        write_manifest(tmp_path / "m.csv", [row, row], "demo", {})
    with pytest.raises(ValueError, match="misses column"):
        write_manifest(tmp_path / "m.csv", [{"ID": "a"}], "demo", {})
    assert not (tmp_path / "m.csv").exists()
