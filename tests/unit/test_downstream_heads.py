"""Downstream heads: the official IEMOCAP head, padding invariance, specs."""

import json

import pytest
import torch

from emotion2vec.model.heads import GRUHead, SuperbHead, build_head, head_spec


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
