"""Downstream heads: the official IEMOCAP head, padding invariance, specs."""

import json

import pytest
import torch

from emotion2vec.model.heads import GRUHead, SuperbHead, WeightedLayerSum, build_head, head_spec, layer_weights


def _padded(lengths, dim, seed=0):
    torch.manual_seed(seed)
    x = torch.randn(len(lengths), max(lengths), dim)
    for b, n in enumerate(lengths):
        x[b, n:] = 0.0
    return x, torch.tensor(lengths)


def test_superb_head_is_the_official_iemocap_model():
    """Linear(768, 256) -> ReLU -> zero padded frames -> mean over valid -> Linear(256, 4)."""
    head = SuperbHead(768, 4).eval()
    assert sum(p.numel() for p in head.parameters()) == 197892  # paper: 0.20M
    x, lengths = _padded([7, 3], 768)
    mask = (torch.arange(7)[None, :] < lengths[:, None]).unsqueeze(-1).float()
    h = torch.relu(head.pre(x)) * mask
    expected = head.post(h.sum(1) / lengths[:, None].float())
    assert torch.allclose(head(x, lengths), expected, atol=1e-6)


@pytest.mark.parametrize("cls", [SuperbHead, GRUHead])
def test_heads_ignore_padding(cls):
    head = cls(16, 3, hidden=8).eval()
    x, lengths = _padded([5, 2, 4], 16)
    batched, emb = head(x, lengths, return_embedding=True)
    for b, n in enumerate(lengths.tolist()):
        single = head(x[b : b + 1, :n], torch.tensor([n]))
        assert torch.allclose(batched[b], single[0], atol=1e-5)
    # garbage past the lengths changes nothing
    noisy = x.clone()
    noisy[1, 2:] = 100.0
    assert torch.allclose(head(noisy, lengths), batched, atol=1e-5)
    assert emb.shape == (3, 8)


def test_one_step_superb_is_linear_relu_linear():
    head = SuperbHead(6, 2, hidden=4)
    v = torch.randn(3, 6)
    out = head(v.unsqueeze(1), torch.ones(3, dtype=torch.long))
    assert torch.allclose(out, head.post(torch.relu(head.pre(v))), atol=1e-6)


def test_bidirectional_gru_embedding():
    head = GRUHead(4, 2, hidden=5, num_layers=2, bidirectional=True)
    logits, emb = head(*_padded([3, 1], 4), return_embedding=True)
    assert logits.shape == (2, 2) and emb.shape == (2, 10)


def test_input_errors():
    head = SuperbHead(4, 2)
    with pytest.raises(ValueError, match=r"\[batch, steps, 4\]"):
        head(torch.zeros(2, 3, 5), torch.tensor([3, 3]))
    with pytest.raises(ValueError, match="lengths must be valid"):
        head(torch.zeros(2, 3, 4), torch.tensor([4, 1]))
    with pytest.raises(ValueError, match="shape"):
        head(torch.zeros(2, 3, 4), torch.tensor([3]))


def test_build_head_from_specs():
    spec = head_spec({"type": "gru", "hidden": 8, "num_layers": 1}, 12, ["a", "b", "c"], "last4")
    assert json.loads(json.dumps(spec)) == spec  # JSON-serialisable
    head = build_head(dict(spec, corpus="x", fold="f"))  # extra keys are ignored
    assert isinstance(head, GRUHead) and head.post.out_features == 3
    assert isinstance(build_head({"input_dim": 4, "num_classes": 2}), SuperbHead)
    rebuilt = build_head(spec)
    rebuilt.load_state_dict(head.state_dict(), strict=True)
    with pytest.raises(ValueError, match="input_dim"):
        build_head({"labels": ["a"]})
    with pytest.raises(ValueError, match="labels' or 'num_classes"):
        build_head({"input_dim": 3})
    with pytest.raises(ValueError, match="num_classes=3 but 2 labels"):
        build_head({"input_dim": 3, "labels": ["a", "b"], "num_classes": 3})


# --- weighted layer sum (feature "weighted") -------------------------------------

L, D = 3, 8


def _stacked(lengths, seed=0):
    """``[B, T, L*D]`` stacked blocks, zero past the lengths."""
    return _padded(lengths, L * D, seed)


def _weighted(kind, **options):
    torch.manual_seed(0)
    spec = {"type": kind, "input_dim": D, "num_classes": 3, "hidden": 6, "num_layers": 1,
            "weighted_layers": L, **options}
    return build_head(spec)


def test_layer_weights_are_a_softmax_and_learn():
    head = _weighted("superb")
    assert isinstance(head.layer_sum, WeightedLayerSum) and head.input_width == L * D
    assert torch.allclose(layer_weights(head), torch.full((L,), 1 / L))  # uniform start
    with torch.no_grad():
        head.layer_sum.logits.copy_(torch.tensor([2.0, -1.0, 0.5]))
    weights = layer_weights(head)
    assert torch.all(weights > 0) and float(weights.sum()) == pytest.approx(1.0, abs=1e-6)
    x, lengths = _stacked([4, 2])
    loss = torch.nn.functional.cross_entropy(head(x, lengths), torch.tensor([0, 2]))
    loss.backward()
    grad = head.layer_sum.logits.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    before = layer_weights(head)
    torch.optim.SGD(head.parameters(), lr=1.0).step()
    assert not torch.allclose(layer_weights(head), before)
    assert float(layer_weights(head).sum()) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("kind", ["superb", "linear", "gru"])
@pytest.mark.parametrize("layer_norm", [False, True])
def test_one_hot_weights_equal_the_last_layer(kind, layer_norm):
    head = _weighted(kind, layer_norm=layer_norm).eval()
    plain = build_head({"type": kind, "input_dim": D, "num_classes": 3, "hidden": 6,
                        "num_layers": 1}).eval()
    state = {k: v for k, v in head.state_dict().items() if not k.startswith("layer_sum.")}
    plain.load_state_dict(state, strict=True)
    with torch.no_grad():
        head.layer_sum.logits.copy_(torch.tensor([-1e9, -1e9, 0.0]))
    assert layer_weights(head).tolist() == [0.0, 0.0, 1.0]
    x, lengths = _stacked([5, 3])
    last = x[..., (L - 1) * D:]
    if layer_norm:
        last = torch.nn.functional.layer_norm(last, (D,))
    assert torch.allclose(head(x, lengths), plain(last, lengths), atol=1e-6)


@pytest.mark.parametrize("kind", ["superb", "gru"])
@pytest.mark.parametrize("layer_norm", [False, True])
def test_weighted_heads_ignore_padding(kind, layer_norm):
    head = _weighted(kind, layer_norm=layer_norm).eval()
    with torch.no_grad():
        head.layer_sum.logits.copy_(torch.tensor([0.3, -0.7, 1.1]))
    x, lengths = _stacked([5, 2, 4])
    assert torch.all(head.layer_sum(x)[1, 2:] == 0)  # padding stays zero, normalised or not
    batched = head(x, lengths)
    for b, n in enumerate(lengths.tolist()):
        assert torch.allclose(batched[b], head(x[b : b + 1, :n], torch.tensor([n]))[0], atol=1e-5)
    noisy = x.clone()
    noisy[1, 2:] = 100.0
    assert torch.allclose(head(noisy, lengths), batched, atol=1e-5)


def test_weighted_spec_round_trip_and_errors():
    spec = head_spec({"type": "superb", "hidden": 4, "layer_norm": True, "input_norm": True},
                     D, ["a", "b"], "weighted", weighted_layers=L)
    assert spec["weighted_layers"] == L and spec["input_dim"] == D
    head = build_head(spec)
    assert head.layer_sum.layer_norm and head.input_mean.shape == (L * D,)  # standardised per block
    rebuilt = build_head(json.loads(json.dumps(spec)))
    rebuilt.load_state_dict(head.state_dict(), strict=True)
    assert "layer_sum.logits" in head.state_dict()
    with pytest.raises(ValueError, match=r"\[batch, steps, 24\] \(3 blocks x 8\)"):
        head(torch.zeros(1, 2, D), torch.tensor([2]))
    with pytest.raises(ValueError, match="needs the number of blocks"):
        head_spec({}, D, ["a"], "weighted")
    with pytest.raises(ValueError, match="needs the number of blocks"):
        head_spec({}, D, ["a"], "frm", weighted_layers=3)
    with pytest.raises(ValueError, match="layer_norm .* needs weighted_layers"):
        build_head({"input_dim": D, "num_classes": 2, "layer_norm": True})
