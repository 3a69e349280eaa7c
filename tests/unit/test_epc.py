"""Emotion prediction in conversation: dialogue preparation, turns and samples,
folds by target speaker, the per-fold tokenizer (training transcripts only),
the hierarchical GRU's shapes and masking, batches, the text vector cache,
and the driver's resume / refusal rules (in process, on the fake IEMOCAP)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from emotion2vec.corpora.common import PrepError
from emotion2vec.corpora.manifest import read_manifest
from emotion2vec.corpora.iemocap import TEXT_COLUMN, parse_transcription, prepare_iemocap
from emotion2vec.downstream.crossval import CrossValError
from emotion2vec.downstream.folds import FoldError
from emotion2vec.epc import crossval as epc_crossval
from emotion2vec.epc.brain import EpcBrain
from emotion2vec.epc.data import EpcDataset, UtteranceVectors, collate_samples
from emotion2vec.epc.dialogues import (
    Utterance,
    build_dialogues,
    make_samples,
    split_turns,
    turn_label,
)
from emotion2vec.epc.model import EpcModel, HierarchicalGRU
from emotion2vec.epc.text import TextVectorCache, hf_text_encoder, train_sentencepiece
from emotion2vec.model import Emotion2vecModel
from emotion2vec.model_folder import save_model_folder
from emotion2vec.recipe_hparams import load_recipe_hparams
from tests.conftest import tiny_config
from tests.fakes.iemocap import EMOTION_WORDS, SESSION_WORDS, make_fake_iemocap

ROOT = Path(__file__).resolve().parents[2]
HPARAMS = ROOT / "recipes" / "IEMOCAP" / "emotion_prediction" / "hparams"
CLASSES = ["ang", "hap", "neu", "sad"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Fake IEMOCAP with multi-utterance turns, prepared for EPC, and a tiny model."""
    root = tmp_path_factory.mktemp("epc")
    fake = make_fake_iemocap(root / "src", utts_per_dialog=8, seconds=0.3, multi_utterance_turns=True)
    csv_path = prepare_iemocap(fake.src_dir, root / "epc_data", keep_all_utterances=True,
                               transcripts=True)
    torch.manual_seed(0)
    model = Emotion2vecModel(tiny_config())
    save_model_folder(root / "tiny", model.config, model.state_dict())
    return {"root": root, "fake": fake, "csv": csv_path, "rows": read_manifest(csv_path)}


def _utt(uid, speaker, start, label="neu", text=""):
    return dict(ID=uid, label=label, speaker=speaker, session="1", dialog="d", start=str(start),
                end=str(start + 0.5), text=text)


# Preparation -------------------------------------------------------------------

def test_prepare_keeps_every_utterance_with_its_transcript(corpus):
    fake, rows = corpus["fake"], corpus["rows"]
    assert {r["ID"] for r in rows} == set(fake.labels)  # fru, xxx, sur kept too
    for row in rows:
        code = fake.labels[row["ID"]]
        assert row["label"] == {"exc": "hap"}.get(code, code) and row["emo_raw"] == code
        session = int(row["session"])
        assert row[TEXT_COLUMN].endswith(f"{EMOTION_WORDS[code]} {SESSION_WORDS[session]}.")
    marker = json.loads(corpus["csv"].with_name("iemocap.csv.prep.json").read_text())
    assert marker["options"]["keep_all_utterances"] and marker["options"]["transcripts"]
    assert marker["summary"]["without_transcript"] == 0
    with pytest.raises(PrepError, match="different options"):  # the 4-class prep is another folder
        prepare_iemocap(fake.src_dir, corpus["csv"].parent)


def test_parse_transcription_skips_unnumbered_lines(corpus):
    path = corpus["fake"].root / "Session1" / "dialog" / "transcriptions" / "Ses01F_impro01.txt"
    texts = parse_transcription(path)
    assert len(texts) == 8 and not any("XX" in uid for uid in texts)
    assert texts["Ses01F_impro01_M000"] == "Fake words number 1, wonderful apple."


# Dialogues, turns, samples -------------------------------------------------------

def test_dialogue_order_turns_and_samples_exactly():
    rows = [_utt("d_M001", "B", 4.0), _utt("d_F000", "A", 0.0), _utt("d_F001", "A", 1.0, "sad"),
            _utt("d_M000", "B", 2.0, "xxx"), _utt("d_F002", "A", 3.0, "hap"),
            _utt("d_F003", "A", 5.0, "ang"), _utt("d_F004", "A", 6.0, "fru")]
    (dialogue,) = build_dialogues(rows)
    assert [u.utt_id for u in dialogue.utterances] == [
        "d_F000", "d_F001", "d_M000", "d_F002", "d_M001", "d_F003", "d_F004"]
    turns = dialogue.turns()
    assert [(t.speaker, t.utt_ids) for t in turns] == [
        ("A", ("d_F000", "d_F001")), ("B", ("d_M000",)), ("A", ("d_F002",)),
        ("B", ("d_M001",)), ("A", ("d_F003", "d_F004"))]
    samples = make_samples([dialogue], CLASSES, history_turns=3)
    # turn 1 is xxx only: no target; the others are, with up to 3 turns before them
    assert [(s.sample_id, s.speaker, s.label, s.target_turn) for s in samples] == [
        ("d_T002", "A", "hap", 2), ("d_T003", "B", "neu", 3), ("d_T004", "A", "ang", 4)]
    assert [[t.utt_ids for t in s.history] for s in samples] == [
        [("d_F000", "d_F001"), ("d_M000",)],  # short history: 2 turns (padded by the model)
        [("d_F000", "d_F001"), ("d_M000",), ("d_F002",)],
        [("d_M000",), ("d_F002",), ("d_M001",)]]  # window of the last 3 turns
    assert [s.own_turns for s in samples] == [(True, False), (False, True, False), (False, True, False)]
    assert samples[1].row() == {"ID": "d_T003", "label": "neu", "speaker": "B", "session": "1",
                                "dialog": "d"}
    full = make_samples([dialogue], CLASSES, history_turns=3, min_history_turns=3)
    assert [s.sample_id for s in full] == ["d_T003", "d_T004"]


def test_turn_label_rules():
    def turn(*labels):
        return split_turns([Utterance(f"u{i}", "A", i, i + 1, c) for i, c in enumerate(labels)])[0]

    assert turn_label(turn("neu", "sad"), CLASSES) == "sad"  # tie: the later class
    assert turn_label(turn("sad", "neu", "sad"), CLASSES) == "sad"
    assert turn_label(turn("fru", "fru", "neu"), CLASSES) == "neu"  # others abstain
    assert turn_label(turn("hap", "sad", "xxx"), CLASSES, "last") == "sad"
    assert turn_label(turn("xxx", "fru"), CLASSES) is None
    with pytest.raises(ValueError, match="majority"):
        turn_label(turn("neu"), CLASSES, "mean")


def test_rows_without_dialogue_columns_are_refused():
    with pytest.raises(ValueError, match="keep_all_utterances"):
        build_dialogues([{"ID": "a", "label": "neu", "speaker": "A", "session": "1"}])


def test_samples_of_the_fake_corpus(corpus):
    dialogues = build_dialogues(corpus["rows"])
    assert len(dialogues) == 15
    samples = make_samples(dialogues, CLASSES)
    by_dialog = {d.name: d.turns() for d in dialogues}
    assert all(len(t) == 5 for t in by_dialog.values())  # F | M M | F F F | M | F
    for sample in samples:
        turns = by_dialog[sample.dialog]
        assert sample.history == tuple(turns[max(0, sample.target_turn - 6): sample.target_turn])
        assert sample.speaker == turns[sample.target_turn].speaker != sample.history[-1].speaker
        assert sample.label in CLASSES and sample.session == sample.dialog[4]
    assert len({s.sample_id for s in samples}) == len(samples)


def test_folds_by_target_speaker_keep_dialogues_apart(corpus):
    samples = make_samples(build_dialogues(corpus["rows"]), CLASSES)
    hparams = {"protocol": "loso_speaker", "fold_options": {"valid": "same_session"}}
    folds = epc_crossval.make_epc_folds(hparams, samples)
    by_id = {s.sample_id: s for s in samples}
    assert len(folds) == 10
    for fold in folds:
        speaker = fold.name.split("_", 1)[1]
        assert {by_id[i].speaker for i in fold.test_ids} == {speaker}
        assert {by_id[i].session for i in fold.valid_ids} == {speaker[4]}
        assert speaker[4] not in {by_id[i].session for i in fold.train_ids}
    with pytest.raises(FoldError, match="histories would leak"):
        epc_crossval.make_epc_folds(dict(hparams, fold_options={"valid": "next_speaker"}), samples)


# Batches and the model -------------------------------------------------------------

def test_dataset_and_collate_pad_after_the_valid_turns():
    rows = [_utt("d_F000", "A", 0.0), _utt("d_M000", "B", 1.0, "sad"), _utt("d_M001", "B", 2.0),
            _utt("d_F001", "A", 3.0, "hap")]
    samples = make_samples(build_dialogues(rows), CLASSES)
    vectors = {r["ID"]: np.full(2, float(i + 1), dtype=np.float32) for i, r in enumerate(rows)}

    class Store:
        def get(self, uid):
            return vectors[uid][None]

    tokens = {"d_F000": np.array([5]), "d_M000": np.array([6, 7, 8]), "d_M001": np.array([9])}
    data = EpcDataset(samples, {c: i for i, c in enumerate(CLASSES)}, UtteranceVectors([Store()]), tokens)
    batch = collate_samples([data[0], data[1]])  # histories: [F000] and [F000 | M000 M001]
    # target turn 1 = M000 sad + M001 neu: a tie, the later class (neu) wins
    assert batch.id == ["d_T001", "d_T002"] and batch.label_id.data.view(-1).tolist() == [2, 1]
    assert batch.turn_counts.tolist() == [1, 2] and batch.utt_counts.tolist() == [[1, 0], [1, 2]]
    assert batch.own.tolist() == [[False, False], [True, False]]
    assert batch.vectors.shape == (2, 2, 2, 2) and batch.vectors[0, 1].abs().sum() == 0
    assert batch.vectors[1, 1, :, 0].tolist() == [2.0, 3.0]
    assert batch.tokens[1, 1].tolist() == [[6, 7, 8], [9, 0, 0]]
    assert batch.token_counts.tolist() == [[[1, 0], [0, 0]], [[1, 0], [3, 1]]]


def _alone_and_mixed(item, longer):
    """A batch of ``item`` alone, and one of ``item`` beside a longer sample."""
    return collate_samples([item]), collate_samples([item, longer])


def test_model_output_does_not_depend_on_padding():
    torch.manual_seed(0)
    model = EpcModel(4, vector_dim=3, vocab_size=12, text_embed_dim=4, text_hidden=3,
                     utt_hidden=5, turn_hidden=6).eval()
    rng = np.random.default_rng(0)
    short = dict(id="a", label=0, own=[True], utt_counts=[1],
                 vectors=[[rng.normal(size=3)]], tokens=[[np.array([3, 4])]])
    long = dict(id="b", label=1, own=[False, True, False], utt_counts=[2, 3, 1],
                vectors=[[rng.normal(size=3) for _ in range(n)] for n in (2, 3, 1)],
                tokens=[[np.arange(1, 6)] * n for n in (2, 3, 1)])
    alone, mixed = _alone_and_mixed(short, long)
    logits_alone, emb_alone = model(**alone.model_inputs())
    logits_mixed, emb_mixed = model(**mixed.model_inputs())
    assert logits_mixed.shape == (2, 4) and emb_mixed.shape == (2, 6)
    assert torch.allclose(logits_alone[0], logits_mixed[0], atol=1e-6)
    # garbage in the padding changes nothing, and gets no gradient
    mixed.vectors[0, 1:] = 1e3
    mixed.vectors.requires_grad_(True)
    logits, _ = model(**mixed.model_inputs())
    assert torch.allclose(logits[0], logits_alone[0], atol=1e-6)
    logits[0].sum().backward()
    assert mixed.vectors.grad[0, 1:].abs().sum() == 0 and mixed.vectors.grad[0, 0, 0].abs().sum() > 0


def test_model_shapes_and_checks():
    net = HierarchicalGRU(4, 3, utt_hidden=5, turn_hidden=6, speaker_flag=False)
    x = torch.randn(2, 3, 2, 4)
    with pytest.raises(ValueError, match="first turn_counts turns"):
        net(x, torch.tensor([[1, 0, 1], [1, 0, 0]]), torch.tensor([3, 1]), torch.zeros(2, 3))
    with pytest.raises(ValueError, match=">= 1 history turn"):
        net(x, torch.tensor([[1, 1, 1], [0, 0, 0]]), torch.tensor([3, 0]), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="frozen vectors .* and/or tokens"):
        EpcModel(4)
    text_only = EpcModel(4, vocab_size=9, text_embed_dim=4, text_hidden=2, utt_hidden=3, turn_hidden=3)
    assert not text_only.input_norm and text_only.utterance_dim == 4
    with pytest.raises(ValueError, match="without input_norm"):
        text_only.set_input_statistics(torch.zeros(1), torch.ones(1))


# Text ----------------------------------------------------------------------------

def test_text_vector_cache_is_reused_and_keyed_on_the_texts(tmp_path):
    calls = []

    def encode(texts):
        calls.append(list(texts))
        return np.array([[len(t), 0.0] for t in texts], dtype=np.float32)

    first = TextVectorCache(tmp_path, {"u1": "hi", "u2": "hey"}, {"kind": "len"}, encode).build()
    again = TextVectorCache(tmp_path, {"u1": "hi", "u2": "hey"}, {"kind": "len"}, encode).build()
    assert calls == [["hi", "hey"]] and again.get("u2").tolist() == first.get("u2").tolist() == [3.0, 0.0]
    other = TextVectorCache(tmp_path, {"u1": "hi", "u2": "hello"}, {"kind": "len"}, encode)
    assert other.build().get("u2")[0] == 5.0 and len(calls) == 2
    with pytest.raises(FileNotFoundError, match="not a local folder"):
        hf_text_encoder(tmp_path / "bert-base-uncased")


def test_sentencepiece_training_is_deterministic(tmp_path):
    texts = [f"we talk about {w} number {i}" for i, w in enumerate(["apples", "pears"] * 5)]
    a = train_sentencepiece(texts, tmp_path / "a.model", vocab_size=40).read_bytes()
    b = train_sentencepiece(texts, tmp_path / "b.model", vocab_size=40).read_bytes()
    assert a == b
    with pytest.raises(ValueError, match="no transcript"):
        train_sentencepiece(["", "  "], tmp_path / "c.model")


# The driver, in process ------------------------------------------------------------

def _hparams(corpus, out, file="epc_speech_text.yaml", **overrides):
    values = {
        "data_folder": str(corpus["fake"].src_dir), "upstream_source": str(corpus["root"] / "tiny"),
        "results_root": str(corpus["root"] / "results"), "prep_folder": str(corpus["csv"].parent),
        "output_folder": str(out), "number_of_epochs": 1, "batch_size": 8, "plots": False,
        "run_folds": ["speaker_Ses01F"], "vocab_size": 60,
    }
    values.update(overrides)
    return load_recipe_hparams(HPARAMS / file, values)


def test_fold_trains_tokenizer_and_statistics_on_training_samples_only(corpus, tmp_path, monkeypatch):
    seen = {}
    real_train = epc_crossval.train_sentencepiece

    def spy(texts, model_path, **kwargs):
        seen["texts"] = list(texts)
        return real_train(texts, model_path, **kwargs)

    monkeypatch.setattr(epc_crossval, "train_sentencepiece", spy)
    out = tmp_path / "run"
    summary = epc_crossval.run_epc(_hparams(corpus, out))
    assert summary["num_folds"] == 1 and 0 <= summary["mean"]["ua"] <= 1
    # the test speaker is Ses01F: session 1 (test and validation dialogues) gives no text
    assert seen["texts"] and not any(SESSION_WORDS[1] in t for t in seen["texts"])
    assert {w for w in SESSION_WORDS.values() if any(w in t for t in seen["texts"])} == {
        SESSION_WORDS[s] for s in (2, 3, 4, 5)}
    fold_dir = out / "folds" / "speaker_Ses01F"
    split = json.loads((fold_dir / "split.json").read_text())
    samples = {s.sample_id: s for s in make_samples(build_dialogues(corpus["rows"]), CLASSES)}
    train_utts = epc_crossval.fold_utterances([samples[i] for i in split["train"]])
    texts = {r["ID"]: r["text"] for r in corpus["rows"]}
    assert seen["texts"] == [texts[u] for u in train_utts]
    assert (fold_dir / "tokenizer.model").is_file()
    # input standardisation: training-fold utterances only
    state = torch.load(fold_dir / "best_model.ckpt")
    hp = _hparams(corpus, out)
    inputs, _ = epc_crossval.prepare_inputs(hp, corpus["rows"])
    mean, std = inputs.vectors.statistics(train_utts)
    assert torch.allclose(state["input_mean"], mean) and torch.allclose(state["input_std"], std.clamp_min(1e-5))
    predicted = (fold_dir / "predictions.csv").read_text().splitlines()
    assert len(predicted) == 1 + len(split["test"]) and all(",Ses01F," in line for line in predicted[1:])

    # a re-run skips the finished fold; other settings are refused
    def no_training(*args, **kwargs):
        raise AssertionError("a finished fold was trained again")

    monkeypatch.setattr(EpcBrain, "fit", no_training)
    assert epc_crossval.run_epc(_hparams(corpus, out))["mean"] == summary["mean"]
    with pytest.raises(CrossValError, match="other settings .*samples"):
        epc_crossval.run_epc(_hparams(corpus, out, history_turns=4))


def test_driver_refusals(corpus, tmp_path):
    with pytest.raises(CrossValError, match="modality"):
        epc_crossval.run_epc(_hparams(corpus, tmp_path / "a", modality="video"))
    with pytest.raises(CrossValError, match=r"run_folds \['speaker_X'\]"):
        epc_crossval.run_epc(_hparams(corpus, tmp_path / "b", run_folds=["speaker_X"]))
    plain = prepare_iemocap(corpus["fake"].src_dir, tmp_path / "plain", keep_all_utterances=True)
    with pytest.raises(CrossValError, match="transcripts=True"):
        epc_crossval.run_epc(_hparams(corpus, tmp_path / "c", file="epc_text.yaml",
                                      prep_folder=str(plain.parent)))


def test_bert_text_features_feed_the_model_as_frozen_vectors(corpus, tmp_path, monkeypatch):
    """The BERT path (transformers replaced by a fake encoder of the same contract)."""
    calls = []

    def fake_encoder(source, pooling, max_length, device="cpu"):
        def encode(texts):
            calls.append(len(texts))
            return np.array([[len(t), t.count("great"), t.count("gloomy")] for t in texts], np.float32)
        return {"kind": "fake_bert", "source": str(source), "pooling": pooling}, encode

    monkeypatch.setattr(epc_crossval, "hf_text_encoder", fake_encoder)
    (tmp_path / "bert").mkdir()
    hparams = _hparams(corpus, tmp_path / "run", file="epc_text.yaml", text_encoder="bert",
                       bert_source=str(tmp_path / "bert"))
    summary = epc_crossval.run_epc(hparams)
    assert calls == [len(corpus["rows"])]  # every utterance encoded once
    assert summary["settings"]["inputs"]["text"]["encoder"] == "bert"
    assert summary["settings"]["model"]["vector_dim"] == 3 and summary["settings"]["model"]["vocab_size"] == 0
    fold_dir = tmp_path / "run" / "folds" / "speaker_Ses01F"
    assert not (fold_dir / "tokenizer.model").exists()
    state = torch.load(fold_dir / "best_model.ckpt")
    assert state["input_mean"].shape == (3,) and not any(k.startswith("text.") for k in state)
    epc_crossval.run_epc(_hparams(corpus, tmp_path / "again", file="epc_text.yaml",
                                  text_encoder="bert", bert_source=str(tmp_path / "bert")))
    assert calls == [len(corpus["rows"])]  # the cached vectors are reused


def test_interrupted_fold_resumes_with_its_tokenizer(corpus, tmp_path, monkeypatch):
    out = tmp_path / "run"
    real_end = EpcBrain.on_stage_end

    def crash_in_epoch_2(self, stage, loss, epoch=None):
        if epoch == 2:
            raise KeyboardInterrupt
        return real_end(self, stage, loss, epoch)

    monkeypatch.setattr(EpcBrain, "on_stage_end", crash_in_epoch_2)
    hparams = dict(file="epc_text.yaml", number_of_epochs=2, run_folds=["speaker_Ses03M"])
    with pytest.raises(KeyboardInterrupt):
        epc_crossval.run_epc(_hparams(corpus, out, **hparams))
    tokenizer = out / "folds" / "speaker_Ses03M" / "tokenizer.model"
    stamp = tokenizer.stat().st_mtime_ns
    monkeypatch.setattr(EpcBrain, "on_stage_end", real_end)
    epc_crossval.run_epc(_hparams(corpus, out, **hparams))
    log = (out / "folds" / "speaker_Ses03M" / "train_log.txt").read_text().splitlines()
    assert [line.split(",")[0] for line in log[:2]] == ["epoch: 1", "epoch: 2"]
    assert tokenizer.stat().st_mtime_ns == stamp  # the checkpoint's tokenizer, not a new one
