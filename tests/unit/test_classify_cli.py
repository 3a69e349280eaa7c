"""``emotion2vec classify``: output formats, batching, windows, bad files and
exit codes."""

import json
from pathlib import Path

import pytest
import torch

from conftest import tiny_config

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "parity_small" / "ckpt" / "modelscope_plus"
ENGLISH = {"angry", "disgusted", "fearful", "happy", "neutral", "other", "sad", "surprised", "unknown"}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from emotion2vec.convert import convert_checkpoint

    return convert_checkpoint(FIXTURE, tmp_path_factory.mktemp("models") / "plus")


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    """Good files of several lengths and rates (one nested) plus bad ones."""
    from emotion2vec.audio import write_audio

    root = tmp_path_factory.mktemp("audio")
    torch.manual_seed(5)
    write_audio(root / "a.wav", torch.randn(16000) * 0.1, sr=16000)
    write_audio(root / "sub" / "b.flac", torch.randn(4000) * 0.1, sr=8000)
    write_audio(root / "c.wav", torch.randn(7000) * 0.1, sr=16000)
    write_audio(root / "long.wav", torch.randn(40000) * 0.1, sr=16000)
    bad = tmp_path_factory.mktemp("bad")
    (bad / "garbage.wav").write_bytes(b"RIFF not really a wav file")
    write_audio(bad / "short.wav", torch.randn(100) * 0.1, sr=16000)
    return root, bad


def _run(capsys, *argv):
    from emotion2vec.cli import main

    code = main(["classify", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_text_lines(model_dir, audio, capsys):
    root, _ = audio
    code, out, err = _run(capsys, "--model", str(model_dir), "--no-progress", str(root))
    assert code == 0
    lines = [line.split("\t") for line in out.splitlines()]
    assert sorted(Path(p).name for p, _, _ in lines) == ["a.wav", "b.flac", "c.wav", "long.wav"]
    for path, label, score in lines:
        assert Path(path).exists() and label in ENGLISH
        assert 0.0 < float(score) <= 1.0 and len(score.split(".")[1]) == 4


def test_json_lines_match_single_file_classification(model_dir, audio, capsys):
    from emotion2vec.inference import Emotion2vecClassifier

    root, _ = audio
    code, out, _ = _run(capsys, "--model", str(model_dir), "--json", "--no-progress",
                        "--official-labels", "--batch-seconds", "2", str(root))
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    clf = Emotion2vecClassifier.from_hparams(source=model_dir, label_style="official")
    for record in records:
        assert set(record) == {"path", "label", "score", "probs"}
        assert list(record["probs"]) == clf.labels
        assert sum(record["probs"].values()) == pytest.approx(1.0, abs=1e-5)
        probs, score, _, labels = clf.classify_file(record["path"])
        assert record["label"] == labels[0]
        assert record["score"] == pytest.approx(float(score[0]), abs=1e-5)


def test_windows(model_dir, audio, capsys):
    root, _ = audio
    code, out, _ = _run(capsys, "--model", str(model_dir), "--json", "--no-progress",
                        "--window", "1.0", str(root / "long.wav"), str(root / "c.wav"))
    assert code == 0
    records = {Path(r["path"]).name: r for r in map(json.loads, out.splitlines())}
    spans = [(s["start"], s["end"]) for s in records["long.wav"]["segments"]]
    assert spans == [(0.0, 1.0), (1.0, 2.0), (2.0, 2.5)]
    assert len(records["c.wav"]["segments"]) == 1
    seg = records["long.wav"]["segments"][0]
    assert seg["label"] in ENGLISH and 0 < seg["score"] <= 1


def test_long_files_are_windowed_automatically(model_dir, audio, capsys):
    root, _ = audio
    code, out, _ = _run(capsys, "--model", str(model_dir), "--json", "--no-progress",
                        "--max-seconds", "2", str(root))
    records = {Path(r["path"]).name: r for r in map(json.loads, out.splitlines())}
    assert code == 0 and len(records["long.wav"]["segments"]) == 2
    assert "segments" not in records["a.wav"]


def test_bad_files_are_skipped(model_dir, audio, capsys):
    root, bad = audio
    code, out, err = _run(capsys, "--model", str(model_dir), "--no-progress",
                          str(root / "a.wav"), str(bad), str(bad / "missing.wav"))
    assert code == 0
    assert [Path(line.split("\t")[0]).name for line in out.splitlines()] == ["a.wav"]
    assert "garbage.wav" in err and "short.wav: too short" in err and "missing.wav" in err


def test_nothing_processed_exits_nonzero(model_dir, audio, capsys):
    _, bad = audio
    code, out, err = _run(capsys, "--model", str(model_dir), "--no-progress", str(bad))
    assert code == 1 and out == "" and "no file could be classified" in err


def test_progress_bar_goes_to_stderr(model_dir, audio, capsys):
    root, _ = audio
    code, out, err = _run(capsys, "--model", str(model_dir), str(root / "a.wav"))
    assert code == 0 and len(out.splitlines()) == 1 and "classify" in err


def test_model_errors(tmp_path, audio, capsys):
    from emotion2vec.model import Emotion2vecModel
    from emotion2vec.model_folder import save_model_folder

    root, _ = audio
    code, _, err = _run(capsys, "--model", str(tmp_path / "nope"), str(root))
    assert code == 2 and "nope" in err
    config = tiny_config()
    save_model_folder(tmp_path / "base", config, Emotion2vecModel(config).state_dict())
    code, _, err = _run(capsys, "--model", str(tmp_path / "base"), str(root))
    assert code == 2 and "no classification head" in err


def _batch_sizes(monkeypatch, classifier):
    sizes = []
    original = classifier.classify_batch

    def spy(wavs, wav_lens=None, lengths=None):
        sizes.append(len(wavs))
        return original(wavs, wav_lens, lengths=lengths)

    monkeypatch.setattr(classifier, "classify_batch", spy)
    return sizes


def test_cpu_classifies_one_file_at_a_time_exactly(model_dir, audio, monkeypatch):
    """The batching policy lives in the layer that batches: on a CPU every
    file is its own batch, so results equal classify_file bit for bit."""
    from emotion2vec.inference import Emotion2vecClassifier, classify_files

    root, _ = audio
    clf = Emotion2vecClassifier.from_hparams(source=model_dir)
    sizes = _batch_sizes(monkeypatch, clf)
    report = classify_files(clf, [root], batch_seconds=100.0, progress=False)
    assert sizes == [1, 1, 1, 1] and len(report.results) == 4
    for result in report.results:
        probs, score, _, labels = clf.classify_file(result.path)
        assert result.label == labels[0] and result.score == float(score[0])
        assert result.probs == {k: float(p) for k, p in zip(clf.labels, probs[0]) if k in result.probs}


def test_accelerator_policy_pads_batches(model_dir, audio, monkeypatch):
    """Where padding pays off (batch_budget > 0) files share a padded batch
    with absolute lengths, and get the answers they get alone."""
    from emotion2vec.inference import Emotion2vecClassifier, classify_files

    root, _ = audio
    monkeypatch.setattr("emotion2vec.inference.classify.batch_budget", lambda device, budget: budget)
    clf = Emotion2vecClassifier.from_hparams(source=model_dir)
    sizes = _batch_sizes(monkeypatch, clf)
    report = classify_files(clf, [root], batch_seconds=100.0, progress=False)
    assert sizes == [4]
    for result in report.results:
        probs, score, _, labels = clf.classify_file(result.path)
        assert result.label == labels[0]
        assert result.score == pytest.approx(float(score[0]), abs=1e-5)
