"""CNN decoder of pre-training (data2vec 2.0 ``Decoder1d``).

It predicts the teacher targets at every frame from the student output
scattered back to full length (noise at masked positions).

Authors
 * emotion2vec-sb contributors
"""

import torch
import torch.nn.functional as F
from torch import nn


class CNNDecoder(nn.Module):
    """Grouped Conv1d -> LayerNorm (no affine) -> GELU layers, with residual
    connections between layers of equal width, then a linear projection.

    Arguments
    ---------
    embed_dim : int
        Model width D (input and output).
    decoder_dim : int
        Width of the conv layers.
    kernel_size : int
        Conv kernel (same padding).
    groups : int
        Conv groups.
    num_layers : int
        Number of conv layers.
    residual : bool
        Add residual connections where widths match.

    Example
    -------
    >>> dec = CNNDecoder(32, 16, 7, 16, 4)
    >>> dec(torch.randn(2, 11, 32)).shape
    torch.Size([2, 11, 32])
    """

    def __init__(self, embed_dim, decoder_dim, kernel_size, groups, num_layers, residual=True):
        super().__init__()
        self.kernel_size = kernel_size
        self.residual = residual
        self.layers = nn.ModuleList(
            nn.Conv1d(
                embed_dim if i == 0 else decoder_dim, decoder_dim, kernel_size,
                padding=kernel_size // 2, groups=groups,
            )
            for i in range(num_layers)
        )
        self.proj = nn.Linear(decoder_dim, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Decodes ``[batch, frames, dim]`` into ``[batch, frames, dim]``."""
        x = x.transpose(1, 2)
        residual = x
        for conv in self.layers:
            x = conv(x)
            if self.kernel_size % 2 == 0:
                x = x[..., :-1]
            x = F.layer_norm(x.transpose(1, 2), (x.shape[1],)).transpose(1, 2)
            x = F.gelu(x)
            if self.residual and residual.shape[1] == x.shape[1]:
                x = x + residual
            residual = x
        return self.proj(x.transpose(1, 2))
