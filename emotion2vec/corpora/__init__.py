"""Corpus preparation: one module per corpus, found through a registry.

Each corpus module defines ``prepare_<corpus>(src_dir, out_dir, **options)``
that writes ``OUT_DIR/<corpus>.csv`` (see :mod:`emotion2vec.corpora.common`
for the manifest format and the re-run rules) and registers it under a
short name with :func:`register_corpus`::

    from emotion2vec.corpora import prepare_corpus
    csv_path = prepare_corpus("iemocap", "/data/IEMOCAP_full_release", "results/data")

Authors
 * emotion2vec-sb contributors
"""

import os
from pathlib import Path
from typing import Callable, Dict, Union

PathLike = Union[str, os.PathLike]
PrepareFn = Callable[..., Path]

CORPORA: Dict[str, PrepareFn] = {}
"""Registered corpora: name -> ``prepare(src_dir, out_dir, **options) -> Path``."""


def register_corpus(name: str) -> Callable[[PrepareFn], PrepareFn]:
    """Decorator registering a corpus preparation function under ``name``.

    Arguments
    ---------
    name : str
        Lower-case corpus name used by :func:`prepare_corpus`.

    Returns
    -------
    callable
        The decorator (it returns the function unchanged).

    Example
    -------
    >>> @register_corpus("doctest_demo")
    ... def prepare_demo(src_dir, out_dir):
    ...     return Path(out_dir) / "demo.csv"
    >>> prepare_corpus("doctest_demo", "src", "out").as_posix()
    'out/demo.csv'
    >>> _ = CORPORA.pop("doctest_demo")
    """
    key = name.lower()

    def decorator(function: PrepareFn) -> PrepareFn:
        if key in CORPORA and CORPORA[key] is not function:
            raise ValueError(
                f"corpus {key!r} is already registered by {CORPORA[key].__module__}"
            )
        CORPORA[key] = function
        return function

    return decorator


def prepare_corpus(name: str, src_dir: PathLike, out_dir: PathLike, **kwargs) -> Path:
    """Prepares a registered corpus and returns its manifest CSV.

    Arguments
    ---------
    name : str
        Registered corpus name (case-insensitive), e.g. ``"iemocap"``.
    src_dir : str or path
        Folder holding the corpus as downloaded and extracted.
    out_dir : str or path
        Folder for the manifest (and any converted audio).
    **kwargs
        Corpus-specific options, passed to the corpus function.

    Returns
    -------
    Path
        The manifest CSV.

    Raises
    ------
    ValueError
        Unknown corpus name (the message lists the known ones).

    Example
    -------
    >>> prepare_corpus("no_such_corpus", "src", "out")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown corpus 'no_such_corpus'; known corpora: ...iemocap...
    """
    key = name.lower()
    if key not in CORPORA:
        known = ", ".join(sorted(CORPORA)) or "(none)"
        raise ValueError(f"unknown corpus {name!r}; known corpora: {known}")
    return CORPORA[key](src_dir, out_dir, **kwargs)


# Corpus modules register themselves on import.
from emotion2vec.corpora import iemocap, ravdess  # noqa: E402,F401
