"""Finding a corpus's files: the corpus folder, files by name, the usable copy.

* :func:`find_corpus_root` locates the corpus folder even when the user's
  folder holds it one to three levels deeper (zip and mirror wrappers).
* :func:`scan_files` walks a folder at any depth for basenames matching a
  pattern, junk skipped (``._x.wav``, ``.DS_Store``, ``__MACOSX/``, any
  hidden entry), symlinked folders followed once.
* :func:`find_named_files` groups what it finds by utterance (a
  :class:`CorpusFile` per ID, its copies in preference order: shallowest
  first, then path order), and :func:`probe_first` takes the first usable
  copy, recording unusable copies and ignored duplicates in the
  :class:`~emotion2vec.corpora.common.SkipLog`.
* :func:`probe_audio` checks one audio file and :func:`write_bytes_once`
  writes audio a preparation extracts into its output folder without ever
  overwriting.

Authors
 * emotion2vec-sb contributors
"""

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from emotion2vec.audio import AudioError, audio_info, is_hidden_path, read_audio
from emotion2vec.corpora.common import PrepError, SkipLog
from emotion2vec.fileutils import PathLike, staged_file

logger = logging.getLogger(__name__)



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



def scan_files(src_dir: PathLike, pattern: re.Pattern) -> List[Tuple[Path, re.Match]]:
    """Files anywhere under ``src_dir`` whose basename matches ``pattern``.

    Hidden entries (``._x.wav``, ``.DS_Store``, ``.cache/``) and
    ``__MACOSX/`` are never returned; symlinked folders are followed, each
    real folder once (a link loop or a second link to one folder adds
    nothing).

    Arguments
    ---------
    src_dir : str or path
        Folder searched recursively.
    pattern : re.Pattern
        Compiled regex applied with ``match`` to each basename (anchor it
        with ``$``).

    Returns
    -------
    list of (Path, re.Match)
        Sorted by path.

    Example
    -------
    >>> import tempfile
    >>> src = Path(tempfile.mkdtemp())
    >>> for name in ("a/F01.wav", "a/._F01.wav", "__MACOSX/a/F02.wav", "b/notes.txt"):
    ...     (src / name).parent.mkdir(parents=True, exist_ok=True)
    ...     _ = (src / name).write_bytes(b"x")
    >>> [(p.relative_to(src).as_posix(), m.group(1))
    ...  for p, m in scan_files(src, re.compile(r"^F(\\d+)\\.wav$"))]
    [('a/F01.wav', '01')]
    """
    found = []
    visited = set()
    for dirpath, dirnames, filenames in os.walk(src_dir, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in visited:
            dirnames[:] = []
            continue
        visited.add(real)
        dirnames[:] = sorted(d for d in dirnames if not is_hidden_path(d))
        for name in filenames:
            if is_hidden_path(name):
                continue
            match = pattern.match(name)
            if match:
                found.append((Path(dirpath) / name, match))
    return sorted(found, key=lambda item: str(item[0]))


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
        The copy to use first (the shallowest, then in path order).
    fields : dict
        Row fields parsed from the name (``ID``, ``label``, ...).
    copies : tuple of Path
        The other copies, in the order they are tried.

    Example
    -------
    >>> found = CorpusFile("u1", Path("a/u1.wav"), {"ID": "u1"}, (Path("a/b/u1.wav"),))
    >>> [p.as_posix() for p in found.paths]
    ['a/u1.wav', 'a/b/u1.wav']
    """

    key: str
    path: Path
    fields: Dict[str, Any]
    copies: Tuple[Path, ...] = ()

    @property
    def paths(self) -> Tuple[Path, ...]:
        """Every copy in preference order (:attr:`path` first)."""
        return (self.path, *self.copies)


def _stem_id(match: re.Match, path: Path) -> Dict[str, Any]:
    return {"ID": path.stem}


def find_named_files(
    src_dir: PathLike,
    pattern: re.Pattern,
    corpus: str,
    skips: Optional[SkipLog] = None,
    parse: Optional[ParseFn] = None,
) -> List[CorpusFile]:
    """Finds a corpus's files by basename at any depth, one entry per utterance.

    Junk is ignored (see :func:`scan_files`). Files whose basename does not
    match ``pattern`` (or that ``parse`` rejects with None) are not part of
    the corpus. Copies of one utterance (duplicate trees of mirrors, both
    layouts of one corpus) are grouped: the shallowest first (a duplicated
    tree usually nests the copy deeper or in a mirror folder), then in path
    order; the others stay available as fallbacks (see :func:`probe_first`)
    and are logged in one line.

    Arguments
    ---------
    src_dir : str or path
        Folder to search recursively.
    pattern : re.Pattern
        Matched against each basename (``pattern.match``).
    corpus : str
        Corpus name for messages.
    skips : SkipLog, optional
        Receives files ``parse`` refuses (ValueError) with the reason
        (default: a new log, so they are only logged).
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
    >>> import tempfile
    >>> src = Path(tempfile.mkdtemp())
    >>> for rel in ["a/x1.wav", "a/copy/x1.wav", "a/._x2.wav", "b/x2.wav", "b/notes.txt"]:
    ...     (src / rel).parent.mkdir(parents=True, exist_ok=True)
    ...     _ = (src / rel).write_bytes(b"RIFF")
    >>> files = find_named_files(src, re.compile(r"^x\\d\\.wav$"), "demo")
    >>> [(f.key, f.path.relative_to(src).as_posix(), len(f.copies)) for f in files]
    [('x1', 'a/x1.wav', 1), ('x2', 'b/x2.wav', 0)]
    """
    src = Path(src_dir)
    parse = parse or _stem_id
    skips = SkipLog(corpus) if skips is None else skips
    groups: Dict[str, List[Tuple[Tuple, Path, Dict[str, Any]]]] = {}
    for path, match in scan_files(src, pattern):
        try:
            fields = parse(match, path)
        except ValueError as error:
            skips.add(path, str(error))
            continue
        if fields is None:
            continue
        rel = path.relative_to(src)
        order = (len(rel.parts), rel.as_posix())
        groups.setdefault(str(fields["ID"]), []).append((order, path, fields))
    files = []
    for key in sorted(groups):
        ranked = sorted(groups[key], key=lambda item: item[0])
        files.append(
            CorpusFile(key, ranked[0][1], ranked[0][2], tuple(item[1] for item in ranked[1:]))
        )
    _log_duplicates(corpus, src, files)
    return files


WAV_PATTERN = re.compile(r"^.+\.wav$", re.IGNORECASE)
"""Any WAV file name."""


def _basename_id(match: re.Match, path: Path) -> Dict[str, Any]:
    return {"ID": path.name}


def index_files(
    src_dir: PathLike,
    corpus: str,
    pattern: re.Pattern = WAV_PATTERN,
    skips: Optional[SkipLog] = None,
) -> Dict[str, Tuple[Path, ...]]:
    """Basename -> every copy of the files matching ``pattern`` (preference order).

    For corpora whose annotation names the files (RESD's CSVs, M3ED's
    JSON): look a file up by name wherever it was extracted. Junk and
    copies are handled as in :func:`find_named_files`.

    Arguments
    ---------
    src_dir : str or path
        Folder searched recursively.
    corpus : str
        Corpus name for messages.
    pattern : re.Pattern
        Basenames to index (default: any ``.wav``).
    skips : SkipLog, optional
        Passed to :func:`find_named_files`.

    Returns
    -------
    dict
        ``{basename: (path, copies...)}``.

    Example
    -------
    >>> import tempfile
    >>> src = Path(tempfile.mkdtemp())
    >>> for name in ("copy/x/A_1.wav", "x/A_1.wav", "x/._A_1.wav"):
    ...     (src / name).parent.mkdir(parents=True, exist_ok=True)
    ...     _ = (src / name).write_bytes(b"x")
    >>> {k: [p.relative_to(src).as_posix() for p in v] for k, v in index_files(src, "demo").items()}
    {'A_1.wav': ['x/A_1.wav', 'copy/x/A_1.wav']}
    """
    found = find_named_files(src_dir, pattern, corpus, skips, _basename_id)
    return {item.key: item.paths for item in found}


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
    paths: Sequence[PathLike],
    skips: SkipLog,
    decode: bool = False,
    probe: Optional[Callable[[Path], float]] = None,
) -> Optional[Tuple[Path, float]]:
    """The first usable copy of an utterance and its duration.

    Every unusable copy tried is recorded in ``skips`` (when a later copy
    works, the reason says which one was used instead); the copies after
    the one used are recorded as duplicates.

    Arguments
    ---------
    paths : sequence of path
        The copies in preference order (e.g. :attr:`CorpusFile.paths`).
    skips : SkipLog
        Receives the unusable copies and the ignored duplicates.
    decode : bool
        Decode all samples instead of reading the header only.
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
    >>> write_audio(root / "copy" / "copy" / "a.wav", torch.zeros(8000))
    >>> skips = SkipLog("demo")
    >>> copies = [root / "a.wav", root / "copy" / "a.wav", root / "copy" / "copy" / "a.wav"]
    >>> path, seconds = probe_first(copies, skips)
    >>> path.parent.name, seconds, len(skips), len(skips.duplicates)
    ('copy', 0.5, 1, 1)
    """
    paths = [Path(p) for p in paths]
    failed: List[AudioError] = []
    for position, path in enumerate(paths):
        try:
            duration = probe(path) if probe else probe_audio(path, decode=decode)
        except AudioError as error:
            failed.append(error)
            continue
        for error in failed:
            skips.add(error.path, f"{error.problem} (used the copy {path} instead)")
        for other in paths[position + 1:]:
            skips.add_duplicate(other, path)
        return path, duration
    for error in failed:
        skips.add_audio_error(error)
    return None


def write_bytes_once(path: PathLike, data: bytes) -> bool:
    """Writes ``data`` to ``path`` (staged) unless the file already holds it.

    Used for audio a preparation extracts into its output folder, so that a
    re-run reuses the files and an interruption never leaves half a file.

    Arguments
    ---------
    path : str or path
        Destination file.
    data : bytes
        Content.

    Returns
    -------
    bool
        True when written, False when the identical file was already there.

    Raises
    ------
    PrepError
        ``path`` exists with other content (never overwritten).

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a" / "x.wav"
    >>> write_bytes_once(path, b"RIFF"), write_bytes_once(path, b"RIFF")
    (True, False)
    """
    path = Path(path)
    if path.exists():
        if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
        raise PrepError(
            f"{path} exists with other content; refusing to overwrite it. Choose another "
            "output folder, or delete it to prepare again."
        )
    with staged_file(path) as tmp:
        tmp.write_bytes(data)
    return True
