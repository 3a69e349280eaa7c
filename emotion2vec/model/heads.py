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

Both return, with ``return_embedding=True``, the representation that
enters their output layer (SUPERB: the pooled first-layer output), which
:mod:`emotion2vec.downstream.plots` draws in 2-D (the paper's Figure 3/4).

:func:`build_head` builds a head from a JSON-serialisable spec (the
``downstream.json`` of an exported folder)::

    {"type": "superb" | "linear" | "gru", "input_dim": 768, "hidden": 256,
     "labels": ["ang", "hap", "neu", "sad"]   # or "num_classes": 4
     "dropout": 0.0, "num_layers": 2, "bidirectional": false}

Authors
 * emotion2vec-sb contributors
"""

from typing import Any, Dict, Mapping, Tuple, Union

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


class PooledHead(nn.Module):
    """A head that embeds ``(x, lengths)`` into one vector per utterance
    (:meth:`embed`, defined by subclasses), then maps it to logits through
    ``self.dropout`` and ``self.post``; with ``input_norm`` the input is
    standardised first by buffers set from training statistics."""

    def init_input_norm(self, input_dim: int, enabled: bool):
        """Registers the standardisation buffers (identity until set).

        Arguments
        ---------
        input_dim : int
            Feature size.
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
            ``[input_dim]`` per-feature mean.
        std : torch.Tensor
            ``[input_dim]`` per-feature standard deviation (floored at 1e-5).

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
            ``[batch, steps, input_dim]``, zero past ``lengths``.
        lengths : torch.Tensor
            ``[batch]`` valid steps (int).
        return_embedding : bool
            Also return :meth:`embed`'s output.

        Returns
        -------
        torch.Tensor or (torch.Tensor, torch.Tensor)
        """
        embedding = self.embed(self.normalize_input(x), lengths)
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
        input_norm: bool = False,
    ):
        super().__init__()
        self.input_dim = int(input_dim)
        self.init_input_norm(self.input_dim, input_norm)
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

    Example
    -------
    >>> head = LinearHead(8, 3)
    >>> x = torch.randn(2, 4, 8)
    >>> x[1, 2:] = 0.0
    >>> logits = head(x, torch.tensor([4, 2]))
    >>> torch.allclose(logits[1], head(x[1:, :2], torch.tensor([2]))[0], atol=1e-6)
    True
    """

    def __init__(self, input_dim: int, num_classes: int, dropout: float = 0.0, input_norm: bool = False):
        super().__init__()
        self.input_dim = int(input_dim)
        self.init_input_norm(self.input_dim, input_norm)
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
    ):
        super().__init__()
        self.input_dim = int(input_dim)
        self.init_input_norm(self.input_dim, input_norm)
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
        ``num_layers`` (2) and ``bidirectional`` (False) for ``gru``.

    Returns
    -------
    torch.nn.Module
        A freshly initialised :class:`SuperbHead` or :class:`GRUHead`.

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
    input_norm = bool(spec.get("input_norm", False))
    if kind == "superb":
        return SuperbHead(input_dim, classes, hidden=hidden, dropout=dropout, input_norm=input_norm)
    if kind == "linear":
        return LinearHead(input_dim, classes, dropout=dropout, input_norm=input_norm)
    return GRUHead(
        input_dim, classes, hidden=hidden, num_layers=int(spec.get("num_layers", 2)),
        bidirectional=bool(spec.get("bidirectional", False)), dropout=dropout,
        input_norm=input_norm,
    )


def head_spec(
    head: Mapping[str, Any], input_dim: int, labels, feature: str
) -> Dict[str, Any]:
    """The complete, JSON-serialisable spec of a head (``downstream.json``).

    Arguments
    ---------
    head : mapping
        Head options from the hparams (``type``, ``hidden``, ...).
    input_dim : int
        Feature size of the chosen feature option.
    labels : sequence of str
        Class labels in output order.
    feature : str
        Feature option (``frm``, ``utt``, ``utt+frm``, ``layer:N``, ``last4``).

    Returns
    -------
    dict

    Example
    -------
    >>> head_spec({"type": "superb", "hidden": 256}, 768, ["ang", "hap"], "frm")
    {'format': 1, 'type': 'superb', 'hidden': 256, 'input_dim': 768, 'labels': ['ang', 'hap'], 'feature': 'frm'}
    """
    spec = {"format": 1, "type": "superb"}
    spec.update({str(k): v for k, v in dict(head).items()})
    spec.update(input_dim=int(input_dim), labels=[str(label) for label in labels], feature=feature)
    build_head(spec)  # fail early on a bad spec
    return spec
