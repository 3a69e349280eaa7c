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

Authors
 * emotion2vec-sb contributors
"""

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Union

import torch
import yaml

from emotion2vec.model import Emotion2vecConfig, Emotion2vecModel

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.ckpt"
HPARAMS_FILE = "hyperparams.yaml"
LABELS_FILE = "label_encoder.ckpt"
SOURCE_FILE = "source.json"
#: Files a downstream export adds (see emotion2vec.inference).
DOWNSTREAM_FILES = ("downstream.json", "downstream_head.ckpt")
FOLDER_FILES = (CONFIG_FILE, WEIGHTS_FILE, HPARAMS_FILE, LABELS_FILE, SOURCE_FILE) + DOWNSTREAM_FILES


class ModelFolderError(ValueError):
    """A model folder that is missing, incomplete or unreadable."""


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

    encoder = CategoricalEncoder()
    encoder.load(path)
    encoder.expect_len(len(encoder))
    return [encoder.ind2lab[i] for i in range(len(encoder))]


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
    if out_dir.exists() and any(out_dir.iterdir()):
        foreign = sorted(p.name for p in out_dir.iterdir() if p.name not in FOLDER_FILES)
        if not overwrite:
            raise ModelFolderError(
                f"{out_dir} already exists and is not empty; pass --overwrite "
                "(or overwrite=True) to replace a model folder"
            )
        if foreign:
            raise ModelFolderError(
                f"{out_dir} holds files this tool did not write ({', '.join(foreign)}); "
                "refusing to replace it"
            )
    model = Emotion2vecModel(config)
    model.load_state_dict(state_dict, strict=True)
    labels = list(labels or [])
    if config.num_labels and len(labels) != config.num_labels:
        raise ModelFolderError(
            f"head has {config.num_labels} outputs but {len(labels)} labels were given"
        )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        (tmp / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2) + "\n")
        torch.save(model.state_dict(), tmp / WEIGHTS_FILE)
        (tmp / HPARAMS_FILE).write_text(_hparams_yaml(config, bool(labels)), encoding="utf-8")
        if labels:
            write_label_encoder(tmp / LABELS_FILE, labels)
        (tmp / SOURCE_FILE).write_text(
            json.dumps(source or {}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out_dir


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
    try:
        return Emotion2vecConfig.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise ModelFolderError(
            f"{model_dir}: not an emotion2vec model folder (no {CONFIG_FILE}); "
            "make one with `emotion2vec convert SRC OUT_DIR`"
        ) from None
    except (json.JSONDecodeError, TypeError, ValueError) as error:
        raise ModelFolderError(f"{path}: invalid config ({error})") from None


def load_model(
    model_dir: Union[str, Path], device: Union[str, torch.device] = "cpu"
) -> Emotion2vecModel:
    """Loads a model folder, in eval mode, on ``device``.

    The returned model carries ``labels`` (head labels, empty without head)
    and ``model_dir``.

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
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelFolderError(f"{model_dir}: no such model folder")
    config = read_config(model_dir)
    weights = model_dir / WEIGHTS_FILE
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelFolderError(f"{model_dir}: missing {WEIGHTS_FILE}") from None
    except Exception as error:
        raise ModelFolderError(f"{weights}: unreadable weights ({error})") from None
    model = Emotion2vecModel(config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ModelFolderError(f"{weights}: does not match {CONFIG_FILE}: {error}") from None
    labels_path = model_dir / LABELS_FILE
    model.labels = read_label_encoder(labels_path) if labels_path.is_file() else []
    model.model_dir = model_dir
    return model.to(device).eval()
