"""The CMU-MOSI and CMU-MOSEI sentiment recipes, end to end, on fake corpora.

``train.py`` runs as a subprocess (as a user runs it) on fake trees in the
real layouts (MOSI: the CMU raw segment WAVs with MMSA's ``label.csv``;
MOSEI: whole-video WAVs cut by the transcript times) with a tiny
emotion2vec upstream of four blocks (``last4``) for the paper's binary
task; the MERBench regression variant then runs in this process through
the same entry point (``emotion2vec.downstream.recipe.main``, all that
``train.py`` calls: it saves an interpreter start) and reuses the binary
run's manifest and feature cache. Few epochs.
"""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from emotion2vec.downstream.recipe import main
from emotion2vec.model import Emotion2vecModel
from emotion2vec.model_folder import save_model_folder
from tests.conftest import tiny_config
from tests.fakes.cmu import make_fake_mosei, make_fake_mosi

ROOT = Path(__file__).resolve().parents[2]
RECIPES = {"mosi": ROOT / "recipes" / "CMU-MOSI" / "sentiment",
           "mosei": ROOT / "recipes" / "CMU-MOSEI" / "sentiment"}


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    torch.manual_seed(0)
    model = Emotion2vecModel(tiny_config(depth=3))  # 1 prenet + 3 blocks: last4 = all four
    folder = tmp_path_factory.mktemp("sentiment") / "tiny_emotion2vec"
    save_model_folder(folder, model.config, model.state_dict())
    return folder


def _run(corpus, hparams, data, upstream, results, in_process=False):
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    command = [sys.executable, "train.py", str(RECIPES[corpus] / "hparams" / f"{hparams}.yaml"), f"--data_folder={data}",
               f"--upstream_source={upstream}", f"--results_root={results}",
               "--number_of_epochs=3", "--batch_size=4", "--plots=False",
               "--device=cpu", "--noprogressbar"]
    if in_process:
        main(command[2:], script=str(RECIPES[corpus] / "train.py"))
        return results / hparams / "seed42"
    done = subprocess.run(command, cwd=RECIPES[corpus], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return results / hparams / "seed42"


def _check(corpus, fake, upstream, tmp_path):
    results = tmp_path / "results"
    manifest = {row["ID"]: row for row in csv.DictReader(open(_prepared(results, corpus, fake, upstream)))}
    nonzero = {uid for uid, v in fake.expected.items() if v["label"]}
    zero = set(fake.expected) - nonzero

    out = results / "emotion2vec_binary" / "seed42"
    summary = json.loads((out / "results.json").read_text())
    assert summary["labels"] == ["negative", "positive"]
    assert summary["settings"]["feature"] == "last4" and summary["settings"]["head"]["type"] == "linear"
    assert summary["settings"]["protocol"] == "predefined" and "task" not in summary["settings"]
    split = json.loads((out / "folds" / "predefined" / "split.json").read_text())
    assert set(sum(split.values(), [])) == nonzero  # zero-score segments are not in the binary task
    for part, ids in split.items():
        assert {manifest[uid]["split"] for uid in ids} == {part}
    assert (out / "train.py").is_file() and (out / "hyperparams.yaml").is_file()

    out = _run(corpus, "emotion2vec_regression", fake.src_dir, upstream, results, in_process=True)
    summary = json.loads((out / "results.json").read_text())
    assert summary["settings"]["task"] == {"name": "regression", "target_column": "score",
                                           "loss": "mse", "binarize_at": 0.0}
    assert set(summary["mean"]) == {"wf1", "acc2", "mae", "pearson"}
    split = json.loads((out / "folds" / "predefined" / "split.json").read_text())
    assert set(sum(split.values(), [])) == nonzero | zero  # the regressor trains on zeros too
    fold = json.loads((out / "folds" / "predefined" / "fold_result.json").read_text())
    test_zero = {uid for uid in split["test"] if uid in zero}
    assert fold["report"]["num_samples"] == len(split["test"])
    assert fold["report"]["num_binary"] == len(split["test"]) - len(test_zero)
    assert set(fold["valid"]) == {"WF1", "ACC2", "MAE", "PEARSON"}
    predictions = list(csv.DictReader(open(out / "folds" / "predefined" / "predictions.csv")))
    assert {p["ID"] for p in predictions} == set(split["test"])
    for p in predictions:
        assert float(p["target"]) == pytest.approx(float(manifest[p["ID"]]["score"]))
        assert p["target_class"] == manifest[p["ID"]]["polarity"]
    caches = list((results / "feature_cache").iterdir())
    assert len(caches) == 1 and caches[0].name.startswith(f"{corpus}-last4-emotion2vec-")
    assert "MAE" in (out / "results.md").read_text()


def _prepared(results, corpus, fake, upstream):
    _run(corpus, "emotion2vec_binary", fake.src_dir, upstream, results)
    return results / "data" / f"{corpus}.csv"


def test_mosi_binary_and_regression(tmp_path, upstream):
    _check("mosi", make_fake_mosi(tmp_path / "download"), upstream, tmp_path)


def test_mosei_binary_and_regression(tmp_path, upstream):
    fake = make_fake_mosei(tmp_path / "download")
    _check("mosei", fake, upstream, tmp_path)
    assert len(list((tmp_path / "results" / "data" / "mosei_segments").rglob("*.wav"))) == len(fake.expected)
