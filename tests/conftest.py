"""Shared pytest fixtures: tiny models made on the fly, never downloaded."""

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TINY_SPEC = "[(16, 10, 5)] + [(16, 3, 2)] * 4 + [(16,2,2)] + [(16,2,2)]"


def tiny_config(**overrides):
    """A very small emotion2vec architecture (fast on CPU)."""
    from emotion2vec.model import Emotion2vecConfig

    fields = dict(
        embed_dim=32, num_heads=4, depth=2, prenet_depth=1, decoder_dim=16,
        feature_encoder_spec=TINY_SPEC, layerdrop=0.0, prenet_layerdrop=0.0,
    )
    fields.update(overrides)
    return Emotion2vecConfig(**fields)


@pytest.fixture
def tiny_model():
    """A seeded tiny model in eval mode with non-trivial ALiBi scales."""
    from emotion2vec.model import Emotion2vecModel

    torch.manual_seed(0)
    model = Emotion2vecModel(tiny_config(num_labels=3)).eval()
    with torch.no_grad():
        model.encoder.alibi_scale.copy_(torch.tensor([1.2, -0.1, 0.5, 0.9]).view(1, 1, 4, 1, 1))
    return model
