"""M3ED (Multi-modal Multi-scene Multi-label Emotional Dialogue, Mandarin) preparation.

Reads, found by file name anywhere under the source folder (junk skipped):

* ``annotation.json`` (AIM3-RUC/RUCM3ED): ``{movie: {dialog: {"SpeakerInfo":
  {letter: {"Name", "Gender", ...}}, "Dialog": {utt: {"StartTime", "EndTime",
  "Speaker", "EmoAnnotation": {"final_main_emo", ...}}}}}}``; the label is
  ``final_main_emo`` (7 classes).
* ``splitInfo/movie_list_{train,val,test}.txt``: the official movie-level
  split (38 / 7 / 11 series; the last line has no newline). Without them
  the ``split`` column is empty and only the random protocol applies.
* the speech clips ``<speaker letter>_<utterance>.wav`` (e.g.
  ``A_anjia_1_1.wav``; EmoBox keeps them in ``modality_speech/``), already
  cut per utterance and 16 kHz mono, so nothing is cut or converted; a
  clip named ``<utterance>.wav`` is accepted too.

Annotated utterances without a readable clip are reported and skipped
(the paper has 24,449 utterances, EmoBox found 24,437 clips). The speaker
is ``<movie>_<Name>`` from ``SpeakerInfo`` (626 speakers; the letter alone
only identifies a speaker within one dialogue).

Manifest ``OUT_DIR/m3ed.csv``: ``ID`` (the utterance ID), ``wav``,
``duration``, ``label``, ``speaker``, ``gender``, ``session`` (empty),
then ``split`` (train/valid/test), ``emo_raw``, ``movie``, ``dialog``,
``speaker_letter``, ``start`` and ``end`` (``HH:MM:SS:FF`` as annotated).

Authors
 * emotion2vec-sb contributors
"""

import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from emotion2vec.corpora import register_corpus
from emotion2vec.corpora.common import PrepError, SkipLog
from emotion2vec.corpora.files import find_named_files, index_files, probe_first
from emotion2vec.corpora.manifest import audio_row, check_prepared, count_by, finish_manifest

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

CSV_NAME = "m3ed.csv"
EMOTIONS = {
    "Happy": "happy", "Neutral": "neutral", "Sad": "sad", "Disgust": "disgust",
    "Anger": "anger", "Fear": "fear", "Surprise": "surprise",
}
"""``final_main_emo`` -> label, in the README's index order 0-6."""

ANNOTATION_PATTERN = re.compile(r"^annotation\.json$", re.IGNORECASE)
SPLIT_LIST_PATTERN = re.compile(r"^movie_list_(train|val|test)\.txt$", re.IGNORECASE)
SPLIT_NAMES = {"train": "train", "val": "valid", "test": "test"}
EXTRA_COLUMNS = ("split", "emo_raw", "movie", "dialog", "speaker_letter", "start", "end")
_GENDERS = {"m": "M", "male": "M", "男": "M", "f": "F", "female": "F", "女": "F"}

EXPECTED_COUNTS = {
    "anger": 5231, "disgust": 1497, "fear": 395, "happy": 2286,
    "neutral": 10021, "sad": 3957, "surprise": 1050,
}
"""Per-class counts of the clips EmoBox found (24,437 of the paper's 24,449)."""


def _split_list_key(match: re.Match, path: Path) -> Dict[str, str]:
    return {"ID": match.group(1).lower()}


def read_annotation(path: PathLike) -> Dict[str, Any]:
    """Loads ``annotation.json`` and checks its top-level shape.

    Arguments
    ---------
    path : str or path
        The annotation file.

    Returns
    -------
    dict
        ``{movie: {dialog: {...}}}``.

    Raises
    ------
    PrepError
        Unreadable JSON or not a mapping of movies to dialogues.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "annotation.json"
    >>> _ = path.write_text('{"anjia": {"anjia_1": {"Dialog": {}}}}')
    >>> list(read_annotation(path))
    ['anjia']
    """
    try:
        with open(path, encoding="utf-8-sig") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as err:
        raise PrepError(f"M3ED: cannot read {path} ({err})") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise PrepError(f"M3ED: {path} is not a mapping movie -> dialogues -> utterances")
    return data


def read_movie_splits(src_dir: PathLike) -> Dict[str, str]:
    """Movie -> split (``train``/``valid``/``test``) from the split lists.

    Lines are stripped (the files have no trailing newline); a movie listed
    twice keeps its first split (train, then val, then test) and is logged.

    Arguments
    ---------
    src_dir : str or path
        Folder searched for ``movie_list_{train,val,test}.txt``.

    Returns
    -------
    dict
        Empty when no list is found.

    Example
    -------
    >>> import tempfile
    >>> src = Path(tempfile.mkdtemp())
    >>> (src / "splitInfo").mkdir()
    >>> _ = (src / "splitInfo" / "movie_list_val.txt").write_text("anjia\\nhuanlesong")
    >>> read_movie_splits(src)
    {'anjia': 'valid', 'huanlesong': 'valid'}
    """
    found = find_named_files(src_dir, SPLIT_LIST_PATTERN, "M3ED", parse=_split_list_key)
    lists = {item.key: item.path for item in found}  # the shallowest copy of each list
    splits: Dict[str, str] = {}
    for key in ("train", "val", "test"):
        if key not in lists:
            continue
        for line in lists[key].read_text(encoding="utf-8-sig").splitlines():
            movie = line.strip()
            if not movie:
                continue
            if movie in splits:
                logger.warning(
                    "M3ED: movie %s is in two split lists; keeping %s", movie, splits[movie]
                )
                continue
            splits[movie] = SPLIT_NAMES[key]
    if lists and set(lists) != set(SPLIT_NAMES):
        logger.warning("M3ED: split lists missing: %s", sorted(set(SPLIT_NAMES) - set(lists)))
    return splits


def speaker_of(movie: str, dialog: str, letter: str, speaker_info: Mapping) -> Tuple[str, str]:
    """Speaker ID and gender of a dialogue's speaker letter.

    Arguments
    ---------
    movie : str
        Movie (series) name.
    dialog : str
        Dialogue ID.
    letter : str
        Speaker letter in the dialogue (``A``, ``B``, ...).
    speaker_info : mapping
        The dialogue's ``SpeakerInfo``.

    Returns
    -------
    (speaker, gender)
        ``<movie>_<Name>`` (``<dialog>_<letter>`` when the name is missing)
        and ``M``/``F`` (empty when unknown).

    Example
    -------
    >>> speaker_of("anjia", "anjia_1", "A", {"A": {"Name": "房似锦", "Gender": "female"}})
    ('anjia_房似锦', 'F')
    >>> speaker_of("anjia", "anjia_1", "C", {})
    ('anjia_1_C', '')
    """
    info = speaker_info.get(letter) if isinstance(speaker_info, Mapping) else None
    info = info if isinstance(info, Mapping) else {}
    name = str(info.get("Name") or "").strip()
    gender = _GENDERS.get(str(info.get("Gender") or "").strip().lower(), "")
    return (f"{movie}_{name}" if name else f"{dialog}_{letter}"), gender


def _utterances(annotation: Mapping):
    for movie in sorted(annotation):
        for dialog in sorted(annotation[movie]):
            entry = annotation[movie][dialog]
            if not isinstance(entry, Mapping):
                continue
            utterances = entry.get("Dialog") or {}
            for utt_id in sorted(utterances):
                yield movie, dialog, entry.get("SpeakerInfo") or {}, utt_id, utterances[utt_id]


def _collect_rows(
    annotation, splits, audio, skips: SkipLog, decode_audio: bool, label_file: Path
) -> List[Dict]:
    rows, seen = [], set()
    for movie, dialog, speaker_info, utt_id, utt in _utterances(annotation):
        where = f"{label_file} ({utt_id})"
        utt = utt if isinstance(utt, Mapping) else {}
        emotion = (utt.get("EmoAnnotation") or {}).get("final_main_emo")
        letter = str(utt.get("Speaker") or "").strip()
        if emotion not in EMOTIONS:
            skips.add(where, f"no usable final_main_emo ({emotion!r})")
            continue
        if utt_id in seen:
            skips.add(where, "utterance annotated twice (kept the first)")
            continue
        seen.add(utt_id)
        names = [f"{letter}_{utt_id}.wav", f"{utt_id}.wav"] if letter else [f"{utt_id}.wav"]
        clips = [path for name in names for path in audio.get(name, ())]
        if not clips:
            skips.add(where, f"no audio clip {names[0]} found")
            continue
        picked = probe_first(clips, skips, decode_audio)
        if picked is None:
            continue
        speaker, gender = speaker_of(movie, dialog, letter, speaker_info)
        fields = {
            "ID": utt_id, "label": EMOTIONS[emotion], "speaker": speaker, "gender": gender,
            "split": splits.get(movie, ""), "emo_raw": emotion, "movie": movie,
            "dialog": dialog, "speaker_letter": letter,
            "start": str(utt.get("StartTime", "")), "end": str(utt.get("EndTime", "")),
        }
        rows.append(audio_row(fields, *picked))
    return rows


def _log_split_coverage(annotation: Mapping, splits: Mapping[str, str]) -> None:
    if not splits:
        logger.warning(
            "M3ED: no splitInfo/movie_list_*.txt found: the split column is empty, so only "
            "the random_kfold protocol can be used"
        )
        return
    unlisted = sorted(set(annotation) - set(splits))
    if unlisted:
        logger.warning("M3ED: movies in no split list (empty split): %s", ", ".join(unlisted))


@register_corpus(
    "m3ed",
    labels=tuple(EMOTIONS.values()),
    protocols={
        # The paper's text puts M3ED with the language-generalisation sets evaluated by
        # random 10-fold CV, so that protocol comes first (datasets.md 2.5: unverified).
        "random_kfold": {"k": 10, "valid_is_test": False, "seed": 42},
        # The official movie-level split (EmoBox's single fold), speaker-independent.
        "predefined": {"column": "split"},
    },
)
def prepare_m3ed(
    src_dir: PathLike,
    out_dir: PathLike,
    decode_audio: bool = False,
    compare_to_release: Optional[bool] = None,
) -> Path:
    """Writes ``OUT_DIR/m3ed.csv`` from the M3ED annotation and speech clips.

    A second call with the same options reuses the CSV; an existing CSV
    from other options or from elsewhere is never overwritten.

    Arguments
    ---------
    src_dir : str or path
        Folder holding ``annotation.json``, ``splitInfo/`` and the speech
        clips (all found at any depth).
    out_dir : str or path
        Output folder.
    decode_audio : bool
        Decode every clip to check it instead of reading headers.
    compare_to_release : bool, optional
        Compare class counts with the 24,437 clips EmoBox found (default:
        only when at least 90 % of them were found).

    Returns
    -------
    Path
        The manifest CSV.

    Raises
    ------
    PrepError
        No ``annotation.json``, an unreadable one, no usable utterance, or an
        output CSV that must not be overwritten.

    Example
    -------
    >>> import json, tempfile, torch
    >>> from emotion2vec.audio import write_audio
    >>> src = Path(tempfile.mkdtemp()) / "M3ED"
    >>> utt = {"StartTime": "00:00:01:00", "EndTime": "00:00:02:00", "Speaker": "A",
    ...        "EmoAnnotation": {"final_main_emo": "Neutral"}}
    >>> info = {"A": {"Name": "Fang", "Gender": "female"}}
    >>> src.mkdir()
    >>> _ = (src / "annotation.json").write_text(json.dumps(
    ...     {"anjia": {"anjia_1": {"SpeakerInfo": info, "Dialog": {"anjia_1_1": utt}}}}))
    >>> write_audio(src / "modality_speech" / "A_anjia_1_1.wav", torch.zeros(1600))
    >>> print(prepare_m3ed(src, src.parent / "out").read_text().splitlines()[1])  # doctest: +ELLIPSIS
    anjia_1_1,/...wav,0.10000,neutral,anjia_Fang,F,,,Neutral,anjia,anjia_1,A,00:00:01:00,00:00:02:00
    """
    src = Path(src_dir)
    if not src.is_dir():
        raise PrepError(f"M3ED: source folder {src} does not exist or is not a folder")
    label_files = find_named_files(src, ANNOTATION_PATTERN, "M3ED")
    if not label_files:
        raise PrepError(
            f"M3ED: no annotation.json under {src} (expected the RUCM3ED annotation.json, "
            "splitInfo/movie_list_*.txt and the speech clips <letter>_<utterance>.wav)"
        )
    label_file = label_files[0].path  # the shallowest copy
    csv_path = Path(out_dir) / CSV_NAME
    maker = f"{__name__}.prepare_m3ed"
    options = {"source": os.path.abspath(src), "decode_audio": bool(decode_audio)}
    if check_prepared(csv_path, maker, options):
        return csv_path
    annotation = read_annotation(label_file)
    splits = read_movie_splits(src)
    _log_split_coverage(annotation, splits)
    skips = SkipLog("M3ED")
    audio = index_files(src, "M3ED", skips=skips)
    rows = _collect_rows(annotation, splits, audio, skips, decode_audio, label_file)
    per_split = count_by(rows, "split") if rows else {}
    logger.info("M3ED: utterances per split: %s", per_split)
    return finish_manifest(
        csv_path, rows, maker, options, "M3ED", skips, EXTRA_COLUMNS,
        expected=EXPECTED_COUNTS, compare=compare_to_release,
        summary={"per_split": per_split},
    )
