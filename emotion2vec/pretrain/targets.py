"""Teacher targets of pre-training (data2vec 2.0 ``make_targets``).

Frame targets are the average of the FFN outputs (before the residual and
the block's second LayerNorm) of the top-k main blocks of the EMA teacher,
each instance-normalised over time; the utterance target is their mean over
time. Everything is computed in float32.

Authors
 * emotion2vec-sb contributors
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def instance_norm_time(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Normalises each channel over time (no affine), in float32.

    Same as ``F.instance_norm`` on ``[batch, dim, frames]`` (biased variance),
    which it calls; a single frame (where torch refuses) gives zeros.

    Arguments
    ---------
    x : torch.Tensor
        ``[batch, frames, dim]``.
    eps : float
        Added to the variance.

    Returns
    -------
    y : torch.Tensor
        float32 ``[batch, frames, dim]`` with zero mean and unit variance per
        ``(batch, dim)`` over frames.

    Example
    -------
    >>> x = torch.tensor([[[1.0, -2.0], [3.0, 2.0]]])
    >>> instance_norm_time(x).round(decimals=4)
    tensor([[[-1., -1.],
             [ 1.,  1.]]])
    """
    x = x.float()
    if x.shape[1] <= 1:
        return x - x.mean(dim=1, keepdim=True)
    return F.instance_norm(x.transpose(1, 2), eps=eps).transpose(1, 2)


def build_teacher_targets(
    ffn_outputs: Sequence[torch.Tensor],
    top_k: int,
    instance_norm: bool = True,
    num_extra_tokens: int = 0,
) -> torch.Tensor:
    """Averages the top-k LAST teacher layers into frame targets.

    Arguments
    ---------
    ffn_outputs : sequence of torch.Tensor
        Per main block, in depth order, the FFN output ``[batch, frames, dim]``.
    top_k : int
        Number of last layers averaged (``average_top_k_layers``). Larger
        than the number of layers means all of them, like the release's
        slice (the plus_large config asks for 16 of 8).
    instance_norm : bool
        Instance-normalise each layer over time before averaging
        (``instance_norm_target_layer``, true in the releases).
    num_extra_tokens : int
        Leading utterance-token positions to drop from every layer first
        (0 when the caller already removed them).

    Returns
    -------
    targets : torch.Tensor
        float32 ``[batch, frames, dim]``.

    Example
    -------
    >>> layers = [torch.full((1, 2, 3), float(i)) for i in range(4)]
    >>> build_teacher_targets(layers, 2, instance_norm=False)[0, 0].tolist()
    [2.5, 2.5, 2.5]
    >>> build_teacher_targets(layers, 2, num_extra_tokens=1).shape
    torch.Size([1, 1, 3])
    """
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if len(ffn_outputs) == 0:
        raise ValueError("ffn_outputs is empty")
    layers = list(ffn_outputs)[-top_k:]
    total = None
    for layer in layers:
        layer = layer[:, num_extra_tokens:].float()
        if instance_norm:
            layer = instance_norm_time(layer)
        total = layer if total is None else total + layer
    return total / len(layers)


#: Utterance-target options (hparams key ``utterance_target``).
UTTERANCE_TARGETS = ("normalized", "raw", "layer_norm")


def utterance_target(
    targets: torch.Tensor,
    raw_average: torch.Tensor | None = None,
    kind: str = "normalized",
) -> torch.Tensor:
    """Utterance target of the utterance loss, ``[batch, dim]``.

    - ``"normalized"`` (the released code path): the mean over time of the
      frame targets. With instance-normalised target layers every channel
      of the frame targets has zero mean over time, so this target is
      exactly zero (for unpadded utterances) and the utterance loss only
      pulls the utterance vector towards zero.
    - ``"raw"`` (the paper's Eq. 6 read literally: the mean of the
      teacher's block outputs): the mean over time of the top-k average
      taken BEFORE instance normalisation; it keeps the utterance-level
      information that instance normalisation removes from the frames.
    - ``"layer_norm"``: the ``"raw"`` vector layer-normalised over its
      dims (no affine), so its scale matches the unit-variance frame
      targets whatever the teacher's scale.

    Arguments
    ---------
    targets : torch.Tensor
        ``[batch, frames, dim]`` frame targets.
    raw_average : torch.Tensor, optional
        ``[batch, frames, dim]`` the top-k average before instance
        normalisation (:func:`build_teacher_targets` with
        ``instance_norm=False``); needed by ``"raw"`` and ``"layer_norm"``.
    kind : str
        One of :data:`UTTERANCE_TARGETS`.

    Returns
    -------
    utterance : torch.Tensor
        float32 ``[batch, dim]``.

    Example
    -------
    >>> utterance_target(torch.tensor([[[1.0], [3.0]]]))
    tensor([[2.]])
    >>> raw = torch.tensor([[[1.0, 2.0], [3.0, 6.0]]])
    >>> utterance_target(torch.zeros(1, 2, 2), raw, "raw")
    tensor([[2., 4.]])
    >>> utterance_target(torch.zeros(1, 2, 2), raw, "layer_norm").round(decimals=3)
    tensor([[-1.,  1.]])
    """
    if kind not in UTTERANCE_TARGETS:
        raise ValueError(f"utterance_target must be one of {UTTERANCE_TARGETS}, got {kind!r}")
    if kind == "normalized":
        return targets.float().mean(dim=1)
    if raw_average is None:
        raise ValueError(f'utterance_target "{kind}" needs the raw top-k average')
    utterance = raw_average.float().mean(dim=1)
    if kind == "layer_norm":
        utterance = F.layer_norm(utterance, utterance.shape[-1:])
    return utterance
