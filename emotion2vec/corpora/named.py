"""The preparation of a corpus labelled by its file names (one file per utterance).

A corpus module states its facts in a :class:`FileNameCorpus` (file-name
pattern, parser, release counts, extra columns) and its preparation
function calls :func:`prepare_by_file_name`, which does the rest: files
found by name at any depth (junk skipped, duplicate copies kept once, see
:mod:`emotion2vec.corpora.files`), every unusable file reported and
skipped, class counts compared with the release's for a complete copy,
and the manifest written with its marker (see
:mod:`emotion2vec.corpora.manifest`). Audio stays where it is;
``emotion2vec.audio`` downmixes and resamples to 16 kHz when it is read.

Authors
 * emotion2vec-sb contributors
"""

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from emotion2vec.corpora.common import PrepError, SkipLog
from emotion2vec.corpora.files import ParseFn, find_named_files, probe_first
from emotion2vec.corpora.manifest import audio_row, check_prepared, finish_manifest
from emotion2vec.fileutils import PathLike

#: ``check_rows(src_dir, rows, skips)``: a corpus-specific check after the
#: files are collected (e.g. report annotated files that have no audio).
CheckRowsFn = Callable[[Path, List[Dict[str, Any]], SkipLog], None]


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
        Basename of an utterance file (``pattern.match``, anchored).
    parse : callable
        ``parse(match, path) -> fields`` (see
        :func:`~emotion2vec.corpora.files.find_named_files`): ``ID``,
        ``label``, ``speaker`` and optionally ``gender``, ``session`` and
        the ``extra_columns``; None ignores the file, ValueError reports it.
    expected : mapping
        Per-class utterance counts of the complete release.
    extra_columns : tuple of str
        Columns written after the standard manifest columns.
    name_hint : str
        How the files are named, for the "nothing found" message.
    check_rows : callable, optional
        ``check_rows(src_dir, rows, skips)``, run after collection.

    Example
    -------
    >>> spec = FileNameCorpus("Demo", "demo.csv", re.compile(r"^x[.]wav$"),
    ...                       lambda match, path: {"ID": "x", "label": "neu"}, {"neu": 1})
    >>> spec.csv_name, spec.extra_columns
    ('demo.csv', ())
    """

    name: str
    csv_name: str
    pattern: re.Pattern
    parse: ParseFn
    expected: Mapping[str, int]
    extra_columns: Tuple[str, ...] = ()
    name_hint: str = ""
    check_rows: Optional[CheckRowsFn] = None


def prepare_by_file_name(
    spec: FileNameCorpus,
    src_dir: PathLike,
    out_dir: PathLike,
    maker: str,
    decode_audio: bool = False,
    compare_to_release: Optional[bool] = None,
) -> Path:
    """Writes ``OUT_DIR/<csv_name>`` for a corpus labelled by its file names.

    Files are found by basename at any depth (junk skipped, duplicate
    copies grouped), each utterance's first usable copy is taken (its
    header read, or all of it decoded), and every unusable file is
    reported and skipped. Class counts are compared with the release's
    when at least 90 % of its utterances were found by name (a partial
    copy only gets its own counts). A second call with the same options
    reuses the CSV; one that was not written by the same call is never
    overwritten.

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
    compare_to_release : bool, optional
        Force (True) or suppress (False) the comparison of the class counts
        with the release's; None: only for a complete copy.

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
    >>> import tempfile, torch
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
    hint = spec.name_hint or spec.pattern.pattern
    if not files and not skips:
        raise PrepError(f"{spec.name}: no file named like {hint} under {src}")
    rows = []
    for found in files:
        usable = probe_first(found.paths, skips, decode_audio)
        if usable is not None:
            rows.append(audio_row(found.fields, *usable))
    if spec.check_rows is not None:
        spec.check_rows(src, rows, skips)
    if not rows:
        skips.log_summary()
        raise PrepError(
            f"{spec.name}: no usable audio file named like {hint} under {src} "
            f"({len(skips)} skipped; see the warnings above)"
        )
    return finish_manifest(
        csv_path, rows, maker, options, spec.name, skips, spec.extra_columns,
        expected=spec.expected, found=len(files), compare=compare_to_release,
    )
