"""Cross-validation driver: aggregation, skipping finished folds, resume, refusals;
downstream export and the ``prepare`` / ``export`` CLI."""

import json
from pathlib import Path

import pytest
import torch

from emotion2vec import cli
from emotion2vec.corpora import prepare_corpus
from emotion2vec.downstream import crossval
from emotion2vec.downstream.brain import EmotionBrain
from emotion2vec.downstream.crossval import CrossValError, aggregate, results_table, run_crossval
from emotion2vec.downstream.export import ExportError, export_downstream
from emotion2vec.model import Emotion2vecModel
from emotion2vec.model_folder import save_model_folder
from emotion2vec.recipe_hparams import load_recipe_hparams
from tests.conftest import tiny_config
from tests.fakes.iemocap import make_fake_iemocap

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "IEMOCAP" / "emotion_recognition" / "hparams"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Fake IEMOCAP, its manifest and a tiny emotion2vec model folder."""
    root = tmp_path_factory.mktemp("crossval")
    fake = make_fake_iemocap(root / "src", utts_per_dialog=6, seconds=0.5)
    prepare_corpus("iemocap", fake.src_dir, root / "results" / "data")
    torch.manual_seed(0)
    model = Emotion2vecModel(tiny_config())
    save_model_folder(root / "tiny", model.config, model.state_dict())
    return root


def _hparams(corpus, out, file="emotion2vec_loso_session.yaml", **overrides):
    values = {
        "data_folder": str(corpus / "src"),
        "upstream_source": str(corpus / "tiny"),
        "results_root": str(corpus / "results"),
        "output_folder": str(out),
        "number_of_epochs": 1,
        "batch_size": 8,
        "plots": False,
        "run_folds": ["session1", "session2"],
    }
    values.update(overrides)
    return load_recipe_hparams(RECIPE / file, values)


def test_aggregate_and_table():
    folds = [
        dict(fold=f"session{i}", sizes=[8, 2, 3], best_epoch=i, valid={"WA": 0.5},
             wa=w, ua=w - 0.1, wf1=w, macro_f1=w, report={"confusion_matrix": [[1, 0], [0, 1]]})
        for i, w in ((1, 0.6), (2, 0.8))
    ]
    settings = {"corpus": "iemocap", "protocol": "loso_session", "feature": "utt+frm",
                "fold_options": {"valid_is_test": True}, "num_folds": 5,
                "upstream": {"name": "emotion2vec_base"}, "head": {"type": "superb"}}
    summary = aggregate(folds, settings)
    assert summary["mean"]["wa"] == pytest.approx(0.7) and summary["std"]["wa"] == pytest.approx(0.1)
    table = results_table(summary)
    assert "| emotion2vec_base | Utt+Frm | leave-one-session-out 5-fold* | 70.00 ± 10.00 |" in table
    assert "| session2 | 8 / 2 / 3 | 2 | 50.00 | 80.00 | 70.00 | 80.00 |" in table


def test_finished_folds_are_skipped_and_changes_refused(corpus, tmp_path, monkeypatch):
    out = tmp_path / "run"
    first = run_crossval(_hparams(corpus, out))
    assert first["num_folds"] == 2 and [f["fold"] for f in first["folds"]] == ["session1", "session2"]
    saved = json.loads((out / "results.json").read_text())
    assert saved["mean"] == first["mean"] and saved["labels"] == ["ang", "hap", "neu", "sad"]
    split = json.loads((out / "folds" / "session1" / "split.json").read_text())
    assert all(uid.startswith("Ses01") for uid in split["test"])
    assert not any(uid.startswith("Ses01") for uid in split["train"] + split["valid"])

    def no_training(*args, **kwargs):
        raise AssertionError("a finished fold was trained again")

    monkeypatch.setattr(EmotionBrain, "fit", no_training)
    assert run_crossval(_hparams(corpus, out))["mean"] == first["mean"]
    with pytest.raises(CrossValError, match="other settings .*fold_options"):
        run_crossval(_hparams(corpus, out, fold_options={"valid_ratio": 0.3, "seed": 1}))
    done = out / "folds" / "session1" / "fold_result.json"
    done.write_text(json.dumps(dict(json.loads(done.read_text()), ids_sha256="x")))
    with pytest.raises(CrossValError, match="run on other utterances"):
        run_crossval(_hparams(corpus, out))
    with pytest.raises(CrossValError, match=r"run_folds \['session9'\]"):
        run_crossval(_hparams(corpus, tmp_path / "other", run_folds=["session9"]))


def test_interrupted_fold_resumes_from_its_checkpoint(corpus, tmp_path, monkeypatch):
    out = tmp_path / "run"
    real_end = EmotionBrain.on_stage_end

    def crash_in_epoch_2(self, stage, loss, epoch=None):
        if epoch == 2:
            raise KeyboardInterrupt
        return real_end(self, stage, loss, epoch)

    monkeypatch.setattr(EmotionBrain, "on_stage_end", crash_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        run_crossval(_hparams(corpus, out, number_of_epochs=3, run_folds=["session3"]))
    monkeypatch.setattr(EmotionBrain, "on_stage_end", real_end)
    run_crossval(_hparams(corpus, out, number_of_epochs=3, run_folds=["session3"]))
    log = (out / "folds" / "session3" / "train_log.txt").read_text().splitlines()
    assert [line.split(",")[0] for line in log[:3]] == ["epoch: 1", "epoch: 2", "epoch: 3"]


def test_export_round_trip_and_cli(corpus, tmp_path, capsys):
    from emotion2vec.inference import Emotion2vecClassifier

    out = tmp_path / "run"
    run_crossval(_hparams(corpus, out, number_of_epochs=2))
    assert cli.main(["export", str(out), str(tmp_path / "clf")]) == 0
    spec = json.loads((tmp_path / "clf" / "downstream.json").read_text())
    fold = json.loads((out / "folds" / spec["fold"] / "fold_result.json").read_text())
    assert spec["feature"] == "frm" and spec["labels"] == ["ang", "hap", "neu", "sad"]
    assert spec["test"]["wa"] == fold["wa"]
    classifier = Emotion2vecClassifier.from_hparams(source=str(tmp_path / "clf"))
    predictions = {}
    for line in (out / "folds" / spec["fold"] / "predictions.csv").read_text().splitlines()[1:]:
        uid, _, pred = line.split(",")[:3]
        predictions[uid] = pred
    rows = {r.split(",")[0]: r.split(",")[1] for r in
            (corpus / "results" / "data" / "iemocap.csv").read_text().splitlines()[1:]}
    for uid in sorted(predictions)[:4]:  # the exported classifier predicts what the fold did
        assert classifier.classify_file(rows[uid])[3][0] == predictions[uid]
    assert cli.main(["export", str(out), str(tmp_path / "clf")]) == 2
    assert "already exists" in capsys.readouterr().err
    export_downstream(out, tmp_path / "clf", fold="session2", overwrite=True)
    assert json.loads((tmp_path / "clf" / "downstream.json").read_text())["fold"] == "session2"
    with pytest.raises(ExportError, match="fold 'session4' is not finished"):
        export_downstream(out, tmp_path / "x", fold="session4")
    torch.manual_seed(1)
    other = Emotion2vecModel(tiny_config())
    save_model_folder(corpus / "tiny", other.config, other.state_dict(), overwrite=True)
    try:
        with pytest.raises(ExportError, match="weights changed"):
            export_downstream(out, tmp_path / "y")
    finally:
        torch.manual_seed(0)
        model = Emotion2vecModel(tiny_config())
        save_model_folder(corpus / "tiny", model.config, model.state_dict(), overwrite=True)
    assert not (tmp_path / "y").exists()


def test_fbank_runs_but_does_not_export(corpus, tmp_path):
    out = tmp_path / "fbank"
    summary = run_crossval(_hparams(corpus, out, file="fbank.yaml", run_folds=["session1"]))
    assert summary["settings"]["upstream"]["kind"] == "fbank"
    with pytest.raises(ExportError, match="only emotion2vec upstreams"):
        export_downstream(out, tmp_path / "clf")


def test_prepare_cli(corpus, tmp_path, capsys):
    assert cli.main(["prepare", "iemocap", str(corpus / "src"), str(tmp_path)]) == 0
    assert (tmp_path / "iemocap.csv").is_file()
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'iemocap.csv'}"
    assert cli.main(["prepare", "nosuch", str(corpus / "src"), str(tmp_path)]) == 2
    assert "unknown corpus 'nosuch'" in capsys.readouterr().err


def test_every_recipe_variant_loads(corpus):
    hf_dir = corpus / "src"  # any folder: HF models load on first use
    for path in sorted(RECIPE.glob("*.yaml")):
        source = str(hf_dir if path.name.split("_")[0] in ("wav2vec2", "hubert", "wavlm", "data2vec")
                     else corpus / "tiny")
        overrides = {"data_folder": "/x"} if path.name == "fbank.yaml" else {
            "data_folder": "/x", "upstream_source": source}
        hparams = load_recipe_hparams(path, overrides)
        assert hparams["experiment"] in hparams["output_folder"], path.name
        filled = crossval.with_corpus_defaults(hparams, rows=[])
        assert filled["labels"] == ["ang", "hap", "neu", "sad"], path.name
        assert crossval.PROTOCOL_NAMES[filled["protocol"]]


def test_weighted_run_weights_plots_and_exported_classifier(corpus, tmp_path, capsys):
    """feature: weighted end to end: learned block weights per fold (JSON + plot), their
    mean in the results, and an exported classifier that predicts what the fold did."""
    from emotion2vec.inference import Emotion2vecClassifier
    from emotion2vec.model.heads import build_head
    from emotion2vec.model_folder import ModelFolderError
    from emotion2vec.safe_load import load_state_dict_file

    out = tmp_path / "weighted"
    summary = run_crossval(_hparams(corpus, out, file="emotion2vec_weighted.yaml", number_of_epochs=2,
                                    run_folds=["session1"], plots=True, embedding_method="tsne",
                                    head={"type": "superb", "hidden": 16, "input_norm": True,
                                          "layer_norm": True}))
    settings = json.loads((out / "run.json").read_text())
    assert settings["feature"] == "weighted" and settings["head"]["weighted_layers"] == 3
    assert settings["head"]["input_dim"] == 32  # the head proper gets one block's D
    fold_dir = out / "folds" / "session1"
    saved = json.loads((fold_dir / "layer_weights.json").read_text())
    assert saved["blocks"] == [0, 1, 2] and saved["names"] == ["prenet.0", "blocks.0", "blocks.1"]
    assert saved["fold"] == "session1" and saved["layer_norm"] is True
    assert sum(saved["weights"]) == pytest.approx(1.0, abs=1e-6)
    state = load_state_dict_file(fold_dir / "best_head.ckpt")
    assert torch.allclose(torch.softmax(state["layer_sum.logits"], 0), torch.tensor(saved["weights"]), atol=1e-7)
    assert state["input_mean"].shape == (3 * 32,)  # training statistics of every block's features
    assert (fold_dir / "layer_weights.png").stat().st_size > 0 and (out / "layer_weights.png").is_file()
    mean = json.loads((out / "results.json").read_text())["layer_weights"]
    assert mean["mean"] == pytest.approx(saved["weights"]) and mean["std"] == [0.0, 0.0, 0.0]
    assert summary["layer_weights"]["folds"] == {"session1": saved["weights"]}
    table = (out / "results.md").read_text()
    assert "weighted blocks" in table and "Learned block weights" in table
    assert f"| 2 | blocks.1 | {saved['weights'][2]:.4f} ± 0.0000 |" in table

    # export -> Emotion2vecClassifier / emotion2vec classify: the fold's own predictions
    assert cli.main(["export", str(out), str(tmp_path / "clf")]) == 0
    spec = json.loads((tmp_path / "clf" / "downstream.json").read_text())
    assert spec["feature"] == "weighted" and spec["weighted_layers"] == 3
    classifier = Emotion2vecClassifier.from_hparams(source=str(tmp_path / "clf"))
    wav_of = {r.split(",")[0]: r.split(",")[1] for r in
              (corpus / "results" / "data" / "iemocap.csv").read_text().splitlines()[1:]}
    lines = (fold_dir / "predictions.csv").read_text().splitlines()
    header, rows = lines[0].split(","), [line.split(",") for line in lines[1:7]]
    for uid, _, pred, *probs in rows:
        got, _, _, labels = classifier.classify_file(wav_of[uid])
        assert labels[0] == pred
        assert torch.allclose(got[0], torch.tensor([float(p) for p in probs]), atol=1e-5)
    capsys.readouterr()
    assert cli.main(["classify", "--model", str(tmp_path / "clf"), "--json", "--no-progress",
                     *[wav_of[r[0]] for r in rows]]) == 0
    records = {json.loads(line)["path"]: json.loads(line) for line in capsys.readouterr().out.splitlines()}
    assert {uid: records[wav_of[uid]]["label"] for uid, *_ in rows} == {r[0]: r[2] for r in rows}
    assert header[3:] == ["p_ang", "p_hap", "p_neu", "p_sad"]

    # a head that weights another number of blocks than the model has is refused
    torch.save(build_head(dict(spec, weighted_layers=4)).state_dict(), tmp_path / "clf" / "downstream_head.ckpt")
    (tmp_path / "clf" / "downstream.json").write_text(json.dumps(dict(spec, weighted_layers=4)))
    with pytest.raises(ModelFolderError, match="weights 4 blocks .* the model has 3"):
        Emotion2vecClassifier.from_hparams(source=str(tmp_path / "clf"))


def test_weighted_is_refused_for_fbank(corpus, tmp_path):
    with pytest.raises(ValueError, match="fbank upstream has 1; use frm"):
        run_crossval(_hparams(corpus, tmp_path / "fb", file="fbank.yaml", feature="weighted",
                              run_folds=["session1"]))
