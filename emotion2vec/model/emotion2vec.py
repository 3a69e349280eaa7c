"""The composed emotion2vec model (inference forward and its building
blocks for pre-training).

Data flow: waveform -> per-utterance normalisation on its valid length ->
conv extractor -> projection -> context encoder (positional conv, utterance
tokens, ALiBi, prenet, main blocks) -> frames / utterance / layers.

Input rate. The model computes on samples; every released emotion2vec
model was trained on 16 kHz audio, and that rate is a contract of the
data, kept where audio enters the package
(``emotion2vec.audio.SAMPLE_RATE``, which ``read_audio`` resamples to).
The model imports nothing outside :mod:`emotion2vec.model`.

Authors
 * emotion2vec-sb contributors
"""

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

import torch
from torch import nn

from emotion2vec.model.blocks import resolve_blocks
from emotion2vec.model.config import Emotion2vecConfig
from emotion2vec.model.decoder import CNNDecoder
from emotion2vec.model.encoder import ContextEncoder
from emotion2vec.model.feature_extractor import (
    ConvFeatureExtractor,
    FeatureProjection,
)


@dataclass
class FeatureOutput:
    """Features of a batch of waveforms.

    Arguments
    ---------
    frames : torch.Tensor
        ``[batch, frames, dim]`` last-block output (tokens removed); padded
        frames are zero.
    utterance : torch.Tensor
        ``[batch, dim]`` mean of the valid frames (official
        ``granularity="utterance"``).
    frame_lens : torch.Tensor
        ``[batch]`` valid frames per utterance (int64).
    tokens : torch.Tensor
        ``[batch, tokens, dim]`` last-block output at the utterance tokens.
    layers : list of torch.Tensor or None
        Requested block outputs ``[batch, frames, dim]`` (tokens removed).
    logits : torch.Tensor or None
        ``[batch, labels]`` head output when the model has a head.
    """

    frames: torch.Tensor
    utterance: torch.Tensor
    frame_lens: torch.Tensor
    tokens: torch.Tensor
    layers: Optional[List[torch.Tensor]] = None
    logits: Optional[torch.Tensor] = None

    @property
    def padding_mask(self) -> torch.Tensor:
        """``[batch, frames]`` True at padded frames."""
        steps = torch.arange(self.frames.shape[1], device=self.frames.device)
        return steps.unsqueeze(0) >= self.frame_lens.unsqueeze(1)


def masked_mean(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean over the first ``lengths[b]`` steps of each ``x[b]``.

    Arguments
    ---------
    x : torch.Tensor
        ``[batch, steps, dim]``.
    lengths : torch.Tensor
        ``[batch]`` valid steps.

    Returns
    -------
    torch.Tensor
        ``[batch, dim]``.

    Example
    -------
    >>> x = torch.tensor([[[1.0], [3.0], [9.0]]])
    >>> masked_mean(x, torch.tensor([2])).tolist()
    [[2.0]]
    """
    steps = torch.arange(x.shape[1], device=x.device)
    valid = (steps.unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(-1)
    total = (x * valid.to(x.dtype)).sum(dim=1)
    return total / lengths.clamp(min=1).unsqueeze(-1).to(x.dtype)


class Emotion2vecModel(nn.Module):
    """emotion2vec: conv front-end + data2vec 2.0 style Transformer.

    Arguments
    ---------
    config : Emotion2vecConfig, optional
        The architecture. When omitted, keyword arguments are the config
        fields (so HyperPyYAML can build it with ``!new:``).
    **fields
        Config fields, when ``config`` is not given.

    Example
    -------
    >>> model = Emotion2vecModel(
    ...     embed_dim=32, num_heads=4, depth=2, prenet_depth=1,
    ...     feature_encoder_spec="[(16, 10, 5)] + [(16, 3, 2)] * 4"
    ...     " + [(16,2,2)] * 2", decoder_dim=16).eval()
    >>> out = model.extract_features(torch.randn(2, 16000),
    ...                              torch.tensor([1.0, 0.5]))
    >>> out.frames.shape, out.frame_lens.tolist(), out.utterance.shape
    (torch.Size([2, 49, 32]), [49, 24], torch.Size([2, 32]))
    """

    def __init__(self, config: Optional[Emotion2vecConfig] = None, **fields):
        super().__init__()
        if config is None:
            config = Emotion2vecConfig(**fields)
        elif fields:
            raise ValueError("pass either config or config fields, not both")
        self.config = config
        self.feature_extractor = ConvFeatureExtractor(
            config.conv_layers, config.extractor_mode
        )
        self.feature_projection = FeatureProjection(
            self.feature_extractor.out_channels, config.embed_dim
        )
        self.encoder = ContextEncoder(config)
        self.decoder = None
        if config.build_decoder:
            self.decoder = CNNDecoder(
                config.embed_dim, config.decoder_dim, config.decoder_kernel,
                config.decoder_groups, config.decoder_layers,
                config.decoder_residual,
            )
        self.head = None
        if config.num_labels > 0:
            self.head = nn.Linear(config.embed_dim, config.num_labels)

    @property
    def min_samples(self) -> int:
        """Shortest input that yields one frame (400 samples at 16 kHz)."""
        return self.config.receptive_field

    def check_input(
        self,
        wavs: torch.Tensor,
        wav_lens: Optional[torch.Tensor] = None,
        lengths: Optional[torch.Tensor] = None,
    ):
        """Validates a batch and gives the valid samples of each item.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` (or ``[samples]``) float waveforms at 16 kHz
            (``emotion2vec.audio.read_audio(path, SAMPLE_RATE)``).
        wav_lens : torch.Tensor, optional
            ``[batch]`` relative lengths in (0, 1] (SpeechBrain convention).
        lengths : torch.Tensor, optional
            ``[batch]`` valid samples (absolute), instead of ``wav_lens``.

        Returns
        -------
        wavs : torch.Tensor
            ``[batch, samples]``.
        lengths : torch.Tensor
            ``[batch]`` valid samples (int64).
        """
        if not torch.is_tensor(wavs):
            raise ValueError(f"wavs must be a torch.Tensor, got {type(wavs)}")
        if wavs.dim() == 1:
            wavs = wavs.unsqueeze(0)
        if wavs.dim() != 2:
            raise ValueError(
                f"wavs must be [batch, samples] (or [samples]), got shape "
                f"{tuple(wavs.shape)}; downmix multi-channel audio first"
            )
        if not wavs.is_floating_point():
            raise ValueError(f"wavs must be floating point, got {wavs.dtype}")
        B, N = wavs.shape
        if lengths is not None:
            if wav_lens is not None:
                raise ValueError("pass either wav_lens (relative) or lengths (samples), not both")
            lengths = torch.as_tensor(lengths, device=wavs.device)
            if lengths.shape != (B,) or lengths.is_floating_point():
                raise ValueError(
                    f"lengths must be [{B}] integer sample counts, got "
                    f"{tuple(lengths.shape)} {lengths.dtype}"
                )
            if ((lengths <= 0) | (lengths > N)).any():
                raise ValueError(f"lengths must be in [1, {N}], got {lengths.tolist()}")
            lengths = lengths.long()
        elif wav_lens is None:
            lengths = torch.full((B,), N, dtype=torch.long, device=wavs.device)
        else:
            wav_lens = torch.as_tensor(wav_lens, device=wavs.device)
            if wav_lens.shape != (B,):
                raise ValueError(
                    f"wav_lens must have shape [{B}], got {tuple(wav_lens.shape)}"
                )
            if ((wav_lens <= 0) | (wav_lens > 1 + 1e-6)).any():
                raise ValueError(
                    "wav_lens must be relative lengths in (0, 1], got "
                    f"{wav_lens.tolist()}"
                )
            lengths = torch.round(wav_lens.double() * N).long().clamp(max=N)
        valid = torch.arange(N, device=wavs.device) < lengths.unsqueeze(1)
        if not torch.isfinite(wavs[valid]).all():
            bad = (~torch.isfinite(wavs) & valid).any(dim=1).nonzero().flatten()
            raise ValueError(f"wavs contain NaN or Inf (batch items {bad.tolist()})")
        short = (lengths < self.min_samples).nonzero().flatten()
        if len(short):
            raise ValueError(
                f"input too short: items {short.tolist()} have "
                f"{lengths[short].tolist()} samples, need at least "
                f"{self.min_samples} (one frame)"
            )
        return wavs, lengths

    def normalize_waveforms(
        self, wavs: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        """Zero mean / unit variance per utterance over its valid samples.

        Matches the official ``layer_norm(x, x.shape)`` (biased variance,
        eps 1e-5) applied to each unpadded utterance; padding becomes zero.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]``.
        lengths : torch.Tensor
            ``[batch]`` valid samples.

        Returns
        -------
        torch.Tensor
            Normalised ``[batch, samples]`` float32.
        """
        valid = torch.arange(wavs.shape[1], device=wavs.device) < lengths.unsqueeze(1)
        wavs = wavs.float().masked_fill(~valid, 0.0)
        count = lengths.unsqueeze(1).float()
        mean = wavs.sum(1, keepdim=True) / count
        centred = (wavs - mean).masked_fill(~valid, 0.0)
        var = (centred**2).sum(1, keepdim=True) / count
        return centred * torch.rsqrt(var + 1e-5)

    def local_features(self, wavs: torch.Tensor, lengths: torch.Tensor):
        """Conv front-end + projection (what the teacher receives).

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` waveforms (normalised if the model expects
            it: see ``normalize_waveforms``).
        lengths : torch.Tensor
            ``[batch]`` valid samples.

        Returns
        -------
        features : torch.Tensor
            ``[batch, frames, dim]``.
        frame_lens : torch.Tensor
            ``[batch]`` valid frames.
        padding_mask : torch.Tensor or None
            ``[batch, frames]`` True at padded frames; None without padding.
        """
        x, frame_lens = self.feature_extractor(wavs, lengths)
        x = self.feature_projection(x)
        frame_lens = frame_lens.clamp(max=x.shape[1])
        padding_mask = None
        if (frame_lens < x.shape[1]).any():
            steps = torch.arange(x.shape[1], device=x.device)
            padding_mask = steps.unsqueeze(0) >= frame_lens.unsqueeze(1)
        return x, frame_lens, padding_mask

    def resolve_layers(self, layers: Union[None, str, int, Sequence[int]]):
        """Turns a ``layers`` request into block indices.

        Blocks are numbered prenet first: ``0 .. prenet_depth - 1`` are the
        prenet blocks, then the main blocks; ``-1`` is the last block
        (whose output is ``frames``).

        Arguments
        ---------
        layers : None, "all", int or sequence of int
            The request.

        Returns
        -------
        list of int or None
            Non-negative block indices.
        """
        if layers is None:
            return None
        n = self.config.num_blocks
        if isinstance(layers, str):
            if layers != "all":
                raise ValueError(f'layers must be "all" or indices, got {layers!r}')
            return list(range(n))
        if isinstance(layers, int):
            layers = [layers]
        detail = f": {self.config.prenet_depth} prenet + {self.config.depth} main"
        return resolve_blocks(layers, n, detail)

    def extract_features(
        self,
        wavs: torch.Tensor,
        wav_lens: Optional[torch.Tensor] = None,
        layers: Union[None, str, int, Sequence[int]] = None,
        normalize: Optional[bool] = None,
        lengths: Optional[torch.Tensor] = None,
    ) -> FeatureOutput:
        """Computes frame, utterance and (optionally) per-block features.

        The batch is run as given, in one forward: how files are grouped
        into batches (one at a time on CPU, padded batches on GPU) is the
        caller's choice (:func:`emotion2vec.audio.batching.batch_budget`).
        The model is padding-invariant: a padded batch gives each item the
        features it gets alone (up to float rounding).

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` 16 kHz float waveforms, right zero-padded.
        wav_lens : torch.Tensor, optional
            ``[batch]`` relative lengths (SpeechBrain convention).
        layers : None, "all", int or list of int
            Block outputs to return (see ``resolve_layers``).
        normalize : bool, optional
            Normalise each waveform; None = as the model expects
            (``config.normalize``). Pass False when the caller already
            normalised the whole utterance (windowed extraction).
        lengths : torch.Tensor, optional
            ``[batch]`` valid samples (absolute), instead of ``wav_lens``.

        Returns
        -------
        FeatureOutput
        """
        wavs, lengths = self.check_input(wavs, wav_lens, lengths)
        layer_ids = self.resolve_layers(layers)
        if normalize is None:
            normalize = self.config.normalize
        if normalize:
            wavs = self.normalize_waveforms(wavs, lengths)
        else:
            valid = torch.arange(wavs.shape[1], device=wavs.device) < lengths.unsqueeze(1)
            wavs = wavs.masked_fill(~valid, 0.0)
        x, frame_lens, padding_mask = self.local_features(wavs, lengths)
        enc = self.encoder(
            x, padding_mask, return_block_outputs=layer_ids is not None
        )
        E = enc.num_tokens
        keep = None
        if padding_mask is not None:
            keep = (~padding_mask).unsqueeze(-1).to(enc.hidden.dtype)

        def frames_of(h):
            h = h[:, E:]
            return h if keep is None else h * keep

        frames = frames_of(enc.hidden)
        utterance = masked_mean(frames, frame_lens)
        out = FeatureOutput(
            frames=frames,
            utterance=utterance,
            frame_lens=frame_lens,
            tokens=enc.hidden[:, :E],
        )
        if layer_ids is not None:
            out.layers = [frames_of(enc.block_outputs[i]) for i in layer_ids]
        if self.head is not None:
            out.logits = self.head(utterance)
        return out

    def forward(self, wavs: torch.Tensor, wav_lens: Optional[torch.Tensor] = None):
        """SpeechBrain lobe convention: ``[batch, frames, dim]`` features.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` waveforms.
        wav_lens : torch.Tensor, optional
            ``[batch]`` relative lengths.

        Returns
        -------
        torch.Tensor
            Frame features (padded frames zero).
        """
        return self.extract_features(wavs, wav_lens).frames


def count_frames(num_samples: int, config: Optional[Emotion2vecConfig] = None) -> int:
    """Number of frames the model produces for ``num_samples`` samples.

    Arguments
    ---------
    num_samples : int
        Waveform length.
    config : Emotion2vecConfig, optional
        Architecture (default: the released one).

    Returns
    -------
    int
        Frames (0 when the input is shorter than the receptive field).

    Example
    -------
    >>> count_frames(16000), count_frames(160000), count_frames(399)
    (49, 499, 0)
    """
    config = config or Emotion2vecConfig()
    length = num_samples
    for _, kernel, stride in config.conv_layers:
        length = math.floor((length - kernel) / stride) + 1
        if length <= 0:
            return 0
    return length
