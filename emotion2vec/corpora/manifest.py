"""The manifest CSV of a prepared corpus: writing, reading, re-run rules, counts.

* :func:`check_prepared` / :func:`write_manifest` write the manifest CSV
  deterministically (rows sorted by ``ID``) together with a marker file
  ``<csv>.prep.json`` recording which function wrote it, with which options,
  a hash of the CSV and a summary. A CSV is never overwritten: an identical
  earlier preparation is reused ("already prepared"); anything else (a
  foreign file, other options, a hand-edited CSV) is a
  :class:`~emotion2vec.corpora.common.PrepError` asking for another output
  folder. :func:`read_marker` / :func:`write_marker` are that marker
  mechanism on its own (the pre-training manifest uses it too) and
  :func:`read_manifest` is the one manifest reader.
* :func:`audio_row` completes a row's standard columns and :func:`safe_id`
  makes an utterance ID from a name with spaces or brackets.
* :func:`count_by` / :func:`log_counts` summarise classes against the
  expected counts, and :func:`finish_manifest` does the end of every
  preparation: log what was skipped, compare the class counts with the
  release's (only for a complete copy, :func:`compare_if_complete`), write
  the manifest with its summary.

Every manifest starts with the columns of :data:`MANIFEST_COLUMNS`; a
corpus adds its own columns after them.

Authors
 * emotion2vec-sb contributors
"""

import csv
import json
import logging
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from emotion2vec.corpora.common import PrepError, SkipLog
from emotion2vec.fileutils import PathLike, sha256_file

logger = logging.getLogger(__name__)


MANIFEST_COLUMNS = ("ID", "wav", "duration", "label", "speaker", "gender", "session")
"""Leading columns of every prepared manifest (empty string when unknown)."""

MARKER_SUFFIX = ".prep.json"
MARKER_VERSION = 1


def marker_path(csv_path: PathLike) -> Path:
    """The marker file recording how ``csv_path`` was prepared.

    Arguments
    ---------
    csv_path : str or path
        Manifest CSV.

    Returns
    -------
    Path
        ``<csv_path>.prep.json``.

    Example
    -------
    >>> marker_path("out/iemocap.csv").name
    'iemocap.csv.prep.json'
    """
    csv_path = Path(csv_path)
    return csv_path.with_name(csv_path.name + MARKER_SUFFIX)


def _normalise(value: Any) -> Any:
    """JSON round trip so that tuples/lists and key order compare equal."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))




def read_marker(
    csv_path: PathLike, maker: str, options: Optional[Mapping[str, Any]] = None
) -> Optional[Dict[str, Any]]:
    """The marker of a CSV that ``maker`` wrote and nobody changed since.

    The one marker mechanism of the package: the corpus preparations
    (:func:`check_prepared`) and the pre-training manifest
    (:func:`emotion2vec.pretrain.manifest.build_pretrain_manifest`) both
    refuse to touch a CSV that is not provably theirs and unchanged. What
    they do with other options differs on purpose: a prepared corpus
    manifest is what folds, feature caches and results are keyed on, so
    other options are refused (a new output folder keeps both); the
    pre-training manifest is an intermediate that its recipe rebuilds in
    place.

    Arguments
    ---------
    csv_path : str or path
        The CSV.
    maker : str
        Who must have written it.
    options : mapping, optional
        When given, the options it must have been written with.

    Returns
    -------
    dict or None
        The marker (``version``, ``maker``, ``options``, ``csv``,
        ``csv_sha256``, ``summary``); None when ``csv_path`` does not exist.

    Raises
    ------
    PrepError
        ``csv_path`` exists without a marker, with an unreadable one, from
        another maker, from other ``options``, or was modified since.
    """
    csv_path = Path(csv_path)
    marker = marker_path(csv_path)
    if not csv_path.exists():
        return None
    advice = (
        f"Choose another output folder, or delete {csv_path}"
        f"{' and ' + marker.name if marker.exists() else ''} to prepare again."
    )
    if not marker.is_file():
        raise PrepError(
            f"{csv_path} exists but was not written by {maker} (no marker file "
            f"{marker.name}); refusing to overwrite it. {advice}"
        )
    try:
        with open(marker, encoding="utf-8") as handle:
            stored = json.load(handle)
        stored_maker, stored_options = stored["maker"], stored["options"]
        stored_hash = stored["csv_sha256"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise PrepError(
            f"{marker} is unreadable ({err}); refusing to overwrite {csv_path}. {advice}"
        ) from None
    if stored_maker != maker:
        raise PrepError(
            f"{csv_path} was written by {stored_maker}, not {maker}; "
            f"refusing to overwrite it. {advice}"
        )
    if options is not None:
        wanted = _normalise(dict(options))
        if stored_options != wanted:
            changes = _describe_changes(stored_options, wanted)
            raise PrepError(
                f"{csv_path} was prepared with different options ({changes}); "
                f"refusing to overwrite it. {advice}"
            )
    if stored_hash != sha256_file(csv_path):
        raise PrepError(
            f"{csv_path} was modified after {maker} wrote it (hash differs from "
            f"{marker.name}); refusing to overwrite it. {advice}"
        )
    return stored


def write_marker(
    csv_path: PathLike,
    maker: str,
    options: Mapping[str, Any],
    summary: Optional[Mapping[str, Any]] = None,
    written: Optional[PathLike] = None,
) -> Path:
    """Writes the marker of ``csv_path`` (see :func:`read_marker`).

    Arguments
    ---------
    csv_path : str or path
        The CSV the marker describes.
    maker : str
        Who wrote it.
    options : mapping
        JSON-serialisable options that determined its content.
    summary : mapping, optional
        JSON-serialisable summary (counts, skips).
    written : str or path, optional
        The file whose bytes will become ``csv_path`` (a staged copy about
        to be moved into place; default ``csv_path`` itself).

    Returns
    -------
    Path
        The marker file.
    """
    csv_path = Path(csv_path)
    marker = {
        "version": MARKER_VERSION,
        "maker": maker,
        "options": _normalise(dict(options)),
        "csv": csv_path.name,
        "csv_sha256": sha256_file(written if written is not None else csv_path),
        "summary": _normalise(dict(summary or {})),
    }
    target = marker_path(csv_path)
    tmp = target.with_name(f".{target.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(marker, handle, indent=2, sort_keys=True)
    os.replace(tmp, target)
    return target


def check_prepared(csv_path: PathLike, maker: str, options: Mapping[str, Any]) -> bool:
    """Decides whether a preparation can be skipped, and refuses to clobber.

    Arguments
    ---------
    csv_path : str or path
        The manifest the preparation is about to write.
    maker : str
        Name of the preparing function (recorded in the marker).
    options : mapping
        JSON-serialisable options that determine the CSV content.

    Returns
    -------
    bool
        True when ``csv_path`` was written by ``maker`` with the same
        options and is unchanged ("already prepared": skip the work);
        False when ``csv_path`` does not exist yet.

    Raises
    ------
    PrepError
        ``csv_path`` exists without a marker, with a marker from other
        options or another maker, or was modified after preparation.

    Example
    -------
    >>> import tempfile
    >>> csv_path = Path(tempfile.mkdtemp()) / "demo.csv"
    >>> check_prepared(csv_path, "demo", {"seed": 1})
    False
    >>> _ = write_manifest(csv_path, [], "demo", {"seed": 1})
    >>> check_prepared(csv_path, "demo", {"seed": 1})
    True
    >>> check_prepared(csv_path, "demo", {"seed": 2})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    emotion2vec.corpora.common.PrepError: ...different options (seed: 1 -> 2)...
    """
    if read_marker(csv_path, maker, options) is None:
        return False
    logger.info("%s already prepared with the same options; skipping preparation", csv_path)
    return True


def _describe_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    keys = sorted(set(old) | set(new))
    parts = [
        f"{key}: {old.get(key, '<unset>')} -> {new.get(key, '<unset>')}"
        for key in keys
        if old.get(key, "<unset>") != new.get(key, "<unset>")
    ]
    return "; ".join(parts) or "unknown difference"


def write_manifest(
    csv_path: PathLike,
    rows: Iterable[Mapping[str, Any]],
    maker: str,
    options: Mapping[str, Any],
    extra_columns: Sequence[str] = (),
    summary: Optional[Mapping[str, Any]] = None,
) -> Path:
    """Writes a manifest CSV sorted by ``ID`` plus its marker file.

    The CSV is written to a temporary file first and moved into place after
    the marker, so an interrupted run never leaves a CSV without a marker.
    Call :func:`check_prepared` first: this function overwrites.

    Arguments
    ---------
    csv_path : str or path
        Output CSV.
    rows : iterable of mapping
        One mapping per utterance with at least the :data:`MANIFEST_COLUMNS`
        keys (``None`` is written as an empty field) and the
        ``extra_columns``; ``duration`` is written with 5 decimals.
    maker : str
        Name of the preparing function.
    options : mapping
        JSON-serialisable options that determined the content.
    extra_columns : sequence of str
        Corpus-specific columns written after the standard ones.
    summary : mapping, optional
        JSON-serialisable summary stored in the marker (counts, skips).

    Returns
    -------
    Path
        ``csv_path``.

    Raises
    ------
    ValueError
        A row misses a column or two rows share an ``ID``.

    Example
    -------
    >>> import tempfile
    >>> csv_path = Path(tempfile.mkdtemp()) / "demo.csv"
    >>> row = dict(ID="b", wav="/d/b.wav", duration=1.5, label="neu",
    ...            speaker="s1", gender="F", session="1", text="hi")
    >>> _ = write_manifest(csv_path, [row, dict(row, ID="a")], "demo", {}, ["text"])
    >>> print(csv_path.read_text().strip())
    ID,wav,duration,label,speaker,gender,session,text
    a,/d/b.wav,1.50000,neu,s1,F,1,hi
    b,/d/b.wav,1.50000,neu,s1,F,1,hi
    """
    csv_path = Path(csv_path)
    columns = list(MANIFEST_COLUMNS) + [c for c in extra_columns if c not in MANIFEST_COLUMNS]
    rows = sorted(rows, key=lambda row: str(row.get("ID", "")))
    seen = set()
    for row in rows:
        missing = [c for c in columns if c not in row]
        if missing:
            raise ValueError(f"manifest row {row.get('ID', row)!r} misses column(s) {missing}")
        if row["ID"] in seen:
            raise ValueError(f"duplicate manifest ID {row['ID']!r} for {csv_path}")
        seen.add(row["ID"])
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = csv_path.with_name(f".{csv_path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_field(column, row[column]) for column in columns])
    write_marker(csv_path, maker, options, summary, written=tmp)
    os.replace(tmp, csv_path)
    return csv_path


def _field(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column == "duration":
        return f"{float(value):.5f}"
    return str(value)


def read_manifest(csv_path: PathLike, columns: Sequence[str] = ("ID",)) -> List[Dict[str, str]]:
    """Reads a manifest CSV into a list of row dicts (all values strings).

    The one manifest reader: corpus manifests (downstream recipes), the
    sources and the output of the pre-training manifest
    (:func:`emotion2vec.pretrain.data.read_manifest` adds its types on top).

    Arguments
    ---------
    csv_path : str or path
        Manifest CSV.
    columns : sequence of str
        Columns it must have (default: ``ID``).

    Returns
    -------
    list of dict

    Raises
    ------
    PrepError
        Missing file or missing columns.

    Example
    -------
    >>> import tempfile
    >>> csv_path = Path(tempfile.mkdtemp()) / "m.csv"
    >>> _ = csv_path.write_text("ID,wav,speaker\\nu1,/a.wav,s1\\n")
    >>> read_manifest(csv_path)
    [{'ID': 'u1', 'wav': '/a.wav', 'speaker': 's1'}]
    >>> read_manifest(csv_path, columns=("ID", "duration"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    emotion2vec.corpora.common.PrepError: manifest ...m.csv is missing column(s) ['duration'] ...
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise PrepError(f"manifest {csv_path} not found")
    with open(csv_path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise PrepError(
                f"manifest {csv_path} is missing column(s) {missing} "
                f"(columns: {reader.fieldnames})"
            )
        return [dict(row) for row in reader]


def count_by(
    rows: Iterable[Mapping[str, Any]], column: str = "label", group: Optional[str] = None
) -> Dict:
    """Counts rows per value of ``column`` (optionally per ``group`` first).

    Arguments
    ---------
    rows : iterable of mapping
        Manifest rows.
    column : str
        Column to count (usually ``label``).
    group : str, optional
        Column to group by first (e.g. ``session``).

    Returns
    -------
    dict
        ``{value: count}`` sorted by value, or ``{group: {value: count}}``.

    Example
    -------
    >>> rows = [dict(label="neu", session="1"), dict(label="sad", session="1"),
    ...         dict(label="neu", session="2")]
    >>> count_by(rows)
    {'neu': 2, 'sad': 1}
    >>> count_by(rows, group="session")
    {'1': {'neu': 1, 'sad': 1}, '2': {'neu': 1}}
    """
    rows = list(rows)
    if group is None:
        counts = Counter(str(row[column]) for row in rows)
        return dict(sorted(counts.items()))
    groups: Dict[str, List] = {}
    for row in rows:
        groups.setdefault(str(row[group]), []).append(row)
    return {key: count_by(groups[key], column) for key in sorted(groups)}


def log_counts(
    corpus: str,
    counts: Mapping[str, int],
    expected: Optional[Mapping[str, int]] = None,
    title: str = "",
) -> bool:
    """Logs a per-class count table and compares it with expected counts.

    A difference is logged as a warning (not an error: partial copies and
    test corpora are legitimate).

    Arguments
    ---------
    corpus : str
        Corpus name for messages.
    counts : mapping
        ``{class: count}`` found.
    expected : mapping, optional
        ``{class: count}`` of the complete corpus.
    title : str
        What was counted (e.g. ``"session 1"``).

    Returns
    -------
    bool
        True when ``expected`` is given and differs from ``counts``.

    Example
    -------
    >>> log_counts("demo", {"neu": 3, "sad": 1}, {"neu": 3, "sad": 2})
    True
    """
    total = sum(counts.values())
    table = ", ".join(f"{label} {count}" for label, count in counts.items())
    label = f" {title}" if title else ""
    if expected is None:
        logger.info("%s%s: %d utterances (%s)", corpus, label, total, table)
        return False
    differs = {k: (counts.get(k, 0), expected.get(k, 0)) for k in set(counts) | set(expected)}
    differs = {k: v for k, v in sorted(differs.items()) if v[0] != v[1]}
    if not differs:
        logger.info("%s%s: %d utterances as expected (%s)", corpus, label, total, table)
        return False
    detail = ", ".join(
        f"{k} {found} (expected {want})" for k, (found, want) in differs.items()
    )
    logger.warning(
        "%s%s: %d utterances, expected %d; differences: %s",
        corpus,
        label,
        total,
        sum(expected.values()),
        detail,
    )
    return True


_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_id(text: str) -> str:
    """An utterance ID without spaces, brackets or other CSV/path-unsafe characters.

    Runs of unsafe characters become one ``_``; leading/trailing ``_`` are dropped.

    Arguments
    ---------
    text : str
        A file stem or annotation name.

    Returns
    -------
    str

    Example
    -------
    >>> safe_id("f18 (5)b"), safe_id("01_happiness_anger a_010")
    ('f18_5_b', '01_happiness_anger_a_010')
    """
    return _UNSAFE_ID_CHARS.sub("_", str(text)).strip("_")


def audio_row(fields: Mapping[str, Any], wav: PathLike, duration: float) -> Dict[str, Any]:
    """A manifest row: ``fields`` plus ``wav``/``duration``, standard columns completed.

    Arguments
    ---------
    fields : mapping
        At least ``ID`` and ``label`` (and the corpus's extra columns).
    wav : str or path
        Audio file (made absolute, symlinks kept).
    duration : float
        Seconds.

    Returns
    -------
    dict
        The :data:`MANIFEST_COLUMNS` missing from ``fields`` are empty strings.

    Example
    -------
    >>> row = audio_row({"ID": "u", "label": "neu"}, "/d/u.wav", 1.0)
    >>> [row[c] for c in MANIFEST_COLUMNS]
    ['u', '/d/u.wav', 1.0, 'neu', '', '', '']
    """
    row: Dict[str, Any] = {column: "" for column in MANIFEST_COLUMNS}
    row.update(fields)
    row["wav"] = os.path.abspath(wav)
    row["duration"] = duration
    return row


COMPLETE_FRACTION = 0.9
"""Share of a release's utterances from which a copy counts as complete."""


def compare_if_complete(
    corpus: str,
    found: int,
    release_total: int,
    compare: Optional[bool] = None,
    fraction: float = COMPLETE_FRACTION,
) -> bool:
    """Decides whether class counts are compared with the release's.

    With ``compare=None`` (automatic) they are compared when at least
    ``fraction`` of the release's utterances were found, so that a copy
    missing a few files is reported class by class, while a partial copy
    (one split, a few speakers, a test fake) only gets its own count table
    instead of a wall of differences.

    Arguments
    ---------
    corpus : str
        Corpus name for messages.
    found : int
        Utterances found (by file name or annotation, before the audio
        checks, so that unusable files show up as differences).
    release_total : int
        Utterances in the complete release.
    compare : bool, optional
        Force (True) or suppress (False) the comparison.
    fraction : float
        Share of ``release_total`` that counts as a complete copy.

    Returns
    -------
    bool

    Example
    -------
    >>> compare_if_complete("demo", 2838, 3000), compare_if_complete("demo", 30, 3000)
    (True, False)
    """
    if compare is not None:
        return bool(compare)
    if found >= fraction * release_total:
        return True
    logger.info(
        "%s: %d of the release's %d utterances found (a partial copy); "
        "counts not compared with the release's",
        corpus, found, release_total,
    )
    return False


def finish_manifest(
    csv_path: PathLike,
    rows: List[Dict[str, Any]],
    maker: str,
    options: Mapping[str, Any],
    corpus: str,
    skips: SkipLog,
    extra_columns: Sequence[str] = (),
    expected: Optional[Mapping[str, Any]] = None,
    found: Optional[int] = None,
    group: Optional[str] = None,
    compare: Optional[bool] = None,
    summary: Optional[Mapping[str, Any]] = None,
) -> Path:
    """The end of a preparation: log the skips and counts, write the manifest.

    Class counts are logged (per ``group`` value when given) and compared
    with the release's when the copy is complete
    (:func:`compare_if_complete`). The marker summary holds the counts
    (per class, per group, per speaker), whether they were compared, and
    the skip log's skipped files and ignored duplicates.

    Arguments
    ---------
    csv_path : str or path
        Output CSV (already checked with :func:`check_prepared`).
    rows : list of dict
        Manifest rows.
    maker : str
        Name of the preparing function (recorded in the marker).
    options : mapping
        JSON-serialisable options that determined the content.
    corpus : str
        Corpus name for messages.
    skips : SkipLog
        What was left out (its entries go into the marker).
    extra_columns : sequence of str
        Corpus-specific columns written after :data:`MANIFEST_COLUMNS`.
    expected : mapping, optional
        Release counts ``{class: n}``, or ``{group value: {class: n}}``
        when ``group`` is given (e.g. per ``split``).
    found : int, optional
        Utterances found before the audio checks (default: the rows).
    group : str, optional
        Column the counts are grouped by first.
    compare : bool, optional
        See :func:`compare_if_complete` (None: automatic).
    summary : mapping, optional
        Extra summary entries for the marker.

    Returns
    -------
    Path
        ``csv_path``.

    Raises
    ------
    PrepError
        No usable utterance.

    Example
    -------
    >>> import tempfile
    >>> csv_path = Path(tempfile.mkdtemp()) / "demo.csv"
    >>> rows = [audio_row({"ID": "u1", "label": "neu", "speaker": "s1"}, "/d/u1.wav", 1.0)]
    >>> _ = finish_manifest(csv_path, rows, "demo", {}, "demo", SkipLog("demo"),
    ...                     expected={"neu": 1})
    >>> summary = json.loads(marker_path(csv_path).read_text())["summary"]
    >>> summary["per_class"], summary["compared_to_release"], summary["per_speaker"]
    ({'neu': 1}, True, {'s1': {'neu': 1}})
    """
    skips.log_summary()
    if not rows:
        raise PrepError(
            f"{corpus}: no usable utterance found ({len(skips)} skipped; see the warnings above)"
        )
    compared = False
    if expected is not None:
        release_total = sum(_total(value) for value in expected.values())
        found = len(rows) if found is None else found
        compared = compare_if_complete(corpus, found, release_total, compare)
    release = expected if compared else None
    per_class = count_by(rows, "label")
    per_group: Dict[str, Any] = {}
    if group is None:
        log_counts(corpus, per_class, release)
    else:
        counts = count_by(rows, "label", group)
        for key in sorted(set(counts) | set(release or {})):
            log_counts(corpus, counts.get(key, {}), (release or {}).get(key), f"{group} {key}")
        per_group = {f"per_{group}": counts}
    per_speaker = count_by([row for row in rows if row.get("speaker")], "label", "speaker")
    full_summary = {
        "utterances": len(rows),
        "compared_to_release": compared,
        "per_class": per_class,
        **per_group,
        "speakers": len(per_speaker),
        "per_speaker": per_speaker,
        **skips.summary(),
        **dict(summary or {}),
    }
    write_manifest(csv_path, rows, maker, options, extra_columns, full_summary)
    logger.info("%s: wrote %d utterances to %s", corpus, len(rows), csv_path)
    return Path(csv_path)


def _total(value: Any) -> int:
    return sum(value.values()) if isinstance(value, Mapping) else int(value)
