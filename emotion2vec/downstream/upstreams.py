"""Frozen upstreams behind one interface, for the downstream recipes.

Every upstream is an ``nn.Module`` whose ``forward(wavs, wav_lens,
layers=None)`` returns an :class:`emotion2vec.model.FeatureOutput`
(``frames [B, T, D]`` zero past ``frame_lens``, ``utterance``, ``tokens``
or None, ``layers`` when block indices are asked for), plus:

* ``identity()``: a JSON-serialisable description that changes whenever
  the weights or the configuration change (``weights_sha256`` is a digest
  of every parameter and buffer); the feature cache keys on it.
* ``dim``, ``num_blocks``, ``has_tokens``, ``min_samples``,
  ``batch_invariant`` (True when a padded batch gives the same features as
  one utterance at a time; otherwise the cache feeds one utterance per call).

Upstreams, all selectable from hparams alone:

* :class:`Emotion2vecUpstream`: any folder ``load_model`` reads (converted
  official checkpoints, our own pre-trained models). Blocks are numbered
  prenet first (``-1`` = last); the 10 utterance tokens are available.
* :class:`HFUpstream`: wav2vec 2.0, HuBERT, WavLM or data2vec-audio through
  SpeechBrain's Hugging Face integration (needs ``transformers``: ``pip
  install emotion2vec[hf]``), weights from a LOCAL folder (config.json,
  preprocessor_config.json, weights). Blocks = transformer layers.
* :class:`FbankUpstream`: log-mel filterbanks (the no-SSL floor), mean and
  variance normalised per utterance; one "block", no tokens.

Authors
 * emotion2vec-sb contributors
"""

import hashlib
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
from torch import nn

from emotion2vec.audio import SAMPLE_RATE
from emotion2vec.fileutils import PathLike
from emotion2vec.model import FeatureOutput, masked_mean, resolve_blocks



def state_digest(module: nn.Module) -> str:
    """SHA-256 of a module's parameters and buffers (names, dtypes, shapes, values).

    Arguments
    ---------
    module : torch.nn.Module
        The module.

    Returns
    -------
    str
        Hex digest; equal for modules holding identical tensors.

    Example
    -------
    >>> a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    >>> b.load_state_dict(a.state_dict())
    <All keys matched successfully>
    >>> state_digest(a) == state_digest(b)
    True
    >>> with torch.no_grad():
    ...     b.bias[0] += 1e-3
    >>> state_digest(a) == state_digest(b)
    False
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        tensor = tensor.detach().cpu()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        flat = tensor.contiguous().reshape(-1)
        digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    return digest.hexdigest()


class Upstream(nn.Module):
    """Base class: a frozen feature extractor (see the module docstring).

    Subclasses set ``kind`` and implement ``forward``, ``dim``,
    ``num_blocks`` and ``config``.
    """

    kind = "upstream"
    has_tokens = False
    batch_invariant = False
    min_samples = 400

    @property
    def dim(self) -> int:
        """Feature size ``D`` of frames (and tokens)."""
        raise NotImplementedError

    @property
    def num_blocks(self) -> int:
        """Number of blocks ``layers=`` can select."""
        raise NotImplementedError

    def config(self) -> Dict[str, Any]:
        """JSON-serialisable configuration (part of :meth:`identity`)."""
        return {}

    def identity(self) -> Dict[str, Any]:
        """What the features depend on: kind, class, configuration, weights.

        Returns
        -------
        dict
            ``kind``, ``class``, ``config`` and ``weights_sha256``.
        """
        cls = type(self)
        return {
            "kind": self.kind,
            "class": f"{cls.__module__}.{cls.__qualname__}",
            "config": self.config(),
            "weights_sha256": state_digest(self),
        }

    def describe(self) -> str:
        """Short human-readable name for tables and logs."""
        return self.kind


class Emotion2vecUpstream(Upstream):
    """An emotion2vec model folder (or in-memory model) as a frozen upstream.

    Arguments
    ---------
    model_dir : str or path, optional
        Folder that ``emotion2vec.load_model`` reads.
    model : Emotion2vecModel, optional
        An in-memory model instead of ``model_dir``.

    Example
    -------
    >>> from emotion2vec.model import Emotion2vecModel
    >>> model = Emotion2vecModel(
    ...     embed_dim=32, num_heads=4, depth=2, prenet_depth=1, decoder_dim=16,
    ...     feature_encoder_spec="[(16, 10, 5)] + [(16, 3, 2)] * 4 + [(16,2,2)] * 2")
    >>> up = Emotion2vecUpstream(model=model)
    >>> out = up(torch.randn(2, 8000), torch.tensor([1.0, 0.6]), layers=[-1, 0])
    >>> out.frames.shape, out.tokens.shape, len(out.layers), up.num_blocks
    (torch.Size([2, 24, 32]), torch.Size([2, 10, 32]), 2, 3)
    """

    kind = "emotion2vec"
    has_tokens = True
    batch_invariant = True

    def __init__(self, model_dir: Optional[PathLike] = None, model: Optional[nn.Module] = None):
        super().__init__()
        if (model_dir is None) == (model is None):
            raise ValueError("Emotion2vecUpstream needs exactly one of model_dir or model")
        if model is None:
            from emotion2vec.model_folder import load_model

            model = load_model(model_dir)
        self.model = model.eval().requires_grad_(False)
        self.model_dir = None if model_dir is None else str(Path(model_dir).resolve())
        self.min_samples = model.min_samples

    @property
    def dim(self) -> int:
        """Feature size."""
        return self.model.config.embed_dim

    @property
    def num_blocks(self) -> int:
        """Prenet + main blocks."""
        return self.model.config.num_blocks

    def config(self) -> Dict[str, Any]:
        """The architecture (``Emotion2vecConfig`` fields)."""
        return self.model.config.to_dict()

    def describe(self) -> str:
        """The model folder name (or ``emotion2vec``)."""
        return Path(self.model_dir).name if self.model_dir else "emotion2vec"

    def train(self, mode: bool = True):
        """Keeps the frozen model in eval mode (no dropout)."""
        super().train(mode)
        self.model.eval()
        return self

    @torch.no_grad()
    def forward(self, wavs, wav_lens=None, layers=None) -> FeatureOutput:
        """Features of a padded batch.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` 16 kHz waveforms.
        wav_lens : torch.Tensor, optional
            ``[batch]`` relative lengths.
        layers : list of int, optional
            Blocks to return (prenet first, negative from the end).

        Returns
        -------
        FeatureOutput
        """
        layers = resolve_blocks(layers, self.num_blocks)
        return self.model.extract_features(wavs, wav_lens, layers=layers)


class HFUpstream(Upstream):
    """wav2vec 2.0 / HuBERT / WavLM / data2vec-audio from a local HF folder.

    Utterances are encoded one at a time (no padding), so the features do
    not depend on batching. ``layers`` index the transformer layers
    (``hidden_states[1:]``); ``frames`` is the last layer. The model is
    loaded on first use (so hparams load without ``transformers``).

    Arguments
    ---------
    source : str or path
        Local folder with ``config.json``, ``preprocessor_config.json`` and
        the weights (``*.safetensors`` or ``*.bin``), e.g. a
        ``huggingface-cli download facebook/wav2vec2-base`` copy.
    save_path : str or path, optional
        Cache folder SpeechBrain's wrapper may use (default:
        ``<source>/.speechbrain``).
    output_norm : bool
        Layer-normalise every output (SpeechBrain's ``output_norm``).
    """

    kind = "hf"

    def __init__(self, source: PathLike, save_path: Optional[PathLike] = None, output_norm: bool = False):
        super().__init__()
        source = Path(source).expanduser()
        if not source.is_dir():
            raise FileNotFoundError(
                f"HF upstream: {source} is not a local folder; download the model "
                "once (config.json, preprocessor_config.json, weights) and pass "
                "that folder (no network access is used)"
            )
        self.source = str(source.resolve())
        self.save_path = str(save_path) if save_path else str(source / ".speechbrain")
        self.output_norm = bool(output_norm)
        self.hf = None

    def load(self) -> nn.Module:
        """Loads the model through SpeechBrain's HF integration (once).

        Returns
        -------
        torch.nn.Module
            The SpeechBrain ``Wav2Vec2`` wrapper (frozen, all hidden states).
        """
        if self.hf is None:
            try:
                from speechbrain.integrations.huggingface.wav2vec2 import Wav2Vec2
            except ImportError as error:
                raise ImportError(
                    "HF upstreams need the `transformers` package: pip install "
                    f"'emotion2vec[hf]' ({error})"
                ) from None
            self.hf = Wav2Vec2(
                self.source, self.save_path, output_norm=self.output_norm, freeze=True,
                output_all_hiddens=True,
            ).eval()
        return self.hf

    @property
    def dim(self) -> int:
        """Hidden size."""
        return int(self.load().model.config.hidden_size)

    @property
    def num_blocks(self) -> int:
        """Transformer layers."""
        return int(self.load().model.config.num_hidden_layers)

    def config(self) -> Dict[str, Any]:
        """The HF config plus the wrapper options."""
        hf = self.load()
        return {
            "hf_config": hf.model.config.to_dict(),
            "output_norm": self.output_norm,
            "normalize_wav": bool(hf.normalize_wav),
        }

    def identity(self) -> Dict[str, Any]:
        """See :meth:`Upstream.identity` (loads the model first)."""
        self.load()
        return super().identity()

    def describe(self) -> str:
        """``<model_type> (<folder>)``, e.g. ``wav2vec2 (wav2vec2-base)``."""
        model_type = getattr(self.load().model.config, "model_type", "hf")
        return f"{model_type} ({Path(self.source).name})"

    def train(self, mode: bool = True):
        """Keeps the frozen model in eval mode."""
        super().train(mode)
        if self.hf is not None:
            self.hf.eval()
        return self

    @torch.no_grad()
    def forward(self, wavs, wav_lens=None, layers=None) -> FeatureOutput:
        """Features of a padded batch, computed one utterance at a time.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` 16 kHz waveforms.
        wav_lens : torch.Tensor, optional
            ``[batch]`` relative lengths.
        layers : list of int, optional
            Transformer layers to return (negative from the end).

        Returns
        -------
        FeatureOutput
        """
        hf = self.load()
        layers = resolve_blocks(layers, self.num_blocks)
        items = _split_batch(wavs, wav_lens)
        hidden = [hf(wav.unsqueeze(0))[:, 0] for wav in items]  # [L+1, T, D]
        return _pack_outputs([h[1:] for h in hidden], layers)


class FbankUpstream(Upstream):
    """Log-mel filterbanks as a no-SSL upstream (one block, no tokens).

    Arguments
    ---------
    n_mels : int
        Mel bands (feature size).
    normalize : bool
        Mean/variance-normalise every band per utterance.
    hop_ms : float
        Frame shift in ms (10: 100 frames/s; 20 gives emotion2vec's
        50 frames/s, half the head's work). Windows stay 25 ms.

    Example
    -------
    >>> up = FbankUpstream(n_mels=40)
    >>> out = up(torch.randn(2, 16000), torch.tensor([1.0, 0.5]))
    >>> out.frames.shape, out.frame_lens.tolist(), out.tokens is None
    (torch.Size([2, 101, 40]), [101, 51], True)
    """

    kind = "fbank"

    def __init__(self, n_mels: int = 80, normalize: bool = True, hop_ms: float = 10.0):
        super().__init__()
        from speechbrain.lobes.features import Fbank

        self.n_mels = int(n_mels)
        self.normalize = bool(normalize)
        self.hop_ms = float(hop_ms)
        if not 0 < self.hop_ms <= 25:
            raise ValueError(f"fbank hop_ms must be in (0, 25] (the window is 25 ms), got {hop_ms}")
        self.fbank = Fbank(n_mels=self.n_mels, sample_rate=SAMPLE_RATE, hop_length=self.hop_ms)

    @property
    def dim(self) -> int:
        """Mel bands."""
        return self.n_mels

    @property
    def num_blocks(self) -> int:
        """One: the filterbank itself."""
        return 1

    def config(self) -> Dict[str, Any]:
        """Filterbank options."""
        return {"n_mels": self.n_mels, "normalize": self.normalize, "n_fft": 400,
                # an int when whole, so 10 ms keeps the cache keys it always had
                "hop_ms": int(self.hop_ms) if self.hop_ms.is_integer() else self.hop_ms}

    @torch.no_grad()
    def forward(self, wavs, wav_lens=None, layers=None) -> FeatureOutput:
        """Filterbanks of a padded batch, one utterance at a time.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` 16 kHz waveforms.
        wav_lens : torch.Tensor, optional
            ``[batch]`` relative lengths.
        layers : list of int, optional
            Only ``[0]`` / ``[-1]`` (the filterbank).

        Returns
        -------
        FeatureOutput
        """
        layers = resolve_blocks(layers, 1)
        feats = []
        for wav in _split_batch(wavs, wav_lens):
            x = self.fbank(wav.unsqueeze(0))[0]
            if self.normalize:
                x = (x - x.mean(0)) / (x.std(0, unbiased=False) + 1e-5)
            feats.append(x.unsqueeze(0))
        return _pack_outputs(feats, layers)


def _split_batch(wavs: torch.Tensor, wav_lens: Optional[torch.Tensor]) -> List[torch.Tensor]:
    if wavs.dim() == 1:
        wavs = wavs.unsqueeze(0)
    if wav_lens is None:
        return list(wavs)
    n = wavs.shape[1]
    lengths = torch.round(torch.as_tensor(wav_lens).double() * n).long().clamp(1, n)
    return [wav[: int(length)] for wav, length in zip(wavs, lengths)]


def _pack_outputs(hidden: List[torch.Tensor], layers: Optional[List[int]]) -> FeatureOutput:
    """Pads per-utterance ``[blocks, T, D]`` stacks into a FeatureOutput."""
    lengths = torch.tensor([h.shape[1] for h in hidden], device=hidden[0].device)
    T = int(lengths.max())

    def pad(block: int) -> torch.Tensor:
        return torch.stack(
            [nn.functional.pad(h[block], (0, 0, 0, T - h.shape[1])) for h in hidden]
        )

    frames = pad(-1)
    out = FeatureOutput(
        frames=frames, utterance=masked_mean(frames, lengths), frame_lens=lengths, tokens=None
    )
    if layers is not None:
        out.layers = [pad(i) for i in layers]
    return out


UPSTREAM_KINDS = ("emotion2vec", "hf", "fbank")


def build_upstream(
    kind: str, source: Optional[PathLike] = None, options: Optional[Dict[str, Any]] = None
) -> Upstream:
    """Builds an upstream from plain hparams values.

    Arguments
    ---------
    kind : str
        ``emotion2vec`` (a model folder), ``hf`` (a local Hugging Face
        wav2vec 2.0 / HuBERT / WavLM / data2vec-audio folder) or ``fbank``.
    source : str or path, optional
        The model folder (not used by ``fbank``).
    options : dict, optional
        Extra constructor arguments (``output_norm`` for ``hf``; ``n_mels``,
        ``normalize`` for ``fbank``).

    Returns
    -------
    Upstream

    Example
    -------
    >>> build_upstream("fbank", options={"n_mels": 40}).dim
    40
    >>> build_upstream("emotion2vec")
    Traceback (most recent call last):
    ...
    ValueError: upstream kind 'emotion2vec' needs a source folder (upstream_source)
    """
    kind = str(kind).lower()
    options = dict(options or {})
    if kind not in UPSTREAM_KINDS:
        raise ValueError(f"unknown upstream kind {kind!r}; use one of {', '.join(UPSTREAM_KINDS)}")
    if kind == "fbank":
        return FbankUpstream(**options)
    if source in (None, ""):
        raise ValueError(f"upstream kind {kind!r} needs a source folder (upstream_source)")
    if kind == "emotion2vec":
        return Emotion2vecUpstream(model_dir=source, **options)
    return HFUpstream(source, **options)
