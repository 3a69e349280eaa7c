"""EmotionBrain: data, training, per-epoch scheduler, checkpoint selection, resume."""

import functools
from types import SimpleNamespace

import numpy as np
import pytest
import speechbrain as sb
import torch
from speechbrain.utils.train_logger import FileTrainLogger

from emotion2vec.downstream.brain import (
    EmotionBrain,
    feature_dataset,
    label_encoder,
    relative_to_steps,
)
from emotion2vec.model.heads import SuperbHead


class _Store:
    """Two separable classes: class b has +1 in the first feature."""

    def __init__(self, ids, label_of):
        rng = np.random.default_rng(0)
        self.data = {}
        for i, uid in enumerate(ids):
            x = rng.normal(0, 0.3, (3 + i % 4, 4)).astype(np.float32)
            x[:, 0] += 1.5 if label_of[uid] == "b" else -1.5
            self.data[uid] = x

    def get(self, uid):
        return self.data[uid]


def _setup(tmp_path, epochs, scheduler=True):
    ids = [f"u{i:02d}" for i in range(24)]
    label_of = {uid: "ab"[i % 2] for i, uid in enumerate(ids)}
    data = feature_dataset(_Store(ids, label_of), ids, label_of, label_encoder(["a", "b"]))
    counter = sb.utils.epoch_loop.EpochCounter(epochs)
    torch.manual_seed(0)
    head = SuperbHead(4, 2, hidden=8)
    hparams = {
        "epoch_counter": counter,
        "train_logger": FileTrainLogger(tmp_path / "train_log.txt"),
        "max_grad_norm": 1e6,
    }
    if scheduler:
        hparams["lr_scheduler"] = functools.partial(
            torch.optim.lr_scheduler.CyclicLR, base_lr=5e-4, max_lr=1e-3, step_size_up=10,
            cycle_momentum=True, base_momentum=0.8, max_momentum=0.9,
        )
    checkpointer = sb.utils.checkpoints.Checkpointer(
        tmp_path / "save", {"head": head, "counter": counter}
    )
    opt = functools.partial(torch.optim.RMSprop, lr=5e-4, momentum=0.9)
    brain = EmotionBrain({"head": head}, opt, hparams, run_opts={"device": "cpu"},
                         checkpointer=checkpointer)
    return brain, counter, data


def _fit(brain, counter, data):
    loader = {"batch_size": 8}
    brain.fit(counter, data, data, progressbar=False,
              train_loader_kwargs=dict(loader, shuffle=True), valid_loader_kwargs=loader)


def test_helpers():
    assert relative_to_steps(torch.tensor([1.0, 0.5, 0.01]), 4).tolist() == [4, 2, 1]
    encoder = label_encoder(["sad", "ang"])
    assert encoder.encode_label("sad") == 0 and encoder.encode_label("ang") == 1
    with pytest.raises(ValueError, match="unique"):
        label_encoder(["a", "a"])
    with pytest.raises(ValueError, match=r"labels \['fru'\] are not in the label list"):
        feature_dataset(None, ["u"], {"u": "fru"}, encoder)


def test_training_learns_and_scheduler_steps_per_epoch(tmp_path):
    brain, counter, data = _setup(tmp_path, epochs=3)
    _fit(brain, counter, data)
    log = (tmp_path / "train_log.txt").read_text().splitlines()
    assert [line.split(" - ")[0] for line in log] == [
        "epoch: 1, lr: 5.00e-04", "epoch: 2, lr: 5.50e-04", "epoch: 3, lr: 6.00e-04",
    ]
    brain.evaluate(data, progressbar=False, test_loader_kwargs={"batch_size": 8})
    result = brain.test_result
    assert result.report["wa"] > 0.9 and len(result.ids) == 24
    assert result.embeddings.shape == (24, 8)
    np.testing.assert_allclose(result.probs.sum(1), 1.0, atol=1e-5)


def test_resume_continues_epochs_and_schedule(tmp_path):
    brain, counter, data = _setup(tmp_path, epochs=2)
    _fit(brain, counter, data)
    brain, counter, data = _setup(tmp_path, epochs=4)  # same folder: recovers
    _fit(brain, counter, data)
    epochs = [line.split(",")[0] for line in (tmp_path / "train_log.txt").read_text().splitlines()]
    assert epochs == ["epoch: 1", "epoch: 2", "epoch: 3", "epoch: 4"]
    assert brain.lr_scheduler.last_epoch == 4  # stepped once per epoch, state restored


def test_selection_prefers_the_earliest_best_epoch(tmp_path):
    brain, _, _ = _setup(tmp_path, epochs=1, scheduler=False)
    ckpts = [SimpleNamespace(meta={"WA": wa, "epoch": e}) for e, wa in
             [(1, 0.5), (2, 0.7), (3, 0.7), (4, 0.6)]]
    assert max(ckpts, key=brain.checkpoint_rank).meta["epoch"] == 2
    for ckpt in ckpts:
        brain.checkpointer.save_and_keep_only(
            meta=ckpt.meta, importance_keys=[brain.checkpoint_rank], num_to_keep=1
        )
    kept = sorted(c.meta["epoch"] for c in brain.checkpointer.list_checkpoints())
    assert kept == [2, 4]  # the best (earliest of the tie) and the most recent
    brain.on_evaluate_start()
    with pytest.raises(ValueError, match="select_metric"):
        brain.hparams.select_metric = "loss"
        brain.select_metric
