"""Batching audio files: lengths from headers, length buckets, padding.

The layer that batches decides how a batch is made: :func:`length_batches`
groups files sorted by length under a budget of padded samples and
:func:`pad_batch` right-pads waveforms with SpeechBrain relative lengths.
Used by ``emotion2vec extract`` and ``emotion2vec classify``.

Authors
 * emotion2vec-sb contributors
"""

from typing import Sequence, Tuple

import torch

from emotion2vec.audio.io import SAMPLE_RATE, AudioError, audio_info


def usable_samples(path, min_samples: int) -> int:
    """Length of an audio file at 16 kHz, from its header, if long enough.

    Arguments
    ---------
    path : str or Path
        Audio file.
    min_samples : int
        Shortest usable input (the model's ``min_samples``).

    Returns
    -------
    int
        Samples at 16 kHz.

    Raises
    ------
    AudioError
        Unreadable header, or shorter than ``min_samples``.
    """
    frames, sr, _ = audio_info(path)
    samples = int(frames * SAMPLE_RATE / sr)
    if samples < min_samples:
        raise AudioError(
            path, f"too short ({samples} samples at 16 kHz, need {min_samples})"
        )
    return samples


def length_batches(items, max_batch_samples: int, long_samples: int):
    """Groups items sorted by length under a budget of padded samples.

    Arguments
    ---------
    items : iterable of tuple
        Tuples whose third element is the length in samples.
    max_batch_samples : int
        Budget: longest length times batch size.
    long_samples : int
        Items longer than this come alone (to be windowed).

    Yields
    ------
    list of tuple
        One batch, shortest items first.

    Example
    -------
    >>> items = [("a", None, 5), ("b", None, 3), ("c", None, 4), ("d", None, 50)]
    >>> [[i[0] for i in b] for b in length_batches(items, 10, 20)]
    [['b', 'c'], ['d'], ['a']]
    """
    batch = []
    for item in sorted(items, key=lambda x: x[2]):
        if item[2] > long_samples:
            yield [item]
            continue
        if batch and max(item[2], batch[-1][2]) * (len(batch) + 1) > max_batch_samples:
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch


def pad_batch(wavs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Right zero-pads waveforms into a batch with relative lengths.

    Arguments
    ---------
    wavs : sequence of torch.Tensor
        ``[samples]`` waveforms.

    Returns
    -------
    padded : torch.Tensor
        ``[batch, longest]``.
    wav_lens : torch.Tensor
        ``[batch]`` relative lengths (SpeechBrain convention).

    Example
    -------
    >>> padded, lens = pad_batch([torch.ones(4), torch.ones(2)])
    >>> padded.tolist(), lens.tolist()
    ([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 0.0, 0.0]], [1.0, 0.5])
    """
    longest = max(len(w) for w in wavs)
    padded = torch.zeros(len(wavs), longest)
    for i, w in enumerate(wavs):
        padded[i, : len(w)] = w
    lens = torch.tensor([len(w) / longest for w in wavs])
    return padded, lens
