"""RESD preparation from both published forms (tests/fakes/resd.py): the
Hugging Face parquet files (real small parquet files with WAV/FLAC bytes,
written with pyarrow) and the older CSV + WAV folders."""

import logging
import sys

import pytest
import soundfile

from emotion2vec import cli
from emotion2vec.corpora import corpus_info, prepare_corpus
from emotion2vec.corpora.common import PrepError
from emotion2vec.corpora.manifest import marker_path, read_manifest
from emotion2vec.corpora.resd import EXTRA_COLUMNS, PARQUET_PATTERN, prepare_resd
from emotion2vec.downstream.folds import make_folds
from tests.fakes.layout import assert_prepared, write_bytes
from tests.fakes.resd import (
    FLAC_ROW,
    PARQUET_NAMES,
    UTTERANCES,
    make_fake_resd_csv,
    make_fake_resd_parquet,
    parquet_wav,
)


@pytest.fixture(scope="module")
def parquet_case(tmp_path_factory):
    pytest.importorskip("pyarrow")
    root = tmp_path_factory.mktemp("resd_parquet")
    fake = make_fake_resd_parquet(root / "download", root / "out")
    return fake, prepare_corpus("resd", fake.src_dir, root / "out")


@pytest.fixture(scope="module")
def csv_case(tmp_path_factory):
    root = tmp_path_factory.mktemp("resd_csv")
    fake = make_fake_resd_csv(root / "download")
    return fake, prepare_corpus("resd", fake.src_dir, root / "out")


def test_parquet_form_rows_and_extracted_audio(parquet_case):
    fake, csv_path = parquet_case
    rows = assert_prepared(csv_path, fake, EXTRA_COLUMNS)
    assert {r["split"] for r in rows} == {"train", "test"}
    assert all(r["speaker"] == "" for r in rows)
    out = csv_path.parent
    for split, name, _, _, rate in UTTERANCES:
        wav = parquet_wav(out, split, name)
        assert wav.read_bytes()[:4] == b"RIFF"
        assert soundfile.info(str(wav)).samplerate == rate
    flac = parquet_wav(out, "train", FLAC_ROW)
    assert soundfile.info(str(flac)).subtype == "PCM_16"
    leftovers = [p.name for p in (out / "resd_wav").rglob("*") if p.name.startswith(".")]
    assert leftovers == []  # staged writes leave nothing behind


def test_parquet_rerun_reuses_csv_and_audio(parquet_case, tmp_path, caplog):
    fake, _ = parquet_case
    out = tmp_path / "out"
    csv_path = prepare_resd(fake.src_dir, out)
    stamps = {p: p.stat().st_mtime_ns for p in (out / "resd_wav").rglob("*.wav")}
    with caplog.at_level(logging.INFO):
        assert prepare_resd(fake.src_dir, out) == csv_path
    assert "already prepared" in caplog.text
    before = csv_path.read_text()
    csv_path.unlink()
    marker_path(csv_path).unlink()
    prepare_resd(fake.src_dir, out)  # the WAVs already there are reused
    assert csv_path.read_text() == before
    assert {p: p.stat().st_mtime_ns for p in (out / "resd_wav").rglob("*.wav")} == stamps


def test_parquet_never_overwrites_other_audio(parquet_case, tmp_path):
    fake, _ = parquet_case
    split, name = UTTERANCES[0][0], UTTERANCES[0][1]
    mine = write_bytes(parquet_wav(tmp_path, split, name), b"my own file")
    with pytest.raises(PrepError, match="exists with other content.*refusing"):
        prepare_resd(fake.src_dir, tmp_path)
    assert mine.read_bytes() == b"my own file"
    assert not (tmp_path / "resd.csv").exists()


def test_pyarrow_missing_names_the_extra(parquet_case, tmp_path, monkeypatch):
    fake, _ = parquet_case
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(PrepError, match=r"pip install 'emotion2vec\[resd\]'"):
        prepare_resd(fake.src_dir, tmp_path)
    assert not (tmp_path / "resd.csv").exists()


def test_damaged_parquet_file_is_reported(tmp_path):
    pytest.importorskip("pyarrow")
    fake = make_fake_resd_parquet(tmp_path / "src", tmp_path / "out")
    test_file = tmp_path / "src" / "resd" / "data" / PARQUET_NAMES["test"]
    test_file.write_bytes(b"PAR1 definitely not parquet PAR1")
    for path in (tmp_path / "src" / "mirror").rglob(PARQUET_NAMES["test"]):
        path.unlink()
    rows = read_manifest(prepare_resd(fake.src_dir, tmp_path / "out"))
    assert {r["split"] for r in rows} == {"train"}
    summary = (marker_path(tmp_path / "out" / "resd.csv")).read_text()
    assert str(test_file) in summary and "cannot read the parquet file" in summary


def test_csv_form_rows(csv_case):
    fake, csv_path = csv_case
    rows = assert_prepared(csv_path, fake, EXTRA_COLUMNS)
    by_id = {r["ID"]: r for r in rows}
    assert "/happiness_enthusiasm_32/" in by_id["32_happiness_enthusiasm_e_120"]["wav"]
    assert all("/resd/resd/" not in r["wav"] for r in rows)


def test_form_choice(parquet_case, csv_case, tmp_path, caplog):
    pytest.importorskip("pyarrow")
    fake_csv, _ = csv_case
    fake_parquet, _ = parquet_case
    both = tmp_path / "both"
    (both / "a").mkdir(parents=True)
    for path in fake_parquet.src_dir.rglob("*.parquet"):
        if PARQUET_PATTERN.match(path.name) and "mirror" not in str(path):
            write_bytes(both / "a" / "data" / path.name, path.read_bytes())
    for name in ("train.csv", "test.csv"):
        write_bytes(both / "a" / name, (fake_csv.src_dir / "resd" / name).read_text())
    with caplog.at_level(logging.INFO):
        rows = read_manifest(prepare_resd(both, tmp_path / "auto"))
    assert "using the parquet files" in caplog.text and len(rows) == len(fake_parquet.rows)
    # the CSV form's rows have no audio in this folder: all reported, none usable
    with pytest.raises(PrepError, match="no usable utterance"):
        prepare_resd(both, tmp_path / "csv", form="csv")
    with pytest.raises(PrepError, match="form must be one of"):
        prepare_resd(both, tmp_path / "x", form="zip")


def test_cli_form_option(parquet_case, csv_case, tmp_path, capsys):
    """``emotion2vec prepare resd SRC OUT --option form=csv`` picks the CSV form."""
    fake_csv, _ = csv_case
    fake_parquet, _ = parquet_case
    both = tmp_path / "both"
    write_bytes(both / "a" / "data" / PARQUET_NAMES["train"],
                next(fake_parquet.src_dir.rglob(PARQUET_NAMES["train"])).read_bytes())
    for path in (fake_csv.src_dir / "resd").rglob("*"):
        if path.is_file() and "/resd/resd/" not in str(path):
            write_bytes(both / path.relative_to(fake_csv.src_dir), path.read_bytes())
    assert cli.main(["prepare", "resd", str(both), str(tmp_path / "csv"), "-o", "form=csv"]) == 0
    assert "wrote" in capsys.readouterr().out
    rows = read_manifest(tmp_path / "csv" / "resd.csv")
    assert len(rows) == len(fake_csv.rows) and not (tmp_path / "csv" / "resd_wav").exists()
    marker = (tmp_path / "csv" / "resd.csv.prep.json").read_text()
    assert '"form": "csv"' in marker


def test_official_split_protocol(csv_case):
    _, csv_path = csv_case
    info = corpus_info("resd")
    assert info.labels == (
        "anger", "disgust", "enthusiasm", "fear", "happiness", "neutral", "sadness"
    )
    assert info.default_protocol == "predefined"
    rows = read_manifest(csv_path)
    (fold,) = make_folds("predefined", rows, **info.fold_options("predefined"))
    train = sorted(r["ID"] for r in rows if r["split"] == "train")
    test = sorted(r["ID"] for r in rows if r["split"] == "test")
    assert list(fold.test_ids) == test
    assert sorted(fold.train_ids + fold.valid_ids) == train
    assert len(fold.valid_ids) == len(train) - int(0.9 * len(train))


def test_counts_compared_only_when_asked_for_a_partial_copy(csv_case, tmp_path, caplog):
    fake, _ = csv_case
    with caplog.at_level(logging.INFO):
        prepare_resd(fake.src_dir, tmp_path / "auto")
    assert "expected" not in caplog.text and "partial copy" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        prepare_resd(fake.src_dir, tmp_path / "forced", compare_to_release=True)
    assert "split train: 9 utterances, expected 1116" in caplog.text
    assert "split test: 4 utterances, expected 280" in caplog.text


def test_foreign_csv_and_missing_files(csv_case, tmp_path):
    fake, _ = csv_case
    foreign = write_bytes(tmp_path / "out" / "resd.csv", "ID,wav\nmine,/a.wav\n")
    with pytest.raises(PrepError, match="not written by.*refusing to overwrite"):
        prepare_resd(fake.src_dir, tmp_path / "out")
    assert foreign.read_text() == "ID,wav\nmine,/a.wav\n"
    (tmp_path / "empty").mkdir()
    with pytest.raises(PrepError, match="no split files under.*parquet.*train.csv"):
        prepare_resd(tmp_path / "empty", tmp_path / "out2")
