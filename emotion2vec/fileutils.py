"""Small file helpers shared by preparation, conversion and caching.

Outputs are written through :func:`staged_folder` / :func:`staged_file`:
assembled next to their destination and moved into place only when
complete, so an error or an interruption never leaves a half-written
folder or file behind; :func:`check_replaceable` decides whether an
existing output folder may be replaced.

``PathLike`` is defined here for the whole package (``emotion2vec.audio``
keeps its own: it imports nothing of the package).

Authors
 * emotion2vec-sb contributors
"""

import contextlib
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Collection, Iterator, Type, Union

PathLike = Union[str, os.PathLike]
"""A path given as a string or a path object."""


def sha256_file(path: PathLike) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks.

    Arguments
    ---------
    path : str or path
        The file.

    Returns
    -------
    str
        Hex digest.

    Example
    -------
    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "x"
    >>> _ = f.write_bytes(b"abc")
    >>> sha256_file(f)[:12]
    'ba7816bf8f01'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_replaceable(
    out_dir: PathLike, overwrite: bool, known: Collection[str], error: Type[Exception] = ValueError
) -> None:
    """Refuses to replace an output folder unless asked to and it is ours.

    An empty or missing folder is always fine; a non-empty one only with
    ``overwrite`` and only if every entry is a name this tool writes.

    Arguments
    ---------
    out_dir : str or path
        The output folder.
    overwrite : bool
        Whether the user asked to replace it.
    known : collection of str
        Entry names the tool writes there.
    error : type
        Exception raised (with a one-line message) when it must not be replaced.

    Example
    -------
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "notes.txt").write_text("mine")
    >>> check_replaceable(root, True, {"model.ckpt"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: ... holds files this tool did not write (notes.txt); refusing to replace it
    """
    out_dir = Path(out_dir)
    if not out_dir.exists() or not any(out_dir.iterdir()):
        return
    if not overwrite:
        raise error(
            f"{out_dir} already exists and is not empty; pass --overwrite "
            "(or overwrite=True) to replace it"
        )
    foreign = sorted(p.name for p in out_dir.iterdir() if p.name not in known)
    if foreign:
        raise error(
            f"{out_dir} holds files this tool did not write ({', '.join(foreign)}); "
            "refusing to replace it"
        )


@contextlib.contextmanager
def staged_folder(out_dir: PathLike) -> Iterator[Path]:
    """A temporary sibling of ``out_dir`` that replaces it on success.

    On an exception the staging folder is removed and ``out_dir`` is left
    as it was. Checking whether ``out_dir`` may be replaced is the
    caller's job.

    Arguments
    ---------
    out_dir : str or path
        The destination folder.

    Yields
    ------
    Path
        The (empty) staging folder to write into.

    Example
    -------
    >>> root = Path(tempfile.mkdtemp())
    >>> with staged_folder(root / "out") as tmp:
    ...     _ = (tmp / "a.txt").write_text("done")
    >>> sorted(p.name for p in root.iterdir()), (root / "out" / "a.txt").read_text()
    (['out'], 'done')
    >>> try:
    ...     with staged_folder(root / "other") as tmp:
    ...         raise RuntimeError("stopped half way")
    ... except RuntimeError:
    ...     pass
    >>> sorted(p.name for p in root.iterdir())
    ['out']
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        yield tmp
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


@contextlib.contextmanager
def staged_file(path: PathLike) -> Iterator[Path]:
    """A temporary sibling of ``path`` that replaces it on success.

    Arguments
    ---------
    path : str or path
        The destination file (parent folders are created).

    Yields
    ------
    Path
        Where to write (does not exist yet).

    Example
    -------
    >>> root = Path(tempfile.mkdtemp())
    >>> with staged_file(root / "model.onnx") as tmp:
    ...     _ = tmp.write_bytes(b"graph")
    >>> [p.name for p in root.iterdir()]
    ['model.onnx']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    tmp = Path(name)
    tmp.unlink()
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
