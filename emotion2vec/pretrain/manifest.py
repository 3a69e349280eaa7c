"""Pre-training manifest: one SpeechBrain CSV (``ID,wav,duration``) over
several corpora.

Sources are prepared corpus CSVs (``ID, wav, duration`` columns, extra
columns ignored, read with :func:`emotion2vec.corpora.manifest.read_manifest`)
and/or plain folders of audio scanned recursively. Folder files are
filtered and probed by :mod:`emotion2vec.audio` (hidden entries with
:func:`~emotion2vec.audio.is_hidden_path`, durations from the header with
:func:`~emotion2vec.audio.duration_seconds`, no decoding). Unusable files
(missing, empty, unreadable) are logged with the reason, reported in the
summary's ``failures`` and skipped, as the corpus preparations do; kept
rows are filtered by duration, given unique IDs and written sorted by ID.

The CSV is accompanied by the marker of the corpus preparations
(``<out_csv>.prep.json``, :func:`emotion2vec.corpora.manifest.read_marker`)
recording the settings, a hash of the CSV and the summary. An existing
``out_csv`` is only replaced when its marker proves this function wrote
it, unchanged; unlike a corpus preparation, other settings rebuild it in
place (it is an intermediate of the recipe, not a result's key). A marker
of the earlier format (``<out_csv>.done.json``) is still recognised.

Authors
 * emotion2vec-sb contributors
"""

from __future__ import annotations

import csv
import json
import logging
import os
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from emotion2vec.audio import AudioError, duration_seconds, is_hidden_path
from emotion2vec.audio.io import check_audio_file
from emotion2vec.corpora.common import PrepError
from emotion2vec.corpora.manifest import MARKER_SUFFIX, read_manifest, read_marker, write_marker
from emotion2vec.fileutils import sha256_file

logger = logging.getLogger(__name__)

__all__ = ["MARKER_SUFFIX", "build_pretrain_manifest"]

MAKER = f"{__name__}.build_pretrain_manifest"
_SETTINGS_VERSION = 1
#: The marker of manifests written before the corpus marker was shared.
LEGACY_MARKER_SUFFIX = ".done.json"


@dataclass
class _Entry:
    source: str
    utt_id: str
    wav: str
    duration: float


def _audio_duration(path: Path) -> tuple[float | None, str | None]:
    """Duration in seconds from the header, or (None, reason)."""
    try:
        return duration_seconds(path), None
    except AudioError as error:
        return None, error.problem


def _scan_folder(root, name, extensions, failures) -> list[_Entry]:
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not is_hidden_path(d))
        for filename in sorted(filenames):
            path = Path(dirpath) / filename
            rel = path.relative_to(root)
            if is_hidden_path(rel) or path.suffix.lower() not in extensions:
                continue
            duration, reason = _audio_duration(path)
            if duration is None:
                failures.append((str(path), reason))
                continue
            utt_id = rel.with_suffix("").as_posix().replace("/", "_")
            wav = os.path.abspath(path)
            entries.append(_Entry(name, utt_id, wav, duration))
    return entries


def _read_csv(csv_path, name, replacements, verify, failures) -> list[_Entry]:
    entries = []
    for row in read_manifest(csv_path, columns=("ID", "wav")):
        wav = string.Template(row["wav"]).safe_substitute(replacements)
        if "$" in wav:
            failures.append((wav, "unresolved placeholder in path"))
            continue
        path = Path(wav)
        if not path.is_absolute():
            path = csv_path.parent / path
        try:
            check_audio_file(path)  # cheap: missing, not a file, zero bytes
        except AudioError as error:
            failures.append((str(path), error.problem))
            continue
        try:
            duration = float(row.get("duration") or "nan")
        except ValueError:
            duration = float("nan")
        if verify or not duration > 0:
            duration, reason = _audio_duration(path)
            if duration is None:
                failures.append((str(path), reason))
                continue
        wav = os.path.abspath(path)
        entries.append(_Entry(name, row["ID"], wav, duration))
    return entries


def _unique_ids(entries: list[_Entry]) -> int:
    """Prefixes duplicated IDs with their source name (then a counter);
    returns the number of renamed rows."""
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.utt_id] = counts.get(entry.utt_id, 0) + 1
    used = {e.utt_id for e in entries if counts[e.utt_id] == 1}
    renamed = 0
    for entry in sorted(entries, key=lambda e: (e.utt_id, e.source, e.wav)):
        if counts[entry.utt_id] == 1:
            continue
        candidate = f"{entry.source}_{entry.utt_id}"
        k = 2
        while candidate in used:
            candidate = f"{entry.source}_{entry.utt_id}_{k}"
            k += 1
        used.add(candidate)
        entry.utt_id = candidate
        renamed += 1
    return renamed


def _source_names(sources: Sequence[Path]) -> list[str]:
    names, seen = [], {}
    for src in sources:
        base = src.stem if src.is_file() else src.name
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return names


def _legacy_marker(out_csv: Path) -> dict | None:
    """The ``.done.json`` marker of a manifest written before the corpus
    marker was shared, in the shared marker's shape (or None)."""
    legacy = out_csv.with_name(out_csv.name + LEGACY_MARKER_SUFFIX)
    new = out_csv.with_name(out_csv.name + MARKER_SUFFIX)
    if not out_csv.exists() or new.exists() or not legacy.is_file():
        return None
    try:
        with open(legacy, encoding="utf-8") as handle:
            stored = json.load(handle)
        settings, digest, summary = stored["settings"], stored["csv_sha256"], stored["summary"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if digest != sha256_file(out_csv):
        raise FileExistsError(
            f"{out_csv} was modified after build_pretrain_manifest wrote it "
            f"(hash differs from {legacy.name}); refusing to overwrite it."
        )
    return {"options": settings, "summary": summary}


def _check_existing(out_csv: Path) -> dict | None:
    """Raises if ``out_csv`` exists and is not ours (FileExistsError, as
    before the marker was shared); returns its marker when it is ours."""
    legacy = _legacy_marker(out_csv)
    if legacy is not None:
        return legacy
    try:
        return read_marker(out_csv, MAKER)
    except PrepError as error:
        raise FileExistsError(str(error)) from None


def build_pretrain_manifest(
    sources: Sequence[str | os.PathLike],
    out_csv: str | os.PathLike,
    min_duration: float | None = 2.0,
    max_duration: float | None = None,
    extensions: Iterable[str] = (".wav", ".flac", ".ogg"),
    replacements: dict[str, str] | None = None,
    verify_csv_audio: bool = False,
    rebuild: bool = False,
) -> dict:
    """Builds the pre-training CSV from corpus CSVs and audio folders.

    Arguments
    ---------
    sources : sequence of str or path
        Prepared CSVs (``ID, wav`` and usually ``duration`` columns; relative
        ``wav`` paths are relative to the CSV) and/or folders scanned
        recursively for ``extensions`` (hidden entries and ``__MACOSX`` are
        ignored; zero-byte and unreadable files are skipped and reported in
        ``failures``, from CSVs too).
    out_csv : str or path
        Output CSV. Never replaces a file this function did not write.
    min_duration : float, optional
        Shortest kept file in seconds (default 2 s = data2vec 2.0
        ``min_sample_size`` 32000 at 16 kHz); None for no bound.
    max_duration : float, optional
        Longest kept file; None (default) for no bound (pre-training crops
        long files instead, to 20 s in the data2vec 2.0 recipe).
    extensions : iterable of str
        Audio file suffixes of folder sources (case-insensitive).
    replacements : dict, optional
        ``$name`` substitutions for CSV ``wav`` fields (e.g.
        ``{"data_root": "/data/IEMOCAP"}``).
    verify_csv_audio : bool
        Read the header of every CSV file too (default: trust the CSV
        ``duration`` and only check that the file exists).
    rebuild : bool
        Rebuild even when ``out_csv`` was written with the same settings
        (default: reuse it and return the stored summary).

    Returns
    -------
    summary : dict
        ``count``, ``total_hours``, ``min_duration``, ``mean_duration``,
        ``max_duration`` (seconds, None when empty), ``kept``, ``filtered``
        (``filtered_short`` + ``filtered_long``), ``failed``, ``renamed``
        (rows whose ID was prefixed) and ``failures`` (``[file, reason]``).

    Example
    -------
    >>> import tempfile, numpy, soundfile
    >>> tmp = Path(tempfile.mkdtemp())
    >>> (tmp / "audio").mkdir()
    >>> soundfile.write(tmp / "audio" / "a.wav", numpy.zeros(48000), 16000)
    >>> summary = build_pretrain_manifest([tmp / "audio"], tmp / "train.csv")
    >>> summary["count"], summary["max_duration"]
    (1, 3.0)
    >>> (tmp / "train.csv").read_text().splitlines()[0]
    'ID,wav,duration'
    >>> import shutil; shutil.rmtree(tmp)
    """
    out_csv = Path(out_csv)
    paths = [Path(s) for s in sources]
    exts = tuple(sorted({"." + e.lower().lstrip(".") for e in extensions}))
    settings = {
        "version": _SETTINGS_VERSION,
        "sources": [os.path.abspath(p) for p in paths],
        "min_duration": min_duration,
        "max_duration": max_duration,
        "extensions": list(exts),
        "replacements": dict(replacements or {}),
        "verify_csv_audio": bool(verify_csv_audio),
    }
    stored = _check_existing(out_csv)
    same = stored is not None and stored.get("options") == json.loads(json.dumps(settings))
    if same and not rebuild:
        logger.info("%s already built with these settings; reusing it", out_csv)
        return stored["summary"]

    failures: list[tuple[str, str]] = []
    entries: list[_Entry] = []
    for path, name in zip(paths, _source_names(paths)):
        if path.is_dir():
            found = _scan_folder(path, name, exts, failures)
        elif path.is_file() and path.suffix.lower() == ".csv":
            found = _read_csv(
                path, name, settings["replacements"], verify_csv_audio, failures
            )
        else:
            raise FileNotFoundError(
                f"source {path} is neither a folder nor a CSV file"
            )
        logger.info("source %s (%s): %d readable files", name, path, len(found))
        entries.extend(found)
    for file, reason in failures:
        logger.warning("skipping %s: %s", file, reason)

    short, long_ = [], []
    if min_duration is not None:
        short = [e for e in entries if e.duration < min_duration]
    if max_duration is not None:
        long_ = [e for e in entries if e.duration > max_duration]
    dropped = {id(e) for e in short + long_}
    kept = [e for e in entries if id(e) not in dropped]
    renamed = _unique_ids(kept)
    kept.sort(key=lambda e: e.utt_id)

    out_csv.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_csv.with_name(out_csv.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ID", "wav", "duration"])
        for entry in kept:
            writer.writerow([entry.utt_id, entry.wav, f"{entry.duration:.5f}"])

    durations = [e.duration for e in kept]
    summary = {
        "count": len(kept),
        "total_hours": sum(durations) / 3600.0,
        "min_duration": min(durations) if durations else None,
        "mean_duration": sum(durations) / len(durations) if durations else None,
        "max_duration": max(durations) if durations else None,
        "kept": len(kept),
        "filtered": len(dropped),
        "filtered_short": len(short),
        "filtered_long": len(long_),
        "failed": len(failures),
        "renamed": renamed,
        "failures": [list(f) for f in failures],
    }
    write_marker(out_csv, MAKER, settings, summary, written=tmp)  # marker first, as write_manifest
    os.replace(tmp, out_csv)
    legacy = out_csv.with_name(out_csv.name + LEGACY_MARKER_SUFFIX)
    if legacy.exists():
        legacy.unlink()
    logger.info(
        "pre-training manifest %s: %d files, %.2f h (kept %d, filtered %d "
        "[short %d, long %d], failed %d, renamed %d)",
        out_csv, summary["count"], summary["total_hours"], summary["kept"],
        summary["filtered"], summary["filtered_short"],
        summary["filtered_long"], summary["failed"], summary["renamed"],
    )
    if not kept:
        logger.warning("pre-training manifest %s is empty", out_csv)
    return summary
