"""The ``custom`` corpus (a user's own data) and the ``holdout`` protocol."""

import json
from collections import Counter

import numpy as np
import pytest
import soundfile

from emotion2vec.corpora import corpus_info, prepare_corpus
from emotion2vec.corpora.common import PrepError
from emotion2vec.corpora.manifest import marker_path, read_manifest
from emotion2vec.corpora.custom import prepare_custom
from emotion2vec.downstream.crossval import with_corpus_defaults
from emotion2vec.downstream.folds import FoldError, holdout_split, make_folds
from tests.fakes.custom import LABELS, make_custom_folder, tone


def test_folder_per_class_any_labels_rates_and_junk(tmp_path, caplog):
    fake = make_custom_folder(tmp_path / "mydata", per_class=6)
    csv_path = prepare_corpus("custom", fake.root, tmp_path / "prep")
    rows = read_manifest(csv_path, columns=("ID", "wav", "duration", "label", "speaker", "split"))
    assert {r["ID"]: r["label"] for r in rows} == fake.kept
    assert sorted({r["label"] for r in rows}) == sorted(LABELS)
    assert all(float(r["duration"]) > 0.5 and r["split"] == "" for r in rows)
    marker = json.loads(marker_path(csv_path).read_text())
    skipped = {path for path, _ in marker["summary"]["skipped"]}
    assert skipped == {str(p) for p in fake.junk}  # reported, with reasons
    reasons = " ".join(reason for _, reason in marker["summary"]["skipped"])
    assert "too short" in reasons and "class folder" in reasons
    assert not any("._" in p for p in skipped)  # AppleDouble silently ignored
    # a second preparation reuses the CSV; changed data is never read through it
    assert prepare_custom(fake.root, tmp_path / "prep") == csv_path
    soundfile.write(fake.root / "zen" / "new.wav", tone("zen", 0.7, 16000, 1, 3), 16000)
    with pytest.raises(PrepError, match="listing_sha256"):
        prepare_custom(fake.root, tmp_path / "prep")


def test_labels_are_the_ones_found_and_the_protocol_is_holdout(tmp_path):
    fake = make_custom_folder(tmp_path / "d", per_class=6)
    rows = read_manifest(prepare_corpus("custom", fake.root, tmp_path / "prep"))
    info = corpus_info("custom")
    assert info.labels == () and info.default_protocol == "holdout"
    filled = with_corpus_defaults({"corpus": "custom", "labels": None, "protocol": None,
                                   "fold_options": {}}, rows)
    assert filled["labels"] == sorted(LABELS) == ["Grumpy", "zen", "über"]
    fold, = make_folds(filled["protocol"], rows, **filled["fold_options"])
    assert fold.name == "holdout_label"  # no speakers, no split: stratified
    label_of = {r["ID"]: r["label"] for r in rows}
    for part in (fold.train_ids, fold.valid_ids, fold.test_ids):
        assert Counter(label_of[i] for i in part).keys() == set(LABELS)


def write_csv_corpus(root, speakers=6, per_speaker=4, with_split=True):
    root.mkdir(parents=True)
    lines = ["ID,Wav,label,speaker,split,comment"]
    for s in range(speakers):
        for i in range(per_speaker):
            label = LABELS[(s + i) % 3]
            rel = f"audio/spk{s}/u{i}.wav"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(root / rel, tone(label, 0.5, 22050, 2, s * 10 + i), 22050)
            split = ("train", "train", "dev", "test", "train", "TEST")[s] if with_split else ""
            lines.append(f"s{s}_u{i},{rel},{label},spk{s},{split},free text")
    lines.append("missing,audio/none.wav,zen,spk0,train,")
    lines.append("nolabel,audio/spk0/u0.wav,,spk0,train,")
    (root / "manifest.csv").write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    return root / "manifest.csv"


def test_csv_manifest_with_given_splits(tmp_path):
    manifest = write_csv_corpus(tmp_path / "corpus")
    rows = read_manifest(prepare_custom(manifest, tmp_path / "prep"))
    assert len(rows) == 24 and all(r["wav"].startswith(str(tmp_path)) for r in rows)
    marker = json.loads(marker_path(tmp_path / "prep" / "custom.csv").read_text())
    assert len(marker["summary"]["skipped"]) == 2  # the missing file and the row without label
    fold, = make_folds("holdout", rows, **corpus_info("custom").fold_options("holdout"))
    split_of = {r["ID"]: r["split"].lower() for r in rows}
    assert fold.name == "holdout_given"
    assert {split_of[i] for i in fold.train_ids} == {"train"}
    assert {split_of[i] for i in fold.valid_ids} == {"dev"}
    assert {split_of[i] for i in fold.test_ids} == {"test"}


def test_csv_manifest_without_splits_is_speaker_independent(tmp_path):
    manifest = write_csv_corpus(tmp_path / "corpus", speakers=10, with_split=False)
    rows = read_manifest(prepare_custom(manifest, tmp_path / "prep"))
    fold, = make_folds("holdout", rows, ratios=[0.8, 0.1, 0.1], split_by="auto", seed=1)
    assert fold.name == "holdout_speaker"
    speaker_of = {r["ID"]: r["speaker"] for r in rows}
    parts = [{speaker_of[i] for i in ids} for ids in (fold.train_ids, fold.valid_ids, fold.test_ids)]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert fold.sizes() == (32, 4, 4)


def test_bad_sources_are_one_clear_error(tmp_path):
    with pytest.raises(PrepError, match="does not exist"):
        prepare_custom(tmp_path / "nothing", tmp_path / "prep")
    (tmp_path / "m.csv").write_text("path,emotion\na.wav,x\n")
    with pytest.raises(PrepError, match=r"no column\(s\) \['wav', 'label'\]"):
        prepare_custom(tmp_path / "m.csv", tmp_path / "prep")
    one = tmp_path / "one" / "happy"
    one.mkdir(parents=True)
    soundfile.write(one / "a.wav", np.zeros(8000, dtype=np.float32), 16000)
    with pytest.raises(PrepError, match="only one class"):
        prepare_custom(tmp_path / "one", tmp_path / "prep")


def rows_of(n, labels=("a", "b", "c"), speakers=None, split=None):
    return [dict(ID=f"u{i:03d}", label=labels[i % len(labels)],
                 speaker=f"s{i % speakers}" if speakers else "",
                 split=split[i % len(split)] if split else "") for i in range(n)]


def test_holdout_modes():
    rows = rows_of(60, speakers=6)
    speaker, = holdout_split(rows, seed=3)
    assert speaker.name == "holdout_speaker" and sum(speaker.sizes()) == 60
    again, = holdout_split(rows, seed=3)
    assert again == speaker  # deterministic
    label, = holdout_split(rows, split_by="label")
    assert label.sizes() == (48, 6, 6)
    random, = holdout_split(rows, split_by="random", ratios=[0.6, 0.2, 0.2])
    assert random.sizes() == (36, 12, 12)
    # two speakers cannot be speaker-independent: auto falls back to labels
    assert holdout_split(rows_of(30, speakers=2))[0].name == "holdout_label"
    with pytest.raises(FoldError, match="at least 3 speakers"):
        holdout_split(rows_of(30, speakers=2), split_by="speaker")
    with pytest.raises(FoldError, match="unknown split_by"):
        holdout_split(rows, split_by="folds")
    with pytest.raises(FoldError, match="ratios"):
        holdout_split(rows, ratios=[0.9, 0.1, 0.0])


def test_holdout_given_split_draws_valid_when_absent():
    rows = rows_of(40, speakers=8, split=["train", "train", "train", "test"])
    fold, = holdout_split(rows)
    assert fold.name == "holdout_given" and fold.sizes()[2] == 10
    speaker_of = {r["ID"]: r["speaker"] for r in rows}
    assert not {speaker_of[i] for i in fold.valid_ids} & {speaker_of[i] for i in fold.train_ids}
    with pytest.raises(FoldError, match="unknown split value"):
        holdout_split(rows_of(9, split=["train", "eval", "test"]))
    with pytest.raises(FoldError, match="no test rows"):
        holdout_split(rows_of(9, split=["train", "valid"]))
