"""Context encoder: positional conv, utterance tokens, ALiBi attention and
the post-LN Transformer blocks (prenet + main).

This is the part of emotion2vec that the pre-training teacher copies: it
consumes projected conv features ``[batch, frames, dim]`` and returns the
block outputs with the utterance tokens in front.

Padding never leaks: padded frames are zeroed before every positional conv
layer and masked out as attention keys, so each utterance of a zero-padded
batch gets exactly the result it would get alone.

Authors
 * emotion2vec-sb contributors
"""

import math
from dataclasses import dataclass
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import nn


def alibi_slopes(num_heads: int) -> torch.Tensor:
    """Per-head ALiBi slopes, as in the released data2vec 2.0 code.

    Arguments
    ---------
    num_heads : int
        Number of attention heads.

    Returns
    -------
    torch.Tensor
        ``[num_heads]`` positive slopes.

    Example
    -------
    >>> alibi_slopes(4).tolist()
    [0.25, 0.0625, 0.015625, 0.00390625]
    """

    def power_of_two_slopes(n):
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        return [start ** (i + 1) for i in range(n)]

    if math.log2(num_heads).is_integer():
        slopes = power_of_two_slopes(num_heads)
    else:
        closest = 2 ** math.floor(math.log2(num_heads))
        slopes = power_of_two_slopes(closest)
        slopes += power_of_two_slopes(2 * closest)[0::2][: num_heads - closest]
    return torch.tensor(slopes, dtype=torch.float32)


class PositionalConvEncoder(nn.Module):
    """Stack of grouped convolutions whose output is added to the features.

    Each layer: Conv1d (same padding) -> LayerNorm over channels without
    affine -> GELU. Padded frames are zeroed before every layer.

    Arguments
    ---------
    embed_dim : int
        Model width D.
    kernel_size : int
        Conv kernel (odd in all releases).
    groups : int
        Conv groups.
    depth : int
        Number of layers.

    Example
    -------
    >>> pos = PositionalConvEncoder(16, 5, 4, 2)
    >>> pos(torch.randn(2, 7, 16)).shape
    torch.Size([2, 7, 16])
    """

    def __init__(self, embed_dim: int, kernel_size: int, groups: int, depth: int):
        super().__init__()
        self.kernel_size = kernel_size
        self.layers = nn.ModuleList(
            nn.Conv1d(
                embed_dim, embed_dim, kernel_size, padding=kernel_size // 2,
                groups=groups,
            )
            for _ in range(depth)
        )

    def forward(
        self, x: torch.Tensor, padding_mask: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """Computes the positional signal.

        Arguments
        ---------
        x : torch.Tensor
            ``[batch, frames, dim]`` features.
        padding_mask : torch.Tensor, optional
            ``[batch, frames]`` True at padded frames.

        Returns
        -------
        torch.Tensor
            ``[batch, frames, dim]`` positional signal.
        """
        keep = None
        if padding_mask is not None and padding_mask.any():
            keep = (~padding_mask).unsqueeze(1).to(x.dtype)
        x = x.transpose(1, 2)
        for conv in self.layers:
            if keep is not None:
                x = x * keep
            x = conv(x)
            if self.kernel_size % 2 == 0:
                x = x[..., :-1]
            # a static width (not x.shape[1]) keeps the graph ONNX-exportable
            x = F.layer_norm(x.transpose(1, 2), (conv.out_channels,)).transpose(1, 2)
            x = F.gelu(x)
        return x.transpose(1, 2)


def biased_attention_fp32_logits(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor, dropout: float = 0.0
) -> torch.Tensor:
    """Attention in low precision with the bias added to float32 logits.

    The released code (fairseq AltAttention) computes ``q k^T`` in the
    autocast dtype, casts the logits to float32, adds the ALiBi bias there
    and takes the softmax in float32. SDPA would need the bias in the
    query's dtype: in bf16 a bias of -20 is off by up to 0.06 (8 mantissa
    bits), which moves attention weights by several per cent. So a bf16 or
    fp16 pass with a bias takes this path (not fused; fp32 keeps SDPA).

    Arguments
    ---------
    q, k, v : torch.Tensor
        ``[batch, heads, seq, head_dim]`` in the compute dtype.
    bias : torch.Tensor
        Additive bias broadcastable to ``[batch, heads, seq, seq]`` (float32).
    dropout : float
        Dropout on the attention probabilities.

    Returns
    -------
    torch.Tensor
        ``[batch, heads, seq, head_dim]`` in the dtype of ``q``.

    Example
    -------
    >>> q = k = v = torch.randn(1, 2, 5, 4)
    >>> bias = -torch.arange(5.0).abs().expand(1, 2, 5, 5)
    >>> ref = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    >>> torch.allclose(biased_attention_fp32_logits(q, k, v, bias), ref, atol=1e-6)
    True
    """
    logits = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)
    probs = (logits.float() + bias.float()).softmax(dim=-1).to(q.dtype)
    if dropout > 0:
        probs = F.dropout(probs, p=dropout)
    return probs @ v


class AlibiAttention(nn.Module):
    """Multi-head self-attention with fused qkv and an additive bias.

    Arguments
    ---------
    embed_dim : int
        Model width D.
    num_heads : int
        Number of heads.
    attention_dropout : float
        Dropout on attention probabilities (training only).
    output_dropout : float
        Dropout after the output projection.

    Example
    -------
    >>> attn = AlibiAttention(16, 4)
    >>> attn(torch.randn(2, 6, 16)).shape
    torch.Size([2, 6, 16])
    """

    def __init__(self, embed_dim, num_heads, attention_dropout=0.0, output_dropout=0.0):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(embed_dim, 3 * embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        self.attention_dropout = attention_dropout
        self.output_dropout = nn.Dropout(output_dropout)

    def forward(
        self, x: torch.Tensor, attn_bias: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """Attends.

        Arguments
        ---------
        x : torch.Tensor
            ``[batch, seq, dim]`` input.
        attn_bias : torch.Tensor, optional
            Additive bias broadcastable to ``[batch, heads, seq, seq]``,
            with ``-inf`` at padded keys.

        Returns
        -------
        torch.Tensor
            ``[batch, seq, dim]``.
        """
        B, S, D = x.shape
        qkv = self.qkv(x).view(B, S, 3, self.num_heads, D // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        dropout = self.attention_dropout if self.training else 0.0
        if attn_bias is not None and q.dtype in (torch.float16, torch.bfloat16):
            y = biased_attention_fp32_logits(q, k, v, attn_bias, dropout)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_bias, dropout_p=dropout)
        y = y.transpose(1, 2).reshape(B, S, D)
        return self.output_dropout(self.out_proj(y))


class FeedForward(nn.Module):
    """Position-wise FFN: Linear -> GELU -> dropout -> Linear -> dropout.

    Arguments
    ---------
    embed_dim : int
        Model width.
    ffn_dim : int
        Inner width.
    dropout : float
        Dropout after the activation and after the second Linear.

    Example
    -------
    >>> FeedForward(16, 64)(torch.randn(2, 3, 16)).shape
    torch.Size([2, 3, 16])
    """

    def __init__(self, embed_dim: int, ffn_dim: int, dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(embed_dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, embed_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Applies the FFN to ``x`` [..., dim]."""
        return self.dropout(self.fc2(self.dropout(F.gelu(self.fc1(x)))))


class TransformerBlock(nn.Module):
    """Post-LN block: ``u = LN1(x + attn(x))``, ``out = LN2(u + ffn(u))``.

    Arguments
    ---------
    embed_dim : int
        Model width.
    num_heads : int
        Attention heads.
    ffn_dim : int
        FFN inner width.
    norm_eps : float
        LayerNorm epsilon.
    attention_dropout, encoder_dropout, activation_dropout, post_mlp_drop : float
        Dropouts (training only).

    Example
    -------
    >>> block = TransformerBlock(16, 4, 64)
    >>> out, ffn = block(torch.randn(2, 5, 16))
    >>> out.shape, ffn.shape
    (torch.Size([2, 5, 16]), torch.Size([2, 5, 16]))
    """

    def __init__(
        self, embed_dim, num_heads, ffn_dim, norm_eps=1e-5,
        attention_dropout=0.0, encoder_dropout=0.0, activation_dropout=0.0,
        post_mlp_drop=0.0,
    ):
        super().__init__()
        self.attention = AlibiAttention(
            embed_dim, num_heads, attention_dropout, encoder_dropout
        )
        self.attention_norm = nn.LayerNorm(embed_dim, eps=norm_eps)
        self.ffn = FeedForward(embed_dim, ffn_dim, activation_dropout)
        self.ffn_norm = nn.LayerNorm(embed_dim, eps=norm_eps)
        self.post_ffn_dropout = nn.Dropout(post_mlp_drop)

    def forward(self, x, attn_bias=None):
        """Runs the block.

        Arguments
        ---------
        x : torch.Tensor
            ``[batch, seq, dim]`` input.
        attn_bias : torch.Tensor, optional
            Additive attention bias (see ``AlibiAttention``).

        Returns
        -------
        out : torch.Tensor
            Block output (hidden state).
        ffn_out : torch.Tensor
            FFN output before dropout, residual and norm: the data2vec
            target source.
        """
        u = self.attention_norm(x + self.attention(x, attn_bias))
        ffn_out = self.ffn(u)
        out = self.ffn_norm(u + self.post_ffn_dropout(ffn_out))
        return out, ffn_out


@dataclass
class EncoderOutput:
    """What ``ContextEncoder`` returns.

    Arguments
    ---------
    hidden : torch.Tensor
        ``[batch, tokens + seq, dim]`` output of the last block.
    block_outputs : list of torch.Tensor
        Every block's output (prenet first), tokens included, if requested.
    ffn_outputs : list of torch.Tensor
        Every main block's FFN output, tokens included, if requested.
    num_tokens : int
        Number of utterance tokens in front of the frames.
    """

    hidden: torch.Tensor
    block_outputs: Optional[List[torch.Tensor]]
    ffn_outputs: Optional[List[torch.Tensor]]
    num_tokens: int


class ContextEncoder(nn.Module):
    """Positional conv + utterance tokens + prenet + main blocks.

    Arguments
    ---------
    config : Emotion2vecConfig
        The architecture.

    Example
    -------
    >>> from emotion2vec.model.config import Emotion2vecConfig
    >>> cfg = Emotion2vecConfig(embed_dim=32, num_heads=4, depth=2,
    ...                         prenet_depth=1)
    >>> enc = ContextEncoder(cfg).eval()
    >>> out = enc(torch.randn(2, 9, 32))
    >>> out.hidden.shape
    torch.Size([2, 19, 32])
    """

    def __init__(self, config):
        super().__init__()
        if config.conv_pos_pre_ln:
            raise ValueError(
                "conv_pos_pre_ln=True is not used by any released "
                "emotion2vec model and is not supported"
            )
        D = config.embed_dim
        self.num_heads = config.num_heads
        self.num_tokens = config.num_extra_tokens
        self.layerdrop = config.layerdrop
        self.prenet_layerdrop = config.prenet_layerdrop
        self.positional_conv = PositionalConvEncoder(
            D, config.conv_pos_kernel, config.conv_pos_groups,
            config.conv_pos_depth,
        )
        tokens = torch.zeros(1, self.num_tokens, D)
        if self.num_tokens > 1:
            tokens[:, 1:].normal_()
        self.utterance_tokens = nn.Parameter(tokens)
        self.alibi_scale = nn.Parameter(torch.ones(1, 1, config.num_heads, 1, 1))
        self.register_buffer(
            "alibi_slopes", alibi_slopes(config.num_heads), persistent=False
        )
        self.input_norm = nn.LayerNorm(D, eps=config.norm_eps)
        self.prenet_dropout = nn.Dropout(config.prenet_dropout)
        self.main_dropout = nn.Dropout(config.dropout_input)

        def block():
            return TransformerBlock(
                D, config.num_heads, config.ffn_dim, config.norm_eps,
                config.attention_dropout, config.encoder_dropout,
                config.activation_dropout, config.post_mlp_drop,
            )

        self.prenet = nn.ModuleList(block() for _ in range(config.prenet_depth))
        self.blocks = nn.ModuleList(block() for _ in range(config.depth))

    def attention_bias(
        self,
        positions: torch.Tensor,
        padding_mask: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Builds the ALiBi bias with zero rows/columns for the tokens.

        Arguments
        ---------
        positions : torch.Tensor
            ``[batch or 1, seq]`` original time index of each frame.
        padding_mask : torch.Tensor, optional
            ``[batch, seq]`` True at padded frames (become ``-inf`` keys).

        Returns
        -------
        torch.Tensor
            ``[batch or 1, heads, tokens + seq, tokens + seq]`` float32.
        """
        pos = positions.float()
        distance = (pos.unsqueeze(-1) - pos.unsqueeze(-2)).abs()
        scale = self.alibi_scale.float().clamp(min=0).view(1, -1, 1, 1)
        slopes = self.alibi_slopes.view(1, -1, 1, 1)
        bias = -(slopes * scale) * distance.unsqueeze(1)
        E = self.num_tokens
        bias = F.pad(bias, (E, 0, E, 0))
        if padding_mask is not None and padding_mask.any():
            key_pad = F.pad(padding_mask, (E, 0), value=False)
            bias = bias.masked_fill(key_pad[:, None, None, :], float("-inf"))
        return bias

    def embed(
        self,
        x: torch.Tensor,
        padding_mask: Optional[torch.Tensor] = None,
        frame_mask: Optional[torch.Tensor] = None,
        keep_index: Optional[torch.Tensor] = None,
    ):
        """Adds positions, keeps the selected frames and prepends the tokens.

        Arguments
        ---------
        x : torch.Tensor
            ``[batch, frames, dim]`` projected conv features.
        padding_mask : torch.Tensor, optional
            ``[batch, frames]`` True at padded frames.
        frame_mask : torch.Tensor, optional
            ``[batch, frames]`` True at masked (pre-training) frames: they are
            zeroed in the positional conv's input.
        keep_index : torch.Tensor, optional
            ``[batch, kept]`` time indices to keep (MAE-style student).

        Returns
        -------
        x : torch.Tensor
            ``[batch, tokens + kept, dim]``.
        attn_bias : torch.Tensor
            Matching attention bias.
        """
        # the positional conv sees masked frames as zeros; the frames
        # themselves keep their features (a masked frame that a row keeps
        # enters the student unmasked, as in the released code)
        pos_input = x
        if frame_mask is not None:
            pos_input = x.masked_fill(frame_mask.unsqueeze(-1), 0.0)
        x = x + self.positional_conv(pos_input, padding_mask)
        B, T, D = x.shape
        if keep_index is None:
            positions = torch.arange(T, device=x.device).unsqueeze(0)
        else:
            positions = keep_index
            x = torch.gather(x, 1, keep_index.unsqueeze(-1).expand(-1, -1, D))
            if padding_mask is not None:
                padding_mask = torch.gather(padding_mask, 1, keep_index)
        bias = self.attention_bias(positions, padding_mask)
        tokens = self.utterance_tokens.to(x.dtype).expand(B, -1, -1)
        return torch.cat([tokens, x], dim=1), bias

    def _run_blocks(self, blocks, x, bias, layerdrop, block_outputs, ffn_outputs):
        for block in blocks:
            if self.training and layerdrop > 0 and torch.rand(()) < layerdrop:
                continue
            x, ffn = block(x, bias)
            if block_outputs is not None:
                block_outputs.append(x)
            if ffn_outputs is not None:
                ffn_outputs.append(ffn)
        return x

    def forward(
        self,
        x: torch.Tensor,
        padding_mask: Optional[torch.Tensor] = None,
        frame_mask: Optional[torch.Tensor] = None,
        keep_index: Optional[torch.Tensor] = None,
        return_block_outputs: bool = False,
        return_ffn_outputs: bool = False,
    ) -> EncoderOutput:
        """Encodes projected features.

        Arguments
        ---------
        x : torch.Tensor
            ``[batch, frames, dim]`` projected conv features.
        padding_mask : torch.Tensor, optional
            ``[batch, frames]`` True at padded frames.
        frame_mask : torch.Tensor, optional
            ``[batch, frames]`` True at masked frames (zeroed before the
            positional conv), used by the pre-training student.
        keep_index : torch.Tensor, optional
            ``[batch, kept]`` time indices of the frames the student sees.
        return_block_outputs : bool
            Keep every block's output (prenet then main).
        return_ffn_outputs : bool
            Keep every main block's FFN output (teacher targets).

        Returns
        -------
        EncoderOutput
        """
        x, bias = self.embed(x, padding_mask, frame_mask, keep_index)
        block_outputs = [] if return_block_outputs else None
        ffn_outputs = [] if return_ffn_outputs else None
        x = self.prenet_dropout(self.input_norm(x))
        x = self._run_blocks(
            self.prenet, x, bias, self.prenet_layerdrop, block_outputs, None
        )
        x = self.main_dropout(x)
        x = self._run_blocks(
            self.blocks, x, bias, self.layerdrop, block_outputs, ffn_outputs
        )
        return EncoderOutput(x, block_outputs, ffn_outputs, self.num_tokens)
