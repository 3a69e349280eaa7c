"""The student path of emotion2vec / data2vec 2.0 pre-training.

One utterance batch goes through the conv front-end once; its projected
features are repeated ``clone_batch`` times (clones of item 0 first), each
copy gets its own mask, and the context encoder sees only the KEPT frames
(MAE style: the masked frames are removed, ALiBi keeps their original time
distances). The CNN decoder then gets the student outputs scattered back to
full length, with N(0, ``mask_noise_std``) noise at the removed positions,
and predicts the teacher targets at every frame::

    wavs -> local_features (once) -> repeat x clone_batch
         -> student_encode (masked frames zeroed for the positional conv,
            only kept frames encoded) -> decoder_input -> decoder

Each step is a small function; :class:`PretrainStudent` chains them in one
``forward`` so that DDP sees a single call.

Authors
 * emotion2vec-sb contributors
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from emotion2vec.pretrain.masking import mask_to_keep_indices, restore_order


@dataclass
class StudentOutput:
    """What the student computes for one cloned batch.

    Arguments
    ---------
    local_features : torch.Tensor
        ``[batch, frames, dim]`` projected conv features (not cloned): the
        teacher input.
    hidden : torch.Tensor
        ``[batch * clones, tokens + kept, dim]`` encoder output.
    decoder_hidden : torch.Tensor
        ``hidden`` after the decoder input dropout (the release applies this
        dropout in place, so its utterance loss reads these values).
    decoder_in : torch.Tensor
        ``[batch * clones, frames, dim]`` decoder input.
    prediction : torch.Tensor
        ``[batch * clones, frames, dim]`` decoder output.
    keep_idx : torch.Tensor
        ``[batch * clones, kept]`` time index of each kept frame.
    masked_idx : torch.Tensor
        ``[batch * clones, frames - kept]`` time index of each removed frame.
    num_tokens : int
        Utterance tokens in front of the kept frames.
    """

    local_features: torch.Tensor
    hidden: torch.Tensor
    decoder_hidden: torch.Tensor
    decoder_in: torch.Tensor
    prediction: torch.Tensor
    keep_idx: torch.Tensor
    masked_idx: torch.Tensor
    num_tokens: int

    def tokens(self, after_dropout: bool = True) -> torch.Tensor:
        """``[batch * clones, tokens, dim]`` student outputs at the tokens.

        Arguments
        ---------
        after_dropout : bool
            Read them after the decoder input dropout (release) or before.

        Returns
        -------
        torch.Tensor
        """
        source = self.decoder_hidden if after_dropout else self.hidden
        return source[:, : self.num_tokens]

    def frames(self, after_dropout: bool = True) -> torch.Tensor:
        """``[batch * clones, kept, dim]`` student outputs at the kept frames.

        Arguments
        ---------
        after_dropout : bool
            Read them after the decoder input dropout (release) or before.

        Returns
        -------
        torch.Tensor
        """
        source = self.decoder_hidden if after_dropout else self.hidden
        return source[:, self.num_tokens :]


def clone_features(x: torch.Tensor, clone_batch: int) -> torch.Tensor:
    """Repeats every utterance ``clone_batch`` times, clones of item 0 first.

    Arguments
    ---------
    x : torch.Tensor
        ``[batch, ...]``.
    clone_batch : int
        Copies per utterance.

    Returns
    -------
    torch.Tensor
        ``[batch * clone_batch, ...]``.

    Example
    -------
    >>> clone_features(torch.tensor([[1], [2]]), 2).flatten().tolist()
    [1, 1, 2, 2]
    """
    if clone_batch < 1:
        raise ValueError(f"clone_batch must be >= 1, got {clone_batch}")
    return x if clone_batch == 1 else x.repeat_interleave(clone_batch, 0)


def student_encode(encoder: nn.Module, x: torch.Tensor, mask: torch.Tensor):
    """Encodes only the kept frames of each (cloned) row.

    Masked frames are zeroed before the positional conv, then the kept
    frames (:func:`~emotion2vec.pretrain.masking.mask_to_keep_indices`) are
    gathered and run through the tokens, prenet and main blocks with ALiBi
    distances in original time units.

    Arguments
    ---------
    encoder : emotion2vec.model.encoder.ContextEncoder
        The student's context encoder.
    x : torch.Tensor
        ``[rows, frames, dim]`` projected features (already cloned).
    mask : torch.Tensor
        Bool ``[rows, frames]``, True = masked.

    Returns
    -------
    hidden : torch.Tensor
        ``[rows, tokens + kept, dim]``.
    keep_idx : torch.Tensor
        ``[rows, kept]``.
    masked_idx : torch.Tensor
        ``[rows, frames - kept]``.

    Example
    -------
    >>> from emotion2vec.model.config import Emotion2vecConfig
    >>> from emotion2vec.model.encoder import ContextEncoder
    >>> enc = ContextEncoder(Emotion2vecConfig(
    ...     embed_dim=16, num_heads=2, depth=1, prenet_depth=1,
    ...     num_extra_tokens=2)).eval()
    >>> mask = torch.tensor([[True, False, False, True, False, True]])
    >>> hidden, keep, drop = student_encode(enc, torch.randn(1, 6, 16), mask)
    >>> hidden.shape, keep.tolist(), drop.tolist()
    (torch.Size([1, 5, 16]), [[1, 2, 4]], [[0, 3, 5]])
    """
    if mask.shape != x.shape[:2]:
        raise ValueError(
            f"mask {tuple(mask.shape)} does not match the features "
            f"{tuple(x.shape[:2])} (rows, frames)"
        )
    mask = mask.bool()
    keep_idx, masked_idx = mask_to_keep_indices(mask)
    out = encoder(x, frame_mask=mask, keep_index=keep_idx)
    return out.hidden, keep_idx, masked_idx


def decoder_input(
    hidden: torch.Tensor,
    keep_idx: torch.Tensor,
    masked_idx: torch.Tensor,
    num_tokens: int,
    noise_std: float = 0.01,
    dropout: float = 0.0,
    training: bool = False,
    fill: torch.Tensor | None = None,
):
    """Builds the decoder input (data2vec 2.0 ``decoder_input``).

    Dropout (``decoder.input_dropout``) on the whole student output, tokens
    dropped, N(0, ``noise_std``) vectors appended for the removed frames,
    everything put back in time order. No positions are added.

    Arguments
    ---------
    hidden : torch.Tensor
        ``[rows, tokens + kept, dim]`` student encoder output.
    keep_idx : torch.Tensor
        ``[rows, kept]`` from :func:`student_encode`.
    masked_idx : torch.Tensor
        ``[rows, removed]`` from :func:`student_encode`.
    num_tokens : int
        Utterance tokens in front of the kept frames.
    noise_std : float
        Std of the fill noise (``mask_noise_std``).
    dropout : float
        Input dropout probability.
    training : bool
        Whether dropout is active.
    fill : torch.Tensor, optional
        ``[rows, removed, dim]`` fill values instead of fresh noise (tests).

    Returns
    -------
    decoder_in : torch.Tensor
        ``[rows, kept + removed, dim]``.
    dropped : torch.Tensor
        ``hidden`` after the dropout (tokens included).

    Example
    -------
    >>> hidden = torch.arange(8.0).view(1, 4, 2)   # 1 token + 3 kept frames
    >>> keep, drop = torch.tensor([[0, 2, 3]]), torch.tensor([[1]])
    >>> dec_in, _ = decoder_input(hidden, keep, drop, 1, noise_std=0.0)
    >>> dec_in.tolist()
    [[[2.0, 3.0], [0.0, 0.0], [4.0, 5.0], [6.0, 7.0]]]
    """
    dropped = F.dropout(hidden, dropout, training=training)
    kept = dropped[:, num_tokens:]
    if kept.shape[1] != keep_idx.shape[1]:
        raise ValueError(
            f"{kept.shape[1]} kept outputs but {keep_idx.shape[1]} kept indices"
        )
    if fill is None:
        fill = kept.new_empty(
            kept.shape[0], masked_idx.shape[1], kept.shape[2]
        ).normal_(0.0, noise_std)
    return restore_order(kept, keep_idx, masked_idx, fill), dropped


def student_forward(
    model: nn.Module,
    wavs: torch.Tensor,
    mask: torch.Tensor,
    clone_batch: int,
    lengths: torch.Tensor | None = None,
) -> StudentOutput:
    """Runs the whole student path on a (cropped, unpadded) batch.

    Arguments
    ---------
    model : emotion2vec.model.Emotion2vecModel
        The student (with a decoder).
    wavs : torch.Tensor
        ``[batch, samples]`` waveforms, already normalised per utterance
        (pre-training normalises the whole file, before cropping).
    mask : torch.Tensor
        Bool ``[batch * clone_batch, frames]``, item-major.
    clone_batch : int
        Masked copies per utterance.
    lengths : torch.Tensor, optional
        ``[batch]`` valid samples; default: all full (pre-training crops
        every item to the shortest, so nothing is padded).

    Returns
    -------
    StudentOutput

    Example
    -------
    >>> from emotion2vec.model import Emotion2vecModel
    >>> model = Emotion2vecModel(
    ...     embed_dim=16, num_heads=2, depth=1, prenet_depth=1,
    ...     decoder_dim=16, decoder_layers=2,
    ...     feature_encoder_spec="[(8, 10, 5)] + [(8, 3, 2)] * 4"
    ...     " + [(8,2,2)] * 2").eval()
    >>> mask = torch.zeros(4, 9, dtype=torch.bool)
    >>> mask[:, ::2] = True
    >>> out = student_forward(model, torch.randn(2, 3200), mask, 2)
    >>> out.prediction.shape, out.hidden.shape
    (torch.Size([4, 9, 16]), torch.Size([4, 14, 16]))
    """
    if model.decoder is None:
        raise ValueError(
            "pre-training needs the CNN decoder: build the model with "
            "build_decoder=True"
        )
    if lengths is None:
        lengths = torch.full(
            (wavs.shape[0],), wavs.shape[1], dtype=torch.long, device=wavs.device
        )
    x, _, padding_mask = model.local_features(wavs, lengths)
    if padding_mask is not None:
        raise ValueError(
            "pre-training batches are cropped to the shortest item, never "
            "padded; got a padded batch"
        )
    rows = x.shape[0] * clone_batch
    if tuple(mask.shape) != (rows, x.shape[1]):
        raise ValueError(
            f"mask must be [batch * clone_batch, frames] = {(rows, x.shape[1])},"
            f" got {tuple(mask.shape)}"
        )
    hidden, keep_idx, masked_idx = student_encode(
        model.encoder, clone_features(x, clone_batch), mask
    )
    config = model.config
    dec_in, dropped = decoder_input(
        hidden, keep_idx, masked_idx, model.encoder.num_tokens,
        config.mask_noise_std, config.decoder_input_dropout, model.training,
    )
    return StudentOutput(
        local_features=x,
        hidden=hidden,
        decoder_hidden=dropped,
        decoder_in=dec_in,
        prediction=model.decoder(dec_in),
        keep_idx=keep_idx,
        masked_idx=masked_idx,
        num_tokens=model.encoder.num_tokens,
    )


class PretrainStudent(nn.Module):
    """The student as one module, so that DDP wraps a single ``forward``.

    Arguments
    ---------
    model : emotion2vec.model.Emotion2vecModel
        The model being pre-trained (shared, not copied: checkpoint and
        export ``model`` itself).
    clone_batch : int
        Masked copies per utterance.

    Example
    -------
    >>> from emotion2vec.model import Emotion2vecModel
    >>> model = Emotion2vecModel(
    ...     embed_dim=16, num_heads=2, depth=1, prenet_depth=1,
    ...     decoder_dim=16, decoder_layers=2,
    ...     feature_encoder_spec="[(8, 10, 5)] + [(8, 3, 2)] * 4"
    ...     " + [(8,2,2)] * 2")
    >>> student = PretrainStudent(model, clone_batch=2)
    >>> mask = torch.zeros(2, 9, dtype=torch.bool)
    >>> mask[0, :4] = mask[1, 5:] = True
    >>> out = student(torch.randn(1, 3200), mask)
    >>> out.keep_idx.tolist()
    [[4, 5, 6, 7, 8], [0, 1, 2, 3, 4]]
    """

    def __init__(self, model: nn.Module, clone_batch: int):
        super().__init__()
        if clone_batch < 1:
            raise ValueError(f"clone_batch must be >= 1, got {clone_batch}")
        self.model = model
        self.clone_batch = clone_batch

    def forward(self, wavs: torch.Tensor, mask: torch.Tensor) -> StudentOutput:
        """Runs :func:`student_forward`.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` normalised waveforms.
        mask : torch.Tensor
            Bool ``[batch * clone_batch, frames]``.

        Returns
        -------
        StudentOutput
        """
        return student_forward(self.model, wavs, mask, self.clone_batch)
