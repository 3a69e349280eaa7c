"""``emotion2vec extract``: audio files -> one ``.npy`` of features each.

Files are sorted by length; on a CPU each is encoded on its own, on an
accelerator they share padded batches under a budget of padded samples
(:func:`emotion2vec.audio.batching.batch_budget`; a padded batch gives the
same features as one file at a time). Audio
longer than ``window_s`` is encoded in windows so that memory stays
bounded whatever the file length.

Windowed stitching: the whole utterance is normalised once (as the official
model does), then cut into windows of ``window_s`` seconds of frames, each
extended by ``context_s`` seconds of audio on both sides. Window starts are
multiples of the frame hop (320 samples), so local frame ``t`` of a window
starting at frame ``f`` is exactly global frame ``f + t``: the conv
front-end output is bit-identical to a full pass, and each frame keeps the
central ``window_s`` frames of its window. Only attention reaches less far
than in one full pass (``context_s`` on each side at least), which is the
price of bounded memory; utterance features are the mean of the stitched
frames.

Authors
 * emotion2vec-sb contributors
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from tqdm import tqdm

from emotion2vec.audio import SAMPLE_RATE, AudioError, find_audio_files, read_audio
from emotion2vec.audio.batching import batch_budget, length_batches, pad_batch, usable_samples
from emotion2vec.fileutils import staged_file
from emotion2vec.model import Emotion2vecModel, count_frames

logger = logging.getLogger(__name__)


@dataclass
class ExtractReport:
    """What an extraction run did.

    Arguments
    ---------
    written : list of Path
        Feature files written.
    skipped_done : list of Path
        Inputs whose output already existed.
    failed : list of (Path, str)
        Inputs that could not be processed, with the reason.
    """

    written: List[Path] = field(default_factory=list)
    skipped_done: List[Path] = field(default_factory=list)
    failed: List[Tuple[Path, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """False only when nothing could be processed at all."""
        return bool(self.written or self.skipped_done) or not self.failed


def _save_npy(path: Path, array: np.ndarray):
    """Writes through a staged file: an interrupted run leaves no partial file."""
    with staged_file(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)


def _select(out, layer: Optional[int]) -> torch.Tensor:
    return out.frames if layer is None else out.layers[0]


@torch.no_grad()
def encode_long(
    model: Emotion2vecModel,
    wav: torch.Tensor,
    layer: Optional[int] = None,
    window_s: float = 30.0,
    context_s: float = 5.0,
) -> torch.Tensor:
    """Frame features of one (long) waveform, computed window by window.

    Arguments
    ---------
    model : Emotion2vecModel
        The model (eval mode).
    wav : torch.Tensor
        ``[samples]`` 16 kHz waveform on the model's device.
    layer : int, optional
        Block index (None = last block).
    window_s : float
        Seconds of output frames per window.
    context_s : float
        Seconds of extra audio on each side of a window.

    Returns
    -------
    torch.Tensor
        ``[frames, dim]``, with ``frames = count_frames(len(wav))``.

    Example
    -------
    >>> model = Emotion2vecModel(
    ...     embed_dim=32, num_heads=4, depth=1, prenet_depth=1,
    ...     feature_encoder_spec="[(16, 10, 5)] + [(16, 3, 2)] * 4"
    ...     " + [(16,2,2)] * 2", decoder_dim=16).eval()
    >>> encode_long(model, torch.randn(48000), window_s=1.0).shape
    torch.Size([149, 32])
    """
    config = model.config
    hop, field_ = config.hop_length, config.receptive_field
    wav, lengths = model.check_input(wav)
    if config.normalize:
        wav = model.normalize_waveforms(wav, lengths)
    wav = wav[0]
    total = count_frames(len(wav), config)
    per_window = max(1, int(round(window_s * SAMPLE_RATE / hop)))
    context = max(0, int(round(context_s * SAMPLE_RATE / hop)))
    layers = None if layer is None else [layer]
    pieces = []
    for first in range(0, total, per_window):
        last = min(total, first + per_window)
        start = max(0, first - context)
        stop = min(total, last + context)
        chunk = wav[start * hop : (stop - 1) * hop + field_]
        out = model.extract_features(chunk.unsqueeze(0), layers=layers, normalize=False)
        pieces.append(_select(out, layer)[0, first - start : last - start])
    return torch.cat(pieces, dim=0)


def extract_files(
    model: Emotion2vecModel,
    inputs: Sequence,
    out_dir,
    granularity: str = "utterance",
    layer: Optional[int] = None,
    batch_seconds: float = 160.0,
    window_s: float = 30.0,
    context_s: float = 5.0,
    overwrite: bool = False,
    progress: bool = True,
) -> ExtractReport:
    """Extracts features of audio files into ``.npy`` files.

    Each input file ``X`` (relative to the folder it was found in) becomes
    ``out_dir/X`` with ``.npy`` in place of its suffix: ``[frames, dim]``
    for ``granularity="frame"``, ``[dim]`` (mean of frames) for
    ``"utterance"``, float32, as the official ``granularity`` option.

    Arguments
    ---------
    model : Emotion2vecModel
        Model in eval mode, on the device to use.
    inputs : sequence of str or Path
        Audio files and/or folders (searched recursively).
    out_dir : str or Path
        Output root.
    granularity : str
        ``"frame"`` or ``"utterance"``.
    layer : int, optional
        Block index to export (None = last block, the official features).
    batch_seconds : float
        Padded audio per batch (seconds) on an accelerator (on a CPU each
        file is its own batch).
    window_s : float
        Files longer than this are encoded in windows (see module doc).
    context_s : float
        Context on each side of a window.
    overwrite : bool
        Recompute files whose output exists.
    progress : bool
        Show a progress bar.

    Returns
    -------
    ExtractReport
    """
    if granularity not in ("frame", "utterance"):
        raise ValueError(f"granularity must be 'frame' or 'utterance', got {granularity!r}")
    layer_ids = None if layer is None else model.resolve_layers([layer])
    out_dir = Path(out_dir)
    device = next(model.parameters()).device
    report = ExtractReport()
    todo = []
    for path, rel in find_audio_files(inputs):
        target = out_dir / Path(rel).with_suffix(".npy")
        if target.exists() and not overwrite:
            report.skipped_done.append(path)
            continue
        try:
            samples = usable_samples(path, model.min_samples)
        except AudioError as error:
            report.failed.append((path, str(error)))
            logger.warning("skipping %s", error)
            continue
        todo.append((path, target, samples))

    long_samples = int(window_s * SAMPLE_RATE) + 2 * int(context_s * SAMPLE_RATE)
    bar = tqdm(total=len(todo), disable=not progress, unit="file", desc="extract")
    budget = batch_budget(device, int(batch_seconds * SAMPLE_RATE))
    for batch in length_batches(todo, budget, long_samples):
        wavs, targets = [], []
        for path, target, _ in batch:
            try:
                wavs.append(read_audio(path, SAMPLE_RATE))
                targets.append(target)
            except AudioError as error:
                report.failed.append((path, str(error)))
                logger.warning("skipping %s", error)
        if not wavs:
            bar.update(len(batch))
            continue
        if len(wavs) == 1 and len(wavs[0]) > long_samples:
            block = None if layer_ids is None else layer_ids[0]
            feats = [encode_long(model, wavs[0].to(device), block, window_s, context_s)]
        else:
            feats = _encode_batch(model, wavs, layer_ids, device)
        for target, frames in zip(targets, feats):
            frames = frames.float().cpu().numpy()
            array = frames if granularity == "frame" else frames.mean(axis=0)
            _save_npy(target, array.astype(np.float32))
            report.written.append(target)
        bar.update(len(batch))
    bar.close()
    return report


@torch.no_grad()
def _encode_batch(model, wavs, layer_ids, device) -> List[torch.Tensor]:
    padded, lengths = pad_batch(wavs)
    out = model.extract_features(padded.to(device), layers=layer_ids, lengths=lengths.to(device))
    frames = _select(out, None if layer_ids is None else layer_ids[0])
    return [frames[i, : int(n)] for i, n in enumerate(out.frame_lens)]
