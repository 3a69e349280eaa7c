"""Tests for emotion2vec.pretrain.ema.

Authors
 * emotion2vec-sb contributors
"""

import pytest
import torch
from speechbrain.utils.checkpoints import Checkpointer
from torch import nn

from emotion2vec.pretrain.ema import EMATeacher, ema_decay_at


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.norm = nn.BatchNorm1d(2)
        self.frozen = nn.Parameter(torch.zeros(2), requires_grad=False)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.norm(self.lin(x))) + self.frozen


def _set(module, value):
    with torch.no_grad():
        for p in module.parameters():
            p.fill_(value)


def test_decay_schedule_endpoints():
    assert ema_decay_at(0, 0.999, 0.99999, 20000) == 0.999
    assert ema_decay_at(20000, 0.999, 0.99999, 20000) == 0.99999
    assert ema_decay_at(90000, 0.999, 0.99999, 20000) == 0.99999
    assert ema_decay_at(5000, 0.9, 1.0, 20000) == pytest.approx(0.925)
    assert ema_decay_at(7, 0.99, 0.99, 100) == 0.99
    assert ema_decay_at(3, 0.5, 1.0, 0) == 1.0


def test_teacher_is_frozen_eval_copy():
    student = _Net()
    teacher = EMATeacher(student)
    assert all(not p.requires_grad for p in teacher.parameters())
    teacher.train()
    assert not teacher.model.training
    assert teacher.training  # the wrapper follows, the copy does not
    x = torch.randn(4, 3)
    assert torch.equal(teacher(x), teacher(x))  # no dropout
    assert not teacher(x).requires_grad
    # deep copy: changing the student does not change the teacher
    _set(student, 5.0)
    assert not torch.equal(teacher.model.lin.weight, student.lin.weight)


def test_ema_arithmetic_by_hand():
    student = nn.Linear(2, 1)
    _set(student, 1.0)
    teacher = EMATeacher(
        student, ema_decay=0.9, ema_end_decay=0.99, ema_anneal_end_step=10
    )
    _set(student, 3.0)
    # step 1: tau = 0.99 - 0.09 * (1 - 1/10) = 0.909
    tau = teacher.update(student, 1)
    assert tau == pytest.approx(0.909)
    expected = 0.909 * 1.0 + 0.091 * 3.0
    assert torch.allclose(teacher.model.weight, torch.full((1, 2), expected))
    assert torch.allclose(teacher.model.bias, torch.full((1,), expected))
    # step 2 from the new teacher value
    tau2 = teacher.update(student, 2)
    assert tau2 == pytest.approx(0.99 - 0.09 * 0.8)
    expected2 = tau2 * expected + (1 - tau2) * 3.0
    assert torch.allclose(teacher.model.weight, torch.full((1, 2), expected2))
    assert int(teacher.num_updates) == 2


def test_frozen_params_and_buffers_copied():
    student = _Net()
    teacher = EMATeacher(student, 0.5, 0.5, 10)
    with torch.no_grad():
        student.frozen.fill_(7.0)
        student.norm.running_mean.fill_(2.0)
        student.norm.num_batches_tracked.fill_(11)
    teacher.update(student, 1)
    assert torch.equal(teacher.model.frozen, torch.full((2,), 7.0))
    assert torch.equal(teacher.model.norm.running_mean, torch.full((2,), 2.0))
    assert int(teacher.model.norm.num_batches_tracked) == 11


def test_names_missing_in_teacher_are_ignored():
    student = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    teacher = EMATeacher(student[0], 0.0, 0.0, 1)  # wraps only the first layer
    # student names "0.weight" etc. do not exist in the teacher ("weight")
    before = teacher.model.weight.clone()
    teacher.update(student, 1)
    assert torch.equal(teacher.model.weight, before)
    _set(student[0], 4.0)
    teacher.update(student[0], 2)  # decay 0: the teacher becomes the student
    assert torch.equal(teacher.model.weight, student[0].weight)


def test_no_update_when_decay_reaches_one():
    student = nn.Linear(2, 2)
    teacher = EMATeacher(student, 0.9997, 1.0, 20)
    _set(student, 1.0)
    assert teacher.update(student, 1) is not None
    snapshot = teacher.model.weight.clone()
    _set(student, 9.0)
    assert teacher.update(student, 20) is None
    assert teacher.update(student, 21) is None
    assert torch.equal(teacher.model.weight, snapshot)


def test_repeated_step_and_fresh_resume_are_skipped():
    student = nn.Linear(2, 2)
    teacher = EMATeacher(student, 0.5, 0.5, 10)
    _set(student, 2.0)
    assert teacher.update(student, 1) == 0.5
    snapshot = teacher.model.weight.clone()
    assert teacher.update(student, 1) is None  # same optimizer step again
    assert torch.equal(teacher.model.weight, snapshot)
    fresh = EMATeacher(student, 0.5, 0.5, 10)
    _set(student, 4.0)
    assert fresh.update(student, 500) is None  # first call of a resumed run
    assert fresh.update(student, 501) == 0.5


def test_fp32_accumulators_with_bf16_student():
    student = nn.Linear(4, 4).to(torch.bfloat16)
    teacher = EMATeacher(student, 0.999, 0.999, 10)
    assert teacher.model.weight.dtype == torch.float32
    before = teacher.model.weight.clone()
    with torch.no_grad():
        student.weight.add_(1.0)
    teacher.update(student, 1)
    # a 0.001 step survives in fp32 (it would round away in bf16)
    delta = teacher.model.weight - before
    assert torch.allclose(delta, torch.full_like(delta, 0.001), atol=1e-5)


def test_checkpointer_save_and_load(tmp_path):
    student = _Net()
    teacher = EMATeacher(student, 0.5, 0.5, 10)
    _set(student, 3.0)
    teacher.update(student, 1)
    teacher.update(student, 2)
    ckpt = Checkpointer(tmp_path, recoverables={"teacher": teacher})
    ckpt.save_checkpoint()

    restored = EMATeacher(_Net(), 0.5, 0.5, 10)
    ckpt2 = Checkpointer(tmp_path, recoverables={"teacher": restored})
    assert ckpt2.recover_if_possible() is not None
    assert int(restored.num_updates) == 2
    for (name, a), (_, b) in zip(
        teacher.state_dict().items(), restored.state_dict().items()
    ):
        assert torch.equal(a, b), name
    # the restored teacher continues (no resume skip: num_updates was saved)
    assert restored.update(student, 3) == 0.5
