"""Batching audio files: lengths from headers, the batching policy, length
buckets, padding.

The layer that batches decides how a batch is made, and the model runs
what it is given. :func:`batch_budget` is the policy: on a CPU every file
is its own batch (matrix products are already efficient at one utterance
there and padding only adds work: ``benchmarks/bench_inference.py``), on
an accelerator files share padded batches under a budget of samples.
:func:`length_batches` groups files sorted by length under that budget and
:func:`pad_batch` right-pads waveforms, keeping their lengths in samples.
Used by ``emotion2vec extract``, ``emotion2vec classify`` and the
downstream feature cache.

Authors
 * emotion2vec-sb contributors
"""

from typing import Sequence, Tuple, Union

import torch

from emotion2vec.audio.io import SAMPLE_RATE, AudioError, audio_info


def usable_samples(path, min_samples: int, sample_rate: int = SAMPLE_RATE) -> int:
    """Length of an audio file once read at ``sample_rate``, from its header,
    if long enough.

    Arguments
    ---------
    path : str or Path
        Audio file.
    min_samples : int
        Shortest usable input (the model's ``min_samples``).
    sample_rate : int
        The rate it will be read at (default :data:`SAMPLE_RATE`, 16 kHz).

    Returns
    -------
    int
        Samples at ``sample_rate``.

    Raises
    ------
    AudioError
        Unreadable header, or shorter than ``min_samples``.
    """
    frames, sr, _ = audio_info(path)
    samples = int(frames * sample_rate / sr)
    if samples < min_samples:
        raise AudioError(
            path, f"too short ({samples} samples at {sample_rate / 1000:g} kHz, need {min_samples})"
        )
    return samples


def batch_budget(device: Union[str, torch.device], max_batch_samples: int) -> int:
    """The batching policy: padded samples per batch on ``device``.

    Arguments
    ---------
    device : str or torch.device
        Where the model runs.
    max_batch_samples : int
        Budget of padded samples per batch (``longest * batch size``) on an
        accelerator.

    Returns
    -------
    int
        0 on a CPU (with :func:`length_batches`: one file per batch, no
        padding), ``max_batch_samples`` elsewhere.

    Example
    -------
    >>> batch_budget("cpu", 160 * 16000), batch_budget("cuda:0", 160 * 16000)
    (0, 2560000)
    """
    return 0 if torch.device(device).type == "cpu" else int(max_batch_samples)


def length_batches(items, max_batch_samples: int, long_samples: int):
    """Groups items sorted by length under a budget of padded samples.

    Arguments
    ---------
    items : iterable of tuple
        Tuples whose third element is the length in samples.
    max_batch_samples : int
        Budget: longest length times batch size (0: one item per batch;
        see :func:`batch_budget`).
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
    """Right zero-pads waveforms into a batch.

    Arguments
    ---------
    wavs : sequence of torch.Tensor
        ``[samples]`` waveforms.

    Returns
    -------
    padded : torch.Tensor
        ``[batch, longest]``.
    lengths : torch.Tensor
        ``[batch]`` valid samples (int64), for ``extract_features(...,
        lengths=...)``.

    Example
    -------
    >>> padded, lengths = pad_batch([torch.ones(4), torch.ones(2)])
    >>> padded.tolist(), lengths.tolist()
    ([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 0.0, 0.0]], [4, 2])
    """
    longest = max(len(w) for w in wavs)
    padded = torch.zeros(len(wavs), longest)
    for i, w in enumerate(wavs):
        padded[i, : len(w)] = w
    return padded, torch.tensor([len(w) for w in wavs], dtype=torch.long)
