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

The training path (through :mod:`emotion2vec.downstream.features`, the
cache) and the inference path (:mod:`emotion2vec.inference`) share these
definitions.

Authors
 * emotion2vec-sb contributors
"""

import re
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np
import torch

from emotion2vec.model.blocks import resolve_blocks
from emotion2vec.model.emotion2vec import FeatureOutput
from emotion2vec.model.heads import masked_mean


@dataclass(frozen=True)
class FeatureOption:
    """A parsed feature option (see the module docstring).

    Arguments
    ---------
    name : str
        Canonical name: ``frm``, ``frm_mean``, ``utt``, ``utt+frm``,
        ``layer:N`` or ``last4``.
    layers : tuple of int or None
        Blocks the upstream must return (None: the last block suffices).
    streams : tuple of str
        What is cached: ``frames`` and/or ``utt``.

    Example
    -------
    >>> FeatureOption.parse("Utt+Frm")
    FeatureOption(name='utt+frm', layers=None, streams=('frames', 'utt'))
    >>> FeatureOption.parse("layer:-2").layers, FeatureOption.parse("last4").layers
    ((-2,), (-4, -3, -2, -1))
    >>> FeatureOption.parse("cls")
    Traceback (most recent call last):
    ...
    ValueError: unknown feature option 'cls'; use frm, frm_mean, utt, utt+frm, layer:N or last4
    """

    name: str
    layers: Optional[Tuple[int, ...]]
    streams: Tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> "FeatureOption":
        """Parses ``frm``, ``frm_mean``, ``utt``, ``utt+frm`` (or ``frm+utt``),
        ``layer:N``, ``last4``.

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
        match = re.fullmatch(r"layer:(-?\d+)", key)
        if match:
            index = int(match.group(1))
            return cls(f"layer:{index}", (index,), ("frames",))
        raise ValueError(
            f"unknown feature option {text!r}; use frm, frm_mean, utt, utt+frm, layer:N or last4"
        )

    @property
    def slug(self) -> str:
        """Folder-safe name (``utt+frm`` -> ``utt_frm``, ``layer:3`` -> ``layer3``)."""
        return self.name.replace("+", "_").replace(":", "")

    def input_dim(self, dim: int) -> int:
        """Head input size for an upstream of feature size ``dim``."""
        return 2 * dim if self.name == "utt+frm" else dim

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
        if self.layers is not None:
            resolve_blocks(self.layers, upstream.num_blocks)

    def select_frames(self, out: FeatureOutput) -> torch.Tensor:
        """The frames this option uses: the last block's, or the mean of its
        blocks (``layers``), ``[batch, frames, dim]``.

        Arguments
        ---------
        out : FeatureOutput
            Upstream output computed with ``layers=self.layers``.

        Returns
        -------
        torch.Tensor
        """
        if self.layers is None:
            return out.frames
        if out.layers is None or len(out.layers) != len(self.layers):
            raise ValueError(f"feature {self.name!r} needs block outputs {self.layers}")
        return torch.stack(out.layers).mean(dim=0)

    def batch_streams(self, out: FeatureOutput) -> Dict[str, List[torch.Tensor]]:
        """Per-utterance arrays to cache from one upstream batch.

        Arguments
        ---------
        out : FeatureOutput
            Upstream output computed with ``layers=self.layers``.

        Returns
        -------
        dict
            ``frames``: list of ``[T_b, D]``; ``utt``: list of ``[1, D]``.

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
            Upstream output computed with ``layers=self.layers``.

        Returns
        -------
        x : torch.Tensor
            ``[batch, steps, input_dim]``, zero past ``lengths``.
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
            ``frames`` ``[T, D]`` and/or ``utt`` ``[1, D]``.

        Returns
        -------
        numpy.ndarray
            ``[steps, input_dim]`` float32.

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
