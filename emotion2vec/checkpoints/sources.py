"""One entry point for every model source: :func:`read_model_source`.

What ``emotion2vec convert``, the FunASR export and the pre-training
initialisation (``init_from``) read, each through this one function
(``family`` of the result in brackets):

* a model folder (``model_folder``):
  :func:`emotion2vec.model_folder.read_model_folder`;
* a pre-training results dir (``results_dir``): the student of its latest
  checkpoint, :func:`emotion2vec.checkpoints.results.read_results_dir`;
* a released emotion2vec checkpoint, file or folder (``emotion2vec``):
  :func:`emotion2vec.checkpoints.official.read_official_checkpoint`;
* with ``strict=False`` only, any fairseq data2vec 2.0 / emotion2vec file
  or folder (``data2vec_multi``) or data2vec audio (v1) file
  (``data2vec_audio``): :mod:`emotion2vec.checkpoints.data2vec`.

``strict=True`` (conversion, export) needs a whole emotion2vec model: the
architecture is read or inferred and every key checked against it.
``strict=False`` (initialising a student) only renames the weights: the
architecture is the student's, training-only entries of fairseq
checkpoints are ignored and data2vec checkpoints are accepted
(:mod:`emotion2vec.checkpoints.data2vec`); ``config`` is None for files.

Authors
 * emotion2vec-sb contributors
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import torch

from emotion2vec.checkpoints.data2vec import map_data2vec_audio, map_data2vec_multi
from emotion2vec.checkpoints.keys import strip_prefixes
from emotion2vec.checkpoints.official import (
    find_weights_file,
    read_official_checkpoint,
    unwrap_state_dict,
)
from emotion2vec.checkpoints.results import is_results_dir, read_results_dir
from emotion2vec.model import Emotion2vecConfig
from emotion2vec.model_folder import CONFIG_FILE, read_model_folder
from emotion2vec.safe_load import CheckpointError, load_torch_file


@dataclass
class ModelSource:
    """A model read from any supported source.

    Arguments
    ---------
    state_dict : dict
        Weights under our names (with ``strict=False``, Transformer blocks
        may still need :func:`~emotion2vec.checkpoints.data2vec.split_blocks`).
    family : str
        What was read: ``model_folder``, ``results_dir``, ``emotion2vec``,
        ``data2vec_multi`` or ``data2vec_audio``.
    config : Emotion2vecConfig or None
        Architecture (None for a file read with ``strict=False``).
    labels : list of str
        Head labels (empty without head).
    source : dict
        Provenance.
    official_config : dict
        The official model config as found (released checkpoints).
    """

    state_dict: Dict[str, torch.Tensor]
    family: str
    config: Optional[Emotion2vecConfig] = None
    labels: List[str] = field(default_factory=list)
    source: Dict = field(default_factory=dict)
    official_config: Dict = field(default_factory=dict)


def read_model_source(src, trust: bool = False, strict: bool = True) -> ModelSource:
    """Reads a model folder, a pre-training results dir or a released
    checkpoint (see the module docstring for what ``strict`` changes).

    Arguments
    ---------
    src : str or path
        The source.
    trust : bool
        Allow full unpickling of a checkpoint the safe load refuses (runs
        any code it contains; see :mod:`emotion2vec.safe_load`).
    strict : bool
        True: a whole emotion2vec model, checked; False: only the weights
        (for initialising a student of a known architecture).

    Returns
    -------
    ModelSource
    """
    path = Path(src)
    if path.is_dir() and (path / CONFIG_FILE).exists():
        config, state, labels = read_model_folder(path)
        return ModelSource(
            dict(state), "model_folder", config, labels, {"model_folder": str(path.resolve())}
        )
    if path.is_dir() and is_results_dir(path):
        config, state, source = read_results_dir(path)
        return ModelSource(state, "results_dir", config, [], source)
    if strict:
        checkpoint = read_official_checkpoint(path, trust=trust)
        return ModelSource(
            checkpoint.state_dict, "emotion2vec", checkpoint.config, checkpoint.labels,
            {"converted_from": str(path.resolve()), "read": checkpoint.source},
            checkpoint.official_config,
        )
    weights = find_weights_file(path) if path.is_dir() else path
    if not weights.exists():
        raise CheckpointError(f"{src}: no such checkpoint file or folder")
    state, _ = unwrap_state_dict(load_torch_file(weights, trust=trust), weights)
    state = strip_prefixes(state)
    provenance = {"read": str(weights.resolve())}
    if any(k.startswith("encoder.layers.") for k in state):
        return ModelSource(map_data2vec_audio(state), "data2vec_audio", source=provenance)
    try:
        return ModelSource(map_data2vec_multi(state), "data2vec_multi", source=provenance)
    except CheckpointError as error:
        raise CheckpointError(f"{weights}: {error}") from None
