"""CMU-MOSI / CMU-MOSEI preparation, shared (the corpus modules state their facts).

Both corpora come in the same forms (datasets.md 3.3, 3.4), found by
basename at any depth under the source folder (hidden/AppleDouble entries,
``__MACOSX`` and empty files skipped; the output folder is never scanned):

* labels: the MMSA ``label.csv`` (``video_id, clip_id, text, label, ...,
  mode``, read by header name; ``mode`` is the standard split), or the
  CMU-MultimodalSDK computational sequence (``CMU_MOSI_Opinion_Labels.csd``,
  ``CMU_MOSEI_Labels.csd``: HDF5, per video ``features`` and ``intervals``;
  read with ``h5py``, the optional extra ``emotion2vec[cmu]``);
* splits: ``label.csv``'s ``mode``, else the SDK's fold lists
  (``cmu_mosi_std_folds.py`` / ``cmu_mosei_std_folds.py``, found by name or
  given as ``folds_file``; read as Python literals, never executed; a JSON
  ``{"train": [...], "valid": [...], "test": [...]}`` of video IDs works
  too);
* audio: a segment file ``<video_id>_<clip>.wav`` (the CMU raw
  ``Segmented`` WAVs) or ``<video_id>/<clip>.wav`` (MMSA's clip layout with
  the audio extracted); for MOSEI, else the whole-video ``<video_id>.wav``
  cut by the transcript times (``Transcript/Segmented/Combined/<video_id>.txt``
  lines ``<video_id>___<clip>___<start>___<end>___<text>``). Cut segments
  are written once to ``OUT/<corpus>_segments/<video_id>/<ID>.wav`` (16 kHz
  mono PCM16, each through a staged file, so an interruption never leaves
  half a file) and reused by a re-run. MMSA's ``.mp4`` clips cannot be
  decoded here: a segment with only video is reported with the ffmpeg line
  that extracts its audio.

Segment ID = ``<video_id>_<clip>`` (video IDs may hold ``_`` and ``-``, or
be numeric). Manifest columns: ``ID, wav, duration, label, speaker, gender,
session`` (gender and session empty), then ``split`` (train/valid/test),
``score`` (the mean sentiment in [-3, 3]), ``polarity``
(positive/negative/neutral), ``video_id``, ``clip_id``, ``start``, ``end``
(seconds in the video, where known) and ``text``. ``label`` is the paper's
binary task: ``positive`` / ``negative``, and EMPTY for a zero score (the
segment stays listed, ``polarity`` ``neutral``, for pre-training and the
regression task; the downstream classification leaves rows without a label
out). The speaker is the video ID (one speaker per video in MOSI; MOSEI has
no speaker metadata: an approximation).

The readers of the label, split and transcript files are in
:mod:`emotion2vec.corpora.cmu_sources`.

Authors
 * emotion2vec-sb contributors
"""

import json
import logging
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from emotion2vec.audio import (
    AUDIO_EXTENSIONS,
    SAMPLE_RATE,
    AudioError,
    audio_info,
    read_audio,
    write_audio,
)
from emotion2vec.corpora.cmu_sources import (
    SPLITS,
    LabelRow,
    SourceFiles,
    TranscriptLine,
    csd_rows,
    read_csd,
    read_folds,
    read_label_csv,
    read_transcripts,
    scan_source,
    split_segment_id,
)
from emotion2vec.corpora.common import PrepError, SkipLog
from emotion2vec.corpora.files import probe_audio
from emotion2vec.corpora.manifest import check_prepared, count_by, log_counts, write_manifest
from emotion2vec.fileutils import PathLike, staged_file

logger = logging.getLogger(__name__)

LABELS = ("negative", "positive")
"""The paper's binary task, in head output order."""
EXTRA_COLUMNS = ("split", "score", "polarity", "video_id", "clip_id", "start", "end", "text")
LABEL_SOURCES = ("auto", "label_csv", "csd")
MIN_SEGMENT_SECONDS = 0.1
"""Shorter segments are skipped (an upstream needs at least one frame)."""
SEGMENTS_MARKER = "segments.json"


@dataclass(frozen=True)
class CmuCorpus:
    """What differs between CMU-MOSI and CMU-MOSEI.

    Arguments
    ---------
    name : str
        Registry name (``mosi``); the manifest is ``<name>.csv``.
    title : str
        Name in messages (``CMU-MOSI``).
    csd_names : tuple of str
        Basenames of the SDK label sequence.
    folds_names : tuple of str
        Basenames of the SDK fold lists.
    expected : dict
        Split -> polarity -> segments of the full corpus.
    expected_videos : int
        Videos of the standard folds (the corpus is "whole" with all of them).
    cut_from_video : bool
        Segments may be cut from whole-video WAVs by the transcript times.
    """

    name: str
    title: str
    csd_names: Tuple[str, ...]
    folds_names: Tuple[str, ...]
    expected: Mapping[str, Mapping[str, int]]
    expected_videos: int
    cut_from_video: bool = False


def polarity(score: Optional[float]) -> str:
    """``positive`` (> 0), ``negative`` (< 0), ``neutral`` (0) or ``""`` (no score).

    Example
    -------
    >>> [polarity(s) for s in (1.4, -0.2, 0.0, None)]
    ['positive', 'negative', 'neutral', '']
    """
    if score is None:
        return ""
    return "positive" if score > 0 else "negative" if score < 0 else "neutral"


class AudioIndex:
    """Where each segment's audio is: a segment file, a whole video, or only a video clip.

    Arguments
    ---------
    files : SourceFiles
        The source files.
    """

    def __init__(self, files: SourceFiles):
        self.by_stem: Dict[str, Path] = {}
        self.by_clip: Dict[Tuple[str, str], Path] = {}
        self.video_only = set()
        for path in files.with_suffix(set(AUDIO_EXTENSIONS)):
            self.by_clip.setdefault((path.parent.name, path.stem), path)
            if path.stem not in self.by_stem:
                self.by_stem[path.stem] = path
            elif not path.stem.isdigit():  # bare clip numbers repeat across MMSA's video folders
                logger.info("duplicate copy %s ignored (using %s)", path, self.by_stem[path.stem])
        for path in files.with_suffix({".mp4"}):
            self.video_only.update({path.stem, f"{path.parent.name}_{path.stem}"})

    def segment_file(self, video_id: str, clip_id: str) -> Optional[Path]:
        """``<video_id>_<clip>.wav`` anywhere, else ``<video_id>/<clip>.wav``."""
        return self.by_stem.get(f"{video_id}_{clip_id}") or self.by_clip.get((video_id, clip_id))

    def video_file(self, video_id: str) -> Optional[Path]:
        """The whole-video ``<video_id>.wav``."""
        return self.by_stem.get(video_id)

    def has_video(self, uid: str) -> bool:
        """Whether an ``.mp4`` of this segment exists (audio not extracted)."""
        return uid in self.video_only


class SegmentCutter:
    """Cuts segments out of whole-video WAVs into ``OUT/<corpus>_segments/``, once.

    The folder holds a marker (``segments.json``) naming the source it was
    cut from; a folder without it (not ours) or from another source is
    refused, never overwritten. Each segment is written through
    :func:`emotion2vec.fileutils.staged_file`, so a file that exists is
    complete; it is reused when its length is the one this cut gives.

    Arguments
    ---------
    folder : Path
        ``OUT/<corpus>_segments``.
    source : str
        The source folder (recorded in the marker).
    """

    def __init__(self, folder: Path, source: str):
        self.folder, self.source = folder, source
        self.cut_count = self.reused_count = 0
        self._checked = False

    def _check_folder(self) -> None:
        if self._checked:
            return
        marker = self.folder / SEGMENTS_MARKER
        if marker.is_file():
            try:
                stored = json.loads(marker.read_text(encoding="utf-8"))
            except ValueError:
                stored = {}
            if stored.get("source") != self.source:
                raise PrepError(
                    f"{self.folder} holds segments cut from {stored.get('source')!r}, not "
                    f"{self.source}; choose another output folder or delete it"
                )
        elif self.folder.exists() and any(self.folder.iterdir()):
            raise PrepError(
                f"{self.folder} exists and was not written by this preparation (no "
                f"{SEGMENTS_MARKER}); refusing to write into it: choose another output folder"
            )
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            with staged_file(marker) as tmp:
                tmp.write_text(json.dumps({"source": self.source, "sample_rate": SAMPLE_RATE},
                                          indent=2) + "\n", encoding="utf-8")
        self._checked = True

    def cut(
        self, video_wav: Path, segments: Sequence[Tuple[str, float, float]], skips: SkipLog
    ) -> Dict[str, Tuple[Path, float]]:
        """Cuts (or reuses) the segments of one video.

        Arguments
        ---------
        video_wav : Path
            The whole-video audio.
        segments : sequence of (uid, start, end)
            Times in seconds; an end past the audio is clamped to it.
        skips : SkipLog
            Collects segments that cannot be cut.

        Returns
        -------
        dict
            uid -> (segment file, duration in seconds).
        """
        self._check_folder()
        try:
            frames, rate, _ = audio_info(video_wav)
        except AudioError as error:
            for uid, _, _ in segments:
                skips.add(f"{uid} ({video_wav})", error.problem)
            return {}
        total = int(round(frames * SAMPLE_RATE / rate))
        plans, done = [], {}
        for uid, start, end in segments:
            first, last = int(round(start * SAMPLE_RATE)), min(int(round(end * SAMPLE_RATE)), total)
            if first >= total or last - first < MIN_SEGMENT_SECONDS * SAMPLE_RATE:
                skips.add(f"{uid} ({video_wav})",
                          f"segment {start:.2f}-{end:.2f} s is empty, shorter than "
                          f"{MIN_SEGMENT_SECONDS} s or outside the audio ({total / SAMPLE_RATE:.2f} s)")
                continue
            target = self.folder / video_wav.stem / f"{uid}.wav"
            if target.is_file():
                try:
                    if abs(audio_info(target)[0] - (last - first)) <= 2:
                        done[uid] = (target, audio_info(target)[0] / SAMPLE_RATE)
                        self.reused_count += 1
                        continue
                except AudioError:
                    pass  # ours but unusable: cut again
            plans.append((uid, first, last, target))
        if plans:
            try:
                wav = read_audio(video_wav, SAMPLE_RATE)
            except AudioError as error:
                for uid, _, _, _ in plans:
                    skips.add(f"{uid} ({video_wav})", error.problem)
                return done
            for uid, first, last, target in plans:
                piece = wav[first:min(last, len(wav))]
                with staged_file(target) as tmp:
                    write_audio(tmp, piece, sr=SAMPLE_RATE)
                done[uid] = (target, len(piece) / SAMPLE_RATE)
                self.cut_count += 1
        return done


def _read_labels(
    corpus: CmuCorpus, files: SourceFiles, label_source: str,
    transcripts: Mapping[str, TranscriptLine], audio: AudioIndex, skips: SkipLog,
) -> Tuple[List[LabelRow], str]:
    csvs = files.named(["label.csv"]) if label_source in ("auto", "label_csv") else []
    csds = files.named(corpus.csd_names) if label_source in ("auto", "csd") else []
    if csvs:
        if len(csvs) > 1:
            logger.warning("%s: several label.csv (%s); using %s", corpus.title,
                           ", ".join(map(str, csvs)), csvs[0])
        if csds:
            logger.info("%s: using %s; %s not read", corpus.title, csvs[0], csds[0].name)
        return read_label_csv(csvs[0], skips), str(csvs[0])
    if csds:
        if corpus.cut_from_video and not transcripts:
            raise PrepError(
                f"{corpus.title}: {csds[0].name} gives times, not clip numbers; the segmented "
                "transcripts (<video_id>.txt lines <video_id>___<clip>___<start>___<end>___<text>) "
                "are needed to name the segments and were not found"
            )

        def duration(uid: str) -> Optional[float]:
            path = audio.segment_file(*split_segment_id(uid))
            try:
                return probe_audio(path) if path is not None else None
            except AudioError:
                return None

        rows = csd_rows(read_csd(csds[0]), transcripts if corpus.cut_from_video else {}, duration, skips,
                        str(csds[0]))
        return rows, str(csds[0])
    wanted = {"auto": "label.csv (MMSA) or " + " / ".join(corpus.csd_names),
              "label_csv": "label.csv (MMSA)", "csd": " / ".join(corpus.csd_names)}[label_source]
    raise PrepError(f"{corpus.title}: no label file under {files.root} (expected {wanted} at any depth)")


def _folds(corpus: CmuCorpus, files: SourceFiles, folds_file: Optional[PathLike]) -> Tuple[Dict[str, str], str]:
    if folds_file is not None:
        path = Path(folds_file)
        if not path.is_file():
            raise PrepError(f"{corpus.title}: folds_file {path} not found")
        return read_folds(path), str(path)
    found = files.named(corpus.folds_names)
    if not found:
        return {}, ""
    return read_folds(found[0]), str(found[0])


def prepare_cmu(
    corpus: CmuCorpus,
    src_dir: PathLike,
    out_dir: PathLike,
    label_source: str = "auto",
    folds_file: Optional[PathLike] = None,
    include_unlabelled: bool = False,
    decode_audio: bool = False,
) -> Path:
    """Writes ``OUT_DIR/<corpus>.csv`` (see the module docstring).

    A second call with the same options reuses the CSV (and the cut
    segments); an existing CSV or segment folder from other options or from
    elsewhere is never overwritten.

    Arguments
    ---------
    corpus : CmuCorpus
        MOSI's or MOSEI's facts.
    src_dir : str or path
        Folder holding the corpus in any of the supported forms, at any depth.
    out_dir : str or path
        Output folder.
    label_source : str
        ``auto`` (``label.csv`` if there is one, else the ``.csd``),
        ``label_csv`` or ``csd``.
    folds_file : str or path, optional
        The SDK fold lists (``.py``) or a JSON of them, when the labels give
        no split and the source folder holds no such file.
    include_unlabelled : bool
        Also list transcript segments that have no label (MOSEI; empty
        ``score`` and ``label``: for pre-training only).
    decode_audio : bool
        Decode every segment file to check it instead of reading headers.

    Returns
    -------
    Path
        The manifest CSV.
    """
    src, out = Path(src_dir), Path(out_dir)
    if not src.is_dir():
        raise PrepError(f"{corpus.title}: source folder {src} does not exist or is not a folder")
    if label_source not in LABEL_SOURCES:
        raise PrepError(f"{corpus.title}: label_source must be one of {LABEL_SOURCES}, got {label_source!r}")
    csv_path = out / f"{corpus.name}.csv"
    maker = f"emotion2vec.corpora.{corpus.name}.prepare_{corpus.name}"
    options = {
        "source": os.path.abspath(src), "label_source": label_source,
        "folds_file": os.path.abspath(folds_file) if folds_file is not None else None,
        "include_unlabelled": bool(include_unlabelled), "decode_audio": bool(decode_audio),
    }
    if check_prepared(csv_path, maker, options):
        return csv_path
    files = scan_source(src, exclude=out)
    skips = SkipLog(corpus.title)
    audio = AudioIndex(files)
    transcripts = read_transcripts(files, skips) if corpus.cut_from_video else {}
    labels, label_file = _read_labels(corpus, files, label_source, transcripts, audio, skips)
    split_of, folds_path = ({}, "")
    if any(not row.split for row in labels) or include_unlabelled:
        split_of, folds_path = _folds(corpus, files, folds_file)
    if labels and all(not row.split for row in labels) and not split_of:
        raise PrepError(
            f"{corpus.title}: {label_file} gives no split and no fold lists were found; put the "
            f"CMU-MultimodalSDK's {corpus.folds_names[0]} under {src} or pass folds_file"
        )
    wanted = _select_segments(corpus, labels, transcripts, split_of, include_unlabelled, skips)
    rows = _segment_rows(corpus, wanted, transcripts, audio, out, options["source"],
                         decode_audio, skips)
    skips.log_summary()
    if not rows:
        raise PrepError(
            f"{corpus.title}: no segment with usable audio under {src} ({len(labels)} labelled, "
            f"{len(skips)} skipped; see the warnings above)"
        )
    summary = _log_summary(corpus, rows, skips, label_file, folds_path)
    write_manifest(csv_path, rows, maker, options, EXTRA_COLUMNS, summary)
    logger.info("%s: wrote %d segments to %s", corpus.title, len(rows), csv_path)
    return csv_path


def _select_segments(corpus, labels, transcripts, split_of, include_unlabelled, skips) -> List[LabelRow]:
    wanted, seen = [], set()
    for row in labels:
        if row.uid in seen:
            skips.add(f"{row.uid} ({row.where})", "labelled twice (kept the first)")
            continue
        seen.add(row.uid)
        row.split = row.split or split_of.get(row.video_id, "")
        if not row.split:
            skips.add(f"{row.uid} ({row.where})", f"video {row.video_id} is in no standard fold")
            continue
        wanted.append(row)
    if include_unlabelled:
        for uid, line in sorted(transcripts.items()):
            if uid not in seen:
                seen.add(uid)
                wanted.append(LabelRow(line.video_id, line.clip_id, None,
                                       split_of.get(line.video_id, ""), line.text, where=uid))
    return wanted


def _segment_rows(corpus, wanted, transcripts, audio, out, source, decode_audio, skips) -> List[Dict]:
    found: Dict[str, Tuple[Path, float]] = {}
    to_cut: Dict[Path, List[Tuple[str, float, float]]] = defaultdict(list)
    for row in wanted:
        path = audio.segment_file(row.video_id, row.clip_id)
        line = transcripts.get(row.uid)
        if line is not None:  # the transcript's times define the segment (a .csd's only match them)
            row.start, row.end = line.start, line.end
            row.text = row.text or line.text
        if path is not None:
            try:
                found[row.uid] = (path, probe_audio(path, decode=decode_audio))
            except AudioError as error:
                skips.add(f"{row.uid} ({path})", error.problem)
            continue
        whole = audio.video_file(row.video_id) if corpus.cut_from_video else None
        if whole is not None and row.start is not None and row.end is not None:
            to_cut[whole].append((row.uid, row.start, row.end))
        elif whole is not None:
            skips.add(row.uid, f"no transcript times to cut it from {whole}")
        elif audio.has_video(row.uid):
            skips.add(row.uid, "only video (.mp4) found: extract its audio first, e.g. "
                               "ffmpeg -i CLIP.mp4 -ac 1 -ar 16000 CLIP.wav")
        else:
            skips.add(row.uid, "no audio found for this segment")
    cutter = SegmentCutter(out / f"{corpus.name}_segments", source)
    for whole in sorted(to_cut):
        found.update(cutter.cut(whole, to_cut[whole], skips))
    if to_cut:
        logger.info("%s: %d segments cut from whole-video audio, %d reused from an earlier run",
                    corpus.title, cutter.cut_count, cutter.reused_count)
    rows = []
    for row in wanted:
        if row.uid not in found:
            continue
        path, duration = found[row.uid]
        if duration < MIN_SEGMENT_SECONDS:
            skips.add(f"{row.uid} ({path})", f"{duration:.3f} s, shorter than {MIN_SEGMENT_SECONDS} s")
            continue
        sign = polarity(row.score)
        rows.append({
            "ID": row.uid, "wav": os.path.abspath(path), "duration": duration,
            "label": sign if sign in LABELS else "", "speaker": row.video_id,
            "gender": "", "session": "", "split": row.split,
            "score": "" if row.score is None else f"{row.score:.6g}", "polarity": sign,
            "video_id": row.video_id, "clip_id": row.clip_id,
            "start": "" if row.start is None else f"{row.start:.3f}",
            "end": "" if row.end is None else f"{row.end:.3f}", "text": row.text,
        })
    return rows


def _log_summary(corpus, rows, skips, label_file, folds_path) -> Dict:
    labelled = [row for row in rows if row["polarity"]]
    per_split = count_by(labelled, "polarity", group="split")
    videos = len({row["video_id"] for row in labelled})
    whole = videos == corpus.expected_videos
    if not whole:
        logger.info("%s: %d of the %d videos of the standard folds present: counts not compared "
                    "with the full corpus", corpus.title, videos, corpus.expected_videos)
    for split in SPLITS:
        log_counts(corpus.title, per_split.get(split, {}),
                   dict(corpus.expected[split]) if whole else None, f"{split} (polarity)")
    unlabelled = len(rows) - len(labelled)
    if unlabelled:
        logger.info("%s: %d segments without a label listed (pre-training only)", corpus.title, unlabelled)
    return {
        "segments": len(rows),
        "labelled": len(labelled),
        "unlabelled": unlabelled,
        "videos": videos,
        "whole_corpus": whole,
        "per_split": per_split,
        "expected_per_split": {k: dict(v) for k, v in corpus.expected.items()},
        "label_file": label_file,
        "folds_file": folds_path,
        "skipped": [list(item) for item in skips.items],
    }
