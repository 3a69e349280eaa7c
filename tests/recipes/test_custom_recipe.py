"""``recipes/custom/emotion_recognition``: your own data, any label set.

``train.py`` runs as a subprocess, as a user runs it, on a folder per class
with an odd label set (``Grumpy``, ``zen``, ``über``; mixed sample rates and
channels, nested folders, a broken file, an AppleDouble file) and a tiny
emotion2vec+-like upstream (its own 2-label head is replaced), in each
mode: the frozen probe (from another folder, with relative paths), partial
and full fine-tuning; each classifier is used through ``emotion2vec
classify`` and ``Emotion2vecClassifier`` and must answer with the user's
labels. A full fine-tuning run killed mid-epoch and resumed must end with
the weights and scores of the uninterrupted run; two CPU processes
(torchrun + gloo) must hold identical weights; a CSV manifest with given
splits is used as given.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile
import torch
import yaml

from emotion2vec.model import Emotion2vecModel
from emotion2vec.model_folder import save_model_folder
from tests.conftest import tiny_config
from tests.fakes.custom import LABELS, make_custom_folder, tone

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "custom" / "emotion_recognition"
USER_LABELS = sorted(LABELS)  # ["Grumpy", "zen", "über"]

#: Runs train.py as __main__ after optional test hooks: a hard kill at a given
#: batch of epoch 2 (CRASH_AT_STEP) and a dump of this rank's weights after
#: fit (DUMP_WEIGHTS). The recipe itself has no test code.
RUNNER = '''
import os, runpy, sys
from emotion2vec.finetune.brain import FineTuneBrain as B
crash = int(os.environ.get("CRASH_AT_STEP", "0"))
if crash:
    fit_batch = B.fit_batch
    def crashing_fit_batch(self, batch):
        if self.step == crash and int(self.hparams.epoch_counter.current) == 2:
            os._exit(3)
        return fit_batch(self, batch)
    B.fit_batch = crashing_fit_batch
dump = os.environ.get("DUMP_WEIGHTS")
if dump:
    import torch
    fit = B.fit
    def dumping_fit(self, *args, **kwargs):
        fit(self, *args, **kwargs)
        torch.save({"model": self.classifier.state_dict(), "updates": self.optimizer_step},
                   os.path.join(dump, "rank%s.pt" % os.environ.get("RANK", "0")))
    B.fit = dumping_fit
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
'''


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("custom_recipe")
    fake = make_custom_folder(tmp / "my data", per_class=6)
    torch.manual_seed(0)
    model = Emotion2vecModel(tiny_config(num_labels=2))
    save_model_folder(tmp / "plus", model.config, model.state_dict(), labels=["生气/angry", "sad"])
    runner = tmp / "runner.py"
    runner.write_text(RUNNER)
    return {"tmp": tmp, "fake": fake, "upstream": tmp / "plus", "runner": runner}


def train(ws, hparams, out, *args, env=None, cwd=RECIPE, launcher=(), data=None):
    environment = dict(os.environ, OMP_NUM_THREADS="1", **(env or {}),
                       PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    command = [sys.executable, *launcher, str(ws["runner"]), str(RECIPE / "train.py"),
               str(RECIPE / "hparams" / hparams), f"--data_folder={data or ws['fake'].root}",
               f"--upstream_source={ws['upstream']}", f"--output_folder={out}",
               "--device=cpu", "--noprogressbar", "--num_workers=0", *args]
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True,
                          timeout=600)


def weights(folder):
    return torch.load(Path(folder) / "model.ckpt", weights_only=True)


def classify_with_both_interfaces(classifier_dir, fake):
    from emotion2vec.cli import main as cli_main
    from emotion2vec.inference import Emotion2vecClassifier

    clf = Emotion2vecClassifier.from_hparams(source=str(classifier_dir))
    assert clf.labels == USER_LABELS
    wav = fake.root / sorted(fake.kept)[0]
    probs, score, index, labels = clf.classify_file(wav)
    assert probs.shape == (1, 3) and labels[0] in USER_LABELS
    return cli_main


def check_outputs(out, mode_words):
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["labels"] == USER_LABELS
    assert sum(results["sizes"]) == 18  # the 3 x 6 good files; the junk was skipped
    for key in ("wa", "ua", "wf1", "macro_f1"):
        assert 0.0 <= results["test"][key] <= 1.0
    table = (out / "results.md").read_text(encoding="utf-8")
    assert mode_words in table and "macro-F1" in table
    assert "| true \\ predicted | Grumpy | zen | über |" in table
    for name in ("train.py", "hyperparams.yaml", "log.txt", "data/custom.csv",
                 "classifier/downstream.json", "classifier/model.ckpt"):
        assert (out / name).is_file(), name
    return results


def test_probe_from_another_folder_with_relative_paths(workspace, capsys):
    tmp = workspace["tmp"]
    done = train(workspace, "probe.yaml", "runs/probe", "--number_of_epochs=4", "--batch_size=8",
                 "--plots=False", cwd=tmp, data="my data")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = tmp / "runs" / "probe"
    check_outputs(out, "probe (frozen upstream)")
    assert "skipping" in done.stdout + done.stderr  # the broken, short and stray files, reported
    cli_main = classify_with_both_interfaces(out / "classifier", workspace["fake"])
    capsys.readouterr()
    assert cli_main(["classify", "--model", str(out / "classifier"), "--no-progress",
                     str(workspace["fake"].root / "über")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 6 and {line.split("\t")[1] for line in lines} <= set(USER_LABELS)


def test_partial_finetuning_trains_only_the_top_block(workspace):
    out = workspace["tmp"] / "top"
    done = train(workspace, "finetune_top.yaml", out, "--trainable_blocks=1", "--number_of_epochs=2",
                 "--lr_backbone=0.001")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    check_outputs(out, "fine-tuning the top 1 of 3 blocks")
    before, after = weights(workspace["upstream"]), weights(out / "classifier")
    assert "head.weight" in before and "head.weight" not in after  # the official head is gone
    changed = {k for k in after if not torch.equal(after[k], before[k])}
    assert changed and all(k.startswith("encoder.blocks.1.") for k in changed)
    classify_with_both_interfaces(out / "classifier", workspace["fake"])


@pytest.fixture(scope="module")
def full_run(workspace):
    """Full fine-tuning, uninterrupted (intra-epoch checkpoints every update)."""
    out = workspace["tmp"] / "full"
    args = ["--number_of_epochs=3", "--ckpt_interval_minutes=0", "--ckpt_interval_steps=1",
            "--max_batch_size=4"]
    done = train(workspace, "finetune.yaml", out, *args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {"out": out, "args": args}


def test_full_finetuning_exports_the_finetuned_upstream(workspace, full_run, capsys):
    out = full_run["out"]
    results = check_outputs(out, "full fine-tuning (conv front-end frozen)")
    before, after = weights(workspace["upstream"]), weights(out / "classifier")
    frozen = {k for k in after if torch.equal(after[k], before[k])}
    assert frozen == {k for k in after if k.startswith("feature_extractor.")}
    settings = json.loads((out / "finetune.json").read_text(encoding="utf-8"))
    best = [p for p in (out / "save").glob("CKPT+*")
            if yaml.safe_load((p / "CKPT.yaml").read_text()).get("epoch") == results["best_epoch"]]
    state = torch.load(best[0] / "model.ckpt", weights_only=True)
    assert all(torch.equal(state[f"backbone.{k}"], v) for k, v in after.items())
    assert settings["labels"] == USER_LABELS and settings["upstream"]["dropped"] == ["decoder", "head"]
    cli_main = classify_with_both_interfaces(out / "classifier", workspace["fake"])
    assert cli_main(["export", str(out), str(out / "classifier")]) == 2  # exists: needs --overwrite
    assert cli_main(["export", str(out), str(out / "classifier"), "--overwrite"]) == 0
    assert all(torch.equal(v, after[k]) for k, v in weights(out / "classifier").items())
    capsys.readouterr()
    assert cli_main(["classify", "--model", str(out / "classifier"), "--json", "--no-progress",
                     str(workspace["fake"].root / "zen")]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(records) == 6 and all(sorted(r["probs"]) == USER_LABELS for r in records)
    # the same output folder with other settings is refused (the resume test reuses the same)
    from emotion2vec.finetune.recipe import FineTuneError, check_run_file

    other = dict(settings, optimisation=dict(settings["optimisation"], lr_head=0.1))
    with pytest.raises(FineTuneError, match=r"other settings \(optimisation differ\)"):
        check_run_file(out, other)


def test_resume_after_a_crash_equals_the_uninterrupted_run(workspace, full_run):
    out = workspace["tmp"] / "crashed"
    crashed = train(workspace, "finetune.yaml", out, *full_run["args"], env={"CRASH_AT_STEP": "2"})
    assert crashed.returncode == 3, crashed.stdout[-2000:] + crashed.stderr[-2000:]
    assert not (out / "results.json").exists()
    resumed = train(workspace, "finetune.yaml", out, *full_run["args"])
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "Loading a checkpoint" in resumed.stdout + resumed.stderr
    a = json.loads((full_run["out"] / "results.json").read_text(encoding="utf-8"))
    b = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert (a["test"], a["valid"], a["best_epoch"]) == (b["test"], b["valid"], b["best_epoch"])
    for name in ("model.ckpt", "downstream_head.ckpt"):
        x = torch.load(full_run["out"] / "classifier" / name, weights_only=True)
        y = torch.load(out / "classifier" / name, weights_only=True)
        for key in x:
            torch.testing.assert_close(x[key], y[key], rtol=1e-5, atol=1e-6, msg=key)


def write_manifest(root):
    """A CSV manifest with given splits and speakers (files at 22.05 kHz, stereo)."""
    lines = ["wav,label,speaker,split"]
    for s, split in enumerate(("train", "train", "train", "valid", "test")):
        for i, label in enumerate(USER_LABELS * 2):
            rel = f"clips/{s}_{i}.wav"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(root / rel, tone(label, 0.6, 22050, 2, 10 * s + i), 22050)
            lines.append(f"{rel},{label},spk{s},{split}")
    (root / "manifest.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root / "manifest.csv"


def test_csv_manifest_with_given_splits_head_only(workspace):
    manifest = write_manifest(workspace["tmp"] / "csv corpus")
    out = workspace["tmp"] / "csv"
    done = train(workspace, "finetune.yaml", out, "--trainable_blocks=0", "--number_of_epochs=1",
                 data=manifest)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    split = json.loads((out / "split.json").read_text(encoding="utf-8"))
    assert [len(split[p]) for p in ("train", "valid", "test")] == [18, 6, 6]
    assert all(uid.startswith("clips/4_") for uid in split["test"])
    assert json.loads((out / "finetune.json").read_text())["fold"] == "holdout_given"
    before, after = weights(workspace["upstream"]), weights(out / "classifier")
    assert all(torch.equal(v, before[k]) for k, v in after.items())  # head only


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ddp_two_cpu_processes_hold_identical_weights(workspace):
    dump = workspace["tmp"] / "ddp_dump"
    dump.mkdir()
    launcher = ("-m", "torch.distributed.run", "--nproc_per_node", "2",
                "--master_port", str(free_port()))
    done = train(workspace, "finetune_top.yaml", workspace["tmp"] / "ddp", "--trainable_blocks=2",
                 "--number_of_epochs=1", "--distributed_backend=gloo", "--max_batch_size=2",
                 env={"DUMP_WEIGHTS": str(dump)}, launcher=launcher)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    rank0 = torch.load(dump / "rank0.pt", weights_only=True)
    rank1 = torch.load(dump / "rank1.pt", weights_only=True)
    assert rank0["updates"] == rank1["updates"] >= 2
    for key, value in rank0["model"].items():
        assert torch.equal(value, rank1["model"][key]), key
    assert (workspace["tmp"] / "ddp" / "classifier" / "downstream.json").is_file()
