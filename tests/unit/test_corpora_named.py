"""Preparation of the corpora labelled by their file names (SAVEE, EmoDB,
EMOVO, CaFE, RAVDESS song, SUBESCO, ShEMO, URDU, AESDD), all through
``emotion2vec.corpora.named.prepare_by_file_name``.

Each corpus is prepared from a fake tree in its real layout
(tests/fakes/<name>.py) with the traps real downloads have: AppleDouble and
``__MACOSX`` junk, duplicate trees, broken, zero-byte and misnamed files."""

import dataclasses
import json
import logging

import pytest

from emotion2vec import cli
from emotion2vec.corpora import (
    CORPORA,
    aesdd,
    cafe,
    corpus_info,
    emodb,
    emovo,
    prepare_corpus,
    ravdess_song,
    savee,
    shemo,
    subesco,
    urdu,
)
from emotion2vec.corpora.common import PrepError
from emotion2vec.corpora.manifest import count_by, marker_path, read_manifest
from emotion2vec.corpora.named import prepare_by_file_name
from emotion2vec.downstream.folds import make_folds
from tests.fakes.aesdd import make_fake_aesdd
from tests.fakes.cafe import make_fake_cafe
from tests.fakes.emodb import make_fake_emodb
from tests.fakes.emovo import make_fake_emovo
from tests.fakes.layout import assert_prepared
from tests.fakes.ravdess_song import make_fake_ravdess_song
from tests.fakes.savee import make_fake_savee
from tests.fakes.shemo import make_fake_shemo
from tests.fakes.subesco import make_fake_subesco
from tests.fakes.urdu import make_fake_urdu

FAKES = {  # registry name -> (fake writer, corpus module)
    "savee": (make_fake_savee, savee),
    "emodb": (make_fake_emodb, emodb),
    "emovo": (make_fake_emovo, emovo),
    "cafe": (make_fake_cafe, cafe),
    "ravdess_song": (make_fake_ravdess_song, ravdess_song),
    "subesco": (make_fake_subesco, subesco),
    "shemo": (make_fake_shemo, shemo),
    "urdu": (make_fake_urdu, urdu),
    "aesdd": (make_fake_aesdd, aesdd),
}
LABELS = {  # the head order each corpus registers
    "savee": ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"),
    "emodb": ("anger", "boredom", "disgust", "fear", "happiness", "sadness", "neutral"),
    "emovo": ("disgust", "joy", "neutral", "fear", "anger", "surprise", "sadness"),
    "cafe": ("anger", "disgust", "happiness", "neutral", "fear", "surprise", "sadness"),
    "ravdess_song": ("neutral", "calm", "happy", "sad", "angry", "fearful"),
    "subesco": ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"),
    "shemo": ("anger", "fear", "happiness", "neutral", "sadness", "surprise"),
    "urdu": ("angry", "happy", "neutral", "sad"),
    "aesdd": ("anger", "disgust", "fear", "happiness", "sadness"),
}


@pytest.fixture(scope="module")
def fakes(tmp_path_factory):
    """One pristine fake per corpus (tests must not modify them)."""
    return {
        name: make(tmp_path_factory.mktemp(name) / "download")
        for name, (make, _) in FAKES.items()
    }


@pytest.fixture(scope="module")
def prepared(fakes, tmp_path_factory):
    """Each corpus prepared once through the registry: name -> CSV."""
    return {
        name: prepare_corpus(name, fakes[name].src_dir, tmp_path_factory.mktemp(f"{name}_out"))
        for name in FAKES
    }


@pytest.mark.parametrize("name", sorted(FAKES))
def test_manifest_is_exactly_the_fake(name, fakes, prepared):
    """Rows, columns, durations, skipped files (with reasons) and duplicates."""
    module = FAKES[name][1]
    assert prepared[name].name == f"{name}.csv"
    rows = assert_prepared(prepared[name], fakes[name], module.EXTRA_COLUMNS)
    assert {row["label"] for row in rows} <= set(corpus_info(name).labels)


@pytest.mark.parametrize("name", sorted(FAKES))
def test_registration_and_every_protocol_builds_folds(name, prepared):
    info = corpus_info(name)
    assert CORPORA[name].prepare.__name__ == f"prepare_{name}"
    assert CORPORA[name].prepare.__module__ == f"emotion2vec.corpora.{name}"
    assert info.labels == LABELS[name]
    assert info.default_protocol == "random_kfold"
    rows = read_manifest(prepared[name])
    for protocol in info.protocols:
        folds = make_folds(protocol, rows, **info.fold_options(protocol))
        tested = sorted(i for fold in folds for i in fold.test_ids)
        assert tested == sorted(row["ID"] for row in rows), protocol
    paper = make_folds("random_kfold", rows, **info.fold_options("random_kfold"))
    assert len(paper) == info.fold_options("random_kfold")["k"]


@pytest.mark.parametrize("name", sorted(FAKES))
def test_rerun_reuses_and_other_options_or_foreign_csv_refused(name, fakes, tmp_path, caplog):
    fake = fakes[name]
    csv_path = prepare_corpus(name, fake.src_dir, tmp_path / "out")
    stamp = csv_path.stat().st_mtime_ns
    with caplog.at_level(logging.INFO):
        assert prepare_corpus(name, fake.src_dir, tmp_path / "out") == csv_path
    assert "already prepared" in caplog.text and csv_path.stat().st_mtime_ns == stamp
    with pytest.raises(PrepError, match="different options.*decode_audio"):
        prepare_corpus(name, fake.src_dir, tmp_path / "out", decode_audio=True)
    assert csv_path.stat().st_mtime_ns == stamp
    foreign = tmp_path / "foreign" / f"{name}.csv"
    foreign.parent.mkdir()
    foreign.write_text("ID,wav\nmine,/my.wav\n")
    with pytest.raises(PrepError, match="not written by.*refusing to overwrite"):
        prepare_corpus(name, fake.src_dir, foreign.parent)
    assert foreign.read_text() == "ID,wav\nmine,/my.wav\n"
    assert not marker_path(foreign).exists()


@pytest.mark.parametrize("name", sorted(FAKES))
def test_partial_copy_is_compared_only_when_asked(name, fakes, tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        prepare_corpus(name, fakes[name].src_dir, tmp_path / "auto")
    assert "expected" not in caplog.text and "partial copy" in caplog.text
    assert "duplicate trees" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        prepare_corpus(name, fakes[name].src_dir, tmp_path / "forced", compare_to_release=True)
    total = sum(FAKES[name][1].EXPECTED_COUNTS.values())
    assert f"expected {total}" in caplog.text


@pytest.mark.parametrize("name", sorted(FAKES))
def test_no_corpus_files(name, tmp_path):
    (tmp_path / "src" / "docs").mkdir(parents=True)
    (tmp_path / "src" / "docs" / "readme.wav").write_bytes(b"RIFF")
    with pytest.raises(PrepError, match="no file named like"):
        prepare_corpus(name, tmp_path / "src", tmp_path / "out")
    with pytest.raises(PrepError, match="does not exist"):
        prepare_corpus(name, tmp_path / "missing", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_only_unusable_files(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "F03S02.wav").write_bytes(b"")
    with pytest.raises(PrepError, match=r"no usable audio file named like F03S02.wav .*1 skipped"):
        prepare_corpus("shemo", tmp_path / "src", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_complete_copy_is_compared_automatically(fakes, tmp_path, caplog):
    """A copy holding (nearly) the whole release gets its counts compared:
    here a release defined as the fake's names, whose broken and empty
    files show up as differences."""
    release = {"anger": 4, "disgust": 4, "fear": 4, "happiness": 4, "neutral": 8,
               "sadness": 4, "surprise": 4}
    spec = dataclasses.replace(savee.SPEC, expected=release)
    with caplog.at_level(logging.INFO):
        prepare_by_file_name(spec, fakes["savee"].src_dir, tmp_path / "a", "test.savee_complete")
    assert "SAVEE: 30 utterances, expected 32; differences: fear 3 (expected 4), " \
           "happiness 3 (expected 4)" in caplog.text
    assert "partial copy" not in caplog.text
    caplog.clear()
    spec = dataclasses.replace(urdu.SPEC, expected=count_by(fakes["urdu"].rows.values(), "label"))
    with caplog.at_level(logging.INFO):
        prepare_by_file_name(spec, fakes["urdu"].src_dir, tmp_path / "b", "test.urdu_complete")
    assert "10 utterances as expected" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO):
        prepare_by_file_name(spec, fakes["urdu"].src_dir, tmp_path / "c", "test.urdu_complete",
                             compare_to_release=False)
    assert "as expected" not in caplog.text and "partial copy" not in caplog.text


def test_decode_audio_gives_the_same_rows(fakes, prepared, tmp_path):
    for name in ("shemo", "emodb"):
        decoded = prepare_corpus(name, fakes[name].src_dir, tmp_path / name, decode_audio=True)
        assert read_manifest(decoded) == read_manifest(prepared[name])


def test_cli_prepare(fakes, tmp_path, capsys):
    for name in ("aesdd", "savee"):
        assert cli.main(["prepare", name, str(fakes[name].src_dir), str(tmp_path / name)]) == 0
        assert f"wrote {tmp_path / name / name}.csv" in capsys.readouterr().out
        assert len(read_manifest(tmp_path / name / f"{name}.csv")) == len(fakes[name].rows)
    assert cli.main(["prepare", "savee", str(tmp_path / "missing"), str(tmp_path / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_prepare_options(fakes, tmp_path, capsys):
    """``--option KEY=VALUE`` (YAML values) reaches the corpus's preparation."""
    src, out = str(fakes["shemo"].src_dir), str(tmp_path / "out")
    argv = ["prepare", "shemo", src, out, "--option", "decode_audio=true",
            "-o", "compare_to_release=false"]
    assert cli.main(argv) == 0
    marker = json.loads(marker_path(tmp_path / "out" / "shemo.csv").read_text())
    assert marker["options"]["decode_audio"] is True
    assert cli.main(argv) == 0 and "wrote" in capsys.readouterr().out  # reused
    assert cli.main(["prepare", "shemo", src, out]) == 2  # decode_audio: true -> false
    assert "different options (decode_audio: True -> False)" in capsys.readouterr().err
    assert cli.main(["prepare", "shemo", src, out, "-o", "decode=yes"]) == 2
    err = capsys.readouterr().err
    assert "corpus 'shemo' has no option 'decode'; its options: decode_audio (False), " \
           "compare_to_release (None)" in err
    for bad, message in (("decode_audio", "expects KEY=VALUE"), ("x y=1", "not an option name"),
                         ("form=[csv", "not a YAML value")):
        assert cli.main(["prepare", "resd", src, out, "--option", bad]) == 2
        assert message in capsys.readouterr().err
    argv = ["prepare", "ravdess_song", str(fakes["ravdess_song"].src_dir), str(tmp_path / "r"),
            "-o", "decode_audio=1", "-o", "decode_audio=0"]
    assert cli.main(argv) == 2 and "given twice" in capsys.readouterr().err


def test_literal_prepare_calls_for_the_consistency_check(fakes, tmp_path):
    """Each corpus prepared by its registry name (the consistency test greps for these)."""
    calls = {
        "savee": lambda out: prepare_corpus("savee", fakes["savee"].src_dir, out),
        "emodb": lambda out: prepare_corpus("emodb", fakes["emodb"].src_dir, out),
        "emovo": lambda out: prepare_corpus("emovo", fakes["emovo"].src_dir, out),
        "cafe": lambda out: prepare_corpus("cafe", fakes["cafe"].src_dir, out),
        "ravdess_song": lambda out: prepare_corpus("ravdess_song", fakes["ravdess_song"].src_dir, out),
        "subesco": lambda out: prepare_corpus("subesco", fakes["subesco"].src_dir, out),
        "shemo": lambda out: prepare_corpus("shemo", fakes["shemo"].src_dir, out),
        "urdu": lambda out: prepare_corpus("urdu", fakes["urdu"].src_dir, out),
        "aesdd": lambda out: prepare_corpus("aesdd", fakes["aesdd"].src_dir, out),
    }
    assert set(calls) == set(FAKES)
    for name, call in calls.items():
        assert len(read_manifest(call(tmp_path / name))) == len(fakes[name].rows)


# ------------------------------------------------------------------ per corpus


def test_savee_kaggle_layout(tmp_path):
    fake = make_fake_savee(tmp_path / "kaggle", layout="kaggle")
    csv_path = savee.prepare_savee(fake.src_dir, tmp_path / "out")
    rows = assert_prepared(csv_path, fake, savee.EXTRA_COLUMNS)
    assert {row["speaker"] for row in rows} == {"DC", "JE", "JK", "KL"}
    assert len(rows) == 30  # 32 files, one broken and one empty


def test_savee_loso_folds(prepared):
    rows = read_manifest(prepared["savee"])
    folds = make_folds("loso_speaker", rows, **corpus_info("savee").fold_options("loso_speaker"))
    assert [fold.name for fold in folds] == [f"speaker_{s}" for s in ("DC", "JE", "JK", "KL")]


def test_emodb_speakers(prepared):
    rows = read_manifest(prepared["emodb"])
    assert {row["speaker"]: row["gender"] for row in rows} == {"03": "M", "08": "F", "16": "F"}
    assert len(rows) == 20


def test_emovo_speakers(prepared):
    rows = read_manifest(prepared["emovo"])
    assert sorted({row["speaker"] for row in rows}) == ["f1", "f2", "f3", "m1", "m2", "m3"]


def test_cafe_labels_ignore_mojibake_folders_and_emobox_folds(prepared):
    rows = read_manifest(prepared["cafe"])
    by_id = {row["ID"]: row for row in rows}
    assert "ColŠre" in by_id["07-C-1-1"]["wav"] and by_id["07-C-1-1"]["label"] == "anger"
    assert "CaFE_192k" in by_id["01-D-2-1"]["wav"]
    options = corpus_info("cafe").fold_options("fixed_folds")
    assert options["groups"] == [list(group) for group in cafe.EMOBOX_SPEAKER_GROUPS]
    folds = make_folds("fixed_folds", rows, **options)
    speakers = {row["ID"]: row["speaker"] for row in rows}
    assert [sorted({speakers[i] for i in fold.test_ids}) for fold in folds] == [
        ["01", "07"], ["02"], ["03"]
    ]


def test_ravdess_song_only_song_files(prepared):
    rows = read_manifest(prepared["ravdess_song"])
    assert all(row["ID"].startswith("03-02-") for row in rows)
    assert sorted({row["speaker"] for row in rows}) == ["Actor_01", "Actor_02", "Actor_23"]


def test_subesco_misnamed_file_and_emobox_groups(prepared):
    rows = {row["ID"]: row for row in read_manifest(prepared["subesco"])}
    assert rows["F_02_MONIKA_S_2_SURPRISE_3"]["wav"].endswith("SURPRISE_3].wav")
    assert len({row["speaker"] for row in rows.values()}) == 20
    options = corpus_info("subesco").fold_options("fixed_folds")
    folds = make_folds("fixed_folds", list(rows.values()), **options)
    assert [fold.name for fold in folds] == ["fold01", "fold02", "fold03", "fold04", "fold05"]
    for fold, group in zip(folds, subesco.EMOBOX_SPEAKER_GROUPS):
        assert {rows[i]["speaker"] for i in fold.test_ids} == set(group)


def test_shemo_reports_listed_files_without_audio(prepared):
    skipped = json.loads(marker_path(prepared["shemo"]).read_text())["summary"]["skipped"]
    listed = {path.rsplit(" ", 1)[-1]: reason for path, reason in skipped if "shemo.json" in path}
    assert listed == {
        "(F01N09)": "listed in shemo.json but no audio file found",
        "(F02W04)": "listed in shemo.json but no audio file found",
    }


def test_urdu_label_from_name_and_readable_copy_used(prepared):
    rows = {r["ID"]: r for r in read_manifest(prepared["urdu"])}
    assert "/Sad/" in rows["SM3_F2_H05"]["wav"] and rows["SM3_F2_H05"]["label"] == "happy"
    assert "/copy/" in rows["SF2_F4_H010"]["wav"]
    assert len({r["speaker"] for r in rows.values()}) == 7


def test_aesdd_ids_and_speakers(prepared):
    rows = read_manifest(prepared["aesdd"])
    assert all(" " not in r["ID"] and "(" not in r["ID"] for r in rows)
    assert sorted({r["speaker"] for r in rows}) == ["1", "2", "3", "4", "5", "6"]
    assert corpus_info("aesdd").fold_options("loso_speaker")["valid"] == "next_speaker"
