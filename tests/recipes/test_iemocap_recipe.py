"""The IEMOCAP emotion recognition recipe, end to end, on a fake corpus.

``train.py`` runs as a subprocess (as a user runs it) on a tiny fake
IEMOCAP in the real layout with a tiny emotion2vec upstream: preparation,
feature cache, all 5 leave-one-session-out folds, the aggregated table and
the plots. The outputs are then checked for leakage, completeness and
re-run behaviour, and the best head is exported and classified with.
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
from tests.conftest import tiny_config
from tests.fakes.iemocap import make_fake_iemocap

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "IEMOCAP" / "emotion_recognition"


def _train(hparams, *args, cwd=RECIPE):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    command = [sys.executable, "train.py", f"hparams/{hparams}", *args,
               "--device=cpu", "--noprogressbar"]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Runs the whole recipe once: 5 folds, 3 epochs, plots."""
    root = tmp_path_factory.mktemp("iemocap_recipe")
    fake = make_fake_iemocap(root / "download", utts_per_dialog=6, seconds=0.5)
    torch.manual_seed(0)
    model = Emotion2vecModel(tiny_config())
    save_model_folder(root / "tiny_emotion2vec", model.config, model.state_dict())
    args = [f"--data_folder={fake.src_dir}", f"--upstream_source={root / 'tiny_emotion2vec'}",
            f"--results_root={root / 'results'}", "--number_of_epochs=3", "--batch_size=16"]
    done = _train("emotion2vec_loso_session.yaml", *args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = root / "results" / "emotion2vec_loso_session" / "seed42"
    return {"root": root, "out": out, "args": args, "fake": fake}


def test_outputs_and_table(run):
    out = run["out"]
    for name in ("train.py", "hyperparams.yaml", "log.txt", "env.log", "run.json",
                 "results.json", "results.md"):
        assert (out / name).is_file(), name
    results = json.loads((out / "results.json").read_text())
    assert results["num_folds"] == 5 and results["labels"] == ["ang", "hap", "neu", "sad"]
    assert [f["fold"] for f in results["folds"]] == [f"session{s}" for s in range(1, 6)]
    for key in ("wa", "ua", "wf1", "macro_f1"):
        assert 0.0 <= results["mean"][key] <= 1.0 and results["std"][key] >= 0.0
    mean_wa = sum(f["wa"] for f in results["folds"]) / 5
    assert results["mean"]["wa"] == pytest.approx(mean_wa)
    table = (out / "results.md").read_text()
    assert "| tiny_emotion2vec | Frm | leave-one-session-out 5-fold |" in table
    assert sum(line.startswith("| session") for line in table.splitlines()) == 5
    print(table)  # visible with pytest -s: the numbers on the fake corpus


def test_plots(run):
    pytest.importorskip("matplotlib")
    out = run["out"]
    pngs = [out / "confusion_matrix.png"] + [
        out / "folds" / f"session{s}" / name
        for s in range(1, 6) for name in ("confusion_matrix.png", "embedding.png")
    ]
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png


def test_folds_do_not_leak_and_test_every_utterance_once(run):
    manifest = run["root"] / "results" / "data" / "iemocap.csv"
    with open(manifest, newline="") as handle:
        rows = {row["ID"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(run["fake"].kept)
    tested = []
    for session in range(1, 6):
        folder = run["out"] / "folds" / f"session{session}"
        split = json.loads((folder / "split.json").read_text())
        sessions = {part: {rows[u]["session"] for u in ids} for part, ids in split.items()}
        speakers = {part: {rows[u]["speaker"] for u in ids} for part, ids in split.items()}
        assert sessions["test"] == {str(session)}
        assert str(session) not in sessions["train"] | sessions["valid"]
        assert not speakers["test"] & (speakers["train"] | speakers["valid"])
        assert not set(split["train"]) & set(split["valid"])
        assert len(split["valid"]) == len(split["train"] + split["valid"]) - int(
            0.8 * len(split["train"] + split["valid"]))
        with open(folder / "predictions.csv", newline="") as handle:
            predicted = list(csv.DictReader(handle))
        assert sorted(p["ID"] for p in predicted) == sorted(split["test"])
        assert all(p["target"] == rows[p["ID"]]["label"] for p in predicted)
        tested += split["test"]
    assert sorted(tested) == sorted(rows)


def test_rerun_skips_finished_folds(run):
    results = run["out"] / "results.json"
    before = json.loads(results.read_text())
    logs = {p: p.read_text() for p in run["out"].glob("folds/*/train_log.txt")}
    again = _train("emotion2vec_loso_session.yaml", *run["args"])
    assert again.returncode == 0, again.stderr[-3000:]
    log = again.stdout + again.stderr
    assert log.count("already done") == 5
    assert "is complete; reusing it" in log
    assert json.loads(results.read_text())["mean"] == before["mean"]
    assert {p: p.read_text() for p in logs} == logs  # no fold trained again


def test_export_and_classify(run):
    from emotion2vec import cli
    from emotion2vec.inference import Emotion2vecClassifier

    export = run["root"] / "classifier"
    assert cli.main(["export", str(run["out"]), str(export)]) == 0
    classifier = Emotion2vecClassifier.from_hparams(source=str(export))
    wav = run["fake"].wav_path(sorted(run["fake"].kept)[0])
    probs, score, index, labels = classifier.classify_file(wav)
    assert probs.shape == (1, 4) and labels[0] in ("ang", "hap", "neu", "sad")
