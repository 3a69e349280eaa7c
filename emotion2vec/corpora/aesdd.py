"""AESDD (Acted Emotional Speech Dynamic Database, Greek) preparation.

The download holds five folders ``anger/ disgust/ fear/ happiness/
sadness/`` (the top folder name varies) with 604 WAVs named
``<e><UU> (<S>)[<t>].wav``: ``a03 (4).wav`` = anger, utterance 03, speaker
4; an optional take letter marks second takes (``f18 (5)b.wav``) and the
speaker is sometimes zero-padded (``f10 (01).wav``). Files are matched by
name anywhere under the source folder (junk skipped, duplicate copies kept
once); label and speaker (numbers 1-6; the paper's Table 1 says 5 speakers)
come from the name, not the folder. Audio (44.1 kHz) stays where it is.

Manifest ``OUT_DIR/aesdd.csv``: ``ID`` (``<e><UU>_spk<S>[<t>]``, without the
spaces and brackets of the file name), ``wav``, ``duration``, ``label``,
``speaker`` (``1``-``6``), ``gender`` and ``session`` (empty), then
``emo_raw`` (the letter), ``utterance`` and ``take``.

Authors
 * emotion2vec-sb contributors
"""

import re
from pathlib import Path
from typing import Dict, Optional, Union

from emotion2vec.corpora import register_corpus
from emotion2vec.corpora.named import FileNameCorpus, prepare_by_file_name

CSV_NAME = "aesdd.csv"
EMOTIONS = {"a": "anger", "d": "disgust", "f": "fear", "h": "happiness", "s": "sadness"}
"""File-name letter -> label (the 5 classes, in this order)."""

FILE_PATTERN = re.compile(r"^([adfhs])(\d{2}) \((\d+)\)([ab]?)\.wav$", re.IGNORECASE)
EXTRA_COLUMNS = ("emo_raw", "utterance", "take")

EXPECTED_COUNTS = {
    "anger": 121, "disgust": 122, "fear": 120, "happiness": 119, "sadness": 122,
}
"""Per-class counts of the release (604 files; speakers 1-6 with 95-100 files each)."""


def parse_aesdd_file(match: re.Match, path: Path) -> Dict[str, str]:
    """Row fields of an AESDD file name matched by :data:`FILE_PATTERN`.

    Arguments
    ---------
    match : re.Match
        :data:`FILE_PATTERN` matched on the basename.
    path : Path
        The file (its folders are not used).

    Returns
    -------
    dict
        ``ID, label, speaker, gender (empty), emo_raw, utterance, take``.

    Example
    -------
    >>> [parse_aesdd_file(FILE_PATTERN.match(n), Path(n))["ID"]
    ...  for n in ("a03 (4).wav", "f18 (5)b.wav", "f10 (01).wav")]
    ['a03_spk4', 'f18_spk5b', 'f10_spk1']
    """
    letter, utterance, speaker, take = match.groups()
    letter, take, speaker = letter.lower(), take.lower(), str(int(speaker))
    return {
        "ID": f"{letter}{utterance}_spk{speaker}{take}",
        "label": EMOTIONS[letter],
        "speaker": speaker,
        "gender": "",
        "emo_raw": letter,
        "utterance": utterance,
        "take": take,
    }


SPEC = FileNameCorpus(
    name="AESDD",
    csv_name=CSV_NAME,
    pattern=FILE_PATTERN,
    parse=parse_aesdd_file,
    extra_columns=EXTRA_COLUMNS,
    expected=EXPECTED_COUNTS,
    name_hint="'a03 (4).wav'",
)


@register_corpus(
    "aesdd",
    labels=tuple(EMOTIONS.values()),
    protocols={
        # Paper (language generalisation): random 10-fold, 80/10/10, speaker-dependent.
        "random_kfold": {"k": 10, "valid_is_test": False, "seed": 42},
        # Speaker-independent: leave one of the 6 speakers out, the next one validates.
        "loso_speaker": {"valid": "next_speaker", "valid_is_test": False, "seed": 42},
    },
)
def prepare_aesdd(
    src_dir: Union[str, Path],
    out_dir: Union[str, Path],
    decode_audio: bool = False,
    compare_to_release: Optional[bool] = None,
) -> Path:
    """Writes ``OUT_DIR/aesdd.csv`` from the extracted AESDD download.

    A second call with the same options reuses the CSV; an existing CSV
    from other options or from elsewhere is never overwritten.

    Arguments
    ---------
    src_dir : str or Path
        Folder holding the five emotion folders (files found at any depth).
    out_dir : str or Path
        Output folder.
    decode_audio : bool
        Decode every file to check it instead of reading headers.
    compare_to_release : bool, optional
        Compare the class counts with the release's 604 files (default:
        only when at least 90 % of the release was found).

    Returns
    -------
    Path
        The manifest CSV.

    Example
    -------
    >>> import tempfile, torch
    >>> from emotion2vec.audio import write_audio
    >>> src = Path(tempfile.mkdtemp()) / "Acted Emotional Speech Dynamic Database"
    >>> write_audio(src / "fear" / "f18 (5)b.wav", torch.zeros(1600))
    >>> csv_path = prepare_aesdd(src, src.parent / "out")
    >>> print(csv_path.read_text().splitlines()[1])  # doctest: +ELLIPSIS
    f18_spk5b,/...wav,0.10000,fear,5,,,f,18,b
    """
    return prepare_by_file_name(
        SPEC, src_dir, out_dir, f"{__name__}.prepare_aesdd", decode_audio, compare_to_release
    )
