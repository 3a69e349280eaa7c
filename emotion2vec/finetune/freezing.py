"""Which parameters fine-tune, and their learning rates.

:func:`configure_trainable` decides what trains (``trainable_blocks``):

* ``"all"``: every block, the utterance tokens, the positional conv, the
  feature projection and the head; the conv front-end stays frozen with
  ``freeze_feature_extractor`` (SpeechBrain's wav2vec2 recipes do the same);
* ``N``: only the top ``N`` Transformer blocks (blocks are numbered prenet
  first, as everywhere in the package) and the head;
* ``0``: only the head (a frozen upstream, without the feature cache).

Blocks above the deepest block the feature option reads never reach the
head; they are frozen too. Frozen parts are kept in eval mode (no
dropout) and, since nothing below them needs a gradient, autograd keeps
none of their activations: partial fine-tuning costs the memory of the
trained blocks only.

:func:`param_groups` gives the optimizer its groups: the head at
``lr_head``, the backbone at ``lr_backbone`` with optional layer-wise
decay (LLRD): block ``k`` counted from the top (the top block is 0) trains
at ``lr_backbone * layer_decay ** k``; the parts below the first block
(projection, positional conv, tokens) count as one more layer below it.
Each layer is split into a decayed and a non-decayed group
(:func:`emotion2vec.pretrain.schedulers.param_groups_for_weight_decay`).

Authors
 * emotion2vec-sb contributors
"""

import re
from typing import Any, Dict, List, Union

from torch import nn

from emotion2vec.model import resolve_blocks
from emotion2vec.pretrain.schedulers import param_groups_for_weight_decay

HEAD_LAYER = "head"


def backbone_blocks(backbone) -> List[nn.Module]:
    """The Transformer blocks of a backbone, prenet first.

    Arguments
    ---------
    backbone : Emotion2vecModel
        The encoder.

    Returns
    -------
    list of torch.nn.Module
    """
    return list(backbone.encoder.prenet) + list(backbone.encoder.blocks)


def parse_trainable_blocks(value: Union[str, int, None], num_blocks: int) -> int:
    """``trainable_blocks`` as a number of top blocks.

    Arguments
    ---------
    value : str or int
        ``"all"`` (or None) or a count in ``0 .. num_blocks``.
    num_blocks : int
        Blocks of the model.

    Returns
    -------
    int

    Example
    -------
    >>> parse_trainable_blocks("all", 12), parse_trainable_blocks(4, 12)
    (12, 4)
    >>> parse_trainable_blocks(13, 12)
    Traceback (most recent call last):
    ...
    ValueError: trainable_blocks=13: use all, or 0 to 12 (the model has 12 blocks)
    """
    if value is None or str(value).strip().lower() == "all":
        return num_blocks
    try:
        count = int(value)
    except (TypeError, ValueError):
        count = -1
    if not 0 <= count <= num_blocks or str(value).strip() != str(count):
        raise ValueError(
            f"trainable_blocks={value}: use all, or 0 to {num_blocks} "
            f"(the model has {num_blocks} blocks)"
        )
    return count


def configure_trainable(
    classifier, trainable_blocks: Union[str, int] = "all", freeze_feature_extractor: bool = True
) -> Dict[str, Any]:
    """Sets ``requires_grad`` and the frozen (eval-mode) parts of a classifier.

    Arguments
    ---------
    classifier : FineTuneClassifier
        Backbone + head (:mod:`emotion2vec.finetune.model`).
    trainable_blocks : str or int
        ``"all"`` or how many top blocks train (see the module docstring).
    freeze_feature_extractor : bool
        Keep the conv front-end frozen (only with ``"all"``; with a count,
        everything below the top blocks is frozen anyway).

    Returns
    -------
    dict
        ``trainable_blocks`` (their indices), ``trainable_parameters``,
        ``frozen_parameters`` and ``head_parameters``.

    Example
    -------
    >>> from emotion2vec.finetune.model import FineTuneClassifier
    >>> from emotion2vec.model import Emotion2vecModel, build_head
    >>> backbone = Emotion2vecModel(embed_dim=32, num_heads=4, depth=2, prenet_depth=1,
    ...     build_decoder=False,
    ...     feature_encoder_spec="[(16, 10, 5)] + [(16, 3, 2)] * 4 + [(16,2,2)] * 2")
    >>> head = build_head({"type": "linear", "input_dim": 32, "num_classes": 3})
    >>> clf = FineTuneClassifier(backbone, head, "frm")
    >>> configure_trainable(clf, 1)["trainable_blocks"]
    [2]
    >>> configure_trainable(clf, "all")["trainable_blocks"]
    [0, 1, 2]
    >>> any(p.requires_grad for p in backbone.feature_extractor.parameters())
    False
    """
    backbone, head = classifier.backbone, classifier.head
    blocks = backbone_blocks(backbone)
    count = parse_trainable_blocks(trainable_blocks, len(blocks))
    deepest = len(blocks) - 1
    if classifier.option.layers is not None:
        deepest = max(resolve_blocks(classifier.option.layers, len(blocks)))
    backbone.requires_grad_(True)
    head.requires_grad_(True)
    frozen: List[nn.Module] = []
    encoder = backbone.encoder
    if count < len(blocks):  # partial: everything below the top blocks is frozen
        frozen += [backbone.feature_extractor, backbone.feature_projection,
                   encoder.positional_conv, encoder.input_norm, encoder.prenet_dropout,
                   encoder.main_dropout]
        encoder.utterance_tokens.requires_grad_(False)
        encoder.alibi_scale.requires_grad_(False)
    elif freeze_feature_extractor:
        frozen.append(backbone.feature_extractor)
    first = len(blocks) - count
    trained = []
    for index, block in enumerate(blocks):
        if index < first or index > deepest:
            frozen.append(block)
        else:
            trained.append(index)
    for unit in frozen:
        unit.requires_grad_(False)
    classifier.frozen_units = frozen
    classifier.train(classifier.training)
    count_of = lambda params: sum(p.numel() for p in params)  # noqa: E731
    return {
        "trainable_blocks": trained,
        "trainable_parameters": count_of(p for p in classifier.parameters() if p.requires_grad),
        "frozen_parameters": count_of(p for p in classifier.parameters() if not p.requires_grad),
        "head_parameters": count_of(head.parameters()),
    }


def layer_of(name: str, prenet_depth: int, num_blocks: int) -> Union[int, str]:
    """The LLRD layer of a classifier parameter: 0 below the blocks, block
    ``i`` (prenet first) is ``i + 1``, the head is :data:`HEAD_LAYER`.

    Arguments
    ---------
    name : str
        Parameter name in :class:`~emotion2vec.finetune.model.FineTuneClassifier`.
    prenet_depth : int
        Prenet blocks.
    num_blocks : int
        All blocks.

    Returns
    -------
    int or str

    Example
    -------
    >>> [layer_of(n, 4, 12) for n in ("backbone.encoder.prenet.1.ffn.fc1.weight",
    ...     "backbone.encoder.blocks.7.attn.qkv.weight", "backbone.feature_projection.linear.bias",
    ...     "head.post.weight")]
    [2, 12, 0, 'head']
    """
    if name.startswith("head."):
        return HEAD_LAYER
    match = re.match(r"backbone\.encoder\.prenet\.(\d+)\.", name)
    if match:
        return int(match.group(1)) + 1
    match = re.match(r"backbone\.encoder\.blocks\.(\d+)\.", name)
    if match:
        return prenet_depth + int(match.group(1)) + 1
    return 0


def param_groups(
    classifier,
    lr_backbone: float,
    lr_head: float,
    layer_decay: float = 1.0,
    weight_decay: float = 0.0,
) -> List[Dict[str, Any]]:
    """Optimizer groups of the trainable parameters (see the module docstring).

    Arguments
    ---------
    classifier : FineTuneClassifier
        With :func:`configure_trainable` applied.
    lr_backbone : float
        Learning rate of the top block.
    lr_head : float
        Learning rate of the head.
    layer_decay : float
        LLRD factor per block downwards (1.0: one rate for the backbone).
    weight_decay : float
        Weight decay of matrices (vectors, biases and ALiBi scales: none).

    Returns
    -------
    list of dict
        Non-empty groups with ``params``, ``lr``, ``weight_decay`` and a
        ``name`` (``head``, ``layer<k>``, with ``/decay`` or ``/no_decay``),
        ordered from the bottom layer to the head.

    Example
    -------
    >>> from emotion2vec.finetune.model import FineTuneClassifier
    >>> from emotion2vec.model import Emotion2vecModel, build_head
    >>> backbone = Emotion2vecModel(embed_dim=32, num_heads=4, depth=2, prenet_depth=1,
    ...     build_decoder=False,
    ...     feature_encoder_spec="[(16, 10, 5)] + [(16, 3, 2)] * 4 + [(16,2,2)] * 2")
    >>> head = build_head({"type": "linear", "input_dim": 32, "num_classes": 3})
    >>> clf = FineTuneClassifier(backbone, head, "frm")
    >>> _ = configure_trainable(clf, "all")
    >>> groups = param_groups(clf, 1e-4, 1e-3, layer_decay=0.5, weight_decay=0.01)
    >>> sorted({(g["name"].split("/")[0], g["lr"]) for g in groups})
    [('head', 0.001), ('layer0', 1.25e-05), ('layer1', 2.5e-05), ('layer2', 5e-05), ('layer3', 0.0001)]
    """
    config = classifier.backbone.config
    num_blocks = config.num_blocks
    layers: Dict[Any, List] = {}
    for name, param in classifier.named_parameters():
        if param.requires_grad:
            layers.setdefault(layer_of(name, config.prenet_depth, num_blocks), []).append(
                (name, param)
            )
    order = sorted((k for k in layers if k != HEAD_LAYER)) + (
        [HEAD_LAYER] if HEAD_LAYER in layers else []
    )
    groups = []
    for layer in order:
        if layer == HEAD_LAYER:
            lr, label = float(lr_head), HEAD_LAYER
        else:
            lr = float(lr_backbone) * float(layer_decay) ** (num_blocks - layer)
            label = f"layer{layer}"
        for group in param_groups_for_weight_decay(layers[layer], weight_decay):
            if group["params"]:
                kind = "decay" if group["weight_decay"] else "no_decay"
                groups.append(dict(group, lr=lr, name=f"{label}/{kind}"))
    return groups
