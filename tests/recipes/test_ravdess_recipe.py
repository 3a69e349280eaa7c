"""The RAVDESS emotion recognition recipe, end to end, on a synthetic corpus.

``train.py`` runs as a subprocess (as a user runs it) with the paper's
random 10-fold hparams on a synthetic corpus in RAVDESS's layout (two
actors, all eight emotions) with a tiny emotion2vec upstream, two folds only.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from emotion2vec.corpora.synthetic import write_synthetic_ravdess
from emotion2vec.model import Emotion2vecModel
from emotion2vec.model_folder import save_model_folder
from tests.conftest import tiny_config

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "RAVDESS" / "emotion_recognition"
LABELS = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]


def test_random_10fold(tmp_path):
    corpus = write_synthetic_ravdess(
        tmp_path / "download", actors=(1, 2),
        emotions=[f"{code:02d}" for code in range(1, 9)], sample_rate=16000,
    )
    torch.manual_seed(0)
    model = Emotion2vecModel(tiny_config())
    save_model_folder(tmp_path / "tiny_emotion2vec", model.config, model.state_dict())
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    command = [
        sys.executable, "train.py", "hparams/emotion2vec_10fold.yaml",
        f"--data_folder={corpus}", f"--upstream_source={tmp_path / 'tiny_emotion2vec'}",
        f"--results_root={tmp_path / 'results'}",
        "--number_of_epochs=2", "--batch_size=16", "--run_folds=[fold01, fold02]",
        "--device=cpu", "--noprogressbar",
    ]
    done = subprocess.run(command, cwd=RECIPE, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = tmp_path / "results" / "emotion2vec_10fold" / "seed42"
    results = json.loads((out / "results.json").read_text())
    assert results["labels"] == LABELS
    assert [f["fold"] for f in results["folds"]] == ["fold01", "fold02"]
    split = json.loads((out / "folds" / "fold01" / "split.json").read_text())
    assert sum(len(ids) for ids in split.values()) == 120  # 2 actors x 60 files, each in one part
    assert not set(split["test"]) & (set(split["train"]) | set(split["valid"]))


def test_a_misspelt_key_stops_at_once_and_lists_the_keys(tmp_path):
    """SpeechBrain-style overrides: every key of the shared recipe works at top
    level; a key the recipe lacks is one clear error with the key listing."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    command = [sys.executable, "train.py", "hparams/fbank_10fold.yaml", f"--data_folder={tmp_path}",
               "--number_of_epoch=2", "--device=cpu"]
    done = subprocess.run(command, cwd=RECIPE, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "has no key 'number_of_epoch'; did you mean number_of_epochs?" in done.stderr
    assert "--batch_size" in done.stderr and "--fold_options" in done.stderr
    assert not (tmp_path / "results").exists()
