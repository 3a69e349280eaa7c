"""CaFE (Canadian French Emotional speech) preparation.

Reads ``AA-E-I-S.wav`` files (actor ``AA`` 01-12, emotion letter ``E``,
intensity ``I`` 1 low / 2 high, sentence ``S`` 1-6) at any depth of
``CaFE_48k.zip`` or ``CaFE_192k.zip``. The emotion folders (``Colère/Fort``
...) are ignored: their names are mojibake in some extractions
(``ColŠre``), and the label comes from the letter: ``C`` anger (colère),
``D`` disgust (dégoût), ``J`` happiness (joie), ``N`` neutral, ``P`` fear
(peur), ``S`` surprise, ``T`` sadness (tristesse). Both releases extracted
side by side are kept once per utterance. Writes ``OUT_DIR/cafe.csv`` with
``ID, wav, duration, label, speaker, gender, session`` plus ``emo_raw``,
``intensity`` and ``sentence``; the audio stays where it is. EmoBox's 3
speaker-independent folds are registered as the ``fixed_folds`` protocol's
speaker groups (:data:`EMOBOX_SPEAKER_GROUPS`).

Authors
 * emotion2vec-sb contributors
"""

import re
from pathlib import Path
from typing import Dict, Optional, Union

from emotion2vec.corpora import register_corpus
from emotion2vec.corpora.named import FileNameCorpus, prepare_by_file_name

PathLike = Union[str, Path]

EMOTIONS = {
    "C": "anger", "D": "disgust", "J": "happiness", "N": "neutral",
    "P": "fear", "S": "surprise", "T": "sadness",
}
"""Emotion letter -> label, in the corpus's letter order."""

EXPECTED_COUNTS = {label: 144 for label in EMOTIONS.values()} | {"neutral": 72}
"""Per-class counts of the release: 12 actors x 6 sentences x 2 intensities
(neutral: 1 intensity), 936 files."""

ACTORS = tuple(f"{actor:02d}" for actor in range(1, 13))
"""The 12 actors (odd numbers male, even female)."""

EMOBOX_SPEAKER_GROUPS = (
    ("01", "07", "08", "10"),
    ("02", "04", "09", "12"),
    ("03", "05", "06", "11"),
)
"""EmoBox's 3 speaker-independent folds of 4 actors (speaker IDs as in the manifest)."""

FILE_PATTERN = re.compile(r"^(\d{2})-([CDJNPST])-([12])-([1-6])\.wav$", re.IGNORECASE)
EXTRA_COLUMNS = ("emo_raw", "intensity", "sentence")


def parse_cafe_file(match: re.Match, path: Path) -> Dict[str, str]:
    """Row fields of a CaFE file name (never its folders).

    Arguments
    ---------
    match : re.Match
        :data:`FILE_PATTERN` matched on the basename.
    path : Path
        The file.

    Returns
    -------
    dict
        ``ID, label, speaker, gender, emo_raw, intensity, sentence``.

    Raises
    ------
    ValueError
        An actor number outside 01-12.

    Example
    -------
    >>> name = "07-J-2-4.wav"
    >>> fields = parse_cafe_file(FILE_PATTERN.match(name), Path("ColŠre") / name)
    >>> fields["label"], fields["speaker"], fields["gender"], fields["intensity"]
    ('happiness', '07', 'M', '2')
    """
    actor, letter, intensity, sentence = match.groups()
    letter = letter.upper()
    if actor not in ACTORS:
        raise ValueError(f"CaFE has no actor {actor} (actors 01-12)")
    return {
        "ID": f"{actor}-{letter}-{intensity}-{sentence}",
        "label": EMOTIONS[letter],
        "speaker": actor,
        "gender": "M" if int(actor) % 2 else "F",
        "emo_raw": letter,
        "intensity": intensity,
        "sentence": sentence,
    }


SPEC = FileNameCorpus(
    name="CaFE",
    csv_name="cafe.csv",
    pattern=FILE_PATTERN,
    parse=parse_cafe_file,
    expected=EXPECTED_COUNTS,
    extra_columns=EXTRA_COLUMNS,
    name_hint="AA-E-I-S.wav (e.g. 01-C-1-1.wav)",
)


@register_corpus(
    "cafe",
    labels=tuple(EMOTIONS.values()),
    protocols={
        # Paper: random 10-fold, 80/10/10 (speaker-dependent).
        "random_kfold": {"k": 10, "valid_is_test": False, "seed": 42},
        # EmoBox: 3 speaker-independent folds of 4 actors, 20 % of train validates.
        "fixed_folds": {
            "groups": [list(group) for group in EMOBOX_SPEAKER_GROUPS],
            "valid_ratio": 0.2,
            "valid_is_test": False,
            "seed": 42,
        },
    },
)
def prepare_cafe(
    src_dir: PathLike,
    out_dir: PathLike,
    decode_audio: bool = False,
    compare_to_release: Optional[bool] = None,
) -> Path:
    """Writes ``OUT_DIR/cafe.csv`` from an extracted CaFE release (48 or 192 kHz).

    Arguments
    ---------
    src_dir : str or Path
        Folder the corpus was extracted into (files are found at any depth).
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
    >>> src = Path(tempfile.mkdtemp()) / "CaFE_48k"
    >>> write_audio(src / "Neutre" / "12-N-1-6.wav", torch.zeros(4800), sr=48000)
    >>> print(prepare_cafe(src, src.parent / "out").read_text().splitlines()[1])  # doctest: +ELLIPSIS
    12-N-1-6,/.../12-N-1-6.wav,0.10000,neutral,12,F,,N,1,6
    """
    return prepare_by_file_name(
        SPEC, src_dir, out_dir, f"{__name__}.prepare_cafe", decode_audio,
        compare_to_release,
    )
