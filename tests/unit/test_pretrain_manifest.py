"""Tests for emotion2vec.pretrain.manifest.

Authors
 * emotion2vec-sb contributors
"""

import csv
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile

from emotion2vec.pretrain.manifest import MARKER_SUFFIX, build_pretrain_manifest

SR = 16000


def _wav(path, seconds, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = np.zeros(int(seconds * SR), dtype="float32")
    soundfile.write(path, samples, SR, format=fmt)
    return path


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "podcast"
    _wav(folder / "spk1" / "a.wav", 3.0)
    _wav(folder / "spk1" / "b.flac", 2.5)
    _wav(folder / "spk2" / "c.ogg", 4.0, fmt="OGG")
    _wav(folder / "spk2" / "short.wav", 0.5)
    _wav(folder / "long.wav", 12.0)
    _wav(folder / ".hidden" / "x.wav", 3.0)
    _wav(folder / "__MACOSX" / "spk1" / "._a.wav", 3.0)
    _wav(folder / "spk1" / ".y.wav", 3.0)
    (folder / "spk2" / "empty.wav").write_bytes(b"")
    (folder / "spk2" / "corrupt.wav").write_bytes(b"RIFF not a wave" * 10)
    (folder / "notes.txt").write_text("not audio")

    other = tmp_path / "iemocap"
    _wav(other / "wav" / "utt1.wav", 3.0)
    _wav(other / "wav" / "utt2.wav", 6.0)
    csv_path = tmp_path / "iemocap_train.csv"
    with open(csv_path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ID", "wav", "duration", "emo"])
        # duplicate of a folder ID
        writer.writerow(["spk1_a", "$data_root/wav/utt1.wav", "3.0", "neu"])
        writer.writerow(["utt2", str(other / "wav" / "utt2.wav"), "6.0", "ang"])
        missing = str(other / "wav" / "missing.wav")
        writer.writerow(["gone", missing, "3.0", "sad"])
    return folder, csv_path, other


def test_mixed_sources_filters_and_failures(corpus, tmp_path, caplog):
    folder, csv_path, other = corpus
    out = tmp_path / "out" / "pretrain.csv"
    with caplog.at_level(logging.INFO):
        summary = build_pretrain_manifest(
            [folder, csv_path],
            out,
            min_duration=1.0,
            max_duration=10.0,
            replacements={"data_root": str(other)},
        )
    rows = _rows(out)
    ids = [r["ID"] for r in rows]
    assert ids == sorted(ids)
    assert set(ids) == {
        "podcast_spk1_a",
        "iemocap_train_spk1_a",
        "spk1_b",
        "spk2_c",
        "utt2",
    }
    by_id = {r["ID"]: r for r in rows}
    assert float(by_id["spk2_c"]["duration"]) == pytest.approx(4.0)
    assert float(by_id["spk1_b"]["duration"]) == pytest.approx(2.5)
    utt1 = str(other / "wav" / "utt1.wav")
    assert by_id["iemocap_train_spk1_a"]["wav"] == utt1
    assert list(rows[0].keys()) == ["ID", "wav", "duration"]

    assert summary["count"] == summary["kept"] == 5
    assert summary["filtered"] == 2
    assert summary["filtered_short"] == 1 and summary["filtered_long"] == 1
    assert summary["failed"] == 3  # empty, corrupt, missing
    assert summary["renamed"] == 2
    failed_files = {f.split("/")[-1] for f, _ in summary["failures"]}
    assert failed_files == {"empty.wav", "corrupt.wav", "missing.wav"}
    assert summary["min_duration"] == pytest.approx(2.5)
    assert summary["max_duration"] == pytest.approx(6.0)
    assert summary["mean_duration"] == pytest.approx(18.5 / 5)
    assert summary["total_hours"] == pytest.approx(18.5 / 3600)
    assert "corrupt.wav" in caplog.text
    assert "pre-training manifest" in caplog.text

    marker_path = out.parent / ("pretrain.csv" + MARKER_SUFFIX)
    marker = json.loads(marker_path.read_text())
    assert marker["options"]["min_duration"] == 1.0
    assert marker["maker"] == "emotion2vec.pretrain.manifest.build_pretrain_manifest"
    assert marker["summary"]["count"] == 5


def test_unresolved_placeholder_is_a_failure(corpus, tmp_path):
    _, csv_path, _ = corpus
    summary = build_pretrain_manifest(
        [csv_path], tmp_path / "m.csv", min_duration=None
    )
    assert summary["count"] == 1  # only utt2 (absolute path)
    reasons = [r for _, r in summary["failures"]]
    assert "unresolved placeholder in path" in reasons


def test_reuse_rebuild_and_foreign_file(corpus, tmp_path):
    folder, _, _ = corpus
    out = tmp_path / "m.csv"
    first = build_pretrain_manifest([folder], out)
    mtime = out.stat().st_mtime_ns
    assert build_pretrain_manifest([folder], out) == first  # reused
    assert out.stat().st_mtime_ns == mtime
    # different filters: ours, so it is rebuilt
    second = build_pretrain_manifest([folder], out, min_duration=0.1)
    assert second["count"] == first["count"] + 1

    foreign = tmp_path / "foreign.csv"
    foreign.write_text("ID,wav,duration\nmine,/x.wav,1.0\n")
    with pytest.raises(FileExistsError, match="not written by"):
        build_pretrain_manifest([folder], foreign)
    assert foreign.read_text() == "ID,wav,duration\nmine,/x.wav,1.0\n"

    # ours but edited afterwards: refused too
    with open(out, "a") as handle:
        handle.write("edited,/y.wav,2.0\n")
    with pytest.raises(FileExistsError, match="modified"):
        build_pretrain_manifest([folder], out, rebuild=True)


def test_bad_sources(tmp_path):
    with pytest.raises(FileNotFoundError):
        build_pretrain_manifest([tmp_path / "nope"], tmp_path / "m.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("path,duration\n/x.wav,1\n")
    with pytest.raises(ValueError, match="missing column"):
        build_pretrain_manifest([bad], tmp_path / "m.csv")


def test_csv_without_duration_reads_header(tmp_path):
    wav = _wav(tmp_path / "a.wav", 2.25)
    src = tmp_path / "src.csv"
    src.write_text(f"ID,wav\nu1,{wav.name}\n")  # relative to the CSV
    summary = build_pretrain_manifest(
        [src], tmp_path / "m.csv", min_duration=None
    )
    assert summary["count"] == 1
    assert summary["max_duration"] == pytest.approx(2.25)
    assert _rows(tmp_path / "m.csv")[0]["wav"] == str(wav)


def test_zero_byte_files_are_skipped_and_reported(tmp_path):
    """Folder or CSV source: an empty file is reported like the corpora
    report it (audio's reason), never written to the manifest."""
    good = _wav(tmp_path / "audio" / "good.wav", 3.0)
    empty = tmp_path / "audio" / "empty.wav"
    empty.write_bytes(b"")
    src = tmp_path / "src.csv"
    src.write_text(f"ID,wav,duration\nu1,{good},3.0\nu2,{empty},3.0\n")
    for source in (tmp_path / "audio", src):
        out = tmp_path / f"m_{source.name}.csv"
        summary = build_pretrain_manifest([source], out, min_duration=None)
        assert summary["count"] == 1 and [r["wav"] for r in _rows(out)] == [str(good)]
        assert summary["failures"] == [[str(empty), "empty file (0 bytes)"]]


def test_shared_marker_and_legacy_marker(corpus, tmp_path):
    from emotion2vec.corpora.manifest import marker_path, read_marker

    folder, _, _ = corpus
    out = tmp_path / "m.csv"
    summary = build_pretrain_manifest([folder], out)
    stored = read_marker(out, "emotion2vec.pretrain.manifest.build_pretrain_manifest")
    assert stored["summary"] == summary and MARKER_SUFFIX == ".prep.json"
    # a manifest written with the earlier .done.json marker is still ours
    legacy = {"settings": stored["options"], "csv_sha256": stored["csv_sha256"],
              "summary": stored["summary"]}
    marker_path(out).unlink()
    (tmp_path / "m.csv.done.json").write_text(json.dumps(legacy))
    assert build_pretrain_manifest([folder], out) == summary
    build_pretrain_manifest([folder], out, min_duration=0.1)  # rebuilt: new marker only
    assert marker_path(out).exists() and not (tmp_path / "m.csv.done.json").exists()


def test_min_duration_benchmark_table(tmp_path, capsys):
    """benchmarks/bench_min_duration.py: files and hours kept per floor,
    and the hours one epoch feeds the model after both crops."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_min_duration.py"
    spec = importlib.util.spec_from_file_location("bench_min_duration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    csv_path = tmp_path / "m.csv"
    csv_path.write_text("ID,duration\na,0.3\nb,1.5\nc,2.5\nd,30.0\n")
    module.main([str(csv_path), "--floors", "0.045", "2"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("| 0", "| 2"))]
    # 34.3 s in all; the 20 s crop cuts 10 s (29.15 %); batches [30, 2.5, 1.5] and [0.3]:
    # cropping the first to its shortest cuts 18.5 + 1.0 s (56.85 %), 4.8 s reach the model
    assert rows[0].startswith("| 0.045 s | 4 (100.0 %) | 0.01 (100.0 %) | 2 |")
    assert rows[0].endswith("| 29.15 % | 56.85 % |")
    assert rows[1].startswith("| 2 s | 2 (50.0 %)")
