"""Readers of the CMU-MOSI / CMU-MOSEI label, split and transcript files.

Used by :mod:`emotion2vec.corpora.cmu` (the preparation both corpora
share): the source scan (basename at any depth, junk skipped), MMSA's
``label.csv``, the CMU-MultimodalSDK ``.csd`` label sequences (HDF5, with
``h5py``) and fold lists (parsed, never executed), and MOSEI's segmented
transcripts with their time stamps.

Authors
 * emotion2vec-sb contributors
"""

import ast
import csv
import json
import logging
import math
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from emotion2vec.audio import is_hidden_path
from emotion2vec.corpora.common import PrepError, SkipLog

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")
DURATION_TOLERANCE = 0.5
"""MOSI .csd: the segment WAV and its label interval may differ by this much (s)."""
TIME_TOLERANCE = 0.1
"""MOSEI .csd: a label interval matches the transcript line within this (s, each end)."""

_SPLIT_NAMES = {"train": "train", "valid": "valid", "val": "valid", "dev": "valid",
                "validation": "valid", "test": "test"}
_TRANSCRIPT_RE = re.compile(
    r"^(?P<video>.+?)___(?P<clip>\d+)___(?P<start>-?[\d.]+(?:[eE][-+]?\d+)?)___"
    r"(?P<end>-?[\d.]+(?:[eE][-+]?\d+)?)___(?P<text>.*)$"
)

@dataclass
class LabelRow:
    """One labelled segment as the label source gives it."""

    video_id: str
    clip_id: str
    score: Optional[float]
    split: str = ""
    text: str = ""
    start: Optional[float] = None
    end: Optional[float] = None
    where: str = ""

    @property
    def uid(self) -> str:
        """``<video_id>_<clip>``."""
        return f"{self.video_id}_{self.clip_id}"


@dataclass(frozen=True)
class TranscriptLine:
    """One MOSEI transcript line: a segment and its times in the video."""

    video_id: str
    clip_id: str
    start: float
    end: float
    text: str


@dataclass
class SourceFiles:
    """The usable files under the source folder, indexed by name."""

    root: Path
    files: List[Path] = field(default_factory=list)

    def named(self, names: Iterable[str]) -> List[Path]:
        """Files whose basename is one of ``names`` (case-insensitive), shallowest first."""
        wanted = {n.lower() for n in names}
        found = [p for p in self.files if p.name.lower() in wanted]
        return sorted(found, key=lambda p: (len(p.relative_to(self.root).parts), str(p)))

    def with_suffix(self, suffixes: Iterable[str]) -> List[Path]:
        """Files whose suffix is one of ``suffixes`` (lower case, with the dot)."""
        suffixes = set(suffixes)
        return [p for p in self.files if p.suffix.lower() in suffixes]


def normalise_clip(clip: str) -> str:
    """A clip number without leading zeros (``"03"`` -> ``"3"``); other text as is.

    Example
    -------
    >>> normalise_clip(" 03 "), normalise_clip("0"), normalise_clip("a1")
    ('3', '0', 'a1')
    """
    clip = str(clip).strip()
    return str(int(clip)) if clip.isdigit() else clip


def split_segment_id(uid: str) -> Tuple[str, str]:
    """``<video_id>_<clip>`` -> (video_id, clip), split at the LAST underscore.

    Example
    -------
    >>> split_segment_id("atnd_PF-Lbs_1"), split_segment_id("101787_0")
    (('atnd_PF-Lbs', '1'), ('101787', '0'))
    """
    video, _, clip = uid.rpartition("_")
    return video, clip


def scan_source(src: Path, exclude: Optional[Path] = None) -> SourceFiles:
    """Every non-hidden, non-empty file under ``src`` (not under ``exclude``).

    Arguments
    ---------
    src : Path
        Source folder.
    exclude : Path, optional
        A folder to leave out (the output folder when it lies inside ``src``).

    Returns
    -------
    SourceFiles
    """
    exclude = exclude.resolve() if exclude is not None else None
    files = []
    for dirpath, dirnames, filenames in os.walk(src):
        here = Path(dirpath)
        rel = here.relative_to(src)
        if is_hidden_path(rel) or (exclude is not None and here.resolve() == exclude):
            dirnames[:] = []
            continue
        dirnames.sort()
        for name in sorted(filenames):
            path = here / name
            if is_hidden_path(name):
                continue
            try:
                if path.is_file() and path.stat().st_size > 0:
                    files.append(path)
            except OSError:
                continue
    return SourceFiles(src, files)


def read_label_csv(path: Path, skips: SkipLog) -> List[LabelRow]:
    """The segments of an MMSA ``label.csv`` (columns read by header name).

    Arguments
    ---------
    path : Path
        The file.
    skips : SkipLog
        Collects rows that cannot be used.

    Returns
    -------
    list of LabelRow

    Raises
    ------
    PrepError
        A required column is missing.
    """
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.DictReader(handle)
        header = {name.strip().lower(): name for name in reader.fieldnames or []}
        missing = [c for c in ("video_id", "clip_id", "label") if c not in header]
        if missing:
            raise PrepError(
                f"{path}: not an MMSA label.csv (missing column(s) {missing}; "
                f"columns: {reader.fieldnames})"
            )
        rows = []
        for number, raw in enumerate(reader, start=2):
            value = {key: (raw.get(name) or "").strip() for key, name in header.items()}
            where = f"{path}:{number}"
            try:
                score = float(value["label"])
            except ValueError:
                skips.add(where, f"sentiment {value['label']!r} is not a number")
                continue
            if not math.isfinite(score):
                skips.add(where, f"sentiment {value['label']!r} is not finite")
                continue
            split = _SPLIT_NAMES.get(value.get("mode", "").lower(), "")
            if value.get("mode") and not split:
                skips.add(where, f"unknown mode {value['mode']!r} (train/valid/test)")
                continue
            rows.append(LabelRow(
                value["video_id"], normalise_clip(value["clip_id"]), score, split,
                " ".join(value.get("text", "").split()), where=where,
            ))
    return rows


def read_csd(path: Path) -> Dict[str, List[Tuple[float, float, float]]]:
    """Per video, the (start, end, sentiment) of each label interval of a ``.csd`` file.

    Arguments
    ---------
    path : Path
        A CMU-MultimodalSDK computational sequence (HDF5): one top group
        with ``data/<video_id>/features`` ``[n, k]`` (sentiment first) and
        ``intervals`` ``[n, 2]``.

    Returns
    -------
    dict
        video_id -> list of (start, end, score), in file order.

    Raises
    ------
    PrepError
        h5py is not installed, or the file is not such a sequence.
    """
    try:
        import h5py
    except ImportError:
        raise PrepError(
            f"{path} is an HDF5 computational sequence and needs h5py: "
            "pip install 'emotion2vec[cmu]' (or use MMSA's label.csv)"
        ) from None
    result: Dict[str, List[Tuple[float, float, float]]] = {}
    try:
        with h5py.File(path, "r") as handle:
            groups = [handle[k]["data"] for k in handle if "data" in handle[k]]
            if not groups:
                raise PrepError(f"{path}: no <sequence>/data group (not a computational sequence)")
            for video in sorted(groups[0]):
                entry = groups[0][video]
                features, intervals = entry["features"][()], entry["intervals"][()]
                result[str(video)] = [
                    (float(iv[0]), float(iv[1]), float(ft[0]))
                    for ft, iv in zip(features.reshape(len(features), -1), intervals)
                ]
    except (OSError, KeyError, IndexError, ValueError) as error:
        raise PrepError(f"{path}: unreadable computational sequence ({error})") from None
    return result


def read_folds(path: Path) -> Dict[str, str]:
    """video_id -> split from the SDK's fold lists (or an equivalent JSON).

    The SDK file (``cmu_mosi_std_folds.py``) assigns three lists of string
    literals, ``standard_train_fold``, ``standard_valid_fold`` and
    ``standard_test_fold``; it is parsed, never executed.

    Arguments
    ---------
    path : Path
        ``.py`` (SDK) or ``.json`` (``{"train": [...], "valid": [...], "test": [...]}``).

    Returns
    -------
    dict

    Raises
    ------
    PrepError
        Unreadable file, missing lists, or a video in two folds.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "cmu_mosi_std_folds.py"
    >>> _ = path.write_text("standard_train_fold=['a', 'b']\\nstandard_valid_fold=['c']\\n"
    ...                     "standard_test_fold=['d']\\n")
    >>> read_folds(path)
    {'a': 'train', 'b': 'train', 'c': 'valid', 'd': 'test'}
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix.lower() == ".json":
            lists = {k: list(v) for k, v in json.loads(text).items()}
        else:
            lists = {}
            for node in ast.parse(text, filename=str(path)).body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1:
                    target = node.targets[0]
                    if isinstance(target, ast.Name) and target.id.startswith("standard_"):
                        lists[target.id[len("standard_"):].replace("_fold", "")] = list(
                            ast.literal_eval(node.value)
                        )
    except (OSError, SyntaxError, ValueError, AttributeError, TypeError) as error:
        raise PrepError(f"{path}: unreadable fold lists ({error})") from None
    split_of: Dict[str, str] = {}
    for split in SPLITS:
        if split not in lists:
            raise PrepError(f"{path}: no {split} fold (expected standard_{split}_fold)")
        for video in lists[split]:
            video = str(video)
            if split_of.get(video, split) != split:
                raise PrepError(f"{path}: video {video} is in the {split_of[video]} and {split} folds")
            split_of[video] = split
    return split_of


def read_transcripts(files: SourceFiles, skips: SkipLog) -> Dict[str, TranscriptLine]:
    """Every MOSEI transcript line (``<video>___<clip>___<start>___<end>___<text>``).

    A ``.txt`` file counts when its first non-empty line has that form.

    Arguments
    ---------
    files : SourceFiles
        The source files.
    skips : SkipLog
        Collects malformed lines and duplicates.

    Returns
    -------
    dict
        segment ID -> TranscriptLine.
    """
    lines: Dict[str, TranscriptLine] = {}
    for path in files.with_suffix({".txt"}):
        try:
            text = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as error:
            skips.add(path, f"unreadable transcript ({error})")
            continue
        content = [line.strip("\ufeff\r\n ") for line in text if line.strip()]
        if not content or not _parse_transcript_line(content[0], path.stem):
            continue
        for number, line in enumerate(content, start=1):
            parsed = _parse_transcript_line(line, path.stem)
            if parsed is None:
                skips.add(f"{path}:{number}", "malformed transcript line")
                continue
            uid = f"{parsed.video_id}_{parsed.clip_id}"
            if uid in lines:
                if (lines[uid].start, lines[uid].end) != (parsed.start, parsed.end):
                    skips.add(f"{path}:{number}", f"{uid} listed twice with other times (kept the first)")
                continue
            lines[uid] = parsed
    return lines


def _parse_transcript_line(line: str, stem: str) -> Optional[TranscriptLine]:
    if line.startswith(stem + "___"):  # a video ID holding "___" splits right
        line = "x" + line[len(stem):]
        match = _TRANSCRIPT_RE.match(line)
        video = stem
    else:
        match = _TRANSCRIPT_RE.match(line)
        video = match.group("video") if match else ""
    if match is None:
        return None
    start, end = float(match.group("start")), float(match.group("end"))
    return TranscriptLine(video, normalise_clip(match.group("clip")), start, end,
                          " ".join(match.group("text").split()))


def csd_rows(
    csd: Mapping[str, Sequence[Tuple[float, float, float]]],
    transcripts: Mapping[str, TranscriptLine],
    segment_duration: Callable[[str], Optional[float]],
    skips: SkipLog,
    where: str,
) -> List[LabelRow]:
    """Label rows of a ``.csd``: each label interval given its clip number.

    * With transcript times (MOSEI): the transcript line of the same video
      whose start and end are within :data:`TIME_TOLERANCE` of the interval.
    * Without (MOSI): intervals sorted by start are clips 1, 2, ...
      (**inferred**: MOSI clip numbers start at 1 and follow the video), each
      checked against its segment WAV's duration when there is one.

    Arguments
    ---------
    csd : mapping
        Output of :func:`read_csd`.
    transcripts : mapping
        Output of :func:`read_transcripts`: empty for MOSI (then clip
        numbers follow the interval order).
    segment_duration : callable
        ``segment_duration(uid) -> float or None``: duration of a segment file.
    skips : SkipLog
        Collects intervals that cannot be placed.
    where : str
        The file, for messages.

    Returns
    -------
    list of LabelRow
    """
    by_video: Dict[str, List[TranscriptLine]] = defaultdict(list)
    for line in transcripts.values():
        by_video[line.video_id].append(line)
    rows = []
    for video, intervals in sorted(csd.items()):
        if "[" in video:
            skips.add(f"{where} ({video})", "aligned sequence entry (video[n]); use the unaligned labels file")
            continue
        if transcripts:
            for start, end, score in intervals:
                matches = [t for t in by_video.get(video, ())
                           if abs(t.start - start) <= TIME_TOLERANCE and abs(t.end - end) <= TIME_TOLERANCE]
                if not matches:
                    skips.add(f"{where} ({video} {start:.2f}-{end:.2f} s)",
                              "no transcript line with these times")
                    continue
                line = min(matches, key=lambda t: abs(t.start - start) + abs(t.end - end))
                rows.append(LabelRow(video, line.clip_id, score, start=start, end=end,
                                     text=line.text, where=where))
            continue
        for index, (start, end, score) in enumerate(sorted(intervals), start=1):
            row = LabelRow(video, str(index), score, start=start, end=end, where=where)
            duration = segment_duration(row.uid)
            if duration is not None and abs(duration - (end - start)) > DURATION_TOLERANCE:
                skips.add(f"{row.uid} ({where})",
                          f"label interval {end - start:.2f} s but the segment WAV is "
                          f"{duration:.2f} s: clip numbering differs from interval order")
                continue
            rows.append(row)
    return rows
