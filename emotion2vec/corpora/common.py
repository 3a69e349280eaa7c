"""Helpers shared by every corpus preparation module.

* :func:`find_corpus_root` locates the corpus folder even when the user's
  folder holds it one to three levels deeper (zip and mirror wrappers).
* :func:`check_prepared` / :func:`write_manifest` write the manifest CSV
  deterministically (rows sorted by ``ID``) together with a marker file
  ``<csv>.prep.json`` recording which function wrote it, with which options,
  a hash of the CSV and a summary. A CSV is never overwritten: an identical
  earlier preparation is reused ("already prepared"); anything else (a
  foreign file, other options, a hand-edited CSV) is a :class:`PrepError`
  asking for another output folder.
* :class:`SkipLog` logs and collects the files a preparation skips, with
  the reason, and :func:`count_by` / :func:`log_counts` summarise classes
  against the expected counts (:func:`release_summary`: only when the
  whole release was found).
* :func:`find_named_files` finds a corpus's files by basename at any depth
  (junk skipped, duplicate copies kept once), :func:`probe_first` picks the
  first usable copy, and :func:`prepare_by_file_name` is the whole
  preparation of a corpus labelled by its file names (a
  :class:`FileNameCorpus`).

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
from dataclasses import dataclass
from pathlib import Path
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from emotion2vec.audio import AudioError, audio_info, is_hidden_path, read_audio
from emotion2vec.fileutils import sha256_file

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

MANIFEST_COLUMNS = ("ID", "wav", "duration", "label", "speaker", "gender", "session")
"""Leading columns of every prepared manifest (empty string when unknown)."""

MARKER_SUFFIX = ".prep.json"
MARKER_VERSION = 1


class PrepError(ValueError):
    """A corpus folder or output folder that preparation cannot use.

    The message says what is wrong, where, and what to do about it.

    Example
    -------
    >>> str(PrepError("out/iemocap.csv exists"))
    'out/iemocap.csv exists'
    """


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


def find_corpus_root(
    src_dir: PathLike,
    is_root: Callable[[Path], bool],
    corpus: str,
    expected: str,
    max_depth: int = 3,
) -> Path:
    """Finds the corpus folder at ``src_dir`` or up to ``max_depth`` levels below.

    The search is breadth first over sorted, non-hidden folders (``.x`` and
    ``__MACOSX`` are skipped), so the shallowest match wins; when several
    folders match at that depth the first in sorted order is used and the
    others are logged.

    Arguments
    ---------
    src_dir : str or path
        The folder the user passed.
    is_root : callable
        ``is_root(folder) -> bool``: does this folder look like the corpus?
    corpus : str
        Corpus name for messages.
    expected : str
        What a corpus folder contains, for the error message.
    max_depth : int
        How many levels below ``src_dir`` to look.

    Returns
    -------
    Path
        The corpus folder.

    Raises
    ------
    PrepError
        ``src_dir`` is missing or no folder matches.

    Example
    -------
    >>> import tempfile
    >>> src = Path(tempfile.mkdtemp())
    >>> (src / "download" / "Corpus" / "wav").mkdir(parents=True)
    >>> found = find_corpus_root(src, lambda d: (d / "wav").is_dir(), "demo", "wav/")
    >>> found.relative_to(src).as_posix()
    'download/Corpus'
    """
    src = Path(src_dir)
    if not src.is_dir():
        raise PrepError(f"{corpus}: source folder {src} does not exist or is not a folder")
    level = [src]
    for _ in range(max_depth + 1):
        matches = [folder for folder in level if is_root(folder)]
        if matches:
            if len(matches) > 1:
                logger.warning(
                    "%s: several corpus folders under %s (%s); using %s",
                    corpus,
                    src,
                    ", ".join(str(m) for m in matches),
                    matches[0],
                )
            return matches[0]
        level = [child for folder in level for child in _subfolders(folder)]
    archives = sorted(
        p.name for p in src.iterdir() if p.name.endswith((".tar.gz", ".tgz", ".zip", ".tar"))
    )
    hint = f" Found archive(s) {', '.join(archives)}: extract them first." if archives else ""
    raise PrepError(
        f"{corpus}: no corpus folder found in {src} or up to {max_depth} levels "
        f"below it (expected a folder containing {expected}).{hint}"
    )


def _subfolders(folder: Path) -> List[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not is_hidden_path(p.name))
    except OSError:
        return []


def _normalise(value: Any) -> Any:
    """JSON round trip so that tuples/lists and key order compare equal."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))



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
    csv_path = Path(csv_path)
    marker = marker_path(csv_path)
    if not csv_path.exists():
        return False
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
    marker = {
        "version": MARKER_VERSION,
        "maker": maker,
        "options": _normalise(dict(options)),
        "csv": csv_path.name,
        "csv_sha256": sha256_file(tmp),
        "summary": _normalise(dict(summary or {})),
    }
    marker_tmp = marker_path(tmp)
    with open(marker_tmp, "w", encoding="utf-8") as handle:
        json.dump(marker, handle, indent=2, sort_keys=True)
    os.replace(marker_tmp, marker_path(csv_path))
    os.replace(tmp, csv_path)
    return csv_path


def _field(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column == "duration":
        return f"{float(value):.5f}"
    return str(value)


def read_manifest(csv_path: PathLike) -> List[Dict[str, str]]:
    """Reads a manifest CSV into a list of row dicts (all values strings).

    Arguments
    ---------
    csv_path : str or path
        Manifest CSV with an ``ID`` column.

    Returns
    -------
    list of dict

    Raises
    ------
    PrepError
        Missing file or no ``ID`` column.

    Example
    -------
    >>> import tempfile
    >>> csv_path = Path(tempfile.mkdtemp()) / "m.csv"
    >>> _ = csv_path.write_text("ID,wav,speaker\\nu1,/a.wav,s1\\n")
    >>> read_manifest(csv_path)
    [{'ID': 'u1', 'wav': '/a.wav', 'speaker': 's1'}]
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise PrepError(f"manifest {csv_path} not found")
    with open(csv_path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if "ID" not in (reader.fieldnames or []):
            raise PrepError(
                f"manifest {csv_path} has no ID column (columns: {reader.fieldnames})"
            )
        return [dict(row) for row in reader]


def probe_audio(path: PathLike, decode: bool = False) -> float:
    """Checks that an audio file is usable and returns its duration.

    Arguments
    ---------
    path : str or path
        Audio file.
    decode : bool
        Decode all samples (slower; also catches corrupt data and NaN/Inf)
        instead of reading the header only.

    Returns
    -------
    float
        Duration in seconds.

    Raises
    ------
    AudioError
        Missing, empty or unreadable file.

    Example
    -------
    >>> import tempfile, torch
    >>> from emotion2vec.audio import write_audio
    >>> path = Path(tempfile.mkdtemp()) / "a.wav"
    >>> write_audio(path, torch.zeros(24000), sr=16000)
    >>> probe_audio(path), probe_audio(path, decode=True)
    (1.5, 1.5)
    """
    frames, sample_rate, _ = audio_info(path)
    if decode:
        read_audio(path, target_sr=None)
    return frames / sample_rate


class SkipLog:
    """Logs and collects what a preparation skipped, with the reason.

    The first ``max_logged`` skips are logged one by one (warning level);
    the rest are counted and all of them stay available in :attr:`items`
    (and in the marker summary).

    Arguments
    ---------
    corpus : str
        Corpus name for messages.
    max_logged : int
        How many skips to log individually.

    Example
    -------
    >>> skips = SkipLog("demo")
    >>> skips.add("a.wav", "file not found")
    >>> len(skips), skips.items
    (1, [('a.wav', 'file not found')])
    """

    def __init__(self, corpus: str, max_logged: int = 50):
        self.corpus = corpus
        self.max_logged = max_logged
        self.items: List[Tuple[str, str]] = []

    def add(self, what: PathLike, reason: str) -> None:
        """Records (and logs) one skipped file or annotation."""
        self.items.append((os.fspath(what), reason))
        if len(self.items) <= self.max_logged:
            logger.warning("%s: skipping %s: %s", self.corpus, os.fspath(what), reason)

    def add_audio_error(self, error: AudioError) -> None:
        """Records an :class:`~emotion2vec.audio.AudioError`."""
        self.add(error.path, error.problem)

    def __len__(self) -> int:
        return len(self.items)

    def log_summary(self) -> None:
        """Logs the number of skips (and how many were not logged)."""
        if not self.items:
            return
        hidden = len(self.items) - self.max_logged
        extra = (
            f" ({hidden} not logged individually; all are listed in the marker file)"
            if hidden > 0
            else ""
        )
        logger.warning("%s: skipped %d item(s)%s", self.corpus, len(self.items), extra)


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


# ---------------------------------------------------------------------------
# Corpora labelled by their file names (one WAV per utterance)
# ---------------------------------------------------------------------------

#: ``parse(match, path)`` -> row fields (``ID``, ``label``, ``speaker``, ...),
#: None for a file that is not part of the corpus; raises ValueError(reason)
#: for a file that should be but cannot be used.
ParseFn = Callable[[re.Match, Path], Optional[Dict[str, Any]]]


@dataclass(frozen=True)
class CorpusFile:
    """One utterance found by its file name, with every copy of it.

    Arguments
    ---------
    key : str
        Utterance ID.
    path : Path
        The copy to use first (non-empty, shallowest, then path order).
    fields : dict
        Row fields parsed from the name (``ID``, ``label``, ...).
    copies : tuple of Path
        The other copies, in the order they are tried.
    """

    key: str
    path: Path
    fields: Dict[str, Any]
    copies: Tuple[Path, ...] = ()


def _stem_id(match: re.Match, path: Path) -> Dict[str, Any]:
    return {"ID": path.stem}


def find_named_files(
    src_dir: PathLike,
    pattern: re.Pattern,
    corpus: str,
    skips: SkipLog,
    parse: Optional[ParseFn] = None,
) -> List[CorpusFile]:
    """Finds a corpus's files by basename at any depth, one entry per utterance.

    Junk is ignored: any path component starting with ``.`` (AppleDouble
    ``._x.wav``, ``.DS_Store``) and ``__MACOSX/``. Files whose basename does
    not match ``pattern`` (or that ``parse`` rejects with None) are not part
    of the corpus. Copies of one utterance (duplicate trees of mirrors, both
    layouts of one corpus) are kept once: non-empty first, then the
    shallowest, then in path order; the others stay available as fallbacks
    (see :func:`probe_first`) and are logged in one line.

    Arguments
    ---------
    src_dir : str or path
        Folder to search recursively.
    pattern : re.Pattern
        Matched against each basename (``pattern.match``).
    corpus : str
        Corpus name for messages.
    skips : SkipLog
        Receives files ``parse`` refuses (ValueError) with the reason.
    parse : callable, optional
        ``parse(match, path) -> fields`` (``ID`` and the row's other
        fields), None to ignore the file, ValueError to report it;
        default: ``{"ID": stem}``.

    Returns
    -------
    list of CorpusFile
        Sorted by ID.

    Example
    -------
    >>> import re, tempfile
    >>> src = Path(tempfile.mkdtemp())
    >>> for rel in ["a/x1.wav", "a/copy/x1.wav", "a/._x2.wav", "b/x2.wav", "b/notes.txt"]:
    ...     (src / rel).parent.mkdir(parents=True, exist_ok=True)
    ...     _ = (src / rel).write_bytes(b"RIFF")
    >>> files = find_named_files(src, re.compile(r"^x\\d\\.wav$"), "demo", SkipLog("demo"))
    >>> [(f.key, f.path.relative_to(src).as_posix(), len(f.copies)) for f in files]
    [('x1', 'a/x1.wav', 1), ('x2', 'b/x2.wav', 0)]
    """
    src = Path(src_dir)
    parse = parse or _stem_id
    groups: Dict[str, List[Tuple[Tuple, Path, Dict[str, Any]]]] = {}
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if not is_hidden_path(d))
        for name in sorted(filenames):
            match = pattern.match(name)
            if is_hidden_path(name) or match is None:
                continue
            path = Path(dirpath) / name
            try:
                fields = parse(match, path)
            except ValueError as error:
                skips.add(path, str(error))
                continue
            if fields is None:
                continue
            try:
                empty = path.stat().st_size == 0
            except OSError:  # a broken symlink: tried last, reported by the probe
                empty = True
            rel = path.relative_to(src)
            order = (empty, len(rel.parts), rel.as_posix())
            groups.setdefault(str(fields["ID"]), []).append((order, path, fields))
    files = []
    for key in sorted(groups):
        ranked = sorted(groups[key], key=lambda item: item[0])
        files.append(
            CorpusFile(key, ranked[0][1], ranked[0][2], tuple(item[1] for item in ranked[1:]))
        )
    _log_duplicates(corpus, src, files)
    return files


def _log_duplicates(corpus: str, src: Path, files: Sequence[CorpusFile]) -> None:
    duplicated = [f for f in files if f.copies]
    if not duplicated:
        return
    first = duplicated[0]
    logger.info(
        "%s: %d file(s) found in more than one copy under %s (duplicate trees); "
        "using one copy of each, e.g. %s (also %s)",
        corpus,
        len(duplicated),
        src,
        first.path,
        ", ".join(str(p) for p in first.copies),
    )


def probe_first(
    found: CorpusFile,
    decode: bool,
    skips: SkipLog,
    probe: Optional[Callable[[Path], float]] = None,
) -> Optional[Tuple[Path, float]]:
    """The first usable copy of an utterance and its duration.

    Every unusable copy tried is recorded in ``skips`` (when a later copy
    works, the reason says which one was used instead).

    Arguments
    ---------
    found : CorpusFile
        The utterance and its copies.
    decode : bool
        Decode all samples instead of reading the header only.
    skips : SkipLog
        Receives the unusable copies.
    probe : callable, optional
        ``probe(path) -> seconds`` raising AudioError, instead of
        :func:`probe_audio` (e.g. a decoder of another format).

    Returns
    -------
    (Path, float) or None
        The copy and its duration in seconds; None when no copy is usable.

    Example
    -------
    >>> import tempfile, torch
    >>> from emotion2vec.audio import write_audio
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "a.wav").write_bytes(b"broken")
    >>> write_audio(root / "copy" / "a.wav", torch.zeros(8000))
    >>> skips = SkipLog("demo")
    >>> path, seconds = probe_first(CorpusFile("a", root / "a.wav", {}, (root / "copy" / "a.wav",)), False, skips)
    >>> path.parent.name, seconds, len(skips)
    ('copy', 0.5, 1)
    """
    failed: List[AudioError] = []
    for path in (found.path, *found.copies):
        try:
            duration = probe(path) if probe else probe_audio(path, decode=decode)
        except AudioError as error:
            failed.append(error)
            continue
        for error in failed:
            skips.add(error.path, f"{error.problem} (used the copy {path} instead)")
        return path, duration
    for error in failed:
        skips.add_audio_error(error)
    return None


@dataclass(frozen=True)
class FileNameCorpus:
    """What :func:`prepare_by_file_name` needs to know about a corpus.

    Arguments
    ---------
    name : str
        Display name for messages (``"SAVEE"``).
    csv_name : str
        Manifest file name (``"savee.csv"``).
    pattern : re.Pattern
        Basename of an utterance file.
    parse : callable
        ``parse(match, path) -> fields`` (see :func:`find_named_files`);
        the fields hold ``ID``, ``label``, ``speaker`` and optionally
        ``gender``, ``session`` and the ``extra_columns``.
    expected : mapping
        Per-class utterance counts of the complete release.
    extra_columns : tuple of str
        Columns written after :data:`MANIFEST_COLUMNS`.
    name_hint : str
        How the files are named, for the "nothing found" message.
    """

    name: str
    csv_name: str
    pattern: re.Pattern
    parse: ParseFn
    expected: Mapping[str, int]
    extra_columns: Tuple[str, ...] = ()
    name_hint: str = ""


def prepare_by_file_name(
    spec: FileNameCorpus,
    src_dir: PathLike,
    out_dir: PathLike,
    maker: str,
    decode_audio: bool = False,
) -> Path:
    """Writes ``OUT_DIR/<csv_name>`` for a corpus labelled by its file names.

    Files are found by basename at any depth (:func:`find_named_files`:
    junk skipped, duplicate copies kept once), checked by reading their
    header (or decoding them), and every unusable file is reported and
    skipped. Audio stays where it is; ``emotion2vec.audio`` downmixes and
    resamples to 16 kHz when it is read. Class counts are compared with the
    release's when as many utterances were found by name as the release
    has (a partial copy only gets its own counts). A second call reuses the
    CSV; one that was not written by the same call is never overwritten.

    Arguments
    ---------
    spec : FileNameCorpus
        The corpus.
    src_dir : str or path
        Folder the corpus was extracted into.
    out_dir : str or path
        Output folder.
    maker : str
        Name of the corpus's preparation function (recorded in the marker).
    decode_audio : bool
        Decode every file to check it instead of reading headers.

    Returns
    -------
    Path
        The manifest CSV.

    Raises
    ------
    PrepError
        ``src_dir`` is not a folder, no usable file was found, or the CSV
        must not be overwritten.

    Example
    -------
    >>> import re, tempfile, torch
    >>> from emotion2vec.audio import write_audio
    >>> src = Path(tempfile.mkdtemp()) / "corpus"
    >>> write_audio(src / "s1" / "s1_hap.wav", torch.zeros(16000))
    >>> spec = FileNameCorpus(
    ...     "Demo", "demo.csv", re.compile(r"^(s\\d)_(hap|sad)\\.wav$"),
    ...     lambda m, p: {"ID": p.stem, "label": m.group(2), "speaker": m.group(1)},
    ...     expected={"hap": 10, "sad": 10})
    >>> csv_path = prepare_by_file_name(spec, src, src.parent / "out", "demo")
    >>> print(csv_path.read_text().splitlines()[1])  # doctest: +ELLIPSIS
    s1_hap,/.../s1_hap.wav,1.00000,hap,s1,,
    """
    src = Path(src_dir)
    if not src.is_dir():
        raise PrepError(f"{spec.name}: source folder {src} does not exist or is not a folder")
    csv_path = Path(out_dir) / spec.csv_name
    options = {"source": os.path.abspath(src), "decode_audio": bool(decode_audio)}
    if check_prepared(csv_path, maker, options):
        return csv_path
    skips = SkipLog(spec.name)
    files = find_named_files(src, spec.pattern, spec.name, skips, spec.parse)
    rows = []
    for found in files:
        usable = probe_first(found, decode_audio, skips)
        if usable is not None:
            path, duration = usable
            fields = {"gender": "", "session": "", **found.fields}
            rows.append(dict(fields, wav=os.path.abspath(path), duration=duration))
    skips.log_summary()
    if not rows:
        raise PrepError(
            f"{spec.name}: no usable audio file named like {spec.name_hint or spec.pattern.pattern} "
            f"under {src} ({len(skips)} skipped; see the warnings above)"
        )
    summary = release_summary(spec.name, rows, spec.expected, len(files))
    summary["skipped"] = [list(item) for item in skips.items]
    write_manifest(csv_path, rows, maker, options, spec.extra_columns, summary)
    logger.info("%s: wrote %d utterances to %s", spec.name, len(rows), csv_path)
    return csv_path


def release_summary(
    corpus: str,
    rows: Sequence[Mapping[str, Any]],
    expected: Mapping[str, int],
    found: int,
    title: str = "",
) -> Dict[str, Any]:
    """Logs the class counts, against the release's when it was all found.

    Arguments
    ---------
    corpus : str
        Corpus name for messages.
    rows : sequence of mapping
        The usable rows (``label`` and ``speaker`` columns).
    expected : mapping
        Per-class counts of the complete release.
    found : int
        Utterances found (by name or annotation) before checking the audio;
        counts are compared only when ``found`` reaches the release's total.
    title : str
        What was counted (e.g. ``"split train"``).

    Returns
    -------
    dict
        ``utterances``, ``per_class``, ``per_speaker`` and
        ``compared_to_release`` for the marker summary.

    Example
    -------
    >>> rows = [dict(label="hap", speaker="s1"), dict(label="sad", speaker="s1")]
    >>> release_summary("demo", rows, {"hap": 5, "sad": 5}, found=2)["compared_to_release"]
    False
    """
    per_class = count_by(rows, "label")
    release = sum(expected.values())
    compared = found >= release
    if compared:
        log_counts(corpus, per_class, expected, title)
    else:
        log_counts(corpus, per_class, None, title)
        logger.info(
            "%s%s: %d of the release's %d utterances found (a partial copy); "
            "counts not compared with the release",
            corpus, f" {title}" if title else "", found, release,
        )
    return {
        "utterances": len(rows),
        "per_class": per_class,
        "per_speaker": count_by(rows, "label", group="speaker"),
        "compared_to_release": compared,
    }
