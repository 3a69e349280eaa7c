"""Emotion2vecClassifier: loading (offline), classification, embeddings,
devices, labels, downstream heads and long-audio windows."""

import json
import socket
from pathlib import Path

import pytest
import torch

from conftest import tiny_config

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "parity_small" / "ckpt" / "modelscope_plus"
OFFICIAL = ["生气/angry", "厌恶/disgusted", "恐惧/fearful", "开心/happy", "中立/neutral",
            "其他/other", "难过/sad", "吃惊/surprised", "<unk>"]
ENGLISH = ["angry", "disgusted", "fearful", "happy", "neutral", "other", "sad", "surprised", "unknown"]


def _tiny_folder(path, num_labels, labels=None, **overrides):
    from emotion2vec.model import Emotion2vecModel
    from emotion2vec.model_folder import save_model_folder

    torch.manual_seed(0)
    config = tiny_config(num_labels=num_labels, **overrides)
    return save_model_folder(path, config, Emotion2vecModel(config).state_dict(), labels)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    from emotion2vec.convert import convert_checkpoint

    root = tmp_path_factory.mktemp("models")
    return {
        "plus": convert_checkpoint(FIXTURE, root / "plus"),
        "base": _tiny_folder(root / "base", 0),
        "unuse": _tiny_folder(root / "unuse", 3, ["生气/angry", "unuse_1", "难过/sad"]),
    }


@pytest.fixture(scope="module")
def clf(folders):
    from emotion2vec.inference import Emotion2vecClassifier

    return Emotion2vecClassifier.from_hparams(source=folders["plus"], run_opts={"device": "cpu"})


@pytest.fixture(scope="module")
def wavs():
    torch.manual_seed(1)
    return [torch.randn(n) * 0.1 for n in (16000, 9000, 4000)]


def _pad(wavs):
    """A padded batch with SpeechBrain relative lengths (the classifier contract)."""
    from emotion2vec.audio.batching import pad_batch

    padded, lengths = pad_batch(wavs)
    return padded, lengths / padded.shape[1]


@pytest.fixture
def no_network(monkeypatch):
    """Any network access fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[:2]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_offline_load_and_classify_file(folders, tmp_path, no_network):
    from emotion2vec.audio import write_audio
    from emotion2vec.inference import Emotion2vecClassifier

    path = tmp_path / "a.wav"
    write_audio(path, torch.randn(12000) * 0.1, sr=16000)
    clf = Emotion2vecClassifier.from_hparams(
        source=str(folders["plus"]), savedir=tmp_path / "saved", run_opts={"device": "cpu"})
    probs, score, index, labels = clf.classify_file(path)
    assert probs.shape == (1, 9) and score.shape == index.shape == (1,)
    assert labels == [ENGLISH[int(index)]]
    assert torch.allclose(probs.sum(-1), torch.ones(1))
    assert (tmp_path / "saved" / "model.ckpt").exists()


@pytest.mark.parametrize("source", ["no/such/folder", "emotion2vec/emotion2vec_plus_base"])
def test_wrong_path_is_a_clear_error(source, no_network):
    from emotion2vec.inference import Emotion2vecClassifier
    from emotion2vec.model_folder import ModelFolderError

    with pytest.raises(ModelFolderError, match=source):
        Emotion2vecClassifier.from_hparams(source=source)


def test_folder_without_config_and_without_hparams(tmp_path, no_network):
    from emotion2vec.inference import Emotion2vecClassifier

    with pytest.raises(ValueError, match="no config.json"):
        Emotion2vecClassifier.from_hparams(source=tmp_path)
    folder = _tiny_folder(tmp_path / "m", 2, ["a", "b"])
    (folder / "hyperparams.yaml").unlink()  # never read: the model comes from config.json
    assert Emotion2vecClassifier.from_hparams(source=folder).labels == ["a", "b"]


def test_labels_english_and_official(clf, folders):
    from emotion2vec.inference import Emotion2vecClassifier

    assert clf.label_strings == OFFICIAL
    assert clf.labels == clf.english_labels == ENGLISH
    official = Emotion2vecClassifier.from_hparams(source=folders["plus"], label_style="official")
    assert official.labels == OFFICIAL
    with pytest.raises(ValueError, match="label_style"):
        Emotion2vecClassifier.from_hparams(source=folders["plus"], label_style="french")


def test_unuse_labels_get_zero_probability(folders, wavs):
    from emotion2vec.inference import Emotion2vecClassifier

    clf = Emotion2vecClassifier.from_hparams(source=folders["unuse"])
    probs, _, index, labels = clf.classify_batch(*_pad(wavs))
    assert torch.all(probs[:, 1] == 0) and 1 not in index.tolist()
    assert set(labels) <= {"angry", "sad"}
    logits = clf.extract_features(*_pad(wavs)).logits
    expected = torch.softmax(logits[:, [0, 2]], dim=-1)
    assert torch.allclose(probs[:, [0, 2]], expected, atol=1e-6)


def test_padded_batch_equals_one_at_a_time(clf, wavs):
    probs, score, index, labels = clf.classify_batch(*_pad(wavs))
    embeddings = clf.encode_batch(*_pad(wavs))
    frames = clf.encode_batch(*_pad(wavs), granularity="frame", layer=1)
    for i, wav in enumerate(wavs):
        p, s, k, lab = clf.classify_batch(wav)
        assert torch.allclose(probs[i], p[0], atol=1e-5)
        assert int(index[i]) == int(k[0]) and labels[i] == lab[0]
        assert torch.allclose(embeddings[i], clf.encode_batch(wav)[0], atol=1e-5)
        single = clf.encode_batch(wav, granularity="frame", layer=1)[0]
        assert torch.allclose(frames[i, : len(single)], single, atol=1e-5)
        assert frames[i, len(single):].abs().sum() == 0


def test_encode_batch_granularity_and_layers(clf, wavs):
    padded, lens = _pad(wavs)
    out = clf.extract_features(padded, lens, layers=[0, -1])
    assert clf.encode_batch(padded, lens).shape == (3, 64)
    assert torch.equal(clf.encode_batch(padded, lens), out.utterance)
    assert torch.equal(clf.encode_batch(padded, lens, granularity="frame"), out.frames)
    assert torch.allclose(clf.encode_batch(padded, lens, granularity="frame", layer=0), out.layers[0])
    assert torch.allclose(clf.encode_batch(padded, lens, layer=-1), out.utterance, atol=1e-6)
    assert clf.encode_batch(wavs[0]).shape == (1, 64)
    assert torch.equal(clf(padded, lens)[0], clf.classify_batch(padded, lens)[0])
    with pytest.raises(ValueError, match="granularity"):
        clf.encode_batch(padded, granularity="word")


def test_file_methods_match_batch(clf, wavs, tmp_path):
    from emotion2vec.audio import read_audio, write_audio

    path = tmp_path / "b.flac"
    write_audio(path, wavs[1], sr=16000)
    wav = read_audio(path)
    assert torch.allclose(clf.classify_file(path)[0], clf.classify_batch(wav)[0])
    assert torch.allclose(clf.encode_file(path), clf.encode_batch(wav))
    assert clf.encode_file(path, granularity="frame").shape[:2] == (1, 27)


class _ToSpy(torch.overrides.TorchFunctionMode):
    """Records the target device of every ``Tensor.to`` call."""

    def __init__(self):
        super().__init__()
        self.moved = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.Tensor.to:
            target = kwargs.get("device", args[1] if len(args) > 1 else None)
            self.moved.append((id(args[0]), str(target)))
        return func(*args, **kwargs)


def test_inputs_move_to_the_model_device(folders, wavs):
    from emotion2vec.inference import Emotion2vecClassifier

    clf = Emotion2vecClassifier.from_hparams(source=folders["plus"], run_opts={"device": "cpu:0"})
    assert clf.device == "cpu:0"
    padded, lens = _pad(wavs)
    calls = {
        "classify_batch": lambda: clf.classify_batch(padded, lens),
        "encode_batch": lambda: clf.encode_batch(padded, lens),
        "extract_features": lambda: clf.extract_features(padded, lens),
    }
    for name, call in calls.items():
        with _ToSpy() as spy:
            call()
        assert (id(padded), "cpu:0") in spy.moved, name
        assert any(device == "cpu:0" for _, device in spy.moved[1:]), name


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cpu_inputs_on_cuda_model(folders, wavs):
    from emotion2vec.inference import Emotion2vecClassifier

    clf = Emotion2vecClassifier.from_hparams(source=folders["plus"], run_opts={"device": "cuda:0"})
    probs = clf.classify_batch(*_pad(wavs))[0]
    assert probs.device.type == "cuda"


def test_bf16_precision_uses_autocast(folders, wavs):
    from emotion2vec.inference import Emotion2vecClassifier

    clf = Emotion2vecClassifier.from_hparams(source=folders["plus"], run_opts={"precision": "bf16", "device": "cpu"})
    seen = []
    clf.mods.model.encoder.register_forward_pre_hook(
        lambda m, a: seen.append(torch.is_autocast_enabled("cpu")))
    probs = clf.classify_batch(*_pad(wavs))[0]
    assert len(seen) >= 1 and all(seen) and probs.dtype == torch.float32  # every encoder call
    assert torch.allclose(probs.sum(-1), torch.ones(3), atol=1e-5)


def test_model_without_head(folders, wavs):
    from emotion2vec.inference import Emotion2vecClassifier

    clf = Emotion2vecClassifier.from_hparams(source=folders["base"])
    assert not clf.has_head and clf.labels == []
    assert clf.encode_batch(*_pad(wavs)).shape == (3, 32)
    with pytest.raises(ValueError, match="no classification head"):
        clf.classify_batch(wavs[0])


# --- downstream heads (contract with emotion2vec.model.heads) ------------------


class _MeanHead(torch.nn.Module):
    """SUPERB-style head: Linear -> ReLU -> mean over valid steps -> Linear."""

    def __init__(self, spec):
        super().__init__()
        self.inner = torch.nn.Linear(spec["input_dim"], 8)
        self.out = torch.nn.Linear(8, len(spec["labels"]))

    def forward(self, x, lengths):
        from emotion2vec.model import masked_mean

        return self.out(masked_mean(torch.relu(self.inner(x)), lengths))


@pytest.fixture
def fake_heads(monkeypatch):
    monkeypatch.setattr("emotion2vec.model_folder.build_head", _MeanHead)


def _downstream_folder(tmp_path, feature, input_dim, depth=2):
    folder = _tiny_folder(tmp_path / feature.replace(":", "_"), 0, depth=depth)
    spec = {"format": 1, "feature": feature, "labels": ["neu", "ang"], "input_dim": input_dim}
    (folder / "downstream.json").write_text(json.dumps(spec))
    torch.manual_seed(3)
    head = _MeanHead(spec).eval()
    torch.save(head.state_dict(), folder / "downstream_head.ckpt")
    return folder, head


@pytest.mark.parametrize("feature,dim", [("frm", 32), ("utt", 32), ("utt+frm", 64), ("layer:0", 32), ("last4", 32)])
def test_downstream_head(fake_heads, tmp_path, wavs, feature, dim):
    from emotion2vec.inference import Emotion2vecClassifier, feature_layers, head_inputs

    folder, head = _downstream_folder(tmp_path, feature, dim, depth=3 if feature == "last4" else 2)
    clf = Emotion2vecClassifier.from_hparams(source=folder)
    assert clf.has_head and clf.labels == ["neu", "ang"]
    padded, lens = _pad(wavs)
    probs, _, index, labels = clf.classify_batch(padded, lens)
    out = clf.extract_features(padded, lens, layers=feature_layers(feature))
    expected = torch.softmax(head(*head_inputs(out, feature)), dim=-1)
    assert torch.allclose(probs, expected, atol=1e-6)
    for i, wav in enumerate(wavs):
        assert torch.allclose(clf.classify_batch(wav)[0][0], probs[i], atol=1e-5)


def test_downstream_folder_errors(fake_heads, tmp_path, monkeypatch):
    from emotion2vec.inference import Emotion2vecClassifier
    from emotion2vec.model_folder import ModelFolderError

    folder, _ = _downstream_folder(tmp_path, "last4", 32)  # 3 blocks only
    with pytest.raises(ModelFolderError, match="downstream.json.*out of range"):
        Emotion2vecClassifier.from_hparams(source=folder)
    (folder / "downstream.json").write_text(json.dumps({"feature": "frames", "labels": ["a"]}))
    with pytest.raises(ModelFolderError, match="unknown feature option 'frames'"):
        Emotion2vecClassifier.from_hparams(source=folder)
    (folder / "downstream.json").unlink()
    with pytest.raises(ModelFolderError, match="no downstream.json"):
        Emotion2vecClassifier.from_hparams(source=folder)


# --- long audio ---------------------------------------------------------------


def test_plan_windows():
    from emotion2vec.audio.windows import plan_windows

    assert plan_windows(40000, 16000, 16000, 400) == [(0, 16000), (16000, 32000), (32000, 40000)]
    assert plan_windows(32100, 16000, 16000, 400) == [(0, 16000), (16000, 32000)]
    assert plan_windows(300, 16000, 8000, 1) == [(0, 300)]
    with pytest.raises(ValueError, match="too short"):
        plan_windows(300, 16000, 8000, 400)


@pytest.mark.parametrize("sr", [16000, 44100])
def test_window_reader_matches_read_audio(tmp_path, sr):
    from emotion2vec.audio import read_audio, write_audio
    from emotion2vec.audio.windows import WindowReader

    path = tmp_path / "s.wav"
    write_audio(path, torch.randn(sr * 2, 2) * 0.2, sr=sr)
    full = read_audio(path)
    with WindowReader(path) as reader:
        assert reader.total == len(full)
        for start, end in [(0, 5000), (7001, 20000), (30000, len(full))]:
            assert torch.allclose(reader.read(start, end), full[start:end], atol=1e-6)


def test_classify_windows(clf, tmp_path):
    from emotion2vec.audio import read_audio, write_audio

    path = tmp_path / "long.wav"
    torch.manual_seed(4)
    write_audio(path, torch.randn(40000) * 0.1, sr=16000)
    wav = read_audio(path)
    result = clf.classify_file(path, window_s=1.0)
    assert [(s.start, s.end) for s in result.segments] == [(0.0, 1.0), (1.0, 2.0), (2.0, 2.5)]
    for seg in result.segments:
        chunk = wav[int(seg.start * 16000): int(seg.end * 16000)]
        probs, score, index, labels = clf.classify_batch(chunk)
        assert torch.allclose(seg.probs, probs[0], atol=1e-5)
        assert seg.label == labels[0] and seg.index == int(index[0])
    probs, score, index, labels = result.aggregate
    weights = torch.tensor([1.0, 1.0, 0.5])
    expected = (torch.stack([s.probs for s in result.segments]) * weights[:, None]).sum(0) / 2.5
    assert torch.allclose(probs[0], expected, atol=1e-6)
    assert labels == [clf.labels[int(index[0])]] and float(score[0]) == pytest.approx(float(expected.max()))
    overlapped = clf.classify_file(path, window_s=1.0, hop_s=0.5)
    assert [(s.start, s.end) for s in overlapped.segments] == [(0.0, 1.0), (0.5, 1.5), (1.0, 2.0), (1.5, 2.5)]
    with pytest.raises(ValueError, match="hop_s needs window_s"):
        clf.classify_file(path, hop_s=0.5)
