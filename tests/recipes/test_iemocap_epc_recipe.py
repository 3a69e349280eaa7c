"""The IEMOCAP emotion prediction in conversation recipe, end to end.

``recipes/IEMOCAP/emotion_prediction/train.py`` runs as a subprocess (as a
user runs it) on a tiny fake IEMOCAP in the real layout whose speakers
speak in multi-utterance turns, with a tiny emotion2vec upstream, for the
three modalities: speech (all 10 leave-one-speaker-out folds), text and
speech+text (one fold each). The outputs are checked for completeness,
for the fold definition (test = the target speaker's next turns, the
session partner validates, training never sees the test session) and for
the EPC 4-class manifest living beside, not over, the SER one.
"""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from emotion2vec.model import Emotion2vecModel
from emotion2vec.model_folder import save_model_folder
from emotion2vec.recipe_hparams import RecipeKeyError, load_recipe_hparams
from tests.conftest import tiny_config
from tests.fakes.iemocap import make_fake_iemocap

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "IEMOCAP" / "emotion_prediction"


def _train(hparams, *args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    command = [sys.executable, "train.py", f"hparams/{hparams}", *args, "--device=cpu", "--noprogressbar"]
    return subprocess.run(command, cwd=RECIPE, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("epc_recipe")
    fake = make_fake_iemocap(root / "download", utts_per_dialog=8, seconds=0.3, multi_utterance_turns=True)
    torch.manual_seed(0)
    model = Emotion2vecModel(tiny_config())
    save_model_folder(root / "tiny_emotion2vec", model.config, model.state_dict())
    values = {"data_folder": str(fake.src_dir), "results_root": str(root / "results"),
              "number_of_epochs": 1, "batch_size": 16, "vocab_size": 60}
    common = [f"--{key}={value}" for key, value in values.items()]
    upstream = f"--upstream_source={root / 'tiny_emotion2vec'}"
    one_fold = "--run_folds=[speaker_Ses02M]", "--plots=False"  # plots: checked on the speech run
    plan = {"epc_speech": ("epc_speech.yaml", upstream),
            "epc_text": ("epc_text.yaml", *one_fold),
            "epc_speech_text": ("epc_speech_text.yaml", upstream, *one_fold)}
    outs = {}
    for name, (hparams, *extra) in plan.items():
        done = _train(hparams, *common, *extra)
        assert done.returncode == 0, name + done.stdout[-3000:] + done.stderr[-3000:]
        outs[name] = root / "results" / "emotion_prediction" / name / "seed42"
    return {"root": root, "fake": fake, "outs": outs, "common": values}


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_modality_writes_its_results(runs):
    for name, out in runs["outs"].items():
        for file in ("train.py", "hyperparams.yaml", "log.txt", "run.json", "results.json", "results.md"):
            assert (out / file).is_file(), (name, file)
        results = json.loads((out / "results.json").read_text())
        assert results["labels"] == ["ang", "hap", "neu", "sad"]
        assert results["num_folds"] == (10 if name == "epc_speech" else 1)
        for key in ("ua", "macro_f1", "wa", "wf1"):
            assert 0.0 <= results["mean"][key] <= 1.0 and results["std"][key] >= 0.0
        table = (out / "results.md").read_text()
        modality = json.loads((out / "run.json").read_text())["modality"]
        assert f"| {modality} |" in table and "leave-one-speaker-out 10-fold" in table
        print(table)  # visible with pytest -s
    text = json.loads((runs["outs"]["epc_text"] / "run.json").read_text())["inputs"]
    assert set(text) == {"text"} and text["text"]["encoder"] == "sentencepiece"
    both = json.loads((runs["outs"]["epc_speech_text"] / "run.json").read_text())["inputs"]
    assert set(both) == {"speech", "text"} and both["speech"]["feature"] == "frm_mean"
    assert (runs["outs"]["epc_speech_text"] / "folds" / "speaker_Ses02M" / "tokenizer.model").is_file()
    assert not (runs["outs"]["epc_speech"] / "folds" / "speaker_Ses02M" / "tokenizer.model").exists()


def test_plots(runs):
    pytest.importorskip("matplotlib")
    out = runs["outs"]["epc_speech"]
    for png in [out / "confusion_matrix.png", out / "folds" / "speaker_Ses01F" / "confusion_matrix.png"]:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png


def test_folds_predict_the_target_speakers_next_turns(runs):
    manifest = _rows(runs["root"] / "results" / "epc_data" / "iemocap.csv")
    assert {r["ID"] for r in manifest} == set(runs["fake"].labels)  # every utterance, for the histories
    assert "text" in manifest[0]
    out = runs["outs"]["epc_speech"]
    tested = []
    for fold_dir in sorted((out / "folds").iterdir()):
        speaker = fold_dir.name.split("_", 1)[1]
        split = json.loads((fold_dir / "split.json").read_text())
        sessions = {part: {uid[4] for uid in ids} for part, ids in split.items()}
        assert sessions["test"] == sessions["valid"] == {speaker[4]}
        assert speaker[4] not in sessions["train"]
        predicted = _rows(fold_dir / "predictions.csv")
        assert sorted(p["ID"] for p in predicted) == sorted(split["test"])
        assert {p["speaker"] for p in predicted} == {speaker}
        assert all(1 <= int(p["history_turns"]) <= 6 for p in predicted)
        tested += split["test"]
    assert len(tested) == len(set(tested))  # each sample tested once


def test_rerun_skips_finished_folds(runs, monkeypatch):
    """The same recipe loaded again (in process) finds all 10 folds done."""
    from emotion2vec.epc.brain import EpcBrain
    from emotion2vec.epc.crossval import run_epc

    def no_training(*args, **kwargs):
        raise AssertionError("a finished fold was trained again")

    monkeypatch.setattr(EpcBrain, "fit", no_training)
    out = runs["outs"]["epc_speech"]
    before = json.loads((out / "results.json").read_text())
    hparams = load_recipe_hparams(RECIPE / "hparams" / "epc_speech.yaml", dict(
        runs["common"], upstream_source=str(runs["root"] / "tiny_emotion2vec"), plots=False))
    assert run_epc(hparams)["mean"] == before["mean"]


def test_a_misspelt_key_lists_the_recipe_keys():
    with pytest.raises(RecipeKeyError) as error:
        load_recipe_hparams(RECIPE / "hparams" / "epc_text.yaml", "histroy_turns: 3")
    assert "did you mean history_turns" in str(error.value) and "--turn_label" in str(error.value)
