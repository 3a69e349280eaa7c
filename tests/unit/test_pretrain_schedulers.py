"""Tests for emotion2vec.pretrain.schedulers.

Authors
 * emotion2vec-sb contributors
"""

import math

import pytest
import torch
from speechbrain.utils.checkpoints import Checkpointer
from torch import nn

from emotion2vec.pretrain.schedulers import (
    WarmupCosineScheduler,
    param_groups_for_weight_decay,
)


def _opt(lr=1e-3, groups=1):
    params = [nn.Parameter(torch.zeros(2)) for _ in range(groups)]
    return torch.optim.Adam(
        [{"params": [p], "lr": lr * (i + 1)} for i, p in enumerate(params)]
    )


def test_shape_of_schedule():
    opt = _opt(lr=2.0)
    sched = WarmupCosineScheduler(
        opt, total_steps=100, warmup_ratio=0.1, final_lr_scale=0.1
    )
    assert sched.warmup_steps == 10
    lrs = [opt.param_groups[0]["lr"]] + [sched.step() for _ in range(120)]
    assert lrs[0] == 0.0
    assert lrs[5] == pytest.approx(1.0)
    assert lrs[10] == pytest.approx(2.0)
    assert max(lrs) == pytest.approx(2.0)
    assert all(a <= b for a, b in zip(lrs[:10], lrs[1:11]))  # warm-up rises
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))  # then decays
    half = 0.2 + 1.8 * 0.5 * (1 + math.cos(math.pi * 0.5))
    assert lrs[55] == pytest.approx(half)
    assert lrs[100] == pytest.approx(0.2)
    assert lrs[120] == pytest.approx(0.2)


def test_groups_scaled_and_step_jump():
    opt = _opt(lr=1.0, groups=2)
    sched = WarmupCosineScheduler(opt, total_steps=20, warmup_steps=4)
    sched.step(2)
    assert sched.get_last_lr() == pytest.approx([0.5, 1.0])
    sched.step()
    assert sched.step_count == 3
    assert sched.get_last_lr() == pytest.approx([0.75, 1.5])


def test_no_warmup_and_invalid():
    opt = _opt(lr=1.0)
    sched = WarmupCosineScheduler(opt, total_steps=10, warmup_steps=0)
    assert opt.param_groups[0]["lr"] == pytest.approx(1.0)
    assert sched.lr_scale(10) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        WarmupCosineScheduler(opt, total_steps=10, warmup_steps=11)
    with pytest.raises(ValueError):
        WarmupCosineScheduler(opt, total_steps=0)


def test_torch_state_dict_round_trip():
    opt = _opt()
    sched = WarmupCosineScheduler(opt, total_steps=50)
    for _ in range(7):
        sched.step()
    state = sched.state_dict()
    opt2 = _opt()
    sched2 = WarmupCosineScheduler(opt2, total_steps=50)
    sched2.load_state_dict(state)
    assert sched2.step_count == 7
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


def test_resume_from_checkpointer_continues_identically(tmp_path):
    model = nn.Linear(3, 1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = WarmupCosineScheduler(opt, total_steps=30, warmup_ratio=0.2)
    ckpt = Checkpointer(
        tmp_path, recoverables={"model": model, "opt": opt, "sched": sched}
    )
    for _ in range(9):
        sched.step()
    ckpt.save_checkpoint()
    expected = [sched.step() for _ in range(15)]

    model2 = nn.Linear(3, 1)
    opt2 = torch.optim.Adam(model2.parameters(), lr=1e-2)
    sched2 = WarmupCosineScheduler(opt2, total_steps=30, warmup_ratio=0.2)
    recoverables = {"model": model2, "opt": opt2, "sched": sched2}
    ckpt2 = Checkpointer(tmp_path, recoverables=recoverables)
    ckpt2.recover_if_possible()
    assert sched2.step_count == 9
    assert sched2.base_lrs == [1e-2]
    got = [sched2.step() for _ in range(15)]
    assert got == expected


def _ids(params):
    return {id(p) for p in params}


def test_weight_decay_groups():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)
            self.norm = nn.LayerNorm(4)
            self.extra_tokens = nn.Parameter(torch.zeros(1, 10, 4))
            self.alibi_scale = nn.Parameter(torch.ones(1, 1, 12, 1, 1))
            self.conv = nn.Conv1d(4, 4, 3)
            self.frozen = nn.Parameter(torch.zeros(4, 4), requires_grad=False)

    m = M()
    decay, no_decay = param_groups_for_weight_decay(m.named_parameters(), 0.01)
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    decayed = [m.lin.weight, m.extra_tokens, m.conv.weight]
    not_decayed = [m.lin.bias, m.norm.weight, m.norm.bias, m.alibi_scale]
    not_decayed.append(m.conv.bias)
    assert _ids(decay["params"]) == _ids(decayed)
    assert _ids(no_decay["params"]) == _ids(not_decayed)
    torch.optim.Adam(
        param_groups_for_weight_decay(m.named_parameters(), 0.01), lr=1e-3
    )
