"""``Emotion2vecClassifier``: SpeechBrain inference interface for emotion2vec.

A drop-in for SpeechBrain's ``EncoderClassifier`` contract, loading a local
model folder (see ``emotion2vec.model_folder``) with no network access and
without running anything in it (``config.json`` + ``model.ckpt``, never the
folder's ``hyperparams.yaml``)::

    from emotion2vec.inference import Emotion2vecClassifier
    clf = Emotion2vecClassifier.from_hparams(
        source="models/emotion2vec_plus_base", run_opts={"device": "cuda"})
    probs, score, index, labels = clf.classify_file("speech.wav")
    emb = clf.encode_batch(wavs, wav_lens)                 # [batch, dim]
    frames = clf.encode_batch(wavs, granularity="frame", layer=5)

Labels. ``label_strings`` are the labels as stored (official strings such
as ``"生气/angry"`` for emotion2vec+); ``english_labels`` are the plain
names (``angry``, ``<unk>`` -> ``unknown``). ``classify_*`` return the
English names unless the classifier is built with
``label_style="official"``. As in the official code, a label whose string
starts with ``unuse`` gets logit ``-inf`` before the softmax.

Downstream exports. A model folder may also hold a trained downstream head
(``downstream.json`` + ``downstream_head.ckpt``, contract below, read and
checked by :func:`emotion2vec.model_folder.load_downstream_head`); it then
replaces the official head for ``classify_*``. ``downstream.json``::

    {"format": 1,
     "feature": "frm",              # frm | utt | utt+frm | layer:N | last4
     "labels": ["ang", "hap", ...], # index order of the head outputs
     ...}                           # anything the head builder needs

``emotion2vec.model.heads.build_head(spec)`` receives the whole parsed
file and returns an ``nn.Module`` whose ``state_dict`` is
``downstream_head.ckpt`` (loaded strictly) and whose
``forward(x, lengths)`` maps ``x [batch, steps, features]`` (zero past
``lengths``) and ``lengths [batch]`` (valid steps, int64) to logits
``[batch, labels]``. ``x`` is built from the upstream by ``head_inputs``:
``frm`` last-block frames ``[B, T, D]``; ``utt`` the mean of the 10
utterance-token outputs as one step ``[B, 1, D]``; ``utt+frm`` each
frame concatenated with that vector ``[B, T, 2D]``; ``layer:N``
block ``N``'s frames (prenet first, negative from the end); ``last4`` the
mean of the last four blocks' frames.

Long audio. ``classify_file(path, window_s=..., hop_s=...)`` classifies
each window on its own (one window in memory and in the model at a time,
the file read block by block) and returns a ``WindowedClassification``:
per-segment results with start/end times, and the aggregate = the mean of
the segment probabilities weighted by segment duration.

Authors
 * emotion2vec-sb contributors
"""

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import torch
from speechbrain.inference.interfaces import Pretrained
from speechbrain.utils.fetching import FetchConfig

from emotion2vec.audio import SAMPLE_RATE, read_audio
from emotion2vec.audio.windows import WindowReader, plan_windows
from emotion2vec.model import Emotion2vecModel, FeatureOutput, masked_mean
from emotion2vec.model.featurize import FeatureOption
from emotion2vec.model_folder import (
    DOWNSTREAM_SPEC_FILE,
    FOLDER_FILES,
    HPARAMS_FILE,
    ModelFolderError,
    english_label,
    load_downstream_head,
    load_model,
)

Classification = Tuple[torch.Tensor, torch.Tensor, torch.Tensor, List[str]]


def feature_layers(feature: str) -> Optional[List[int]]:
    """Block outputs a downstream feature option needs from the upstream.

    The options are defined once, in
    :class:`emotion2vec.model.featurize.FeatureOption`.

    Arguments
    ---------
    feature : str
        One of ``frm``, ``utt``, ``utt+frm``, ``layer:N``, ``last4``.

    Returns
    -------
    list of int or None
        Block indices for ``extract_features(layers=...)`` (None: the last
        block's output is enough).

    Example
    -------
    >>> feature_layers("frm"), feature_layers("layer:3"), feature_layers("last4")
    (None, [3], [-4, -3, -2, -1])
    """
    layers = FeatureOption.parse(feature).layers
    return None if layers is None else list(layers)


def head_inputs(out: FeatureOutput, feature: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """Builds a downstream head's input from upstream features, exactly as
    the training pipeline does (``FeatureOption.head_inputs``).

    Arguments
    ---------
    out : FeatureOutput
        Upstream output, computed with ``layers=feature_layers(feature)``.
    feature : str
        The feature option.

    Returns
    -------
    x : torch.Tensor
        ``[batch, steps, features]``, zero past ``lengths``.
    lengths : torch.Tensor
        ``[batch]`` valid steps (int64).
    """
    return FeatureOption.parse(feature).head_inputs(out)


@dataclass
class Segment:
    """Classification of one window of a long file.

    Arguments
    ---------
    start : float
        Start time (seconds).
    end : float
        End time (seconds).
    probs : torch.Tensor
        ``[labels]`` probabilities (CPU).
    score : float
        Highest probability.
    index : int
        Its label index.
    label : str
        Its label.
    """

    start: float
    end: float
    probs: torch.Tensor
    score: float
    index: int
    label: str


@dataclass
class WindowedClassification:
    """What ``classify_file(path, window_s=...)`` returns.

    Arguments
    ---------
    segments : list of Segment
        One per window, in time order.
    aggregate : tuple
        ``(probs [1, C], score [1], index [1], labels)`` of the
        duration-weighted mean of the segment probabilities (CPU tensors).
    """

    segments: List[Segment]
    aggregate: Classification


class Emotion2vecClassifier(Pretrained):
    """Emotion classifier and feature extractor over an emotion2vec model.

    Build it with ``from_hparams(source=MODEL_DIR, ...)`` (local folders
    only, never the network) or ``from_model(model)``.

    Arguments
    ---------
    modules : dict
        ``{"model": Emotion2vecModel}`` (the folder's ``modules``).
    hparams : dict
        Folder hparams; ``label_encoder`` gives the head labels.
    run_opts : dict, optional
        SpeechBrain run options (``device``, ``precision``, ...).
    freeze_params : bool
        Eval mode and no gradients (default).
    model_dir : str or Path, optional
        The folder, where a downstream head is looked for.
    labels : list of str, optional
        Head labels, overriding ``hparams["label_encoder"]``.
    label_style : str
        ``"english"`` (plain names, default) or ``"official"`` (stored
        strings) for the labels that ``classify_*`` return.

    Example
    -------
    >>> model = Emotion2vecModel(
    ...     embed_dim=32, num_heads=4, depth=1, prenet_depth=1, num_labels=3,
    ...     feature_encoder_spec="[(16, 10, 5)] + [(16, 3, 2)] * 4"
    ...     " + [(16,2,2)] * 2", decoder_dim=16)
    >>> clf = Emotion2vecClassifier.from_model(
    ...     model, labels=["生气/angry", "中立/neutral", "unuse_0"])
    >>> probs, score, index, labels = clf.classify_batch(torch.randn(2, 16000))
    >>> probs.shape, labels[0] in ("angry", "neutral"), probs[:, 2].sum().item()
    (torch.Size([2, 3]), True, 0.0)
    >>> clf.encode_batch(torch.randn(16000)).shape
    torch.Size([1, 32])
    """

    HPARAMS_NEEDED = ["model"]
    MODULES_NEEDED = ["model"]

    def __init__(
        self,
        modules=None,
        hparams=None,
        run_opts=None,
        freeze_params=True,
        model_dir: Optional[Union[str, Path]] = None,
        labels: Optional[Sequence[str]] = None,
        label_style: str = "english",
    ):
        if label_style not in ("english", "official"):
            raise ValueError(f"label_style must be 'english' or 'official', got {label_style!r}")
        modules = dict(modules or {})
        if not isinstance(modules.get("model"), Emotion2vecModel):
            raise ValueError("modules['model'] must be an Emotion2vecModel")
        spec = None
        if model_dir is not None:
            loaded = load_downstream_head(model_dir)
            if loaded is not None:
                modules["downstream_head"], spec = loaded
        if spec is not None:
            try:
                modules["model"].resolve_layers(feature_layers(spec["feature"]))
            except ValueError as error:
                raise ModelFolderError(
                    f"{Path(model_dir) / DOWNSTREAM_SPEC_FILE}: feature "
                    f"{spec['feature']!r}: {error}"
                ) from None
        super().__init__(modules, hparams, run_opts, freeze_params)
        self.model_dir = None if model_dir is None else Path(model_dir)
        self.downstream = spec
        self.label_style = label_style
        if spec is not None:
            labels = spec["labels"]
        elif labels is None:
            labels = self._stored_labels(hparams or {}, modules["model"])
        self.label_strings = [str(label) for label in labels]
        self.english_labels = [english_label(label) for label in self.label_strings]
        self._unused = torch.tensor(
            [label.startswith("unuse") for label in self.label_strings], dtype=torch.bool
        )
        heads = modules["model"].config.num_labels if spec is None else None
        if heads and len(self.label_strings) != heads:
            raise ModelFolderError(
                f"the model head has {heads} outputs but {len(self.label_strings)} "
                "labels were found"
            )

    @staticmethod
    def _stored_labels(hparams, model) -> List[str]:
        encoder = hparams.get("label_encoder")
        if encoder is not None and len(encoder) > 0:
            encoder.expect_len(len(encoder))
            return [encoder.ind2lab[i] for i in range(len(encoder))]
        return list(getattr(model, "labels", []))

    @classmethod
    def from_hparams(
        cls,
        source,
        hparams_file: str = HPARAMS_FILE,
        savedir=None,
        overrides=None,
        download_only: bool = False,
        local_strategy=None,
        fetch_config=None,
        **kwargs,
    ):
        """Loads a local model folder; never touches the network, never runs
        anything in the folder.

        The signature is SpeechBrain's ``Pretrained.from_hparams``, but the
        model is built from ``config.json``, ``model.ckpt`` and
        ``label_encoder.ckpt`` (``emotion2vec.model_folder.load_model``):
        ``hyperparams.yaml``, which HyperPyYAML would execute, is not read.

        Arguments
        ---------
        source : str or Path
            An existing local model folder (``emotion2vec convert`` output or
            a recipe export). Anything else is an error, never a hub lookup.
        hparams_file : str
            Only ``hyperparams.yaml`` (kept for SpeechBrain's signature;
            the file is not read).
        savedir : str or Path, optional
            As in SpeechBrain: the folder's files are linked there
            (``local_strategy``, re-linked when present) and loaded from there.
        overrides : dict, optional
            Not supported (there is no YAML to override); must be empty.
        download_only : bool
            Only link the files into ``savedir``; returns None.
        local_strategy : speechbrain.utils.fetching.LocalStrategy, optional
            How files are linked into ``savedir`` (default: symlinks).
        fetch_config : speechbrain.utils.fetching.FetchConfig, optional
            Forced to ``allow_network=False``; the default also has
            ``overwrite=True``, so ``savedir`` is never stale.
        **kwargs
            Constructor arguments: ``run_opts``, ``freeze_params``,
            ``label_style``, ``labels``, ``model_dir``.

        Returns
        -------
        Emotion2vecClassifier
        """
        folder = Path(source).expanduser()
        if not folder.is_dir():
            raise ModelFolderError(
                f"{source}: no such local model folder (Emotion2vecClassifier "
                "loads local folders only; make one with `emotion2vec convert`)"
            )
        if hparams_file != HPARAMS_FILE:
            raise ValueError(
                f"hparams_file={hparams_file!r}: Emotion2vecClassifier builds the model "
                "from config.json and never reads (executes) a hparams file"
            )
        if overrides:
            raise ValueError(
                "overrides are not supported: Emotion2vecClassifier builds the model "
                "from config.json, not from hyperparams.yaml"
            )
        if savedir is not None:
            folder = cls._link_into(folder, Path(savedir), local_strategy, fetch_config)
        if download_only:
            return None
        model = load_model(folder)
        hparams = {"model": model, "savedir": savedir}
        if model.labels:
            from speechbrain.dataio.encoder import CategoricalEncoder

            hparams["label_encoder"] = CategoricalEncoder()
            hparams["label_encoder"].update_from_iterable(model.labels)
        kwargs.setdefault("model_dir", folder)
        return cls(modules={"model": model}, hparams=hparams, **kwargs)

    @staticmethod
    def _link_into(folder: Path, savedir: Path, local_strategy, fetch_config) -> Path:
        from speechbrain.utils.fetching import LocalStrategy, fetch

        fetch_config = fetch_config or FetchConfig(overwrite=True)
        fetch_config = dataclasses.replace(fetch_config, allow_network=False)
        savedir.mkdir(parents=True, exist_ok=True)
        for name in FOLDER_FILES:
            if (folder / name).is_file():
                fetch(
                    filename=name, source=str(folder.resolve()), savedir=savedir,
                    local_strategy=local_strategy or LocalStrategy.SYMLINK,
                    fetch_config=fetch_config,
                )
        return savedir

    @classmethod
    def from_model(
        cls,
        model: Emotion2vecModel,
        labels: Optional[Sequence[str]] = None,
        run_opts: Optional[dict] = None,
        **kwargs,
    ):
        """Wraps an in-memory model (e.g. from ``emotion2vec.load_model``).

        Arguments
        ---------
        model : Emotion2vecModel
            The model.
        labels : list of str, optional
            Head labels (default: ``model.labels`` when set).
        run_opts : dict, optional
            SpeechBrain run options (default: CPU).
        **kwargs
            Other constructor arguments (``label_style``, ``model_dir``).

        Returns
        -------
        Emotion2vecClassifier
        """
        run_opts = run_opts or {"device": "cpu"}
        modules = {"model": model}
        return cls(modules=modules, hparams=dict(modules), run_opts=run_opts, labels=labels, **kwargs)

    @property
    def labels(self) -> List[str]:
        """The labels ``classify_*`` return, in head-output order."""
        return self.label_strings if self.label_style == "official" else self.english_labels

    @property
    def has_head(self) -> bool:
        """Whether ``classify_*`` can run (official or downstream head)."""
        return self.downstream is not None or self.mods.model.head is not None

    def _prepare(self, wavs, wav_lens, lengths):
        wavs = torch.as_tensor(wavs)
        if wavs.dim() == 1:
            wavs = wavs.unsqueeze(0)
        if wavs.dtype == torch.float64:
            wavs = wavs.float()
        wavs = wavs.to(self.device)
        if lengths is not None:
            return wavs, None, torch.as_tensor(lengths).to(self.device)
        if wav_lens is None:
            wav_lens = torch.ones(wavs.shape[0])
        return wavs, torch.as_tensor(wav_lens).to(self.device), None

    def extract_features(
        self,
        wavs: torch.Tensor,
        wav_lens: Optional[torch.Tensor] = None,
        layers: Union[None, str, int, Sequence[int]] = None,
        lengths: Optional[torch.Tensor] = None,
    ) -> FeatureOutput:
        """Everything the model computes (``Emotion2vecModel.extract_features``).

        The batch runs as given (one forward); ``emotion2vec classify``
        and ``extract`` choose the batches (one file at a time on a CPU).

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` or ``[samples]`` 16 kHz waveforms.
        wav_lens : torch.Tensor, optional
            ``[batch]`` relative lengths (default: all 1).
        layers : None, "all", int or list of int
            Block outputs to include (prenet first; -1 = last).
        lengths : torch.Tensor, optional
            ``[batch]`` valid samples, instead of ``wav_lens``.

        Returns
        -------
        FeatureOutput
            Frames, utterance, frame_lens, tokens, layers, logits.
        """
        wavs, wav_lens, lengths = self._prepare(wavs, wav_lens, lengths)
        with self.inference_ctx:
            return self.mods.model.extract_features(wavs, wav_lens, layers=layers, lengths=lengths)

    def encode_batch(
        self,
        wavs: torch.Tensor,
        wav_lens: Optional[torch.Tensor] = None,
        granularity: str = "utterance",
        layer: Optional[int] = None,
    ) -> torch.Tensor:
        """Embeddings of a batch.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` or ``[samples]`` 16 kHz waveforms.
        wav_lens : torch.Tensor, optional
            ``[batch]`` relative lengths (default: all 1).
        granularity : str
            ``"utterance"`` (mean of the valid frames, the official
            utterance feature) or ``"frame"``.
        layer : int, optional
            Block index (prenet first; None = last block, the official
            features).

        Returns
        -------
        torch.Tensor
            ``[batch, dim]``, or ``[batch, frames, dim]`` with zeros at padded
            frames (valid counts: ``extract_features(...).frame_lens``).
        """
        if granularity not in ("utterance", "frame"):
            raise ValueError(f"granularity must be 'utterance' or 'frame', got {granularity!r}")
        out = self.extract_features(wavs, wav_lens, layers=None if layer is None else [layer])
        if layer is None:
            return out.frames if granularity == "frame" else out.utterance
        frames = out.layers[0]
        return frames if granularity == "frame" else masked_mean(frames, out.frame_lens)

    def encode_file(self, path, granularity: str = "utterance", layer: Optional[int] = None):
        """Embeddings of one audio file (read, downmixed, resampled to 16 kHz).

        Arguments
        ---------
        path : str or Path
            Audio file.
        granularity : str
            ``"utterance"`` or ``"frame"``.
        layer : int, optional
            Block index (None = last).

        Returns
        -------
        torch.Tensor
            ``[1, dim]`` or ``[1, frames, dim]``.
        """
        return self.encode_batch(read_audio(path, SAMPLE_RATE), None, granularity, layer)

    def _logits(self, wavs, wav_lens, lengths) -> torch.Tensor:
        if self.downstream is None:
            if self.mods.model.head is None:
                raise ValueError(
                    "this model has no classification head (e.g. emotion2vec_base): "
                    "use encode_batch / extract_features, or an emotion2vec_plus "
                    "or downstream-export folder to classify"
                )
            return self.extract_features(wavs, wav_lens, lengths=lengths).logits
        feature = self.downstream["feature"]
        out = self.extract_features(wavs, wav_lens, layers=feature_layers(feature), lengths=lengths)
        with self.inference_ctx:
            return self.mods.downstream_head(*head_inputs(out, feature))

    def classify_batch(
        self,
        wavs: torch.Tensor,
        wav_lens: Optional[torch.Tensor] = None,
        lengths: Optional[torch.Tensor] = None,
    ) -> Classification:
        """Classifies a batch (``EncoderClassifier`` contract).

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` or ``[samples]`` 16 kHz waveforms.
        wav_lens : torch.Tensor, optional
            ``[batch]`` relative lengths (default: all 1).
        lengths : torch.Tensor, optional
            ``[batch]`` valid samples, instead of ``wav_lens``.

        Returns
        -------
        probs : torch.Tensor
            ``[batch, labels]`` softmax probabilities (0 for ``unuse*``).
        score : torch.Tensor
            ``[batch]`` highest probability.
        index : torch.Tensor
            ``[batch]`` its label index.
        labels : list of str
            Its label (see ``label_style``).
        """
        logits = self._logits(wavs, wav_lens, lengths).float()
        logits = logits.masked_fill(self._unused.to(logits.device), float("-inf"))
        probs = torch.softmax(logits, dim=-1)
        score, index = probs.max(dim=-1)
        names = self.labels
        return probs, score, index, [names[i] for i in index.tolist()]

    def classify_file(
        self, path, window_s: Optional[float] = None, hop_s: Optional[float] = None
    ) -> Union[Classification, WindowedClassification]:
        """Classifies an audio file, whole or window by window.

        Arguments
        ---------
        path : str or Path
            Audio file (read with ``emotion2vec.audio``: mono, 16 kHz).
        window_s : float, optional
            Classify windows of this many seconds (see ``classify_windows``).
        hop_s : float, optional
            Seconds between window starts (default: ``window_s``).

        Returns
        -------
        tuple or WindowedClassification
            ``(probs [1, C], score [1], index [1], labels)`` for the whole
            file, or per-window results and their aggregate.
        """
        if window_s is not None:
            return self.classify_windows(path, window_s, hop_s)
        if hop_s is not None:
            raise ValueError("hop_s needs window_s")
        return self.classify_batch(read_audio(path, SAMPLE_RATE).unsqueeze(0))

    def classify_windows(
        self, path, window_s: float, hop_s: Optional[float] = None
    ) -> WindowedClassification:
        """Classifies each window of a (long) file; memory bounded by a window.

        Windows start every ``hop_s`` seconds and the last one ends at the
        end of the file (see ``emotion2vec.audio.windows.plan_windows``); each is
        classified on its own, one at a time, read block by block from the
        file. The aggregate is ``sum_i d_i * p_i / sum_i d_i`` over segments
        ``i`` of duration ``d_i`` and probabilities ``p_i``.

        Arguments
        ---------
        path : str or Path
            Audio file.
        window_s : float
            Window length (seconds).
        hop_s : float, optional
            Seconds between window starts (default: ``window_s``).

        Returns
        -------
        WindowedClassification
        """
        hop_s = window_s if hop_s is None else hop_s
        if window_s <= 0 or hop_s <= 0:
            raise ValueError(f"window_s and hop_s must be positive, got {window_s} and {hop_s}")
        window = int(round(window_s * SAMPLE_RATE))
        hop = int(round(hop_s * SAMPLE_RATE))
        min_samples = self.mods.model.min_samples
        if window < min_samples:
            raise ValueError(f"window_s={window_s} is shorter than one frame ({min_samples} samples)")
        segments, weighted, total = [], None, 0.0
        with WindowReader(path) as reader:
            try:
                spans = plan_windows(reader.total, window, hop, min_samples)
            except ValueError as error:
                raise ValueError(f"{path}: {error}") from None
            for start, end in spans:
                probs, score, index, labels = self.classify_batch(reader.read(start, end).unsqueeze(0))
                probs = probs[0].cpu()
                segments.append(Segment(
                    start / SAMPLE_RATE, end / SAMPLE_RATE, probs,
                    float(score[0]), int(index[0]), labels[0],
                ))
                duration = (end - start) / SAMPLE_RATE
                weighted = probs * duration if weighted is None else weighted + probs * duration
                total += duration
        mean = (weighted / total).unsqueeze(0)
        score, index = mean.max(dim=-1)
        return WindowedClassification(segments, (mean, score, index, [self.labels[int(index[0])]]))

    def forward(self, wavs, wav_lens=None) -> Classification:
        """Runs ``classify_batch`` (SpeechBrain convention).

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` waveforms.
        wav_lens : torch.Tensor, optional
            ``[batch]`` relative lengths.

        Returns
        -------
        tuple
            ``(probs, score, index, labels)``.
        """
        return self.classify_batch(wavs, wav_lens)
