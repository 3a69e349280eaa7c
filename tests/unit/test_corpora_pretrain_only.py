"""The two pre-training-only corpora from fake downloads: MEAD (per-actor
``audio.tar``, M4A decoded once, hostile tar members refused) and
MSP-Podcast (``Audios/`` WAVs + consensus labels)."""

import json
import shutil
import tarfile

import pytest

from emotion2vec.corpora import corpus_info, prepare_corpus
from emotion2vec.corpora.common import PrepError
from emotion2vec.corpora.manifest import MANIFEST_COLUMNS, marker_path, read_manifest
from emotion2vec.corpora.mead import EXTRA_COLUMNS as MEAD_COLUMNS
from emotion2vec.corpora.msp_podcast import EXTRA_COLUMNS as MSP_COLUMNS
from tests.fakes.layout import assert_prepared
from tests.fakes.msp_podcast import make_fake_msp_podcast


def _summary(csv_path):
    return json.loads(marker_path(csv_path).read_text())["summary"]


# ------------------------------------------------------------------ MEAD
@pytest.fixture(scope="module")
def mead(tmp_path_factory):
    pytest.importorskip("av", reason="PyAV writes and decodes the fake M4A files")
    from tests.fakes.mead import make_fake_mead

    fake = make_fake_mead(tmp_path_factory.mktemp("mead") / "download")
    out = tmp_path_factory.mktemp("mead_out")
    csv_path = prepare_corpus("mead", fake.src_dir / "MEAD", out)
    return fake, out, csv_path


def test_mead_rows_from_archives_and_extracted_folders(mead):
    fake, out, csv_path = mead
    header = csv_path.read_text().splitlines()[0].split(",")
    assert header == list(MANIFEST_COLUMNS) + list(MEAD_COLUMNS)
    rows = read_manifest(csv_path)
    assert [r["ID"] for r in rows] == sorted(fake.rows)
    for row in rows:
        assert {k: row[k] for k in fake.rows[row["ID"]]} == fake.rows[row["ID"]]
        assert float(row["duration"]) == pytest.approx(0.3, abs=0.05)
        assert row["wav"] == str((out / "mead_wav" / (row["ID"] + ".wav")).absolute())
    info = corpus_info("mead")
    assert info.labels == () and info.protocols == {}


def test_mead_wavs_are_16k_mono_and_written_inside_out_only(mead):
    import soundfile

    fake, out, _ = mead
    wavs = sorted(p for p in out.rglob("*") if p.is_file() and p.suffix == ".wav")
    assert len(wavs) == len(fake.rows)
    for wav in wavs:
        info = soundfile.info(str(wav))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    # nothing escaped: no file outside OUT and the source, no scratch files left
    assert not (fake.src_dir / "escaped.m4a").exists()
    assert not (fake.src_dir.parent / "escaped.m4a").exists()
    assert not [p for p in out.rglob(".*") if p.is_file()]


def test_mead_refuses_hostile_members_and_reports_broken_ones(mead):
    fake, _, csv_path = mead
    summary = _summary(csv_path)
    skipped = dict((path, reason) for path, reason in summary["skipped"])
    assert sorted(skipped) == sorted(fake.skipped)
    for path, fragment in fake.skipped.items():
        assert fragment in skipped[path], (path, skipped[path])
    assert [copy for copy, _ in summary["duplicates"]] == fake.duplicates


def test_mead_rerun_reuses_the_decoded_wavs(mead, tmp_path, monkeypatch):
    fake, out, csv_path = mead
    assert prepare_corpus("mead", fake.src_dir / "MEAD", out) == csv_path  # marker: skipped
    # a fresh manifest over the same audio folder decodes nothing again
    fresh = tmp_path / "again"
    shutil.copytree(out / "mead_wav", fresh / "mead_wav")
    import emotion2vec.corpora.mead as mead_module

    from emotion2vec.audio import AudioError

    calls = []

    def no_decoding(path, *args, **kwargs):  # only the broken member has no WAV yet
        calls.append(path)
        raise AudioError(path, "cannot decode audio (not again)")

    monkeypatch.setattr(mead_module, "read_media", no_decoding)
    again = prepare_corpus("mead", fake.src_dir / "MEAD", fresh)
    assert [r["ID"] for r in read_manifest(again)] == sorted(fake.rows)
    assert len(calls) == 1


def test_mead_without_audio_is_named(tmp_path):
    (tmp_path / "M003").mkdir()
    with pytest.raises(PrepError, match="MEAD: no <ACTOR>/audio.tar"):
        prepare_corpus("mead", tmp_path, tmp_path / "out")


def test_mead_damaged_archive_is_reported(tmp_path):
    pytest.importorskip("av")
    from tests.fakes.mead import m4a_bytes

    good = tmp_path / "src" / "M011" / "audio" / "sad" / "level_1" / "001.m4a"
    good.parent.mkdir(parents=True)
    good.write_bytes(m4a_bytes(0.2))
    (tmp_path / "src" / "M012").mkdir()
    (tmp_path / "src" / "M012" / "audio.tar").write_bytes(b"not a tar at all" * 40)
    csv_path = prepare_corpus("mead", tmp_path / "src", tmp_path / "out")
    assert [r["ID"] for r in read_manifest(csv_path)] == ["M011/sad/level_1/001"]
    reasons = [reason for path, reason in _summary(csv_path)["skipped"]]
    assert any("archive" in reason for reason in reasons)
    assert tarfile.is_tarfile(tmp_path / "src" / "M012" / "audio.tar") is False


# ---------------------------------------------------------- MSP-Podcast
def test_msp_podcast_rows_labels_and_unlabelled_files(tmp_path):
    fake = make_fake_msp_podcast(tmp_path / "download")
    csv_path = prepare_corpus("msp_podcast", fake.src_dir, tmp_path / "out")
    rows = assert_prepared(csv_path, fake, MSP_COLUMNS)
    assert len(rows) == 4
    assert {r["ID"]: r["label"] for r in rows}["MSP-PODCAST_0005_0010"] == ""
    assert not (tmp_path / "out" / "msp_podcast_wav").exists()  # WAVs used in place
    assert corpus_info("msp_podcast").labels == ()


def test_msp_podcast_labelled_only_and_old_json_labels(tmp_path):
    fake = make_fake_msp_podcast(tmp_path / "download")
    labels = fake.src_dir / "MSP-Podcast" / "Labels"
    lines = (labels / "labels_consensus.csv").read_text().splitlines()
    header = lines[0].split(",")
    data = {}
    for line in lines[1:]:
        values = dict(zip(header, line.split(",")))
        data[values.pop("FileName")] = values
    (labels / "labels_consensus.csv").unlink()
    (labels / "labels_concensus.json").write_text(json.dumps(data))
    csv_path = prepare_corpus("msp_podcast", fake.src_dir, tmp_path / "out",
                              labelled_only=True)
    rows = read_manifest(csv_path)
    assert [r["ID"] for r in rows] == sorted(k for k in fake.rows if fake.rows[k]["label"])
    assert {r["label"] for r in rows} == {"neutral", "happy", "angry"}


def test_msp_podcast_without_audio_is_named(tmp_path):
    (tmp_path / "Audios").mkdir()
    with pytest.raises(PrepError, match="no MSP-PODCAST_"):
        prepare_corpus("msp_podcast", tmp_path, tmp_path / "out")
