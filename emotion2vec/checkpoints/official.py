"""Released emotion2vec checkpoints, read strictly into our parameter names.

Reads every released on-disk layout (the fairseq trainer dict
``emotion2vec_base.pt``, the FunASR / ModelScope / Hugging Face folders with
``config.yaml`` + ``model.pt`` or ``emotion2vec_base.pt`` and ``tokens.txt``,
a bare state dict with a config beside it) and maps the official key names
onto ours (:mod:`emotion2vec.checkpoints.keys`). Nothing is silently
dropped: every missing, unexpected or mis-shaped key is reported by name,
except the documented optional ones (the pre-training decoder, absent from
emotion2vec+ checkpoints, and the ``_ema`` teacher copy of data2vec 2.0
training checkpoints).

Every file is read through :mod:`emotion2vec.safe_load`: a checkpoint
never runs code from its pickle unless the caller passes ``trust=True``,
and a damaged file is a :class:`CheckpointError` that names it.

Authors
 * emotion2vec-sb contributors
"""

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch
import yaml

from emotion2vec.checkpoints.keys import AUDIO, map_official_state_dict, strip_prefixes
from emotion2vec.model import Emotion2vecModel
from emotion2vec.model.config import Emotion2vecConfig
from emotion2vec.safe_load import (
    CheckpointError,
    load_torch_file,
    one_line,
    read_json_object,
    state_dict_mismatch,
)

logger = logging.getLogger(__name__)

#: Weights files looked for in a released folder (after ``configuration.json``'s
#: ``init_param``): the FunASR / ModelScope names, then a fairseq run's.
WEIGHTS_FILES = ("model.pt", "emotion2vec_base.pt", "checkpoint_best.pt", "checkpoint_last.pt")


@dataclass
class OfficialCheckpoint:
    """An official checkpoint read from disk.

    Arguments
    ---------
    config : Emotion2vecConfig
        Architecture, from the checkpoint's own config, cross-checked
        against the tensor shapes.
    state_dict : dict
        Parameters under OUR names.
    labels : list of str
        Head labels (``tokens.txt`` order), empty without head.
    source : str
        What was read.
    official_config : dict
        The official model config as found (kept for the record).
    """

    config: Emotion2vecConfig
    state_dict: Dict[str, torch.Tensor]
    labels: List[str] = field(default_factory=list)
    source: str = ""
    official_config: Dict = field(default_factory=dict)


def read_yaml(path: Path) -> Dict:
    """Reads a YAML file into a dict, with a clear error.

    Arguments
    ---------
    path : Path
        YAML file.

    Returns
    -------
    dict
    """
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except (OSError, ValueError, yaml.YAMLError) as error:  # ValueError: bad UTF-8
        raise CheckpointError(f"{path}: cannot read YAML ({one_line(error)})") from None
    if not isinstance(data, dict):
        raise CheckpointError(
            f"{path}: expected a mapping at top level, got {type(data).__name__}"
        )
    return data


def read_labels(path: Path) -> List[str]:
    """Reads a ``tokens.txt`` label list (one label per line).

    Arguments
    ---------
    path : Path
        The token list.

    Returns
    -------
    list of str
    """
    try:
        with open(path, encoding="utf-8") as f:
            labels = [line.strip() for line in f if line.strip()]
    except (OSError, ValueError) as error:  # ValueError: not UTF-8 text
        raise CheckpointError(f"{path}: cannot read the label list ({one_line(error)})") from None
    if not labels:
        raise CheckpointError(f"{path}: the label list is empty")
    return labels


def unwrap_state_dict(obj, path) -> Tuple[Dict[str, torch.Tensor], Optional[Dict]]:
    """Finds the state dict (and fairseq ``cfg``) inside a loaded checkpoint.

    Arguments
    ---------
    obj : object
        What the checkpoint file holds.
    path : str or Path
        The file, for error messages.

    Returns
    -------
    state : dict
        The state dict (under ``state_dict``, ``model_state_dict`` or
        ``model``, or ``obj`` itself).
    cfg : dict or None
        The fairseq ``cfg``, when there is one.

    Example
    -------
    >>> unwrap_state_dict({"cfg": {"model": {}}, "model": {"w": torch.ones(1)}}, "x.pt")
    ({'w': tensor([1.])}, {'model': {}})
    """
    cfg = None
    if isinstance(obj, dict) and isinstance(obj.get("cfg"), dict):
        cfg = obj["cfg"]
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj:
        raise CheckpointError(f"{path}: no state dict found")
    if not all(isinstance(key, str) for key in obj):
        raise CheckpointError(f"{path}: the state dict has keys that are not names")
    return obj, cfg


def infer_config_from_state(state: Dict[str, torch.Tensor]) -> Dict:
    """Architecture facts that the tensor shapes determine.

    Arguments
    ---------
    state : dict
        State dict under our names.

    Returns
    -------
    dict
        Config fields: embed_dim, num_heads, depth, prenet_depth, mlp_ratio,
        num_extra_tokens, num_labels, decoder_dim (when present).
    """

    def count(prefix):
        ids = {int(k[len(prefix):].split(".")[0]) for k in state if k.startswith(prefix)}
        return max(ids) + 1 if ids else 0

    facts = {}
    if "encoder.utterance_tokens" in state:
        _, E, D = state["encoder.utterance_tokens"].shape
        facts.update(num_extra_tokens=E, embed_dim=D)
    if "encoder.alibi_scale" in state:
        facts["num_heads"] = state["encoder.alibi_scale"].shape[2]
    facts["depth"] = count("encoder.blocks.")
    facts["prenet_depth"] = count("encoder.prenet.")
    fc1 = state.get("encoder.blocks.0.ffn.fc1.weight")
    if fc1 is not None:
        facts["mlp_ratio"] = fc1.shape[0] / fc1.shape[1]
    facts["num_labels"] = state["head.weight"].shape[0] if "head.weight" in state else 0
    if "decoder.proj.weight" in state:
        facts["decoder_dim"] = state["decoder.proj.weight"].shape[1]
    return facts


#: Strides of the released conv front-end (shapes do not record strides).
RELEASED_STRIDES = (5, 2, 2, 2, 2, 2, 2)


def infer_geometry_from_state(state: Dict[str, torch.Tensor]) -> Dict:
    """Conv geometry that only a config-less state dict needs inferred.

    Channels and kernels come from the weights; strides are the released
    ones (a state dict does not record them).

    Arguments
    ---------
    state : dict
        State dict under our names.

    Returns
    -------
    dict
        ``feature_encoder_spec``, positional conv and decoder fields.
    """
    facts = {}
    convs = []
    i = 0
    while f"feature_extractor.layers.{i}.conv.weight" in state:
        out_ch, _, kernel = state[f"feature_extractor.layers.{i}.conv.weight"].shape
        convs.append((out_ch, kernel))
        i += 1
    if convs:
        if len(convs) != len(RELEASED_STRIDES):
            raise CheckpointError(
                f"{len(convs)} conv layers: strides cannot be inferred without "
                "a config (the releases have 7)"
            )
        facts["feature_encoder_spec"] = repr(
            [(c, k, s) for (c, k), s in zip(convs, RELEASED_STRIDES)]
        )
        if f"feature_extractor.layers.1.norm.weight" not in state:
            facts["extractor_mode"] = "default"
    pos = [k for k in state if re.match(r"encoder\.positional_conv\.layers\.\d+\.weight$", k)]
    if pos:
        dim, per_group, kernel = state[pos[0]].shape
        facts.update(
            conv_pos_depth=len(pos),
            conv_pos_groups=dim // per_group,
            conv_pos_width=kernel * len(pos),
        )
    if "decoder.layers.0.weight" in state:
        dec_dim, per_group, kernel = state["decoder.layers.0.weight"].shape
        facts.update(
            decoder_layers=sum(
                1 for k in state if re.match(r"decoder\.layers\.\d+\.weight$", k)
            ),
            decoder_kernel=kernel,
            decoder_groups=state["encoder.utterance_tokens"].shape[-1] // per_group,
        )
    return facts


def check_against_model(config: Emotion2vecConfig, state: Dict, source: str):
    """Builds the model for ``config`` and checks every key and shape.

    Missing decoder keys are allowed (the decoder is then not built).

    Arguments
    ---------
    config : Emotion2vecConfig
        Architecture.
    state : dict
        State dict under our names.
    source : str
        File name for error messages.

    Returns
    -------
    Emotion2vecConfig
        The config, with ``build_decoder`` set to whether a decoder exists.
    """
    has_decoder = any(k.startswith("decoder.") for k in state)
    config.build_decoder = has_decoder
    try:
        with torch.device("meta"):  # shapes only: nothing allocated for a bad config
            model = Emotion2vecModel(config)
    except (TypeError, ValueError, RuntimeError, ZeroDivisionError, OverflowError) as error:
        raise CheckpointError(
            f"{source}: cannot build a model of this architecture ({one_line(error)})"
        ) from None
    problems = state_dict_mismatch({k: v.shape for k, v in model.state_dict().items()}, state)
    if problems:
        raise CheckpointError(f"{source}: " + "; ".join(problems))
    return config


def _cross_check(config: Emotion2vecConfig, facts: Dict, source: str, config_source: str):
    disagreements = []
    for name, value in facts.items():
        if name in ("num_labels", "decoder_dim"):
            continue
        if abs(float(getattr(config, name)) - float(value)) > 1e-6:
            disagreements.append(f"{name}: config {getattr(config, name)}, weights {value}")
    if disagreements:
        where = source if config_source == source else f"{config_source} and {source}"
        raise CheckpointError(
            f"{where}: config disagrees with the weights: " + "; ".join(disagreements)
        )


def build_checkpoint(
    state: Dict[str, torch.Tensor],
    official_conf: Optional[Dict],
    normalize: Optional[bool],
    labels: List[str],
    source: str,
    config_source: Optional[str] = None,
    labels_source: Optional[str] = None,
) -> OfficialCheckpoint:
    """Maps, cross-checks and validates an official state dict.

    Arguments
    ---------
    state : dict
        Official state dict.
    official_conf : dict or None
        Official model config; None = infer everything from shapes
        (with the released defaults for what shapes do not determine).
    normalize : bool or None
        Input normalisation flag when it is stored outside the model config.
    labels : list of str
        Head labels.
    source : str
        For error messages.
    config_source : str, optional
        Where ``official_conf`` was read (default: ``source``).
    labels_source : str, optional
        Where ``labels`` were read (default: ``source``).

    Returns
    -------
    OfficialCheckpoint
    """
    mapped = map_official_state_dict(state, source)
    try:
        facts = infer_config_from_state(mapped)
    except (TypeError, ValueError, IndexError) as error:
        raise CheckpointError(f"{source}: unexpected tensor shapes ({one_line(error)})") from None
    if official_conf is not None:
        if not isinstance(official_conf, dict):
            raise CheckpointError(
                f"{config_source or source}: the model config is a "
                f"{type(official_conf).__name__}, expected a mapping"
            )
        try:
            config = Emotion2vecConfig.from_official(official_conf, normalize=normalize)
        except (TypeError, ValueError, KeyError, AttributeError, SyntaxError) as error:
            raise CheckpointError(
                f"{config_source or source}: invalid model config ({one_line(error)})"
            ) from None
        _cross_check(config, facts, source, config_source or source)
    else:
        fields = {k: v for k, v in facts.items() if k != "num_labels"}
        try:
            fields.update(infer_geometry_from_state(mapped))
            config = Emotion2vecConfig(**fields)
        except CheckpointError as error:
            raise CheckpointError(f"{source}: {error}") from None
        except (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError) as error:
            raise CheckpointError(
                f"{source}: cannot infer the architecture from the weights ({one_line(error)})"
            ) from None
        logger.warning(
            "%s: no config found; architecture inferred from the weights "
            "(released strides and dropout values assumed)", source
        )
        if normalize is not None:
            config.normalize = normalize
    if "decoder_dim" in facts:
        config.decoder_dim = facts["decoder_dim"]
    config.num_labels = facts["num_labels"]
    if labels and config.num_labels and len(labels) != config.num_labels:
        raise CheckpointError(
            f"{labels_source or source}: {len(labels)} labels in the token list but the "
            f"head in {source} has {config.num_labels} outputs"
        )
    if config.num_labels and not labels:
        labels = [f"class_{i}" for i in range(config.num_labels)]
        logger.warning("%s: head without token list; labels named class_N", source)
    if not config.num_labels:
        labels = []
    where = source
    if config_source and config_source != source:
        where = f"{source}: does not match {config_source}"
    config = check_against_model(config, mapped, where)
    return OfficialCheckpoint(config, mapped, labels, source, official_conf or {})


def _file_name(value, where: Path) -> Optional[str]:
    """A file name from a config entry: a plain name inside the folder, or None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or Path(value).name != value or value in (".", ".."):
        raise CheckpointError(f"{where}: {value!r} is not a file name inside the folder")
    return value


def _hub_metas(folder: Path) -> Tuple[Path, Dict]:
    """``configuration.json``'s ``file_path_metas`` (empty without the file)."""
    meta_path = folder / "configuration.json"
    meta = read_json_object(meta_path) if meta_path.exists() else {}
    metas = meta.get("file_path_metas") or {}
    if not isinstance(metas, dict):
        raise CheckpointError(f"{meta_path}: file_path_metas must be an object")
    return meta_path, metas


def find_weights_file(folder: Path) -> Path:
    """The weights file of a released folder (FunASR / ModelScope / Hugging
    Face, or a fairseq run folder).

    Looked for in order: ``configuration.json``'s ``init_param``, then
    :data:`WEIGHTS_FILES`, then the folder's only ``*.pt``.

    Arguments
    ---------
    folder : Path
        The folder.

    Returns
    -------
    Path

    Example
    -------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "checkpoint_last.pt").write_bytes(b"")
    >>> find_weights_file(folder).name
    'checkpoint_last.pt'
    """
    meta_path, metas = _hub_metas(folder)
    candidates = [_file_name(metas.get("init_param"), meta_path), *WEIGHTS_FILES]
    found = next((folder / c for c in candidates if c and (folder / c).exists()), None)
    if found is not None:
        return found
    pts = sorted(folder.glob("*.pt"))
    if len(pts) != 1:
        raise CheckpointError(
            f"{folder}: no weights file (looked for {', '.join(WEIGHTS_FILES)}"
            f"{', or exactly one *.pt' if pts else ''})"
        )
    return pts[0]


def _read_hub_folder(folder: Path, trust: bool) -> OfficialCheckpoint:
    """FunASR / ModelScope / Hugging Face model folder."""
    config_path = folder / "config.yaml"
    meta_path, metas = _hub_metas(folder)
    weights = find_weights_file(folder)
    obj = load_torch_file(weights, trust=trust)
    state, fairseq_cfg = unwrap_state_dict(obj, weights)
    model_conf, normalize, conf_source = None, None, str(weights)
    if config_path.exists():
        conf = read_yaml(config_path)
        model_conf, conf_source = conf.get("model_conf"), str(config_path)
        if model_conf is None:
            raise CheckpointError(f"{config_path}: no model_conf section")
    elif fairseq_cfg is not None:
        model_conf = fairseq_cfg.get("model")
    if fairseq_cfg is not None and isinstance(fairseq_cfg.get("task"), dict):
        normalize = fairseq_cfg["task"].get("normalize")
    tokenizer_conf = metas.get("tokenizer_conf") or {}
    token_name = (
        _file_name(tokenizer_conf.get("token_list"), meta_path)
        if isinstance(tokenizer_conf, dict) else None
    ) or "tokens.txt"
    tokens = folder / token_name
    labels = read_labels(tokens) if tokens.exists() else []
    return build_checkpoint(
        state, model_conf, normalize, labels, str(weights), conf_source, str(tokens)
    )


def read_official_checkpoint(src, trust: bool = False) -> OfficialCheckpoint:
    """Reads any released emotion2vec checkpoint layout.

    Accepted ``src``:

    * a fairseq trainer file (``emotion2vec_base.pt``: ``cfg`` + ``model``);
    * a FunASR / ModelScope / Hugging Face folder (``config.yaml`` and
      ``model.pt`` or ``emotion2vec_base.pt``, ``tokens.txt`` with a head);
    * a bare state dict file with a ``config.yaml`` (FunASR) beside it, or
      with no config (architecture inferred from shapes, released defaults
      for the rest).

    A ``head_proj.pt`` (or ``head.pt``) beside a headless fairseq file, with
    a ``tokens.txt``, adds the classification head.

    Files are read without running code from them
    (:func:`emotion2vec.safe_load.load_torch_file`); a damaged file is a
    :class:`CheckpointError` naming it.

    Arguments
    ---------
    src : str or Path
        File or folder.
    trust : bool
        Allow full unpickling of checkpoints the safe load refuses (runs any
        code they contain; ``emotion2vec convert --trust-checkpoint``).

    Returns
    -------
    OfficialCheckpoint
    """
    src = Path(src)
    if src.is_dir():
        return _read_hub_folder(src, trust)
    if not src.exists():
        raise CheckpointError(f"{src}: no such file or folder")
    obj = load_torch_file(src, trust=trust)
    state, fairseq_cfg = unwrap_state_dict(obj, src)
    model_conf, normalize, conf_source = None, None, str(src)
    if fairseq_cfg is not None:
        model_conf = fairseq_cfg.get("model")
        task = fairseq_cfg.get("task") or {}
        normalize = task.get("normalize") if isinstance(task, dict) else None
    elif (src.parent / "config.yaml").exists():
        conf_source = str(src.parent / "config.yaml")
        model_conf = read_yaml(src.parent / "config.yaml").get("model_conf")
    state = dict(state)
    for head_name in ("head_proj.pt", "head.pt"):
        head_file = src.parent / head_name
        if head_file.exists() and "proj.weight" not in strip_prefixes(state):
            head = unwrap_state_dict(load_torch_file(head_file, trust=trust), head_file)[0]
            state.update(check_head(head, state, head_file))
    tokens = src.parent / "tokens.txt"
    labels = read_labels(tokens) if tokens.exists() else []
    return build_checkpoint(state, model_conf, normalize, labels, str(src), conf_source, str(tokens))


def check_head(head: Dict, backbone: Dict, source) -> Dict[str, torch.Tensor]:
    """Checks a separate head file (``head_proj.pt``) against its backbone.

    Arguments
    ---------
    head : dict
        The head's state dict: ``proj.weight`` ``[labels, dim]`` and
        ``proj.bias`` ``[labels]``.
    backbone : dict
        The official backbone state dict it completes.
    source : str or Path
        The head file, for error messages.

    Returns
    -------
    dict
        ``head``.

    Example
    -------
    >>> check_head({"proj.weight": torch.zeros(2, 4)}, {}, "head.pt")
    Traceback (most recent call last):
    ...
    emotion2vec.safe_load.CheckpointError: head.pt: not a classification head (expected proj.weight and proj.bias, found proj.weight)
    """
    names = sorted(strip_prefixes(head))
    if names != ["proj.bias", "proj.weight"]:
        raise CheckpointError(
            f"{source}: not a classification head (expected proj.weight and proj.bias, "
            f"found {', '.join(names[:5]) or 'nothing'})"
        )
    plain = strip_prefixes(head)
    weight, bias = plain["proj.weight"], plain["proj.bias"]
    if not (torch.is_tensor(weight) and torch.is_tensor(bias)):
        raise CheckpointError(f"{source}: not a classification head (entries are not tensors)")
    tokens = strip_prefixes(backbone).get(AUDIO + "extra_tokens")
    dim = tokens.shape[-1] if torch.is_tensor(tokens) else None
    if (
        weight.dim() != 2 or bias.dim() != 1 or weight.shape[0] != bias.shape[0]
        or (dim is not None and weight.shape[1] != dim)
    ):
        raise CheckpointError(
            f"{source}: head shapes proj.weight {tuple(weight.shape)}, proj.bias "
            f"{tuple(bias.shape)} do not fit a [labels, {dim or 'dim'}] head"
        )
    return head
