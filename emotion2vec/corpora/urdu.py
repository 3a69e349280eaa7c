"""URDU (Urdu emotional speech, siddiquelatif/URDU-Dataset) preparation.

The GitHub repository holds ``Angry/ Happy/ Neutral/ Sad/`` with 100 WAVs
each, named ``S<G><X>_F<n>_<E><m>.wav`` (e.g. ``SM1_F10_A010.wav``: male
speaker 1, file 10, angry, number 010; the zero padding varies). Files are
matched by name anywhere under the source folder (junk skipped, duplicate
copies kept once); the label (letter ``E``) and the speaker (``S<G><X>``,
29 IDs; the README says 38 speakers) come from the name, not from the
folder. Audio (44.1 kHz mono) stays where it is.

Manifest ``OUT_DIR/urdu.csv``: ``ID`` (the stem), ``wav``, ``duration``,
``label``, ``speaker``, ``gender``, ``session`` (empty), then ``emo_raw``
(the letter), ``file_number`` and ``number``.

Authors
 * emotion2vec-sb contributors
"""

import re
from pathlib import Path
from typing import Dict, Optional, Union

from emotion2vec.corpora import register_corpus
from emotion2vec.corpora.named import FileNameCorpus, prepare_by_file_name

CSV_NAME = "urdu.csv"
EMOTIONS = {"A": "angry", "H": "happy", "N": "neutral", "S": "sad"}
"""File-name letter -> label (the 4 classes, in the repository's folder order)."""

FILE_PATTERN = re.compile(r"^S([MF])(\d+)_F(\d+)_([AHNS])(\d+)\.wav$", re.IGNORECASE)
EXTRA_COLUMNS = ("emo_raw", "file_number", "number")

EXPECTED_COUNTS = {label: 100 for label in EMOTIONS.values()}
"""Per-class counts of the repository (400 files)."""


def parse_urdu_file(match: re.Match, path: Path) -> Dict[str, str]:
    """Row fields of a URDU file name matched by :data:`FILE_PATTERN`.

    Arguments
    ---------
    match : re.Match
        :data:`FILE_PATTERN` matched on the basename.
    path : Path
        The file (its folders are not used).

    Returns
    -------
    dict
        ``ID, label, speaker, gender, emo_raw, file_number, number``.

    Example
    -------
    >>> name = "SF11_F3_S0100.wav"
    >>> row = parse_urdu_file(FILE_PATTERN.match(name), Path(name))
    >>> row["ID"], row["label"], row["speaker"], row["gender"], row["number"]
    ('SF11_F3_S0100', 'sad', 'SF11', 'F', '0100')
    """
    gender, speaker, file_number, letter, number = (g.upper() for g in match.groups())
    return {
        "ID": f"S{gender}{speaker}_F{file_number}_{letter}{number}",
        "label": EMOTIONS[letter],
        "speaker": f"S{gender}{int(speaker)}",
        "gender": gender,
        "emo_raw": letter,
        "file_number": file_number,
        "number": number,
    }


SPEC = FileNameCorpus(
    name="URDU",
    csv_name=CSV_NAME,
    pattern=FILE_PATTERN,
    parse=parse_urdu_file,
    extra_columns=EXTRA_COLUMNS,
    expected=EXPECTED_COUNTS,
    name_hint="SM1_F10_A010.wav",
)


@register_corpus(
    "urdu",
    labels=tuple(EMOTIONS.values()),
    protocols={
        # Paper (language generalisation): random 10-fold, 80/10/10, speaker-dependent.
        "random_kfold": {"k": 10, "valid_is_test": False, "seed": 42},
    },
)
def prepare_urdu(
    src_dir: Union[str, Path],
    out_dir: Union[str, Path],
    decode_audio: bool = False,
    compare_to_release: Optional[bool] = None,
) -> Path:
    """Writes ``OUT_DIR/urdu.csv`` from a copy of the URDU repository.

    A second call with the same options reuses the CSV; an existing CSV
    from other options or from elsewhere is never overwritten.

    Arguments
    ---------
    src_dir : str or Path
        Folder holding ``Angry/ Happy/ Neutral/ Sad/`` (files found at any depth).
    out_dir : str or Path
        Output folder.
    decode_audio : bool
        Decode every file to check it instead of reading headers.
    compare_to_release : bool, optional
        Compare the class counts with the repository's 100 per class
        (default: only when at least 90 % of it was found).

    Returns
    -------
    Path
        The manifest CSV.

    Example
    -------
    >>> import tempfile, torch
    >>> from emotion2vec.audio import write_audio
    >>> src = Path(tempfile.mkdtemp()) / "URDU-Dataset"
    >>> write_audio(src / "Angry" / "SM1_F10_A010.wav", torch.zeros(1600))
    >>> csv_path = prepare_urdu(src, src.parent / "out")
    >>> print(csv_path.read_text().splitlines()[1])  # doctest: +ELLIPSIS
    SM1_F10_A010,/...wav,0.10000,angry,SM1,M,,A,10,010
    """
    return prepare_by_file_name(
        SPEC, src_dir, out_dir, f"{__name__}.prepare_urdu", decode_audio, compare_to_release
    )
