"""Model behaviour: shapes, padding invariance, layers, input errors."""

import pytest
import torch

from emotion2vec.model import Emotion2vecModel, count_frames
from tests.conftest import tiny_config


def test_frame_count_formula_matches_model(tiny_model):
    for n in [400, 401, 719, 720, 16000, 36800]:
        out = tiny_model.extract_features(torch.randn(1, n))
        assert out.frames.shape[1] == count_frames(n) == (n - 400) // 320 + 1
    assert count_frames(16000) == 49 and count_frames(160000) == 499


@pytest.mark.parametrize("absolute", [False, True])
def test_padded_batch_equals_each_utterance_alone(tiny_model, absolute):
    torch.manual_seed(1)
    lengths = [16000, 5000, 9100, 401]
    wavs = [torch.randn(n) * 0.3 for n in lengths]
    padded = torch.zeros(len(wavs), max(lengths))
    for i, w in enumerate(wavs):
        padded[i, : len(w)] = w
    rel = torch.tensor([n / max(lengths) for n in lengths])
    with torch.no_grad():
        if absolute:
            batch = tiny_model.extract_features(padded, layers="all", lengths=torch.tensor(lengths))
        else:
            batch = tiny_model.extract_features(padded, rel, layers="all")
        for i, w in enumerate(wavs):
            alone = tiny_model.extract_features(w.unsqueeze(0), layers="all")
            T = alone.frames.shape[1]
            assert batch.frame_lens[i] == T
            assert (batch.frames[i, :T] - alone.frames[0]).abs().max() <= 1e-4
            assert torch.all(batch.frames[i, T:] == 0)
            assert (batch.utterance[i] - alone.utterance[0]).abs().max() <= 1e-4
            assert (batch.tokens[i] - alone.tokens[0]).abs().max() <= 1e-4
            assert (batch.logits[i] - alone.logits[0]).abs().max() <= 1e-4
            for a, b in zip(batch.layers, alone.layers):
                assert (a[i, :T] - b[0]).abs().max() <= 1e-4


def test_padding_content_does_not_matter(tiny_model):
    wav = torch.randn(1, 8000)
    a = torch.cat([wav, torch.zeros(1, 4000)], 1)
    b = torch.cat([wav, torch.randn(1, 4000)], 1)
    rel = torch.tensor([8000 / 12000])
    with torch.no_grad():
        fa = tiny_model.extract_features(a, rel)
        fb = tiny_model.extract_features(b, rel)
    assert torch.allclose(fa.frames, fb.frames, atol=1e-5)


def test_layers_request(tiny_model):
    wav = torch.randn(2, 6000)
    with torch.no_grad():
        out = tiny_model.extract_features(wav, layers="all")
        assert len(out.layers) == 3
        assert torch.allclose(out.layers[-1], out.frames)
        last = tiny_model.extract_features(wav, layers=[-1, 0])
        assert torch.allclose(last.layers[0], out.frames)
        assert torch.allclose(last.layers[1], out.layers[0])
    with pytest.raises(ValueError, match="out of range"):
        tiny_model.extract_features(wav, layers=[3])
    with pytest.raises(ValueError, match="all"):
        tiny_model.extract_features(wav, layers="last")


@pytest.mark.parametrize(
    "wavs, lens, match",
    [
        (torch.randn(1, 399), None, "too short"),
        (torch.randn(2, 1000), torch.tensor([1.0, 0.3]), "too short"),
        (torch.randn(1, 2, 1000), None, r"\[batch, samples\]"),
        (torch.full((1, 1000), float("nan")), None, "NaN"),
        (torch.randn(2, 1000), torch.tensor([1.0, 1.5]), "relative"),
        (torch.randn(2, 1000), torch.tensor([1.0]), "shape"),
        (torch.zeros(1, 1000, dtype=torch.long), None, "floating"),
    ],
)
def test_clear_input_errors(tiny_model, wavs, lens, match):
    with pytest.raises(ValueError, match=match):
        tiny_model.extract_features(wavs, lens)


def test_nan_in_padding_is_ignored(tiny_model):
    wav = torch.randn(1, 2000)
    wav[0, 1500:] = float("nan")
    out = tiny_model.extract_features(wav, torch.tensor([0.75]))
    assert torch.isfinite(out.frames).all()


def test_one_dimensional_input_is_a_batch_of_one(tiny_model):
    wav = torch.randn(4000)
    with torch.no_grad():
        a = tiny_model.extract_features(wav)
        b = tiny_model.extract_features(wav.unsqueeze(0))
    assert torch.equal(a.frames, b.frames)


def test_bf16_autocast_runs_and_is_close(tiny_model):
    """Stated bound: in bf16 the frame features stay within 3 % of their
    scale on average (measured 1.2 % for 8 s of audio) and 25 % at worst."""
    torch.manual_seed(0)
    wav = torch.randn(1, 16000 * 8)
    with torch.no_grad():
        ref = tiny_model.extract_features(wav).frames
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = tiny_model.extract_features(wav).frames
    assert low.shape == ref.shape
    error = (low.float() - ref).abs()
    assert error.mean() < 0.03 * ref.std() and error.max() < 0.25 * ref.std()


def test_bf16_attention_adds_the_alibi_bias_to_fp32_logits(monkeypatch):
    """As the release: logits in the compute dtype, cast to fp32, bias added
    in fp32, softmax in fp32; never the bias rounded to bf16."""
    from emotion2vec.model import encoder

    torch.manual_seed(0)
    attn = encoder.AlibiAttention(16, 4).eval()
    x = torch.randn(1, 300, 16)
    pos = torch.arange(300.0)
    slopes = torch.tensor([0.5, 0.25, 0.0625, 1 / 256]).view(1, 4, 1, 1)
    bias = -(slopes * (pos[:, None] - pos[None]).abs())  # down to -150, float32
    seen = []
    real = encoder.biased_attention_fp32_logits

    def spy(q, k, v, b, dropout=0.0):
        seen.append(b.dtype)
        return real(q, k, v, b, dropout)

    monkeypatch.setattr(encoder, "biased_attention_fp32_logits", spy)
    with torch.no_grad():
        ref = attn(x, bias)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = attn(x, bias)
    assert seen == [torch.float32]  # the fp32 pass uses SDPA; the bf16 one this path
    assert (low.float() - ref).abs().max() < 0.05
    # the formula itself, step by step
    q, k, v = (torch.randn(1, 4, 50, 8).bfloat16() for _ in range(3))
    logits = (q * 8 ** -0.5) @ k.transpose(-2, -1)
    expected = ((logits.float() + bias[..., :50, :50]).softmax(-1).bfloat16()) @ v
    assert torch.equal(real(q, k, v, bias[..., :50, :50]), expected)


def test_architectures_from_config():
    for D, H in [(64, 4), (96, 6), (48, 12)]:
        model = Emotion2vecModel(tiny_config(embed_dim=D, num_heads=H)).eval()
        out = model.extract_features(torch.randn(1, 3000))
        assert out.frames.shape[-1] == D
        assert model.encoder.alibi_scale.shape == (1, 1, H, 1, 1)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="divisible"):
        tiny_config(embed_dim=30, num_heads=4)
    with pytest.raises(ValueError, match="extractor_mode"):
        tiny_config(extractor_mode="weird")


def test_default_extractor_mode_builds_group_norm():
    model = Emotion2vecModel(tiny_config(extractor_mode="default")).eval()
    out = model.extract_features(torch.randn(1, 3000))
    assert out.frames.shape[1] == count_frames(3000)
    assert "feature_extractor.layers.0.norm.weight" in model.state_dict()
    assert "feature_extractor.layers.1.norm.weight" not in model.state_dict()


def test_absolute_lengths_are_checked(tiny_model):
    wavs = torch.randn(2, 1000)
    with pytest.raises(ValueError, match="not both"):
        tiny_model.extract_features(wavs, torch.ones(2), lengths=torch.tensor([1000, 900]))
    with pytest.raises(ValueError, match="integer sample counts"):
        tiny_model.extract_features(wavs, lengths=torch.tensor([1.0, 0.5]))
    with pytest.raises(ValueError, match=r"in \[1, 1000\]"):
        tiny_model.extract_features(wavs, lengths=torch.tensor([1001, 900]))
    with pytest.raises(ValueError, match="too short"):
        tiny_model.extract_features(wavs, lengths=torch.tensor([1000, 100]))
