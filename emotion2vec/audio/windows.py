"""Long audio: fixed windows over a file, read block by block.

``plan_windows`` cuts ``total`` samples into windows of ``window`` samples
every ``hop`` samples; the last window ends at the end of the file (so it
may be shorter), and a last window shorter than the model's receptive field
is dropped (it would yield no frame).

``WindowReader`` returns any span of a file as a 16 kHz mono float32
waveform without decoding the whole file: it seeks, reads the span (plus a
short margin when the file has another rate), averages the channels and
resamples with ``torchaudio.functional.resample``, as
``emotion2vec.audio.io.read_audio`` does for a whole file. Blocks start on the
resampling grid (a multiple of ``rate / gcd(rate, SAMPLE_RATE)`` source samples)
and carry a margin wider than the resampling filter, so a span equals the
same slice of ``read_audio(path)`` up to float round-off. Memory is bounded
by the span length, however long the file.

Authors
 * emotion2vec-sb contributors
"""

import math
from pathlib import Path
from typing import List, Tuple, Union

import soundfile
import torch
import torchaudio

from emotion2vec.audio.io import SAMPLE_RATE, audio_info, decode_error, to_mono

MARGIN_SAMPLES = 800
"""Resampling margin on each side of a span, in 16 kHz samples (50 ms)."""


def plan_windows(
    total: int, window: int, hop: int, min_samples: int = 1
) -> List[Tuple[int, int]]:
    """Cuts ``total`` samples into ``(start, end)`` windows.

    Windows start at ``0, hop, 2 * hop, ...`` and the first window that
    reaches the end of the audio is the last one. A last window shorter than
    ``min_samples`` is dropped (it is at most ``min_samples`` samples of
    audio that no window covers).

    Arguments
    ---------
    total : int
        Audio length in samples.
    window : int
        Window length in samples.
    hop : int
        Distance between window starts (``hop > window`` leaves gaps).
    min_samples : int
        Shortest usable window (the model's receptive field).

    Returns
    -------
    list of (int, int)
        Sample spans, in order.

    Example
    -------
    >>> plan_windows(100, 40, 40)
    [(0, 40), (40, 80), (80, 100)]
    >>> plan_windows(100, 40, 30, min_samples=15)
    [(0, 40), (30, 70), (60, 100)]
    >>> plan_windows(81, 40, 40, min_samples=2)
    [(0, 40), (40, 80)]
    """
    if window <= 0 or hop <= 0:
        raise ValueError(f"window and hop must be positive, got {window} and {hop}")
    if total < min_samples:
        raise ValueError(
            f"audio too short: {total} samples, need at least {min_samples}"
        )
    spans = []
    start = 0
    while start < total:
        end = min(start + window, total)
        if end - start >= min_samples or not spans:
            spans.append((start, end))
        if end == total:
            break
        start += hop
    return spans


class WindowReader:
    """Reads spans of an audio file as mono float32 at ``target_sr``, block by block.

    Arguments
    ---------
    path : str or Path
        Audio file (any format libsndfile reads).
    target_sr : int
        Output rate (default :data:`~emotion2vec.audio.io.SAMPLE_RATE`, 16 kHz);
        ``total``, ``read(start, end)`` count samples at this rate.

    Example
    -------
    >>> import tempfile
    >>> from emotion2vec.audio import write_audio
    >>> path = Path(tempfile.mkdtemp()) / "a.wav"
    >>> write_audio(path, torch.linspace(-0.5, 0.5, 8000), sr=8000)
    >>> with WindowReader(path) as reader:
    ...     reader.total, reader.read(100, 300).shape
    (16000, torch.Size([200]))
    """

    def __init__(self, path: Union[str, Path], target_sr: int = SAMPLE_RATE):
        self.path = Path(path)
        self.frames, self.rate, self.channels = audio_info(self.path)
        self.target_sr = int(target_sr)
        divisor = math.gcd(self.rate, self.target_sr)
        self.step_in = self.rate // divisor
        self.step_out = self.target_sr // divisor
        self.total = math.ceil(self.frames * self.step_out / self.step_in)
        self._file = None

    def __enter__(self):
        try:
            self._file = soundfile.SoundFile(str(self.path))
        except Exception as error:  # libsndfile raises several types
            raise decode_error(self.path, error) from None
        return self

    def __exit__(self, *exc):
        if self._file is not None:
            self._file.close()
            self._file = None

    def _read_source(self, first: int, last: int) -> torch.Tensor:
        try:
            self._file.seek(first)
            data = self._file.read(last - first, dtype="float32", always_2d=True)
        except Exception as error:  # libsndfile raises several types
            raise decode_error(self.path, error) from None
        return to_mono(data, self.path)

    def read(self, start: int, end: int) -> torch.Tensor:
        """The 16 kHz samples ``[start, end)`` of the file.

        Arguments
        ---------
        start : int
            First sample (16 kHz).
        end : int
            One past the last sample (at most ``total``).

        Returns
        -------
        torch.Tensor
            ``[end - start]`` float32 mono waveform.
        """
        if self._file is None:
            raise RuntimeError("use WindowReader as a context manager")
        if not 0 <= start < end <= self.total:
            raise ValueError(f"span [{start}, {end}) outside [0, {self.total})")
        if self.rate == self.target_sr:
            return self._read_source(start, end)
        # Block on the resampling grid, with a margin on both sides.
        first = max(0, (start - MARGIN_SAMPLES) // self.step_out)
        last = -(-(end + MARGIN_SAMPLES) // self.step_out)
        source_last = min(self.frames, last * self.step_in)
        block = self._read_source(first * self.step_in, source_last)
        block = torchaudio.functional.resample(block, self.rate, self.target_sr)
        offset = first * self.step_out
        return block[start - offset : end - offset].contiguous()
