"""Initialising the pre-training student from an existing checkpoint.

One hparam (``init_from``) chooses the start (paper Table 8):

- ``None`` / ``""``: cold start (the model's own random initialisation);
- an emotion2vec model folder (``emotion2vec convert`` or a recipe export),
  a pre-training results dir or any released emotion2vec checkpoint:
  continued pre-training;
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

Reading is :func:`emotion2vec.checkpoints.read_model_source` with
``strict=False`` (the key mappings of every family are in
:mod:`emotion2vec.checkpoints`); this module decides what may stay fresh.

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

import torch
from torch import nn

from emotion2vec.checkpoints import CheckpointError, read_model_source, split_blocks

logger = logging.getLogger(__name__)

#: Parameters that may stay at their fresh initialisation.
_MAY_STAY_FRESH = re.compile(r"^(encoder\.utterance_tokens|decoder\..*|head\..*)$")


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
        Allow full unpickling of a checkpoint the safe load refuses (runs
        any code it contains; default: never run code from it).

    Returns
    -------
    report : dict
        ``family`` (see :class:`emotion2vec.checkpoints.ModelSource`),
        ``loaded`` (count), ``fresh`` (parameter names kept at
        their initialisation), ``dropped`` (checkpoint keys not used).

    Example
    -------
    >>> from emotion2vec.model import Emotion2vecModel
    >>> initialize_model(Emotion2vecModel(embed_dim=16, num_heads=2), None)
    {'family': 'cold_start', 'loaded': 0, 'fresh': [], 'dropped': []}
    """
    if source is None or str(source) == "":
        return {"family": "cold_start", "loaded": 0, "fresh": [], "dropped": []}
    read = read_model_source(source, trust=trust, strict=False)
    state, family = read.state_dict, read.family
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
