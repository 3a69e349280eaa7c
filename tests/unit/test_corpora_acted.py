"""Preparation of the acted corpora labelled by file name (SAVEE, EmoDB,
EMOVO, CaFE, RAVDESS song) from fake trees in their real layouts
(tests/fakes/<name>.py), and the shared helpers in corpora.common."""

import dataclasses
import json
import logging
import re

import pytest

from emotion2vec import cli
from emotion2vec.corpora import CORPORA, corpus_info, prepare_corpus
from emotion2vec.corpora import savee
from emotion2vec.corpora.common import (
    MANIFEST_COLUMNS,
    PrepError,
    SkipLog,
    find_named_files,
    marker_path,
    prepare_by_file_name,
    read_manifest,
    release_summary,
)
from emotion2vec.corpora.emodb import prepare_emodb
from emotion2vec.corpora.emovo import prepare_emovo
from emotion2vec.corpora.cafe import prepare_cafe
from emotion2vec.corpora.ravdess_song import prepare_ravdess_song
from emotion2vec.corpora.savee import prepare_savee
from emotion2vec.downstream.folds import make_folds
from tests.fakes.cafe import make_fake_cafe
from tests.fakes.emodb import make_fake_emodb
from tests.fakes.emovo import make_fake_emovo
from tests.fakes.ravdess_song import make_fake_ravdess_song
from tests.fakes.savee import make_fake_savee

FAKES = {
    "savee": make_fake_savee,
    "emodb": make_fake_emodb,
    "emovo": make_fake_emovo,
    "cafe": make_fake_cafe,
    "ravdess_song": make_fake_ravdess_song,
}
EXTRA_COLUMNS = {
    "savee": ["emo_raw", "sentence"],
    "emodb": ["emo_raw", "sentence", "version"],
    "emovo": ["emo_raw", "sentence"],
    "cafe": ["emo_raw", "intensity", "sentence", "emobox_fold"],
    "ravdess_song": ["emo_raw", "intensity", "statement", "repetition"],
}
LABELS = {
    "savee": ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"),
    "emodb": ("anger", "boredom", "disgust", "fear", "happiness", "sadness", "neutral"),
    "emovo": ("disgust", "joy", "neutral", "fear", "anger", "surprise", "sadness"),
    "cafe": ("anger", "disgust", "happiness", "neutral", "fear", "surprise", "sadness"),
    "ravdess_song": ("neutral", "calm", "happy", "sad", "angry", "fearful"),
}


@pytest.fixture(scope="module")
def fakes(tmp_path_factory):
    """One pristine fake tree per corpus (tests must not modify them)."""
    return {name: make(tmp_path_factory.mktemp(name) / "download") for name, make in FAKES.items()}


@pytest.fixture(scope="module")
def prepared(fakes, tmp_path_factory):
    """Each fake prepared once through the registry: name -> (csv, rows, log)."""
    results = {}
    for name, fake in fakes.items():
        out = tmp_path_factory.mktemp(f"{name}_out")
        csv_path = prepare_corpus(name, fake.src_dir, out)
        results[name] = (csv_path, read_manifest(csv_path))
    return results


@pytest.mark.parametrize("name", sorted(FAKES))
def test_rows_are_exactly_the_usable_utterances(name, fakes, prepared):
    fake = fakes[name]
    csv_path, rows = prepared[name]
    assert csv_path.name == f"{name}.csv"
    header = csv_path.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header == list(MANIFEST_COLUMNS) + EXTRA_COLUMNS[name]
    assert [row["ID"] for row in rows] == sorted(fake.rows)
    for row in rows:
        want = fake.rows[row["ID"]]
        got = {key: row[key] for key in want}
        assert got == want, row["ID"]
        assert row["session"] == ""
        assert float(row["duration"]) == pytest.approx(0.1, abs=1e-4)


@pytest.mark.parametrize("name", sorted(FAKES))
def test_skipped_files_are_reported_with_the_reason(name, fakes, prepared):
    csv_path, _ = prepared[name]
    skipped = json.loads(marker_path(csv_path).read_text())["summary"]["skipped"]
    assert sorted(path for path, _ in skipped) == sorted(fakes[name].skipped)
    for path, reason in skipped:
        assert fakes[name].skipped[path] in reason, (path, reason)
    assert not any("._" in path or "__MACOSX" in path for path, _ in skipped)


@pytest.mark.parametrize("name", sorted(FAKES))
def test_registration_labels_and_every_protocol_builds_folds(name, prepared):
    _, rows = prepared[name]
    info = corpus_info(name)
    assert CORPORA[name].prepare.__name__ == f"prepare_{name}"
    assert info.labels == LABELS[name]
    assert {row["label"] for row in rows} <= set(info.labels)
    assert info.default_protocol == "random_kfold"
    assert len(info.protocols) == 2
    for protocol, options in info.protocols.items():
        folds = make_folds(protocol, rows, **options)
        tested = sorted(i for fold in folds for i in fold.test_ids)
        assert tested == sorted(row["ID"] for row in rows), protocol
    paper = make_folds("random_kfold", rows, **info.fold_options("random_kfold"))
    assert len(paper) == info.fold_options("random_kfold")["k"]


@pytest.mark.parametrize("name", sorted(FAKES))
def test_rerun_reuses_and_foreign_csv_is_refused(name, fakes, tmp_path, caplog):
    fake = fakes[name]
    csv_path = prepare_corpus(name, fake.src_dir, tmp_path / "out")
    stamp = csv_path.stat().st_mtime_ns
    with caplog.at_level(logging.INFO):
        assert prepare_corpus(name, fake.src_dir, tmp_path / "out") == csv_path
    assert "already prepared" in caplog.text and csv_path.stat().st_mtime_ns == stamp
    with pytest.raises(PrepError, match="different options.*decode_audio"):
        prepare_corpus(name, fake.src_dir, tmp_path / "out", decode_audio=True)
    foreign = tmp_path / "foreign" / f"{name}.csv"
    foreign.parent.mkdir()
    foreign.write_text("ID,wav\nmine,/my.wav\n")
    with pytest.raises(PrepError, match="not written by.*refusing to overwrite"):
        prepare_corpus(name, fake.src_dir, foreign.parent)
    assert foreign.read_text() == "ID,wav\nmine,/my.wav\n"


@pytest.mark.parametrize("name", sorted(FAKES))
def test_partial_copy_does_not_claim_missing_files(name, prepared, fakes, tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        prepare_corpus(name, fakes[name].src_dir, tmp_path)
    assert "expected" not in caplog.text
    assert "partial copy" in caplog.text
    assert "duplicate trees" in caplog.text


@pytest.mark.parametrize("name", sorted(FAKES))
def test_cli_prepare(name, fakes, tmp_path, capsys):
    assert cli.main(["prepare", name, str(fakes[name].src_dir), str(tmp_path / "out")]) == 0
    assert f"wrote {tmp_path / 'out' / name}.csv" in capsys.readouterr().out
    assert cli.main(["prepare", name, str(tmp_path / "missing"), str(tmp_path / "out2")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(FAKES))
def test_no_corpus_files(name, tmp_path):
    (tmp_path / "src" / "docs").mkdir(parents=True)
    (tmp_path / "src" / "docs" / "readme.wav").write_bytes(b"RIFF")
    with pytest.raises(PrepError, match="no usable audio file named like"):
        prepare_corpus(name, tmp_path / "src", tmp_path / "out")
    assert not (tmp_path / "out" / f"{name}.csv").exists()


# ------------------------------------------------------------------ per corpus


def test_savee_kaggle_layout(tmp_path):
    fake = make_fake_savee(tmp_path / "kaggle", layout="kaggle")
    rows = read_manifest(prepare_savee(fake.src_dir, tmp_path / "out"))
    assert {row["ID"]: row["wav"] for row in rows} == {
        utt: fields["wav"] for utt, fields in fake.rows.items()
    }
    assert {row["speaker"] for row in rows} == {"DC", "JE", "JK", "KL"}
    assert len(rows) == 30  # 32 files, one broken and one empty


def test_savee_speakers_and_loso_folds(prepared):
    _, rows = prepared["savee"]
    folds = make_folds("loso_speaker", rows, **corpus_info("savee").fold_options("loso_speaker"))
    assert [fold.name for fold in folds] == [f"speaker_{s}" for s in ("DC", "JE", "JK", "KL")]


def test_emodb_decode_audio_and_speakers(fakes, tmp_path):
    rows = read_manifest(prepare_emodb(fakes["emodb"].src_dir, tmp_path, decode_audio=True))
    assert {row["speaker"]: row["gender"] for row in rows} == {"03": "M", "08": "F", "16": "F"}
    assert len(rows) == 20


def test_emovo_speakers_and_stereo(prepared):
    _, rows = prepared["emovo"]
    assert sorted({row["speaker"] for row in rows}) == ["f1", "f2", "f3", "m1", "m2", "m3"]
    assert prepare_emovo.__module__.endswith("emovo")


def test_cafe_labels_ignore_mojibake_folders_and_emobox_folds(prepared):
    _, rows = prepared["cafe"]
    by_id = {row["ID"]: row for row in rows}
    assert "ColŠre" in by_id["07-C-1-1"]["wav"] and by_id["07-C-1-1"]["label"] == "anger"
    assert "CaFE_192k" in by_id["01-D-2-1"]["wav"]
    options = corpus_info("cafe").fold_options("column_folds")
    folds = make_folds("column_folds", rows, **options)
    speakers = {row["ID"]: row["speaker"] for row in rows}
    assert [sorted({speakers[i] for i in fold.test_ids}) for fold in folds] == [
        ["01", "07"], ["02"], ["03"]
    ]
    assert prepare_cafe.__module__.endswith("cafe")


def test_ravdess_song_only_song_files(prepared):
    _, rows = prepared["ravdess_song"]
    assert all(row["ID"].startswith("03-02-") for row in rows)
    assert sorted({row["speaker"] for row in rows}) == ["Actor_01", "Actor_02", "Actor_23"]
    assert prepare_ravdess_song.__module__.endswith("ravdess_song")


def test_literal_prepare_calls_for_the_consistency_check(fakes, tmp_path):
    """Each corpus prepared by its registry name (the consistency test greps for these)."""
    calls = {
        "savee": lambda out: prepare_corpus("savee", fakes["savee"].src_dir, out),
        "emodb": lambda out: prepare_corpus("emodb", fakes["emodb"].src_dir, out),
        "emovo": lambda out: prepare_corpus("emovo", fakes["emovo"].src_dir, out),
        "cafe": lambda out: prepare_corpus("cafe", fakes["cafe"].src_dir, out),
        "ravdess_song": lambda out: prepare_corpus("ravdess_song", fakes["ravdess_song"].src_dir, out),
    }
    for name, call in calls.items():
        assert len(read_manifest(call(tmp_path / name))) == len(fakes[name].rows)


def test_complete_copy_is_compared_with_the_release(fakes, tmp_path, caplog):
    """A copy holding every file of the release (here: a release defined as
    the fake's 32 names) gets its counts compared; the broken and the empty
    file show up as differences."""
    release = {"anger": 4, "disgust": 4, "fear": 4, "happiness": 4, "neutral": 8,
               "sadness": 4, "surprise": 4}
    spec = dataclasses.replace(savee.SPEC, expected=release)
    with caplog.at_level(logging.INFO):
        prepare_by_file_name(spec, fakes["savee"].src_dir, tmp_path, "test.savee_complete")
    assert "SAVEE: 30 utterances, expected 32; differences: fear 3 (expected 4), " \
           "happiness 3 (expected 4)" in caplog.text
    assert "partial copy" not in caplog.text


# ------------------------------------------------------------------ shared helpers


def test_release_summary_compares_only_a_complete_copy(caplog):
    rows = [dict(label="hap", speaker="s1")] * 4 + [dict(label="sad", speaker="s2")] * 5
    with caplog.at_level(logging.INFO):
        summary = release_summary("Demo", rows, {"hap": 5, "sad": 5}, found=10)
    assert summary["compared_to_release"] and summary["per_speaker"]["s2"] == {"sad": 5}
    assert "9 utterances, expected 10; differences: hap 4 (expected 5)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert not release_summary("Demo", rows, {"hap": 50, "sad": 50}, 9)["compared_to_release"]
    assert "expected" not in caplog.text and "9 of the release's 100" in caplog.text


def test_find_named_files_prefers_non_empty_then_shallow_copies(tmp_path):
    for rel, data in (("a/b/x1.wav", b"good"), ("x1.wav", b""), ("c/x1.wav", b"good"),
                      (".hidden/x2.wav", b"good"), ("__MACOSX/x3.wav", b"good"),
                      ("d/._x4.wav", b"junk")):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    skips = SkipLog("demo")
    files = find_named_files(tmp_path, re.compile(r"^(x\d)\.wav$"), "demo", skips)
    assert [(f.key, f.path.relative_to(tmp_path).as_posix()) for f in files] == [("x1", "c/x1.wav")]
    assert [p.relative_to(tmp_path).as_posix() for p in files[0].copies] == ["a/b/x1.wav", "x1.wav"]
    assert len(skips) == 0
