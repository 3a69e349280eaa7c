"""Untrusted files: converting, loading, initialising from or resuming with a
file from a stranger never runs code from it; ``trust=True`` /
``--trust-checkpoint`` is the one opt-in, and it warns.

Each malicious pickle writes a marker file when it is unpickled; the tests
check that the marker never appears and that a clear one-line error names
the file. The allow-list is checked against a checkpoint pickled by the
real omegaconf (``tests/fixtures/untrusted``, see
``tests/fixtures/make_untrusted_fixtures.py``).
"""

import argparse
import json
import logging
import os
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import tiny_config

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CKPT = FIXTURES / "parity_small" / "ckpt"
OMEGACONF_CKPT = FIXTURES / "untrusted" / "fairseq_omegaconf.pt"
#: tests/fixtures/make_untrusted_fixtures.py CONFIG
OMEGACONF_ARCH = dict(
    embed_dim=16, num_heads=2, depth=1, prenet_depth=1, conv_pos_groups=4,
    decoder_dim=8, build_decoder=False, num_extra_tokens=2,
    feature_encoder_spec="[(8, 10, 5)] + [(8, 3, 2)] * 4 + [(8, 2, 2)] * 2",
)


class WritesMarker:
    """Unpickling this calls ``open(marker, "w")``: the marker appears."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


class RunsShell:
    """Unpickling this runs a shell command (the attack of the issue)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(self.marker)}",))


PAYLOADS = [WritesMarker, RunsShell]


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "PWNED"
    yield path
    assert not path.exists(), "code from a pickle ran"


def _evil_fairseq(path, payload):
    """The parity fairseq checkpoint plus a payload in ``extra_state``."""
    obj = torch.load(CKPT / "fairseq" / "emotion2vec_base.pt", weights_only=True)
    obj["extra_state"] = {"metrics": payload}
    torch.save(obj, path)
    return path


def _tiny_folder(path, num_labels=2, labels=("neu", "ang")):
    from emotion2vec.model import Emotion2vecModel
    from emotion2vec.model_folder import save_model_folder

    torch.manual_seed(0)
    config = tiny_config(num_labels=num_labels)
    return save_model_folder(path, config, Emotion2vecModel(config).state_dict(),
                             list(labels) if num_labels else None)


def _cli(capsys, *argv):
    from emotion2vec.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _assert_one_line_error(code, err, *fragments):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert str(fragment) in lines[0], (fragment, lines[0])


# ------------------------------------------------------------------ convert
@pytest.mark.parametrize("payload", PAYLOADS)
def test_convert_never_runs_pickled_code(tmp_path, marker, capsys, payload):
    evil = _evil_fairseq(tmp_path / "evil.pt", payload(marker))
    out = tmp_path / "out"
    code, _, err = _cli(capsys, "convert", evil, out)
    _assert_one_line_error(code, err, "evil.pt", "refused", "--trust-checkpoint")
    assert not marker.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.pt"]  # nothing half-written
    code, _, err = _cli(capsys, "convert", evil, out, "--to", "funasr")
    _assert_one_line_error(code, err, "evil.pt", "refused")
    assert not marker.exists() and not out.exists()


def test_convert_of_a_hub_folder_with_a_malicious_head(tmp_path, marker, capsys):
    folder = tmp_path / "fairseq"
    shutil.copytree(CKPT / "fairseq", folder)
    torch.save({"proj.weight": WritesMarker(marker)}, folder / "head_proj.pt")
    code, _, err = _cli(capsys, "convert", folder / "emotion2vec_base.pt", tmp_path / "out")
    _assert_one_line_error(code, err, "head_proj.pt", "refused")
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_trust_checkpoint_runs_it_with_a_warning(tmp_path, capsys, caplog):
    """The flag works (harmless marker only): full unpickling, and a WARNING."""
    marker = tmp_path / "HARMLESS"
    evil = _evil_fairseq(tmp_path / "evil.pt", WritesMarker(marker))
    with caplog.at_level(logging.WARNING, logger="emotion2vec.safe_load"):
        code, out, err = _cli(capsys, "convert", evil, tmp_path / "out", "--trust-checkpoint")
    assert code == 0, err
    assert marker.exists()
    assert any("full unpickling" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)
    assert (tmp_path / "out" / "model.ckpt").is_file()


def test_trust_is_only_used_when_the_safe_load_refuses(tmp_path, caplog):
    from emotion2vec.safe_load import load_torch_file

    with caplog.at_level(logging.WARNING, logger="emotion2vec.safe_load"):
        load_torch_file(CKPT / "plain_state_dict.pt", trust=True)
    assert not caplog.records


# --------------------------------------------------------- the allow-list
def test_released_layouts_still_convert_and_match_the_raw_tensors(tmp_path):
    from emotion2vec import load_model
    from emotion2vec.checkpoints import map_official_state_dict
    from emotion2vec.convert import convert_checkpoint

    raw = torch.load(CKPT / "plain_state_dict.pt", weights_only=True)  # our own fixture
    expected = map_official_state_dict(raw, "raw")
    for i, layout in enumerate([CKPT / "fairseq" / "emotion2vec_base.pt", CKPT / "modelscope_base",
                                CKPT / "modelscope_plus", CKPT / "plain_state_dict.pt"]):
        model = load_model(convert_checkpoint(layout, tmp_path / str(i)))
        state = model.state_dict()
        for key, value in state.items():
            assert torch.equal(value, expected[key]), (layout, key)
        assert set(expected) - set(state) <= {k for k in expected if k.startswith(("head.", "decoder."))}


def test_omegaconf_checkpoint_loads_without_omegaconf():
    """The real omegaconf 2.0 pickle: DictConfig, ListConfig, nodes, Namespace, numpy."""
    from emotion2vec.safe_load import load_torch_file

    assert "omegaconf" not in __import__("sys").modules
    obj = load_torch_file(OMEGACONF_CKPT)
    cfg = obj["cfg"]
    assert type(cfg) is dict and type(cfg["model"]) is dict
    assert cfg["task"] == {"_name": "emotion2vec_pretraining", "normalize": True,
                           "sample_rate": 16000, "max_sample_size": 320000}
    assert cfg["optimization"] == {"lr": [7.5e-05], "max_update": 100000, "seed": 1}  # ${common.seed}
    assert cfg["model"]["embed_dim"] == 16 and cfg["model"]["modalities"]["audio"]["prenet_depth"] == 1
    assert isinstance(obj["args"], argparse.Namespace) and obj["args"].arch == "data2vec_multi"
    assert float(obj["extra_state"]["val_loss"]) == 2.5
    assert np.array_equal(obj["extra_state"]["best"], [2.5, 3.0])


def test_omegaconf_checkpoint_converts_like_its_plain_twin(tmp_path):
    from emotion2vec import load_model
    from emotion2vec.convert import convert_checkpoint
    from emotion2vec.model import Emotion2vecConfig
    from emotion2vec.safe_load import load_torch_file

    twin = load_torch_file(OMEGACONF_CKPT)
    twin = {"cfg": twin["cfg"], "model": twin["model"]}  # plain dicts only
    torch.save(twin, tmp_path / "plain.pt")
    a = load_model(convert_checkpoint(OMEGACONF_CKPT, tmp_path / "a"))
    b = load_model(convert_checkpoint(tmp_path / "plain.pt", tmp_path / "b"))
    assert a.config == b.config
    expected = Emotion2vecConfig(**OMEGACONF_ARCH)
    for name in OMEGACONF_ARCH:
        assert getattr(a.config, name) == getattr(expected, name), name
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    first = json.loads((tmp_path / "a" / "config.json").read_text())
    assert first == json.loads((tmp_path / "b" / "config.json").read_text())


def test_the_allow_list_holds_no_callable_that_acts():
    """Everything on the allow-list only builds data."""
    from emotion2vec import safe_load

    allowed = {name: obj for obj, name in safe_load.SAFE_GLOBALS}
    assert "argparse.Namespace" in allowed and "omegaconf.dictconfig.DictConfig" in allowed
    for name, obj in allowed.items():
        if name.startswith(("typing.", "builtins.")):
            assert isinstance(obj, safe_load.TypeMarker), name  # never the real type
        elif name.startswith("omegaconf."):
            assert issubclass(obj, safe_load.ConfigRecord), name
        elif name == "collections.defaultdict":
            assert obj(print) == {}
        else:
            assert name == "argparse.Namespace" or name.startswith("numpy."), name


def test_refused_stand_in_names_are_errors(tmp_path, monkeypatch):
    """An omegaconf EnumNode (arbitrary enum values) is not on the list."""
    import sys
    import types

    from emotion2vec.safe_load import CheckpointError, load_torch_file

    class EnumNode:  # pickled under omegaconf's name
        pass

    EnumNode.__module__, EnumNode.__qualname__ = "omegaconf.nodes", "EnumNode"
    nodes = types.ModuleType("omegaconf.nodes")
    nodes.EnumNode = EnumNode
    monkeypatch.setitem(sys.modules, "omegaconf", types.ModuleType("omegaconf"))
    monkeypatch.setitem(sys.modules, "omegaconf.nodes", nodes)
    torch.save({"cfg": EnumNode()}, tmp_path / "enum.pt")
    monkeypatch.delitem(sys.modules, "omegaconf")
    monkeypatch.delitem(sys.modules, "omegaconf.nodes")
    with pytest.raises(CheckpointError, match="refused to load: it needs omegaconf.nodes.EnumNode"):
        load_torch_file(tmp_path / "enum.pt")


# -------------------------------------------------------------- model folders
@pytest.mark.parametrize("payload", PAYLOADS)
def test_model_folder_with_malicious_weights(tmp_path, marker, capsys, payload):
    from emotion2vec import load_model
    from emotion2vec.inference import Emotion2vecClassifier
    from emotion2vec.model_folder import ModelFolderError

    folder = _tiny_folder(tmp_path / "model")
    state = torch.load(folder / "model.ckpt", weights_only=True)
    state["head.bias"] = payload(marker)
    torch.save(state, folder / "model.ckpt")
    with pytest.raises(ModelFolderError, match="model.ckpt: refused to load"):
        load_model(folder)
    with pytest.raises(ModelFolderError, match="model.ckpt: refused to load"):
        Emotion2vecClassifier.from_hparams(source=folder)
    wav = tmp_path / "a.wav"
    from emotion2vec.audio import write_audio

    write_audio(wav, torch.randn(8000) * 0.1, sr=16000)
    for argv in (["classify", "--model", folder, "--no-progress", wav],
                 ["extract", "--model", folder, "--out", tmp_path / "feats", "--no-progress", wav],
                 ["export-onnx", folder, tmp_path / "m.onnx"],
                 ["convert", folder, tmp_path / "copy"]):
        code, _, err = _cli(capsys, *argv)
        _assert_one_line_error(code, err, "model.ckpt", "refused")
    assert not marker.exists()
    assert not (tmp_path / "m.onnx").exists() and not (tmp_path / "copy").exists()


def test_hyperparams_yaml_is_never_executed_by_our_loaders(tmp_path, marker, capsys):
    """A model folder is data: its HyperPyYAML may name callables, we never load it."""
    from emotion2vec import load_model
    from emotion2vec.downstream.upstreams import Emotion2vecUpstream
    from emotion2vec.inference import Emotion2vecClassifier

    folder = _tiny_folder(tmp_path / "model")
    (folder / "hyperparams.yaml").write_text(
        f"pwn: !apply:builtins.open [{str(marker)!r}, 'w']\n"
        f"shell: !apply:os.system ['touch {shlex.quote(str(marker))}']\n"
    )
    assert load_model(folder).labels == ["neu", "ang"]
    clf = Emotion2vecClassifier.from_hparams(source=folder, savedir=tmp_path / "saved")
    assert clf.labels == ["neu", "ang"]
    assert Emotion2vecUpstream(model_dir=folder).dim == 32
    from emotion2vec.audio import write_audio

    write_audio(tmp_path / "a.wav", torch.randn(8000) * 0.1, sr=16000)
    code, out, err = _cli(capsys, "classify", "--model", folder, "--no-progress", tmp_path / "a.wav")
    assert code == 0 and out.count("\t") == 2, err
    assert not marker.exists()


def test_malicious_downstream_head(tmp_path, marker):
    from emotion2vec.inference import Emotion2vecClassifier
    from emotion2vec.model_folder import ModelFolderError

    folder = _tiny_folder(tmp_path / "model", num_labels=0)
    (folder / "downstream.json").write_text(json.dumps(
        {"format": 1, "feature": "frm", "labels": ["a", "b"], "input_dim": 32, "hidden": 4}))
    torch.save({"weight": WritesMarker(marker)}, folder / "downstream_head.ckpt")
    with pytest.raises(ModelFolderError, match="downstream_head.ckpt: refused to load"):
        Emotion2vecClassifier.from_hparams(source=folder)
    assert not marker.exists()


# --------------------------------------------------------- initialisation
def test_initialisation_never_runs_pickled_code(tmp_path, marker):
    from emotion2vec.checkpoints import CheckpointError
    from emotion2vec.model import Emotion2vecModel
    from emotion2vec.pretrain.initialization import initialize_model
    from emotion2vec.safe_load import load_torch_file

    evil = tmp_path / "base_libri.pt"
    ckpt = load_torch_file(OMEGACONF_CKPT)
    student = Emotion2vecModel(**OMEGACONF_ARCH)
    assert initialize_model(student, OMEGACONF_CKPT)["family"] == "data2vec_multi"
    ckpt["extra_state"]["metrics"] = WritesMarker(marker)
    torch.save(ckpt, evil)
    with pytest.raises(CheckpointError, match="base_libri.pt: refused to load"):
        initialize_model(student, evil)
    folder = _tiny_folder(tmp_path / "model", num_labels=0)
    torch.save({"encoder.alibi_scale": RunsShell(marker)}, folder / "model.ckpt")
    with pytest.raises(CheckpointError, match="model.ckpt: refused to load"):
        initialize_model(Emotion2vecModel(tiny_config()), folder)
    assert not marker.exists()
    harmless = tmp_path / "HARMLESS"  # the opt-in works (harmless marker only)
    ckpt["extra_state"]["metrics"] = WritesMarker(harmless)
    torch.save(ckpt, evil)
    assert initialize_model(student, evil, trust=True)["family"] == "data2vec_multi"
    assert harmless.exists()


# ------------------------------------------------------------------ resume
def test_resume_never_runs_pickled_code(tmp_path, marker):
    """SpeechBrain's Checkpointer with our recoverables: the scheduler is ours
    (CheckpointError), modules go through torch's weights-only default."""
    import pickle

    from speechbrain.utils.checkpoints import Checkpointer
    from speechbrain.utils.epoch_loop import EpochCounter

    from emotion2vec.model import Emotion2vecModel
    from emotion2vec.pretrain.schedulers import WarmupCosineScheduler
    from emotion2vec.safe_load import CheckpointError

    def recoverables():
        model = Emotion2vecModel(tiny_config())
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        scheduler = WarmupCosineScheduler(optimizer, total_steps=10)
        return {"model": model, "optimizer": optimizer, "lr_scheduler": scheduler,
                "counter": EpochCounter(3)}

    Checkpointer(tmp_path / "save", recoverables()).save_checkpoint()
    ckpt = next((tmp_path / "save").glob("CKPT+*"))
    good = {name: (ckpt / f"{name}.ckpt").read_bytes() for name in ("model", "lr_scheduler")}
    torch.save(WritesMarker(marker), ckpt / "lr_scheduler.ckpt")
    with pytest.raises(CheckpointError, match="lr_scheduler.ckpt: refused to load"):
        Checkpointer(tmp_path / "save", recoverables()).recover_if_possible()
    (ckpt / "lr_scheduler.ckpt").write_bytes(good["lr_scheduler"])
    torch.save({"encoder.alibi_scale": RunsShell(marker)}, ckpt / "model.ckpt")
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        Checkpointer(tmp_path / "save", recoverables()).recover_if_possible()
    assert not marker.exists()
    (ckpt / "model.ckpt").write_bytes(good["model"])
    assert Checkpointer(tmp_path / "save", recoverables()).recover_if_possible() is not None


def test_results_dir_with_malicious_student(tmp_path, marker, capsys):
    from emotion2vec.model import Emotion2vecModel

    save = tmp_path / "run" / "save"
    ckpt = save / "CKPT+2024-01-01+00-00-00+00"
    ckpt.mkdir(parents=True)
    config = tiny_config()
    (save / "model_config.json").write_text(json.dumps(config.to_dict()))
    (ckpt / "CKPT.yaml").write_text("unixtime: 1.0\nend-of-epoch: true\n")
    state = Emotion2vecModel(config).state_dict()
    torch.save(state, ckpt / "model.ckpt")
    code, _, err = _cli(capsys, "convert", tmp_path / "run", tmp_path / "ok")
    assert code == 0, err
    state["encoder.alibi_scale"] = WritesMarker(marker)
    torch.save(state, ckpt / "model.ckpt")
    code, _, err = _cli(capsys, "convert", tmp_path / "run", tmp_path / "out")
    _assert_one_line_error(code, err, "model.ckpt", "refused")
    assert not marker.exists() and not (tmp_path / "out").exists()
