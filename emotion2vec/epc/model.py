"""The hierarchical GRU of emotion prediction in conversation.

Shapes of a batch of samples (histories left-aligned: turn 0 is the oldest
turn of the window; the utterances of a turn in time order; padding after):

* utterance inputs ``[batch, turns, utts, dim]`` (frozen vectors:
  emotion2vec speech features and/or BERT text features), or token IDs
  ``[batch, turns, utts, tokens]`` for the trained text encoder;
* ``utt_counts [batch, turns]`` utterances per turn (0 for a missing turn),
  ``turn_counts [batch]`` history turns (>= 1), ``own [batch, turns]``
  whether the target speaker spoke the turn.

:class:`HierarchicalGRU`: an utterance-level GRU reads each turn's
utterance vectors (its last state is the turn vector), a turn-level GRU
reads the turn vectors (with the ``own`` flag) and its last state goes to a
linear classifier. Padded utterances and turns are packed away, so they
never reach a GRU: a sample gives the same output alone or in any batch.

Authors
 * emotion2vec-sb contributors
"""

from typing import Any, Dict, Mapping, Optional, Tuple

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from emotion2vec.model.heads import step_mask


def _last_states(gru: nn.GRU, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Final hidden state ``[n, hidden * directions]`` of each packed sequence."""
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    _, h_n = gru(packed)  # [layers * directions, n, hidden]
    directions = 2 if gru.bidirectional else 1
    return torch.cat([h_n[-d] for d in range(directions, 0, -1)], dim=-1)


class TextEncoder(nn.Module):
    """Token IDs -> one vector per utterance: embedding, BiGRU, masked mean.

    Arguments
    ---------
    vocab_size : int
        Tokenizer vocabulary (ID 0 = padding).
    embed_dim : int
        Token embedding size.
    hidden : int
        GRU size per direction (output ``2 * hidden``).

    Example
    -------
    >>> enc = TextEncoder(20, embed_dim=8, hidden=4)
    >>> tokens = torch.tensor([[3, 4, 0], [5, 0, 0]])
    >>> enc(tokens, torch.tensor([2, 1])).shape, enc.output_dim
    (torch.Size([2, 8]), 8)
    """

    def __init__(self, vocab_size: int, embed_dim: int = 128, hidden: int = 64):
        super().__init__()
        self.embedding = nn.Embedding(int(vocab_size), int(embed_dim), padding_idx=0)
        self.gru = nn.GRU(int(embed_dim), int(hidden), batch_first=True, bidirectional=True)
        self.output_dim = 2 * int(hidden)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``[n, output_dim]`` from ``tokens [n, length]`` with ``lengths [n]`` (>= 1)."""
        packed = pack_padded_sequence(
            self.embedding(tokens), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        out, _ = self.gru(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=tokens.shape[1])
        keep = step_mask(lengths.to(out.device), out.shape[1]).unsqueeze(-1).to(out.dtype)
        return (out * keep).sum(1) / lengths.to(out).clamp_min(1).unsqueeze(1)


class HierarchicalGRU(nn.Module):
    """Utterance-level GRU inside each turn, turn-level GRU over the history.

    Arguments
    ---------
    input_dim : int
        Utterance vector size.
    num_classes : int
        Output classes.
    utt_hidden : int
        Utterance-level GRU size (= turn vector size).
    turn_hidden : int
        Turn-level GRU size (= sample embedding size).
    dropout : float
        Dropout on the turn vectors and on the sample embedding.
    speaker_flag : bool
        Append to each turn vector whether the target speaker spoke it.

    Example
    -------
    >>> net = HierarchicalGRU(4, 3, utt_hidden=5, turn_hidden=6)
    >>> x = torch.randn(2, 3, 2, 4)
    >>> utt_counts = torch.tensor([[2, 1, 1], [1, 0, 0]])
    >>> own = torch.tensor([[True, False, True], [False, False, False]])
    >>> logits, emb = net(x, utt_counts, torch.tensor([3, 1]), own)
    >>> logits.shape, emb.shape
    (torch.Size([2, 3]), torch.Size([2, 6]))
    """

    def __init__(self, input_dim: int, num_classes: int, utt_hidden: int = 128,
                 turn_hidden: int = 128, dropout: float = 0.3, speaker_flag: bool = True):
        super().__init__()
        self.speaker_flag = bool(speaker_flag)
        self.utt_gru = nn.GRU(int(input_dim), int(utt_hidden), batch_first=True)
        self.turn_gru = nn.GRU(int(utt_hidden) + int(self.speaker_flag), int(turn_hidden),
                               batch_first=True)
        self.dropout = nn.Dropout(float(dropout))
        self.classifier = nn.Linear(int(turn_hidden), int(num_classes))

    def forward(self, x: torch.Tensor, utt_counts: torch.Tensor, turn_counts: torch.Tensor,
                own: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Logits ``[batch, classes]`` and the sample embedding ``[batch, turn_hidden]``.

        Arguments
        ---------
        x : torch.Tensor
            ``[batch, turns, utts, input_dim]`` utterance vectors.
        utt_counts : torch.Tensor
            ``[batch, turns]`` valid utterances per turn (0 past ``turn_counts``).
        turn_counts : torch.Tensor
            ``[batch]`` valid turns (>= 1).
        own : torch.Tensor
            ``[batch, turns]`` bool, target speaker's turn.

        Returns
        -------
        (torch.Tensor, torch.Tensor)
        """
        batch, turns = x.shape[:2]
        utt_counts, turn_counts = utt_counts.to(x.device).long(), turn_counts.to(x.device).long()
        valid_turns = step_mask(turn_counts, turns)
        if (turn_counts < 1).any() or ((utt_counts > 0) != valid_turns).any():
            raise ValueError(
                "every sample needs >= 1 history turn, and exactly its first turn_counts turns "
                f"must hold utterances (turn_counts {turn_counts.tolist()}, "
                f"utt_counts {utt_counts.tolist()})"
            )
        turn_vectors = x.new_zeros(batch, turns, self.utt_gru.hidden_size)
        turn_vectors[valid_turns] = _last_states(self.utt_gru, x[valid_turns], utt_counts[valid_turns])
        if self.speaker_flag:
            turn_vectors = torch.cat([turn_vectors, own.to(x).unsqueeze(-1)], dim=-1)
        embedding = _last_states(self.turn_gru, self.dropout(turn_vectors), turn_counts)
        return self.classifier(self.dropout(embedding)), embedding


class EpcModel(nn.Module):
    """Utterance vectors from the modalities, then :class:`HierarchicalGRU`.

    An utterance's vector is the concatenation of its frozen vector
    (standardised with training statistics when ``input_norm``) and the
    text encoder's output of its tokens, whichever the model has.

    Arguments
    ---------
    num_classes : int
        Output classes.
    vector_dim : int
        Size of the frozen per-utterance vectors (0: none).
    vocab_size : int
        Tokenizer vocabulary of the trained text encoder (0: none).
    input_norm : bool
        Standardise the frozen vectors.
    text_embed_dim, text_hidden : int
        :class:`TextEncoder` sizes.
    utt_hidden, turn_hidden : int
        :class:`HierarchicalGRU` sizes.
    dropout : float
        Dropout on the utterance vectors, the turn vectors and the embedding.
    speaker_flag : bool
        See :class:`HierarchicalGRU`.

    Example
    -------
    >>> model = EpcModel(4, vector_dim=6, vocab_size=10, text_embed_dim=4, text_hidden=3,
    ...                  utt_hidden=5, turn_hidden=7)
    >>> vectors, tokens = torch.randn(2, 3, 2, 6), torch.randint(1, 10, (2, 3, 2, 4))
    >>> token_counts = torch.full((2, 3, 2), 4)
    >>> utt_counts = torch.tensor([[2, 2, 1], [1, 0, 0]])
    >>> own = torch.zeros(2, 3, dtype=torch.bool)
    >>> logits, emb = model(utt_counts, torch.tensor([3, 1]), own, vectors, tokens, token_counts)
    >>> logits.shape, emb.shape, model.utterance_dim
    (torch.Size([2, 4]), torch.Size([2, 7]), 12)
    """

    def __init__(self, num_classes: int, vector_dim: int = 0, vocab_size: int = 0,
                 input_norm: bool = True, text_embed_dim: int = 128, text_hidden: int = 64,
                 utt_hidden: int = 128, turn_hidden: int = 128, dropout: float = 0.3,
                 speaker_flag: bool = True):
        super().__init__()
        if vector_dim <= 0 and vocab_size <= 0:
            raise ValueError("EpcModel needs frozen vectors (vector_dim) and/or tokens (vocab_size)")
        self.vector_dim = int(vector_dim)
        self.input_norm = bool(input_norm) and self.vector_dim > 0
        if self.input_norm:
            self.register_buffer("input_mean", torch.zeros(self.vector_dim))
            self.register_buffer("input_std", torch.ones(self.vector_dim))
        self.text = TextEncoder(vocab_size, text_embed_dim, text_hidden) if vocab_size > 0 else None
        self.utterance_dim = self.vector_dim + (self.text.output_dim if self.text else 0)
        self.dropout = nn.Dropout(float(dropout))
        self.gru = HierarchicalGRU(self.utterance_dim, num_classes, utt_hidden, turn_hidden,
                                   dropout, speaker_flag)

    def set_input_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Standardisation of the frozen vectors (std floored at 1e-5).

        Arguments
        ---------
        mean : torch.Tensor
            ``[vector_dim]``.
        std : torch.Tensor
            ``[vector_dim]``.
        """
        if not self.input_norm:
            raise ValueError("this model was built without input_norm (or without vectors)")
        self.input_mean.copy_(mean.to(self.input_mean))
        self.input_std.copy_(std.to(self.input_std).clamp_min(1e-5))

    def forward(self, utt_counts: torch.Tensor, turn_counts: torch.Tensor, own: torch.Tensor,
                vectors: Optional[torch.Tensor] = None, tokens: Optional[torch.Tensor] = None,
                token_counts: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Logits ``[batch, classes]`` and embedding ``[batch, turn_hidden]``.

        Arguments
        ---------
        utt_counts : torch.Tensor
            ``[batch, turns]``.
        turn_counts : torch.Tensor
            ``[batch]``.
        own : torch.Tensor
            ``[batch, turns]`` bool.
        vectors : torch.Tensor, optional
            ``[batch, turns, utts, vector_dim]`` (needed when ``vector_dim``).
        tokens : torch.Tensor, optional
            ``[batch, turns, utts, length]`` token IDs (needed with a text encoder).
        token_counts : torch.Tensor, optional
            ``[batch, turns, utts]`` valid tokens (>= 1 at valid utterances).

        Returns
        -------
        (torch.Tensor, torch.Tensor)
        """
        utts = (vectors if vectors is not None else tokens).shape[2]
        valid = step_mask(utt_counts.reshape(-1), utts).view(*utt_counts.shape, utts)
        parts = []
        if self.vector_dim:
            if vectors is None or vectors.shape[-1] != self.vector_dim:
                raise ValueError(f"model expects vectors [..., {self.vector_dim}]")
            if self.input_norm:
                vectors = (vectors - self.input_mean) / self.input_std
            parts.append(vectors * valid.unsqueeze(-1).to(vectors))
        if self.text is not None:
            if tokens is None or token_counts is None:
                raise ValueError("model expects tokens and token_counts")
            encoded = self.text(tokens[valid], token_counts[valid])
            text = encoded.new_zeros(*valid.shape, encoded.shape[-1])
            text[valid] = encoded
            parts.append(text)
        x = self.dropout(torch.cat(parts, dim=-1))
        return self.gru(x, utt_counts, turn_counts, own)


MODEL_KEYS = ("vector_dim", "vocab_size", "input_norm", "text_embed_dim", "text_hidden",
              "utt_hidden", "turn_hidden", "dropout", "speaker_flag")


def model_spec(num_classes: int, options: Mapping[str, Any]) -> Dict[str, Any]:
    """The JSON-serialisable description :func:`build_model` takes.

    Arguments
    ---------
    num_classes : int
        Output classes.
    options : mapping
        Values for :data:`MODEL_KEYS` (others are ignored; missing ones
        take the :class:`EpcModel` defaults).

    Returns
    -------
    dict

    Example
    -------
    >>> spec = model_spec(4, {"vector_dim": 8, "utt_hidden": 16, "lr": 0.1})
    >>> build_model(spec).gru.utt_gru.hidden_size, sorted(spec)
    (16, ['num_classes', 'utt_hidden', 'vector_dim'])
    """
    spec = {key: options[key] for key in MODEL_KEYS if key in options}
    return {"num_classes": int(num_classes), **spec}


def build_model(spec: Mapping[str, Any]) -> EpcModel:
    """An :class:`EpcModel` from :func:`model_spec`'s output."""
    return EpcModel(**dict(spec))
