"""Dialogues, turns and prediction samples for emotion prediction in conversation.

From manifest rows that keep every utterance of every dialogue (IEMOCAP
prepared with ``keep_all_utterances=True, transcripts=True``):

1. :func:`build_dialogues`: the utterances of each dialogue (manifest column
   ``dialog``) in time order (``start``, then ``end``, then ID);
2. :func:`split_turns`: a turn is a maximal run of consecutive utterances by
   one speaker;
3. :func:`make_samples`: one sample per turn whose label is one of the
   classes and that has at least ``min_history_turns`` turns before it: the
   input is the ``history_turns`` turns just before it (fewer at the start
   of a dialogue: the model masks the missing ones), the target is that
   turn's label (:func:`turn_label`), the target speaker is its speaker.
   Utterances outside the classes (``fru``, ``xxx``, ...) stay in the
   histories: they are part of the conversation.

Every turn is a target once, so a speaker's "next turn" after a history
window is simply the turn that follows it: in a dyadic dialogue the last
history turn is the other speaker's.

Authors
 * emotion2vec-sb contributors
"""

from collections import Counter
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from emotion2vec.downstream.folds import Fold, FoldError

TURN_LABEL_RULES = ("majority", "last", "first")
"""How a turn of several utterances gets one label (see :func:`turn_label`)."""

REQUIRED_COLUMNS = ("ID", "label", "speaker", "session", "dialog", "start", "end")


@dataclass(frozen=True)
class Utterance:
    """One utterance of a dialogue.

    Arguments
    ---------
    utt_id : str
        Manifest ID.
    speaker : str
        Speaker ID (``Ses01F``).
    start : float
        Start time in the dialogue (s).
    end : float
        End time (s).
    label : str
        Manifest label (a class, or the annotated code of the others).
    text : str
        Transcript ("" when unknown).
    """

    utt_id: str
    speaker: str
    start: float
    end: float
    label: str
    text: str = ""


@dataclass(frozen=True)
class Turn:
    """A maximal run of consecutive utterances by one speaker.

    Arguments
    ---------
    speaker : str
        Who speaks.
    utterances : tuple of Utterance
        In time order (at least one).
    """

    speaker: str
    utterances: Tuple[Utterance, ...]

    @property
    def utt_ids(self) -> Tuple[str, ...]:
        """The utterance IDs, in time order."""
        return tuple(u.utt_id for u in self.utterances)

    @property
    def labels(self) -> Tuple[str, ...]:
        """The utterance labels, in time order."""
        return tuple(u.label for u in self.utterances)


@dataclass(frozen=True)
class Dialogue:
    """The utterances of one dialogue, in time order.

    Arguments
    ---------
    name : str
        Dialogue name (``Ses01F_impro01``).
    session : str
        Session of the dialogue.
    utterances : tuple of Utterance
        Sorted by start, end, ID.
    """

    name: str
    session: str
    utterances: Tuple[Utterance, ...]

    def turns(self) -> List[Turn]:
        """The dialogue's turns (:func:`split_turns`)."""
        return split_turns(self.utterances)


def build_dialogues(rows: Sequence[Mapping[str, Any]]) -> List[Dialogue]:
    """Groups manifest rows into dialogues ordered in time.

    Arguments
    ---------
    rows : sequence of mapping
        Rows with ``ID``, ``label``, ``speaker``, ``session``, ``dialog``,
        ``start``, ``end`` and optionally ``text``.

    Returns
    -------
    list of Dialogue
        Sorted by dialogue name; utterances by (start, end, ID).

    Raises
    ------
    ValueError
        A missing column or time, or a dialogue spread over sessions.

    Example
    -------
    >>> rows = [dict(ID=i, label="neu", speaker=s, session="1", dialog="d",
    ...              start=t, end=str(float(t) + 1)) for i, s, t in
    ...         [("d_M000", "Ses01M", "2.5"), ("d_F000", "Ses01F", "0.5"), ("d_F001", "Ses01F", "1.0")]]
    >>> [u.utt_id for u in build_dialogues(rows)[0].utterances]
    ['d_F000', 'd_F001', 'd_M000']
    """
    grouped: Dict[str, List[Utterance]] = {}
    sessions: Dict[str, str] = {}
    for row in rows:
        missing = [c for c in REQUIRED_COLUMNS if row.get(c) in (None, "")]
        if missing:
            raise ValueError(
                f"manifest row {row.get('ID', row)!r} has no {missing}; emotion prediction "
                "needs whole dialogues (IEMOCAP: keep_all_utterances=True, transcripts=True)"
            )
        dialog, session = str(row["dialog"]), str(row["session"])
        if sessions.setdefault(dialog, session) != session:
            raise ValueError(f"dialogue {dialog!r} appears in sessions {sessions[dialog]} and {session}")
        try:
            start, end = float(row["start"]), float(row["end"])
        except ValueError:
            raise ValueError(f"row {row['ID']!r}: start/end are not numbers") from None
        grouped.setdefault(dialog, []).append(
            Utterance(str(row["ID"]), str(row["speaker"]), start, end, str(row["label"]),
                      str(row.get("text") or ""))
        )
    return [
        Dialogue(name, sessions[name], tuple(sorted(utts, key=lambda u: (u.start, u.end, u.utt_id))))
        for name, utts in sorted(grouped.items())
    ]


def split_turns(utterances: Sequence[Utterance]) -> List[Turn]:
    """Cuts time-ordered utterances into turns (runs of one speaker).

    Arguments
    ---------
    utterances : sequence of Utterance
        In time order.

    Returns
    -------
    list of Turn

    Example
    -------
    >>> utts = [Utterance(f"u{i}", s, i, i + 1, "neu") for i, s in enumerate("AABAB")]
    >>> [(t.speaker, t.utt_ids) for t in split_turns(utts)]
    [('A', ('u0', 'u1')), ('B', ('u2',)), ('A', ('u3',)), ('B', ('u4',))]
    """
    turns: List[Turn] = []
    run: List[Utterance] = []
    for utt in utterances:
        if run and utt.speaker != run[-1].speaker:
            turns.append(Turn(run[-1].speaker, tuple(run)))
            run = []
        run.append(utt)
    if run:
        turns.append(Turn(run[-1].speaker, tuple(run)))
    return turns


def turn_label(turn: Turn, labels: Sequence[str], rule: str = "majority") -> Optional[str]:
    """The label of a turn, from its utterances whose label is a class.

    Utterances with other labels (``fru``, ``xxx``, ...) abstain.

    * ``majority``: the most frequent class; a tie goes to the class heard
      last in the turn;
    * ``last`` / ``first``: the class of the last / first such utterance.

    Arguments
    ---------
    turn : Turn
        The turn.
    labels : sequence of str
        The classes.
    rule : str
        ``majority``, ``last`` or ``first``.

    Returns
    -------
    str or None
        None when no utterance of the turn has a class label.

    Example
    -------
    >>> utts = [Utterance(f"u{i}", "A", i, i + 1, c) for i, c in enumerate(["sad", "xxx", "neu"])]
    >>> classes = ["ang", "hap", "neu", "sad"]
    >>> [turn_label(Turn("A", tuple(utts)), classes, r) for r in TURN_LABEL_RULES]
    ['neu', 'neu', 'sad']
    >>> turn_label(Turn("A", utts[1:2]), classes) is None
    True
    """
    if rule not in TURN_LABEL_RULES:
        raise ValueError(f"turn_label rule must be one of {TURN_LABEL_RULES}, got {rule!r}")
    allowed = set(labels)
    voted = [label for label in turn.labels if label in allowed]
    if not voted:
        return None
    if rule == "last":
        return voted[-1]
    if rule == "first":
        return voted[0]
    counts = Counter(voted)
    best = max(counts.values())
    return next(label for label in reversed(voted) if counts[label] == best)


@dataclass(frozen=True)
class EpcSample:
    """One prediction: the turns before a target turn, and its label.

    Arguments
    ---------
    sample_id : str
        ``<dialog>_T<target turn index, 3 digits>``.
    dialog : str
        Dialogue name.
    session : str
        Session.
    speaker : str
        The target speaker (the speaker of the target turn).
    label : str
        The target turn's label.
    target_turn : int
        Index of the target turn in its dialogue.
    history : tuple of Turn
        The turns before it, oldest first (at most ``history_turns``).
    """

    sample_id: str
    dialog: str
    session: str
    speaker: str
    label: str
    target_turn: int
    history: Tuple[Turn, ...]

    @property
    def own_turns(self) -> Tuple[bool, ...]:
        """Per history turn: spoken by the target speaker."""
        return tuple(turn.speaker == self.speaker for turn in self.history)

    @property
    def utt_ids(self) -> Tuple[str, ...]:
        """Every history utterance, in time order."""
        return tuple(uid for turn in self.history for uid in turn.utt_ids)

    def row(self) -> Dict[str, str]:
        """A manifest-like row for the fold generators (``speaker`` = target speaker)."""
        return {"ID": self.sample_id, "label": self.label, "speaker": self.speaker,
                "session": self.session, "dialog": self.dialog}


def make_samples(
    dialogues: Sequence[Dialogue],
    labels: Sequence[str],
    history_turns: int = 6,
    min_history_turns: int = 1,
    rule: str = "majority",
) -> List[EpcSample]:
    """Every prediction sample of the dialogues.

    Arguments
    ---------
    dialogues : sequence of Dialogue
        From :func:`build_dialogues`.
    labels : sequence of str
        The classes (a target turn must get one of them).
    history_turns : int
        Turns of history (the paper: 6).
    min_history_turns : int
        Fewest history turns a sample may have (1: every turn after the
        first is a target, short histories are padded; ``history_turns``:
        only full windows).
    rule : str
        Turn label rule (:func:`turn_label`).

    Returns
    -------
    list of EpcSample
        In dialogue order, then turn order.

    Example
    -------
    >>> utts = [Utterance(f"d_{s}{i:03d}", s, i, i + 1, c)
    ...         for i, (s, c) in enumerate(zip("FFMFM", ["neu", "hap", "xxx", "sad", "ang"]))]
    >>> samples = make_samples([Dialogue("d", "1", tuple(utts))], ["ang", "hap", "neu", "sad"],
    ...                        history_turns=2)
    >>> [(s.sample_id, s.speaker, s.label, [t.utt_ids for t in s.history]) for s in samples]
    [('d_T002', 'F', 'sad', [('d_F000', 'd_F001'), ('d_M002',)]), ('d_T003', 'M', 'ang', [('d_M002',), ('d_F003',)])]
    """
    if history_turns < 1 or not 1 <= min_history_turns <= history_turns:
        raise ValueError(
            f"need history_turns >= 1 and 1 <= min_history_turns <= history_turns, "
            f"got {history_turns} and {min_history_turns}"
        )
    samples = []
    for dialogue in dialogues:
        turns = dialogue.turns()
        for index, turn in enumerate(turns):
            if index < min_history_turns:
                continue
            label = turn_label(turn, labels, rule)
            if label is None:
                continue
            history = tuple(turns[max(0, index - history_turns) : index])
            samples.append(
                EpcSample(f"{dialogue.name}_T{index:03d}", dialogue.name, dialogue.session,
                          turn.speaker, label, index, history)
            )
    return samples


def check_dialogues_apart(fold: Fold, dialog_of: Mapping[str, str]) -> None:
    """Raises :class:`FoldError` if a dialogue has samples in train and in valid or test.

    A training sample's history holds the other speaker's turns, so a test
    dialogue that also gives training samples would put test turns in the
    training inputs.

    Arguments
    ---------
    fold : Fold
        Folds of sample IDs.
    dialog_of : mapping
        Sample ID -> dialogue.

    Example
    -------
    >>> dialog_of = {"a1": "d1", "a2": "d1", "b": "d2", "c": "d3"}
    >>> check_dialogues_apart(Fold("ok", ("b",), ("c",), ("a1", "a2")), dialog_of)
    >>> check_dialogues_apart(Fold("bad", ("a1", "b"), ("c",), ("a2",)), dialog_of)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    emotion2vec.downstream.folds.FoldError: fold 'bad': dialogue(s) ['d1'] give training and valid/test samples...
    """
    train = {dialog_of[i] for i in fold.train_ids}
    held_out = {dialog_of[i] for i in fold.valid_ids + fold.test_ids}
    shared = sorted(train & held_out)
    if shared:
        raise FoldError(
            f"fold {fold.name!r}: dialogue(s) {shared[:3]} give training and valid/test "
            "samples (their histories would leak); with loso_speaker validate on the "
            "test speaker's session partner (fold_options: {valid: same_session})"
        )
