"""data2vec checkpoints -> our parameter names (pre-training initialisation).

- data2vec 2.0 audio (fairseq ``data2vec_multi``, e.g. ``base_libri.pt``;
  the released emotion2vec models start from it) and emotion2vec itself:
  official key names (:mod:`emotion2vec.checkpoints.keys`), training-only
  entries ignored (:func:`map_data2vec_multi`); its 0 + 12 blocks are
  renumbered into our prenet + main blocks in order (:func:`split_blocks`).
- data2vec (v1) audio (fairseq ``data2vec_audio``, e.g.
  ``audio_base_ls.pt``): same conv front-end, positional conv and post-LN
  blocks, separate q/k/v projections fused (:func:`map_data2vec_audio`).

These mappings need no config: the architecture is the student's. Read a
file with :func:`emotion2vec.checkpoints.read_model_source` (``strict=False``).

Authors
 * emotion2vec-sb contributors
"""

import re

import torch

from emotion2vec.checkpoints.keys import official_to_ours
from emotion2vec.safe_load import CheckpointError

#: Training-only entries of fairseq checkpoints that carry no student weight.
_IGNORED = re.compile(r"^(_ema(\..*)?|ema\..*|mask_emb|final_proj\..*|recon_proj\..*)$")

_BLOCK = re.compile(r"^encoder\.(prenet|blocks)\.(\d+)\.(.+)$")

_D2V1_BLOCK_NAMES = {
    "self_attn.out_proj.": "attention.out_proj.",
    "self_attn_layer_norm.": "attention_norm.",
    "fc1.": "ffn.fc1.",
    "fc2.": "ffn.fc2.",
    "final_layer_norm.": "ffn_norm.",
}


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
