"""emotion2vec model lobe: config, modules and the composed model."""

from emotion2vec.model.config import Emotion2vecConfig
from emotion2vec.model.emotion2vec import (
    Emotion2vecModel,
    FeatureOutput,
    count_frames,
    masked_mean,
)

__all__ = [
    "Emotion2vecConfig",
    "Emotion2vecModel",
    "FeatureOutput",
    "count_frames",
    "masked_mean",
]
