"""Train/valid/test folds of the emotion2vec evaluation protocols.

All generators take manifest rows (dicts with ``ID`` and, depending on the
protocol, ``session``, ``speaker`` or ``split``) and return :class:`Fold`
objects holding sorted utterance IDs:

* ``loso_session`` (:func:`leave_one_session_out`): one fold per session;
  test = the session, valid = a random ``valid_ratio`` of the other
  sessions drawn with ONE seeded generator that continues across folds
  (like the official IEMOCAP downstream code).
* ``loso_speaker`` (:func:`leave_one_speaker_out`): one fold per speaker;
  valid = the other speaker of the same session by default.
* ``random_kfold`` (:func:`random_kfold`): shuffle once, cut into k
  chunks; fold i tests on chunk i and validates on chunk i+1 (mod k).
* ``predefined`` (:func:`predefined_split`): official train/valid/test.
* ``fixed_folds`` (:func:`fixed_folds`): fixed groups of a column's values
  (EmoBox's speaker-independent folds, stated in the corpus registration);
  fold k tests on group k, valid = a random ``valid_ratio`` of the others.
* ``holdout`` (:func:`holdout_split`): one train/valid/test split of any
  corpus: the split given in a column, else speaker-disjoint when every row
  has a speaker, else stratified by label (``ratios`` of the utterances).

``valid_is_test=True`` gives the paper's "*" variant: valid = test and
the whole non-test pool trains. Every fold checks itself on creation (ID
sets disjoint, no empty train/test) and the speaker/session protocols also
check that no speaker (or session) is in both train and test.

Authors
 * emotion2vec-sb contributors
"""

import re
from dataclasses import dataclass
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

import numpy as np

Rows = Sequence[Mapping[str, Any]]


class FoldError(ValueError):
    """A fold that leaks data, or rows that cannot make the folds asked for."""


@dataclass(frozen=True)
class Fold:
    """One train/valid/test split.

    Arguments
    ---------
    name : str
        Folder-safe fold name, e.g. ``session1``, ``speaker_Ses01F``, ``fold03``.
    train_ids : tuple of str
        Training utterance IDs (sorted).
    valid_ids : tuple of str
        Validation IDs (sorted); equal to ``test_ids`` when ``valid_is_test``.
    test_ids : tuple of str
        Test IDs (sorted).
    valid_is_test : bool
        The paper's "*" variant (validation on the test fold).

    Example
    -------
    >>> fold = Fold("demo", ("a", "b"), ("c",), ("d",))
    >>> fold.sizes()
    (2, 1, 1)
    >>> Fold("bad", ("a", "b"), ("b",), ("d",))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    emotion2vec.downstream.folds.FoldError: fold 'bad': 1 ID(s) in both train and valid...
    """

    name: str
    train_ids: Tuple[str, ...]
    valid_ids: Tuple[str, ...]
    test_ids: Tuple[str, ...]
    valid_is_test: bool = False

    def __post_init__(self):
        for field in ("train_ids", "valid_ids", "test_ids"):
            ids = tuple(sorted(getattr(self, field)))
            if len(set(ids)) != len(ids):
                raise FoldError(f"fold {self.name!r}: duplicate IDs in {field}")
            object.__setattr__(self, field, ids)
        if not self.train_ids or not self.test_ids:
            raise FoldError(
                f"fold {self.name!r}: empty train or test set (sizes {self.sizes()})"
            )
        if self.valid_is_test and self.valid_ids != self.test_ids:
            raise FoldError(f"fold {self.name!r}: valid_is_test but valid differs from test")
        pairs = [("train", "test")] + (
            [] if self.valid_is_test else [("train", "valid"), ("valid", "test")]
        )
        for a, b in pairs:
            _check_disjoint(
                self.name, a, getattr(self, f"{a}_ids"), b, getattr(self, f"{b}_ids")
            )

    def sizes(self) -> Tuple[int, int, int]:
        """Number of train, valid and test IDs."""
        return len(self.train_ids), len(self.valid_ids), len(self.test_ids)

    def check_groups(
        self, group_of: Mapping[str, str], column: str, include_valid: bool = False
    ) -> None:
        """Raises :class:`FoldError` if a group (speaker, session) is in train and test.

        Arguments
        ---------
        group_of : mapping
            ID -> group value.
        column : str
            Group name for the message (``speaker``, ``session``).
        include_valid : bool
            Also require valid groups to be absent from train and test.
        """
        sets = {
            name: {group_of[i] for i in ids}
            for name, ids in (
                ("train", self.train_ids),
                ("valid", self.valid_ids),
                ("test", self.test_ids),
            )
        }
        pairs = [("train", "test")]
        if include_valid and not self.valid_is_test:
            pairs += [("train", "valid"), ("valid", "test")]
        for a, b in pairs:
            shared = sorted(sets[a] & sets[b])
            if shared:
                raise FoldError(
                    f"fold {self.name!r}: {column}(s) {shared} in both {a} and {b}"
                )


def _check_disjoint(
    name: str, a: str, ids_a: Iterable[str], b: str, ids_b: Iterable[str]
) -> None:
    shared = sorted(set(ids_a) & set(ids_b))
    if shared:
        raise FoldError(
            f"fold {name!r}: {len(shared)} ID(s) in both {a} and {b}, e.g. {shared[:3]}"
        )


def _natural_key(value: str) -> List[Union[int, str]]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(value))]


def _column(rows: Rows, column: str) -> Dict[str, str]:
    """ID -> value of ``column``; checks IDs are unique and the column exists."""
    if not rows:
        raise FoldError("no rows to split")
    values: Dict[str, str] = {}
    for row in rows:
        if "ID" not in row:
            raise FoldError(f"row without an ID column: {dict(row)}")
        if column not in row or row[column] in (None, ""):
            raise FoldError(
                f"row {row['ID']!r} has no {column!r} value (columns: {sorted(row)})"
            )
        if row["ID"] in values:
            raise FoldError(f"duplicate ID {row['ID']!r} in the rows")
        values[str(row["ID"])] = str(row[column])
    return values


def _ids(rows: Rows) -> List[str]:
    return sorted(_column(rows, "ID"))


def _random_valid(
    pool: Sequence[str], valid_ratio: float, rng: np.random.Generator
) -> Tuple[list, list]:
    """Splits ``pool`` like torch ``random_split(pool, [int((1-r)n), rest])``."""
    if not 0.0 < valid_ratio < 1.0:
        raise FoldError(f"valid_ratio must be in (0, 1), got {valid_ratio}")
    order = rng.permutation(len(pool))
    n_train = int((1.0 - valid_ratio) * len(pool))
    if n_train == 0 or n_train == len(pool):
        raise FoldError(
            f"cannot take {valid_ratio:.0%} of {len(pool)} utterances for validation"
        )
    train = [pool[i] for i in order[:n_train]]
    valid = [pool[i] for i in order[n_train:]]
    return train, valid


def _check_rows_groups(
    folds: List[Fold], group_of: Mapping[str, str], column: str, include_valid=False
) -> None:
    for fold in folds:
        fold.check_groups(group_of, column, include_valid)


def leave_one_session_out(
    rows: Rows, valid_ratio: float = 0.2, seed: int = 42, valid_is_test: bool = False
) -> List[Fold]:
    """One fold per session: test on it, train and validate on the others.

    Validation is a random ``valid_ratio`` of the other sessions' utterances
    (``int((1 - valid_ratio) * n)`` train, the rest valid). One generator
    seeded once draws the splits of all folds in session order, as the
    official code does with ``torch.manual_seed`` + ``random_split``.

    Arguments
    ---------
    rows : sequence of mapping
        Manifest rows with ``ID`` and ``session`` (and ``speaker``, checked
        for leakage when present).
    valid_ratio : float
        Fraction of the training pool used for validation.
    seed : int
        Seed of the generator shared by all folds.
    valid_is_test : bool
        Validate on the test session and train on all other utterances.

    Returns
    -------
    list of Fold
        Named ``session<s>``, in natural session order.

    Example
    -------
    >>> rows = [dict(ID=f"u{i}", session=str(i % 3 + 1)) for i in range(30)]
    >>> [(f.name, f.sizes()) for f in leave_one_session_out(rows)]
    [('session1', (16, 4, 10)), ('session2', (16, 4, 10)), ('session3', (16, 4, 10))]
    """
    session_of = _column(rows, "session")
    sessions = sorted(set(session_of.values()), key=_natural_key)
    if len(sessions) < 2:
        raise FoldError(f"leave-one-session-out needs at least 2 sessions, found {sessions}")
    speaker_checked = all("speaker" in row and row["speaker"] not in (None, "") for row in rows)
    return _leave_groups_out(
        rows, "session", session_of, [(f"session{s}", (s,)) for s in sessions],
        valid_ratio, seed, valid_is_test, also_disjoint=("speaker",) if speaker_checked else (),
    )


def fixed_folds(
    rows: Rows,
    groups: Sequence[Sequence[str]],
    column: str = "speaker",
    valid_ratio: float = 0.2,
    seed: int = 42,
    valid_is_test: bool = False,
) -> List[Fold]:
    """Fixed folds: fold k tests on the rows whose ``column`` is in ``groups[k]``.

    This expresses published fold lists, e.g. EmoBox's speaker-independent
    folds, which a corpus registers as this protocol's fold options (the
    groups are corpus facts, so the manifest needs no fold column).
    Validation is a random ``valid_ratio`` of the other groups' utterances,
    drawn with one seeded generator across folds (as
    :func:`leave_one_session_out`; EmoBox takes 20 % of train when a fold
    has no validation list). Every value of ``column`` in the rows must be
    in exactly one group, and every group must occur in the rows, so a
    misspelt speaker or a partial copy is an error rather than a silently
    different protocol; no value of ``column`` is in both train and test.

    Arguments
    ---------
    rows : sequence of mapping
        Manifest rows with ``ID`` and ``column``.
    groups : sequence of sequence of str
        The values of ``column`` in each fold's test set, disjoint (at
        least 2 groups).
    column : str
        Manifest column the groups are made of (``speaker``, ``session``,
        or a corpus's own fold column).
    valid_ratio : float
        Fraction of the training pool used for validation.
    seed : int
        Seed of the generator shared by all folds.
    valid_is_test : bool
        Validate on the test group and train on all other groups.

    Returns
    -------
    list of Fold
        Named ``fold01`` ... in the order of ``groups``.

    Raises
    ------
    FoldError
        Malformed or overlapping groups, a value in no group, a group with
        no rows.

    Example
    -------
    >>> rows = [dict(ID=f"u{i:02d}", speaker=f"s{i % 4}") for i in range(40)]
    >>> folds = fixed_folds(rows, [["s0", "s1"], ["s2", "s3"]], valid_ratio=0.1)
    >>> [(f.name, f.sizes()) for f in folds]
    [('fold01', (18, 2, 20)), ('fold02', (18, 2, 20))]
    """
    value_of = _column(rows, column)
    group_of = _group_index(groups, column)
    present = set(value_of.values())
    unknown = sorted(present - set(group_of), key=_natural_key)
    if unknown:
        raise FoldError(f"{column} value(s) {unknown} are in no group of {_plain(groups)}")
    width = max(2, len(str(len(groups))))
    named = []
    for k, group in enumerate(groups):
        values = tuple(str(value) for value in group)
        if not present & set(values):
            raise FoldError(f"no utterance of group {k + 1} ({list(values)}) in the rows")
        named.append((f"fold{k + 1:0{width}d}", values))
    return _leave_groups_out(rows, column, value_of, named, valid_ratio, seed, valid_is_test)


def _group_index(groups: Sequence[Sequence[str]], column: str) -> Dict[str, int]:
    """Value -> group number; checks the groups are lists, disjoint, at least 2."""
    if isinstance(groups, (str, bytes)) or not isinstance(groups, Sequence) or len(groups) < 2:
        raise FoldError(f"groups must be a list of at least 2 lists of {column}s, got {groups!r}")
    index: Dict[str, int] = {}
    for k, group in enumerate(groups):
        if isinstance(group, (str, bytes)) or not isinstance(group, Sequence) or not group:
            raise FoldError(f"group {k + 1} must be a non-empty list of {column}s, got {group!r}")
        for value in group:
            if str(value) in index:
                raise FoldError(
                    f"{column} {value!r} is in groups {index[str(value)] + 1} and {k + 1}"
                )
            index[str(value)] = k
    return index


def _plain(groups: Sequence[Sequence[str]]) -> List[List[str]]:
    return [[str(value) for value in group] for group in groups]


def _leave_groups_out(
    rows: Rows,
    column: str,
    value_of: Mapping[str, str],
    groups: Sequence[Tuple[str, Sequence[str]]],
    valid_ratio: float,
    seed: int,
    valid_is_test: bool,
    also_disjoint: Sequence[str] = (),
) -> List[Fold]:
    """One fold per ``(name, values)`` group: test on the rows whose ``column``
    value is in the group; validation drawn by one generator across folds."""
    rng = np.random.default_rng(seed)
    ids = sorted(value_of)
    folds = []
    for name, values in groups:
        held = set(values)
        test = [i for i in ids if value_of[i] in held]
        pool = [i for i in ids if value_of[i] not in held]
        if valid_is_test:
            train, valid = pool, test
        else:
            train, valid = _random_valid(pool, valid_ratio, rng)
        folds.append(Fold(name, train, valid, test, valid_is_test))
    _check_rows_groups(folds, value_of, column)
    for other in also_disjoint:
        _check_rows_groups(folds, _column(rows, other), other)
    return folds


def _same_session_partner(
    speaker: str, speakers_by_session: Mapping[str, List[str]], session_of_spk
) -> str:
    session = session_of_spk[speaker]
    others = [s for s in speakers_by_session[session] if s != speaker]
    if len(others) != 1:
        raise FoldError(
            f"valid='same_session' needs exactly one other speaker in session {session} "
            f"for test speaker {speaker!r}, found {others}; "
            "pass valid='next_speaker' or a mapping"
        )
    return others[0]


def leave_one_speaker_out(
    rows: Rows,
    valid: Union[str, Mapping[str, str]] = "same_session",
    seed: int = 42,
    valid_ratio: float = 0.2,
    valid_is_test: bool = False,
) -> List[Fold]:
    """One fold per speaker: test on the speaker, validate on another one.

    Arguments
    ---------
    rows : sequence of mapping
        Manifest rows with ``ID`` and ``speaker`` (and ``session`` for
        ``valid="same_session"``).
    valid : str or mapping
        Validation source: ``"same_session"`` (the other speaker of the test
        speaker's session, SpeechBrain's IEMOCAP convention),
        ``"next_speaker"`` (the next speaker in natural order, cyclic),
        ``"random"`` (a random ``valid_ratio`` of the other speakers'
        utterances, one generator across folds) or a mapping
        test speaker -> validation speaker.
    seed : int
        Seed for ``valid="random"``.
    valid_ratio : float
        Validation fraction for ``valid="random"``.
    valid_is_test : bool
        Validate on the test speaker and train on all other speakers.

    Returns
    -------
    list of Fold
        Named ``speaker_<speaker>``, in natural speaker order.

    Example
    -------
    >>> rows = [dict(ID=f"u{i}", speaker=f"Ses0{i % 2 + 1}{'FM'[i % 4 // 2]}",
    ...              session=str(i % 2 + 1)) for i in range(16)]
    >>> folds = leave_one_speaker_out(rows)
    >>> [(f.name, f.sizes()) for f in folds][:2]
    [('speaker_Ses01F', (8, 4, 4)), ('speaker_Ses01M', (8, 4, 4))]
    """
    speaker_of = _column(rows, "speaker")
    speakers = sorted(set(speaker_of.values()), key=_natural_key)
    if len(speakers) < (2 if valid_is_test else 3):
        raise FoldError(
            "leave-one-speaker-out needs at least 3 speakers (2 with valid_is_test), "
            f"found {speakers}"
        )
    ids = sorted(speaker_of)
    by_speaker = {s: [i for i in ids if speaker_of[i] == s] for s in speakers}
    pick = (
        _valid_speaker_picker(rows, valid, speakers, speaker_of) if not valid_is_test else None
    )
    rng = np.random.default_rng(seed)
    folds = []
    for speaker in speakers:
        test = by_speaker[speaker]
        pool = [i for i in ids if speaker_of[i] != speaker]
        if valid_is_test:
            train, valid_ids = pool, test
        elif valid == "random":
            train, valid_ids = _random_valid(pool, valid_ratio, rng)
        else:
            valid_speaker = pick(speaker)
            if valid_speaker == speaker or valid_speaker not in by_speaker:
                raise FoldError(
                    f"invalid validation speaker {valid_speaker!r} "
                    f"for test speaker {speaker!r}"
                )
            valid_ids = by_speaker[valid_speaker]
            train = [i for i in pool if speaker_of[i] != valid_speaker]
        folds.append(Fold(f"speaker_{speaker}", train, valid_ids, test, valid_is_test))
    _check_rows_groups(folds, speaker_of, "speaker", include_valid=valid != "random")
    return folds


def _valid_speaker_picker(rows, valid, speakers, speaker_of) -> Callable[[str], str]:
    if isinstance(valid, Mapping):
        missing = [s for s in speakers if s not in valid]
        if missing:
            raise FoldError(f"valid mapping has no validation speaker for {missing}")
        return lambda speaker: str(valid[speaker])
    if valid == "next_speaker":
        return lambda speaker: speakers[(speakers.index(speaker) + 1) % len(speakers)]
    if valid == "same_session":
        session_of = _column(rows, "session")
        session_of_spk: Dict[str, str] = {}
        for utt, speaker in speaker_of.items():
            if session_of_spk.setdefault(speaker, session_of[utt]) != session_of[utt]:
                raise FoldError(
                    f"speaker {speaker!r} appears in several sessions; "
                    "use valid='next_speaker'"
                )
        by_session: Dict[str, List[str]] = {}
        for speaker in speakers:
            by_session.setdefault(session_of_spk[speaker], []).append(speaker)
        return lambda speaker: _same_session_partner(speaker, by_session, session_of_spk)
    if valid == "random":
        return lambda speaker: ""
    raise FoldError(
        f"unknown valid={valid!r}; use 'same_session', 'next_speaker', 'random' or a mapping"
    )


def random_kfold(
    rows: Rows,
    k: int = 10,
    seed: int = 42,
    valid_is_test: bool = False,
    valid_ratio: Optional[float] = None,
) -> List[Fold]:
    """Random k-fold CV with 80/10/10-style train/valid/test (for k=10).

    The IDs (sorted) are shuffled once with ``seed`` and cut into ``k``
    near-equal chunks; fold i tests on chunk i, validates on chunk
    (i + 1) mod k and trains on the rest, so every utterance is tested
    exactly once. Speaker-dependent by design. With ``valid_ratio`` the
    validation set is instead a random fraction of the other k-1 chunks
    (drawn by the same generator, continuing across folds), e.g. RAVDESS
    song's 5 folds with 10 % of the training pool validating.

    Arguments
    ---------
    rows : sequence of mapping
        Manifest rows with ``ID``.
    k : int
        Number of folds (at least 3; 2 with ``valid_is_test``).
    seed : int
        Shuffle seed.
    valid_is_test : bool
        Validate on the test chunk and train on the other k-1 chunks.
    valid_ratio : float, optional
        Validate on this random fraction of the other k-1 chunks instead of
        chunk i+1 (not with ``valid_is_test``).

    Returns
    -------
    list of Fold
        Named ``fold01`` ... ``fold<k>``.

    Example
    -------
    >>> rows = [dict(ID=f"u{i:02d}") for i in range(25)]
    >>> [f.sizes() for f in random_kfold(rows, k=5)]
    [(15, 5, 5), (15, 5, 5), (15, 5, 5), (15, 5, 5), (15, 5, 5)]
    >>> [f.sizes() for f in random_kfold(rows, k=5, valid_ratio=0.1)][:2]
    [(18, 2, 5), (18, 2, 5)]
    """
    ids = _ids(rows)
    if k < (2 if valid_is_test or valid_ratio is not None else 3):
        raise FoldError(
            f"random_kfold needs k >= 3 (k >= 2 with valid_is_test or valid_ratio), got k={k}"
        )
    if valid_is_test and valid_ratio is not None:
        raise FoldError("random_kfold: give valid_is_test or valid_ratio, not both")
    if len(ids) < k:
        raise FoldError(f"cannot make {k} folds from {len(ids)} utterances")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ids))
    chunks = [[ids[i] for i in chunk] for chunk in np.array_split(order, k)]
    width = max(2, len(str(k)))
    folds = []
    for i in range(k):
        test = chunks[i]
        if valid_ratio is not None:
            pool = sorted(utt for j, chunk in enumerate(chunks) if j != i for utt in chunk)
            train, valid = _random_valid(pool, valid_ratio, rng)
        else:
            valid = test if valid_is_test else chunks[(i + 1) % k]
            skip = {i} if valid_is_test else {i, (i + 1) % k}
            train = [utt for j, chunk in enumerate(chunks) if j not in skip for utt in chunk]
        folds.append(Fold(f"fold{i + 1:0{width}d}", train, valid, test, valid_is_test))
    return folds


_SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "valid": "valid",
    "validation": "valid",
    "val": "valid",
    "dev": "valid",
    "test": "test",
}


def predefined_split(
    rows: Rows, column: str = "split", valid_ratio: Optional[float] = None, seed: int = 42
) -> List[Fold]:
    """The official split given in a column of the rows (one fold).

    Arguments
    ---------
    rows : sequence of mapping
        Manifest rows with ``ID`` and ``column`` ∈ train/valid/test
        (``dev``, ``val``, ``validation`` are read as valid; case-insensitive).
    column : str
        Column holding the split.
    valid_ratio : float, optional
        When the rows have no validation part (e.g. RESD), take this random
        fraction of train as validation.
    seed : int
        Seed for ``valid_ratio``.

    Returns
    -------
    list of Fold
        A single fold named ``predefined``.

    Example
    -------
    >>> rows = [dict(ID="a", split="train"), dict(ID="b", split="dev"),
    ...         dict(ID="c", split="test"), dict(ID="d", split="train")]
    >>> fold = predefined_split(rows)[0]
    >>> fold.name, fold.train_ids, fold.valid_ids, fold.test_ids
    ('predefined', ('a', 'd'), ('b',), ('c',))
    """
    split_of = _column(rows, column)
    parts: Dict[str, List[str]] = {"train": [], "valid": [], "test": []}
    for utt in sorted(split_of):
        value = split_of[utt].strip().lower()
        if value not in _SPLIT_ALIASES:
            raise FoldError(
                f"row {utt!r}: unknown {column} value {split_of[utt]!r} "
                "(use train, valid or test)"
            )
        parts[_SPLIT_ALIASES[value]].append(utt)
    if not parts["valid"]:
        if valid_ratio is None:
            raise FoldError(
                f"no validation rows in column {column!r}; "
                "pass valid_ratio to take part of train"
            )
        parts["train"], parts["valid"] = _random_valid(
            parts["train"], valid_ratio, np.random.default_rng(seed)
        )
    return [Fold("predefined", parts["train"], parts["valid"], parts["test"])]


HOLDOUT_MODES = ("auto", "given", "speaker", "label", "random")


def _split_counts(n: int, ratios: Sequence[float]) -> Tuple[int, int]:
    """Test and valid counts of ``n`` items (at least one each when n >= 3)."""
    n_test = int(round(ratios[2] * n))
    n_valid = int(round(ratios[1] * n))
    if n >= 3:
        n_test = max(1, n_test) if ratios[2] > 0 else 0
        n_valid = max(1, n_valid) if ratios[1] > 0 else 0
    while n_test + n_valid >= n and (n_test or n_valid):  # keep one for training
        if n_valid >= n_test and n_valid:
            n_valid -= 1
        else:
            n_test -= 1
    return n_test, n_valid


def _check_ratios(ratios) -> Tuple[float, float, float]:
    try:
        values = tuple(float(r) for r in ratios)
    except (TypeError, ValueError):
        raise FoldError(f"ratios must be three numbers (train, valid, test), got {ratios!r}") from None
    if len(values) != 3 or min(values) < 0 or values[0] <= 0 or values[2] <= 0:
        raise FoldError(
            f"ratios must be three non-negative numbers (train, valid, test) with "
            f"train and test > 0, got {ratios!r}"
        )
    total = sum(values)
    return tuple(v / total for v in values)


def _stratified(
    ids: Sequence[str], label_of: Mapping[str, str], ratios, rng: np.random.Generator
) -> Dict[str, List[str]]:
    parts: Dict[str, List[str]] = {"train": [], "valid": [], "test": []}
    for label in sorted({label_of[i] for i in ids}):
        members = sorted(i for i in ids if label_of[i] == label)
        order = [members[k] for k in rng.permutation(len(members))]
        n_test, n_valid = _split_counts(len(order), ratios)
        parts["test"] += order[:n_test]
        parts["valid"] += order[n_test : n_test + n_valid]
        parts["train"] += order[n_test + n_valid :]
    return parts


def _random(ids: Sequence[str], ratios, rng: np.random.Generator) -> Dict[str, List[str]]:
    order = [ids[k] for k in rng.permutation(len(ids))]
    n_test, n_valid = _split_counts(len(order), ratios)
    return {
        "test": order[:n_test],
        "valid": order[n_test : n_test + n_valid],
        "train": order[n_test + n_valid :],
    }


def _by_group(
    ids: Sequence[str], group_of: Mapping[str, str], ratios, rng: np.random.Generator
) -> Dict[str, List[str]]:
    """Whole groups to test / valid / train, each to the part furthest below
    its share of the utterances (biggest groups first, ties in random order);
    an empty part is always furthest below, so 3 groups fill the 3 parts."""
    groups: Dict[str, List[str]] = {}
    for i in ids:
        groups.setdefault(group_of[i], []).append(i)
    names = sorted(groups, key=_natural_key)
    names = [names[k] for k in rng.permutation(len(names))]
    names.sort(key=lambda g: -len(groups[g]))  # stable: random order among equal sizes
    targets = {"train": ratios[0], "test": ratios[2], "valid": ratios[1]}  # ties: in this order
    counts = {part: 0 for part in targets}
    parts: Dict[str, List[str]] = {part: [] for part in targets}
    total = float(len(ids))
    for name in names:
        wanted = [p for p in targets if targets[p] > 0]
        part = max(wanted, key=lambda p: 1.0 - counts[p] / (targets[p] * total))
        parts[part] += groups[name]
        counts[part] += len(groups[name])
    return parts


def holdout_split(
    rows: Rows,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    split_by: str = "auto",
    seed: int = 42,
    split_column: str = "split",
    group_column: str = "speaker",
    label_column: str = "label",
) -> List[Fold]:
    """One train/valid/test holdout of any labelled corpus.

    ``split_by``:

    * ``given``: the split in ``split_column`` (train / valid / test, with
      :func:`predefined_split`'s aliases); rows without a validation part
      get one from train, speaker-disjoint when every row has a speaker,
      else stratified by label, sized ``ratios[1] / (ratios[0] + ratios[1])``;
    * ``speaker``: whole speakers (``group_column``) go to test, valid and
      train (at least 3 speakers), so no speaker is in two parts; the parts
      hold about ``ratios`` of the utterances (a speaker is not split, so
      the shares are approximate; labels are not balanced);
    * ``label``: stratified by label: each class is cut by ``ratios`` (a
      class of 3 or more utterances has at least one in valid and in test);
    * ``random``: the utterances shuffled and cut by ``ratios``;
    * ``auto``: ``given`` when every row has a split value, else
      ``speaker`` when every row has a speaker and there are at least 3,
      else ``label`` when every row has a label, else ``random``.

    Arguments
    ---------
    rows : sequence of mapping
        Manifest rows (``ID`` and the columns the mode needs).
    ratios : sequence of float
        Train, valid and test shares (normalised to sum to 1).
    split_by : str
        ``auto``, ``given``, ``speaker``, ``label`` or ``random``.
    seed : int
        Seed of every random choice.
    split_column, group_column, label_column : str
        Columns holding the given split, the speaker and the label.

    Returns
    -------
    list of Fold
        One fold named ``holdout_<mode>`` (the mode actually used).

    Example
    -------
    >>> rows = [dict(ID=f"u{i:02d}", label="ab"[i % 2], speaker=f"s{i % 5}") for i in range(20)]
    >>> fold = holdout_split(rows)[0]
    >>> fold.name, fold.sizes()
    ('holdout_speaker', (12, 4, 4))
    >>> holdout_split(rows, split_by="label")[0].sizes()
    (16, 2, 2)
    """
    if split_by not in HOLDOUT_MODES:
        raise FoldError(f"unknown split_by={split_by!r}; use one of {', '.join(HOLDOUT_MODES)}")
    ratios = _check_ratios(ratios)
    ids = _ids(rows)

    def filled(column):
        return all(row.get(column) not in (None, "") for row in rows)

    mode = split_by
    if mode == "auto":
        speakers = {row[group_column] for row in rows} if filled(group_column) else set()
        if filled(split_column):
            mode = "given"
        elif len(speakers) >= 3:
            mode = "speaker"
        else:
            mode = "label" if filled(label_column) else "random"
    rng = np.random.default_rng(seed)
    if mode == "given":
        parts = _given_parts(rows, split_column)
        if not parts["valid"]:
            parts["train"], parts["valid"] = _carve_valid(
                rows, parts["train"], ratios[1] / (ratios[0] + ratios[1]), rng,
                group_column if filled(group_column) else None,
                label_column if filled(label_column) else None,
            )
    elif mode == "speaker":
        speaker_of = _column(rows, group_column)
        if len(set(speaker_of.values())) < 3:
            raise FoldError(
                f"split_by='speaker' needs at least 3 speakers, found "
                f"{sorted(set(speaker_of.values()))}; use split_by='label'"
            )
        parts = _by_group(ids, speaker_of, ratios, rng)
    elif mode == "label":
        parts = _stratified(ids, _column(rows, label_column), ratios, rng)
    else:
        parts = _random(ids, ratios, rng)
    if not parts["valid"]:
        raise FoldError(
            f"holdout ({mode}): no utterance left for validation ({len(ids)} in all); "
            "give more data or a larger valid ratio"
        )
    fold = Fold(f"holdout_{mode}", parts["train"], parts["valid"], parts["test"])
    if mode == "speaker":
        fold.check_groups(_column(rows, group_column), group_column, include_valid=True)
    return [fold]


def _given_parts(rows: Rows, column: str) -> Dict[str, List[str]]:
    split_of = _column(rows, column)
    parts: Dict[str, List[str]] = {"train": [], "valid": [], "test": []}
    for utt in sorted(split_of):
        value = split_of[utt].strip().lower()
        if value not in _SPLIT_ALIASES:
            raise FoldError(
                f"row {utt!r}: unknown {column} value {split_of[utt]!r} "
                "(use train, valid or test)"
            )
        parts[_SPLIT_ALIASES[value]].append(utt)
    for part in ("train", "test"):
        if not parts[part]:
            raise FoldError(f"the given {column!r} column has no {part} rows")
    return parts


def _carve_valid(rows, pool, share, rng, group_column, label_column):
    """Validation out of the given training rows: by speaker when there are
    at least 2, else stratified by label, else at random."""
    members = set(pool)
    sub = [row for row in rows if row["ID"] in members]
    if group_column and len({row[group_column] for row in sub}) >= 2:
        parts = _by_group(sorted(pool), _column(sub, group_column), (1.0 - share, share, 0.0), rng)
    elif label_column:
        parts = _stratified(sorted(pool), _column(sub, label_column), (1.0 - share, share, 0.0), rng)
    else:
        parts = _random(sorted(pool), (1.0 - share, share, 0.0), rng)
    return parts["train"], parts["valid"]


PROTOCOLS: Dict[str, Callable[..., List[Fold]]] = {
    "loso_session": leave_one_session_out,
    "loso_speaker": leave_one_speaker_out,
    "random_kfold": random_kfold,
    "predefined": predefined_split,
    "fixed_folds": fixed_folds,
    "holdout": holdout_split,
}
"""Protocol name -> fold generator."""


def make_folds(protocol: str, rows: Rows, **kwargs) -> List[Fold]:
    """Builds the folds of an evaluation protocol by name.

    Arguments
    ---------
    protocol : str
        ``loso_session``, ``loso_speaker``, ``random_kfold``, ``predefined``,
        ``fixed_folds`` or ``holdout``.
    rows : sequence of mapping
        Manifest rows.
    **kwargs
        Options of the protocol's generator.

    Returns
    -------
    list of Fold

    Example
    -------
    >>> rows = [dict(ID=f"u{i}") for i in range(10)]
    >>> len(make_folds("random_kfold", rows, k=5, seed=0))
    5
    >>> make_folds("loso", rows)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown protocol 'loso'; use one of: fixed_folds, holdout, loso_session, ...
    """
    if protocol not in PROTOCOLS:
        raise ValueError(
            f"unknown protocol {protocol!r}; use one of: {', '.join(sorted(PROTOCOLS))}"
        )
    return PROTOCOLS[protocol](rows, **kwargs)
