"""MSP-Podcast preparation (pre-training only): ``Audios/`` + labels ->
``OUT_DIR/msp_podcast.csv``.

The licensed release (v1.8 in the paper) holds the speaking turns as
``Audios/MSP-PODCAST_<podcast>_<segment>.wav`` (``Audio/`` in older
releases), 16 kHz mono, used in place (no copy). Labels are optional for
pre-training; when a consensus label file is found anywhere under the
source folder (``labels_consensus.csv``, or the older, misspelt
``labels_concensus.json``/``.csv``) its ``EmoClass``, ``SpkrID``, ``Gender``,
``Split_Set`` and ``EmoAct``/``EmoVal``/``EmoDom`` fill the ``label``,
``speaker``, ``gender``, ``split``, ``arousal``/``valence``/``dominance``
columns (empty for files the label file does not list). With
``labelled_only=True`` only the listed files are kept.

Every WAV is found by name at any depth (junk and hidden files skipped,
duplicate copies kept once), checked by its header (or decoded with
``decode_audio``); unreadable and empty files are reported and skipped.

Paper (Table 1): 72,969 utterances, 113.5 h (v1.8). The exact v1.8 file
names are not verified (datasets.md 3.6): this module looks for the audio
by its ``MSP-PODCAST_*.wav`` names wherever they are.

Authors
 * emotion2vec-sb contributors
"""

import csv
import json
import logging
import os
import re
from pathlib import Path
from typing import Dict, Mapping, Union

from emotion2vec.corpora import register_corpus
from emotion2vec.corpora.common import PrepError, SkipLog
from emotion2vec.corpora.files import find_named_files, probe_first
from emotion2vec.corpora.manifest import audio_row, check_prepared, finish_manifest

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

CSV_NAME = "msp_podcast.csv"
EXPECTED_UTTERANCES = 72969
"""Table 1 of the paper (v1.8)."""

EMO_CLASSES = {
    "A": "angry", "S": "sad", "H": "happy", "U": "surprise", "F": "fear",
    "D": "disgust", "C": "contempt", "N": "neutral", "O": "other", "X": "no_agreement",
}
"""``EmoClass`` codes of the consensus labels."""

EXTRA_COLUMNS = ("split", "emo_raw", "arousal", "valence", "dominance")

WAV_PATTERN = re.compile(r"^MSP-PODCAST_[A-Za-z0-9_-]+\.wav$", re.IGNORECASE)
LABEL_PATTERN = re.compile(r"^labels_con[cs]ensus\.(csv|json)$", re.IGNORECASE)

_FIELDS = {
    "filename": "FileName", "emoclass": "EmoClass", "emoact": "EmoAct", "emoval": "EmoVal",
    "emodom": "EmoDom", "spkrid": "SpkrID", "gender": "Gender", "split_set": "Split_Set",
}


def _canonical(record: Mapping[str, str]) -> Dict[str, str]:
    return {_FIELDS.get(str(k).strip().lower(), str(k).strip()): str(v).strip()
            for k, v in record.items() if v is not None}


def read_labels(path: PathLike) -> Dict[str, Dict[str, str]]:
    """Reads a consensus label file (CSV or the older JSON) keyed by file stem.

    Arguments
    ---------
    path : str or path
        ``labels_consensus.csv`` (header with ``FileName``) or
        ``labels_concensus.json`` (``{file name: {field: value}}``).

    Returns
    -------
    dict
        ``MSP-PODCAST_0001_0008`` -> fields (``EmoClass``, ``SpkrID``, ...).

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "labels_consensus.csv"
    >>> _ = path.write_text("FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\\n"
    ...                     "MSP-PODCAST_0001_0008.wav,N,4.2,4.0,4.4,127,Female,Train\\n")
    >>> read_labels(path)["MSP-PODCAST_0001_0008"]["SpkrID"]
    '127'
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as error:
            raise PrepError(f"MSP-Podcast: label file {path} is not valid JSON ({error})") from None
        records = [dict(v, FileName=k) for k, v in data.items() if isinstance(v, dict)]
    else:
        records = list(csv.DictReader(text.splitlines()))
    labels = {}
    for record in records:
        fields = _canonical(record)
        name = fields.get("FileName", "")
        if name:
            labels.setdefault(Path(name).stem, fields)
    return labels


@register_corpus("msp_podcast")
def prepare_msp_podcast(
    src_dir: PathLike,
    out_dir: PathLike,
    labelled_only: bool = False,
    decode_audio: bool = False,
) -> Path:
    """Writes ``OUT_DIR/msp_podcast.csv`` from an MSP-Podcast release.

    Arguments
    ---------
    src_dir : str or path
        Folder holding the release (``Audios/`` or ``Audio/`` and the label
        files, any depth).
    out_dir : str or path
        Output folder (only the manifest: the WAVs are used in place).
    labelled_only : bool
        Keep only the files the consensus label file lists (default: every
        ``MSP-PODCAST_*.wav``, as pre-training needs no labels).
    decode_audio : bool
        Decode every WAV to check it instead of reading headers.

    Returns
    -------
    Path
        The manifest CSV.

    Raises
    ------
    PrepError
        No such folder, no ``MSP-PODCAST_*.wav`` found, ``labelled_only``
        without a label file, or an output CSV that must not be overwritten.

    Example
    -------
    >>> prepare_msp_podcast("/no/such/MSP-Podcast", "out")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    emotion2vec.corpora.common.PrepError: MSP-Podcast: source folder /no/such/MSP-Podcast does not exist...
    """
    src, out = Path(src_dir), Path(out_dir)
    if not src.is_dir():
        raise PrepError(f"MSP-Podcast: source folder {src} does not exist or is not a folder")
    csv_path = out / CSV_NAME
    maker = f"{__name__}.prepare_msp_podcast"
    options = {
        "source": os.path.abspath(src), "labelled_only": bool(labelled_only),
        "decode_audio": bool(decode_audio),
    }
    if check_prepared(csv_path, maker, options):
        return csv_path
    skips = SkipLog("MSP-Podcast")
    label_files = find_named_files(src, LABEL_PATTERN, "MSP-Podcast", skips,
                                   lambda match, path: {"ID": path.name.lower()})
    labels: Dict[str, Dict[str, str]] = {}
    used_label_file = None
    # the current spelling first, CSV before JSON
    for item in sorted(label_files, key=lambda f: ("concensus" in f.key, f.key.endswith(".json"))):
        labels, used_label_file = read_labels(item.path), str(item.path)
        logger.info("MSP-Podcast: %d labelled files in %s", len(labels), item.path)
        break
    if labelled_only and not labels:
        raise PrepError(
            f"MSP-Podcast: labelled_only=True but no labels_consensus.csv / "
            f"labels_concensus.json under {src}"
        )
    files = find_named_files(src, WAV_PATTERN, "MSP-Podcast", skips)
    if not files:
        raise PrepError(
            f"MSP-Podcast: no MSP-PODCAST_*.wav files under {src} (expected in Audios/ or Audio/)"
        )
    rows = []
    unlabelled = 0
    for item in files:
        fields = labels.get(item.key)
        if fields is None:
            unlabelled += 1
            if labelled_only:
                continue
            fields = {}
        usable = probe_first(item.paths, skips, decode=decode_audio)
        if usable is None:
            continue
        path, duration = usable
        code = fields.get("EmoClass", "")
        gender = fields.get("Gender", "")[:1].upper()
        rows.append(audio_row({
            "ID": item.key,
            "label": EMO_CLASSES.get(code.upper(), code.lower()),
            "speaker": fields.get("SpkrID", ""),
            "gender": gender if gender in ("F", "M") else "",
            "session": "",
            "split": fields.get("Split_Set", ""),
            "emo_raw": code,
            "arousal": fields.get("EmoAct", ""),
            "valence": fields.get("EmoVal", ""),
            "dominance": fields.get("EmoDom", ""),
        }, path, duration))
    if labels:
        logger.info("MSP-Podcast: %d audio files not in the label file%s", unlabelled,
                    " (left out: labelled_only)" if labelled_only else " (kept, no label)")
    logger.info("MSP-Podcast: %d usable files (paper v1.8: %d)", len(rows), EXPECTED_UTTERANCES)
    return finish_manifest(
        csv_path, rows, maker, options, "MSP-Podcast", skips, EXTRA_COLUMNS,
        summary={"label_file": used_label_file,
                 "unlabelled_files": unlabelled},
    )
