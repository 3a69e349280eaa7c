"""Learning-rate schedule and Adam parameter groups of pre-training.

- :class:`WarmupCosineScheduler`: linear warm-up from 0 then cosine decay
  (fairseq ``cosine`` as used by data2vec 2.0 / emotion2vec), which
  SpeechBrain does not ship; stepped once per OPTIMIZER step.
- :func:`param_groups_for_weight_decay`: decay / no-decay groups following
  the release (no decay for 1-D parameters, biases and ``alibi_scale``).

Authors
 * emotion2vec-sb contributors
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from speechbrain.utils.checkpoints import (
    mark_as_loader,
    mark_as_saver,
    register_checkpoint_hooks,
)

from emotion2vec.safe_load import CheckpointError, load_torch_file

#: What :meth:`WarmupCosineScheduler.state_dict` holds, and its types.
_STATE_TYPES = {
    "step_count": int, "base_lrs": list, "total_steps": int,
    "warmup_steps": int, "final_lr_scale": (int, float),
}


@register_checkpoint_hooks
class WarmupCosineScheduler:
    """Linear warm-up from 0 to each group's base lr, then cosine decay to
    ``final_lr_scale * base_lr`` at ``total_steps`` (constant afterwards).

    ``lr(s) = base * s / W`` for ``s < W``; then, with
    ``p = (s - W) / (total_steps - W)``,
    ``lr(s) = base * (f + (1 - f) * (1 + cos(pi * min(p, 1))) / 2)``.
    The lr of step 0 is set at construction (0 with a warm-up, as in torch
    ``LambdaLR`` and fairseq), then :meth:`step` is called after every
    optimizer update (in ``on_fit_batch_end`` when ``should_step``), so the
    update number ``s + 1`` runs at ``lr(s)``.

    Checkpointing: registered with SpeechBrain's ``Checkpointer`` hooks
    (:meth:`save` / :meth:`load`) and usable from plain torch through
    :meth:`state_dict` / :meth:`load_state_dict`; loading re-applies the lr
    to the optimizer.

    Arguments
    ---------
    optimizer : torch.optim.Optimizer
        Optimizer whose groups' current ``lr`` are the peak (base) lrs.
    total_steps : int
        Optimizer steps of the whole run (``max_update``).
    warmup_ratio : float
        Warm-up length as a fraction of ``total_steps`` (paper: 5 %).
    warmup_steps : int, optional
        Warm-up length in steps; overrides ``warmup_ratio``.
    final_lr_scale : float
        Final lr as a fraction of the base lr.

    Example
    -------
    >>> p = torch.nn.Parameter(torch.zeros(1))
    >>> opt = torch.optim.Adam([p], lr=1.0)
    >>> sched = WarmupCosineScheduler(opt, total_steps=10, warmup_steps=2)
    >>> lrs = [opt.param_groups[0]["lr"]]
    >>> for _ in range(10):
    ...     lrs.append(sched.step())
    >>> [round(lr, 3) for lr in lrs]
    [0.0, 0.5, 1.0, 0.962, 0.854, 0.691, 0.5, 0.309, 0.146, 0.038, 0.0]
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        total_steps: int,
        warmup_ratio: float = 0.05,
        warmup_steps: int | None = None,
        final_lr_scale: float = 0.0,
    ):
        if total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}")
        if warmup_steps is None:
            if not 0.0 <= warmup_ratio <= 1.0:
                raise ValueError(
                    f"warmup_ratio must be in [0, 1], got {warmup_ratio}"
                )
            warmup_steps = int(round(warmup_ratio * total_steps))
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(
                f"warmup_steps must be in [0, total_steps], got {warmup_steps}"
            )
        self.optimizer = optimizer
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.final_lr_scale = float(final_lr_scale)
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.step_count = 0
        self._apply()

    def lr_scale(self, step: int) -> float:
        """Multiplier of the base lr at optimizer step ``step``.

        Arguments
        ---------
        step : int
            Optimizer updates done.

        Returns
        -------
        scale : float
        """
        if step < self.warmup_steps:
            return step / self.warmup_steps
        decay_steps = self.total_steps - self.warmup_steps
        progress = 1.0
        if decay_steps > 0:
            progress = min((step - self.warmup_steps) / decay_steps, 1.0)
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.final_lr_scale + (1.0 - self.final_lr_scale) * cosine

    def _apply(self) -> float:
        scale = self.lr_scale(self.step_count)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * scale
        return self.optimizer.param_groups[0]["lr"]

    def step(self, num_updates: int | None = None) -> float:
        """Advances one optimizer step (or jumps to ``num_updates``) and sets
        the lr.

        Arguments
        ---------
        num_updates : int, optional
            Optimizer updates done (``Brain.optimizer_step``); default: the
            internal count plus one.

        Returns
        -------
        lr : float
            The new lr of the first parameter group.
        """
        self.step_count = (
            self.step_count + 1 if num_updates is None else int(num_updates)
        )
        return self._apply()

    def get_last_lr(self) -> list[float]:
        """Current lr of every parameter group.

        Returns
        -------
        lrs : list of float
        """
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        """State for ``torch.save`` (no optimizer inside).

        Returns
        -------
        state : dict
        """
        return {
            "step_count": self.step_count,
            "base_lrs": list(self.base_lrs),
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "final_lr_scale": self.final_lr_scale,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restores :meth:`state_dict` and re-applies the lr.

        Arguments
        ---------
        state : dict
            From :meth:`state_dict`.
        """
        if len(state["base_lrs"]) != len(self.optimizer.param_groups):
            raise ValueError(
                f"checkpoint has {len(state['base_lrs'])} lr groups, the "
                f"optimizer {len(self.optimizer.param_groups)}"
            )
        self.step_count = int(state["step_count"])
        self.base_lrs = list(state["base_lrs"])
        self.total_steps = int(state["total_steps"])
        self.warmup_steps = int(state["warmup_steps"])
        self.final_lr_scale = float(state["final_lr_scale"])
        self._apply()

    @mark_as_saver
    def save(self, path) -> None:
        """Checkpointer save hook.

        Arguments
        ---------
        path : str or pathlib.Path
            File to write.
        """
        torch.save(self.state_dict(), path)

    @mark_as_loader
    def load(self, path, end_of_epoch: bool = False) -> None:
        """Checkpointer load hook.

        Arguments
        ---------
        path : str or pathlib.Path
            File written by :meth:`save`; read without running code from it
        (:func:`emotion2vec.safe_load.load_torch_file`).
        end_of_epoch : bool
            Unused (the schedule is per optimizer step).
        """
        del end_of_epoch
        state = load_torch_file(path)
        if not isinstance(state, dict) or any(
            not isinstance(state.get(key), types) for key, types in _STATE_TYPES.items()
        ):
            raise CheckpointError(
                f"{path}: not a WarmupCosineScheduler state (expected "
                f"{', '.join(_STATE_TYPES)})"
            )
        self.load_state_dict(state)


def param_groups_for_weight_decay(
    named_params: Iterable[tuple[str, torch.nn.Parameter]],
    weight_decay: float,
) -> list[dict]:
    """Splits parameters into a decayed and a non-decayed Adam group.

    No decay (release ``weight_decay_scale 0``) for parameters with at most
    one dimension, names ending in ``.bias`` (or equal to ``bias``) and
    names containing ``alibi_scale`` (which is 4-D); everything else,
    including the 3-D utterance tokens ``extra_tokens``, is decayed.
    Parameters with ``requires_grad=False`` are left out.

    Note: SpeechBrain's default ``Brain.optimizers_step`` clips only
    ``param_groups[0]`` (here the decayed group); clip all groups yourself.

    Arguments
    ---------
    named_params : iterable of (str, torch.nn.Parameter)
        E.g. ``model.named_parameters()``.
    weight_decay : float
        Decay of the first group.

    Returns
    -------
    groups : list of dict
        ``[{"params": decayed, "weight_decay": weight_decay},
        {"params": not decayed, "weight_decay": 0.0}]``; both always present
        (possibly empty) so that group indices are stable.

    Example
    -------
    >>> lin = torch.nn.Linear(3, 2)
    >>> groups = param_groups_for_weight_decay(lin.named_parameters(), 0.01)
    >>> [len(g["params"]) for g in groups], groups[1]["weight_decay"]
    ([1, 1], 0.0)
    """
    decay, no_decay = [], []
    for name, param in named_params:
        if not param.requires_grad:
            continue
        if (
            param.ndim <= 1
            or name.endswith(".bias")
            or name == "bias"
            or "alibi_scale" in name
        ):
            no_decay.append(param)
        else:
            decay.append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
