"""RAVDESS (speech) preparation.

Reads the ``Audio_Speech_Actors_01-24`` release however it was extracted
(files are matched by their 7-field name anywhere under the source folder,
hidden/AppleDouble entries skipped, duplicate copies from mirrors kept
once, song files and video modalities ignored) and writes
``OUT_DIR/ravdess.csv`` with ``ID, wav, duration, label, speaker, gender,
session`` plus the raw codes. Labels come from the file name, never from a
folder name. Audio stays where it is (48 kHz): ``emotion2vec.audio``
downmixes and resamples to 16 kHz when it is read.

Authors
 * emotion2vec-sb contributors
"""

import logging
import os
import re
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Union

from emotion2vec.corpora import register_corpus
from emotion2vec.corpora.common import PrepError, SkipLog
from emotion2vec.corpora.files import find_named_files, probe_first
from emotion2vec.corpora.manifest import check_prepared, count_by, log_counts, write_manifest

logger = logging.getLogger(__name__)

CSV_NAME = "ravdess.csv"
FILE_PATTERN = re.compile(
    r"^(0[1-3])-(0[12])-(0[1-8])-(0[12])-(0[12])-(0[12])-(\d{2})\.wav$", re.IGNORECASE
)
EMOTIONS = {
    "01": "neutral", "02": "calm", "03": "happy", "04": "sad",
    "05": "angry", "06": "fearful", "07": "disgust", "08": "surprised",
}
EXTRA_COLUMNS = ("emo_raw", "intensity", "statement", "repetition")
#: Full release: 60 speech files per actor, 24 actors.
RELEASE_ACTORS = 24
#: Speech files per actor and class in the release (neutral has no strong intensity).
EXPECTED_PER_ACTOR = {"neutral": 4, **{name: 8 for name in list(EMOTIONS.values())[1:]}}
EXPECTED_PER_CLASS = {name: n * RELEASE_ACTORS for name, n in EXPECTED_PER_ACTOR.items()}


def expected_counts(actors: int, classes: Sequence[str]) -> Dict[str, int]:
    """Per-class file counts of the release for ``actors`` actors.

    A partial copy (or a corpus written in RAVDESS's layout with fewer
    actors) is compared with what the release has for that many actors.

    Arguments
    ---------
    actors : int
        Number of actors found.
    classes : sequence of str
        Classes to count.

    Returns
    -------
    dict

    Example
    -------
    >>> expected_counts(8, ["neutral", "angry"])
    {'neutral': 32, 'angry': 64}
    """
    return {name: EXPECTED_PER_ACTOR[name] * actors for name in classes}


def parse_ravdess_name(name: str) -> Optional[Dict[str, str]]:
    """Decodes a RAVDESS file name; None when it is not one.

    Arguments
    ---------
    name : str
        File name (basename).

    Returns
    -------
    dict or None
        ``modality, channel, emotion, intensity, statement, repetition,
        actor`` codes.

    Example
    -------
    >>> parse_ravdess_name("03-01-05-02-01-02-07.wav")["emotion"]
    '05'
    >>> parse_ravdess_name("notes.wav") is None
    True
    """
    match = FILE_PATTERN.match(name)
    if not match:
        return None
    keys = ("modality", "channel", "emotion", "intensity", "statement", "repetition", "actor")
    return dict(zip(keys, match.groups()))


def ravdess_fields(codes: Mapping[str, str], stem: str) -> Dict[str, str]:
    """Manifest fields of a RAVDESS audio file from its decoded name.

    Arguments
    ---------
    codes : mapping
        :func:`parse_ravdess_name` of the file name.
    stem : str
        The file name without suffix (the utterance ID).

    Returns
    -------
    dict
        ``ID, label, speaker, gender, session`` and the raw codes
        (``emo_raw, intensity, statement, repetition``).

    Example
    -------
    >>> fields = ravdess_fields(parse_ravdess_name("03-01-05-02-01-02-07.wav"), "03-01-05-02-01-02-07")
    >>> fields["label"], fields["speaker"], fields["gender"], fields["intensity"]
    ('angry', 'Actor_07', 'M', '02')
    """
    actor = int(codes["actor"])
    return {
        "ID": stem,
        "label": EMOTIONS[codes["emotion"]],
        "speaker": f"Actor_{actor:02d}",
        "gender": "M" if actor % 2 else "F",
        "session": "",
        "emo_raw": codes["emotion"],
        "intensity": codes["intensity"],
        "statement": codes["statement"],
        "repetition": codes["repetition"],
    }


def _speech_parser(keep: Sequence[str]):
    """``parse`` for :func:`find_named_files`: speech files of the kept classes."""

    def parse(match, path: Path) -> Optional[Dict[str, str]]:
        codes = parse_ravdess_name(path.name)
        if codes is None or codes["modality"] != "03" or codes["channel"] != "01":
            return None  # not a speech audio file of the release (song, notes...)
        if EMOTIONS[codes["emotion"]] not in keep:
            return None
        return ravdess_fields(codes, path.stem)

    return parse


@register_corpus(
    "ravdess",
    labels=tuple(EMOTIONS.values()),
    protocols={
        # Paper Table 4: random 10-fold, 80/10/10 (speaker-dependent).
        "random_kfold": {"k": 10, "valid_is_test": False, "seed": 42},
        # Speaker-independent: leave one actor out, the next actor validates.
        "loso_speaker": {"valid": "next_speaker", "valid_is_test": False, "seed": 42},
    },
)
def prepare_ravdess(
    src_dir: Union[str, Path],
    out_dir: Union[str, Path],
    emotions: Optional[Sequence[str]] = None,
    decode_audio: bool = False,
    compare_to_release: bool = True,
) -> Path:
    """Writes ``OUT_DIR/ravdess.csv`` from a RAVDESS speech release.

    A second call with the same options reuses the CSV; an existing CSV
    from other options or from elsewhere is never overwritten.

    Arguments
    ---------
    src_dir : str or Path
        Folder the speech zip was extracted into (any depth).
    out_dir : str or Path
        Output folder.
    emotions : sequence of str, optional
        Class names to keep (default: all 8).
    decode_audio : bool
        Decode every file to check it instead of reading headers.
    compare_to_release : bool
        Compare the per-class counts with the release's for the actors
        found (off for a corpus that is only written in RAVDESS's layout,
        such as the quickstart's synthetic one).

    Returns
    -------
    Path
        The manifest CSV.
    """
    src = Path(src_dir)
    if not src.is_dir():
        raise PrepError(f"RAVDESS: {src} is not a folder")
    keep = sorted(emotions) if emotions else sorted(EMOTIONS.values())
    unknown = sorted(set(keep) - set(EMOTIONS.values()))
    if unknown:
        raise PrepError(f"RAVDESS: unknown emotions {unknown}; known: {sorted(EMOTIONS.values())}")
    csv_path = Path(out_dir) / CSV_NAME
    maker = f"{__name__}.prepare_ravdess"
    options = {"source": os.path.abspath(src), "emotions": keep, "decode_audio": bool(decode_audio)}
    if check_prepared(csv_path, maker, options):
        return csv_path

    skips = SkipLog("RAVDESS")
    rows: List[Dict] = []
    for found in find_named_files(src, FILE_PATTERN, "RAVDESS", skips, _speech_parser(keep)):
        usable = probe_first(found.paths, skips, decode_audio)
        if usable is not None:
            path, duration = usable
            rows.append(dict(found.fields, wav=str(path.resolve()), duration=duration))
    skips.log_summary()
    if not rows:
        raise PrepError(
            f"RAVDESS: no speech file named like 03-01-EE-II-SS-RR-AA.wav under {src} "
            f"({len(skips)} unreadable)"
        )
    per_class = count_by(rows, "label")
    actors = len({row["speaker"] for row in rows})
    absent = [name for name in keep if name not in per_class]
    if absent and not emotions:
        logger.info("RAVDESS: no file of %s (classes left out of this copy)", ", ".join(absent))
    compared = list(emotions) if emotions else [name for name in keep if name in per_class]
    log_counts(
        "RAVDESS", per_class, expected_counts(actors, compared) if compare_to_release else None,
        f"{actors} actor(s) (the release has {RELEASE_ACTORS})",
    )
    summary = {
        "utterances": len(rows),
        "per_class": count_by(rows, "label"),
        "per_speaker": count_by(rows, "label", group="speaker"),
        **skips.summary(),
    }
    write_manifest(csv_path, rows, maker, options, EXTRA_COLUMNS, summary)
    logger.info("RAVDESS: wrote %d utterances to %s", len(rows), csv_path)
    return csv_path
