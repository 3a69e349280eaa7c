"""Pre-training corpora prepared from their downloads (Emo-262 in one command).

:func:`prepare_pretrain_corpora` prepares registered corpora
(:func:`emotion2vec.corpora.prepare_corpus`) from their folders into one
folder each and returns their manifests, which
:func:`emotion2vec.pretrain.manifest.build_pretrain_manifest` then merges
with any plain audio folders. Every listed corpus must have a folder that
exists: the missing ones are all named before anything is prepared, and
the run stops; a corpus whose folder is None is dropped (logged).

:func:`hours_table` compares the prepared corpora with the paper's Table 1
(utterances and hours), with what ``min_duration`` keeps and drops.

Authors
 * emotion2vec-sb contributors
"""

import logging
import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Union

from emotion2vec.corpora.common import PrepError
from emotion2vec.corpora.manifest import read_manifest

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

EMO262 = ("iemocap", "meld", "mead", "mosei", "msp_podcast")
"""The paper's pre-training corpora (262 h), by registry name."""

TABLE1 = {
    "iemocap": (5531, 7.0),
    "meld": (13847, 12.2),
    "mead": (31792, 37.3),
    "mosei": (44977, 91.9),
    "msp_podcast": (72969, 113.5),
}
"""Paper Table 1: corpus -> (utterances, hours). The MELD hours are 262 h
less the other four (12.2); the five utterance counts sum to 169,116
(the paper's total says 169,053)."""

EMO262_OPTIONS = {
    "iemocap": {"keep_all_utterances": False},
    "mosei": {"include_unlabelled": True},
}
"""Preparation options for pre-training as Table 1 counts: IEMOCAP's 5,531
utterances of the 4 classes (``keep_all_utterances=True`` gives all 10,039),
the MOSEI segments without a label too."""


class MissingCorpusError(PrepError):
    """Listed pre-training corpora without a usable folder (all named)."""


def check_pretrain_corpora(
    corpora: Sequence[str], folders: Mapping[str, Optional[PathLike]]
) -> Dict[str, Path]:
    """The corpora to prepare and their folders, or an error naming every problem.

    Arguments
    ---------
    corpora : sequence of str
        Registry names.
    folders : mapping
        Name -> folder; None drops the corpus (logged); a name without an
        entry is an error.

    Returns
    -------
    dict
        Name -> existing folder, in ``corpora`` order.

    Raises
    ------
    MissingCorpusError
        Unknown corpus, no folder entry, or a folder that does not exist
        (the message lists each, and how to drop it).

    Example
    -------
    >>> check_pretrain_corpora(["iemocap", "meld"], {"iemocap": None, "meld": "/no/such/MELD"})
    Traceback (most recent call last):
    ...
    emotion2vec.pretrain.corpora.MissingCorpusError: pre-training corpora not found:
      - meld: folder /no/such/MELD does not exist (--meld_folder=...)
    Give the folder, or drop the corpus: remove it from --pretrain_corpora or set its folder to null (e.g. --meld_folder=null).
    """
    from emotion2vec.corpora import CORPORA

    problems, ready = [], {}
    for name in corpora:
        key = str(name).lower()
        if key in folders and folders[key] is None:
            logger.info("pre-training corpus %s dropped (its folder is null)", key)
            continue
        if key not in CORPORA:
            problems.append(
                f"  - {key}: no such corpus preparation in this installation "
                f"(known: {', '.join(sorted(CORPORA))})"
            )
            continue
        if key not in folders:
            problems.append(f"  - {key}: no folder given (--{key}_folder=...)")
            continue
        folder = folders[key]
        if not Path(folder).is_dir():
            problems.append(f"  - {key}: folder {folder} does not exist (--{key}_folder=...)")
            continue
        ready[key] = Path(folder)
    if problems:
        example = next(
            (line.split(":")[0].strip(" -") for line in problems), "corpus"
        )
        raise MissingCorpusError(
            "pre-training corpora not found:\n" + "\n".join(problems) + "\n"
            "Give the folder, or drop the corpus: remove it from --pretrain_corpora or set "
            f"its folder to null (e.g. --{example}_folder=null)."
        )
    return ready


def prepare_pretrain_corpora(
    corpora: Sequence[str],
    folders: Mapping[str, Optional[PathLike]],
    out_dir: PathLike,
    options: Optional[Mapping[str, Mapping[str, Any]]] = None,
) -> Dict[str, Path]:
    """Prepares each listed corpus into ``out_dir/<name>[+options]/``; returns name -> manifest.

    Arguments
    ---------
    corpora : sequence of str
        Registry names (see :data:`EMO262`).
    folders : mapping
        Name -> download folder (None: drop the corpus).
    out_dir : str or path
        One sub-folder per corpus (a re-run reuses the prepared ones).
    options : mapping, optional
        Name -> preparation options (default :data:`EMO262_OPTIONS`, for
        the corpora listed there).

    Returns
    -------
    dict
        Name -> manifest CSV.
    """
    from emotion2vec.corpora import corpus_info, prepare_corpus

    ready = check_pretrain_corpora(corpora, folders)
    options = EMO262_OPTIONS if options is None else options
    manifests = {}
    for name, folder in ready.items():
        known = corpus_info(name).options
        kwargs = {k: v for k, v in dict(options.get(name) or {}).items()}
        unknown = [k for k in kwargs if k not in known]
        if unknown:
            raise PrepError(
                f"{name}: preparation option(s) {unknown} unknown here "
                f"(its options: {', '.join(known)})"
            )
        kwargs = {k: v for k, v in kwargs.items() if known.get(k, object()) != v}
        target = Path(out_dir) / prepared_folder_name(name, kwargs)
        logger.info("pre-training corpus %s: preparing %s %s into %s", name, folder,
                    kwargs or "", target)
        manifests[name] = prepare_corpus(name, folder, target, **kwargs)
    return manifests


def prepared_folder_name(name: str, options: Mapping[str, Any]) -> str:
    """The folder of a corpus prepared with non-default ``options``, so that
    preparations with other options sit side by side (a prepared manifest
    refuses to be rewritten with other options).

    Arguments
    ---------
    name : str
        Registry name.
    options : mapping
        The options that differ from the corpus defaults.

    Returns
    -------
    str

    Example
    -------
    >>> prepared_folder_name("iemocap", {})
    'iemocap'
    >>> prepared_folder_name("mosei", {"include_unlabelled": True, "label_source": "csv"})
    'mosei+include_unlabelled+label_source=csv'
    """
    parts = [key if value is True else f"{key}={value}" for key, value in sorted(options.items())]
    return "+".join([name, *parts])


DATA2VEC2_MIN_DURATION = 2.0
"""data2vec 2.0's LibriSpeech floor (``min_sample_size`` 32000 at 16 kHz):
the hours table shows what it would drop, whatever ``min_duration`` is."""


def corpus_hours(csv_path: PathLike, min_duration: Optional[float]) -> Dict[str, Any]:
    """Utterances and hours of a prepared manifest, kept / dropped by ``min_duration``.

    Arguments
    ---------
    csv_path : str or path
        Any CSV with ``ID`` and ``duration`` (seconds).
    min_duration : float or None
        Shortest kept file (None: keep all).

    Returns
    -------
    dict
        ``utterances``, ``hours``, ``kept``, ``kept_hours``, ``dropped``,
        ``dropped_hours``, and ``under_2s`` / ``under_2s_hours`` (files
        under :data:`DATA2VEC2_MIN_DURATION`).

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "x.csv"
    >>> _ = path.write_text("ID,wav,duration\\na,/a.wav,1.5\\nb,/b.wav,3600\\n")
    >>> row = corpus_hours(path, 0.5)
    >>> row["dropped"], row["kept_hours"] > 1.0, row["under_2s"]
    (0, True, 1)
    """
    durations = [float(r["duration"]) for r in read_manifest(csv_path, ("ID", "duration"))]
    floor = -1.0 if min_duration is None else float(min_duration)
    kept = [d for d in durations if d >= floor]
    short = [d for d in durations if d < DATA2VEC2_MIN_DURATION]
    return {
        "utterances": len(durations), "hours": sum(durations) / 3600.0,
        "kept": len(kept), "kept_hours": sum(kept) / 3600.0,
        "dropped": len(durations) - len(kept),
        "dropped_hours": (sum(durations) - sum(kept)) / 3600.0,
        "under_2s": len(short), "under_2s_hours": sum(short) / 3600.0,
    }


def hours_table(manifests: Mapping[str, PathLike], min_duration: Optional[float]) -> str:
    """Markdown table: each prepared corpus beside the paper's Table 1.

    Arguments
    ---------
    manifests : mapping
        Name -> prepared manifest (any CSV with ``duration``).
    min_duration : float or None
        The pre-training manifest's shortest kept file (seconds).

    Returns
    -------
    str
        The table (and a total row): utterances and hours, what
        ``min_duration`` keeps and drops, what data2vec 2.0's 2 s floor
        would drop, and Table 1's utterances and hours.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "iemocap.csv"
    >>> _ = path.write_text("ID,wav,duration\\na,/a.wav,1.5\\nb,/b.wav,3.0\\n")
    >>> print(hours_table({"iemocap": path}, 0.045).splitlines()[2])
    | iemocap | 2 | 0.00 | 2 (0.00 h) | 0 (0.00 h) | 0.0 % | 1 (50.0 %, 0.00 h) | 5,531 | 7.0 |
    """
    rule = "none" if min_duration is None else f"{min_duration:g} s"
    lines = [
        f"| corpus | utterances | hours | kept (min_duration {rule}) | dropped | dropped share "
        f"| under {DATA2VEC2_MIN_DURATION:g} s (data2vec 2.0 floor) "
        "| Table 1 utterances | Table 1 hours |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    total = {"utterances": 0, "hours": 0.0, "kept": 0, "kept_hours": 0.0, "dropped": 0,
             "dropped_hours": 0.0, "under_2s": 0, "under_2s_hours": 0.0}
    paper = [0, 0.0]
    for name, csv_path in manifests.items():
        row = corpus_hours(csv_path, min_duration)
        for key in total:
            total[key] += row[key]
        utts, hours = TABLE1.get(name, (None, None))
        if utts is not None:
            paper[0] += utts
            paper[1] += hours
        lines.append(_line(name, row, utts, hours))
    lines.append(_line("**total**", total, paper[0] or None, paper[1] or None))
    return "\n".join(lines) + "\n"


def _line(name, row, utts, hours) -> str:
    count = row["utterances"]
    share = row["dropped"] / count if count else 0.0
    short = row["under_2s"] / count if count else 0.0
    return (
        f"| {name} | {count:,} | {row['hours']:.2f} | {row['kept']:,} "
        f"({row['kept_hours']:.2f} h) | {row['dropped']:,} ({row['dropped_hours']:.2f} h) "
        f"| {100 * share:.1f} % | {row['under_2s']:,} ({100 * short:.1f} %, "
        f"{row['under_2s_hours']:.2f} h) | {'-' if utts is None else f'{utts:,}'} "
        f"| {'-' if hours is None else f'{hours:.1f}'} |"
    )
