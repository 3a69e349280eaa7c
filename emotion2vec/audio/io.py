"""Reading, validating and writing audio: the one place audio enters.

Everything the project feeds to a model goes through :func:`read_audio`,
which returns a float32 mono waveform at the requested sample rate (16 kHz
for emotion2vec): channels are averaged and other rates are resampled with
``torchaudio.functional.resample`` (band-limited sinc interpolation).
Decoding uses ``soundfile`` (WAV, FLAC, OGG and the other libsndfile
formats), so no FFmpeg or torchcodec is needed; :func:`read_media` reads
the audio of MP4/M4A files with the optional PyAV.

A file that cannot be used raises :class:`AudioError`, a ``ValueError``
whose message names the file and the problem, so callers can log it and
skip the file.

Authors
 * emotion2vec-sb contributors
"""

import logging
import os
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import soundfile
import torch
import torchaudio

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

SAMPLE_RATE = 16000
"""The rate every emotion2vec model takes (Hz): the one definition in the package.

It lives here, where audio enters, because every waveform the package feeds
a model is read by :func:`read_audio` at this rate; the model itself
imports nothing outside :mod:`emotion2vec.model` and computes on samples
(its docstrings say 16 kHz). ``read_audio``, ``write_audio`` and the
window reader take the rate as a parameter with this default."""

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
"""File suffixes :func:`find_audio_files` collects by default."""

_WRITE_FORMATS = {
    ".wav": ("WAV", "PCM_16"),
    ".flac": ("FLAC", "PCM_16"),
    ".ogg": ("OGG", "VORBIS"),
}


class AudioError(ValueError):
    """An audio file that is missing, undecodable, empty or not finite.

    Arguments
    ---------
    path : str or path
        The offending file.
    problem : str
        What is wrong with it.

    Example
    -------
    >>> error = AudioError("a.wav", "file not found")
    >>> str(error), error.path, error.problem
    ('a.wav: file not found', 'a.wav', 'file not found')
    """

    def __init__(self, path: PathLike, problem: str):
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def check_audio_file(path: PathLike) -> None:
    """Cheap checks before decoding: the file exists, is a regular file and
    is not empty (no header is read).

    Arguments
    ---------
    path : str or path
        Audio file.

    Raises
    ------
    AudioError
        ``file not found``, ``not a regular file`` or ``empty file (0 bytes)``.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "empty.wav"
    >>> _ = path.write_bytes(b"")
    >>> check_audio_file(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    emotion2vec.audio.io.AudioError: ...empty.wav: empty file (0 bytes)
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(path, "file not found")
    if not path.is_file():
        raise AudioError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")


def audio_info(path: PathLike) -> Tuple[int, int, int]:
    """Reads the header of an audio file without decoding the samples.

    Arguments
    ---------
    path : str or path
        Audio file.

    Returns
    -------
    num_frames : int
        Samples per channel.
    sample_rate : int
        Samples per second.
    channels : int
        Number of channels.

    Raises
    ------
    AudioError
        Missing, empty or undecodable file, or a file with no samples.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.wav"
    >>> write_audio(path, torch.zeros(8000), sr=16000)
    >>> audio_info(path)
    (8000, 16000, 1)
    """
    path = Path(path)
    check_audio_file(path)
    try:
        info = soundfile.info(str(path))
    except Exception as err:  # libsndfile raises several types
        raise AudioError(path, f"cannot read the audio header ({_reason(err)})") from None
    if info.samplerate <= 0:
        raise AudioError(path, f"invalid sample rate {info.samplerate}")
    if info.frames <= 0:
        raise AudioError(path, "contains no audio samples")
    return int(info.frames), int(info.samplerate), int(info.channels)


def duration_seconds(path: PathLike) -> float:
    """Duration of an audio file in seconds, from its header.

    Arguments
    ---------
    path : str or path
        Audio file.

    Returns
    -------
    float
        ``num_frames / sample_rate`` (unchanged by resampling).

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.flac"
    >>> write_audio(path, torch.zeros(4000), sr=8000)
    >>> duration_seconds(path)
    0.5
    """
    frames, sample_rate, _ = audio_info(path)
    return frames / sample_rate


def read_audio(path: PathLike, target_sr: Optional[int] = SAMPLE_RATE) -> torch.Tensor:
    """Decodes an audio file into a float32 mono waveform.

    Multi-channel audio is averaged over channels; audio at another rate is
    resampled to ``target_sr`` with ``torchaudio.functional.resample``.

    Arguments
    ---------
    path : str or path
        Audio file (any format libsndfile reads: WAV, FLAC, OGG, ...).
    target_sr : int, optional
        Output sample rate; None keeps the file's rate.

    Returns
    -------
    torch.Tensor
        ``[samples]`` float32 waveform, nominally in [-1, 1].

    Raises
    ------
    AudioError
        Missing, empty or undecodable file, no samples, NaN or Inf values.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "stereo.wav"
    >>> stereo = torch.stack([torch.full((800,), 0.5), torch.zeros(800)], 1)
    >>> write_audio(path, stereo, sr=8000)
    >>> wav = read_audio(path)
    >>> wav.shape, wav.dtype, round(float(wav[400]), 3)
    (torch.Size([1600]), torch.float32, 0.25)
    """
    path = Path(path)
    check_audio_file(path)
    try:
        data, sample_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as err:  # libsndfile raises several types
        raise decode_error(path, err) from None
    return _mono_at(path, data, sample_rate, target_sr)


def read_media(path: PathLike, target_sr: Optional[int] = SAMPLE_RATE) -> torch.Tensor:
    """Decodes the first audio stream of a media file (MP4, M4A, ...) to mono.

    For formats libsndfile cannot read, such as MELD's MP4 clips (a video
    stream plus 6- or 2-channel AAC). Decoding uses PyAV (FFmpeg's
    libraries, ``pip install av``); channels are averaged and the rate is
    changed exactly as in :func:`read_audio`.

    Arguments
    ---------
    path : str or path
        Media file with at least one audio stream.
    target_sr : int, optional
        Output sample rate; None keeps the stream's rate.

    Returns
    -------
    torch.Tensor
        ``[samples]`` float32 waveform.

    Raises
    ------
    ImportError
        PyAV is not installed.
    AudioError
        Missing, empty or undecodable file, no audio stream, no samples.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "not_media.mp4"
    >>> _ = path.write_bytes(b"no container here")
    >>> read_media(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    emotion2vec.audio.io.AudioError: .../not_media.mp4: cannot decode audio (...)
    """
    path = Path(path)
    check_audio_file(path)
    try:
        import av
    except ImportError as err:
        raise ImportError(f"reading {path.suffix} audio needs PyAV: pip install av") from err
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioError(path, "no audio stream")
            stream = container.streams.audio[0]
            planar = av.AudioResampler(format="fltp")  # keeps the layout and the rate
            chunks, sample_rate = [], stream.rate
            for frame in container.decode(stream):
                sample_rate = frame.sample_rate
                chunks += [out.to_ndarray() for out in planar.resample(frame)]
            chunks += [out.to_ndarray() for out in planar.resample(None)]
    except AudioError:
        raise
    except Exception as err:  # av.error.* (InvalidDataError, ...), codec errors
        raise decode_error(path, err) from None
    if not chunks or not sample_rate:
        raise AudioError(path, "contains no audio samples")
    data = np.concatenate(chunks, axis=1).T  # [samples, channels]
    return _mono_at(path, np.ascontiguousarray(data, dtype=np.float32), sample_rate, target_sr)


def _mono_at(
    path: Path, data: np.ndarray, sample_rate: int, target_sr: Optional[int]
) -> torch.Tensor:
    """``[samples, channels]`` -> checked mono waveform at ``target_sr``."""
    if data.size == 0:
        raise AudioError(path, "contains no audio samples")
    wav = to_mono(data, path)
    if target_sr is not None and sample_rate != target_sr:
        if target_sr <= 0:
            raise ValueError(f"target_sr must be positive, got {target_sr}")
        wav = torchaudio.functional.resample(wav, int(sample_rate), int(target_sr))
    return wav.contiguous()


def to_mono(data: np.ndarray, path: PathLike) -> torch.Tensor:
    """Decoded samples -> the mono waveform the package uses.

    The one decoding step of :func:`read_audio`, :func:`read_media` and
    :class:`~emotion2vec.audio.windows.WindowReader`.

    Arguments
    ---------
    data : numpy.ndarray
        ``[frames, channels]`` float32 samples as ``soundfile`` decodes them.
    path : str or path
        Their file, for the error.

    Returns
    -------
    torch.Tensor
        ``[frames]`` float32: the mean over channels.

    Raises
    ------
    AudioError
        NaN or Inf values.

    Example
    -------
    >>> to_mono(np.array([[0.5, 0.0], [1.0, 1.0]], dtype=np.float32), "a.wav").tolist()
    [0.25, 1.0]
    """
    if not np.isfinite(data).all():
        raise AudioError(path, "contains NaN or Inf sample values")
    return torch.from_numpy(data.mean(axis=1, dtype=np.float32))


def decode_error(path: PathLike, error: Exception) -> AudioError:
    """The :class:`AudioError` for a file that libsndfile cannot decode.

    Arguments
    ---------
    path : str or path
        The file.
    error : Exception
        What libsndfile raised.

    Returns
    -------
    AudioError

    Example
    -------
    >>> str(decode_error("a.wav", RuntimeError("bad header")))
    'a.wav: cannot decode audio (RuntimeError: bad header)'
    """
    return AudioError(path, f"cannot decode audio ({_reason(error)})")


def write_audio(path: PathLike, wav: Union[torch.Tensor, np.ndarray], sr: int = SAMPLE_RATE) -> None:
    """Writes a waveform as PCM16 WAV/FLAC (or Vorbis OGG), atomically.

    Values are clipped to [-1, 1]; missing parent folders are created.

    Arguments
    ---------
    path : str or path
        Output file; its suffix (``.wav``, ``.flac``, ``.ogg``) picks the format.
    wav : torch.Tensor or numpy.ndarray
        ``[samples]`` or ``[samples, channels]`` float waveform.
    sr : int
        Sample rate.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "sub" / "tone.wav"
    >>> write_audio(path, torch.sin(torch.arange(1600) * 0.1), sr=16000)
    >>> soundfile.info(str(path)).subtype
    'PCM_16'
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _WRITE_FORMATS:
        raise AudioError(
            path, f"cannot write suffix {suffix!r}; use one of {sorted(_WRITE_FORMATS)}"
        )
    if isinstance(wav, torch.Tensor):
        wav = wav.detach().cpu().numpy()
    data = np.asarray(wav, dtype=np.float32)
    if data.ndim not in (1, 2) or data.size == 0:
        raise AudioError(
            path,
            "expected a non-empty [samples] or [samples, channels] waveform, "
            f"got shape {data.shape}",
        )
    if not np.isfinite(data).all():
        raise AudioError(path, "refusing to write NaN or Inf sample values")
    data = np.clip(data, -1.0, 1.0)
    file_format, subtype = _WRITE_FORMATS[suffix]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        soundfile.write(str(tmp), data, int(sr), subtype=subtype, format=file_format)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def is_hidden_path(path: PathLike) -> bool:
    """True for junk entries: a component starting with ``.`` or ``__MACOSX``.

    Covers macOS AppleDouble files (``._name.wav``), ``.DS_Store`` and the
    ``__MACOSX/`` folder that zip tools add.

    Arguments
    ---------
    path : str or path
        A path, usually relative to the folder that was searched.

    Returns
    -------
    bool

    Example
    -------
    >>> is_hidden_path("Actor_01/._03-01.wav"), is_hidden_path("__MACOSX/a.wav")
    (True, True)
    >>> is_hidden_path("Actor_01/03-01.wav")
    False
    """
    return any(
        (part.startswith(".") and part not in (".", "..")) or part == "__MACOSX"
        for part in Path(path).parts
    )


def find_audio_files(
    root_or_files: Union[PathLike, Iterable[PathLike]],
    extensions: Sequence[str] = AUDIO_EXTENSIONS,
) -> List[Tuple[Path, Path]]:
    """Lists audio files given as files and/or folders searched recursively.

    In folders, hidden entries (``._x.wav``, ``.DS_Store``, ``.cache/``),
    ``__MACOSX/`` and zero-byte files are skipped and suffixes are matched
    case-insensitively. Files named explicitly are always kept, whatever
    their name or suffix, so that reading them reports any problem.

    Arguments
    ---------
    root_or_files : str, path or iterable of them
        Audio files and/or folders.
    extensions : sequence of str
        Suffixes collected from folders (with or without the dot).

    Returns
    -------
    list of (Path, Path)
        ``(path, relative_path)`` pairs sorted by path, each file once;
        ``relative_path`` is relative to the folder it was found in, or the
        file name for a file given explicitly.

    Raises
    ------
    AudioError
        An input that does not exist.

    Example
    -------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> write_audio(root / "spk1" / "a.wav", torch.zeros(160))
    >>> _ = (root / "spk1" / "._a.wav").write_bytes(b"Mac OS X")
    >>> _ = (root / "empty.wav").write_bytes(b"")
    >>> [str(rel) for _, rel in find_audio_files(root)]
    ['spk1/a.wav']
    """
    if isinstance(root_or_files, (str, os.PathLike)):
        root_or_files = [root_or_files]
    suffixes = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions}
    found = {}
    for item in root_or_files:
        item = Path(item)
        if item.is_file():
            found.setdefault(item.resolve(), (item, Path(item.name)))
        elif item.is_dir():
            for path, rel in _walk_audio(item, suffixes):
                found.setdefault(path.resolve(), (path, rel))
        else:
            raise AudioError(item, "input not found (neither a file nor a folder)")
    return sorted(found.values(), key=lambda pair: str(pair[0]))


def _walk_audio(root: Path, suffixes: set) -> Iterable[Tuple[Path, Path]]:
    visited = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in visited:  # a symlink loop or a second link to one folder
            dirnames[:] = []
            continue
        visited.add(real)
        dirnames[:] = sorted(d for d in dirnames if not is_hidden_path(d))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if is_hidden_path(name) or path.suffix.lower() not in suffixes:
                continue
            try:
                if path.stat().st_size == 0:
                    logger.warning("skipping %s: empty file (0 bytes)", path)
                    continue
            except OSError as err:  # broken symlink
                logger.warning("skipping %s: %s", path, _reason(err))
                continue
            yield path, path.relative_to(root)


def _reason(err: Exception) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
