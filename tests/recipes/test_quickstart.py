"""The README's main job, shortened: same code path, fewer steps.

Run the way README says: from the repository root with a relative output
folder, and from another directory with a relative ``--corpus_folder``.
"""

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from emotion2vec.corpora.synthetic import write_synthetic_ravdess

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = "recipes/quickstart/train.py"
HPARAMS = "recipes/quickstart/hparams/quickstart.yaml"

SHORT = [
    "--pretrain_overrides={max_update: 6, number_of_epochs: 3, max_batch_samples: 64000, "
    "max_sample_size: 32000, lr: 0.0005, ema_anneal_end_step: 3, log_interval: 1}",
    "--probe_overrides={feature: utt, head: {type: linear, input_norm: True}, "
    "number_of_epochs: 2, batch_size: 8, plots: False}",
    "--fbank_overrides={feature: frm, head: {type: superb}, number_of_epochs: 2}",
    "--classify_files=2",
]
SYNTHETIC = ["--actors=[1, 2, 3, 4]", '--emotions=["01", "05"]', "--labels=[neutral, angry]",
             "--repetitions=1"]


def run(command, cwd):
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def check_outputs(out: Path, done, folds: int, labels):
    for stage in range(1, 7):
        assert f"[{stage}/6]" in done.stdout
    table = (out / "results.md").read_text()
    assert "random init" in table and "filterbanks" in table and "pre-trained here" in table
    assert "paired over the same folds" in table
    for name in ("pretrained", "random_init", "fbank"):
        results = json.loads((out / "probe" / name / "seed42" / "results.json").read_text())
        assert results["num_folds"] == folds  # one fold per actor
        assert results["labels"] == labels
    assert (out / "models" / "pretrained" / "model.ckpt").is_file()
    assert (out / "classifier" / "downstream.json").is_file()
    classified = [line for line in done.stdout.splitlines() if line.count("\t") == 2]
    assert len(classified) == 2
    assert all(line.split("\t")[1] in labels for line in classified)


def test_quickstart_from_repo_root_with_relative_output():
    relative = Path("tests") / "tmp" / f"quickstart-{uuid.uuid4().hex[:8]}"
    out = ROOT / relative
    try:
        command = [sys.executable, SCRIPT, HPARAMS, f"--output_folder={relative}", *SYNTHETIC, *SHORT]
        done = run(command, ROOT)
        check_outputs(out, done, 4, ["neutral", "angry"])
        assert "expected" not in done.stdout + done.stderr  # no release counts for a synthetic corpus
        # a re-run reuses every finished stage
        again = run(command, ROOT)
        assert "Train iteration limit" not in again.stdout + again.stderr
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_quickstart_on_a_users_corpus(tmp_path):
    # another corpus in RAVDESS's layout: other voices, three classes
    write_synthetic_ravdess(tmp_path / "my_corpus", actors=[5, 6, 7], emotions=["01", "04", "06"],
                            repetitions=1, seed=7)
    command = [sys.executable, str(ROOT / SCRIPT), str(ROOT / HPARAMS), "--corpus_folder=my_corpus",
               "--output_folder=out", "--probes_side_by_side=1", *SHORT]  # one after another
    done = run(command, tmp_path)
    check_outputs(tmp_path / "out", done, 3, ["neutral", "sad", "fearful"])
    assert not (tmp_path / "out" / "data" / "RAVDESS").exists()  # nothing synthesised
