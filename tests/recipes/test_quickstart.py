"""The README's main job, shortened: same code path, fewer steps."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SHORT = [
    "--actors=[1, 2, 3, 4]",
    '--emotions=["01", "05"]',
    "--labels=[neutral, angry]",
    "--repetitions=1",
    "--pretrain_overrides={max_update: 6, number_of_epochs: 3, max_batch_samples: 64000, "
    "max_sample_size: 32000, lr: 0.0005, ema_anneal_end_step: 3, log_interval: 1}",
    "--probe_overrides={labels: [neutral, angry], number_of_epochs: 2, batch_size: 8, plots: False}",
    "--classify_files=2",
]


def test_quickstart_short(tmp_path):
    out = tmp_path / "quickstart"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    command = [sys.executable, "recipes/quickstart/train.py", "recipes/quickstart/hparams/quickstart.yaml",
               f"--output_folder={out}", *SHORT]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for stage in range(1, 7):
        assert f"[{stage}/6]" in done.stdout
    table = (out / "results.md").read_text()
    assert "random init" in table and "filterbanks" in table and "pre-trained here" in table
    for name in ("pretrained", "random_init", "fbank"):
        results = json.loads((out / "probe" / name / "seed42" / "results.json").read_text())
        assert results["num_folds"] == 4  # one fold per synthetic actor
    assert (out / "models" / "pretrained" / "model.ckpt").is_file()
    assert (out / "classifier" / "downstream.json").is_file()
    classified = [line for line in done.stdout.splitlines() if line.count("\t") == 2]
    assert len(classified) == 2
    assert all(line.split("\t")[1] in ("neutral", "angry") for line in classified)

    # a re-run reuses every finished stage
    again = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "Train iteration limit" not in again.stdout + again.stderr
