"""Strict conversion of official checkpoints and the model folder."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from emotion2vec import load_model
from emotion2vec.checkpoints import (
    CheckpointError,
    official_to_ours,
    ours_to_official,
    read_official_checkpoint,
    to_official_state_dict,
)
from emotion2vec.cli import main
from emotion2vec.convert import convert_checkpoint
from emotion2vec.model_folder import ModelFolderError

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "parity_small"
CKPT = FIXTURE / "ckpt"


def test_key_mapping_round_trips(tiny_model):
    for key in tiny_model.state_dict():
        official = ours_to_official(key)
        assert official is not None, key
        assert official_to_ours(official) == key


def test_plain_state_dict_round_trip(tmp_path):
    state = torch.load(CKPT / "plain_state_dict.pt", weights_only=True)
    checkpoint = read_official_checkpoint(CKPT / "plain_state_dict.pt")
    back = to_official_state_dict(checkpoint.state_dict)
    assert set(back) == set(state)
    for key in state:
        assert torch.equal(back[key], state[key])


def _broken_copy(tmp_path, edit):
    folder = tmp_path / "broken"
    shutil.copytree(CKPT / "modelscope_plus", folder)
    obj = torch.load(folder / "model.pt", weights_only=False)
    edit(obj["state_dict"])
    torch.save(obj, folder / "model.pt")
    return folder


def test_missing_key_is_named(tmp_path):
    key = "d2v_model.blocks.1.mlp.fc2.bias"
    folder = _broken_copy(tmp_path, lambda sd: sd.pop(key))
    with pytest.raises(CheckpointError, match="missing keys: encoder.blocks.1.ffn.fc2.bias"):
        read_official_checkpoint(folder)


def test_unexpected_key_is_named(tmp_path):
    folder = _broken_copy(tmp_path, lambda sd: sd.__setitem__("d2v_model.foo.weight", torch.zeros(1)))
    with pytest.raises(CheckpointError, match="unexpected keys.*foo.weight"):
        read_official_checkpoint(folder)


def test_shape_mismatch_is_named(tmp_path):
    key = "d2v_model.modality_encoders.AUDIO.project_features.2.bias"

    def edit(sd):
        sd[key] = torch.zeros(sd[key].shape[0] + 1)

    folder = _broken_copy(tmp_path, edit)
    with pytest.raises(CheckpointError, match="feature_projection.linear.bias"):
        read_official_checkpoint(folder)


def test_config_disagreeing_with_weights_fails(tmp_path):
    folder = tmp_path / "cfg"
    shutil.copytree(CKPT / "modelscope_base", folder)
    text = (folder / "config.yaml").read_text(encoding="utf-8")
    text = text.replace("depth: 2\n", "depth: 3\n", 1)
    (folder / "config.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(CheckpointError, match="depth"):
        read_official_checkpoint(folder)


def test_ema_and_decoder_are_optional(tmp_path):
    obj = torch.load(CKPT / "fairseq" / "emotion2vec_base.pt", weights_only=False)
    obj["model"]["_ema"] = {"x": torch.zeros(2)}
    for key in [k for k in obj["model"] if ".decoder." in k]:
        del obj["model"][key]
    path = tmp_path / "emotion2vec_base.pt"
    torch.save(obj, path)
    checkpoint = read_official_checkpoint(path)
    assert not checkpoint.config.build_decoder
    assert not any(k.startswith("decoder.") for k in checkpoint.state_dict)


def test_legacy_4d_alibi_scale_is_upgraded(tmp_path):
    state = torch.load(CKPT / "plain_state_dict.pt", weights_only=True)
    key = "modality_encoders.AUDIO.alibi_scale"
    state[key] = state[key].squeeze(0)
    torch.save(state, tmp_path / "legacy.pt")
    checkpoint = read_official_checkpoint(tmp_path / "legacy.pt")
    assert checkpoint.state_dict["encoder.alibi_scale"].dim() == 5


def test_missing_source_is_clear(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        read_official_checkpoint(tmp_path / "nope.pt")


@pytest.mark.parametrize("layout", ["fairseq/emotion2vec_base.pt", "modelscope_base", "modelscope_plus"])
def test_convert_then_load_model(tmp_path, layout):
    out = convert_checkpoint(CKPT / layout, tmp_path / "model")
    model = load_model(out)
    wav = torch.from_numpy(np.load(FIXTURE / "wav_b.npy")).unsqueeze(0)
    with torch.no_grad():
        frames = model.extract_features(wav).frames[0].numpy()
    assert np.abs(frames - np.load(FIXTURE / "b_frame_feats.npy")).max() < 1e-4
    if layout == "modelscope_plus":
        assert model.labels[0] == "生气/angry" and len(model.labels) == 9
    if layout == "modelscope_base":
        assert model.labels == [] and model.head is None


def test_convert_refuses_to_overwrite(tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ModelFolderError, match="not empty"):
        convert_checkpoint(CKPT / "modelscope_plus", out)
    with pytest.raises(ModelFolderError, match="did not write"):
        convert_checkpoint(CKPT / "modelscope_plus", out, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"


def test_cli_convert_and_bad_source(tmp_path, capsys):
    assert main(["convert", str(CKPT / "modelscope_plus"), str(tmp_path / "m")]) == 0
    assert (tmp_path / "m" / "hyperparams.yaml").is_file()
    assert main(["convert", str(tmp_path / "missing"), str(tmp_path / "m2")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_speechbrain_from_hparams_loads_the_folder_offline(tmp_path, monkeypatch):
    from speechbrain.inference.interfaces import Pretrained

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = convert_checkpoint(CKPT / "modelscope_plus", tmp_path / "model")
    pretrained = Pretrained.from_hparams(source=str(out), savedir=str(tmp_path / "save"))
    wav = torch.from_numpy(np.load(FIXTURE / "wav_a.npy")).unsqueeze(0)
    with torch.no_grad():
        frames = pretrained.mods.model.extract_features(wav).frames[0].numpy()
    assert np.abs(frames - np.load(FIXTURE / "a_frame_feats.npy")).max() < 1e-4
    assert pretrained.hparams.label_encoder.ind2lab[8] == "<unk>"


def test_load_model_errors(tmp_path):
    with pytest.raises(ModelFolderError, match="no such model folder"):
        load_model(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFolderError, match="emotion2vec convert"):
        load_model(tmp_path / "empty")


def test_read_model_source_is_the_one_reader(tmp_path):
    """Model folder, released checkpoint (strict and weights-only) and
    a folder without weights all go through read_model_source."""
    from emotion2vec.checkpoints import read_model_source

    strict = read_model_source(CKPT / "modelscope_plus")
    assert strict.family == "emotion2vec" and strict.config.num_labels == len(strict.labels) > 0
    loose = read_model_source(CKPT / "modelscope_plus", strict=False)
    assert loose.family == "data2vec_multi" and loose.config is None
    assert set(loose.state_dict) == set(strict.state_dict)
    for key, value in strict.state_dict.items():
        assert torch.equal(loose.state_dict[key].float(), value), key
    folder = convert_checkpoint(CKPT / "modelscope_plus", tmp_path / "folder")
    for mode in (True, False):
        read = read_model_source(folder, strict=mode)
        assert read.family == "model_folder" and read.labels == strict.labels
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no weights file"):
        read_model_source(tmp_path / "empty", strict=False)
