"""Pre-training pieces around the Brain: student path, teacher, data
pipeline, initialisation, export, and the Brain itself in-process on a tiny
synthetic corpus (loss decreases, EMA and lr advance per optimizer step)."""

import functools
import importlib.util
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import yaml
from emotion2vec.recipe_hparams import load_recipe_hparams

from emotion2vec.checkpoints import CheckpointError, read_official_checkpoint, to_official_state_dict
from emotion2vec.model import Emotion2vecModel
from emotion2vec.model.emotion2vec import count_frames
from emotion2vec.model_folder import load_model, save_model_folder
from emotion2vec.pretrain import export, initialization
from emotion2vec.pretrain.data import (
    CropCollate,
    PretrainBatchSampler,
    PretrainDataset,
    check_loader_options,
    read_manifest,
)
from emotion2vec.pretrain.student import clone_features, decoder_input, student_encode, student_forward
from emotion2vec.pretrain.teacher import make_teacher, sync_teacher, teacher_targets

ROOT = Path(__file__).resolve().parents[2]
HPARAMS = ROOT / "recipes" / "pretrain" / "hparams"
FIXTURE = ROOT / "tests" / "fixtures" / "parity_small"
TINY_ARCH = {
    "embed_dim": 32, "num_heads": 4, "prenet_depth": 1, "depth": 2, "decoder_dim": 16,
    "feature_encoder_spec": "[(16, 10, 5)] + [(16, 3, 2)] * 4 + [(16,2,2)] + [(16,2,2)]",
    "layerdrop": 0.0, "prenet_layerdrop": 0.0,
}


def tiny_model(**overrides):
    torch.manual_seed(0)
    return Emotion2vecModel(**{**TINY_ARCH, **overrides})


def write_wavs(folder, count, seed=0, low=0.6, high=1.4):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        n = int(16000 * rng.uniform(low, high))
        t = np.arange(n) / 16000
        f0 = 100 + 25 * i
        x = 0.3 * np.sin(2 * np.pi * f0 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
        x += 0.05 * rng.standard_normal(n)
        soundfile.write(folder / f"u{i:02d}.wav", x.astype(np.float32), 16000)
    return folder


# --------------------------------------------------------------- student
def test_clone_features_is_item_major():
    x = torch.arange(3).view(3, 1)
    assert clone_features(x, 2).flatten().tolist() == [0, 0, 1, 1, 2, 2]
    assert clone_features(x, 1) is x


def test_student_encode_rows_with_different_mask_counts():
    """Cropped masks: rows differ; all keep row 0's count (release rule)."""
    model = tiny_model().eval()
    mask = torch.zeros(2, 10, dtype=torch.bool)
    mask[0, [1, 2, 3, 7]] = True  # keeps 6
    mask[1, [0, 1, 2, 3, 4, 5]] = True  # has only 4 unmasked: keeps 2 masked
    hidden, keep, drop = student_encode(model.encoder, torch.randn(2, 10, 32), mask)
    assert hidden.shape == (2, model.encoder.num_tokens + 6, 32)
    assert keep[1].tolist() == [0, 1, 6, 7, 8, 9]
    assert sorted(keep[0].tolist() + drop[0].tolist()) == list(range(10))


def test_decoder_input_noise_only_at_removed_frames():
    torch.manual_seed(0)
    hidden = torch.randn(2, 3 + 4, 8)
    keep = torch.tensor([[0, 2, 4, 5], [1, 2, 3, 5]])
    drop = torch.tensor([[1, 3], [0, 4]])
    dec_in, dropped = decoder_input(hidden, keep, drop, 3, noise_std=0.01)
    assert torch.equal(dropped, hidden)  # no dropout outside training
    assert torch.equal(dec_in[0, [0, 2, 4, 5]], hidden[0, 3:])
    assert float(dec_in[0, [1, 3]].abs().max()) < 0.1
    dec_in, dropped = decoder_input(hidden, keep, drop, 3, dropout=0.5, training=True)
    assert (dropped == 0).any() and torch.equal(dec_in[0, [0, 2, 4, 5]], dropped[0, 3:])


def test_student_forward_checks_its_inputs():
    model = tiny_model()
    with pytest.raises(ValueError, match=r"batch \* clone_batch"):
        student_forward(model, torch.randn(1, 3200), torch.zeros(3, 9, dtype=torch.bool), 2)
    with pytest.raises(ValueError, match="decoder"):
        student_forward(tiny_model(build_decoder=False), torch.randn(1, 3200),
                        torch.zeros(2, 9, dtype=torch.bool), 2)


def test_student_trains_only_through_kept_frames_and_decoder():
    model = tiny_model().train()
    mask = torch.zeros(2, 9, dtype=torch.bool)
    mask[:, 2:6] = True
    out = student_forward(model, torch.randn(1, 3200), mask, 2)
    out.prediction.sum().backward()
    assert model.decoder.proj.weight.grad is not None
    assert model.feature_extractor.layers[0].conv.weight.grad is not None


# --------------------------------------------------------------- teacher
def test_teacher_copies_encoder_only_and_stays_in_eval():
    model = tiny_model()
    teacher = make_teacher(model)
    assert not any(k.startswith(("decoder", "feature_")) for k in teacher.model.state_dict())
    teacher.train()
    assert not teacher.model.training
    assert not any(p.requires_grad for p in teacher.parameters())


def test_teacher_targets_are_instance_normalised_average():
    model = tiny_model().eval()
    x = torch.randn(2, 12, 32)
    y = teacher_targets(make_teacher(model), x, top_k=2)
    assert y.shape == (2, 12, 32)
    # the average of instance-normalised layers has zero mean over time
    assert float(y.mean(dim=1).abs().max()) < 1e-5


def test_sync_teacher_after_initialisation():
    model = tiny_model()
    teacher = make_teacher(model)
    teacher.num_updates.fill_(5)
    with torch.no_grad():
        model.encoder.blocks[0].ffn.fc1.weight.add_(1.0)
    sync_teacher(teacher, model)
    assert torch.equal(teacher.model.blocks[0].ffn.fc1.weight, model.encoder.blocks[0].ffn.fc1.weight)
    assert int(teacher.num_updates) == 0


# ------------------------------------------------------------------ data
@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = write_wavs(tmp_path_factory.mktemp("pretrain_corpus") / "audio", 12)
    rows = [
        {"ID": p.stem, "wav": str(p), "duration": soundfile.info(str(p)).duration}
        for p in sorted(folder.glob("*.wav"))
    ]
    return folder, rows


def make_dataset(rows, seed=0):
    frame_count = functools.partial(count_frames, config=tiny_model().config)
    return PretrainDataset(rows, frame_count, 3, 0.5, 5, 0.05, seed=seed), frame_count


def test_dataset_is_deterministic_per_seed_epoch_and_index(corpus):
    ds, _ = make_dataset(corpus[1])
    a, b = ds[3], ds[3]
    assert torch.equal(a["mask"], b["mask"]) and a["wav_crop"] == b["wav_crop"]
    ds.set_epoch(1)
    c = ds[3]
    assert not torch.equal(a["mask"], c["mask"])
    assert torch.allclose(a["wav"], c["wav"])
    frames = a["mask"].shape[1]
    assert a["mask"].sum(dim=1).tolist() == [int(0.5 * frames)] * 3
    assert abs(float(a["wav"].mean())) < 1e-4 and abs(float(a["wav"].std()) - 1) < 1e-3


def test_collate_crops_to_the_shortest_and_to_max_sample_size(corpus):
    ds, frame_count = make_dataset(corpus[1])
    items = [ds[i] for i in range(4)]
    shortest = min(it["wav"].shape[0] for it in items)
    batch = CropCollate(frame_count)(items)
    assert batch.wavs.shape == (4, shortest)
    assert batch.mask.shape == (12, frame_count(shortest))
    # each item's crop is a window of its normalised waveform
    wav0 = items[0]["wav"]
    start = next(s for s in range(wav0.shape[0] - shortest + 1)
                 if torch.equal(wav0[s:s + shortest], batch.wavs[0]))
    assert start >= 0
    batch = CropCollate(frame_count, max_sample_size=8000)(items)
    assert batch.wavs.shape == (4, 8000)


def test_batch_sampler_bounds_and_constant_length(corpus):
    ds, _ = make_dataset(corpus[1])
    sampler = PretrainBatchSampler(ds, 40000, max_sample_size=20000, seed=3)
    counts = []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert sorted(i for b in batches for i in b) == list(range(len(ds)))
        for b in batches:
            longest = max(min(ds.sizes[i], 20000) for i in b)
            assert len(b) == 1 or longest * len(b) <= 40000
        counts.append(len(batches))
        assert list(sampler) == batches  # deterministic within an epoch
    assert counts == [len(sampler)] * 3
    assert ds.epoch == 2  # the sampler forwards the epoch to the dataset


def test_loader_options_that_break_resumption_are_refused():
    with pytest.raises(ValueError, match="persistent_workers"):
        check_loader_options({"persistent_workers": True})
    with pytest.raises(ValueError, match="batch_size"):
        check_loader_options({"batch_size": 4})


def test_read_manifest_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("ID,wav\na,b.wav\n")
    with pytest.raises(ValueError, match="duration"):
        read_manifest(bad)


# -------------------------------------------------------- initialisation
def test_cold_start_changes_nothing():
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert initialization.initialize_model(model, None)["family"] == "cold_start"
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_init_from_model_folder_and_official_checkpoint(tmp_path):
    source = Emotion2vecModel(read_official_checkpoint(FIXTURE / "ckpt" / "plain_state_dict.pt").config)
    source.load_state_dict(read_official_checkpoint(FIXTURE / "ckpt" / "plain_state_dict.pt").state_dict)
    config = source.config
    config.num_labels = 0  # the pre-training student has no head
    for src in (FIXTURE / "ckpt" / "fairseq" / "emotion2vec_base.pt",
                FIXTURE / "ckpt" / "modelscope_plus"):
        torch.manual_seed(1)
        student = Emotion2vecModel(config)
        report = initialization.initialize_model(student, src)
        for key, value in student.state_dict().items():
            if key in report["fresh"]:
                continue
            assert torch.equal(value, source.state_dict()[key]), (src, key)
        assert set(report["fresh"]) <= {k for k in student.state_dict() if k.startswith("decoder.")}
    folder = tmp_path / "folder"
    save_model_folder(folder, config, {k: v for k, v in source.state_dict().items() if not k.startswith("head.")})
    student = Emotion2vecModel(config)
    assert initialization.initialize_model(student, folder)["fresh"] == []


def _data2vec2_checkpoint(model, path):
    """A data2vec 2.0 style file: 0 prenet blocks, all blocks main, no tokens."""
    official = to_official_state_dict(model.state_dict())
    renamed, n_pre = {}, model.config.prenet_depth
    for key, value in official.items():
        if "extra_tokens" in key:
            continue
        prefix = "modality_encoders.AUDIO.context_encoder.blocks."
        if key.startswith(prefix):
            index, rest = key[len(prefix):].split(".", 1)
            key = f"blocks.{int(index)}.{rest}"
        elif key.startswith("blocks."):
            index, rest = key[len("blocks."):].split(".", 1)
            key = f"blocks.{int(index) + n_pre}.{rest}"
        renamed[key] = value
    renamed["_ema"] = {"x": torch.zeros(1)}
    torch.save({"cfg": {"model": {"_name": "data2vec_multi"}}, "model": renamed}, path)


def test_init_from_data2vec2_resplits_blocks(tmp_path):
    source = tiny_model()
    _data2vec2_checkpoint(source, tmp_path / "base_libri.pt")
    torch.manual_seed(5)
    student = Emotion2vecModel(**TINY_ARCH)
    tokens = student.encoder.utterance_tokens.clone()
    report = initialization.initialize_model(student, tmp_path / "base_libri.pt")
    assert report["family"] == "data2vec_multi" and report["fresh"] == ["encoder.utterance_tokens"]
    assert torch.equal(student.encoder.utterance_tokens, tokens)
    for key, value in source.state_dict().items():
        if key != "encoder.utterance_tokens":
            assert torch.equal(student.state_dict()[key], value), key
    with pytest.raises(CheckpointError, match="Transformer blocks"):
        initialization.initialize_model(Emotion2vecModel(**{**TINY_ARCH, "depth": 3}),
                                        tmp_path / "base_libri.pt")


def test_init_from_data2vec_audio_fuses_qkv_and_turns_alibi_off(tmp_path):
    source = tiny_model()
    state = source.state_dict()
    d2v1 = {"mask_emb": torch.zeros(32), "final_proj.weight": torch.zeros(4, 32)}
    for key, value in state.items():
        if key.startswith("feature_extractor.layers."):
            i, kind, p = key.split(".")[2:5]
            d2v1[f"feature_extractor.conv_layers.{i}.{'0' if kind == 'conv' else '2.1'}.{p}"] = value
        elif key.startswith("feature_projection."):
            part, p = key.split(".")[1:3]
            d2v1[f"{'layer_norm' if part == 'norm' else 'post_extract_proj'}.{p}"] = value
        elif key.startswith("encoder.positional_conv.layers."):
            i, p = key.split(".")[3:5]
            d2v1[f"encoder.pos_conv.{i}.0.{p}"] = value
        elif key.startswith("encoder.input_norm."):
            d2v1["encoder.layer_norm." + key.split(".")[-1]] = value
    names = {"attention.out_proj.": "self_attn.out_proj.", "attention_norm.": "self_attn_layer_norm.",
             "ffn.fc1.": "fc1.", "ffn.fc2.": "fc2.", "ffn_norm.": "final_layer_norm."}
    layers = [("prenet", i) for i in range(1)] + [("blocks", i) for i in range(2)]
    for n, (group, i) in enumerate(layers):
        prefix = f"encoder.{group}.{i}."
        for key, value in state.items():
            if not key.startswith(prefix):
                continue
            rest = key[len(prefix):]
            if rest.startswith("attention.qkv."):
                p = rest.split(".")[-1]
                for j, name in enumerate("qkv"):
                    d2v1[f"encoder.layers.{n}.self_attn.{name}_proj.{p}"] = value.chunk(3)[j]
                continue
            for ours, theirs in names.items():
                if rest.startswith(ours):
                    d2v1[f"encoder.layers.{n}.{theirs}{rest[len(ours):]}"] = value
    torch.save({"model": d2v1}, tmp_path / "audio_base_ls.pt")
    student = Emotion2vecModel(**TINY_ARCH)
    report = initialization.initialize_model(student, tmp_path / "audio_base_ls.pt")
    assert report["family"] == "data2vec_audio"
    assert float(student.encoder.alibi_scale.detach().abs().max()) == 0.0
    for key, value in state.items():
        if key not in ("encoder.utterance_tokens", "encoder.alibi_scale") and not key.startswith("decoder."):
            assert torch.equal(student.state_dict()[key], value), key


def test_init_with_the_wrong_architecture_names_the_problem(tmp_path):
    with pytest.raises(CheckpointError, match="shape mismatches"):
        initialization.initialize_model(
            Emotion2vecModel(**{**TINY_ARCH, "embed_dim": 64}),
            FIXTURE / "ckpt" / "plain_state_dict.pt",
        )


# ---------------------------------------------------------------- export
def test_funasr_layout_matches_the_official_plus_layout(tmp_path):
    out = export.convert(FIXTURE / "ckpt" / "modelscope_plus", tmp_path / "funasr", to="funasr")
    official = FIXTURE / "ckpt" / "modelscope_plus"
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in official.iterdir())
    ours = torch.load(out / "model.pt", weights_only=True)["state_dict"]
    theirs = torch.load(official / "model.pt", weights_only=True)["state_dict"]
    assert set(ours) == set(theirs)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    conf, ref = yaml.safe_load((out / "config.yaml").read_text()), yaml.safe_load((official / "config.yaml").read_text())
    assert set(conf) == set(ref) and conf["scope_map"] == ref["scope_map"]
    assert set(conf["model_conf"]["modalities"]["audio"]) >= set(ref["model_conf"]["modalities"]["audio"]) - {"type"}
    meta = json.loads((out / "configuration.json").read_text())["file_path_metas"]
    assert meta == json.loads((official / "configuration.json").read_text())["file_path_metas"]
    assert (out / "tokens.txt").read_text() == (official / "tokens.txt").read_text()
    back = read_official_checkpoint(out)
    assert back.labels == read_official_checkpoint(official).labels


def test_funasr_export_refuses_to_overwrite(tmp_path):
    out = export.convert(FIXTURE / "ckpt" / "plain_state_dict.pt", tmp_path / "f", to="funasr")
    with pytest.raises(ValueError, match="overwrite"):
        export.convert(FIXTURE / "ckpt" / "plain_state_dict.pt", out, to="funasr")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="did not write"):
        export.convert(FIXTURE / "ckpt" / "plain_state_dict.pt", out, to="funasr", overwrite=True)
    with pytest.raises(ValueError, match="--to"):
        export.convert(FIXTURE / "ckpt" / "plain_state_dict.pt", tmp_path / "g", to="onnx")


# ------------------------------------------------------- Brain in-process
def load_train_module():
    spec = importlib.util.spec_from_file_location("pretrain_train", ROOT / "recipes/pretrain/train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_brain(tmp_path, audio, recipe_overrides=None, run_opts=None):
    from emotion2vec.pretrain.brain import Emotion2vecPretrainBrain

    overrides = {"data_folder": str(audio), "output_folder": str(tmp_path / "out"),
                 "arch": dict(TINY_ARCH), **(recipe_overrides or {})}
    hparams = load_recipe_hparams(HPARAMS / "emotion2vec_tiny.yaml", overrides)
    train = load_train_module()
    train.prepare_manifests(hparams)
    (dataset, sampler, options), _ = train.dataio_prep(hparams)
    brain = Emotion2vecPretrainBrain(
        modules=hparams["modules"], opt_class=hparams["opt_class"], hparams=hparams,
        run_opts={"noprogressbar": True, **(run_opts or {})}, checkpointer=hparams["checkpointer"],
    )
    brain.train_sampler = sampler
    return brain, dataset, options


def test_loss_decreases_and_schedules_follow_optimizer_steps(tmp_path):
    audio = write_wavs(tmp_path / "audio", 6, seed=2, low=0.55, high=0.8)
    brain, dataset, options = build_brain(
        tmp_path, audio,
        {"number_of_epochs": 6, "max_batch_samples": 16000, "lr": 0.002,
         "ema_anneal_end_step": 1000, "max_update": 1000, "warmup_ratio": 0.0,
         "cls_weight": 0.1},
    )
    brain.fit(brain.hparams.epoch_counter, dataset, train_loader_kwargs=options)
    gaf = brain.grad_accumulation_factor
    assert gaf == 2
    per_epoch = len(options["batch_sampler"]) // gaf
    assert brain.optimizer_step == 6 * per_epoch >= 12
    assert int(brain.hparams.teacher.num_updates) == brain.optimizer_step
    assert brain.lr_scheduler.step_count == brain.optimizer_step
    lines = (tmp_path / "out" / "train_steps_log.txt").read_text().splitlines()
    assert len(lines) == brain.optimizer_step
    frame = [float(line.split("train frame_loss: ")[1].split(",")[0]) for line in lines]
    first, last = np.mean(frame[:4]), np.mean(frame[-4:])
    assert last < 0.8 * first, (first, last)
    # the teacher moved, slowly, toward the student
    student = brain.hparams.model.encoder.blocks[0].ffn.fc1.weight
    teacher = brain.hparams.teacher.model.blocks[0].ffn.fc1.weight
    assert not torch.equal(student, teacher)


def test_optimizer_groups_clipping_and_update_normalisation(tmp_path):
    audio = write_wavs(tmp_path / "audio", 4, seed=3)
    brain, dataset, options = build_brain(
        tmp_path, audio, {"number_of_epochs": 1, "max_grad_norm": 0.5, "max_batch_samples": 24000}
    )
    brain.fit(brain.hparams.epoch_counter, dataset, train_loader_kwargs=options)
    decay, no_decay = brain.optimizer.param_groups
    names = {id(p): n for n, p in brain.hparams.model.named_parameters()}
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    no_decay_names = {names[id(p)] for p in no_decay["params"]}
    assert "encoder.alibi_scale" in no_decay_names
    assert all(n.endswith("bias") or "norm" in n or n == "encoder.alibi_scale" for n in no_decay_names)
    assert "encoder.utterance_tokens" in {names[id(p)] for p in decay["params"]}
    assert brain.grad_norm > 0.5  # measured before clipping (global, all groups)

    # a partial accumulation at the end of an epoch does not leak its count
    brain.update_stats.n_masked = 123
    brain.on_stage_start(None, 2)
    assert brain.update_stats.n_masked == 0

    # fairseq normalisation: gradients of all accumulated batches divided by
    # their total masked frames = the gradient of (sum of loss sums) / total
    params = [p for g in brain.optimizer.param_groups for p in g["params"]]
    for p in params:  # SpeechBrain accumulates grad(loss sum) / gaf: G / 2 = 1
        p.grad = torch.ones_like(p)
    brain.update_stats.n_masked = 8  # so G / n_masked = 2 / 8
    brain.max_grad_norm = 0.0
    before = [p.detach().clone() for p in params]
    for group in brain.optimizer.param_groups:
        group["lr"] = 0.0
    brain.optimizers_step()
    assert brain.grad_norm == pytest.approx(
        float(torch.sqrt(sum((torch.ones_like(p) * 0.25).pow(2).sum() for p in params))), rel=1e-5
    )
    assert all(torch.equal(a, b) for a, b in zip(before, params))


def test_collapse_is_a_warning_not_an_abort(tmp_path, caplog):
    audio = write_wavs(tmp_path / "audio", 2, seed=4)
    brain, _, _ = build_brain(tmp_path, audio)
    stats = {"target_var": 0.01, "pred_var": 0.5}
    with caplog.at_level(logging.WARNING):
        assert brain.check_collapse(10, stats)
    assert "REPRESENTATION COLLAPSE" in caplog.text and "target_var" in caplog.text
    assert not brain.check_collapse(10, {"target_var": 0.5, "pred_var": 0.5})


def test_every_hparams_file_loads(tmp_path):
    """Each recipe file resolves and builds (architecture shrunk for speed);
    the ablations change what they claim."""
    expected = {
        "emotion2vec_base.yaml": {},
        "table8_cold_start.yaml": {"init_from": None},
        "table9_utterance_only.yaml": {"d2v_weight": 0.0},
        "table10_token.yaml": {"cls_type": "token"},
        "table10_global.yaml": {"cls_type": "global"},
        "table11_alpha_0.yaml": {"cls_weight": 0.0},
        "table11_alpha_0p1.yaml": {"cls_weight": 0.1},
        "table11_alpha_10.yaml": {"cls_weight": 10.0},
        "emo262.yaml": {"min_duration": None, "train_sources": []},
    }
    files = sorted(p.name for p in HPARAMS.glob("*.yaml"))
    assert set(expected) | {"emotion2vec_tiny.yaml", "table8_data2vec.yaml"} == set(files)
    for name in files:
        overrides = {"data_folder": str(tmp_path), "output_folder": str(tmp_path / name),
                     "arch": dict(TINY_ARCH)}
        if name not in ("emotion2vec_tiny.yaml", "table8_cold_start.yaml"):
            overrides["init_from"] = None  # a placeholder
        hparams = load_recipe_hparams(HPARAMS / name, overrides)
        for key, value in expected.get(name, {}).items():
            assert hparams[key] == value, (name, key)
        assert hparams["loss"].cls_type == hparams["cls_type"]
        assert hparams["loss"].cls_weight == hparams["cls_weight"]
        if name == "table10_token.yaml":
            assert hparams["model"].config.num_extra_tokens == 1
        if name == "table10_global.yaml":
            assert hparams["model"].config.num_extra_tokens == 0
        if name == "emotion2vec_base.yaml":
            assert hparams["clone_batch"] == 8 and hparams["grad_accumulation_factor"] == 4
            assert hparams["lr"] == 7.5e-5 and hparams["max_batch_samples"] == 1_000_000


def test_tensorboard_needs_its_package_or_writes_events(tmp_path):
    audio = write_wavs(tmp_path / "audio", 2, seed=5)
    brain, dataset, options = build_brain(
        tmp_path, audio, {"use_tensorboard": True, "number_of_epochs": 1}
    )
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install tensorboard"):
            brain.fit(brain.hparams.epoch_counter, dataset, train_loader_kwargs=options)
    else:
        brain.fit(brain.hparams.epoch_counter, dataset, train_loader_kwargs=options)
        assert any((tmp_path / "out" / "tensorboard").iterdir())


def test_global_utterance_loss_trains_a_model_without_tokens(tmp_path):
    """Table 10's global variant: no utterance tokens, the utterance
    prediction is the mean of the student frames."""
    audio = write_wavs(tmp_path / "audio", 4, seed=5)
    brain, dataset, options = build_brain(
        tmp_path, audio,
        {"number_of_epochs": 1, "cls_type": "global", "cls_weight": 1.0, "max_batch_samples": 24000,
         "arch": dict(TINY_ARCH, num_extra_tokens=0)},
    )
    assert brain.hparams.model.config.num_extra_tokens == 0
    brain.fit(brain.hparams.epoch_counter, dataset, train_loader_kwargs=options)
    lines = (tmp_path / "out" / "train_steps_log.txt").read_text().splitlines()
    assert lines and all("utterance_loss" in line for line in lines)


def test_the_paper_architecture_trains_on_the_shortest_clips(tmp_path, caplog):
    """Emo-262 keeps utterances of every length (min_duration null): the
    released architecture and masking (mask_prob 0.5, blocks of 5, 8 clones)
    train on clips of 45 ms to 0.6 s; files too short to hold a masked and
    a kept frame are left out of the manifest instead of failing mid-epoch."""
    from emotion2vec.pretrain.data import shortest_trainable_duration

    audio = tmp_path / "audio"
    audio.mkdir()
    rng = np.random.default_rng(11)
    lengths = {"too_short_a": 300, "too_short_b": 700, "floor": 720, "tiny_a": 1200,
               "tiny_b": 1700, "short_a": 8000, "short_b": 8800, "short_c": 9600}
    for name, n in lengths.items():
        soundfile.write(audio / f"{name}.wav", (0.1 * rng.standard_normal(n)).astype(np.float32), 16000)
    overrides = {"data_folder": str(audio), "output_folder": str(tmp_path / "out"), "init_from": None,
                 "min_duration": None, "max_batch_samples": 20000, "grad_accumulation_factor": 1,
                 "number_of_epochs": 1, "num_workers": 0}
    hparams = load_recipe_hparams(HPARAMS / "emotion2vec_base.yaml", overrides)
    config = hparams["model"].config
    assert (config.embed_dim, config.depth, hparams["clone_batch"]) == (768, 8, 8)
    assert shortest_trainable_duration(functools.partial(count_frames, config=config), 0.5) == 0.045
    train = load_train_module()
    with caplog.at_level(logging.INFO):
        train.prepare_manifests(hparams)
        (dataset, sampler, options), _ = train.dataio_prep(hparams)
    assert "min_duration None raised to 0.045 s" in caplog.text
    assert "batches per epoch feed the model" in caplog.text
    assert sorted(r["ID"].split("/")[-1] for r in dataset.rows) == sorted(
        name for name, n in lengths.items() if n >= 720)
    for batch in sampler:
        mask = options["collate_fn"]([dataset[i] for i in batch]).mask
        assert mask.shape[0] == 8 * len(batch) and mask.shape[1] >= 2
        assert 0.25 <= mask.float().mean() <= 0.75
    from emotion2vec.pretrain.brain import Emotion2vecPretrainBrain

    brain = Emotion2vecPretrainBrain(
        modules=hparams["modules"], opt_class=hparams["opt_class"], hparams=hparams,
        run_opts={"noprogressbar": True}, checkpointer=hparams["checkpointer"],
    )
    brain.train_sampler = sampler
    brain.fit(brain.hparams.epoch_counter, dataset, train_loader_kwargs=options)
    assert brain.optimizer_step == len(sampler) >= 2
    epoch_line = (tmp_path / "out" / "train_log.txt").read_text().splitlines()[-1]
    loss = float(epoch_line.split("train loss: ")[1].split(",")[0])
    assert np.isfinite(loss) and loss > 0, epoch_line


def test_batch_audio_summary_counts_both_crops():
    from emotion2vec.pretrain.data import batch_audio_summary

    class Sizes:
        sizes = [480000, 32000, 30000, 16000]

        def set_epoch(self, epoch):
            pass

    sampler = PretrainBatchSampler(Sizes(), 400000, max_sample_size=320000, shuffle=False)
    assert list(sampler) == [[0], [1, 2, 3]]
    summary = batch_audio_summary(sampler, Sizes.sizes)
    total = sum(Sizes.sizes)
    assert summary["max_crop_share"] == pytest.approx(160000 / total)
    assert summary["shortest_crop_share"] == pytest.approx((32000 + 30000 - 2 * 16000) / total)
    assert summary["hours_used"] == pytest.approx((320000 + 3 * 16000) / 16000 / 3600)
