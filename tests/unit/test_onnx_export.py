"""ONNX export: onnxruntime equals PyTorch on lengths other than the trace."""

import json
from pathlib import Path

import pytest
import torch

from conftest import tiny_config

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "parity_small" / "ckpt" / "modelscope_plus"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from emotion2vec.convert import convert_checkpoint
    from emotion2vec.model_folder import load_model
    from emotion2vec.inference.onnx import export_onnx

    root = tmp_path_factory.mktemp("onnx")
    model = load_model(convert_checkpoint(FIXTURE, root / "plus"))
    return model, export_onnx(model, root / "plus.onnx")


def _run(path, wavs, lengths):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"wavs": wavs.numpy(), "lengths": lengths.numpy()})


@pytest.mark.parametrize("lengths", [[23456, 9000, 4000, 401], [5000], [30000, 30000]])
def test_onnxruntime_matches_pytorch(exported, lengths):
    model, path = exported
    lengths = torch.tensor(lengths)
    torch.manual_seed(6)
    wavs = torch.randn(len(lengths), int(lengths.max())) * 0.1
    wavs = wavs * (torch.arange(wavs.shape[1]) < lengths[:, None])
    frames, utterance, logits = _run(path, wavs, lengths)
    with torch.no_grad():
        out = model.extract_features(wavs, lengths / wavs.shape[1])
    assert frames.shape == tuple(out.frames.shape)
    for got, expected in [(frames, out.frames), (utterance, out.utterance), (logits, out.logits)]:
        assert (torch.from_numpy(got) - expected).abs().max() < 1e-4


def test_graph_interface(exported):
    from emotion2vec.inference.onnx import verify_onnx

    model, path = exported
    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == ["wavs", "lengths"]
    assert [o.name for o in proto.graph.output] == ["frames", "utterance", "logits"]
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "samples"]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["labels"]) == model.labels and meta["sample_rate"] == "16000"
    assert verify_onnx(model, path) < 1e-4


def test_model_without_head_and_cli(tmp_path, capsys):
    from emotion2vec.cli import main
    from emotion2vec.model import Emotion2vecModel
    from emotion2vec.model_folder import save_model_folder

    torch.manual_seed(0)
    config = tiny_config()
    folder = save_model_folder(tmp_path / "base", config, Emotion2vecModel(config).state_dict())
    assert main(["export-onnx", str(folder), str(tmp_path / "out" / "base.onnx")]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "max abs difference" in out
    outputs = [o.name for o in onnx.load(str(tmp_path / "out" / "base.onnx")).graph.output]
    assert outputs == ["frames", "utterance"]
