"""MELD preparation from a fake ``MELD.Raw`` with real MP4 clips
(tests/fakes/meld.py): rows from the annotation CSVs, audio decoded once
to 16 kHz mono WAV, the release's traps reported and skipped."""

import json
import logging
import shutil
import sys

import pytest
import soundfile

from emotion2vec import cli
from emotion2vec.audio import read_audio, read_media
from emotion2vec.corpora import corpus_info, prepare_corpus
from emotion2vec.corpora import meld as meld_module
from emotion2vec.corpora.common import PrepError
from emotion2vec.corpora.manifest import MANIFEST_COLUMNS, marker_path, read_manifest
from emotion2vec.corpora.meld import EXTRA_COLUMNS, prepare_meld, read_meld_csv
from emotion2vec.downstream.folds import make_folds

av = pytest.importorskip("av", reason="PyAV is needed to write and decode the fake MP4 clips "
                                      "(pip install 'emotion2vec[meld]')")

from tests.fakes.meld import CSV_FILES, make_fake_meld  # noqa: E402  (needs av)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return make_fake_meld(tmp_path_factory.mktemp("meld") / "download")


@pytest.fixture(scope="module")
def prepared(pristine, tmp_path_factory):
    out = tmp_path_factory.mktemp("meld_out")
    csv_path = prepare_corpus("meld", pristine.src_dir, out)
    return out, csv_path, read_manifest(csv_path)


def test_rows_come_from_the_csvs_with_split_in_the_id(pristine, prepared):
    out, csv_path, rows = prepared
    header = csv_path.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header == list(MANIFEST_COLUMNS) + list(EXTRA_COLUMNS)
    assert [row["ID"] for row in rows] == sorted(pristine.rows)
    assert len(rows) == 10
    for row in rows:
        want = pristine.rows[row["ID"]]
        assert {key: row[key] for key in ("label", "speaker", "split", "text", "source")} == {
            key: want[key] for key in ("label", "speaker", "split", "text", "source")
        }
        assert row["emo_raw"] == row["label"] and row["gender"] == row["session"] == ""
        assert row["ID"].split("/")[0] in ("train", "dev", "test")
        assert row["ID"].endswith(f"dia{row['dialogue']}_utt{row['utterance']}")
    by_id = {row["ID"]: row for row in rows}
    assert by_id["test/dia0_utt1"]["start_time"] == "00:16:11,059"
    assert by_id["test/dia3_utt0"]["text"] == "So, “how’s work”?"  # cp1252 CSV
    assert by_id["train/dia125_utt2"]["text"] == "Café, now!"
    assert {row["split"] for row in rows} == {"train", "valid", "test"}
    # the dev clips exist twice: the top-level copy is used
    assert "/MELD.Raw/dev_splits_complete/" in by_id["dev/dia0_utt0"]["source"]


def test_audio_is_decoded_once_to_16k_mono_wav(pristine, prepared):
    out, _, rows = prepared
    for row in rows:
        wav = row["wav"]
        assert wav.startswith(str(out / "meld_wav" / "MELD.Raw"))
        info = soundfile.info(wav)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert float(row["duration"]) == pytest.approx(info.frames / 16000, abs=1e-5)
        assert 0.29 < float(row["duration"]) < 0.40  # 0.3 s plus AAC padding
        samples = read_audio(wav)
        peak = float(samples[len(samples) // 4: 3 * len(samples) // 4].abs().max())  # no AAC edges
        channels = pristine.rows[row["ID"]]["channels"]
        # 6-channel: only front-left carries 0.6 -> mean over channels ~0.1; stereo 0.4
        assert peak == pytest.approx(0.1 if channels == "6" else 0.4, abs=0.03), row["ID"]
    leftovers = [p for p in (out / "meld_wav").rglob("*") if p.is_file() and p.suffix != ".wav"]
    assert leftovers == []


def test_traps_are_reported_and_skipped(pristine, prepared, caplog):
    _, csv_path, _ = prepared
    marker = json.loads(marker_path(csv_path).read_text())
    skipped = marker["summary"]["skipped"]
    assert len(skipped) == 3
    for expected_path, fragment in pristine.skipped.items():
        hits = [reason for path, reason in skipped if path.startswith(expected_path)]
        assert len(hits) == 1 and fragment in hits[0], (expected_path, skipped)
    assert any("dev/dia110_utt7" in path for path, _ in skipped)
    assert marker["summary"]["ignored_extra_clips"] == 1
    assert marker["summary"]["annotated_rows"] == {"train": 7, "dev": 3, "test": 3}
    assert marker["summary"]["per_split"]["valid"] == {"disgust": 1, "neutral": 1}
    # the dev clips exist twice: the deeper copies are ignored duplicates
    duplicates = sorted(copy for copy, _ in marker["summary"]["duplicates"])
    assert duplicates == [
        str(pristine.src_dir / "MELD.Raw/dev/dev_splits_complete" / f"{name}.mp4")
        for name in ("dia0_utt0", "dia110_utt6")
    ]


def test_registration_and_official_split_fold(prepared):
    _, _, rows = prepared
    info = corpus_info("meld")
    assert info.labels == ("neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger")
    assert info.default_protocol == "predefined"
    (fold,) = make_folds("predefined", rows, **info.fold_options("predefined"))
    assert fold.sizes() == (5, 2, 3)


def test_rerun_reuses_the_csv_and_the_decoded_audio(pristine, tmp_path, caplog):
    csv_path = prepare_meld(pristine.src_dir, tmp_path)
    with caplog.at_level(logging.INFO):
        assert prepare_meld(pristine.src_dir, tmp_path) == csv_path
    assert "already prepared" in caplog.text
    # an interrupted run (no CSV yet) reuses the WAVs decoded before
    wavs = {p: p.stat().st_mtime_ns for p in (tmp_path / "meld_wav").rglob("*.wav")}
    before = csv_path.read_text(encoding="utf-8")
    csv_path.unlink()
    marker_path(csv_path).unlink()
    assert prepare_corpus("meld", pristine.src_dir, tmp_path).read_text(encoding="utf-8") == before
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "meld_wav").rglob("*.wav")} == wavs


def test_interrupted_decode_leaves_no_half_file(pristine, tmp_path, monkeypatch):
    def write_then_stop(path, wav, sr=16000):
        path.write_bytes(b"RIFF half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(meld_module, "write_audio", write_then_stop)
    with pytest.raises(KeyboardInterrupt):
        prepare_meld(pristine.src_dir, tmp_path)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_unreadable_earlier_decode_is_reported_not_overwritten(pristine, tmp_path):
    stale = tmp_path / "meld_wav" / "MELD.Raw" / "test" / "output_repeated_splits_test" / "dia0_utt0.wav"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"not a wav")
    rows = read_manifest(prepare_meld(pristine.src_dir, tmp_path))
    assert "test/dia0_utt0" not in {row["ID"] for row in rows} and len(rows) == 9
    assert stale.read_bytes() == b"not a wav"
    skipped = json.loads(marker_path(tmp_path / "meld.csv").read_text())["summary"]["skipped"]
    assert any(path == str(stale) and "delete it" in reason for path, reason in skipped)


def test_foreign_csv_is_not_overwritten(pristine, tmp_path):
    (tmp_path / "meld.csv").write_text("ID,wav\nmine,/x.wav\n")
    with pytest.raises(PrepError, match="not written by.*refusing to overwrite"):
        prepare_meld(pristine.src_dir, tmp_path)
    assert (tmp_path / "meld.csv").read_text() == "ID,wav\nmine,/x.wav\n"
    assert not (tmp_path / "meld_wav").exists()


def test_missing_pyav_names_the_extra(pristine, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # import av -> ImportError
    with pytest.raises(PrepError, match=r"pip install 'emotion2vec\[meld\]'"):
        prepare_meld(pristine.src_dir, tmp_path)


def test_missing_annotation_file_and_unextracted_archive(tmp_path):
    fake = make_fake_meld(tmp_path / "src", seconds=0.1)
    test_csv = fake.src_dir / CSV_FILES["test"][0]
    test_csv.rename(test_csv.with_suffix(".bak"))
    with pytest.raises(PrepError, match="test_sent_emo.csv not found"):
        prepare_meld(fake.src_dir, tmp_path / "out")
    test_csv.with_suffix(".bak").rename(test_csv)
    clips = fake.src_dir / "MELD.Raw" / "test" / "output_repeated_splits_test"
    renamed = clips.rename(clips.with_name("renamed"))  # still inside test/: split from there
    assert len(read_manifest(prepare_meld(fake.src_dir, tmp_path / "out"))) == 10
    shutil.rmtree(renamed)  # as if test.tar.gz had not been extracted
    with pytest.raises(PrepError, match=r"test: no dia\*_utt\*.mp4 clips.*extract .*test.tar.gz"):
        prepare_meld(fake.src_dir, tmp_path / "out2")
    assert not (tmp_path / "out2").exists()


def test_read_meld_csv_tolerates_case_spaces_and_blank_lines(tmp_path):
    path = tmp_path / "dev_sent_emo.csv"
    path.write_bytes(b" sr no. , utterance ,SPEAKER,emotion,Sentiment,dialogue_id,Utterance_ID\n"
                     b"1,Hi,Ross,Neutral,neutral,0,0\n\n")
    assert read_meld_csv(path) == [{"Sr No.": "1", "Utterance": "Hi", "Speaker": "Ross",
                                    "Emotion": "Neutral", "Sentiment": "neutral",
                                    "Dialogue_ID": "0", "Utterance_ID": "0"}]
    path.write_bytes(b"a,b\n1,2\n")
    with pytest.raises(PrepError, match="no column"):
        read_meld_csv(path)


def test_read_media_downmixes_a_six_channel_clip(pristine):
    clip = pristine.src_dir / "MELD.Raw/train/train_splits/dia0_utt0.mp4"
    assert av.open(str(clip)).streams.audio[0].channels == 6
    native = read_media(clip, target_sr=None)
    assert native.shape[0] >= 0.3 * 48000
    middle = native[native.shape[0] // 4: 3 * native.shape[0] // 4]
    assert float(middle.abs().max()) == pytest.approx(0.1, abs=0.02)  # mean of 6 channels, 0.6 in one


def test_cli_prepare_meld(pristine, prepared, tmp_path, capsys):
    assert cli.main(["prepare", "meld", str(pristine.src_dir), str(tmp_path)]) == 0
    assert "meld.csv" in capsys.readouterr().out
    # an interrupted run's WAVs are reused; with decode_audio they are decoded to check them
    (tmp_path / "meld.csv").unlink()
    marker_path(tmp_path / "meld.csv").unlink()
    argv = ["prepare", "meld", str(pristine.src_dir), str(tmp_path), "-o", "decode_audio=true"]
    assert cli.main(argv) == 0
    assert json.loads(marker_path(tmp_path / "meld.csv").read_text())["options"]["decode_audio"]
    assert len(read_manifest(tmp_path / "meld.csv")) == len(prepared[2])
