"""SUBESCO (SUST Bangla Emotional Speech Corpus) preparation.

Zenodo record 4526477: ``SUBESCO.zip`` holds one flat folder of 7,000 WAVs
named ``<G>_<NN>_<NAME>_S_<sent>_<EMOTION>_<take>.wav`` (e.g.
``F_10_FAHMEE_S_6_FEAR_5.wav``). Files are matched by that name anywhere
under the source folder (junk skipped, duplicate copies kept once); the
label and the speaker (``<G>_<NN>``, 20 speakers) come from the name. One
real file is misnamed ``F_02_MONIKA_S_2_SURPRISE_3].wav``; it is kept, with
the ID its name should have had. Audio (44.1 or 48 kHz) stays where it is.

Manifest ``OUT_DIR/subesco.csv``: ``ID`` (the stem), ``wav``, ``duration``,
``label``, ``speaker``, ``gender``, ``session`` (empty), then ``emo_raw``,
``speaker_name``, ``sentence``, ``take``.

Authors
 * emotion2vec-sb contributors
"""

import re
from pathlib import Path
from typing import Dict, Optional, Union

from emotion2vec.corpora import register_corpus
from emotion2vec.corpora.named import FileNameCorpus, prepare_by_file_name

CSV_NAME = "subesco.csv"
EMOTIONS = {
    "ANGRY": "angry", "DISGUST": "disgust", "FEAR": "fear", "HAPPY": "happy",
    "NEUTRAL": "neutral", "SAD": "sad", "SURPRISE": "surprise",
}
"""File-name emotion word -> label (the corpus's 7 classes, in this order)."""

FILE_PATTERN = re.compile(
    r"^([FM])_(\d{2})_([A-Z]+)_S_(\d{1,2})_(" + "|".join(EMOTIONS) + r")_(\d)\]?\.wav$",
    re.IGNORECASE,
)
EXTRA_COLUMNS = ("emo_raw", "speaker_name", "sentence", "take")

EXPECTED_COUNTS = {label: 1000 for label in EMOTIONS.values()}
"""Per-class counts of the release (7,000 files, 350 per speaker)."""

EMOBOX_SPEAKER_GROUPS = (
    ("F_03", "M_03", "M_08", "M_09"),
    ("F_01", "F_04", "F_10", "M_07"),
    ("F_06", "F_08", "M_05", "M_06"),
    ("F_05", "F_07", "F_09", "M_04"),
    ("F_02", "M_01", "M_02", "M_10"),
)
"""EmoBox's 5 speaker-independent folds of 4 speakers (speaker IDs as in the manifest)."""


def parse_subesco_file(match: re.Match, path: Path) -> Dict[str, str]:
    """Row fields of a SUBESCO file name matched by :data:`FILE_PATTERN`.

    Arguments
    ---------
    match : re.Match
        :data:`FILE_PATTERN` matched on the basename.
    path : Path
        The file (its folders are not used).

    Returns
    -------
    dict
        ``ID, label, speaker, gender, emo_raw, speaker_name, sentence, take``.

    Example
    -------
    >>> name = "F_02_MONIKA_S_2_SURPRISE_3].wav"
    >>> row = parse_subesco_file(FILE_PATTERN.match(name), Path(name))
    >>> row["ID"], row["label"], row["speaker"], row["gender"]
    ('F_02_MONIKA_S_2_SURPRISE_3', 'surprise', 'F_02', 'F')
    """
    gender, number, name, sentence, emotion, take = (g.upper() for g in match.groups())
    speaker = f"{gender}_{number}"
    return {
        "ID": f"{speaker}_{name}_S_{int(sentence)}_{emotion}_{take}",
        "label": EMOTIONS[emotion],
        "speaker": speaker,
        "gender": gender,
        "emo_raw": emotion,
        "speaker_name": name,
        "sentence": str(int(sentence)),
        "take": take,
    }


SPEC = FileNameCorpus(
    name="SUBESCO",
    csv_name=CSV_NAME,
    pattern=FILE_PATTERN,
    parse=parse_subesco_file,
    extra_columns=EXTRA_COLUMNS,
    expected=EXPECTED_COUNTS,
    name_hint="F_10_FAHMEE_S_6_FEAR_5.wav",
)


@register_corpus(
    "subesco",
    labels=tuple(EMOTIONS.values()),
    protocols={
        # Paper (language generalisation): random 10-fold, 80/10/10, speaker-dependent.
        "random_kfold": {"k": 10, "valid_is_test": False, "seed": 42},
        # EmoBox: 5 speaker-independent folds of 4 speakers, 20 % of train validates.
        "fixed_folds": {
            "groups": [list(group) for group in EMOBOX_SPEAKER_GROUPS],
            "valid_ratio": 0.2,
            "valid_is_test": False,
            "seed": 42,
        },
    },
)
def prepare_subesco(
    src_dir: Union[str, Path],
    out_dir: Union[str, Path],
    decode_audio: bool = False,
    compare_to_release: Optional[bool] = None,
) -> Path:
    """Writes ``OUT_DIR/subesco.csv`` from an extracted ``SUBESCO.zip``.

    A second call with the same options reuses the CSV; an existing CSV
    from other options or from elsewhere is never overwritten.

    Arguments
    ---------
    src_dir : str or Path
        Folder the zip was extracted into (files found at any depth).
    out_dir : str or Path
        Output folder.
    decode_audio : bool
        Decode every file to check it instead of reading headers.
    compare_to_release : bool, optional
        Compare the class counts with the release's 1,000 per class
        (default: only when at least 90 % of the release was found).

    Returns
    -------
    Path
        The manifest CSV.

    Example
    -------
    >>> import tempfile, torch
    >>> from emotion2vec.audio import write_audio
    >>> src = Path(tempfile.mkdtemp()) / "SUBESCO"
    >>> write_audio(src / "M_01_BASHIR_S_1_HAPPY_2.wav", torch.zeros(1600))
    >>> csv_path = prepare_subesco(src, src.parent / "out")
    >>> print(csv_path.read_text().splitlines()[1])  # doctest: +ELLIPSIS
    M_01_BASHIR_S_1_HAPPY_2,/...wav,0.10000,happy,M_01,M,,HAPPY,BASHIR,1,2
    """
    return prepare_by_file_name(
        SPEC, src_dir, out_dir, f"{__name__}.prepare_subesco", decode_audio, compare_to_release
    )
