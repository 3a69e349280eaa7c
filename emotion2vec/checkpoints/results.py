"""Pre-training runs as a model source: the student of the latest
SpeechBrain checkpoint of a results dir.

Layout (written by :class:`emotion2vec.pretrain.brain.PretrainBrain`)::

    <output_folder>/save/model_config.json    the student's Emotion2vecConfig
    <output_folder>/save/CKPT+<time>/CKPT.yaml
    <output_folder>/save/CKPT+<time>/model.ckpt

Authors
 * emotion2vec-sb contributors
"""

from pathlib import Path
from typing import Dict, Tuple

import torch

from emotion2vec.checkpoints.official import read_yaml
from emotion2vec.model import Emotion2vecConfig
from emotion2vec.model_folder import (
    CONFIG_FILE,
    ModelFolderError,
    expected_shapes,
    parse_config,
    read_checked_weights,
    read_folder_json,
)
from emotion2vec.safe_load import CheckpointError

#: The student's architecture, beside the checkpoints of a run.
MODEL_CONFIG_FILE = "model_config.json"


def read_checkpoint_meta(ckpt: Path) -> dict:
    """The ``CKPT.yaml`` of a SpeechBrain checkpoint, with a clear error.

    Arguments
    ---------
    ckpt : Path
        A ``CKPT+...`` folder.

    Returns
    -------
    dict
    """
    try:
        return read_yaml(Path(ckpt) / "CKPT.yaml")
    except CheckpointError as error:
        raise ModelFolderError(str(error)) from None


def _checkpoint_time(ckpt: Path) -> float:
    try:
        return float(read_checkpoint_meta(ckpt).get("unixtime", 0.0))
    except (TypeError, ValueError):
        raise ModelFolderError(f"{ckpt / 'CKPT.yaml'}: unixtime is not a number") from None


def find_results_checkpoint(results_dir) -> Path:
    """The most recent SpeechBrain checkpoint of a pre-training run.

    Arguments
    ---------
    results_dir : str or path
        The run's ``output_folder``, its ``save`` folder, or one
        ``CKPT+...`` folder.

    Returns
    -------
    Path
        The ``CKPT+...`` folder (holds ``model.ckpt``).
    """
    path = Path(results_dir)
    if (path / "CKPT.yaml").is_file():
        return path
    for save in (path / "save", path):
        ckpts = [p for p in save.glob("CKPT+*") if (p / "CKPT.yaml").is_file()]
        if ckpts:
            return max(ckpts, key=lambda p: (_checkpoint_time(p), p.name))
    raise ModelFolderError(
        f"{results_dir}: no pre-training checkpoint (save/CKPT+*/) found"
    )


def is_results_dir(path) -> bool:
    """Whether ``path`` looks like a pre-training run (or its save folder,
    or one of its checkpoints).

    Arguments
    ---------
    path : str or path
        Candidate.

    Returns
    -------
    bool
    """
    path = Path(path)
    return any(
        (p / MODEL_CONFIG_FILE).is_file() for p in (path, path / "save", path.parent)
    ) and not (path / CONFIG_FILE).is_file()


def read_results_dir(results_dir) -> Tuple[Emotion2vecConfig, Dict[str, torch.Tensor], Dict]:
    """Reads the student of a pre-training run (latest checkpoint).

    Arguments
    ---------
    results_dir : str or path
        See :func:`find_results_checkpoint`.

    Returns
    -------
    config : Emotion2vecConfig
    state_dict : dict
        The student's weights.
    source : dict
        Provenance (the checkpoint and its metadata).
    """
    ckpt = find_results_checkpoint(results_dir)
    config_path = ckpt.parent / MODEL_CONFIG_FILE
    if not config_path.is_file():
        raise ModelFolderError(f"{ckpt.parent}: missing {MODEL_CONFIG_FILE}")
    config = parse_config(read_folder_json(config_path), config_path)
    state = read_checked_weights(
        ckpt / "model.ckpt", expected_shapes(config, config_path), config_path
    )
    meta = read_checkpoint_meta(ckpt)
    source = {
        "exported_from": str(ckpt.resolve()),
        "checkpoint_meta": {k: v for k, v in meta.items() if isinstance(v, (int, float, str))},
        "weights": "student",
    }
    return config, dict(state), source
