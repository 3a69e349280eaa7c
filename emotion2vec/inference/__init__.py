"""Inference: classify and extract with a model folder, export to ONNX.

- :mod:`emotion2vec.inference.classifier`: ``Emotion2vecClassifier``, the
  SpeechBrain ``Pretrained`` interface (``classify_*``, ``encode_*``,
  downstream heads, long audio in windows);
- :mod:`emotion2vec.inference.classify`: ``emotion2vec classify`` (files ->
  one label each);
- :mod:`emotion2vec.inference.extract`: ``emotion2vec extract`` (files ->
  ``.npy`` features, windowed for long audio);
- :mod:`emotion2vec.inference.onnx`: ``emotion2vec export-onnx``.

How files are grouped into batches (one at a time on a CPU, padded
batches on an accelerator) is decided here, with the helpers of
:mod:`emotion2vec.audio.batching`; the model runs the batch it is given.
This package never imports :mod:`emotion2vec.downstream` or
:mod:`emotion2vec.pretrain`.

Authors
 * emotion2vec-sb contributors
"""

import importlib

#: Public name -> the submodule that defines it. Imported on first use, so
#: that ``emotion2vec extract`` does not pay for SpeechBrain's interfaces.
_HOMES = {
    "Classification": "classifier",
    "Emotion2vecClassifier": "classifier",
    "Segment": "classifier",
    "WindowedClassification": "classifier",
    "feature_layers": "classifier",
    "head_inputs": "classifier",
    "load_downstream_head": "classifier",
    "ClassifyReport": "classify",
    "FileResult": "classify",
    "classify_files": "classify",
    "ExtractReport": "extract",
    "encode_long": "extract",
    "extract_files": "extract",
    "OnnxEncoder": "onnx",
    "export_onnx": "onnx",
    "verify_onnx": "onnx",
}

__all__ = sorted(_HOMES)


def __getattr__(name):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_HOMES))
