"""emotion2vec: universal speech emotion representation, as a SpeechBrain
recipe collection.

Quick use::

    from emotion2vec import load_model
    model = load_model("path/to/model_folder")
    out = model.extract_features(wavs, wav_lens)   # frames, utterance, ...
"""

from emotion2vec.model import Emotion2vecConfig, Emotion2vecModel, FeatureOutput
from emotion2vec.model_folder import load_model

__version__ = "0.1.0"
__all__ = [
    "Emotion2vecConfig",
    "Emotion2vecModel",
    "FeatureOutput",
    "load_model",
]
