"""emotion2vec model lobe: config, modules, the composed model, feature options and heads."""

from emotion2vec.model.blocks import resolve_blocks
from emotion2vec.model.config import Emotion2vecConfig
from emotion2vec.model.emotion2vec import (
    Emotion2vecModel,
    FeatureOutput,
    count_frames,
    masked_mean,
)
from emotion2vec.model.featurize import FeatureOption
from emotion2vec.model.heads import build_head, head_spec

__all__ = [
    "Emotion2vecConfig",
    "Emotion2vecModel",
    "FeatureOption",
    "FeatureOutput",
    "build_head",
    "head_spec",
    "count_frames",
    "masked_mean",
    "resolve_blocks",
]
