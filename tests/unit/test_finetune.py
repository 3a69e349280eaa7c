"""emotion2vec.finetune: backbone loading, freezing, LR groups, batches, the Brain."""

import functools
from pathlib import Path

import pytest
import speechbrain as sb
import torch
from speechbrain.utils.train_logger import FileTrainLogger

from emotion2vec.audio import write_audio
from emotion2vec.downstream.brain import label_encoder
from emotion2vec.finetune.brain import FineTuneBrain
from emotion2vec.finetune.data import LengthBucketBatchSampler, WaveformDataset, loader_options
from emotion2vec.finetune.freezing import configure_trainable, param_groups
from emotion2vec.finetune.model import FineTuneClassifier, load_backbone
from emotion2vec.model import Emotion2vecModel
from emotion2vec.model.heads import build_head
from emotion2vec.pretrain.schedulers import WarmupCosineScheduler
from tests.conftest import tiny_config

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "parity_small" / "ckpt"


def classifier(feature="frm", labels=("Grumpy", "zen", "über"), head="linear", **config):
    torch.manual_seed(0)
    backbone = Emotion2vecModel(tiny_config(build_decoder=False, **config))
    spec = {"type": head, "input_dim": 32, "labels": list(labels)}
    return FineTuneClassifier(backbone, build_head(spec), feature)


def test_backbone_of_a_released_emotion2vec_plus_checkpoint_drops_its_head():
    backbone, info = load_backbone(FIXTURE / "modelscope_plus")
    assert backbone.head is None and backbone.config.num_labels == 0
    assert info["family"] == "emotion2vec" and "head" in info["dropped"]
    assert len(info["dropped_labels"]) == 9


def test_what_trains_in_each_mode():
    clf = classifier()
    encoder = clf.backbone.encoder
    full = configure_trainable(clf, "all", freeze_feature_extractor=True)
    assert full["trainable_blocks"] == [0, 1, 2]
    assert not any(p.requires_grad for p in clf.backbone.feature_extractor.parameters())
    assert encoder.utterance_tokens.requires_grad and clf.backbone.feature_projection.linear.weight.requires_grad
    top = configure_trainable(clf, 1)
    assert top["trainable_blocks"] == [2] and not encoder.utterance_tokens.requires_grad
    trained = {n for n, p in clf.named_parameters() if p.requires_grad}
    assert trained and all(n.startswith(("backbone.encoder.blocks.1.", "head.")) for n in trained)
    clf.train()
    assert encoder.blocks[1].training and not encoder.blocks[0].training  # frozen: no dropout
    assert not clf.backbone.feature_extractor.training and clf.head.training
    head_only = configure_trainable(clf, 0)
    assert head_only["trainable_parameters"] == head_only["head_parameters"]
    # blocks above the one the feature reads never reach the head: frozen
    low = classifier(feature="layer:0")
    assert configure_trainable(low, "all")["trainable_blocks"] == [0]
    with pytest.raises(ValueError, match="trainable_blocks=7"):
        configure_trainable(clf, 7)


def test_frozen_parts_keep_no_activations():
    """Partial fine-tuning: nothing below the top block enters the graph."""
    clf = classifier()
    configure_trainable(clf, 1)
    seen = []
    hook = clf.backbone.encoder.blocks[0].register_forward_hook(
        lambda module, args, out: seen.append(out[0].requires_grad))
    clf.train()(torch.randn(2, 8000), torch.tensor([1.0, 0.7])).sum().backward()
    hook.remove()
    assert seen == [False]
    assert clf.backbone.encoder.blocks[1].ffn.fc1.weight.grad is not None


def test_param_groups_learning_rates_and_decay():
    clf = classifier()
    configure_trainable(clf, "all")
    groups = param_groups(clf, lr_backbone=1e-4, lr_head=1e-3, layer_decay=0.5, weight_decay=0.01)
    grouped = [p for g in groups for p in g["params"]]
    trainable = [p for p in clf.parameters() if p.requires_grad]
    assert len(grouped) == len(trainable) and {id(p) for p in grouped} == {id(p) for p in trainable}
    lr = {g["name"]: g["lr"] for g in groups}
    assert lr["head/decay"] == 1e-3 and lr["layer3/decay"] == 1e-4  # the top block
    assert lr["layer1/decay"] == pytest.approx(2.5e-5) and lr["layer0/no_decay"] == pytest.approx(1.25e-5)
    no_decay = next(g for g in groups if g["name"] == "layer0/no_decay")
    assert no_decay["weight_decay"] == 0.0
    assert any(p is clf.backbone.encoder.alibi_scale for p in no_decay["params"])


def test_padded_batch_equals_one_at_a_time():
    clf = classifier().eval()
    wavs = torch.randn(2, 12000) * 0.1
    wavs[1, 7000:] = 0.0
    with torch.no_grad():
        batched = clf(wavs, torch.tensor([1.0, 7000 / 12000]))
        alone = clf(wavs[1:, :7000], torch.tensor([1.0]))
    torch.testing.assert_close(batched[1:], alone, atol=1e-5, rtol=1e-4)


def test_length_buckets_budget_determinism_and_epochs():
    sizes = [8000 * (1 + i % 5) for i in range(40)]
    sampler = LengthBucketBatchSampler(sizes, 64000, max_batch_size=4, shuffle=True, seed=3)
    epoch1 = list(sampler)
    assert list(sampler) == epoch1  # same epoch, same batches
    assert sorted(i for b in epoch1 for i in b) == list(range(40))
    for batch in epoch1:
        assert len(batch) <= 4 and max(sizes[i] for i in batch) * len(batch) <= 64000
    sampler.set_epoch(2)
    assert list(sampler) != epoch1 and len(list(sampler)) == len(sampler) == len(epoch1)
    single = LengthBucketBatchSampler(sizes, 0, shuffle=False)  # the CPU evaluation policy
    assert all(len(b) == 1 for b in single) and len(single) == 40


def test_training_crops_follow_seed_epoch_and_index(tmp_path):
    path = tmp_path / "long.wav"
    write_audio(path, torch.randn(48000) * 0.1, sr=16000)
    rows = [{"ID": "x", "wav": str(path), "duration": "3.0", "label": "zen"}]
    data = WaveformDataset(rows, label_encoder(["Grumpy", "zen"]), crop_samples=16000, seed=1)
    first = data[0]["sig"]
    assert first.shape == (16000,) and torch.equal(data[0]["sig"], first)
    data.set_epoch(2)
    assert not torch.equal(data[0]["sig"], first)
    with pytest.raises(ValueError, match="not in the label list"):
        WaveformDataset(rows, label_encoder(["a", "b"]))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_brain_fits_with_groups_schedule_and_precision(tmp_path, precision):
    """A tiny fine-tuning in-process (bf16 autocast runs on the CPU too)."""
    rows = []
    for i in range(6):
        label = ("Grumpy", "zen")[i % 2]
        path = tmp_path / f"u{i}.wav"
        t = torch.arange(8000) / 16000
        write_audio(path, 0.3 * torch.sin(2 * torch.pi * (150 + 300 * (i % 2)) * t), sr=16000)
        rows.append({"ID": f"u{i}", "wav": str(path), "duration": "0.5", "label": label})
    clf = classifier(labels=("Grumpy", "zen"))
    configure_trainable(clf, "all")
    before = clf.backbone.encoder.blocks[0].ffn.fc1.weight.detach().clone()
    counter = sb.utils.epoch_loop.EpochCounter(2)
    hparams = dict(
        lr_backbone=1e-3, lr_head=1e-2, layer_decay=0.8, weight_decay=0.01, number_of_epochs=2,
        seed=0, epoch_counter=counter, select_metric="UA", train_logger=FileTrainLogger(tmp_path / "log.txt"),
        lr_scheduler=functools.partial(WarmupCosineScheduler, warmup_ratio=0.25),
    )
    ckpt = sb.utils.checkpoints.Checkpointer(tmp_path / "save", {"model": clf, "counter": counter})
    brain = FineTuneBrain({"model": clf}, torch.optim.AdamW, hparams,
                          run_opts={"device": "cpu", "precision": precision}, checkpointer=ckpt)
    data = WaveformDataset(rows, label_encoder(["Grumpy", "zen"]))
    train = LengthBucketBatchSampler(data.sizes, 16000, shuffle=True, dataset=data)
    brain.train_sampler = train
    brain.fit(counter, data, data, progressbar=False, train_loader_kwargs=loader_options(train),
              valid_loader_kwargs=loader_options(LengthBucketBatchSampler(data.sizes, 0, shuffle=False)))
    assert brain.optimizer_step == brain.total_updates == 6
    assert brain.optimizer.param_groups[-1]["lr"] == pytest.approx(0.0, abs=1e-12)  # cosine end
    assert not torch.equal(before, clf.backbone.encoder.blocks[0].ffn.fc1.weight)
    brain.evaluate(data, progressbar=False,
                   test_loader_kwargs=loader_options(LengthBucketBatchSampler(data.sizes, 0, shuffle=False)))
    assert brain.test_result.probs.shape == (6, 2)
    assert len(list((tmp_path / "save").glob("CKPT+*"))) <= 2  # the latest and the best
    log = (tmp_path / "log.txt").read_text()
    assert "lr_head" in log and "valid UA" in log
