"""Corpus preparation: one module per corpus, found through a registry.

Each corpus module defines ``prepare_<corpus>(src_dir, out_dir, **options)``
that writes ``OUT_DIR/<corpus>.csv`` (see :mod:`emotion2vec.corpora.manifest`
for the manifest format and the re-run rules) and registers it under a
short name with :func:`register_corpus`::

    from emotion2vec.corpora import prepare_corpus
    csv_path = prepare_corpus("iemocap", "/data/IEMOCAP_full_release", "results/data")

Authors
 * emotion2vec-sb contributors
"""

import inspect
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

PathLike = Union[str, os.PathLike]
PrepareFn = Callable[..., Path]


@dataclass(frozen=True)
class CorpusInfo:
    """A registered corpus: its preparation function and its facts.

    The facts are what a recipe needs beyond the manifest and are stated
    here once, so that a recipe variant only states what it changes.

    Arguments
    ---------
    name : str
        Lower-case registry name (``emotion2vec prepare NAME``).
    prepare : callable
        ``prepare(src_dir, out_dir, **options) -> Path`` (the manifest CSV).
    labels : tuple of str
        Head output order of the corpus's standard task (the paper's
        classes); empty when the classes are whatever the corpus holds.
    protocols : mapping
        Evaluation protocol name -> default ``fold_options`` (see
        ``emotion2vec.downstream.folds.make_folds``); the first is the
        paper's protocol, used when a recipe gives none.
    value_column : str or None
        A numeric manifest column worth a second colouring of embedding
        plots (IEMOCAP's ``arousal``).

    Example
    -------
    >>> info = corpus_info("iemocap")
    >>> info.labels, info.default_protocol
    (('ang', 'hap', 'neu', 'sad'), 'loso_session')
    """

    name: str
    prepare: PrepareFn
    labels: Tuple[str, ...] = ()
    protocols: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    value_column: Optional[str] = None

    @property
    def default_protocol(self) -> Optional[str]:
        """The paper's protocol (the first registered), or None."""
        return next(iter(self.protocols), None)

    def fold_options(self, protocol: str) -> Dict[str, Any]:
        """Default fold options of ``protocol`` (a copy; empty if unknown)."""
        return dict(self.protocols.get(protocol, {}))

    @property
    def options(self) -> Dict[str, Any]:
        """The preparation's options (keyword parameters after ``src_dir, out_dir``)
        with their defaults; ``{"**": None}`` when it takes any keyword."""
        parameters = list(inspect.signature(self.prepare).parameters.values())[2:]
        return {
            ("**" if p.kind is p.VAR_KEYWORD else p.name):
                (None if p.default is p.empty else p.default)
            for p in parameters
            if p.kind is not p.VAR_POSITIONAL
        }


CORPORA: Dict[str, CorpusInfo] = {}
"""Registered corpora: name -> :class:`CorpusInfo`."""


def register_corpus(
    name: str,
    labels: Sequence[str] = (),
    protocols: Optional[Mapping[str, Mapping[str, Any]]] = None,
    value_column: Optional[str] = None,
) -> Callable[[PrepareFn], PrepareFn]:
    """Decorator registering a corpus preparation function and its facts.

    Arguments
    ---------
    name : str
        Lower-case corpus name used by :func:`prepare_corpus`.
    labels : sequence of str
        Head output order of the standard task (see :class:`CorpusInfo`).
    protocols : mapping, optional
        Protocol name -> default fold options; the first is the default.
    value_column : str, optional
        Numeric manifest column for a second plot colouring.

    Returns
    -------
    callable
        The decorator (it returns the function unchanged).

    Example
    -------
    >>> @register_corpus("doctest_demo", labels=["a", "b"], protocols={"random_kfold": {"k": 5}})
    ... def prepare_demo(src_dir, out_dir):
    ...     return Path(out_dir) / "demo.csv"
    >>> prepare_corpus("doctest_demo", "src", "out").as_posix()
    'out/demo.csv'
    >>> corpus_info("doctest_demo").fold_options("random_kfold")
    {'k': 5}
    >>> _ = CORPORA.pop("doctest_demo")
    """
    key = name.lower()

    def decorator(function: PrepareFn) -> PrepareFn:
        if key in CORPORA and CORPORA[key].prepare is not function:
            raise ValueError(
                f"corpus {key!r} is already registered by {CORPORA[key].prepare.__module__}"
            )
        CORPORA[key] = CorpusInfo(
            name=key,
            prepare=function,
            labels=tuple(str(label) for label in labels),
            protocols={p: dict(o) for p, o in (protocols or {}).items()},
            value_column=value_column,
        )
        return function

    return decorator


def corpus_info(name: str) -> CorpusInfo:
    """The registration of corpus ``name`` (case-insensitive).

    Arguments
    ---------
    name : str
        Registered corpus name.

    Returns
    -------
    CorpusInfo

    Raises
    ------
    ValueError
        Unknown corpus name (the message lists the known ones).

    Example
    -------
    >>> corpus_info("ravdess").labels[:3]
    ('neutral', 'calm', 'happy')
    """
    key = str(name).lower()
    if key not in CORPORA:
        known = ", ".join(sorted(CORPORA)) or "(none)"
        raise ValueError(f"unknown corpus {name!r}; known corpora: {known}")
    return CORPORA[key]


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
        Corpus-specific options, passed to the corpus function (see
        :attr:`CorpusInfo.options`).

    Returns
    -------
    Path
        The manifest CSV.

    Raises
    ------
    ValueError
        Unknown corpus name or an option the corpus does not have (the
        message lists the known ones).

    Example
    -------
    >>> prepare_corpus("no_such_corpus", "src", "out")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown corpus 'no_such_corpus'; known corpora: ...iemocap...
    >>> prepare_corpus("resd", "src", "out", fomr="csv")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: corpus 'resd' has no option 'fomr'; its options: form ('auto'), decode_audio ...
    """
    info = corpus_info(name)
    known = info.options
    unknown = [key for key in kwargs if key not in known]
    if unknown and "**" not in known:
        listed = ", ".join(f"{key} ({value!r})" for key, value in known.items()) or "none"
        raise ValueError(
            f"corpus {info.name!r} has no option {unknown[0]!r}; its options: {listed}"
        )
    return info.prepare(src_dir, out_dir, **kwargs)


# Corpus modules register themselves on import.
from emotion2vec.corpora import (  # noqa: E402,F401
    aesdd,
    cafe,
    custom,
    emodb,
    emovo,
    iemocap,
    m3ed,
    mead,
    meld,
    mosei,
    mosi,
    msp_podcast,
    ravdess,
    ravdess_song,
    resd,
    savee,
    shemo,
    subesco,
    urdu,
)
