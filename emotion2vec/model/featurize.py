"""Feature options: what a classification head receives from the model.

A feature option names the head input ``x [steps, features]``:

* ``frm``: the last block's frame features ``[T, D]`` (50 Hz for
  emotion2vec). The SUPERB head pools them (Linear -> ReLU per frame, mean
  over valid frames): the paper's default "Frm".
* ``utt``: the utterance-token output ``[1, D]``: the mean of the last
  block's outputs at the 10 utterance tokens (the "chunk embedding" that
  pre-training regresses onto the teacher's utterance mean, paper Eq. 7):
  the paper's Table 9 "Utt". Only upstreams with tokens (emotion2vec).
* ``frm_mean``: the mean of the last block's frames ``[1, D]``: the
  official utterance embedding (FunASR's ``granularity="utterance"``, what
  ``emotion2vec extract --granularity utterance`` writes). The cache keeps
  the frames; pooling happens when the head input is assembled.
* ``utt+frm``: every frame concatenated with the ``utt`` vector
  ``[T, 2D]`` (Table 9 "Utt+Frm"; after the head's mean pooling this is
  the concatenation of both views).
* ``layer:N``: block ``N``'s hidden state ``[T, D]`` (prenet first for
  emotion2vec, transformer layers for HF models; negative from the end).
* ``last4``: the mean of the last four blocks' hidden states ``[T, D]``
  (the paper's sentiment setup).
* ``weighted``: EVERY block's hidden state, for a learnable weighted sum
  inside the head (s3prl's ``Featurizer``; emotion2vec issue #5: expected to
  beat the last block). The head input is the blocks' frames concatenated
  per frame, block-major: ``[T, L*D]`` (block 0's ``D`` features first),
  so the cache, the batching and the head contract stay "steps x features";
  the head's first module (:class:`emotion2vec.model.heads.WeightedLayerSum`,
  built when the head spec has ``weighted_layers: L``) turns it into
  ``[T, D]`` with softmax-normalised learned weights, so the head proper's
  ``input_dim`` stays ``D``. ``L`` is known only from the upstream
  (``num_blocks``: prenet + main blocks for emotion2vec, 12 for the base
  model; the transformer layers for HF models): :meth:`FeatureOption.layers_for`
  gives the blocks to ask for. An upstream with one block (fbank) is
  refused by :meth:`FeatureOption.check`.

The training path (through :mod:`emotion2vec.downstream.features`, the
cache) and the inference path (:mod:`emotion2vec.inference`) share these
definitions.

Authors
 * emotion2vec-sb contributors
"""

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from emotion2vec.model import heads
from emotion2vec.model.blocks import ALL_BLOCKS, resolve_blocks
from emotion2vec.model.emotion2vec import FeatureOutput
from emotion2vec.model.heads import masked_mean

OPTION_NAMES = "frm, frm_mean, utt, utt+frm, layer:N, last4 or weighted"


@dataclass(frozen=True)
class FeatureOption:
    """A parsed feature option (see the module docstring).

    Arguments
    ---------
    name : str
        Canonical name: ``frm``, ``frm_mean``, ``utt``, ``utt+frm``,
        ``layer:N``, ``last4`` or ``weighted``.
    layers : tuple of int, "all" or None
        Blocks the upstream must return (None: the last block suffices;
        ``"all"``: every block, ``weighted``). Pass
        :meth:`layers_for` ``(upstream.num_blocks)`` to an upstream.
    streams : tuple of str
        What is cached: ``frames`` and/or ``utt``.

    Example
    -------
    >>> FeatureOption.parse("Utt+Frm")
    FeatureOption(name='utt+frm', layers=None, streams=('frames', 'utt'))
    >>> FeatureOption.parse("layer:-2").layers, FeatureOption.parse("last4").layers
    ((-2,), (-4, -3, -2, -1))
    >>> FeatureOption.parse("weighted").layers_for(3)
    [0, 1, 2]
    >>> FeatureOption.parse("cls")
    Traceback (most recent call last):
    ...
    ValueError: unknown feature option 'cls'; use frm, frm_mean, utt, utt+frm, layer:N, last4 or weighted
    """

    name: str
    layers: Union[None, str, Tuple[int, ...]]
    streams: Tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> "FeatureOption":
        """Parses ``frm``, ``frm_mean``, ``utt``, ``utt+frm`` (or ``frm+utt``),
        ``layer:N``, ``last4``, ``weighted``.

        Arguments
        ---------
        text : str
            The option (case-insensitive).

        Returns
        -------
        FeatureOption
        """
        key = str(text).strip().lower().replace(" ", "")
        if key == "frm":
            return cls("frm", None, ("frames",))
        if key == "frm_mean":
            return cls("frm_mean", None, ("frames",))
        if key == "utt":
            return cls("utt", None, ("utt",))
        if key in ("utt+frm", "frm+utt"):
            return cls("utt+frm", None, ("frames", "utt"))
        if key == "last4":
            return cls("last4", (-4, -3, -2, -1), ("frames",))
        if key == "weighted":
            return cls("weighted", ALL_BLOCKS, ("frames",))
        match = re.fullmatch(r"layer:(-?\d+)", key)
        if match:
            index = int(match.group(1))
            return cls(f"layer:{index}", (index,), ("frames",))
        raise ValueError(f"unknown feature option {text!r}; use {OPTION_NAMES}")

    @property
    def slug(self) -> str:
        """Folder-safe name (``utt+frm`` -> ``utt_frm``, ``layer:3`` -> ``layer3``)."""
        return self.name.replace("+", "_").replace(":", "")

    @property
    def weighted(self) -> bool:
        """Whether the head weights every block (the head input stacks them)."""
        return self.layers == ALL_BLOCKS

    def layers_for(self, num_blocks: int) -> Optional[List[int]]:
        """The blocks to ask an upstream of ``num_blocks`` blocks for.

        Arguments
        ---------
        num_blocks : int
            The upstream's ``num_blocks`` (or ``Emotion2vecConfig.num_blocks``).

        Returns
        -------
        list of int or None
            Non-negative block indices (checked), or None when the last
            block's output suffices.

        Example
        -------
        >>> FeatureOption.parse("last4").layers_for(12), FeatureOption.parse("frm").layers_for(12)
        ([8, 9, 10, 11], None)
        """
        return resolve_blocks(self.layers, int(num_blocks))

    def input_dim(self, dim: int) -> int:
        """Input size of the head proper for an upstream of feature size
        ``dim`` (``weighted``: ``dim``, after the head's weighted sum; its
        input steps are ``num_blocks * dim`` wide)."""
        return 2 * dim if self.name == "utt+frm" else dim

    def weighted_layers(self, num_blocks: int) -> Optional[int]:
        """The head spec's ``weighted_layers`` for an upstream of
        ``num_blocks`` blocks: ``num_blocks`` for ``weighted``, else None."""
        return int(num_blocks) if self.weighted else None

    def head_spec(
        self, head: Mapping[str, Any], dim: int, num_blocks: int, labels: Sequence[str]
    ) -> Dict[str, Any]:
        """The head spec for this option on an upstream (:func:`heads.head_spec`
        with ``input_dim`` and ``weighted_layers`` filled in).

        Arguments
        ---------
        head : mapping
            Head options from the hparams (``type``, ``hidden``, ``layer_norm``, ...).
        dim : int
            The upstream's feature size ``D``.
        num_blocks : int
            The upstream's blocks.
        labels : sequence of str
            Class labels in output order.

        Returns
        -------
        dict

        Example
        -------
        >>> spec = FeatureOption.parse("weighted").head_spec({"type": "linear"}, 8, 3, ["a", "b"])
        >>> spec["input_dim"], spec["weighted_layers"]
        (8, 3)
        """
        return heads.head_spec(
            head, self.input_dim(dim), labels, self.name,
            weighted_layers=self.weighted_layers(num_blocks),
        )

    def check_head_spec(self, spec: Mapping[str, Any], num_blocks: int) -> None:
        """Raises ValueError unless a head spec fits this option on a model
        of ``num_blocks`` blocks (``weighted``: the head weights exactly
        ``num_blocks`` blocks; other options: it weights none).

        Arguments
        ---------
        spec : mapping
            Head spec (``downstream.json``).
        num_blocks : int
            The model's blocks.
        """
        self.layers_for(num_blocks)
        expected = self.weighted_layers(num_blocks)
        found = spec.get("weighted_layers") or None
        if (None if found is None else int(found)) != expected:
            if expected is None:
                raise ValueError(
                    f"the head weights {found} blocks (weighted_layers) but feature "
                    f"{self.name!r} gives it one feature stream; use feature 'weighted'"
                )
            raise ValueError(
                f"feature 'weighted': the head weights {found} blocks (weighted_layers) "
                f"but the model has {num_blocks}"
            )

    def check(self, upstream) -> None:
        """Raises ValueError if ``upstream`` cannot provide this option.

        Arguments
        ---------
        upstream : Upstream
            Anything with ``has_tokens``, ``kind`` and ``num_blocks`` (see
            :mod:`emotion2vec.downstream.upstreams`).
        """
        if "utt" in self.streams and not upstream.has_tokens:
            raise ValueError(
                f"feature {self.name!r} needs utterance tokens, which the "
                f"{upstream.kind} upstream does not have; use frm, layer:N or last4"
            )
        if self.weighted and upstream.num_blocks < 2:
            raise ValueError(
                f"feature 'weighted' learns a weighting of the upstream's blocks, but the "
                f"{upstream.kind} upstream has {upstream.num_blocks}; use frm"
            )
        self.layers_for(upstream.num_blocks)

    def select_frames(self, out: FeatureOutput) -> torch.Tensor:
        """The frames this option uses: the last block's, the mean of its
        blocks (``layers``), or (``weighted``) every block concatenated per
        frame, ``[batch, frames, dim]`` (``weighted``: ``num_blocks * dim``).

        Arguments
        ---------
        out : FeatureOutput
            Upstream output computed with ``layers=self.layers_for(num_blocks)``.

        Returns
        -------
        torch.Tensor
        """
        if self.layers is None:
            return out.frames
        if self.weighted:
            if not out.layers:
                raise ValueError(
                    "feature 'weighted' needs every block's output: run the upstream "
                    "with layers=option.layers_for(upstream.num_blocks)"
                )
            return torch.cat(out.layers, dim=-1)
        if out.layers is None or len(out.layers) != len(self.layers):
            raise ValueError(f"feature {self.name!r} needs block outputs {self.layers}")
        return torch.stack(out.layers).mean(dim=0)

    def batch_streams(self, out: FeatureOutput) -> Dict[str, List[torch.Tensor]]:
        """Per-utterance arrays to cache from one upstream batch.

        Arguments
        ---------
        out : FeatureOutput
            Upstream output computed with ``layers=self.layers_for(num_blocks)``.

        Returns
        -------
        dict
            ``frames``: list of ``[T_b, D]`` (``weighted``: ``[T_b, L*D]``);
            ``utt``: list of ``[1, D]``.

        Example
        -------
        >>> out = FeatureOutput(frames=torch.ones(2, 3, 4), utterance=None,
        ...     frame_lens=torch.tensor([3, 1]), tokens=torch.ones(2, 10, 4))
        >>> s = FeatureOption.parse("utt+frm").batch_streams(out)
        >>> [t.shape[0] for t in s["frames"]], s["utt"][0].shape
        ([3, 1], torch.Size([1, 4]))
        """
        result: Dict[str, List[torch.Tensor]] = {}
        lens = out.frame_lens.tolist()
        if "frames" in self.streams:
            frames = self.select_frames(out)
            result["frames"] = [frames[b, :n] for b, n in enumerate(lens)]
        if "utt" in self.streams:
            if out.tokens is None:
                raise ValueError(f"feature {self.name!r} needs utterance tokens")
            utt = out.tokens.mean(dim=1, keepdim=True)
            result["utt"] = [utt[b] for b in range(len(lens))]
        return result

    def head_inputs(self, out: FeatureOutput) -> Tuple[torch.Tensor, torch.Tensor]:
        """Batched head input straight from an upstream output (inference).

        Per utterance it equals ``assemble(batch_streams(out))``: the
        training path through the cache and the inference path share these
        definitions.

        Arguments
        ---------
        out : FeatureOutput
            Upstream output computed with ``layers=self.layers_for(num_blocks)``.

        Returns
        -------
        x : torch.Tensor
            ``[batch, steps, input_dim]`` (``weighted``: ``num_blocks * dim``
            wide), zero past ``lengths``.
        lengths : torch.Tensor
            ``[batch]`` valid steps (int64).

        Example
        -------
        >>> frames = torch.ones(2, 3, 4)
        >>> frames[1, 2] = 0.0  # padding
        >>> out = FeatureOutput(frames=frames, utterance=None,
        ...     frame_lens=torch.tensor([3, 2]), tokens=torch.ones(2, 10, 4))
        >>> x, lens = FeatureOption.parse("utt+frm").head_inputs(out)
        >>> x.shape, lens.tolist(), x[1, 2].abs().sum().item()
        (torch.Size([2, 3, 8]), [3, 2], 0.0)
        """
        lengths = out.frame_lens
        if self.name == "utt":
            return out.tokens.mean(dim=1, keepdim=True), torch.ones_like(lengths)
        frames = self.select_frames(out)
        if self.name == "frm_mean":
            return masked_mean(frames, lengths).unsqueeze(1), torch.ones_like(lengths)
        if self.name == "utt+frm":
            keep = (~out.padding_mask).unsqueeze(-1).to(frames.dtype)
            utt = out.tokens.mean(dim=1, keepdim=True).expand_as(frames) * keep
            frames = torch.cat([frames, utt], dim=-1)
        return frames, lengths

    def assemble(self, streams: Mapping[str, np.ndarray]) -> np.ndarray:
        """Builds one utterance's head input from its cached arrays.

        Arguments
        ---------
        streams : mapping
            ``frames`` ``[T, D]`` (``weighted``: ``[T, L*D]``) and/or ``utt`` ``[1, D]``.

        Returns
        -------
        numpy.ndarray
            ``[steps, input_dim]`` float32 (``weighted``: ``[steps, L*D]``).

        Example
        -------
        >>> opt = FeatureOption.parse("utt+frm")
        >>> opt.assemble({"frames": np.zeros((3, 2)), "utt": np.ones((1, 2))}).tolist()
        [[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]]
        """
        if self.name == "utt":
            return np.array(streams["utt"], dtype=np.float32)
        frames = np.array(streams["frames"], dtype=np.float32)  # a copy, never a view
        if self.name == "frm_mean":
            return frames.mean(axis=0, keepdims=True)
        if self.name == "utt+frm":
            utt = np.broadcast_to(np.asarray(streams["utt"], dtype=np.float32), frames.shape)
            return np.concatenate([frames, utt], axis=1)
        return frames
