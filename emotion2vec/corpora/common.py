"""What every corpus preparation reports: :class:`PrepError` and :class:`SkipLog`.

The corpus preparation helpers are split by job:

* :mod:`emotion2vec.corpora.files` finds a corpus's files (the corpus
  folder, files by name at any depth with junk skipped and duplicate copies
  kept once, the first usable copy of an utterance) and writes extracted
  audio without ever overwriting;
* :mod:`emotion2vec.corpora.manifest` writes and reads the manifest CSV
  (rows sorted by ``ID``, the ``<csv>.prep.json`` marker and the re-run
  rules) and summarises class counts against the release's;
* :mod:`emotion2vec.corpora.named` is the whole preparation of a corpus
  labelled by its file names (a :class:`~emotion2vec.corpora.named.FileNameCorpus`).

This module holds what they all report with: :class:`PrepError` for a
folder or file preparation cannot use, and :class:`SkipLog` for the files
and annotations a preparation leaves out (unusable ones, with the reason,
and ignored duplicate copies).

Authors
 * emotion2vec-sb contributors
"""

import logging
import os
from typing import Any, Dict, List, Tuple

from emotion2vec.audio import AudioError
from emotion2vec.fileutils import PathLike

logger = logging.getLogger(__name__)



class PrepError(ValueError):
    """A corpus folder or output folder that preparation cannot use.

    The message says what is wrong, where, and what to do about it.

    Example
    -------
    >>> str(PrepError("out/iemocap.csv exists"))
    'out/iemocap.csv exists'
    """


class SkipLog:
    """Logs and collects what a preparation left out.

    Two kinds of entries:

    * skips (:meth:`add`): files or annotations that cannot be used, with
      the reason. The first ``max_logged`` are logged one by one (warning
      level); the rest are counted. All stay in :attr:`items`.
    * duplicates (:meth:`add_duplicate`): further copies of an utterance
      that was taken from another copy (duplicate trees, mirrors, an
      annotation repeated). They are usable, so they are only counted in
      the log, and listed in :attr:`duplicates`.

    :meth:`summary` gives both for the marker file.

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
    >>> skips.add_duplicate("copy/b.wav", "b.wav")
    >>> len(skips), skips.summary()
    (1, {'skipped': [['a.wav', 'file not found']], 'duplicates': [['copy/b.wav', 'b.wav']]})
    """

    def __init__(self, corpus: str, max_logged: int = 50):
        self.corpus = corpus
        self.max_logged = max_logged
        self.items: List[Tuple[str, str]] = []
        self.duplicates: List[Tuple[str, str]] = []

    def add(self, what: PathLike, reason: str) -> None:
        """Records (and logs) one skipped file or annotation.

        Arguments
        ---------
        what : str or path
            The file, or ``"<file> (<item>)"`` for an annotation entry.
        reason : str
            Why it cannot be used.
        """
        self.items.append((os.fspath(what), reason))
        if len(self.items) <= self.max_logged:
            logger.warning("%s: skipping %s: %s", self.corpus, os.fspath(what), reason)

    def add_audio_error(self, error: AudioError) -> None:
        """Records an :class:`~emotion2vec.audio.AudioError` (its file and problem)."""
        self.add(error.path, error.problem)

    def add_duplicate(self, copy: PathLike, used: PathLike) -> None:
        """Records that ``copy`` was ignored because ``used`` holds the same utterance.

        Arguments
        ---------
        copy : str or path
            The ignored copy (a file or an annotation reference).
        used : str or path
            What the utterance was taken from.
        """
        self.duplicates.append((os.fspath(copy), os.fspath(used)))

    def __len__(self) -> int:
        return len(self.items)

    def log_summary(self) -> None:
        """Logs the number of skips (and how many were not logged) and of duplicates."""
        if self.duplicates:
            logger.info(
                "%s: %d duplicate copy(ies) ignored (listed in the marker file)",
                self.corpus, len(self.duplicates),
            )
        if not self.items:
            return
        hidden = len(self.items) - self.max_logged
        extra = (
            f" ({hidden} not logged individually; all are listed in the marker file)"
            if hidden > 0
            else ""
        )
        logger.warning("%s: skipped %d item(s)%s", self.corpus, len(self.items), extra)

    def summary(self) -> Dict[str, Any]:
        """``skipped`` and ``duplicates`` as JSON lists for the marker summary.

        Returns
        -------
        dict
        """
        return {
            "skipped": [list(item) for item in self.items],
            "duplicates": [list(item) for item in self.duplicates],
        }
