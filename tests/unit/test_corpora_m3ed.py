"""M3ED preparation from a fake tree in the real layout (tests/fakes/m3ed.py):
annotation JSON, movie split lists, utterance clips with their traps."""

import logging

import pytest

from emotion2vec import cli
from emotion2vec.corpora import corpus_info, prepare_corpus
from emotion2vec.corpora.common import PrepError
from emotion2vec.corpora.manifest import marker_path, read_manifest
from emotion2vec.corpora.m3ed import EXTRA_COLUMNS, prepare_m3ed
from emotion2vec.downstream.folds import FoldError, make_folds
from tests.fakes.layout import assert_prepared, write_bytes
from tests.fakes.m3ed import make_fake_m3ed


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    return make_fake_m3ed(tmp_path_factory.mktemp("m3ed") / "download")


@pytest.fixture(scope="module")
def prepared(fake, tmp_path_factory):
    return prepare_corpus("m3ed", fake.src_dir, tmp_path_factory.mktemp("m3ed_out"))


def test_manifest_is_exactly_the_fake(fake, prepared):
    rows = assert_prepared(prepared, fake, EXTRA_COLUMNS)
    by_id = {r["ID"]: r for r in rows}
    # the same person is A in anjia_1 and B in anjia_2: one speaker ID
    assert by_id["anjia_1_1"]["speaker"] == by_id["anjia_2_2"]["speaker"] == "anjia_房似锦"
    assert by_id["dahuanxi_1_1"]["speaker"] == "dahuanxi_1_A"  # no name annotated
    assert by_id["huanlesong_1_2"]["wav"].endswith("/huanlesong_1_2.wav")
    assert {r["split"] for r in rows} == {"train", "valid", "test"}


def test_labels_and_both_protocols(prepared):
    info = corpus_info("m3ed")
    assert info.labels == ("happy", "neutral", "sad", "disgust", "anger", "fear", "surprise")
    assert list(info.protocols) == ["random_kfold", "predefined"]
    rows = read_manifest(prepared)
    folds = make_folds("random_kfold", rows, **info.fold_options("random_kfold"))
    assert len(folds) == 10
    (official,) = make_folds("predefined", rows, **info.fold_options("predefined"))
    split_of = {r["ID"]: r["split"] for r in rows}
    assert {split_of[i] for i in official.train_ids} == {"train"}
    assert {split_of[i] for i in official.valid_ids} == {"valid"}
    assert {split_of[i] for i in official.test_ids} == {"test"}
    movie_of = {r["ID"]: r["movie"] for r in rows}
    assert not {movie_of[i] for i in official.train_ids} & {movie_of[i] for i in official.test_ids}


def test_rerun_other_options_and_foreign_csv(fake, tmp_path, caplog):
    csv_path = prepare_m3ed(fake.src_dir, tmp_path / "out")
    stamp = csv_path.stat().st_mtime_ns
    with caplog.at_level(logging.INFO):
        prepare_m3ed(fake.src_dir, tmp_path / "out")
    assert "already prepared" in caplog.text and csv_path.stat().st_mtime_ns == stamp
    with pytest.raises(PrepError, match="different options"):
        prepare_m3ed(fake.src_dir, tmp_path / "out", decode_audio=True)
    foreign = write_bytes(tmp_path / "other" / "m3ed.csv", "ID\nx\n")
    with pytest.raises(PrepError, match="not written by"):
        prepare_m3ed(fake.src_dir, tmp_path / "other")
    assert foreign.read_text() == "ID\nx\n"
    assert not marker_path(foreign).exists()


def test_without_split_lists(tmp_path, caplog):
    fake = make_fake_m3ed(tmp_path / "src")
    for path in (tmp_path / "src").rglob("movie_list_*.txt"):
        path.unlink()
    with caplog.at_level(logging.WARNING):
        rows = read_manifest(prepare_m3ed(fake.src_dir, tmp_path / "out"))
    assert "split column is empty" in caplog.text
    assert len(rows) == len(fake.rows) and {r["split"] for r in rows} == {""}
    assert len(make_folds("random_kfold", rows, k=10)) == 10
    with pytest.raises(FoldError, match="no 'split' value"):
        make_folds("predefined", rows, column="split")


def test_counts_and_missing_annotation(fake, tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        prepare_m3ed(fake.src_dir, tmp_path / "auto")
    assert "expected" not in caplog.text and "partial copy" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        prepare_m3ed(fake.src_dir, tmp_path / "forced", compare_to_release=True)
    assert "11 utterances, expected 24437" in caplog.text
    (tmp_path / "empty").mkdir()
    with pytest.raises(PrepError, match="no annotation.json"):
        prepare_m3ed(tmp_path / "empty", tmp_path / "x")
    bad = write_bytes(tmp_path / "bad" / "annotation.json", "[1, 2]")
    with pytest.raises(PrepError, match="not a mapping"):
        prepare_m3ed(bad.parent, tmp_path / "y")


def test_cli_prepare(fake, tmp_path, capsys):
    assert cli.main(["prepare", "m3ed", str(fake.src_dir), str(tmp_path)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert len(read_manifest(tmp_path / "m3ed.csv")) == len(fake.rows)
