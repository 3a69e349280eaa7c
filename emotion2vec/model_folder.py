"""The self-contained emotion2vec model folder.

What ``emotion2vec convert`` and the training recipes write, and what
``load_model`` and SpeechBrain's ``from_hparams(source=DIR)`` read, with no
network access::

    DIR/
      config.json         architecture (Emotion2vecConfig fields)
      model.ckpt          state dict under our parameter names
      hyperparams.yaml    SpeechBrain inference hparams (model, modules,
                          label_encoder, pretrainer without remote paths)
      label_encoder.ckpt  CategoricalEncoder file (only with a head)
      source.json         provenance: what the folder was made from

and, for a classifier exported from a downstream run
(``emotion2vec export``, :func:`load_downstream_head`)::

      downstream.json               head spec: "feature", "labels", builder fields
      downstream_head.ckpt          head state dict
      downstream_label_encoder.txt  the head labels as a CategoricalEncoder

This module is the one home of these file names and of reading them.

A model folder is data. ``load_model``, ``Emotion2vecClassifier``,
``emotion2vec extract / classify / export-onnx`` and the downstream
upstream read ``config.json`` (JSON), ``model.ckpt`` (tensors only, see
:mod:`emotion2vec.safe_load`) and ``label_encoder.ckpt`` (Python literals,
parsed, never executed), and check them against each other before any
weight is allocated: a damaged file is a :class:`ModelFolderError` naming
it. They never read ``hyperparams.yaml``: it is HyperPyYAML, whose
``!new:`` / ``!name:`` / ``!apply:`` tags call any Python callable they
name when SpeechBrain's ``Pretrained.from_hparams`` or
``load_hyperpyyaml`` loads it. It is written for SpeechBrain users; load
a folder that way only if you trust who made it.

Authors
 * emotion2vec-sb contributors
"""

import dataclasses
import json
import typing
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import torch
import yaml

from emotion2vec.fileutils import check_replaceable, staged_folder
from emotion2vec.model import Emotion2vecConfig, Emotion2vecModel
from emotion2vec.model.featurize import FeatureOption
from emotion2vec.model.heads import build_head
from emotion2vec.safe_load import (
    CheckpointError,
    check_regular_file,
    load_state_dict_file,
    one_line,
    read_json_object,
    state_dict_mismatch,
)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.ckpt"
HPARAMS_FILE = "hyperparams.yaml"
LABELS_FILE = "label_encoder.ckpt"
SOURCE_FILE = "source.json"
#: Files a downstream export adds (``emotion2vec export``).
DOWNSTREAM_SPEC_FILE = "downstream.json"
DOWNSTREAM_HEAD_FILE = "downstream_head.ckpt"
DOWNSTREAM_LABELS_FILE = "downstream_label_encoder.txt"
DOWNSTREAM_FILES = (DOWNSTREAM_SPEC_FILE, DOWNSTREAM_HEAD_FILE, DOWNSTREAM_LABELS_FILE)
#: Every file a model folder (or a classifier export) may hold.
FOLDER_FILES = (CONFIG_FILE, WEIGHTS_FILE, HPARAMS_FILE, LABELS_FILE, SOURCE_FILE) + DOWNSTREAM_FILES


class ModelFolderError(CheckpointError):
    """A model folder that is missing, incomplete, damaged or inconsistent;
    the one-line message names the file and the problem."""


def english_label(label: str) -> str:
    """Plain English name of an official label (``"生气/angry"`` -> ``angry``).

    Arguments
    ---------
    label : str
        Official or plain label.

    Returns
    -------
    str

    Example
    -------
    >>> english_label("生气/angry"), english_label("<unk>"), english_label("sad")
    ('angry', 'unknown', 'sad')
    """
    if label == "<unk>":
        return "unknown"
    return label.split("/")[-1]


def _hparams_yaml(config: Emotion2vecConfig, has_labels: bool) -> str:
    fields = config.to_dict()
    body = yaml.safe_dump(fields, sort_keys=False, allow_unicode=True)
    indented = "".join("    " + line + "\n" for line in body.splitlines())
    text = (
        "# Inference hyperparameters of an emotion2vec model folder.\n"
        "# Load with emotion2vec.load_model(DIR) or SpeechBrain's\n"
        "# from_hparams(source=DIR); no network access is needed.\n\n"
        "model: !new:emotion2vec.model.Emotion2vecModel\n"
        "    config: !new:emotion2vec.model.Emotion2vecConfig\n"
        + "\n".join("    " + line for line in indented.splitlines())
        + "\n\nmodules:\n    model: !ref <model>\n\n"
    )
    loadables = "    loadables:\n        model: !ref <model>\n"
    if has_labels:
        text += "label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder\n\n"
        loadables += "        label_encoder: !ref <label_encoder>\n"
    text += (
        "pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer\n"
        + loadables
    )
    return text


def write_label_encoder(path: Path, labels: List[str]):
    """Writes labels in SpeechBrain's CategoricalEncoder format, fixed order.

    Arguments
    ---------
    path : Path
        Output file.
    labels : list of str
        Labels, index order.
    """
    from speechbrain.dataio.encoder import CategoricalEncoder

    encoder = CategoricalEncoder()
    encoder.update_from_iterable(labels)
    encoder.expect_len(len(labels))
    encoder.save(path)


def read_label_encoder(path: Path) -> List[str]:
    """Reads a CategoricalEncoder file into the index-ordered label list.

    Arguments
    ---------
    path : Path
        File written by ``write_label_encoder``.

    Returns
    -------
    list of str
    """
    from speechbrain.dataio.encoder import CategoricalEncoder

    path = Path(path)
    try:
        check_regular_file(path)
    except CheckpointError as error:
        raise ModelFolderError(str(error)) from None
    encoder = CategoricalEncoder()
    try:
        encoder.load(path)  # SpeechBrain parses Python literals (ast.literal_eval)
        encoder.expect_len(len(encoder))
        labels = [encoder.ind2lab[i] for i in range(len(encoder))]
    except Exception as error:  # any parse failure of an untrusted text file
        raise ModelFolderError(
            f"{path}: not a label encoder file ({one_line(error)})"
        ) from None
    if not labels or not all(isinstance(label, str) for label in labels):
        raise ModelFolderError(f"{path}: not a label encoder file (expected string labels 0..N-1)")
    return labels


def save_model_folder(
    out_dir: Union[str, Path],
    config: Emotion2vecConfig,
    state_dict: Dict[str, torch.Tensor],
    labels: Optional[List[str]] = None,
    source: Optional[Dict] = None,
    overwrite: bool = False,
) -> Path:
    """Writes a self-contained model folder.

    The folder is assembled in a temporary sibling and moved into place, so
    an interrupted write never leaves a half folder behind. An existing
    folder is replaced only with ``overwrite=True`` and only if it holds
    nothing but model-folder files.

    Arguments
    ---------
    out_dir : str or Path
        Destination folder.
    config : Emotion2vecConfig
        Architecture.
    state_dict : dict
        Weights under our names (checked against ``config``).
    labels : list of str, optional
        Head labels (index order).
    source : dict, optional
        Provenance written to ``source.json``.
    overwrite : bool
        Replace an existing model folder.

    Returns
    -------
    Path
        ``out_dir``.
    """
    out_dir = Path(out_dir)
    check_replaceable(out_dir, overwrite, FOLDER_FILES, ModelFolderError)
    model = Emotion2vecModel(config)
    model.load_state_dict(state_dict, strict=True)
    labels = list(labels or [])
    if config.num_labels and len(labels) != config.num_labels:
        raise ModelFolderError(
            f"head has {config.num_labels} outputs but {len(labels)} labels were given"
        )
    with staged_folder(out_dir) as tmp:
        (tmp / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2) + "\n")
        torch.save(model.state_dict(), tmp / WEIGHTS_FILE)
        (tmp / HPARAMS_FILE).write_text(_hparams_yaml(config, bool(labels)), encoding="utf-8")
        if labels:
            write_label_encoder(tmp / LABELS_FILE, labels)
        (tmp / SOURCE_FILE).write_text(
            json.dumps(source or {}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    return out_dir


def _field_types() -> Dict[str, tuple]:
    hints = typing.get_type_hints(Emotion2vecConfig)
    accepted = {int: (int,), float: (int, float), bool: (bool,), str: (str,)}
    return {
        f.name: accepted.get(hints[f.name], (dict,)) for f in dataclasses.fields(Emotion2vecConfig)
    }


def parse_config(values, source) -> Emotion2vecConfig:
    """Validates the fields of a ``config.json`` and builds the config.

    Arguments
    ---------
    values : object
        The parsed JSON.
    source : str or Path
        The file, for error messages.

    Returns
    -------
    Emotion2vecConfig

    Example
    -------
    >>> parse_config({"embed_dim": "32"}, "config.json")
    Traceback (most recent call last):
    ...
    emotion2vec.model_folder.ModelFolderError: config.json: invalid config (embed_dim must be int, got str '32')
    """
    if not isinstance(values, dict):
        raise ModelFolderError(
            f"{source}: invalid config (expected a JSON object, got {type(values).__name__})"
        )
    types = _field_types()
    unknown = sorted(str(k) for k in values if k not in types)
    if unknown:
        raise ModelFolderError(f"{source}: invalid config (unknown fields: {', '.join(unknown)})")
    for name, value in values.items():
        ok = isinstance(value, types[name]) and not (
            isinstance(value, bool) and bool not in types[name]
        )
        if not ok:
            raise ModelFolderError(
                f"{source}: invalid config ({name} must be {types[name][-1].__name__}, "
                f"got {type(value).__name__} {value!r:.40})"
            )
    try:
        return Emotion2vecConfig.from_dict(values)
    except (TypeError, ValueError, SyntaxError, ZeroDivisionError, RecursionError) as error:
        raise ModelFolderError(f"{source}: invalid config ({one_line(error)})") from None


def read_folder_json(path: Union[str, Path]) -> Dict:
    """Reads a JSON object file of a folder as data.

    Arguments
    ---------
    path : str or Path
        The file.

    Returns
    -------
    dict

    Raises
    ------
    ModelFolderError
        Missing, not a regular file, empty, not JSON or not an object.
    """
    try:
        return read_json_object(path)
    except CheckpointError as error:
        raise ModelFolderError(str(error)) from None


def read_config(model_dir: Union[str, Path]) -> Emotion2vecConfig:
    """Reads the architecture of a model folder.

    Arguments
    ---------
    model_dir : str or Path
        Model folder.

    Returns
    -------
    Emotion2vecConfig
    """
    path = Path(model_dir) / CONFIG_FILE
    if not path.exists():
        raise ModelFolderError(
            f"{model_dir}: not an emotion2vec model folder (no {CONFIG_FILE}); "
            "make one with `emotion2vec convert SRC OUT_DIR`"
        )
    return parse_config(read_folder_json(path), path)


def read_weights(path: Union[str, Path]) -> Dict[str, torch.Tensor]:
    """Reads a ``model.ckpt``-style state dict safely (tensors only).

    Arguments
    ---------
    path : str or Path
        The weights file.

    Returns
    -------
    dict
    """
    path = Path(path)
    if not path.exists():
        raise ModelFolderError(f"{path.parent}: missing {path.name}")
    try:
        return load_state_dict_file(path)
    except CheckpointError as error:
        raise ModelFolderError(str(error)) from None


def read_checked_weights(
    path: Union[str, Path], shapes: Dict[str, torch.Size], against: Union[str, Path]
) -> Dict[str, torch.Tensor]:
    """Reads a state dict and checks it against the shapes its spec describes.

    Arguments
    ---------
    path : str or Path
        The weights file.
    shapes : dict
        Name -> shape of the module the spec builds (see :func:`expected_shapes`).
    against : str or Path
        The spec file, for the message.

    Returns
    -------
    dict
        The weights.

    Raises
    ------
    ModelFolderError
        Unreadable weights, or missing / unexpected / mis-shaped keys.
    """
    state = read_weights(path)
    problems = state_dict_mismatch(shapes, state)
    if problems:
        raise ModelFolderError(
            f"{path}: does not match {Path(against).name}: " + "; ".join(problems)
        )
    return state


def expected_shapes(config: Emotion2vecConfig, source) -> Dict[str, torch.Size]:
    """Parameter shapes of the model ``config`` describes (nothing allocated).

    Arguments
    ---------
    config : Emotion2vecConfig
        Architecture.
    source : str or Path
        Where the config came from, for error messages.

    Returns
    -------
    dict
        Name -> shape.
    """
    try:
        with torch.device("meta"):
            model = Emotion2vecModel(config)
    except (TypeError, ValueError, RuntimeError, ZeroDivisionError, OverflowError) as error:
        raise ModelFolderError(f"{source}: cannot build this architecture ({one_line(error)})") from None
    return {k: v.shape for k, v in model.state_dict().items()}


def read_model_folder(
    model_dir: Union[str, Path]
) -> Tuple[Emotion2vecConfig, Dict[str, torch.Tensor], List[str]]:
    """Reads and cross-checks a model folder without running anything in it.

    ``config.json``, ``model.ckpt`` and ``label_encoder.ckpt`` are parsed
    as data and checked against each other (keys, shapes, label count);
    ``hyperparams.yaml`` is not read.

    Arguments
    ---------
    model_dir : str or Path
        Folder written by ``emotion2vec convert`` or a recipe export.

    Returns
    -------
    config : Emotion2vecConfig
    state_dict : dict
        The weights (CPU).
    labels : list of str
        Head labels (empty without head).
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelFolderError(f"{model_dir}: no such model folder")
    config = read_config(model_dir)
    config_path = model_dir / CONFIG_FILE
    state = read_checked_weights(
        model_dir / WEIGHTS_FILE, expected_shapes(config, config_path), config_path
    )
    labels_path = model_dir / LABELS_FILE
    labels = read_label_encoder(labels_path) if labels_path.exists() else []
    if config.num_labels and labels and len(labels) != config.num_labels:
        raise ModelFolderError(
            f"{labels_path}: {len(labels)} labels but the head in {CONFIG_FILE} "
            f"has {config.num_labels} outputs"
        )
    return config, state, labels


def load_model(
    model_dir: Union[str, Path], device: Union[str, torch.device] = "cpu"
) -> Emotion2vecModel:
    """Loads a model folder, in eval mode, on ``device``.

    The returned model carries ``labels`` (head labels, empty without head)
    and ``model_dir``. Nothing in the folder is executed (see the module
    docstring); a damaged or inconsistent file is a ``ModelFolderError``.

    Arguments
    ---------
    model_dir : str or Path
        Folder written by ``emotion2vec convert`` or a recipe export.
    device : str or torch.device
        Where to put the model.

    Returns
    -------
    Emotion2vecModel
    """
    config, state, labels = read_model_folder(model_dir)
    model = Emotion2vecModel(config)
    model.load_state_dict(state, strict=True)
    model.labels = labels
    model.model_dir = Path(model_dir)
    return model.to(device).eval()


def load_downstream_head(model_dir: Union[str, Path]) -> Optional[Tuple[torch.nn.Module, Dict]]:
    """Loads a folder's downstream head, if it has one (checked before any
    weight is allocated, like the rest of the folder).

    Arguments
    ---------
    model_dir : str or Path
        Model folder.

    Returns
    -------
    (torch.nn.Module, dict) or None
        The head (eval mode, CPU) and the parsed ``downstream.json`` (with
        ``feature`` and ``labels`` filled in); None when the folder has no
        ``downstream.json``.
    """
    model_dir = Path(model_dir)
    spec_path = model_dir / DOWNSTREAM_SPEC_FILE
    weights = model_dir / DOWNSTREAM_HEAD_FILE
    if not spec_path.exists():
        if weights.exists():
            raise ModelFolderError(
                f"{model_dir}: has {DOWNSTREAM_HEAD_FILE} but no {DOWNSTREAM_SPEC_FILE}"
            )
        return None
    spec = read_folder_json(spec_path)
    spec.setdefault("feature", "frm")
    try:
        FeatureOption.parse(spec["feature"])
    except (TypeError, ValueError, AttributeError) as error:
        raise ModelFolderError(f"{spec_path}: {' '.join(str(error).split())}") from None
    if "labels" not in spec:
        labels_path = model_dir / LABELS_FILE
        if not labels_path.is_file():
            raise ModelFolderError(
                f"{spec_path}: no 'labels' and no {LABELS_FILE} in {model_dir}"
            )
        spec["labels"] = read_label_encoder(labels_path)
    if not isinstance(spec["labels"], list) or not all(isinstance(x, str) for x in spec["labels"]):
        raise ModelFolderError(f"{spec_path}: 'labels' must be a list of strings")
    try:
        with torch.device("meta"):  # shapes first: nothing allocated for a bad spec
            shapes = {k: v.shape for k, v in build_head(spec).state_dict().items()}
    except (TypeError, ValueError, KeyError, RuntimeError, OverflowError) as error:
        raise ModelFolderError(f"{spec_path}: invalid head spec ({one_line(error)})") from None
    state = read_checked_weights(weights, shapes, spec_path)
    head = build_head(spec)
    head.load_state_dict(state, strict=True)
    return head.eval(), spec
