"""Tests of emotion2vec.downstream.folds: counts, determinism, leakage."""

import numpy as np
import pytest

from emotion2vec.corpora.manifest import read_manifest
from emotion2vec.corpora.iemocap import prepare_iemocap
from emotion2vec.downstream.folds import (
    Fold,
    FoldError,
    fixed_folds,
    leave_one_session_out,
    leave_one_speaker_out,
    make_folds,
    predefined_split,
    random_kfold,
)
from tests.fakes.iemocap import make_fake_iemocap


def iemocap_rows(per_speaker=(11, 9, 8, 12, 10, 10, 7, 13, 9, 11)):
    """IEMOCAP-like rows: 5 sessions x 2 speakers, uneven sizes."""
    rows = []
    for k, count in enumerate(per_speaker):
        session, gender = k // 2 + 1, "FM"[k % 2]
        for n in range(count):
            rows.append(
                {
                    "ID": f"Ses0{session}{gender}_u{n:03d}",
                    "speaker": f"Ses0{session}{gender}",
                    "session": str(session),
                }
            )
    return rows


def all_ids(rows):
    return {r["ID"] for r in rows}


def speakers_of(rows, ids):
    lookup = {r["ID"]: r["speaker"] for r in rows}
    return {lookup[i] for i in ids}


# ---------------------------------------------------------------- loso session


def test_loso_session_counts_and_coverage():
    rows = iemocap_rows()
    folds = leave_one_session_out(rows)
    assert [f.name for f in folds] == [f"session{s}" for s in range(1, 6)]
    tested = []
    for fold in folds:
        session = fold.name[-1]
        test = {r["ID"] for r in rows if r["session"] == session}
        pool = len(rows) - len(test)
        assert set(fold.test_ids) == test
        assert len(fold.train_ids) == int(0.8 * pool)
        assert len(fold.valid_ids) == pool - int(0.8 * pool)
        assert set(fold.train_ids) | set(fold.valid_ids) | set(fold.test_ids) == all_ids(rows)
        assert not speakers_of(rows, fold.train_ids) & speakers_of(rows, fold.test_ids)
        tested += fold.test_ids
    assert sorted(tested) == sorted(all_ids(rows))


def test_loso_session_one_rng_across_folds():
    rows = iemocap_rows()
    folds = leave_one_session_out(rows, seed=7)
    rng = np.random.default_rng(7)
    for fold in folds:
        pool = sorted(r["ID"] for r in rows if r["session"] != fold.name[-1])
        order = rng.permutation(len(pool))
        expected_valid = sorted(pool[i] for i in order[int(0.8 * len(pool)) :])
        assert list(fold.valid_ids) == expected_valid
    # The generator continues: fold 2 differs from a freshly seeded split of the same pool.
    pool2 = sorted(r["ID"] for r in rows if r["session"] != "2")
    fresh = np.random.default_rng(7).permutation(len(pool2))
    assert list(folds[1].valid_ids) != sorted(pool2[i] for i in fresh[int(0.8 * len(pool2)) :])


def test_loso_session_deterministic_and_seeded():
    rows = iemocap_rows()
    assert leave_one_session_out(rows, seed=42) == leave_one_session_out(
        list(reversed(rows)), seed=42
    )
    assert leave_one_session_out(rows, seed=1) != leave_one_session_out(rows, seed=2)


def test_loso_session_valid_is_test():
    rows = iemocap_rows()
    for fold in leave_one_session_out(rows, valid_is_test=True):
        assert fold.valid_is_test and fold.valid_ids == fold.test_ids
        assert len(fold.train_ids) + len(fold.test_ids) == len(rows)


def test_loso_session_custom_ratio():
    folds = leave_one_session_out(iemocap_rows(), valid_ratio=0.1)
    pool = len(iemocap_rows()) - len(folds[0].test_ids)
    assert len(folds[0].train_ids) == int(0.9 * pool)
    with pytest.raises(FoldError, match="valid_ratio"):
        leave_one_session_out(iemocap_rows(), valid_ratio=1.5)


# ---------------------------------------------------------------- loso speaker


def test_loso_speaker_same_session_default():
    rows = iemocap_rows()
    folds = leave_one_speaker_out(rows)
    assert len(folds) == 10
    for fold in folds:
        test_spk = fold.name.split("_", 1)[1]
        partner = test_spk[:-1] + ("M" if test_spk[-1] == "F" else "F")
        assert speakers_of(rows, fold.test_ids) == {test_spk}
        assert speakers_of(rows, fold.valid_ids) == {partner}
        assert len(speakers_of(rows, fold.train_ids)) == 8
        assert set(fold.train_ids) | set(fold.valid_ids) | set(fold.test_ids) == all_ids(rows)


def test_loso_speaker_other_valid_choices():
    rows = iemocap_rows()
    nxt = leave_one_speaker_out(rows, valid="next_speaker")
    assert speakers_of(rows, nxt[-1].valid_ids) == {"Ses01F"}  # cyclic
    assert speakers_of(rows, nxt[0].valid_ids) == {"Ses01M"}
    mapping = {
        f"Ses0{s}{g}": ("Ses05M" if s != 5 else "Ses01F") for s in range(1, 6) for g in "FM"
    }
    mapped = leave_one_speaker_out(rows, valid=mapping)
    assert speakers_of(rows, mapped[0].valid_ids) == {"Ses05M"}
    randomised = leave_one_speaker_out(rows, valid="random", seed=3)
    for fold in randomised:
        assert len(speakers_of(rows, fold.train_ids)) == 9
        assert not speakers_of(rows, fold.train_ids + fold.valid_ids) & speakers_of(
            rows, fold.test_ids
        )
    assert randomised == leave_one_speaker_out(rows, valid="random", seed=3)


def test_loso_speaker_valid_is_test():
    rows = iemocap_rows()
    for fold in leave_one_speaker_out(rows, valid_is_test=True):
        assert fold.valid_ids == fold.test_ids
        assert len(speakers_of(rows, fold.train_ids)) == 9


def test_loso_speaker_errors():
    rows = iemocap_rows()
    with pytest.raises(FoldError, match="unknown valid"):
        leave_one_speaker_out(rows, valid="sideways")
    with pytest.raises(FoldError, match="no validation speaker"):
        leave_one_speaker_out(rows, valid={"Ses01F": "Ses01M"})
    with pytest.raises(FoldError, match="invalid validation speaker"):
        leave_one_speaker_out(rows, valid={r["speaker"]: r["speaker"] for r in rows})
    moved = [dict(r, session="2") if r["ID"] == "Ses01F_u000" else r for r in rows]
    with pytest.raises(FoldError, match="several sessions"):
        leave_one_speaker_out(moved)
    three = [r for r in rows if r["session"] in ("1", "2")] + [
        {"ID": "x1", "speaker": "Ses01X", "session": "1"}
    ]
    with pytest.raises(FoldError, match="exactly one other speaker"):
        leave_one_speaker_out(three)


# ---------------------------------------------------------------- random k-fold


def test_random_kfold_80_10_10_and_each_tested_once():
    rows = [{"ID": f"utt{i:03d}"} for i in range(100)]
    folds = random_kfold(rows, k=10, seed=5)
    assert [f.name for f in folds] == [f"fold{i:02d}" for i in range(1, 11)]
    assert all(f.sizes() == (80, 10, 10) for f in folds)
    tested = [i for f in folds for i in f.test_ids]
    assert sorted(tested) == sorted(all_ids(rows))
    for i, fold in enumerate(folds):
        assert fold.valid_ids == folds[(i + 1) % 10].test_ids


def test_random_kfold_uneven_determinism_and_valid_is_test():
    rows = [{"ID": f"u{i}"} for i in range(23)]
    folds = random_kfold(rows, k=5, seed=1)
    assert sorted(len(f.test_ids) for f in folds) == [4, 4, 5, 5, 5]
    assert folds == random_kfold(list(reversed(rows)), k=5, seed=1)
    assert folds != random_kfold(rows, k=5, seed=2)
    star = random_kfold(rows, k=5, seed=1, valid_is_test=True)
    assert all(
        f.valid_ids == f.test_ids and len(f.train_ids) + len(f.test_ids) == 23 for f in star
    )
    assert [f.test_ids for f in star] == [f.test_ids for f in folds]
    with pytest.raises(FoldError, match="k >= 3"):
        random_kfold(rows, k=2)
    with pytest.raises(FoldError, match="cannot make"):
        random_kfold(rows[:3], k=5)


def test_random_kfold_valid_ratio_takes_part_of_the_training_pool():
    rows = [{"ID": f"u{i:03d}"} for i in range(50)]
    plain = random_kfold(rows, k=5, seed=3)
    folds = random_kfold(rows, k=5, seed=3, valid_ratio=0.1)
    assert [f.test_ids for f in folds] == [f.test_ids for f in plain]  # same chunks
    rng = np.random.default_rng(3)
    rng.permutation(50)  # the chunk shuffle comes first
    for fold in folds:
        pool = sorted(all_ids(rows) - set(fold.test_ids))
        assert fold.sizes() == (36, 4, 10)
        order = rng.permutation(len(pool))
        assert list(fold.valid_ids) == sorted(pool[i] for i in order[36:])
    assert random_kfold(rows, k=2, valid_ratio=0.2)[0].sizes() == (20, 5, 25)
    with pytest.raises(FoldError, match="not both"):
        random_kfold(rows, k=5, valid_ratio=0.1, valid_is_test=True)
    with pytest.raises(FoldError, match="valid_ratio"):
        random_kfold(rows, k=5, valid_ratio=1.0)


# ---------------------------------------------------------------- fixed folds


def test_fixed_folds_emobox_style_speaker_groups():
    rows = iemocap_rows()
    speakers = sorted({r["speaker"] for r in rows})
    groups = [speakers[0:4], speakers[4:7], speakers[7:10]]
    folds = fixed_folds(rows, groups, valid_ratio=0.2, seed=1)
    assert [f.name for f in folds] == ["fold01", "fold02", "fold03"]
    rng = np.random.default_rng(1)  # one generator across folds, in group order
    for fold, group in zip(folds, groups):
        assert speakers_of(rows, fold.test_ids) == set(group)
        assert not speakers_of(rows, fold.train_ids + fold.valid_ids) & set(group)
        pool = sorted(all_ids(rows) - set(fold.test_ids))
        order = rng.permutation(len(pool))
        n_train = int(0.8 * len(pool))
        assert list(fold.valid_ids) == sorted(pool[i] for i in order[n_train:])
    tested = sorted(i for f in folds for i in f.test_ids)
    assert tested == sorted(all_ids(rows))  # every utterance tested once
    assert folds == make_folds("fixed_folds", rows, groups=groups, valid_ratio=0.2, seed=1)
    assert folds == fixed_folds(list(reversed(rows)), groups, valid_ratio=0.2, seed=1)
    assert folds != fixed_folds(rows, groups, seed=2)
    star = fixed_folds(rows, groups, valid_is_test=True)
    assert all(f.valid_ids == f.test_ids for f in star)
    assert [len(f.train_ids) for f in star] == [len(rows) - len(f.test_ids) for f in star]


def test_fixed_folds_of_another_column():
    """Groups of any column's values, e.g. a fold column written by hand."""
    rows = [{"ID": f"u{i:02d}", "speaker": f"s{i % 3}", "fold": str(i % 4)} for i in range(24)]
    folds = fixed_folds(rows, [["0", "1"], ["2", "3"]], column="fold", valid_is_test=True)
    assert [f.sizes() for f in folds] == [(12, 12, 12), (12, 12, 12)]
    # the groups of fold values are disjoint, the speakers need not be
    assert speakers_of(rows, folds[0].test_ids) == speakers_of(rows, folds[0].train_ids)


def test_fixed_folds_reject_bad_groups():
    rows = iemocap_rows()
    speakers = sorted({r["speaker"] for r in rows})
    with pytest.raises(FoldError, match=r"speaker value\(s\) .* are in no group"):
        fixed_folds(rows, [speakers[:4], speakers[4:9]])
    with pytest.raises(FoldError, match="in groups 1 and 2"):
        fixed_folds(rows, [speakers[:5], speakers[4:]])
    with pytest.raises(FoldError, match="no utterance of group 3"):
        fixed_folds(rows, [speakers[:5], speakers[5:], ["nobody"]])
    with pytest.raises(FoldError, match="at least 2"):
        fixed_folds(rows, [speakers])
    with pytest.raises(FoldError, match="group 2 must be a non-empty list"):
        fixed_folds(rows, [speakers, "Ses05M"])
    with pytest.raises(FoldError, match="has no 'emobox_fold' value"):
        fixed_folds(rows, [["1"], ["2"]], column="emobox_fold")


# ---------------------------------------------------------------- predefined


def test_predefined_split_aliases_and_valid_ratio():
    rows = [{"ID": f"t{i}", "split": "train"} for i in range(10)]
    rows += [{"ID": "d0", "split": "Dev"}, {"ID": "e0", "split": "test"}]
    (fold,) = predefined_split(rows)
    assert fold.valid_ids == ("d0",) and fold.test_ids == ("e0",) and len(fold.train_ids) == 10
    no_valid = [r for r in rows if r["split"] != "Dev"]
    with pytest.raises(FoldError, match="valid_ratio"):
        predefined_split(no_valid)
    (carved,) = predefined_split(no_valid, valid_ratio=0.1, seed=0)
    assert carved.sizes() == (9, 1, 1)
    with pytest.raises(FoldError, match="unknown split value 'holdout'"):
        predefined_split(rows + [{"ID": "h", "split": "holdout"}])


# ---------------------------------------------------------------- dispatcher and checks


def test_make_folds_dispatch():
    rows = iemocap_rows()
    assert make_folds("loso_session", rows, seed=3) == leave_one_session_out(rows, seed=3)
    assert make_folds("loso_speaker", rows) == leave_one_speaker_out(rows)
    assert len(make_folds("random_kfold", rows, k=4)) == 4
    with pytest.raises(ValueError, match="unknown protocol 'kfold'.*loso_session"):
        make_folds("kfold", rows)


def test_fold_checks_itself():
    with pytest.raises(FoldError, match="train and test"):
        Fold("x", ("a", "b"), ("c",), ("b",))
    with pytest.raises(FoldError, match="valid and test"):
        Fold("x", ("a",), ("c",), ("c",))
    with pytest.raises(FoldError, match="empty train or test"):
        Fold("x", (), ("c",), ("d",))
    with pytest.raises(FoldError, match="valid differs from test"):
        Fold("x", ("a",), ("c",), ("d",), valid_is_test=True)
    with pytest.raises(FoldError, match="duplicate"):
        Fold("x", ("a", "a"), ("c",), ("d",))
    assert Fold("x", ("b", "a"), ("d",), ("d",), valid_is_test=True).train_ids == ("a", "b")
    fold = Fold("x", ("a", "b"), ("c",), ("d",))
    with pytest.raises(FoldError, match=r"speaker\(s\) \['s1'\] in both train and test"):
        fold.check_groups({"a": "s1", "b": "s2", "c": "s3", "d": "s1"}, "speaker")


def test_rows_are_validated():
    with pytest.raises(FoldError, match="duplicate ID"):
        random_kfold([{"ID": "a"}, {"ID": "a"}, {"ID": "b"}], k=3)
    with pytest.raises(FoldError, match="has no 'session' value"):
        leave_one_session_out([{"ID": "a", "speaker": "s"}, {"ID": "b", "session": "1"}])
    with pytest.raises(FoldError, match="no rows"):
        random_kfold([], k=3)
    with pytest.raises(FoldError, match="at least 2 sessions"):
        leave_one_session_out([{"ID": "a", "session": "1"}, {"ID": "b", "session": "1"}])


def test_session_protocol_catches_speaker_leak():
    rows = iemocap_rows()
    leaky = [dict(r, speaker="Ses01F") if r["ID"] == "Ses02M_u000" else r for r in rows]
    with pytest.raises(FoldError, match=r"speaker\(s\) \['Ses01F'\] in both train and test"):
        leave_one_session_out(leaky)


def test_folds_on_prepared_fake_iemocap(tmp_path):
    fake = make_fake_iemocap(tmp_path / "src", seconds=0.1)
    rows = read_manifest(prepare_iemocap(fake.src_dir, tmp_path / "out"))
    session_folds = make_folds("loso_session", rows)
    assert [len(f.test_ids) for f in session_folds] == [
        sum(c.values()) for c in fake.expected_counts().values()
    ]
    speaker_folds = make_folds("loso_speaker", rows)
    assert len(speaker_folds) == 10
    for fold in speaker_folds:
        labels = {r["label"] for r in rows if r["ID"] in set(fold.test_ids)}
        assert labels == {"ang", "hap", "neu", "sad"}
