"""Classification heads on frozen upstream features, and their JSON spec.

Every head maps ``x [batch, steps, features]`` (zero past ``lengths``)
and ``lengths [batch]`` (valid steps, int64) to logits ``[batch, classes]``;
this is the contract of ``emotion2vec.inference`` for exported heads.

* :class:`SuperbHead`: the paper's non-sequential head (SUPERB style, the
  official IEMOCAP ``BaseModel``): ``Linear(D, 256)`` -> ReLU applied to
  every step, padded steps zeroed, mean over the valid steps, then
  ``Linear(256, C)``. With ``utt`` features (one step) this is exactly
  Linear -> ReLU -> Linear on the pooled vector.
* :class:`LinearHead`: the linear probe of self-supervised learning: mean
  over the valid steps, then one ``Linear(D, C)``.
* :class:`GRUHead`: a 2-layer GRU over the valid steps; its last hidden
  state goes through ``Linear(hidden, C)`` (sequence-level tasks).

Both can standardise their input first (``input_norm: true`` in the spec):
per-feature mean and standard deviation over the valid steps of the training
set, set once with :meth:`PooledHead.set_input_statistics` and kept as
buffers, so they travel with the head's weights into an exported folder.
Frozen SSL features can carry the class information in small variations on
top of a large constant offset (measured on the quickstart's pre-trained
tiny model: between-utterance std 0.035 against a mean magnitude of 0.46);
a head with a fixed learning rate then hardly moves. Off by default (the
paper's protocol feeds the raw features).

Learnable weighted layer sum (``weighted_layers: L`` in the spec, the
``weighted`` feature option; s3prl's ``Featurizer``): the input steps are
``L`` blocks' features concatenated block-major, ``[batch, steps, L*D]``;
the head first applies :class:`WeightedLayerSum` (``head.layer_sum``):
softmax-normalised weights (one learned logit per block, zero at start, so
the start is the plain mean of the blocks), optionally after a per-block
layer norm without affine parameters (``layer_norm: true``, s3prl's
``normalize``; off by default), giving ``[batch, steps, D]`` for the head
proper (``input_dim`` is ``D``). The weights are head parameters: trained
with the head, saved in its state dict (``layer_sum.logits``), exported with
it. ``input_norm`` then standardises the ``L*D`` stacked features (per block
and feature) before the sum. :func:`layer_weights` reads the learned
weights of any module holding a :class:`WeightedLayerSum`.

The heads return, with ``return_embedding=True``, the representation that
enters their output layer (SUPERB: the pooled first-layer output), which
:mod:`emotion2vec.downstream.plots` draws in 2-D (the paper's Figure 3/4).

:func:`build_head` builds a head from a JSON-serialisable spec (the
``downstream.json`` of an exported folder)::

    {"type": "superb" | "linear" | "gru", "input_dim": 768, "hidden": 256,
     "labels": ["ang", "hap", "neu", "sad"]   # or "num_classes": 4
     "dropout": 0.0, "num_layers": 2, "bidirectional": false,
     "input_norm": false,
     "weighted_layers": 12, "layer_norm": false}  # feature "weighted" only

Authors
 * emotion2vec-sb contributors
"""

from typing import Any, Dict, Mapping, Optional, Tuple, Union

import torch
from torch import nn

HEAD_TYPES = ("superb", "linear", "gru")


def step_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """``[batch, steps]`` True at valid steps.

    Arguments
    ---------
    lengths : torch.Tensor
        ``[batch]`` valid steps (int).
    steps : int
        Padded length.

    Returns
    -------
    torch.Tensor

    Example
    -------
    >>> step_mask(torch.tensor([2, 1]), 3).tolist()
    [[True, True, False], [True, False, False]]
    """
    return torch.arange(steps, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def masked_mean(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean of ``x [batch, steps, dim]`` over the first ``lengths`` steps.

    Arguments
    ---------
    x : torch.Tensor
        ``[batch, steps, dim]``.
    lengths : torch.Tensor
        ``[batch]`` valid steps (int).

    Returns
    -------
    torch.Tensor
        ``[batch, dim]``.

    Example
    -------
    >>> masked_mean(torch.tensor([[[1.0], [3.0], [9.0]]]), torch.tensor([2]))
    tensor([[2.]])
    """
    keep = step_mask(lengths, x.shape[1]).unsqueeze(-1).to(x.dtype)
    return (x * keep).sum(dim=1) / lengths.unsqueeze(1).to(x.dtype)


def _check_input(x: torch.Tensor, lengths: torch.Tensor, input_dim: int):
    if x.dim() != 3 or x.shape[-1] != input_dim:
        raise ValueError(
            f"head input must be [batch, steps, {input_dim}], got {tuple(x.shape)}"
        )
    if lengths.shape != (x.shape[0],):
        raise ValueError(
            f"lengths must have shape [{x.shape[0]}], got {tuple(lengths.shape)}"
        )
    lengths = lengths.to(device=x.device, dtype=torch.long)
    if ((lengths < 1) | (lengths > x.shape[1])).any():
        raise ValueError(
            f"lengths must be valid step counts in [1, {x.shape[1]}], got {lengths.tolist()}"
        )
    return lengths


class WeightedLayerSum(nn.Module):
    """Softmax-weighted sum of ``num_layers`` stacked blocks (s3prl's
    ``Featurizer``): ``x [..., num_layers * dim]`` (block-major) ->
    ``[..., dim]``.

    Zero steps (padding) stay zero, with or without ``layer_norm``.

    Arguments
    ---------
    num_layers : int
        Blocks ``L`` stacked in every step.
    dim : int
        Feature size ``D`` of one block.
    layer_norm : bool
        Layer-normalise every block (over ``D``, no affine parameters)
        before weighting (s3prl's ``normalize``).

    Example
    -------
    >>> lsum = WeightedLayerSum(3, 2)
    >>> lsum.weights().tolist()  # uniform at start
    [0.3333333432674408, 0.3333333432674408, 0.3333333432674408]
    >>> lsum(torch.tensor([[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]]])).tolist()
    [[[3.0, 4.0]]]
    """

    def __init__(self, num_layers: int, dim: int, layer_norm: bool = False):
        super().__init__()
        if int(num_layers) < 1 or int(dim) < 1:
            raise ValueError(f"weighted layer sum needs num_layers, dim >= 1, got {num_layers}, {dim}")
        self.num_layers, self.dim, self.layer_norm = int(num_layers), int(dim), bool(layer_norm)
        self.logits = nn.Parameter(torch.zeros(self.num_layers))

    @property
    def input_width(self) -> int:
        """``num_layers * dim``: the width of one input step."""
        return self.num_layers * self.dim

    def weights(self) -> torch.Tensor:
        """The softmax-normalised block weights ``[num_layers]`` (sum 1)."""
        return torch.softmax(self.logits, dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Weighted sum of the blocks of ``x [..., num_layers * dim]``.

        Arguments
        ---------
        x : torch.Tensor
            Stacked block features, block-major in the last dimension.

        Returns
        -------
        torch.Tensor
            ``[..., dim]``.
        """
        if x.shape[-1] != self.input_width:
            raise ValueError(
                f"weighted layer sum: input steps must be {self.num_layers} blocks x "
                f"{self.dim} = {self.input_width} wide, got {x.shape[-1]}"
            )
        blocks = x.unflatten(-1, (self.num_layers, self.dim))
        if self.layer_norm:
            blocks = nn.functional.layer_norm(blocks, (self.dim,))
        weights = self.weights().to(blocks.dtype)
        return torch.einsum("...ld,l->...d", blocks, weights)

    def extra_repr(self) -> str:
        return f"num_layers={self.num_layers}, dim={self.dim}, layer_norm={self.layer_norm}"


def layer_weights(module: nn.Module) -> Optional[torch.Tensor]:
    """The learned block weights of the first :class:`WeightedLayerSum` in
    ``module`` (a head, or anything holding one), or None.

    Arguments
    ---------
    module : torch.nn.Module
        E.g. a head built with ``weighted_layers``.

    Returns
    -------
    torch.Tensor or None
        ``[num_layers]`` softmax weights (detached, CPU, float32).

    Example
    -------
    >>> layer_weights(SuperbHead(4, 2, weighted_layers=2)).tolist(), layer_weights(SuperbHead(4, 2))
    ([0.5, 0.5], None)
    """
    for sub in module.modules():
        if isinstance(sub, WeightedLayerSum):
            return sub.weights().detach().float().cpu()
    return None


class PooledHead(nn.Module):
    """A head that embeds ``(x, lengths)`` into one vector per utterance
    (:meth:`embed`, defined by subclasses), then maps it to logits through
    ``self.dropout`` and ``self.post``; with ``input_norm`` the input is
    standardised first by buffers set from training statistics; with
    ``weighted_layers`` its stacked blocks are then summed by
    ``self.layer_sum`` (:class:`WeightedLayerSum`)."""

    def init_input(self, input_dim: int, input_norm: bool, weighted_layers: int = 0,
                   layer_norm: bool = False):
        """Sets ``input_dim`` and the input stages before :meth:`embed`.

        Arguments
        ---------
        input_dim : int
            Feature size of the head proper (``D``).
        input_norm : bool
            Standardise the input (:meth:`set_input_statistics`).
        weighted_layers : int
            Blocks stacked in every input step (0: none, the input is ``D`` wide).
        layer_norm : bool
            Layer-normalise every block before weighting (needs ``weighted_layers``).
        """
        self.input_dim = int(input_dim)
        weighted_layers = int(weighted_layers or 0)
        if weighted_layers < 0:
            raise ValueError(f"weighted_layers must be >= 0, got {weighted_layers}")
        if layer_norm and not weighted_layers:
            raise ValueError("layer_norm normalises the blocks of a weighted layer sum: "
                             "it needs weighted_layers (feature 'weighted')")
        self.layer_sum = (
            WeightedLayerSum(weighted_layers, self.input_dim, layer_norm) if weighted_layers else None
        )
        self.input_width = self.layer_sum.input_width if self.layer_sum else self.input_dim
        self.init_input_norm(self.input_width, input_norm)

    def init_input_norm(self, input_dim: int, enabled: bool):
        """Registers the standardisation buffers (identity until set).

        Arguments
        ---------
        input_dim : int
            Width of the input steps.
        enabled : bool
            Whether the head standardises its input at all.
        """
        self.input_norm = bool(enabled)
        if self.input_norm:
            self.register_buffer("input_mean", torch.zeros(input_dim))
            self.register_buffer("input_std", torch.ones(input_dim))

    def set_input_statistics(self, mean: torch.Tensor, std: torch.Tensor):
        """Sets the standardisation from training-set statistics.

        Arguments
        ---------
        mean : torch.Tensor
            ``[input_width]`` per-feature mean (``input_dim``, or
            ``weighted_layers * input_dim`` with a layer sum).
        std : torch.Tensor
            ``[input_width]`` per-feature standard deviation (floored at 1e-5).

        Example
        -------
        >>> head = SuperbHead(2, 2, input_norm=True)
        >>> head.set_input_statistics(torch.tensor([1.0, 0.0]), torch.tensor([2.0, 0.0]))
        >>> head.normalize_input(torch.tensor([[[3.0, 1.0]]])).tolist()
        [[[1.0, 100000.0]]]
        """
        if not self.input_norm:
            raise ValueError("this head was built without input_norm")
        self.input_mean.copy_(mean.to(self.input_mean))
        self.input_std.copy_(std.to(self.input_std).clamp_min(1e-5))

    def normalize_input(self, x: torch.Tensor) -> torch.Tensor:
        """``(x - mean) / std`` when ``input_norm`` is on, else ``x``."""
        if not self.input_norm:
            return x
        return (x - self.input_mean) / self.input_std

    def embed(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``[batch, embedding]`` from ``x [batch, steps, input_dim]``."""
        raise NotImplementedError

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor, return_embedding: bool = False
    ) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        """Logits ``[batch, classes]`` (and the embedding when asked).

        Arguments
        ---------
        x : torch.Tensor
            ``[batch, steps, input_width]`` (``input_dim``, or
            ``weighted_layers * input_dim`` stacked blocks), zero past ``lengths``.
        lengths : torch.Tensor
            ``[batch]`` valid steps (int).
        return_embedding : bool
            Also return :meth:`embed`'s output.

        Returns
        -------
        torch.Tensor or (torch.Tensor, torch.Tensor)
        """
        if x.dim() != 3 or x.shape[-1] != self.input_width:
            blocks = f" ({self.layer_sum.num_layers} blocks x {self.input_dim})" if self.layer_sum else ""
            raise ValueError(
                f"head input must be [batch, steps, {self.input_width}]{blocks}, got {tuple(x.shape)}"
            )
        x = self.normalize_input(x)
        if self.layer_sum is not None:
            x = self.layer_sum(x)
        embedding = self.embed(x, lengths)
        logits = self.post(self.dropout(embedding))
        return (logits, embedding) if return_embedding else logits


class SuperbHead(PooledHead):
    """Linear -> ReLU per step, masked mean over valid steps, Linear.

    Arguments
    ---------
    input_dim : int
        Feature size ``D``.
    num_classes : int
        Output classes.
    hidden : int
        Size of the first layer (256 in the paper).
    dropout : float
        Dropout on the pooled representation (0 in the paper).
    input_norm : bool
        Standardise the input (see :meth:`PooledHead.set_input_statistics`).
    weighted_layers : int
        Blocks stacked in every input step, summed with learned weights
        first (0: none; see :class:`WeightedLayerSum`).
    layer_norm : bool
        Layer-normalise every block before weighting.

    Example
    -------
    >>> head = SuperbHead(768, 4)
    >>> sum(p.numel() for p in head.parameters())  # the paper's "0.20M"
    197892
    >>> x = torch.randn(2, 5, 768)
    >>> x[1, 3:] = 0.0
    >>> logits = head(x, torch.tensor([5, 3]))
    >>> logits.shape
    torch.Size([2, 4])
    >>> torch.allclose(logits[1], head(x[1:, :3], torch.tensor([3]))[0], atol=1e-6)
    True
    """

    def __init__(
        self, input_dim: int, num_classes: int, hidden: int = 256, dropout: float = 0.0,
        input_norm: bool = False, weighted_layers: int = 0, layer_norm: bool = False,
    ):
        super().__init__()
        self.init_input(input_dim, input_norm, weighted_layers, layer_norm)
        self.pre = nn.Linear(self.input_dim, hidden)
        self.dropout = nn.Dropout(dropout)
        self.post = nn.Linear(hidden, num_classes)

    def embed(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Pooled first-layer representation ``[batch, hidden]``.

        Arguments
        ---------
        x : torch.Tensor
            ``[batch, steps, input_dim]``.
        lengths : torch.Tensor
            ``[batch]`` valid steps.

        Returns
        -------
        torch.Tensor
        """
        lengths = _check_input(x, lengths, self.input_dim)
        return masked_mean(torch.relu(self.pre(x)), lengths)

class LinearHead(PooledHead):
    """Masked mean over valid steps, then ``Linear(D, C)`` (a linear probe).

    Arguments
    ---------
    input_dim : int
        Feature size ``D``.
    num_classes : int
        Output classes.
    dropout : float
        Dropout on the pooled features.
    input_norm : bool
        Standardise the input (see :meth:`PooledHead.set_input_statistics`).
    weighted_layers : int
        Blocks stacked in every input step (see :class:`SuperbHead`).
    layer_norm : bool
        Layer-normalise every block before weighting.

    Example
    -------
    >>> head = LinearHead(8, 3)
    >>> x = torch.randn(2, 4, 8)
    >>> x[1, 2:] = 0.0
    >>> logits = head(x, torch.tensor([4, 2]))
    >>> torch.allclose(logits[1], head(x[1:, :2], torch.tensor([2]))[0], atol=1e-6)
    True
    """

    def __init__(self, input_dim: int, num_classes: int, dropout: float = 0.0, input_norm: bool = False,
                 weighted_layers: int = 0, layer_norm: bool = False):
        super().__init__()
        self.init_input(input_dim, input_norm, weighted_layers, layer_norm)
        self.dropout = nn.Dropout(dropout)
        self.post = nn.Linear(self.input_dim, num_classes)

    def embed(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Mean of the valid steps ``[batch, input_dim]``.

        Arguments
        ---------
        x : torch.Tensor
            ``[batch, steps, input_dim]``.
        lengths : torch.Tensor
            ``[batch]`` valid steps.

        Returns
        -------
        torch.Tensor
        """
        return masked_mean(x, _check_input(x, lengths, self.input_dim))


class GRUHead(PooledHead):
    """GRU over the valid steps; its last hidden state -> Linear.

    Arguments
    ---------
    input_dim : int
        Feature size ``D``.
    num_classes : int
        Output classes.
    hidden : int
        GRU hidden size (per direction).
    num_layers : int
        Stacked GRU layers (2 in the paper).
    bidirectional : bool
        Run the GRU both ways (the embedding concatenates both ends).
    dropout : float
        Dropout between GRU layers and before the output layer.
    input_norm : bool
        Standardise the input (see :meth:`PooledHead.set_input_statistics`).
    weighted_layers : int
        Blocks stacked in every input step (see :class:`SuperbHead`).
    layer_norm : bool
        Layer-normalise every block before weighting.

    Example
    -------
    >>> head = GRUHead(8, 3, hidden=16)
    >>> x = torch.randn(2, 6, 8)
    >>> x[1, 2:] = 0.0
    >>> logits = head(x, torch.tensor([6, 2]))
    >>> torch.allclose(logits[1], head(x[1:, :2], torch.tensor([2]))[0], atol=1e-6)
    True
    """

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        hidden: int = 256,
        num_layers: int = 2,
        bidirectional: bool = False,
        dropout: float = 0.0,
        input_norm: bool = False,
        weighted_layers: int = 0,
        layer_norm: bool = False,
    ):
        super().__init__()
        self.init_input(input_dim, input_norm, weighted_layers, layer_norm)
        self.gru = nn.GRU(
            self.input_dim, hidden, num_layers=num_layers, batch_first=True,
            bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.post = nn.Linear(hidden * (2 if bidirectional else 1), num_classes)

    def embed(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Last hidden state of the top GRU layer ``[batch, hidden(*2)]``.

        Arguments
        ---------
        x : torch.Tensor
            ``[batch, steps, input_dim]``.
        lengths : torch.Tensor
            ``[batch]`` valid steps.

        Returns
        -------
        torch.Tensor
        """
        lengths = _check_input(x, lengths, self.input_dim)
        packed = nn.utils.rnn.pack_padded_sequence(
            x, lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        _, last = self.gru(packed)  # [layers * directions, batch, hidden]
        if self.gru.bidirectional:
            return torch.cat([last[-2], last[-1]], dim=-1)
        return last[-1]

def _num_classes(spec: Mapping[str, Any]) -> int:
    if "labels" in spec:
        n = len(spec["labels"])
        if "num_classes" in spec and int(spec["num_classes"]) != n:
            raise ValueError(
                f"head spec: num_classes={spec['num_classes']} but {n} labels"
            )
        return n
    if "num_classes" in spec:
        return int(spec["num_classes"])
    raise ValueError("head spec needs 'labels' or 'num_classes'")


def build_head(spec: Mapping[str, Any]) -> nn.Module:
    """Builds a head from its JSON spec (see the module docstring).

    Keys other than the head's (``feature``, ``format``, ...) are ignored,
    so the whole ``downstream.json`` can be passed.

    Arguments
    ---------
    spec : mapping
        ``type`` (default ``superb``), ``input_dim``, ``labels`` or
        ``num_classes``, and optionally ``hidden`` (256), ``dropout`` (0.0),
        ``num_layers`` (2) and ``bidirectional`` (False) for ``gru``,
        ``input_norm`` (False), ``weighted_layers`` (0: no weighted layer
        sum) and ``layer_norm`` (False).

    Returns
    -------
    torch.nn.Module
        A freshly initialised :class:`SuperbHead`, :class:`LinearHead` or
        :class:`GRUHead` (with ``weighted_layers``: its ``layer_sum``
        first).

    Example
    -------
    >>> head = build_head({"type": "superb", "input_dim": 32, "labels": ["a", "b"]})
    >>> head(torch.randn(3, 4, 32), torch.tensor([4, 2, 1])).shape
    torch.Size([3, 2])
    >>> build_head({"type": "mlp", "input_dim": 32, "num_classes": 2})
    Traceback (most recent call last):
    ...
    ValueError: unknown head type 'mlp'; use one of: superb, linear, gru
    """
    kind = str(spec.get("type", "superb")).lower()
    if kind not in HEAD_TYPES:
        raise ValueError(f"unknown head type {kind!r}; use one of: {', '.join(HEAD_TYPES)}")
    if "input_dim" not in spec:
        raise ValueError("head spec needs 'input_dim' (the feature size)")
    input_dim, classes = int(spec["input_dim"]), _num_classes(spec)
    hidden = int(spec.get("hidden", 256))
    dropout = float(spec.get("dropout", 0.0))
    inputs = {
        "input_norm": bool(spec.get("input_norm", False)),
        "weighted_layers": int(spec.get("weighted_layers") or 0),
        "layer_norm": bool(spec.get("layer_norm", False)),
    }
    if kind == "superb":
        return SuperbHead(input_dim, classes, hidden=hidden, dropout=dropout, **inputs)
    if kind == "linear":
        return LinearHead(input_dim, classes, dropout=dropout, **inputs)
    return GRUHead(
        input_dim, classes, hidden=hidden, num_layers=int(spec.get("num_layers", 2)),
        bidirectional=bool(spec.get("bidirectional", False)), dropout=dropout, **inputs,
    )


def head_spec(
    head: Mapping[str, Any], input_dim: int, labels, feature: str,
    weighted_layers: Optional[int] = None,
) -> Dict[str, Any]:
    """The complete, JSON-serialisable spec of a head (``downstream.json``).

    :meth:`emotion2vec.model.featurize.FeatureOption.head_spec` fills
    ``input_dim`` and ``weighted_layers`` in from an upstream.

    Arguments
    ---------
    head : mapping
        Head options from the hparams (``type``, ``hidden``, ``layer_norm``, ...).
    input_dim : int
        Feature size of the head proper for the chosen feature option
        (``weighted``: one block's ``D``).
    labels : sequence of str
        Class labels in output order.
    feature : str
        Feature option (``frm``, ``utt``, ``utt+frm``, ``layer:N``, ``last4``,
        ``weighted``).
    weighted_layers : int, optional
        Blocks the head weights: required for ``weighted`` (the upstream's
        ``num_blocks``), refused for the other options.

    Returns
    -------
    dict

    Example
    -------
    >>> head_spec({"type": "superb", "hidden": 256}, 768, ["ang", "hap"], "frm")
    {'format': 1, 'type': 'superb', 'hidden': 256, 'input_dim': 768, 'labels': ['ang', 'hap'], 'feature': 'frm'}
    >>> head_spec({"type": "linear"}, 768, ["a"], "weighted", weighted_layers=12)["weighted_layers"]
    12
    """
    if (feature == "weighted") != bool(weighted_layers):
        raise ValueError(
            f"head spec: feature {feature!r} with weighted_layers={weighted_layers!r}; "
            "the 'weighted' feature (and only it) needs the number of blocks it weights"
        )
    spec = {"format": 1, "type": "superb"}
    spec.update({str(k): v for k, v in dict(head).items()})
    spec.pop("weighted_layers", None)
    if weighted_layers:
        spec["weighted_layers"] = int(weighted_layers)
    spec.update(input_dim=int(input_dim), labels=[str(label) for label in labels], feature=feature)
    build_head(spec)  # fail early on a bad spec
    return spec
