"""Pre-training losses (data2vec 2.0 regression + emotion2vec utterance loss).

Released normalisation (fairseq ``ModelCriterion``, reference section 6.5):
the frame term is the SUM over masked frames and dims of the scaled
regression, the utterance term is ``n_masked`` times the SUM over utterances
and dims, and the total is divided by ``sample_size = n_masked``. The per-update
objective is therefore::

    d2v_weight * sum_masked(frame) / n_masked
        + cls_weight * sum_b sum_d (u_b - ybar_b)^2 * scale

with ``scale = 1 / sqrt(dim)`` unless ``loss_scale`` is given.

Authors
 * emotion2vec-sb contributors
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

CLS_TYPES = ("chunk", "single", "token", "global")


def d2v_regression(
    pred: torch.Tensor,
    target: torch.Tensor,
    loss_beta: float = 0.0,
    loss_scale: float | None = None,
) -> torch.Tensor:
    """Element-wise scaled regression loss, in float32.

    Arguments
    ---------
    pred : torch.Tensor
        ``[..., dim]`` predictions.
    target : torch.Tensor
        ``[..., dim]`` targets.
    loss_beta : float
        0 for squared error, > 0 for smooth-L1 with this beta.
    loss_scale : float, optional
        Multiplier; ``1 / sqrt(dim)`` when None (released).

    Returns
    -------
    loss : torch.Tensor
        float32 ``[..., dim]``, not reduced.

    Example
    -------
    >>> d2v_regression(torch.tensor([[2.0, 0.0, 0.0, 0.0]]), torch.zeros(1, 4))
    tensor([[2., 0., 0., 0.]])
    """
    pred = pred.float()
    target = target.float()
    if loss_beta == 0:
        loss = F.mse_loss(pred, target, reduction="none")
    else:
        loss = F.smooth_l1_loss(pred, target, reduction="none", beta=loss_beta)
    if loss_scale is None:
        loss_scale = 1 / math.sqrt(pred.shape[-1])
    return loss * loss_scale


def frame_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    masked: torch.Tensor,
    loss_beta: float = 0.0,
    loss_scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Regression loss summed over the masked frames and all dims.

    Arguments
    ---------
    pred : torch.Tensor
        ``[batch, frames, dim]`` decoder predictions.
    target : torch.Tensor
        ``[batch, frames, dim]`` teacher targets (already repeated per clone).
    masked : torch.Tensor
        Bool ``[batch, frames]``; only ``True`` frames enter the loss.
    loss_beta : float
        See :func:`d2v_regression`.
    loss_scale : float, optional
        See :func:`d2v_regression`.

    Returns
    -------
    loss_sum : torch.Tensor
        float32 scalar, the scaled sum.
    n_masked : torch.Tensor
        int64 scalar, the number of masked frames.

    Example
    -------
    >>> pred = torch.ones(1, 3, 4)
    >>> masked = torch.tensor([[True, False, True]])
    >>> frame_loss(pred, torch.zeros(1, 3, 4), masked)
    (tensor(4.), tensor(2))
    """
    masked = masked.bool()
    loss = d2v_regression(pred[masked], target[masked], loss_beta, loss_scale)
    return loss.sum(), masked.sum()


def utterance_prediction(
    token_out: torch.Tensor | None,
    frame_out: torch.Tensor | None = None,
    cls_type: str = "chunk",
) -> torch.Tensor:
    """Student utterance prediction for the utterance loss.

    ``cls_type``:

    - ``"chunk"`` (emotion2vec release, E = 10): mean of the E token outputs
      (paper Eq. 7, "chunk embedding"; exact code unreleased);
    - ``"single"`` (data2vec 2.0): output at the LAST token position E - 1;
    - ``"token"`` (paper ablation "token embedding", which uses ONE utterance
      token): output at token position 0. With E = 1, as in the paper, it
      equals ``"single"``; with E > 1 only the first token is trained by the
      utterance loss;
    - ``"global"`` (paper ablation, no tokens): mean over time of the student
      frame outputs given (the kept frames during pre-training).

    Arguments
    ---------
    token_out : torch.Tensor or None
        ``[batch, tokens, dim]`` student outputs at the utterance tokens.
    frame_out : torch.Tensor, optional
        ``[batch, frames, dim]`` student frame outputs (``"global"`` only).
    cls_type : str
        One of ``"chunk"``, ``"single"``, ``"token"``, ``"global"``.

    Returns
    -------
    prediction : torch.Tensor
        ``[batch, dim]``.

    Example
    -------
    >>> tok = torch.tensor([[[1.0], [2.0], [6.0]]])
    >>> [utterance_prediction(tok, cls_type=c).item()
    ...  for c in ("chunk", "single", "token")]
    [3.0, 6.0, 1.0]
    >>> utterance_prediction(None, torch.tensor([[[1.0], [3.0]]]), "global")
    tensor([[2.]])
    """
    if cls_type not in CLS_TYPES:
        raise ValueError(
            f"cls_type must be one of {CLS_TYPES}, got {cls_type!r}"
        )
    if cls_type == "global":
        if frame_out is None:
            raise ValueError('cls_type "global" needs frame_out')
        return frame_out.mean(dim=1)
    if token_out is None or token_out.dim() != 3 or token_out.shape[1] == 0:
        raise ValueError(
            f'cls_type "{cls_type}" needs token outputs [batch, tokens>0, dim]'
        )
    if cls_type == "chunk":
        return token_out.mean(dim=1)
    if cls_type == "single":
        return token_out[:, -1]
    return token_out[:, 0]


def utterance_loss(
    u_pred: torch.Tensor,
    u_target: torch.Tensor,
    n_masked: torch.Tensor | int,
    loss_beta: float = 0.0,
    loss_scale: float | None = None,
) -> torch.Tensor:
    """Released utterance term: ``n_masked * sum_b sum_d loss(u, ybar)``.

    Arguments
    ---------
    u_pred : torch.Tensor
        ``[batch, dim]`` utterance predictions.
    u_target : torch.Tensor
        ``[batch, dim]`` utterance targets (repeated per clone).
    n_masked : torch.Tensor or int
        Masked frames in the batch (the sample size).
    loss_beta : float
        See :func:`d2v_regression`.
    loss_scale : float, optional
        See :func:`d2v_regression`.

    Returns
    -------
    loss_sum : torch.Tensor
        float32 scalar (not yet divided by ``n_masked``, not weighted).

    Example
    -------
    >>> utterance_loss(torch.ones(2, 4), torch.zeros(2, 4), 3)
    tensor(12.)
    """
    loss = d2v_regression(u_pred, u_target, loss_beta, loss_scale).sum()
    return loss * n_masked


def mean_channel_std(x: torch.Tensor) -> torch.Tensor:
    """Release monitor ``pred_var`` / ``target_var``: mean over dims of the
    std over rows (``sqrt(var + 1e-6)``, unbiased var), in float32; 0 when
    there are fewer than two rows.

    Arguments
    ---------
    x : torch.Tensor
        ``[..., dim]``, flattened to ``[rows, dim]``.

    Returns
    -------
    std : torch.Tensor
        float32 scalar.

    Example
    -------
    >>> x = torch.tensor([[0.0, 1.0], [2.0, 1.0]])
    >>> mean_channel_std(x).round(decimals=3)
    tensor(0.7080)
    """
    x = x.detach().float().reshape(-1, x.shape[-1])
    if x.shape[0] < 2:
        return x.new_zeros(())
    return torch.sqrt(x.var(dim=0) + 1e-6).mean()


class Emotion2vecLoss(nn.Module):
    """Frame + utterance pre-training objective with the released
    normalisation (divide by ``n_masked``).

    Arguments
    ---------
    d2v_weight : float
        Frame loss weight (``d2v_loss``, 1.0).
    cls_weight : float
        Utterance loss weight (``cls_loss``, paper alpha, 1.0); 0 disables it.
    cls_type : str
        See :func:`utterance_prediction` (release: ``"chunk"``).
    loss_beta : float
        See :func:`d2v_regression`.
    loss_scale : float, optional
        See :func:`d2v_regression`.

    Example
    -------
    >>> loss_fn = Emotion2vecLoss()
    >>> pred, target = torch.ones(2, 3, 4), torch.zeros(2, 3, 4)
    >>> masked = torch.tensor([[True, False, True], [False, True, False]])
    >>> out = loss_fn(pred, target, masked, token_out=torch.ones(2, 2, 4))
    >>> keys = ("frame_loss", "utterance_loss", "total")
    >>> [round(out[k].item(), 3) for k in keys]
    [2.0, 4.0, 6.0]
    >>> out["n_masked"]
    tensor(3)
    """

    def __init__(
        self,
        d2v_weight: float = 1.0,
        cls_weight: float = 1.0,
        cls_type: str = "chunk",
        loss_beta: float = 0.0,
        loss_scale: float | None = None,
    ):
        super().__init__()
        if cls_type not in CLS_TYPES:
            raise ValueError(
                f"cls_type must be one of {CLS_TYPES}, got {cls_type!r}"
            )
        self.d2v_weight = d2v_weight
        self.cls_weight = cls_weight
        self.cls_type = cls_type
        self.loss_beta = loss_beta
        self.loss_scale = loss_scale

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        masked: torch.Tensor,
        token_out: torch.Tensor | None = None,
        frame_out: torch.Tensor | None = None,
        u_target: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Computes the objective of one (cloned) batch.

        Arguments
        ---------
        pred : torch.Tensor
            ``[batch, frames, dim]`` decoder predictions (batch = B * clones).
        target : torch.Tensor
            ``[batch, frames, dim]`` teacher targets repeated per clone.
        masked : torch.Tensor
            Bool ``[batch, frames]`` mask (``True`` = masked).
        token_out : torch.Tensor, optional
            ``[batch, tokens, dim]`` student token outputs.
        frame_out : torch.Tensor, optional
            ``[batch, kept, dim]`` student frame outputs (``"global"``).
        u_target : torch.Tensor, optional
            ``[batch, dim]`` utterance targets; default the mean over time
            of ``target`` (the same as the mean of the un-cloned targets).

        Returns
        -------
        losses : dict of torch.Tensor
            Scalars: ``total`` (for backward; = ``frame_loss`` +
            ``utterance_loss``), ``frame_loss`` and ``utterance_loss`` (each
            weighted and divided by ``n_masked``, detached), ``n_masked``
            (int64), ``pred_std`` and ``target_std`` (release
            ``pred_var``/``target_var`` monitors over the masked frames).
        """
        frame_sum, n_masked = frame_loss(
            pred, target, masked, self.loss_beta, self.loss_scale
        )
        total = self.d2v_weight * frame_sum
        utt_sum = frame_sum.new_zeros(())
        if self.cls_weight != 0:
            if u_target is None:
                u_target = target.float().mean(dim=1)
            u_pred = utterance_prediction(token_out, frame_out, self.cls_type)
            utt_sum = utterance_loss(
                u_pred, u_target, n_masked, self.loss_beta, self.loss_scale
            )
            total = total + self.cls_weight * utt_sum
        sample_size = n_masked.clamp(min=1).float()
        utt_term = self.cls_weight * utt_sum / sample_size
        masked_b = masked.bool()
        return {
            "total": total / sample_size,
            "frame_loss": (self.d2v_weight * frame_sum / sample_size).detach(),
            "utterance_loss": utt_term.detach(),
            "n_masked": n_masked,
            "pred_std": mean_channel_std(pred[masked_b]),
            "target_std": mean_channel_std(target[masked_b]),
        }
