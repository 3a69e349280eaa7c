"""Tests for emotion2vec.pretrain.targets.

Authors
 * emotion2vec-sb contributors
"""

import pytest
import torch
import torch.nn.functional as F

from emotion2vec.pretrain.targets import (
    build_teacher_targets,
    instance_norm_time,
    utterance_target,
)


def test_instance_norm_matches_torch():
    x = torch.randn(3, 17, 8, dtype=torch.float64) * 4 + 2
    got = instance_norm_time(x)
    ref = F.instance_norm(x.float().transpose(1, 2), eps=1e-5).transpose(1, 2)
    assert got.dtype == torch.float32
    assert torch.equal(got, ref)
    assert got.mean(dim=1).abs().max() < 1e-5
    var = got.var(dim=1, unbiased=False)
    assert torch.allclose(var, torch.ones_like(var), atol=1e-3)


def test_instance_norm_by_hand_and_single_frame():
    x = torch.tensor([[[0.0], [2.0]]])
    expected = torch.tensor([[[-1.0], [1.0]]]) / (1 + 1e-5) ** 0.5
    assert torch.allclose(instance_norm_time(x), expected, atol=1e-7)
    single = instance_norm_time(torch.ones(2, 1, 3))
    assert torch.equal(single, torch.zeros(2, 1, 3))
    bf16 = instance_norm_time(torch.randn(1, 5, 2).bfloat16())
    assert bf16.dtype == torch.float32


def test_top_k_last_layers_averaged():
    layers = [torch.randn(2, 6, 4) for _ in range(5)]
    got = build_teacher_targets(layers, 3)
    expected = sum(instance_norm_time(t) for t in layers[-3:]) / 3
    assert torch.allclose(got, expected, atol=1e-6)
    raw = build_teacher_targets(layers, 2, instance_norm=False)
    assert torch.allclose(raw, (layers[-1] + layers[-2]) / 2)


def test_top_k_larger_than_depth_uses_all():
    layers = [torch.full((1, 2, 2), float(i)) for i in range(4)]
    got = build_teacher_targets(layers, 16, instance_norm=False)
    assert torch.allclose(got, torch.full((1, 2, 2), 1.5))


def test_extra_tokens_dropped():
    layers = [torch.randn(2, 3 + 6, 4) for _ in range(2)]
    got = build_teacher_targets(layers, 2, num_extra_tokens=3)
    expected = build_teacher_targets([t[:, 3:] for t in layers], 2)
    assert got.shape == (2, 6, 4)
    assert torch.equal(got, expected)


def test_invalid_and_utterance_target():
    with pytest.raises(ValueError):
        build_teacher_targets([torch.zeros(1, 2, 2)], 0)
    with pytest.raises(ValueError):
        build_teacher_targets([], 2)
    y = torch.tensor([[[1.0, 2.0], [3.0, 6.0]]])
    assert utterance_target(y).tolist() == [[2.0, 4.0]]
