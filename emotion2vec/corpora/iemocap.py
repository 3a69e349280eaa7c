"""IEMOCAP preparation: ``IEMOCAP_full_release`` -> ``OUT_DIR/iemocap.csv``.

Reads the consensus label of every utterance from the summary lines of
``SessionN/dialog/EmoEvaluation/<dialog>.txt`` (top-level files only),
keeps ``ang, hap, exc, neu, sad`` with ``exc`` merged into ``hap`` (the
paper's 4 classes, 5,531 utterances) and points each row at
``SessionN/sentences/wav/<dialog>/<utt>.wav``.

Speakers are ``Ses0<session><G>`` where ``G`` is the gender letter just
before the utterance number (``Ses03M_impro05a_F012`` is spoken by
``Ses03F``); the letter after ``Ses0<session>`` in the dialogue name is the
actor wearing motion-capture markers, not the speaker.

Manifest columns: ``ID`` (utterance name), ``wav`` (absolute path),
``duration`` (s), ``label`` (``ang``/``hap``/``neu``/``sad``),
``speaker``, ``gender`` (``F``/``M``), ``session`` (``1``-``5``), then
``emo_raw`` (the code as annotated, e.g. ``exc``), ``dialog``, ``start``
and ``end`` (seconds within the dialogue), and the consensus ``valence``,
``arousal`` (activation) and ``dominance`` (1-5 scale, empty if missing).

Options for whole dialogues (emotion prediction in conversation,
``recipes/IEMOCAP/emotion_prediction``): ``keep_all_utterances=True``
keeps every annotated utterance (codes outside the label map, ``fru``,
``xxx``, ..., keep their code as ``label``) and ``transcripts=True`` adds a
``text`` column read from ``SessionN/dialog/transcriptions/<dialog>.txt``
(lines ``<utt> [SSS.SSSS-EEE.EEEE]: <text>``). Without them the manifest
is the 4-class one, unchanged.

Authors
 * emotion2vec-sb contributors
"""

import logging
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from emotion2vec.audio import AudioError, is_hidden_path
from emotion2vec.corpora import register_corpus
from emotion2vec.corpora.common import PrepError, SkipLog
from emotion2vec.corpora.files import find_corpus_root, probe_audio
from emotion2vec.corpora.manifest import check_prepared, count_by, log_counts, write_manifest
from emotion2vec.fileutils import PathLike

logger = logging.getLogger(__name__)

IEMOCAP_SESSIONS = (1, 2, 3, 4, 5)
IEMOCAP_CLASSES = ("ang", "hap", "neu", "sad")
"""The 4 classes in the official downstream index order (ang 0 ... sad 3)."""

IEMOCAP_LABEL_MAP = {"ang": "ang", "hap": "hap", "exc": "hap", "neu": "neu", "sad": "sad"}
"""Annotated code -> manifest label; codes not listed are dropped."""

EXPECTED_COUNTS = {
    1: {"ang": 229, "hap": 278, "neu": 384, "sad": 194},
    2: {"ang": 137, "hap": 327, "neu": 362, "sad": 197},
    3: {"ang": 240, "hap": 286, "neu": 320, "sad": 305},
    4: {"ang": 327, "hap": 303, "neu": 258, "sad": 143},
    5: {"ang": 170, "hap": 442, "neu": 384, "sad": 245},
}
"""Per-session class counts of the full release with the default label map."""

EXPECTED_TOTAL = 5531
CSV_NAME = "iemocap.csv"
EXTRA_COLUMNS = ("emo_raw", "dialog", "start", "end", "valence", "arousal", "dominance")
TEXT_COLUMN = "text"
"""Transcript column, written with ``transcripts=True``."""

_SUMMARY_RE = re.compile(r"^\[\s*(\d+(?:\.\d*)?)\s*-\s*(\d+(?:\.\d*)?)\s*\]\t+(\S+)\t+(\S+)")
_VAD_RE = re.compile(r"\[\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+)\s*\]\s*$")
_TRANSCRIPT_RE = re.compile(r"^(\S+)\s+\[\s*(\d+(?:\.\d*)?)\s*-\s*(\d+(?:\.\d*)?)\s*\]\s*:\s?(.*)$")
_UTTERANCE_RE = re.compile(
    r"^(Ses0([1-5])[FM]_(?:impro\d{2}[ab]?|script\d{2}_\d[b]?))_([FM])(\d{3})$"
)


@dataclass(frozen=True)
class EmoEvaluationLine:
    """One utterance summary line of an EmoEvaluation file.

    Arguments
    ---------
    utt_id : str
        Utterance name, e.g. ``Ses01F_impro01_F000``.
    start : float
        Start time in the dialogue (s).
    end : float
        End time in the dialogue (s).
    label : str
        Consensus code (``neu``, ``exc``, ``xxx``, ...).
    vad : tuple of float, optional
        Consensus (valence, activation, dominance), 1-5 scale.
    """

    utt_id: str
    start: float
    end: float
    label: str
    vad: Optional[Tuple[float, float, float]] = None


def parse_emo_evaluation(path: PathLike) -> List[EmoEvaluationLine]:
    """Reads the utterance summary lines of one EmoEvaluation file.

    Header, blank and annotator lines (``C-E2:``, ``A-F1:``, ...) are
    ignored; undecodable bytes in annotator comments are tolerated.

    Arguments
    ---------
    path : str or path
        ``SessionN/dialog/EmoEvaluation/<dialog>.txt``.

    Returns
    -------
    list of EmoEvaluationLine
        In file order.

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "Ses01F_impro01.txt"
    >>> _ = path.write_text(
    ...     "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\\n\\n"
    ...     "[6.2901 - 8.2357]\\tSes01F_impro01_F000\\tneu\\t[2.5000, 2.5000, 2.5000]\\n"
    ...     "C-E2:\\tNeutral;\\t()\\n")
    >>> parse_emo_evaluation(path)
    [EmoEvaluationLine(utt_id='Ses01F_impro01_F000', start=6.2901, end=8.2357, label='neu', vad=(2.5, 2.5, 2.5))]
    """
    lines = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for text in handle:
            text = text.strip("\ufeff\r\n ")
            match = _SUMMARY_RE.match(text)
            if match:
                start, end, utt_id, label = match.groups()
                vad = _VAD_RE.search(text)
                vad = tuple(float(v) for v in vad.groups()) if vad else None
                lines.append(
                    EmoEvaluationLine(utt_id, float(start), float(end), label.lower(), vad)
                )
    return lines


def parse_transcription(path: PathLike) -> Dict[str, str]:
    """Reads one dialogue's transcription file: utterance name -> text.

    Lines that do not start with an IEMOCAP utterance name and a
    ``[start-end]:`` time span (e.g. un-numbered ``MXX`` / ``FXX``
    fragments) are ignored; the text is kept as written (with its
    ``[LAUGHTER]``-style tags), surrounding blanks removed.

    Arguments
    ---------
    path : str or path
        ``SessionN/dialog/transcriptions/<dialog>.txt``.

    Returns
    -------
    dict
        Utterance name -> transcript, in file order (the first line wins
        for a repeated name).

    Example
    -------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "Ses01F_impro01.txt"
    >>> _ = path.write_text(
    ...     "Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.\\n"
    ...     "Ses01F_impro01_MXX0 [010.0000-011.0000]: [LAUGHTER]\\n")
    >>> parse_transcription(path)
    {'Ses01F_impro01_F000': 'Excuse me.'}
    """
    texts: Dict[str, str] = {}
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            match = _TRANSCRIPT_RE.match(line.strip("\ufeff\r\n "))
            if match and parse_utterance_id(match.group(1)) is not None:
                texts.setdefault(match.group(1), match.group(4).strip())
    return texts


def parse_utterance_id(utt_id: str) -> Optional[Tuple[str, int, str]]:
    """Splits an utterance name into dialogue, session and speaker gender.

    Arguments
    ---------
    utt_id : str
        Utterance name.

    Returns
    -------
    (dialog, session, gender) or None
        None when the name does not follow the IEMOCAP pattern.

    Example
    -------
    >>> parse_utterance_id("Ses03M_impro05a_F012")
    ('Ses03M_impro05a', 3, 'F')
    >>> parse_utterance_id("Ses05M_script01_1b_M003")
    ('Ses05M_script01_1b', 5, 'M')
    >>> parse_utterance_id("notes") is None
    True
    """
    match = _UTTERANCE_RE.match(utt_id)
    if match is None:
        return None
    dialog, session, gender, _ = match.groups()
    return dialog, int(session), gender


def _is_release_root(folder: Path) -> bool:
    return any((folder / f"Session{s}").is_dir() for s in IEMOCAP_SESSIONS)


def find_iemocap_root(src_dir: PathLike, max_depth: int = 3) -> Path:
    """Finds ``IEMOCAP_full_release`` (a folder with ``SessionN/`` folders).

    Arguments
    ---------
    src_dir : str or path
        The release folder itself or a folder holding it up to
        ``max_depth`` levels deeper (``__MACOSX`` and hidden folders are
        ignored).
    max_depth : int
        Levels searched below ``src_dir``.

    Returns
    -------
    Path

    Example
    -------
    >>> import tempfile
    >>> src = Path(tempfile.mkdtemp())
    >>> (src / "x" / "IEMOCAP_full_release" / "Session1").mkdir(parents=True)
    >>> find_iemocap_root(src).name
    'IEMOCAP_full_release'
    """
    return find_corpus_root(
        src_dir,
        _is_release_root,
        "IEMOCAP",
        "Session1/ ... Session5/ (IEMOCAP_full_release)",
        max_depth,
    )


def _label_files(session_dir: Path) -> List[Path]:
    folder = session_dir / "dialog" / "EmoEvaluation"
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix == ".txt" and not is_hidden_path(p.name)
    )


def check_iemocap_layout(root: PathLike, sessions: Sequence[int] = IEMOCAP_SESSIONS) -> None:
    """Checks that every requested session has label files and audio.

    Arguments
    ---------
    root : str or path
        The ``IEMOCAP_full_release`` folder.
    sessions : sequence of int
        Sessions that must be present.

    Raises
    ------
    PrepError
        Lists every missing piece (session folder, EmoEvaluation folder or
        its label files, ``sentences/wav`` folder).

    Example
    -------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "Session1" / "sentences" / "wav").mkdir(parents=True)
    >>> check_iemocap_layout(root, [1, 2])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    emotion2vec.corpora.common.PrepError: IEMOCAP release at ... is incomplete...
    """
    root = Path(root)
    problems = []
    for s in sessions:
        session_dir = root / f"Session{s}"
        if not session_dir.is_dir():
            problems.append(f"Session{s}/ is missing")
            continue
        emo_dir = session_dir / "dialog" / "EmoEvaluation"
        if not emo_dir.is_dir():
            problems.append(f"Session{s}/dialog/EmoEvaluation/ (label files) is missing")
        elif not _label_files(session_dir):
            problems.append(
                f"Session{s}/dialog/EmoEvaluation/ has no <dialog>.txt label files"
            )
        if not (session_dir / "sentences" / "wav").is_dir():
            problems.append(f"Session{s}/sentences/wav/ (utterance audio) is missing")
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise PrepError(
            f"IEMOCAP release at {root} is incomplete:\n{listing}\n"
            "Expected the IEMOCAP_full_release layout: SessionN/dialog/EmoEvaluation/"
            "<dialog>.txt and SessionN/sentences/wav/<dialog>/<utt>.wav. To prepare "
            "only some sessions, pass sessions=[...]."
        )


def _check_options(sessions: Sequence[int], label_map: Mapping[str, str]) -> List[int]:
    sessions = sorted({int(s) for s in sessions})
    unknown = [s for s in sessions if s not in IEMOCAP_SESSIONS]
    if not sessions or unknown:
        raise ValueError(
            f"sessions must be a non-empty subset of {list(IEMOCAP_SESSIONS)}, got {sessions}"
        )
    if not label_map or not all(isinstance(v, str) and v for v in label_map.values()):
        raise ValueError(
            f"label_map must map annotated codes to non-empty labels, got {label_map!r}"
        )
    return sessions


@register_corpus(
    "iemocap",
    labels=IEMOCAP_CLASSES,
    protocols={
        # Paper Table 2: leave-one-session-out, 20 % of the training sessions validate.
        "loso_session": {"valid_ratio": 0.2, "valid_is_test": False, "seed": 42},
        # Leave-one-speaker-out: the other speaker of the test session validates.
        "loso_speaker": {"valid": "same_session", "valid_is_test": False, "seed": 42},
        "random_kfold": {"k": 10, "valid_is_test": False, "seed": 42},
    },
    value_column="arousal",
)
def prepare_iemocap(
    src_dir: PathLike,
    out_dir: PathLike,
    sessions: Sequence[int] = IEMOCAP_SESSIONS,
    label_map: Optional[Mapping[str, str]] = None,
    decode_audio: bool = False,
    keep_all_utterances: bool = False,
    transcripts: bool = False,
) -> Path:
    """Writes ``OUT_DIR/iemocap.csv`` from an ``IEMOCAP_full_release`` folder.

    Utterances whose wav is missing or unreadable are logged and skipped;
    class counts per session are compared with the full release (5,531
    utterances) and a difference is logged as a warning. A second call with
    the same options reuses the CSV ("already prepared"); an existing CSV
    from other options or from elsewhere is never overwritten
    (:class:`~emotion2vec.corpora.common.PrepError`).

    Arguments
    ---------
    src_dir : str or path
        ``IEMOCAP_full_release`` or a folder holding it up to 3 levels deeper.
    out_dir : str or path
        Output folder (created if needed).
    sessions : sequence of int
        Sessions to prepare (default all five; each must be present).
    label_map : mapping, optional
        Annotated code -> label; codes not listed are dropped. Default
        :data:`IEMOCAP_LABEL_MAP` (4 classes, ``exc`` -> ``hap``).
    decode_audio : bool
        Decode every wav to check it (slower) instead of reading headers.
    keep_all_utterances : bool
        Keep every annotated utterance: codes the label map does not list
        (``fru``, ``xxx``, ``sur``, ...) are kept with their code as
        ``label`` (all 10,039: whole dialogues for emotion prediction in
        conversation, or pre-training on Emo-262).
    transcripts : bool
        Add a ``text`` column from ``SessionN/dialog/transcriptions/``
        (empty, with a warning, for an utterance without a transcript line).

    Returns
    -------
    Path
        The manifest CSV.

    Raises
    ------
    PrepError
        No release found, missing sessions or label folders (the message
        lists them), no usable utterance, or an output CSV that must not be
        overwritten.

    Example
    -------
    >>> import tempfile, torch
    >>> from emotion2vec.audio import write_audio
    >>> root = Path(tempfile.mkdtemp()) / "IEMOCAP_full_release"
    >>> labels = root / "Session1" / "dialog" / "EmoEvaluation"
    >>> labels.mkdir(parents=True)
    >>> _ = (labels / "Ses01F_impro01.txt").write_text(
    ...     "[6.2901 - 8.2357]\\tSes01F_impro01_M000\\texc\\t[3.0, 3.5, 3.0]\\n")
    >>> dialog = root / "Session1" / "sentences" / "wav" / "Ses01F_impro01"
    >>> write_audio(dialog / "Ses01F_impro01_M000.wav", torch.zeros(16000))
    >>> csv_path = prepare_iemocap(root, root.parent / "out", sessions=[1])
    >>> print(csv_path.read_text().splitlines()[1])  # doctest: +ELLIPSIS
    Ses01F_impro01_M000,/...wav,1.00000,hap,Ses01M,M,1,exc,Ses01F_impro01,6.2901,8.2357,3.0000,3.5000,3.0000
    """
    label_map = dict(IEMOCAP_LABEL_MAP if label_map is None else label_map)
    sessions = _check_options(sessions, label_map)
    root = find_iemocap_root(src_dir)
    csv_path = Path(out_dir) / CSV_NAME
    maker = f"{__name__}.prepare_iemocap"
    options = {
        "release_root": os.path.abspath(root),
        "sessions": sessions,
        "label_map": label_map,
        "decode_audio": bool(decode_audio),
    }
    # recorded only when set, so the default manifest and marker stay as they were
    if keep_all_utterances:
        options["keep_all_utterances"] = True
    if transcripts:
        options["transcripts"] = True
    if check_prepared(csv_path, maker, options):
        return csv_path
    check_iemocap_layout(root, sessions)
    logger.info("IEMOCAP: preparing sessions %s from %s", sessions, root)

    skips = SkipLog("IEMOCAP")
    rows, raw_counts = _collect_rows(
        root, sessions, label_map, decode_audio, skips, keep_all_utterances
    )
    skips.log_summary()
    logger.info("IEMOCAP: annotated codes found: %s", dict(sorted(raw_counts.items())))
    if not rows:
        raise PrepError(
            f"IEMOCAP: no usable utterance found under {root} for sessions {sessions} "
            f"({len(skips)} skipped; see the warnings above)"
        )
    per_session = count_by(rows, "label", group="session")
    compare = label_map == IEMOCAP_LABEL_MAP and not keep_all_utterances
    for s in sessions:
        found = per_session.get(str(s), {})
        log_counts("IEMOCAP", found, EXPECTED_COUNTS[s] if compare else None, f"session {s}")
    expected_total = sum(sum(EXPECTED_COUNTS[s].values()) for s in sessions)
    if compare and len(rows) != expected_total:
        logger.warning(
            "IEMOCAP: %d utterances prepared, expected %d for sessions %s (full release: %d)",
            len(rows),
            expected_total,
            sessions,
            EXPECTED_TOTAL,
        )
    summary = {
        "utterances": len(rows),
        "per_class": count_by(rows, "label"),
        "per_session": per_session,
        "per_speaker": count_by(rows, "label", group="speaker"),
        "annotated_codes": dict(sorted(raw_counts.items())),
        "skipped": [list(item) for item in skips.items],
    }
    columns = EXTRA_COLUMNS
    if transcripts:
        summary["without_transcript"] = _add_transcripts(root, rows)
        columns = EXTRA_COLUMNS + (TEXT_COLUMN,)
    write_manifest(csv_path, rows, maker, options, columns, summary)
    logger.info("IEMOCAP: wrote %d utterances to %s", len(rows), csv_path)
    return csv_path


def _collect_rows(
    root: Path,
    sessions: Sequence[int],
    label_map: Mapping[str, str],
    decode_audio: bool,
    skips: SkipLog,
    keep_all: bool = False,
) -> Tuple[List[Dict], Counter]:
    rows, seen, raw_counts = [], set(), Counter()
    for s in sessions:
        session_dir = root / f"Session{s}"
        for label_file in _label_files(session_dir):
            for line in parse_emo_evaluation(label_file):
                raw_counts[line.label] += 1
                label = label_map.get(line.label, line.label if keep_all else None)
                if label is None:
                    continue
                where = f"{label_file} ({line.utt_id})"
                parsed = parse_utterance_id(line.utt_id)
                if parsed is None:
                    skips.add(where, "unrecognised utterance name")
                    continue
                dialog, utt_session, gender = parsed
                if utt_session != s:
                    skips.add(
                        where, f"utterance of session {utt_session} listed in Session{s}"
                    )
                    continue
                if line.utt_id in seen:
                    skips.add(where, "duplicate utterance (kept the first)")
                    continue
                seen.add(line.utt_id)
                wav = session_dir / "sentences" / "wav" / dialog / f"{line.utt_id}.wav"
                try:
                    duration = probe_audio(wav, decode=decode_audio)
                except AudioError as error:
                    skips.add_audio_error(error)
                    continue
                rows.append(
                    {
                        "ID": line.utt_id,
                        "wav": os.path.abspath(wav),
                        "duration": duration,
                        "label": label,
                        "speaker": f"Ses0{s}{gender}",
                        "gender": gender,
                        "session": str(s),
                        "emo_raw": line.label,
                        "dialog": dialog,
                        "start": f"{line.start:.4f}",
                        "end": f"{line.end:.4f}",
                        **_vad_columns(line.vad),
                    }
                )
    return rows, raw_counts


def _add_transcripts(root: Path, rows: List[Dict]) -> int:
    """Sets ``row["text"]`` from the dialogues' transcription files; returns
    how many utterances have none (logged)."""
    texts: Dict[str, Dict[str, str]] = {}
    missing = []
    for row in rows:
        dialog = row["dialog"]
        if dialog not in texts:
            path = root / f"Session{row['session']}" / "dialog" / "transcriptions" / f"{dialog}.txt"
            texts[dialog] = parse_transcription(path) if path.is_file() else {}
            if not path.is_file():
                logger.warning("IEMOCAP: no transcription file %s", path)
        row[TEXT_COLUMN] = texts[dialog].get(row["ID"], "")
        if row["ID"] not in texts[dialog]:
            missing.append(row["ID"])
    if missing:
        logger.warning(
            "IEMOCAP: %d utterance(s) have no transcript line (empty text), e.g. %s",
            len(missing), missing[:3],
        )
    return len(missing)


def _vad_columns(vad: Optional[Tuple[float, float, float]]) -> Dict[str, str]:
    names = ("valence", "arousal", "dominance")
    if vad is None:
        return dict.fromkeys(names, "")
    return {name: f"{value:.4f}" for name, value in zip(names, vad)}
