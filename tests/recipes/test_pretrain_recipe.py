"""End-to-end tests of ``recipes/pretrain`` on tiny generated audio.

One uninterrupted run is shared by the tests: its outputs, export and
conversion; a run killed mid-epoch and resumed must end with the same
weights (student, teacher, optimizer, scheduler, counters); two CPU
processes (torchrun + gloo) must hold identical student and teacher weights.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import yaml

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "recipes" / "pretrain" / "train.py"
TINY = ROOT / "recipes" / "pretrain" / "hparams" / "emotion2vec_tiny.yaml"

#: Runs train.py as __main__ after optional test hooks: a hard kill at a given
#: batch of epoch 1 (CRASH_AT_STEP) and a dump of this rank's weights after
#: fit (DUMP_WEIGHTS). The recipe itself has no test code.
RUNNER = '''
import os, runpy, sys
crash = int(os.environ.get("CRASH_AT_STEP", "0"))
if crash:
    from emotion2vec.pretrain.brain import Emotion2vecPretrainBrain as B
    fit_batch = B.fit_batch
    def crashing_fit_batch(self, batch):
        if self.step == crash and int(self.hparams.epoch_counter.current) == 1:
            os._exit(3)
        return fit_batch(self, batch)
    B.fit_batch = crashing_fit_batch
sys.argv = sys.argv[1:]
scope = runpy.run_path(sys.argv[0], run_name="__main__")
dump = os.environ.get("DUMP_WEIGHTS")
if dump:
    import torch
    brain = scope["brain"]
    torch.save({"model": brain.hparams.model.state_dict(),
                "teacher": brain.hparams.teacher.state_dict(),
                "optimizer_step": brain.optimizer_step},
               os.path.join(dump, "rank%s.pt" % os.environ.get("RANK", "0")))
'''


def write_corpus(folder, count=12, seed=1):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        n = int(16000 * rng.uniform(0.6, 1.6))
        t = np.arange(n) / 16000
        x = 0.3 * np.sin(2 * np.pi * (100 + 30 * i) * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
        x += 0.05 * rng.standard_normal(n)
        soundfile.write(folder / f"u{i:02d}.wav", x.astype(np.float32), 16000)
    return folder


def run(runner, args, env=None, launcher=()):
    environment = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", **(env or {}))
    command = [sys.executable, *launcher, str(runner), str(TRAIN), str(TINY), *args]
    return subprocess.run(command, cwd=ROOT, env=environment, capture_output=True,
                          text=True, timeout=600)


def common_args(audio):
    return ["--data_folder", str(audio), "--noprogressbar", "--ckpt_interval_steps", "2",
            "--max_batch_samples=30000"]


def last_checkpoint(out):
    ckpts = list((out / "save").glob("CKPT+*"))
    return max(ckpts, key=lambda p: yaml.safe_load((p / "CKPT.yaml").read_text())["unixtime"])


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pretrain_recipe")
    runner = tmp / "runner.py"
    runner.write_text(RUNNER)
    audio = write_corpus(tmp / "audio")
    out = tmp / "uninterrupted"
    result = run(runner, common_args(audio) + ["--output_folder", str(out)])
    assert result.returncode == 0, result.stderr[-3000:]
    return {"tmp": tmp, "runner": runner, "audio": audio, "out": out}


def test_recipe_runs_and_logs_every_optimizer_step(workspace):
    out = workspace["out"]
    for name in ("train.py", "hyperparams.yaml", "log.txt", "env.log", "train_log.txt",
                 "train_steps_log.txt", "save/model_config.json", "save/pretrain_train.csv"):
        assert (out / name).is_file(), name
    brain = yaml.safe_load((last_checkpoint(out) / "brain.ckpt").read_text())
    steps = (out / "train_steps_log.txt").read_text().splitlines()
    assert len(steps) == brain["optimizer_step"] >= 8
    for key in ("lr:", "ema_decay:", "frame_loss:", "utterance_loss:", "train loss:",
                "pred_var:", "target_var:", "grad_norm:"):
        assert key in steps[-1], key
    epochs = (out / "train_log.txt").read_text().splitlines()
    assert len(epochs) == 2 and epochs[-1].startswith("epoch: 2")


def test_export_and_convert_to_funasr(workspace):
    from emotion2vec.checkpoints import read_official_checkpoint
    from emotion2vec.cli import main
    from emotion2vec.model_folder import load_model

    tmp, out = workspace["tmp"], workspace["out"]
    assert main(["convert", str(out), str(tmp / "model")]) == 0
    assert main(["convert", str(out), str(tmp / "funasr"), "--to", "funasr"]) == 0
    model = load_model(tmp / "model")
    student = torch.load(last_checkpoint(out) / "model.ckpt", weights_only=True)
    assert all(torch.equal(v, student[k]) for k, v in model.state_dict().items())
    wav = torch.from_numpy(soundfile.read(workspace["audio"] / "u00.wav", dtype="float32")[0])
    with torch.no_grad():
        features = model.extract_features(wav.unsqueeze(0))
    assert features.frames.shape[-1] == model.config.embed_dim
    official = read_official_checkpoint(tmp / "funasr")
    assert all(torch.equal(official.state_dict[k], v) for k, v in model.state_dict().items())
    conf = yaml.safe_load((tmp / "funasr" / "config.yaml").read_text())["model_conf"]
    assert conf["clone_batch"] == 2 and conf["cls_type"] == "chunk"


def test_resume_after_a_crash_gives_the_same_weights(workspace):
    tmp, runner = workspace["tmp"], workspace["runner"]
    out = tmp / "interrupted"
    args = common_args(workspace["audio"]) + ["--output_folder", str(out)]
    crashed = run(runner, args, env={"CRASH_AT_STEP": "7"})
    assert crashed.returncode == 3, crashed.stderr[-3000:]
    metas = [yaml.safe_load((p / "CKPT.yaml").read_text()) for p in (out / "save").glob("CKPT+*")]
    assert any(m.get("brain_intra_epoch_ckpt") for m in metas)  # mid-epoch save exists
    resumed = run(runner, args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Loading a checkpoint" in resumed.stdout + resumed.stderr
    a, b = last_checkpoint(workspace["out"]), last_checkpoint(out)
    for name in ("model", "teacher"):
        x = torch.load(a / f"{name}.ckpt", weights_only=True)
        y = torch.load(b / f"{name}.ckpt", weights_only=True)
        for key in x:
            torch.testing.assert_close(x[key], y[key], rtol=1e-5, atol=1e-6, msg=f"{name} {key}")
    x = torch.load(a / "optimizer.ckpt", weights_only=True)["state"]
    y = torch.load(b / "optimizer.ckpt", weights_only=True)["state"]
    for key in x:
        torch.testing.assert_close(x[key]["exp_avg_sq"], y[key]["exp_avg_sq"], rtol=1e-5, atol=1e-9)
    for name in ("brain.ckpt", "lr_scheduler.ckpt", "counter.ckpt"):
        if name.endswith("scheduler.ckpt"):
            assert torch.load(a / name) == torch.load(b / name)
        else:
            assert (a / name).read_text() == (b / name).read_text()
    assert (workspace["out"] / "train_steps_log.txt").read_text() == (out / "train_steps_log.txt").read_text()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ddp_two_cpu_processes_hold_identical_weights(workspace):
    tmp = workspace["tmp"]
    dump = tmp / "ddp_dump"
    dump.mkdir()
    launcher = ("-m", "torch.distributed.run", "--nproc_per_node", "2",
                "--master_port", str(free_port()))
    args = ["--data_folder", str(workspace["audio"]), "--noprogressbar",
            "--distributed_backend", "gloo", "--output_folder", str(tmp / "ddp")]
    result = run(workspace["runner"], args, env={"DUMP_WEIGHTS": str(dump)}, launcher=launcher)
    assert result.returncode == 0, result.stderr[-4000:]
    rank0 = torch.load(dump / "rank0.pt", weights_only=True)
    rank1 = torch.load(dump / "rank1.pt", weights_only=True)
    assert rank0["optimizer_step"] == rank1["optimizer_step"] >= 2
    for part in ("model", "teacher"):
        for key, value in rank0[part].items():
            assert torch.equal(value, rank1[part][key]), (part, key)
    student = rank0["model"]["encoder.blocks.0.ffn.fc1.weight"]
    assert not torch.equal(student, rank0["teacher"]["model.blocks.0.ffn.fc1.weight"])
    assert (tmp / "ddp" / "train_steps_log.txt").is_file()
