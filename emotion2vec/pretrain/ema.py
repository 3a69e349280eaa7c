"""EMA teacher of data2vec 2.0 / emotion2vec pre-training.

The teacher is a frozen copy of (part of) the student, updated after every
OPTIMIZER step (drive it with ``Brain.optimizer_step``, never with the batch
counter) as ``theta_T <- tau * theta_T + (1 - tau) * theta_S``.

Checkpointing choice: :class:`EMATeacher` is a plain ``nn.Module`` whose
``state_dict`` holds the teacher weights (``model.*``, float32) and the
``num_updates`` buffer; the decay schedule is a pure function of the step
(:func:`ema_decay_at`), so nothing else needs saving. SpeechBrain's
``Checkpointer`` saves and loads it with its default ``nn.Module`` hooks
(strict load).

Authors
 * emotion2vec-sb contributors
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def ema_decay_at(
    step: int, start: float, end: float, anneal_end_step: int
) -> float:
    """EMA decay at an optimizer step (linear anneal, then constant).

    ``tau = end - (end - start) * (1 - step / anneal_end_step)`` for
    ``step < anneal_end_step``, else ``end`` (fairseq ``get_annealed_rate``).

    Arguments
    ---------
    step : int
        Number of optimizer updates done.
    start : float
        Decay at step 0 (``ema_decay``, 0.999).
    end : float
        Final decay (``ema_end_decay``, 0.99999; 1.0 stops updates).
    anneal_end_step : int
        Step where ``end`` is reached (``ema_anneal_end_step``, 20000).

    Returns
    -------
    decay : float

    Example
    -------
    >>> ema_decay_at(0, 0.999, 0.99999, 20000)
    0.999
    >>> ema_decay_at(20000, 0.999, 0.99999, 20000)
    0.99999
    >>> round(ema_decay_at(10000, 0.9, 1.0, 20000), 6)
    0.95
    """
    if start == end or anneal_end_step <= 0 or step >= anneal_end_step:
        return end
    return end - (end - start) * (1 - step / anneal_end_step)


def unwrap_module(module: nn.Module) -> nn.Module:
    """The module inside DDP (``.module``) and ``torch.compile`` (``_orig_mod``) wrappers.

    Arguments
    ---------
    module : torch.nn.Module
        A module, possibly wrapped (several times).

    Returns
    -------
    torch.nn.Module
        The innermost module (``module`` itself when it is not wrapped).

    Example
    -------
    >>> layer = nn.Linear(2, 2)
    >>> unwrap_module(layer) is layer
    True
    """
    while True:
        if isinstance(module, nn.parallel.DistributedDataParallel):
            module = module.module
        elif hasattr(module, "_orig_mod"):
            module = module._orig_mod
        else:
            return module


class EMATeacher(nn.Module):
    """Frozen float32 copy of a module, updated as an exponential moving
    average of the student.

    The copy never trains: ``requires_grad`` is off and ``train()`` keeps it
    in eval mode (no dropout / layerdrop), so it can sit in a Brain's
    ``modules`` (moved to the device, not DDP-wrapped, excluded from the
    optimizer because it has no trainable parameter). Its parameters ARE the
    float32 EMA accumulators; run its forward under autocast (SpeechBrain
    ``precision: bf16``) or on float32 inputs.

    Update rule (:meth:`update`): for every student parameter whose name
    exists in the teacher, ``theta_T <- tau * theta_T + (1 - tau) *
    theta_S`` in float32; student parameters with ``requires_grad=False``
    are copied; buffers present in both are copied. Skipped when
    ``tau >= 1``, when ``step`` is not beyond the last update (a repeated
    call) and, as in the release, on the first call of a fresh teacher with
    ``step > 1`` (a resumed run whose teacher was not restored: it starts
    as a copy of the restored student).

    Arguments
    ---------
    module : torch.nn.Module
        The student part to copy (e.g. the encoder without the conv
        extractor, projection and decoder); deep-copied.
    ema_decay : float
        Decay at step 0.
    ema_end_decay : float
        Decay after ``ema_anneal_end_step``.
    ema_anneal_end_step : int
        Length of the linear anneal, in optimizer steps.

    Example
    -------
    >>> student = torch.nn.Linear(2, 2)
    >>> teacher = EMATeacher(student, 0.5, 0.5, 10)
    >>> with torch.no_grad():
    ...     _ = student.weight.add_(2.0)
    >>> teacher.update(student, step=1)
    0.5
    >>> torch.allclose(teacher.model.weight, student.weight - 1.0)
    True
    >>> int(teacher.num_updates)
    1
    """

    def __init__(
        self,
        module: nn.Module,
        ema_decay: float = 0.999,
        ema_end_decay: float = 0.99999,
        ema_anneal_end_step: int = 20000,
    ):
        super().__init__()
        self.model = copy.deepcopy(unwrap_module(module)).float()
        self.model.requires_grad_(False)
        for param in self.model.parameters():
            param.grad = None
        self.model.eval()
        self.ema_decay = ema_decay
        self.ema_end_decay = ema_end_decay
        self.ema_anneal_end_step = ema_anneal_end_step
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))

    def train(self, mode: bool = True) -> EMATeacher:
        """Keeps the teacher in eval mode whatever ``mode`` is.

        Arguments
        ---------
        mode : bool
            Ignored for the wrapped copy.

        Returns
        -------
        self : EMATeacher
        """
        super().train(mode)
        self.model.eval()
        return self

    def forward(self, *args, **kwargs):
        """Runs the wrapped teacher without gradients.

        Arguments
        ---------
        *args, **kwargs
            Passed to the wrapped module.

        Returns
        -------
        Whatever the wrapped module returns.
        """
        with torch.no_grad():
            return self.model(*args, **kwargs)

    def decay_at(self, step: int) -> float:
        """Decay used for an update at ``step`` (see :func:`ema_decay_at`).

        Arguments
        ---------
        step : int
            Optimizer step.

        Returns
        -------
        decay : float
        """
        return ema_decay_at(
            step, self.ema_decay, self.ema_end_decay, self.ema_anneal_end_step
        )

    @torch.no_grad()
    def update(self, student: nn.Module, step: int) -> float | None:
        """EMA update after optimizer step number ``step``.

        Arguments
        ---------
        student : torch.nn.Module
            The student counterpart of the wrapped module (DDP or compiled
            wrappers are stripped); parameter names are matched.
        step : int
            Optimizer updates done, counting this one (``Brain.optimizer_step``
            after the step, i.e. 1 after the first update).

        Returns
        -------
        decay : float or None
            The decay applied, or None when the update was skipped.
        """
        last = int(self.num_updates)
        if step <= last or (last == 0 and step > 1):
            self.num_updates.fill_(step)
            return None
        self.num_updates.fill_(step)
        decay = self.decay_at(step)
        if decay >= 1:
            return None

        student = unwrap_module(student)
        teacher_params = dict(self.model.named_parameters())
        for name, param in student.named_parameters():
            ema = teacher_params.get(name)
            if ema is None:
                continue
            if ema.shape != param.shape:
                raise ValueError(
                    f"EMA shape mismatch for {name}: teacher "
                    f"{tuple(ema.shape)} vs student {tuple(param.shape)}"
                )
            src = param.detach().to(device=ema.device, dtype=ema.dtype)
            if param.requires_grad:
                ema.mul_(decay).add_(src, alpha=1 - decay)
            else:
                ema.copy_(src)
        teacher_buffers = dict(self.model.named_buffers())
        for name, buf in student.named_buffers():
            ema = teacher_buffers.get(name)
            if ema is not None and ema.shape == buf.shape:
                ema.copy_(buf.detach().to(device=ema.device, dtype=ema.dtype))
        return decay
