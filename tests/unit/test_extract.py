"""``emotion2vec extract``: batching, mirroring, skipping, windows, CLI."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from emotion2vec import load_model
from emotion2vec.audio import read_audio
from emotion2vec.cli import main
from emotion2vec.inference.extract import encode_long, extract_files
from emotion2vec.model import count_frames
from emotion2vec.model_folder import save_model_folder


@pytest.fixture
def model_dir(tmp_path, tiny_model):
    return save_model_folder(
        tmp_path / "model", tiny_model.config, tiny_model.state_dict(), ["a", "b", "c"]
    )


@pytest.fixture
def audio_dir(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "audio"
    (root / "spk1").mkdir(parents=True)
    sf.write(root / "one.wav", rng.standard_normal(16000).astype("float32") * 0.1, 16000)
    sf.write(root / "spk1" / "two.wav", rng.standard_normal(7000).astype("float32") * 0.1, 16000)
    stereo = rng.standard_normal((4000, 2)).astype("float32") * 0.1
    sf.write(root / "spk1" / "three.flac", stereo, 8000)
    sf.write(root / "tiny.wav", np.zeros(200, dtype="float32"), 16000)
    (root / "broken.wav").write_bytes(b"RIFF this is not audio at all" * 10)
    return root


def test_extract_mirrors_paths_and_matches_the_model(tmp_path, model_dir, audio_dir):
    out = tmp_path / "feats"
    model = load_model(model_dir)
    report = extract_files(model, [audio_dir], out, granularity="frame", progress=False)
    written = sorted(p.relative_to(out).as_posix() for p in report.written)
    assert written == ["one.npy", "spk1/three.npy", "spk1/two.npy"]
    failed = {Path(p).name: reason for p, reason in report.failed}
    assert set(failed) == {"tiny.wav", "broken.wav"}
    assert "too short" in failed["tiny.wav"]
    for rel in ["one.wav", "spk1/two.wav", "spk1/three.flac"]:
        wav = read_audio(audio_dir / rel)
        with torch.no_grad():
            expected = model.extract_features(wav.unsqueeze(0)).frames[0].numpy()
        got = np.load(out / Path(rel).with_suffix(".npy"))
        assert got.dtype == np.float32 and got.shape == (count_frames(len(wav)), 32)
        assert np.abs(got - expected).max() < 1e-4


def test_utterance_granularity_and_layer(tmp_path, model_dir, audio_dir):
    model = load_model(model_dir)
    out = tmp_path / "utt"
    extract_files(model, [audio_dir / "one.wav"], out, layer=0, progress=False)
    got = np.load(out / "one.npy")
    with torch.no_grad():
        feats = model.extract_features(read_audio(audio_dir / "one.wav").unsqueeze(0), layers=[0])
    assert got.shape == (32,)
    assert np.abs(got - feats.layers[0][0].mean(0).numpy()).max() < 1e-4


def test_done_files_are_skipped_unless_overwrite(tmp_path, model_dir, audio_dir):
    model = load_model(model_dir)
    out = tmp_path / "f"
    first = extract_files(model, [audio_dir], out, progress=False)
    again = extract_files(model, [audio_dir], out, progress=False)
    assert len(first.written) == 3 and not again.written and len(again.skipped_done) == 3
    forced = extract_files(model, [audio_dir], out, overwrite=True, progress=False)
    assert len(forced.written) == 3


def test_windowed_encoding_stitches_frames_exactly(tiny_model):
    torch.manual_seed(3)
    wav = torch.randn(3 * 16000 + 123)
    with torch.no_grad():
        full = tiny_model.extract_features(wav.unsqueeze(0)).frames[0]
        # context covering the whole file: every window sees everything
        wide = encode_long(tiny_model, wav, window_s=0.7, context_s=10.0)
        narrow = encode_long(tiny_model, wav, window_s=0.7, context_s=0.3)
    assert wide.shape == full.shape == narrow.shape
    assert (wide - full).abs().max() < 1e-4
    assert (narrow - full).abs().mean() < (full.abs().mean())


def test_long_files_go_through_windows(tmp_path, model_dir):
    model = load_model(model_dir)
    root = tmp_path / "long"
    root.mkdir()
    sf.write(root / "long.wav", np.random.default_rng(1).standard_normal(5 * 16000).astype("float32") * 0.1, 16000)
    report = extract_files(model, [root], tmp_path / "o", granularity="frame",
                           window_s=1.0, context_s=0.5, progress=False)
    assert len(report.written) == 1
    assert np.load(report.written[0]).shape == (count_frames(5 * 16000), 32)


def test_cli_extract_exit_codes(tmp_path, model_dir, audio_dir, capsys):
    out = tmp_path / "cli"
    code = main(["extract", "--model", str(model_dir), "--out", str(out),
                 "--granularity", "frame", "--no-progress", str(audio_dir)])
    assert code == 0
    captured = capsys.readouterr()
    assert "3 written" in captured.out and "broken.wav" in captured.err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.wav").write_bytes(b"not audio")
    assert main(["extract", "--model", str(model_dir), "--out", str(out), "--no-progress", str(bad)]) == 1
    assert main(["extract", "--model", str(tmp_path / "nomodel"), "--out", str(out), str(bad)]) == 2


def test_cpu_extracts_one_file_at_a_time_exactly(tmp_path, model_dir, audio_dir, monkeypatch):
    """On a CPU every file is its own batch (no padding): the features are
    the model's on that file alone, bit for bit; with an accelerator's budget
    the files share one padded batch and match within float rounding."""
    model = load_model(model_dir)
    calls = []
    original = model.extract_features

    def spy(wavs, *args, **kwargs):
        calls.append(len(wavs))
        return original(wavs, *args, **kwargs)

    monkeypatch.setattr(model, "extract_features", spy)
    extract_files(model, [audio_dir], tmp_path / "cpu", granularity="frame", progress=False)
    assert calls == [1, 1, 1]
    monkeypatch.setattr("emotion2vec.inference.extract.batch_budget", lambda device, budget: budget)
    extract_files(model, [audio_dir], tmp_path / "gpu", granularity="frame", progress=False)
    assert calls[3:] == [3]
    for rel in ["one.npy", "spk1/two.npy", "spk1/three.npy"]:
        wav = read_audio(audio_dir / rel.replace(".npy", ".flac" if "three" in rel else ".wav"))
        with torch.no_grad():
            alone = original(wav.unsqueeze(0)).frames[0].numpy()
        assert np.array_equal(np.load(tmp_path / "cpu" / rel), alone)
        assert np.abs(np.load(tmp_path / "gpu" / rel) - alone).max() < 1e-4
