"""RAVDESS song preparation (``Audio_Song_Actors_01-24.zip``).

Song files are the RAVDESS names with vocal channel ``02``
(``03-02-EE-II-SS-RR-AA.wav``, decoded by
:func:`emotion2vec.corpora.ravdess.parse_ravdess_name`), found at any
depth: extracting the speech and song zips into one folder merges both in
the same ``Actor_NN/``, so song is told apart by the file name, never by
the folder. 23 actors (no ``Actor_18``), 6 classes (neutral, calm, happy,
sad, angry, fearful; the paper's Table 1 says 8, only 6 occur). Writes
``OUT_DIR/ravdess_song.csv`` with the columns of ``ravdess.csv``; the
audio (48 kHz) stays where it is.

Authors
 * emotion2vec-sb contributors
"""

from pathlib import Path
from typing import Dict, Optional, Union

from emotion2vec.corpora import register_corpus
from emotion2vec.corpora.named import FileNameCorpus, prepare_by_file_name
from emotion2vec.corpora.ravdess import (
    EMOTIONS as RAVDESS_EMOTIONS,
    EXPECTED_PER_ACTOR,
    EXTRA_COLUMNS,
    FILE_PATTERN,
    parse_ravdess_name,
    ravdess_fields,
)

PathLike = Union[str, Path]

SONG_EMOTIONS = {code: RAVDESS_EMOTIONS[code] for code in ("01", "02", "03", "04", "05", "06")}
"""Emotion code -> label of the classes sung (RAVDESS code order)."""

SONG_ACTORS = 23
"""Actors in the song release (01-24 without 18)."""

EXPECTED_COUNTS = {label: EXPECTED_PER_ACTOR[label] * SONG_ACTORS for label in SONG_EMOTIONS.values()}
"""Per-class counts of the release: neutral 92, each other class 184 (1,012 files)."""


def parse_song_file(match, path: Path) -> Optional[Dict[str, str]]:
    """Row fields of a RAVDESS song file; None for speech or video files.

    Arguments
    ---------
    match : re.Match
        :data:`emotion2vec.corpora.ravdess.FILE_PATTERN` on the basename.
    path : Path
        The file.

    Returns
    -------
    dict or None
        ``ID, label, speaker, gender`` and the raw codes
        (:func:`emotion2vec.corpora.ravdess.ravdess_fields`).

    Raises
    ------
    ValueError
        A song file with an emotion the song release does not have.

    Example
    -------
    >>> name = "03-02-06-02-01-01-24.wav"
    >>> fields = parse_song_file(FILE_PATTERN.match(name), Path(name))
    >>> fields["label"], fields["speaker"], fields["gender"]
    ('fearful', 'Actor_24', 'F')
    >>> speech = "03-01-06-02-01-01-24.wav"
    >>> parse_song_file(FILE_PATTERN.match(speech), Path(speech)) is None
    True
    """
    codes = parse_ravdess_name(path.name)
    if codes is None or codes["modality"] != "03" or codes["channel"] != "02":
        return None  # speech, or a video modality
    if codes["emotion"] not in SONG_EMOTIONS:
        raise ValueError(
            f"emotion code {codes['emotion']} ({RAVDESS_EMOTIONS[codes['emotion']]}) "
            "does not occur in RAVDESS song"
        )
    return ravdess_fields(codes, path.stem)


SPEC = FileNameCorpus(
    name="RAVDESS song",
    csv_name="ravdess_song.csv",
    pattern=FILE_PATTERN,
    parse=parse_song_file,
    expected=EXPECTED_COUNTS,
    extra_columns=EXTRA_COLUMNS,
    name_hint="03-02-EE-II-SS-RR-AA.wav",
)


@register_corpus(
    "ravdess_song",
    labels=tuple(SONG_EMOTIONS.values()),
    protocols={
        # Paper Table 5: random 5-fold; validation not stated: 10 % of the training pool.
        "random_kfold": {"k": 5, "valid_ratio": 0.1, "valid_is_test": False, "seed": 42},
        # Speaker-independent: leave one actor out, the next actor validates.
        "loso_speaker": {"valid": "next_speaker", "valid_is_test": False, "seed": 42},
    },
)
def prepare_ravdess_song(
    src_dir: PathLike,
    out_dir: PathLike,
    decode_audio: bool = False,
    compare_to_release: Optional[bool] = None,
) -> Path:
    """Writes ``OUT_DIR/ravdess_song.csv`` from the RAVDESS song release.

    Arguments
    ---------
    src_dir : str or Path
        Folder the song zip (possibly with the speech zip) was extracted into.
    out_dir : str or Path
        Output folder.
    decode_audio : bool
        Decode every file to check it instead of reading headers.
    compare_to_release : bool, optional
        Compare the class counts with the release's (default: only when at
        least 90 % of the release was found).

    Returns
    -------
    Path
        The manifest CSV.

    Example
    -------
    >>> import tempfile, torch
    >>> from emotion2vec.audio import write_audio
    >>> src = Path(tempfile.mkdtemp()) / "RAVDESS"
    >>> write_audio(src / "Actor_03" / "03-02-02-01-01-01-03.wav", torch.zeros(4800), sr=48000)
    >>> write_audio(src / "Actor_03" / "03-01-02-01-01-01-03.wav", torch.zeros(4800), sr=48000)
    >>> print(prepare_ravdess_song(src, src.parent / "out").read_text().splitlines()[1:])  # doctest: +ELLIPSIS
    ['03-02-02-01-01-01-03,/.../03-02-02-01-01-01-03.wav,0.10000,calm,Actor_03,M,,02,01,01,01']
    """
    return prepare_by_file_name(
        SPEC, src_dir, out_dir, f"{__name__}.prepare_ravdess_song", decode_audio,
        compare_to_release,
    )
