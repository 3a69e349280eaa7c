"""ShEMO (Sharif Emotional Speech Database, Persian) preparation.

The GitHub release ships ``female.zip`` and ``male.zip`` (-> ``female/``,
``male/``) with 3,000 WAVs named ``<G><NN><E><MM>.wav`` (e.g.
``F03S02.wav``: female speaker 03, sadness, number 02), plus ``shemo.json``
(labels and transcripts keyed by file stem). Files are matched by name
anywhere under the source folder (junk skipped, duplicate copies kept once);
the label and the speaker (``<G><NN>``, 87 speakers) come from the name.
When ``shemo.json`` is present, every file it lists without audio is
reported (EmoBox found only 2,838 of the 3,000 files). Audio (44.1 kHz,
121 files at 22.05 kHz) stays where it is.

Manifest ``OUT_DIR/shemo.csv``: ``ID`` (the stem), ``wav``, ``duration``,
``label``, ``speaker``, ``gender``, ``session`` (empty), then ``emo_raw``
(the letter) and ``number``.

Authors
 * emotion2vec-sb contributors
"""

import json
import logging
import re
from pathlib import Path
from typing import Dict, List, Optional, Union

from emotion2vec.corpora import register_corpus
from emotion2vec.corpora.common import SkipLog
from emotion2vec.corpora.files import find_named_files
from emotion2vec.corpora.named import FileNameCorpus, prepare_by_file_name

logger = logging.getLogger(__name__)

CSV_NAME = "shemo.csv"
EMOTIONS = {
    "A": "anger", "F": "fear", "H": "happiness",
    "N": "neutral", "S": "sadness", "W": "surprise",
}
"""File-name letter -> label (the paper's 6 classes, in this order)."""

FILE_PATTERN = re.compile(r"^([FM])(\d{2})([AFHNSW])(\d{2})\.wav$", re.IGNORECASE)
LABEL_FILE = re.compile(r"^shemo\.json$", re.IGNORECASE)
EXTRA_COLUMNS = ("emo_raw", "number")

EXPECTED_COUNTS = {
    "anger": 1042, "fear": 32, "happiness": 203,
    "neutral": 1160, "sadness": 362, "surprise": 201,
}
"""Per-class counts of the 3,000 listed files (file names and shemo.json agree)."""


def parse_shemo_file(match: re.Match, path: Path) -> Dict[str, str]:
    """Row fields of a ShEMO file name matched by :data:`FILE_PATTERN`.

    Arguments
    ---------
    match : re.Match
        :data:`FILE_PATTERN` matched on the basename.
    path : Path
        The file (its folders are not used).

    Returns
    -------
    dict
        ``ID, label, speaker, gender, emo_raw, number``.

    Example
    -------
    >>> name = "M12F03.wav"
    >>> row = parse_shemo_file(FILE_PATTERN.match(name), Path(name))
    >>> row["ID"], row["label"], row["speaker"], row["gender"]
    ('M12F03', 'fear', 'M12', 'M')
    """
    gender, number, letter, running = (g.upper() for g in match.groups())
    return {
        "ID": f"{gender}{number}{letter}{running}",
        "label": EMOTIONS[letter],
        "speaker": f"{gender}{number}",
        "gender": gender,
        "emo_raw": letter,
        "number": running,
    }


def report_unlisted_audio(src_dir: Path, rows: List[Dict], skips: SkipLog) -> None:
    """Adds to ``skips`` every file ``shemo.json`` lists that has no audio file.

    Files already skipped as unreadable are not reported a second time.

    Arguments
    ---------
    src_dir : Path
        Source folder (``shemo.json`` is looked for at any depth).
    rows : list of dict
        Rows prepared from the audio files.
    skips : SkipLog
        Where the missing files are recorded.

    Example
    -------
    >>> import tempfile
    >>> src = Path(tempfile.mkdtemp())
    >>> _ = (src / "shemo.json").write_text('{"F01A01": {}, "F01N02": {}}')
    >>> skips = SkipLog("ShEMO")
    >>> report_unlisted_audio(src, [{"ID": "F01A01"}], skips)
    >>> skips.items  # doctest: +ELLIPSIS
    [('.../shemo.json (F01N02)', 'listed in shemo.json but no audio file found')]
    """
    found = find_named_files(src_dir, LABEL_FILE, "ShEMO", skips)
    if not found:
        logger.info("ShEMO: no shemo.json found; missing audio files cannot be listed")
        return
    label_file = found[0].path  # the shallowest copy
    try:
        listed = json.loads(label_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        logger.warning("ShEMO: cannot read %s (%s); missing files not listed", label_file, err)
        return
    have = {row["ID"] for row in rows} | {Path(path).stem.upper() for path, _ in skips.items}
    for stem in sorted(listed):
        if str(stem).upper() not in have:
            skips.add(f"{label_file} ({stem})", "listed in shemo.json but no audio file found")


SPEC = FileNameCorpus(
    name="ShEMO",
    csv_name=CSV_NAME,
    pattern=FILE_PATTERN,
    parse=parse_shemo_file,
    extra_columns=EXTRA_COLUMNS,
    expected=EXPECTED_COUNTS,
    name_hint="F03S02.wav",
    check_rows=report_unlisted_audio,
)


@register_corpus(
    "shemo",
    labels=tuple(EMOTIONS.values()),
    protocols={
        # Paper (language generalisation): random 10-fold, 80/10/10, speaker-dependent.
        "random_kfold": {"k": 10, "valid_is_test": False, "seed": 42},
    },
)
def prepare_shemo(
    src_dir: Union[str, Path],
    out_dir: Union[str, Path],
    decode_audio: bool = False,
    compare_to_release: Optional[bool] = None,
) -> Path:
    """Writes ``OUT_DIR/shemo.csv`` from the extracted ShEMO release.

    A second call with the same options reuses the CSV; an existing CSV
    from other options or from elsewhere is never overwritten.

    Arguments
    ---------
    src_dir : str or Path
        Folder holding ``female/`` and ``male/`` (files found at any depth).
    out_dir : str or Path
        Output folder.
    decode_audio : bool
        Decode every file to check it instead of reading headers.
    compare_to_release : bool, optional
        Compare the class counts with the release's 3,000 files (default:
        only when at least 90 % of the release was found).

    Returns
    -------
    Path
        The manifest CSV.

    Example
    -------
    >>> import tempfile, torch
    >>> from emotion2vec.audio import write_audio
    >>> src = Path(tempfile.mkdtemp()) / "ShEMO"
    >>> write_audio(src / "female" / "F03S02.wav", torch.zeros(1600))
    >>> csv_path = prepare_shemo(src, src.parent / "out")
    >>> print(csv_path.read_text().splitlines()[1])  # doctest: +ELLIPSIS
    F03S02,/...wav,0.10000,sadness,F03,F,,S,02
    """
    return prepare_by_file_name(
        SPEC, src_dir, out_dir, f"{__name__}.prepare_shemo", decode_audio, compare_to_release
    )
