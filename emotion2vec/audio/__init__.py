"""Audio: the one place audio enters (imports nothing else of the package).

- :mod:`emotion2vec.audio.io`: read, validate, resample, write, list files;
  ``SAMPLE_RATE``, the one definition of the rate emotion2vec takes.
- :mod:`emotion2vec.audio.windows`: long audio, window plans and a block reader.
- :mod:`emotion2vec.audio.batching`: the batching policy, length buckets
  and padding.

Example
-------
>>> from emotion2vec.audio import SAMPLE_RATE
>>> SAMPLE_RATE
16000
"""

from emotion2vec.audio.io import (  # noqa: F401
    AUDIO_EXTENSIONS,
    SAMPLE_RATE,
    AudioError,
    PathLike,
    audio_info,
    duration_seconds,
    find_audio_files,
    is_hidden_path,
    read_audio,
    read_media,
    write_audio,
)
