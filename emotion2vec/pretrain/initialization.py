"""Initialising the pre-training student from an existing checkpoint.

One hparam (``init_from``) chooses the start (paper Table 8):

- ``None`` / ``""``: cold start (the model's own random initialisation);
- an emotion2vec model folder (``emotion2vec convert`` or a recipe export)
  or any released emotion2vec checkpoint: continued pre-training;
- a data2vec 2.0 audio checkpoint (fairseq ``data2vec_multi``, e.g.
  ``base_libri.pt``; the released emotion2vec models start from it): its
  0 + 12 blocks become our prenet + main blocks in order, the utterance
  tokens (absent in data2vec 2.0) keep their fresh initialisation;
- a data2vec (v1) audio checkpoint (fairseq ``data2vec_audio``, e.g.
  ``audio_base_ls.pt``): same conv front-end, positional conv and post-LN
  blocks (separate q/k/v projections are fused), no ALiBi (the ALiBi scales
  are set to 0, which switches the bias off) and no utterance tokens.

Loading is strict in the useful sense: every tensor of the checkpoint must
find a place of the same shape, and every parameter of the model must be
loaded except the documented fresh ones (utterance tokens, decoder, head,
and ALiBi scales for data2vec v1); each exception is reported.

Loading is safe: checkpoints are read with
:func:`emotion2vec.safe_load.load_torch_file` (tensors and the data-only
config types of fairseq checkpoints; nothing in the file runs). A file the
safe load refuses can be converted once by someone who trusts it
(``emotion2vec convert --trust-checkpoint SRC DIR``) and ``init_from`` set
to that model folder, or loaded with ``initialize_model(..., trust=True)``.

Authors
 * emotion2vec-sb contributors
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import torch
from torch import nn

from emotion2vec.checkpoints import (
    CheckpointError,
    official_to_ours,
    read_json,
    strip_prefixes,
    unwrap_state_dict,
)
from emotion2vec.model_folder import WEIGHTS_FILE, read_weights
from emotion2vec.safe_load import load_torch_file

logger = logging.getLogger(__name__)

#: Training-only entries of fairseq checkpoints that carry no student weight.
_IGNORED = re.compile(r"^(_ema(\..*)?|ema\..*|mask_emb|final_proj\..*|recon_proj\..*)$")

#: Parameters that may stay at their fresh initialisation.
_MAY_STAY_FRESH = re.compile(r"^(encoder\.utterance_tokens|decoder\..*|head\..*)$")

_BLOCK = re.compile(r"^encoder\.(prenet|blocks)\.(\d+)\.(.+)$")

_D2V1_BLOCK_NAMES = {
    "self_attn.out_proj.": "attention.out_proj.",
    "self_attn_layer_norm.": "attention_norm.",
    "fc1.": "ffn.fc1.",
    "fc2.": "ffn.fc2.",
    "final_layer_norm.": "ffn_norm.",
}


def _weights_file(folder: Path) -> Path:
    meta = folder / "configuration.json"
    names = ["model.pt", "emotion2vec_base.pt", "checkpoint_best.pt", "checkpoint_last.pt"]
    if meta.exists():
        metas = read_json(meta).get("file_path_metas") or {}
        init = metas.get("init_param") if isinstance(metas, dict) else None
        if isinstance(init, str) and init and Path(init).name == init:
            names.insert(0, init)
    for name in names:
        if (folder / name).is_file():
            return folder / name
    pts = sorted(folder.glob("*.pt"))
    if len(pts) == 1:
        return pts[0]
    raise CheckpointError(f"{folder}: no weights file to initialise from")


def map_data2vec_audio(state: dict) -> dict:
    """Renames a data2vec (v1) audio state dict to our names.

    Arguments
    ---------
    state : dict
        fairseq ``data2vec_audio`` keys (prefixes stripped).

    Returns
    -------
    dict
        Our names; ``encoder.blocks.N`` numbers every Transformer layer
        (re-split by :func:`split_blocks`).

    Example
    -------
    >>> w = torch.zeros(4, 4)
    >>> state = {f"encoder.layers.0.self_attn.{p}_proj.weight": w for p in "qkv"}
    >>> mapped = map_data2vec_audio(state)
    >>> list(mapped), tuple(mapped["encoder.blocks.0.attention.qkv.weight"].shape)
    (['encoder.blocks.0.attention.qkv.weight'], (12, 4))
    """
    out, qkv, unknown = {}, {}, []
    for key, value in state.items():
        if _IGNORED.match(key):
            continue
        m = re.match(r"^feature_extractor\.conv_layers\.(\d+)\.0\.weight$", key)
        if m:
            out[f"feature_extractor.layers.{m[1]}.conv.weight"] = value
            continue
        m = re.match(r"^feature_extractor\.conv_layers\.(\d+)\.2\.1\.(weight|bias)$", key)
        if m:
            out[f"feature_extractor.layers.{m[1]}.norm.{m[2]}"] = value
            continue
        m = re.match(r"^(layer_norm|post_extract_proj)\.(weight|bias)$", key)
        if m:
            part = "norm" if m[1] == "layer_norm" else "linear"
            out[f"feature_projection.{part}.{m[2]}"] = value
            continue
        m = re.match(r"^encoder\.pos_conv\.(\d+)\.0\.(weight|bias)$", key)
        if m:
            out[f"encoder.positional_conv.layers.{m[1]}.{m[2]}"] = value
            continue
        m = re.match(r"^encoder\.layer_norm\.(weight|bias)$", key)
        if m:
            out[f"encoder.input_norm.{m[1]}"] = value
            continue
        m = re.match(r"^encoder\.layers\.(\d+)\.self_attn\.([qkv])_proj\.(weight|bias)$", key)
        if m:
            qkv.setdefault((m[1], m[3]), {})[m[2]] = value
            continue
        m = re.match(r"^encoder\.layers\.(\d+)\.(.+)$", key)
        if m:
            for old, new in _D2V1_BLOCK_NAMES.items():
                if m[2].startswith(old):
                    out[f"encoder.blocks.{m[1]}.{new}{m[2][len(old):]}"] = value
                    break
            else:
                unknown.append(key)
            continue
        unknown.append(key)
    for (layer, param), parts in qkv.items():
        if set(parts) != {"q", "k", "v"}:
            raise CheckpointError(f"layer {layer}: incomplete q/k/v {param}s")
        out[f"encoder.blocks.{layer}.attention.qkv.{param}"] = torch.cat(
            [parts["q"], parts["k"], parts["v"]], dim=0
        )
    if unknown:
        raise CheckpointError(
            "data2vec audio checkpoint: unexpected keys " + ", ".join(sorted(unknown))
        )
    return out


def map_data2vec_multi(state: dict) -> dict:
    """Renames a data2vec 2.0 / emotion2vec (official) state dict to ours,
    ignoring training-only entries.

    Arguments
    ---------
    state : dict
        Official keys (prefixes stripped).

    Returns
    -------
    dict

    Example
    -------
    >>> mapped = map_data2vec_multi({"blocks.3.mlp.fc1.bias": torch.zeros(2),
    ...                              "_ema": {}})
    >>> list(mapped)
    ['encoder.blocks.3.ffn.fc1.bias']
    """
    out, unknown = {}, []
    for key, value in state.items():
        if _IGNORED.match(key):
            continue
        ours = official_to_ours(key) if torch.is_tensor(value) else None
        if ours is None:
            unknown.append(key)
            continue
        if ours == "encoder.alibi_scale" and value.dim() == 4:
            value = value.unsqueeze(0)
        out[ours] = value
    if unknown:
        raise CheckpointError("unexpected keys " + ", ".join(sorted(unknown)))
    return out


def split_blocks(state: dict, prenet_depth: int, depth: int) -> dict:
    """Renumbers Transformer blocks into ``prenet_depth`` prenet blocks and
    ``depth`` main blocks, keeping their order (prenet first).

    data2vec 2.0 base has 0 + 12 blocks, emotion2vec 4 + 8: the computation
    is the same (prenet and main blocks are identical post-LN blocks after
    the same input norm), only the names differ.

    Arguments
    ---------
    state : dict
        Our names.
    prenet_depth : int
        Target prenet blocks.
    depth : int
        Target main blocks.

    Returns
    -------
    dict

    Example
    -------
    >>> state = {f"encoder.blocks.{i}.ffn.fc1.bias": torch.zeros(1) for i in range(3)}
    >>> sorted(split_blocks(state, 1, 2))
    ['encoder.blocks.0.ffn.fc1.bias', 'encoder.blocks.1.ffn.fc1.bias', 'encoder.prenet.0.ffn.fc1.bias']
    """
    blocks, other = {}, {}
    for key, value in state.items():
        m = _BLOCK.match(key)
        if m:
            blocks.setdefault((m[1] == "blocks", int(m[2])), {})[m[3]] = value
        else:
            other[key] = value
    ordered = [blocks[k] for k in sorted(blocks)]
    if ordered and len(ordered) != prenet_depth + depth:
        raise CheckpointError(
            f"the checkpoint has {len(ordered)} Transformer blocks, the model "
            f"{prenet_depth} + {depth}: use an architecture of the same depth"
        )
    for index, params in enumerate(ordered):
        name = f"prenet.{index}" if index < prenet_depth else f"blocks.{index - prenet_depth}"
        for rest, value in params.items():
            other[f"encoder.{name}.{rest}"] = value
    return other


def read_init_checkpoint(source, trust: bool = False) -> tuple[dict, str]:
    """Reads any supported start checkpoint into our names.

    Arguments
    ---------
    source : str or path
        Model folder, official emotion2vec file or folder, data2vec 2.0 or
        data2vec audio fairseq checkpoint.
    trust : bool
        Allow full unpickling of a checkpoint the safe load refuses (runs
        any code it contains; see :mod:`emotion2vec.safe_load`).

    Returns
    -------
    state : dict
        Our names (blocks not yet re-split).
    family : str
        ``model_folder``, ``data2vec_multi`` (data2vec 2.0 / emotion2vec) or
        ``data2vec_audio``.
    """
    path = Path(source)
    if path.is_dir() and (path / "config.json").exists():
        return dict(read_weights(path / WEIGHTS_FILE)), "model_folder"
    if path.is_dir():
        path = _weights_file(path)
    if not path.exists():
        raise CheckpointError(f"{source}: no such checkpoint file or folder")
    state, _ = unwrap_state_dict(load_torch_file(path, trust=trust), path)
    state = strip_prefixes(state)
    if any(k.startswith("encoder.layers.") for k in state):
        return map_data2vec_audio(state), "data2vec_audio"
    try:
        return map_data2vec_multi(state), "data2vec_multi"
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from None


@torch.no_grad()
def initialize_model(model: nn.Module, source, trust: bool = False) -> dict:
    """Loads a start checkpoint into ``model`` (see the module docstring).

    Arguments
    ---------
    model : emotion2vec.model.Emotion2vecModel
        The student.
    source : str, path or None
        The checkpoint; None or "" for a cold start.
    trust : bool
        See :func:`read_init_checkpoint` (default: never run code from it).

    Returns
    -------
    report : dict
        ``family``, ``loaded`` (count), ``fresh`` (parameter names kept at
        their initialisation), ``dropped`` (checkpoint keys not used).

    Example
    -------
    >>> from emotion2vec.model import Emotion2vecModel
    >>> initialize_model(Emotion2vecModel(embed_dim=16, num_heads=2), None)
    {'family': 'cold_start', 'loaded': 0, 'fresh': [], 'dropped': []}
    """
    if source is None or str(source) == "":
        return {"family": "cold_start", "loaded": 0, "fresh": [], "dropped": []}
    state, family = read_init_checkpoint(source, trust=trust)
    config = model.config
    state = split_blocks(state, config.prenet_depth, config.depth)
    if family == "data2vec_audio":
        state["encoder.alibi_scale"] = torch.zeros_like(model.encoder.alibi_scale)
    target = model.state_dict()
    dropped = sorted(k for k in state if k not in target and k.startswith("head."))
    unexpected = sorted(k for k in state if k not in target and k not in dropped)
    wrong = sorted(
        f"{k} (checkpoint {tuple(state[k].shape)}, model {tuple(target[k].shape)})"
        for k in state
        if k in target and tuple(state[k].shape) != tuple(target[k].shape)
    )
    fresh = sorted(k for k in target if k not in state)
    missing = [k for k in fresh if not _MAY_STAY_FRESH.match(k)]
    problems = []
    if unexpected:
        problems.append("keys the model does not have: " + ", ".join(unexpected))
    if wrong:
        problems.append("shape mismatches: " + ", ".join(wrong))
    if missing:
        problems.append("model parameters missing from it: " + ", ".join(missing))
    if problems:
        raise CheckpointError(
            f"cannot initialise from {source} ({family}): " + "; ".join(problems)
        )
    for key, value in state.items():
        if key in target:
            target[key].copy_(value.to(target[key].dtype))
    report = {"family": family, "loaded": len(state) - len(dropped), "fresh": fresh,
              "dropped": dropped}
    logger.info(
        "initialised the student from %s (%s): %d tensors loaded; fresh: %s%s",
        source, family, report["loaded"], ", ".join(fresh) or "none",
        f"; dropped: {', '.join(dropped)}" if dropped else "",
    )
    return report
