"""Official emotion2vec (fairseq / FunASR) parameter names <-> ours.

The key rules are one table (:data:`_KEY_RULES`) read in both directions;
:func:`map_official_state_dict` renames a whole official state dict
strictly (every unknown key is reported), :func:`to_official_state_dict`
goes back.

Authors
 * emotion2vec-sb contributors
"""

import re
from typing import Dict, List, Optional, Tuple

import torch

from emotion2vec.safe_load import CheckpointError

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
