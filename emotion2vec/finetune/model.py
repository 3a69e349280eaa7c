"""The fine-tuned classifier: an emotion2vec backbone and a downstream head.

:func:`load_backbone` reads any upstream (a model folder, an emotion2vec+
folder, a pre-training results folder or a released checkpoint, through
:func:`emotion2vec.checkpoints.read_model_source`) and keeps only the
encoder: an official classification head (emotion2vec+, 9 labels) and a
pre-training decoder are dropped, since a new head is trained for the
user's labels and fine-tuning never decodes.

:class:`FineTuneClassifier` runs the same pipeline as inference
(:class:`emotion2vec.inference.Emotion2vecClassifier`): the backbone's
``extract_features`` with the feature option's blocks, the option's
``head_inputs``, then the head built by
:func:`emotion2vec.model.heads.build_head`. Any feature option and head
type the package defines (including ones that live inside the head, such
as a learnable layer sum) therefore fine-tune and export unchanged.

Authors
 * emotion2vec-sb contributors
"""

import dataclasses
import logging
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
from torch import nn

from emotion2vec.checkpoints import read_model_source
from emotion2vec.fileutils import PathLike
from emotion2vec.model import Emotion2vecModel, resolve_blocks
from emotion2vec.model.featurize import FeatureOption

logger = logging.getLogger(__name__)


def load_backbone(source: PathLike, trust: bool = False) -> Tuple[Emotion2vecModel, Dict[str, Any]]:
    """The encoder of any emotion2vec upstream, without head or decoder.

    Arguments
    ---------
    source : str or path
        Model folder, pre-training results folder or released checkpoint.
    trust : bool
        Allow full unpickling of a checkpoint the safe loader refuses
        (see :mod:`emotion2vec.safe_load`; only for files you trust).

    Returns
    -------
    backbone : Emotion2vecModel
        ``num_labels=0``, ``build_decoder=False``, weights loaded strictly.
    info : dict
        ``family``, ``provenance`` (what the source says it was made from),
        ``dropped`` (the prefixes left out, e.g. ``["head"]``) and
        ``dropped_labels`` (the official head's).

    Example
    -------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from emotion2vec.model_folder import save_model_folder
    >>> model = Emotion2vecModel(embed_dim=32, num_heads=4, depth=1, prenet_depth=1,
    ...     num_labels=2, decoder_dim=16,
    ...     feature_encoder_spec="[(16, 10, 5)] + [(16, 3, 2)] * 4 + [(16,2,2)] * 2")
    >>> folder = Path(tempfile.mkdtemp()) / "plus"
    >>> _ = save_model_folder(folder, model.config, model.state_dict(), labels=["a", "b"])
    >>> backbone, info = load_backbone(folder)
    >>> backbone.head is None, backbone.decoder is None, info["dropped"], info["dropped_labels"]
    (True, True, ['decoder', 'head'], ['a', 'b'])
    """
    read = read_model_source(source, trust=trust, strict=True)
    config = dataclasses.replace(read.config, num_labels=0, build_decoder=False)
    backbone = Emotion2vecModel(config)
    wanted = set(backbone.state_dict())
    state = {k: v for k, v in read.state_dict.items() if k in wanted}
    dropped = sorted({k.split(".")[0] for k in read.state_dict if k not in wanted})
    backbone.load_state_dict(state, strict=True)
    if read.labels or "head" in dropped:
        logger.info(
            "upstream %s: its classification head (%s) is replaced by a new head for your labels",
            source, ", ".join(read.labels) or f"{read.config.num_labels} outputs",
        )
    info = {"family": read.family, "provenance": read.source, "dropped": dropped,
            "dropped_labels": list(read.labels)}
    return backbone, info


class FineTuneClassifier(nn.Module):
    """Backbone -> feature option -> head: logits ``[batch, classes]``.

    Arguments
    ---------
    backbone : Emotion2vecModel
        The encoder (:func:`load_backbone`).
    head : torch.nn.Module
        A head from :func:`emotion2vec.model.heads.build_head`.
    feature : str
        Feature option (``frm``, ``utt``, ``layer:N``, ...).

    Example
    -------
    >>> from emotion2vec.model.heads import build_head
    >>> backbone = Emotion2vecModel(embed_dim=32, num_heads=4, depth=1, prenet_depth=1,
    ...     build_decoder=False,
    ...     feature_encoder_spec="[(16, 10, 5)] + [(16, 3, 2)] * 4 + [(16,2,2)] * 2")
    >>> head = build_head({"type": "linear", "input_dim": 32, "labels": ["a", "b", "c"]})
    >>> clf = FineTuneClassifier(backbone, head, "frm").eval()
    >>> clf(torch.randn(2, 8000), torch.tensor([1.0, 0.5])).shape
    torch.Size([2, 3])
    """

    def __init__(self, backbone: Emotion2vecModel, head: nn.Module, feature: str):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.option = FeatureOption.parse(feature)
        if self.option.layers is not None:
            resolve_blocks(self.option.layers, backbone.config.num_blocks)
        self.frozen_units: List[nn.Module] = []  # kept in eval mode (no dropout)

    @property
    def layers(self) -> Optional[List[int]]:
        """Blocks the feature option reads (None: the last block)."""
        return None if self.option.layers is None else list(self.option.layers)

    def forward(
        self, wavs: torch.Tensor, wav_lens: Optional[torch.Tensor] = None,
        return_embedding: bool = False,
    ) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        """Logits of a padded batch (and the head's embedding when asked).

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` 16 kHz waveforms, right zero-padded.
        wav_lens : torch.Tensor, optional
            ``[batch]`` relative lengths.
        return_embedding : bool
            Also return the representation entering the head's output layer.

        Returns
        -------
        torch.Tensor or (torch.Tensor, torch.Tensor)
        """
        out = self.backbone.extract_features(wavs, wav_lens, layers=self.layers)
        x, lengths = self.option.head_inputs(out)
        return self.head(x, lengths, return_embedding=return_embedding)

    def train(self, mode: bool = True):
        """Train mode, except the frozen parts (no dropout where nothing trains)."""
        super().train(mode)
        for unit in self.frozen_units:
            unit.eval()
        return self
