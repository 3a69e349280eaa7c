"""Your own data, any label set: a CSV manifest or a folder per class.

Two layouts are read (``emotion2vec prepare custom SRC OUT``):

* a **CSV manifest** (``SRC`` is a ``.csv`` file) with the columns ``wav``
  (the audio file; a relative path is relative to the CSV's folder) and
  ``label``, and optionally ``ID``, ``speaker`` and ``split`` (``train`` /
  ``valid`` / ``test``; ``dev``, ``val`` and ``validation`` also mean
  valid). Column names are matched case-insensitively; other columns are
  ignored;
* a **folder per class** (``SRC`` is a folder): ``SRC/<label>/**/<file>``,
  the label being the name of the first folder under ``SRC`` and the file
  at any depth below it (``.wav``, ``.flac``, ``.ogg``).

Any label set (labels are kept as written, Unicode NFC-normalised, so a
folder ``über`` named on macOS matches one named on Linux), any sample rate
and channel count (:mod:`emotion2vec.audio` downmixes and resamples when the
audio is read; the files stay where they are). Hidden and AppleDouble
entries (``._x.wav``, ``__MACOSX/``) are ignored; unreadable and too short
files, rows without a label and duplicate IDs are reported and skipped (the
marker file lists every skip), never fatal; 0-byte files in a folder are
skipped with a warning when the folder is listed
(:func:`emotion2vec.audio.find_audio_files`).

The manifest ``OUT/custom.csv`` has the standard columns plus ``split``
(empty when not given). The corpus registers no class list (the labels
are the ones found, sorted) and one protocol, ``holdout``
(:func:`emotion2vec.downstream.folds.holdout_split`): the split given in
the CSV, else speaker-independent when every row has a speaker, else
stratified by label, 80/10/10.

A second preparation of the same data reuses the CSV; the marker records a
digest of the CSV manifest or of the folder listing (names and sizes), so
changed data is never silently read through a stale manifest.

Authors
 * emotion2vec-sb contributors
"""

import csv
import hashlib
import logging
import os
import unicodedata
from pathlib import Path
from typing import Dict, List, Tuple, Union

from emotion2vec.audio import SAMPLE_RATE, AudioError, find_audio_files
from emotion2vec.corpora import register_corpus
from emotion2vec.corpora.common import PrepError, SkipLog
from emotion2vec.corpora.files import probe_audio
from emotion2vec.corpora.manifest import check_prepared, count_by, log_counts, write_manifest
from emotion2vec.fileutils import sha256_file

logger = logging.getLogger(__name__)

CSV_NAME = "custom.csv"
EXTRA_COLUMNS = ("split",)
#: Columns a CSV manifest must have, and the optional ones (lower case).
REQUIRED_COLUMNS = ("wav", "label")
OPTIONAL_COLUMNS = ("id", "speaker", "split")


def normalise_label(text: str) -> str:
    """A label as written, stripped and Unicode NFC-normalised.

    Arguments
    ---------
    text : str
        Folder name or CSV value.

    Returns
    -------
    str

    Example
    -------
    >>> normalise_label(" u\\u0308ber ") == "\\u00fcber"
    True
    """
    return unicodedata.normalize("NFC", str(text)).strip()


def read_user_csv(path: Union[str, Path]) -> List[Dict[str, str]]:
    """Reads a user's CSV manifest into rows keyed by lower-case column name.

    Unlike :func:`emotion2vec.corpora.common.read_manifest` (our own
    manifests), this accepts what spreadsheets write: a UTF-8 byte-order
    mark, spaces and capitals in the header.

    Arguments
    ---------
    path : str or Path
        The CSV file.

    Returns
    -------
    list of dict
        Values stripped; only the columns this corpus reads.

    Raises
    ------
    PrepError
        Unreadable file or a missing ``wav`` / ``label`` column.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "m.csv"
    >>> _ = path.write_text("\\ufeffWav, Label ,notes\\na.wav,Zen,x\\n", encoding="utf-8")
    >>> read_user_csv(path)
    [{'wav': 'a.wav', 'label': 'Zen'}]
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [name.strip().lower() for name in next(reader, [])]
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                raise PrepError(
                    f"custom: {path} has no column(s) {missing} (columns: {header}); a manifest "
                    "needs 'wav' and 'label', and may have 'ID', 'speaker' and 'split'"
                )
            keep = [(i, name) for i, name in enumerate(header)
                    if name in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
            return [
                {name: (line[i].strip() if i < len(line) else "") for i, name in keep}
                for line in reader
                if any(cell.strip() for cell in line)
            ]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise PrepError(f"custom: cannot read the manifest {path}: {error}") from None


def _digest(lines: List[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def _from_csv(path: Path, skips: SkipLog) -> Tuple[List[Dict], str]:
    """Candidate rows (without duration) of a CSV manifest, and its digest."""
    rows = []
    for number, entry in enumerate(read_user_csv(path), start=2):
        where = f"{path.name} line {number}"
        label = normalise_label(entry.get("label", ""))
        if not entry.get("wav"):
            skips.add(where, "no wav path")
            continue
        wav = Path(entry["wav"]).expanduser()
        wav = wav if wav.is_absolute() else path.parent / wav
        if not label:
            skips.add(wav, f"{where}: no label")
            continue
        rows.append({
            "ID": entry.get("id") or entry["wav"],
            "wav": wav,
            "label": label,
            "speaker": entry.get("speaker", ""),
            "split": entry.get("split", ""),
        })
    return rows, sha256_file(path)


def _from_folders(root: Path, skips: SkipLog) -> Tuple[List[Dict], str]:
    """Candidate rows of a folder per class, and a digest of the listing."""
    rows, listing = [], []
    for path, rel in find_audio_files(root):
        listing.append(f"{rel.as_posix()}\t{path.stat().st_size}")
        if len(rel.parts) < 2:
            skips.add(path, "not inside a class folder (expected ROOT/<label>/...)")
            continue
        rows.append({
            "ID": normalise_label(rel.as_posix()),
            "wav": path,
            "label": normalise_label(rel.parts[0]),
            "speaker": "",
            "split": "",
        })
    return rows, _digest(listing)


@register_corpus(
    "custom",
    labels=(),  # the labels found, sorted
    protocols={"holdout": {"ratios": [0.8, 0.1, 0.1], "split_by": "auto", "seed": 42}},
)
def prepare_custom(
    src_dir: Union[str, Path],
    out_dir: Union[str, Path],
    decode_audio: bool = False,
    min_duration: float = 0.05,
) -> Path:
    """Writes ``OUT_DIR/custom.csv`` from a CSV manifest or a folder per class.

    Arguments
    ---------
    src_dir : str or Path
        A ``.csv`` manifest or a folder ``<label>/**/<audio>`` (see the
        module docstring).
    out_dir : str or Path
        Output folder.
    decode_audio : bool
        Decode every file to check it instead of reading headers.
    min_duration : float
        Shorter files are skipped (seconds; the model needs 400 samples at
        16 kHz, 0.025 s, for one frame).

    Returns
    -------
    Path
        The manifest CSV.

    Raises
    ------
    PrepError
        No such source, no usable file, or a single class.
    """
    src = Path(src_dir).expanduser()
    skips = SkipLog("custom")
    if src.is_file():
        if src.suffix.lower() != ".csv":
            raise PrepError(
                f"custom: {src} is a file but not a .csv manifest; pass a CSV "
                "(wav,label[,speaker,split]) or a folder with one subfolder per class"
            )
        kind = "csv"
        candidates, digest = _from_csv(src, skips)
    elif src.is_dir():
        kind = "folder"
        candidates, digest = _from_folders(src, skips)
    else:
        raise PrepError(f"custom: {src} does not exist (a CSV manifest or a folder per class)")
    csv_path = Path(out_dir) / CSV_NAME
    maker = f"{__name__}.prepare_custom"
    options = {
        "source": os.path.abspath(src), "kind": kind, "listing_sha256": digest,
        "decode_audio": bool(decode_audio), "min_duration": float(min_duration),
    }
    if check_prepared(csv_path, maker, options):
        return csv_path

    rows, seen = [], set()
    for row in candidates:
        if row["ID"] in seen:
            skips.add(row["wav"], f"duplicate ID {row['ID']!r}")
            continue
        try:
            duration = probe_audio(row["wav"], decode=decode_audio)
        except AudioError as error:
            skips.add_audio_error(error)
            continue
        if duration < min_duration:
            skips.add(row["wav"], f"too short ({duration:.3f} s < min_duration {min_duration} s)")
            continue
        seen.add(row["ID"])
        rows.append(dict(row, wav=str(Path(row["wav"]).resolve()), duration=duration,
                         gender="", session=""))
    skips.log_summary()
    if not rows:
        raise PrepError(
            f"custom: no usable audio file in {src} ({len(skips)} skipped); expected "
            + ("a CSV with wav,label columns" if kind == "csv"
               else f"{src}/<label>/<file>.wav (also .flac, .ogg)")
        )
    per_class = count_by(rows, "label")
    if len(per_class) < 2:
        raise PrepError(
            f"custom: only one class found in {src} ({', '.join(per_class)}); "
            "a classifier needs at least two"
        )
    log_counts("custom", per_class, title=f"{len(per_class)} classes")
    summary = {
        "utterances": len(rows),
        "hours": round(sum(r["duration"] for r in rows) / 3600, 4),
        "per_class": per_class,
        "per_split": count_by(rows, "split") if any(r["split"] for r in rows) else {},
        "speakers": len({r["speaker"] for r in rows if r["speaker"]}),
        "skipped": [list(item) for item in skips.items],
    }
    write_manifest(csv_path, rows, maker, options, EXTRA_COLUMNS, summary)
    logger.info(
        "custom: wrote %d utterances (%.2f h, %d classes) to %s; audio is read as mono at "
        "%g kHz", len(rows), summary["hours"], len(per_class), csv_path, SAMPLE_RATE / 1000,
    )
    return csv_path
