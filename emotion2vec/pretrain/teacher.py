"""The EMA teacher of pre-training: what it copies and the targets it makes.

The teacher is an EMA copy of the student's context ENCODER only
(positional conv, utterance tokens, ALiBi scales, input norm, prenet, main
blocks), exactly the official teacher: the conv extractor, the projection
and the decoder are not copied (``ema_local_encoder: false``). It reads the
student's projected features, unmasked, in eval mode, without gradients,
and its targets are the instance-normalised FFN outputs of the top-k main
blocks, averaged (:mod:`~emotion2vec.pretrain.targets`).

Authors
 * emotion2vec-sb contributors
"""

from __future__ import annotations

import torch
from torch import nn

from emotion2vec.pretrain.ema import EMATeacher, unwrap_module
from emotion2vec.pretrain.targets import build_teacher_targets


def make_teacher(
    model: nn.Module,
    ema_decay: float = 0.999,
    ema_end_decay: float = 0.99999,
    ema_anneal_end_step: int = 20000,
) -> EMATeacher:
    """EMA teacher of ``model.encoder`` (float32 copy, eval mode, frozen).

    Arguments
    ---------
    model : emotion2vec.model.Emotion2vecModel
        The student.
    ema_decay : float
        Decay at step 0 (release 0.999).
    ema_end_decay : float
        Decay after the anneal (release 0.99999).
    ema_anneal_end_step : int
        Optimizer steps of the linear anneal (release 20000).

    Returns
    -------
    EMATeacher

    Example
    -------
    >>> from emotion2vec.model import Emotion2vecModel
    >>> model = Emotion2vecModel(embed_dim=16, num_heads=2, depth=1,
    ...                          prenet_depth=1, decoder_dim=16)
    >>> teacher = make_teacher(model)
    >>> sorted({k.split(".")[0] for k in teacher.model.state_dict()})
    ['alibi_scale', 'blocks', 'input_norm', 'positional_conv', 'prenet', 'utterance_tokens']
    """
    return EMATeacher(
        unwrap_module(model).encoder, ema_decay, ema_end_decay, ema_anneal_end_step
    )


@torch.no_grad()
def sync_teacher(teacher: EMATeacher, model: nn.Module) -> None:
    """Makes the teacher an exact copy of the student encoder again (after
    the student was initialised from a checkpoint) and resets its update
    counter.

    Arguments
    ---------
    teacher : EMATeacher
        The teacher.
    model : emotion2vec.model.Emotion2vecModel
        The student.

    Example
    -------
    >>> from emotion2vec.model import Emotion2vecModel
    >>> model = Emotion2vecModel(embed_dim=16, num_heads=2, depth=1,
    ...                          prenet_depth=1, decoder_dim=16)
    >>> teacher = make_teacher(model)
    >>> _ = model.encoder.utterance_tokens.data.add_(1.0)
    >>> sync_teacher(teacher, model)
    >>> torch.equal(teacher.model.utterance_tokens, model.encoder.utterance_tokens)
    True
    """
    state = unwrap_module(model).encoder.state_dict()
    teacher.model.load_state_dict(
        {k: v.detach().float() for k, v in state.items()}, strict=True
    )
    teacher.num_updates.zero_()


def teacher_targets(
    teacher: nn.Module,
    local_features: torch.Tensor,
    top_k: int,
    instance_norm: bool = True,
    padding_mask: torch.Tensor | None = None,
    return_raw: bool = False,
):
    """Frame targets: the teacher's top-k FFN outputs, normalised, averaged.

    Arguments
    ---------
    teacher : EMATeacher or ContextEncoder
        Runs without gradients (an ``EMATeacher`` already does).
    local_features : torch.Tensor
        ``[batch, frames, dim]`` the student's projected conv features
        (not cloned, not masked).
    top_k : int
        ``average_top_k_layers``.
    instance_norm : bool
        ``instance_norm_target_layer``.
    padding_mask : torch.Tensor, optional
        ``[batch, frames]`` True at padded frames (pre-training has none).
    return_raw : bool
        Also return the top-k average before instance normalisation (for
        the ``raw`` and ``layer_norm`` utterance targets).

    Returns
    -------
    torch.Tensor
        float32 ``[batch, frames, dim]`` (and the raw average, same shape,
        when ``return_raw``).

    Example
    -------
    >>> from emotion2vec.model import Emotion2vecModel
    >>> model = Emotion2vecModel(embed_dim=16, num_heads=2, depth=2,
    ...                          prenet_depth=1, decoder_dim=16)
    >>> y = teacher_targets(make_teacher(model), torch.randn(2, 7, 16), 2)
    >>> y.shape, y.dtype
    (torch.Size([2, 7, 16]), torch.float32)
    """
    with torch.no_grad():
        out = teacher(
            local_features.detach(), padding_mask, return_ffn_outputs=True
        )
    targets = build_teacher_targets(
        out.ffn_outputs, top_k, instance_norm, num_extra_tokens=out.num_tokens
    )
    if not return_raw:
        return targets
    raw = targets if not instance_norm else build_teacher_targets(
        out.ffn_outputs, top_k, False, num_extra_tokens=out.num_tokens
    )
    return targets, raw
