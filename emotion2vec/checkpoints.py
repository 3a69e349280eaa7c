"""Official emotion2vec checkpoints <-> our parameter names.

Reads every released on-disk layout strictly (the fairseq trainer dict
``emotion2vec_base.pt``, the FunASR / ModelScope / Hugging Face folders with
``config.yaml`` + ``model.pt`` or ``emotion2vec_base.pt`` and ``tokens.txt``,
a bare state dict with a config beside it) and maps the official key names
onto ours. Nothing is silently dropped: every missing, unexpected or
mis-shaped key is reported by name, except the documented optional ones
(the pre-training decoder, absent from emotion2vec+ checkpoints, and the
``_ema`` teacher copy of data2vec 2.0 training checkpoints).

Every file is read through :mod:`emotion2vec.safe_load`: a checkpoint
never runs code from its pickle unless the caller passes ``trust=True``,
and a damaged file is a :class:`CheckpointError` that names it.

The model never imports this module.

Authors
 * emotion2vec-sb contributors
"""

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch
import yaml

from emotion2vec.model.config import Emotion2vecConfig
# CheckpointError lives in safe_load and is re-exported here (its old home).
from emotion2vec.safe_load import CheckpointError, load_torch_file, one_line, state_dict_mismatch

logger = logging.getLogger(__name__)

AUDIO = "modality_encoders.AUDIO."

#: (official pattern, our pattern); ``{i}`` is a layer index and ``{rest}``
#: the remainder of a Transformer-block key. Order matters for matching.
_KEY_RULES: List[Tuple[str, str]] = [
    (AUDIO + "extra_tokens", "encoder.utterance_tokens"),
    (AUDIO + "alibi_scale", "encoder.alibi_scale"),
    (AUDIO + "local_encoder.conv_layers.{i}.0.weight",
     "feature_extractor.layers.{i}.conv.weight"),
    (AUDIO + "local_encoder.conv_layers.{i}.2.1.{p}",
     "feature_extractor.layers.{i}.norm.{p}"),
    (AUDIO + "local_encoder.conv_layers.{i}.2.{p}",
     "feature_extractor.layers.{i}.norm.{p}"),
    (AUDIO + "project_features.1.{p}", "feature_projection.norm.{p}"),
    (AUDIO + "project_features.2.{p}", "feature_projection.linear.{p}"),
    (AUDIO + "relative_positional_encoder.{j}.0.{p}",
     "encoder.positional_conv.layers.{i}.{p}"),
    (AUDIO + "context_encoder.norm.{p}", "encoder.input_norm.{p}"),
    (AUDIO + "context_encoder.blocks.{i}.{rest}", "encoder.prenet.{i}.{rest}"),
    ("blocks.{i}.{rest}", "encoder.blocks.{i}.{rest}"),
    (AUDIO + "decoder.blocks.{i}.0.{p}", "decoder.layers.{i}.{p}"),
    (AUDIO + "decoder.proj.{p}", "decoder.proj.{p}"),
    ("proj.{p}", "head.{p}"),
]

#: Transformer-block sub-module names: official -> ours.
_BLOCK_RULES = {
    "norm1.": "attention_norm.",
    "norm2.": "ffn_norm.",
    "attn.qkv.": "attention.qkv.",
    "attn.proj.": "attention.out_proj.",
    "mlp.fc1.": "ffn.fc1.",
    "mlp.fc2.": "ffn.fc2.",
}

_PLACEHOLDERS = {
    "{i}": r"(?P<i>\d+)",
    "{j}": r"(?P<j>\d+)",
    "{p}": r"(?P<p>weight|bias)",
    "{rest}": r"(?P<rest>.+)",
}


def _compile(pattern: str) -> "re.Pattern":
    regex = re.escape(pattern)
    for name, group in _PLACEHOLDERS.items():
        regex = regex.replace(re.escape(name), group)
    return re.compile(regex + "$")


_OFFICIAL_TO_OURS = [(_compile(a), b) for a, b in _KEY_RULES]
_OURS_TO_OFFICIAL = [(_compile(b), a) for a, b in _KEY_RULES]


def _swap_block_names(rest: str, table: Dict[str, str]) -> Optional[str]:
    for prefix, replacement in table.items():
        if rest.startswith(prefix):
            return replacement + rest[len(prefix):]
    return None


def official_to_ours(key: str) -> Optional[str]:
    """Maps one official parameter name to ours (None if unknown).

    Arguments
    ---------
    key : str
        Official (fairseq / FunASR) key, without ``d2v_model.`` prefixes.

    Returns
    -------
    str or None

    Example
    -------
    >>> official_to_ours("blocks.3.attn.qkv.weight")
    'encoder.blocks.3.attention.qkv.weight'
    >>> official_to_ours(
    ...     "modality_encoders.AUDIO.relative_positional_encoder.1.0.bias")
    'encoder.positional_conv.layers.0.bias'
    """
    for regex, template in _OFFICIAL_TO_OURS:
        match = regex.match(key)
        if not match:
            continue
        groups = match.groupdict()
        if "j" in groups:
            groups["i"] = str(int(groups.pop("j")) - 1)
        if "rest" in groups:
            groups["rest"] = _swap_block_names(groups["rest"], _BLOCK_RULES)
            if groups["rest"] is None:
                return None
        out = template
        for name, value in groups.items():
            out = out.replace("{" + name + "}", value)
        return out
    return None


def ours_to_official(key: str, extractor_mode: str = "layer_norm") -> Optional[str]:
    """Maps one of our parameter names to the official name.

    Arguments
    ---------
    key : str
        Our parameter name.
    extractor_mode : str
        Front-end mode (the GroupNorm of ``default`` mode sits at ``.2``).

    Returns
    -------
    str or None

    Example
    -------
    >>> ours_to_official("encoder.prenet.0.ffn.fc1.bias")
    'modality_encoders.AUDIO.context_encoder.blocks.0.mlp.fc1.bias'
    """
    inverse_blocks = {v: k for k, v in _BLOCK_RULES.items()}
    for regex, official in _OURS_TO_OFFICIAL:
        match = regex.match(key)
        if not match:
            continue
        is_group_norm = official.endswith("conv_layers.{i}.2.{p}")
        is_layer_norm = official.endswith("conv_layers.{i}.2.1.{p}")
        if is_layer_norm and extractor_mode != "layer_norm":
            continue
        if is_group_norm and extractor_mode == "layer_norm":
            continue
        groups = match.groupdict()
        if "{j}" in official:
            groups["j"] = str(int(groups.pop("i")) + 1)
        if "rest" in groups:
            groups["rest"] = _swap_block_names(groups["rest"], inverse_blocks)
            if groups["rest"] is None:
                return None
        out = official
        for name, value in groups.items():
            out = out.replace("{" + name + "}", value)
        return out
    return None


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


def read_json(path: Path) -> Dict:
    """Reads a JSON object (``configuration.json``), with a clear error.

    Arguments
    ---------
    path : Path
        JSON file.

    Returns
    -------
    dict
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # JSONDecodeError and bad UTF-8 are ValueErrors
        raise CheckpointError(f"{path}: not valid JSON ({one_line(error)})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


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


def strip_prefixes(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Removes the ``module.`` (DDP) and ``d2v_model.`` (FunASR) key prefixes.

    Arguments
    ---------
    state : dict
        State dict.

    Returns
    -------
    dict

    Example
    -------
    >>> strip_prefixes({"module.d2v_model.blocks.0.x": 1, "proj.bias": 2})
    {'blocks.0.x': 1, 'proj.bias': 2}
    """
    out = {}
    for key, value in state.items():
        for prefix in ("module.", "d2v_model."):
            if key.startswith(prefix):
                key = key[len(prefix):]
        out[key] = value
    return out


def map_official_state_dict(
    state: Dict[str, torch.Tensor], source: str
) -> Dict[str, torch.Tensor]:
    """Renames an official state dict to our names, strictly.

    ``_ema`` entries are dropped; a 4-D legacy ``alibi_scale`` is upgraded.

    Arguments
    ---------
    state : dict
        Official state dict (prefixes allowed).
    source : str
        File name for error messages.

    Returns
    -------
    dict
        State dict under our names.
    """
    state = strip_prefixes(state)
    mapped, unknown = {}, []
    for key, value in state.items():
        if key == "_ema" or key.startswith("_ema."):
            continue
        if not torch.is_tensor(value):
            unknown.append(key)
            continue
        ours = official_to_ours(key)
        if ours is None:
            unknown.append(key)
            continue
        if ours == "encoder.alibi_scale" and value.dim() == 4:
            value = value.unsqueeze(0)
        mapped[ours] = value.float() if value.is_floating_point() else value
    if unknown:
        raise CheckpointError(
            f"{source}: unexpected keys (not part of emotion2vec): "
            + ", ".join(sorted(unknown))
        )
    return mapped


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
    from emotion2vec.model import Emotion2vecModel

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


def _read_hub_folder(folder: Path, trust: bool) -> OfficialCheckpoint:
    """FunASR / ModelScope / Hugging Face model folder."""
    config_path = folder / "config.yaml"
    meta_path = folder / "configuration.json"
    meta = read_json(meta_path) if meta_path.exists() else {}
    metas = meta.get("file_path_metas") or {}
    if not isinstance(metas, dict):
        raise CheckpointError(f"{meta_path}: file_path_metas must be an object")
    candidates = [_file_name(metas.get("init_param"), meta_path), "model.pt", "emotion2vec_base.pt"]
    weights = next((folder / c for c in candidates if c and (folder / c).exists()), None)
    if weights is None:
        pts = sorted(folder.glob("*.pt"))
        if len(pts) != 1:
            raise CheckpointError(
                f"{folder}: no weights file (looked for model.pt, "
                f"emotion2vec_base.pt{', or exactly one *.pt' if pts else ''})"
            )
        weights = pts[0]
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


def to_official_state_dict(
    state: Dict[str, torch.Tensor], extractor_mode: str = "layer_norm"
) -> Dict[str, torch.Tensor]:
    """Renames our state dict to official (FunASR) key names.

    Arguments
    ---------
    state : dict
        Our state dict.
    extractor_mode : str
        Front-end mode of the model.

    Returns
    -------
    dict
        Official names, ready for FunASR's ``Emotion2vec`` model.
    """
    out = {}
    for key, value in state.items():
        official = ours_to_official(key, extractor_mode)
        if official is None:
            raise CheckpointError(f"no official name for parameter {key}")
        out[official] = value
    return out


def official_model_conf(config: Emotion2vecConfig) -> Dict:
    """The official (FunASR ``config.yaml`` ``model_conf``) form of a config.

    Pre-training fields that our config does not own (clone_batch, EMA,
    loss weights) come from ``config.extra`` or the released defaults.

    Arguments
    ---------
    config : Emotion2vecConfig
        Our config.

    Returns
    -------
    dict
        ``model_conf`` with ``modalities.audio`` and its ``decoder``.

    Example
    -------
    >>> conf = official_model_conf(Emotion2vecConfig())
    >>> conf["embed_dim"], conf["modalities"]["audio"]["prenet_depth"]
    (768, 4)
    >>> Emotion2vecConfig.from_official(conf).embed_dim
    768
    """
    extra = dict(config.extra)
    audio = {
        "type": "AUDIO",
        "prenet_depth": config.prenet_depth,
        "prenet_layerdrop": config.prenet_layerdrop,
        "prenet_dropout": config.prenet_dropout,
        "start_drop_path_rate": 0.0,
        "end_drop_path_rate": 0.0,
        "num_extra_tokens": config.num_extra_tokens,
        "init_extra_token_zero": True,
        "mask_noise_std": config.mask_noise_std,
        "mask_prob_min": None,
        "mask_prob": extra.get("mask_prob", 0.5),
        "inverse_mask": False,
        "mask_prob_adjust": extra.get("mask_prob_adjust", 0.05),
        "keep_masked_pct": 0.0,
        "mask_length": extra.get("mask_length", 5),
        "add_masks": False,
        "remove_masks": False,
        "mask_dropout": 0.0,
        "encoder_zero_mask": True,
        "mask_channel_prob": 0.0,
        "mask_channel_length": 64,
        "ema_local_encoder": False,
        "local_grad_mult": 1.0,
        "use_alibi_encoder": True,
        "alibi_scale": 1.0,
        "learned_alibi": False,
        "alibi_max_pos": None,
        "learned_alibi_scale": True,
        "learned_alibi_scale_per_head": True,
        "learned_alibi_scale_per_layer": False,
        "num_alibi_heads": config.num_heads,
        "model_depth": config.depth,
        "decoder": {
            "decoder_dim": config.decoder_dim,
            "decoder_groups": config.decoder_groups,
            "decoder_kernel": config.decoder_kernel,
            "decoder_layers": config.decoder_layers,
            "input_dropout": config.decoder_input_dropout,
            "add_positions_masked": False,
            "add_positions_all": False,
            "decoder_residual": config.decoder_residual,
            "projection_layers": 1,
            "projection_ratio": 2.0,
        },
        "extractor_mode": config.extractor_mode,
        "feature_encoder_spec": config.feature_encoder_spec,
        "conv_pos_width": config.conv_pos_width,
        "conv_pos_groups": config.conv_pos_groups,
        "conv_pos_depth": config.conv_pos_depth,
        "conv_pos_pre_ln": config.conv_pos_pre_ln,
    }
    return {
        "loss_beta": extra.get("loss_beta", 0.0),
        "loss_scale": extra.get("loss_scale", None),
        "depth": config.depth,
        "start_drop_path_rate": 0.0,
        "end_drop_path_rate": 0.0,
        "num_heads": config.num_heads,
        "norm_eps": config.norm_eps,
        "norm_affine": True,
        "encoder_dropout": config.encoder_dropout,
        "post_mlp_drop": config.post_mlp_drop,
        "attention_dropout": config.attention_dropout,
        "activation_dropout": config.activation_dropout,
        "dropout_input": config.dropout_input,
        "layerdrop": config.layerdrop,
        "embed_dim": config.embed_dim,
        "mlp_ratio": config.mlp_ratio,
        "layer_norm_first": False,
        "average_top_k_layers": extra.get("average_top_k_layers", config.depth),
        "end_of_block_targets": False,
        "clone_batch": extra.get("clone_batch", 8),
        "layer_norm_target_layer": False,
        "batch_norm_target_layer": False,
        "instance_norm_target_layer": extra.get("instance_norm_target_layer", True),
        "instance_norm_targets": False,
        "layer_norm_targets": False,
        "ema_decay": extra.get("ema_decay", 0.999),
        "ema_same_dtype": True,
        "log_norms": True,
        "ema_end_decay": extra.get("ema_end_decay", 0.99999),
        "ema_anneal_end_step": extra.get("ema_anneal_end_step", 20000),
        "ema_encoder_only": False,
        "max_update": 100000,
        "extractor_mode": config.extractor_mode,
        "shared_decoder": None,
        "min_target_var": 0.1,
        "min_pred_var": 0.01,
        "supported_modality": "AUDIO",
        "mae_init": False,
        "seed": 1,
        "skip_ema": False,
        "cls_loss": extra.get("cls_loss", 1.0),
        "recon_loss": 0.0,
        "d2v_loss": extra.get("d2v_loss", 1.0),
        "decoder_group": False,
        "adversarial_training": False,
        "adversarial_hidden_dim": 128,
        "adversarial_weight": 0.1,
        "cls_type": extra.get("cls_type", "chunk"),
        "normalize": config.normalize,
        "modalities": {"audio": audio},
    }
