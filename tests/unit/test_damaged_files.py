"""Damaged inputs: truncated, empty, bit-flipped or wrong-type versions of
every file of a tiny model folder and of every checkpoint layout give one
clear error line that names the file (CLI exit status 2, no traceback),
never a hang and never a half-written output folder.

Deterministic and small: a fixed list of mutations per file, bit flips at
seeded positions (for torch files one inside the pickle, one in the zip
directory, where a flip matters; elsewhere it lands in tensor data and the
file still loads). A flip may leave a valid file: then loading succeeds,
which is fine; the destructive mutations must fail.
"""

import io
import json
import random
import shutil
import signal
import zipfile
from pathlib import Path

import pytest
import torch

from conftest import tiny_config

CKPT = Path(__file__).resolve().parents[1] / "fixtures" / "parity_small" / "ckpt"
SEED = 20240601
#: Mutations that leave no valid file behind: they must be errors.
DESTRUCTIVE = {"empty", "first_byte", "half", "drop_last_byte", "wrong_type", "folder", "wrong_content"}
TEXT_TRUNCATIONS = {"first_byte", "half", "drop_last_byte"}  # may leave valid text


@pytest.fixture(autouse=True)
def no_hang():
    """A case that runs for more than 60 s fails instead of hanging the suite."""

    def alarm(signum, frame):
        raise TimeoutError("a damaged file made the loader hang")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _pickle_span(data: bytes):
    """Byte range of ``data.pkl`` inside a torch zip file."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    info = next(i for i in archive.infolist() if i.filename.endswith("data.pkl"))
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    return start, start + info.compress_size


def _flip(data: bytes, position: int, rng) -> bytes:
    out = bytearray(data)
    out[position] ^= 1 << rng.randrange(8)
    return bytes(out)


def mutate(data: bytes, kind: str, name: str, wrong: bytes):
    """The mutated bytes (None for ``folder``: the file becomes a folder)."""
    rng = random.Random(f"{SEED}:{name}:{kind}")
    if kind == "empty":
        return b""
    if kind == "first_byte":
        return data[:1]
    if kind == "half":
        return data[: len(data) // 2]
    if kind == "drop_last_byte":
        return data[:-1]
    if kind in ("wrong_type", "wrong_content"):
        return wrong
    if kind == "folder":
        return None
    if kind == "flip_pickle":
        start, end = _pickle_span(data)
        return _flip(data, rng.randrange(start, end), rng)
    if kind == "flip_directory":
        return _flip(data, rng.randrange(len(data) - 2000, len(data)), rng)
    if kind.startswith("flip"):
        return _flip(data, rng.randrange(len(data)), rng)
    raise ValueError(kind)


def _apply(path: Path, kind: str, wrong: bytes) -> None:
    data = path.read_bytes()
    new = mutate(data, kind, path.name, wrong)
    path.unlink()
    if new is None:
        path.mkdir()
    else:
        path.write_bytes(new)


def _torch_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _check_cli(argv, capsys, name, out=None):
    from emotion2vec.cli import main

    code = main([str(a) for a in argv])
    stdout, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, (code, stdout, err)
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"emotion2vec {argv[0]}: error: ") and name in lines[0], lines[0]
    if out is not None:
        assert not out.exists(), "half-written output"
        assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    return lines[0]


# --------------------------------------------------------------- model folder
TORCH_FILE = ["empty", "first_byte", "half", "drop_last_byte", "flip_pickle", "flip_directory",
              "wrong_type", "folder"]
MODEL_FOLDER_CASES = (
    [("config.json", k, b"[1, 2, 3]") for k in
     ["empty", "first_byte", "half", "drop_last_byte", "flip_a", "flip_b", "wrong_type", "folder"]]
    + [("config.json", "wrong_content", json.dumps({**tiny_config(num_labels=2).to_dict(),
                                                   "embed_dim": "32"}).encode())]
    + [("model.ckpt", k, b"weights, honestly\n") for k in TORCH_FILE]
    + [("model.ckpt", "wrong_content", _torch_bytes([1, 2, 3]))]
    + [("model.ckpt", "wrong_shapes", None)]
    + [("label_encoder.ckpt", k, _torch_bytes({"labels": ["a", "b"]})) for k in
       ["empty", "half", "flip_a", "flip_b", "wrong_type", "folder"]]
    + [("hyperparams.yaml", k, b"\x00\xff not yaml: [") for k in ["empty", "wrong_type"]]
)


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    from emotion2vec.audio import write_audio
    from emotion2vec.model import Emotion2vecModel
    from emotion2vec.model_folder import save_model_folder

    root = tmp_path_factory.mktemp("damaged")
    torch.manual_seed(0)
    config = tiny_config(num_labels=2)
    folder = save_model_folder(root / "model", config, Emotion2vecModel(config).state_dict(),
                               ["neu", "ang"])
    write_audio(root / "a.wav", torch.randn(8000) * 0.1, sr=16000)
    return folder, root / "a.wav"


@pytest.mark.parametrize("name,kind,wrong", MODEL_FOLDER_CASES,
                         ids=[f"{n}-{k}" for n, k, _ in MODEL_FOLDER_CASES])
def test_damaged_model_folder(model_folder, tmp_path, capsys, name, kind, wrong):
    from emotion2vec import load_model
    from emotion2vec.inference import Emotion2vecClassifier
    from emotion2vec.model import Emotion2vecModel
    from emotion2vec.model_folder import ModelFolderError

    good, wav = model_folder
    folder = Path(shutil.copytree(good, tmp_path / "model"))
    if kind == "wrong_shapes":
        kind, wrong = "wrong_content", _torch_bytes(Emotion2vecModel(tiny_config(embed_dim=64)).state_dict())
    _apply(folder / name, kind, wrong)
    try:
        load_model(folder)
        Emotion2vecClassifier.from_hparams(source=folder)
    except ModelFolderError as error:
        message = str(error)
        assert "\n" not in message and name in message, message
    else:
        text = name != "model.ckpt"
        allowed = kind not in DESTRUCTIVE or (text and kind in TEXT_TRUNCATIONS)
        assert name == "hyperparams.yaml" or allowed, f"{name} {kind} loaded"
        return
    assert name != "hyperparams.yaml", "hyperparams.yaml must never be read"
    _check_cli(["classify", "--model", folder, "--no-progress", wav], capsys, name)


@pytest.mark.parametrize("argv", [
    ["extract", "--model", "{folder}", "--out", "{out}", "--no-progress", "{wav}"],
    ["export-onnx", "{folder}", "{out}"],
    ["convert", "{folder}", "{out}"],
    ["convert", "{folder}", "{out}", "--to", "funasr"],
])
def test_truncated_weights_through_every_command(model_folder, tmp_path, capsys, argv):
    good, wav = model_folder
    folder = Path(shutil.copytree(good, tmp_path / "model"))
    _apply(folder / "model.ckpt", "half", b"")
    out = tmp_path / ("out.onnx" if argv[0] == "export-onnx" else "out")
    argv = [a.format(folder=folder, out=out, wav=wav) for a in argv]
    line = _check_cli(argv, capsys, "model.ckpt", out=out)
    assert "truncated or damaged" in line


def test_downstream_head_files(model_folder, tmp_path):
    from emotion2vec.inference import Emotion2vecClassifier
    from emotion2vec.model_folder import ModelFolderError

    good, _ = model_folder
    spec = {"format": 1, "feature": "frm", "labels": ["a", "b"], "input_dim": 32, "hidden": 4}
    from emotion2vec.model.heads import build_head

    head = _torch_bytes(build_head(spec).state_dict())
    cases = [("downstream.json", b"{\"feature\": "), ("downstream.json", b"[]"),
             ("downstream.json", json.dumps({**spec, "input_dim": "x"}).encode()),
             ("downstream.json", json.dumps({**spec, "labels": [1, 2]}).encode()),
             ("downstream_head.ckpt", head[: len(head) // 2]), ("downstream_head.ckpt", b""),
             ("downstream_head.ckpt", _torch_bytes(build_head({**spec, "hidden": 8}).state_dict()))]
    for i, (name, data) in enumerate(cases):
        folder = Path(shutil.copytree(good, tmp_path / str(i)))
        (folder / "downstream.json").write_text(json.dumps(spec))
        (folder / "downstream_head.ckpt").write_bytes(head)
        (folder / name).write_bytes(data)
        with pytest.raises(ModelFolderError) as info:
            Emotion2vecClassifier.from_hparams(source=folder)
        assert name in str(info.value) and "\n" not in str(info.value), str(info.value)


# ---------------------------------------------------------- checkpoint layouts
LAYOUT_CASES = (
    [("fairseq", "emotion2vec_base.pt", k, b"#!/bin/sh\necho hi\n") for k in TORCH_FILE]
    + [("fairseq", "emotion2vec_base.pt", "wrong_content", _torch_bytes(["not", "a", "dict"]))]
    + [("fairseq", "head_proj.pt", k, b"head") for k in ["empty", "half", "flip_pickle", "wrong_type"]]
    + [("fairseq", "head_proj.pt", "wrong_content", _torch_bytes({"proj.weight": torch.zeros(3, 5)}))]
    + [("modelscope_plus", "model.pt", k, b"PK\x03\x04 not a zip") for k in
       ["empty", "half", "drop_last_byte", "flip_pickle", "flip_directory", "wrong_type"]]
    + [("modelscope_plus", "config.yaml", k, b"- a list\n- not a mapping\n") for k in
       ["empty", "half", "flip_a", "flip_b", "wrong_type"]]
    + [("modelscope_plus", "config.yaml", "wrong_content", b"model_conf: {depth: many}\n")]
    + [("modelscope_plus", "configuration.json", k, b"[\"list\"]") for k in
       ["empty", "half", "flip_a", "wrong_type"]]
    + [("modelscope_plus", "configuration.json", "wrong_content",
        json.dumps({"file_path_metas": {"init_param": "../../etc/passwd"}}).encode())]
    + [("modelscope_plus", "tokens.txt", k, b"\xff\xfe\x00\x01") for k in ["empty", "flip_a", "wrong_type"]]
    + [("modelscope_base", "config.yaml", k, b"\x00\x01\x02") for k in ["empty", "half", "flip_a", "wrong_type"]]
    + [("plain", "plain_state_dict.pt", k, b"plain") for k in ["empty", "half", "flip_pickle", "wrong_type"]]
)


def _layout_copy(layout: str, root: Path) -> Path:
    """A private copy of a layout; returns what ``convert`` reads."""
    if layout == "plain":
        (root / "plain").mkdir()
        return Path(shutil.copy(CKPT / "plain_state_dict.pt", root / "plain"))
    folder = Path(shutil.copytree(CKPT / layout, root / layout, symlinks=False))
    return folder / "emotion2vec_base.pt" if layout == "fairseq" else folder


@pytest.mark.parametrize("layout,name,kind,wrong", LAYOUT_CASES,
                         ids=[f"{lay}-{n}-{k}" for lay, n, k, _ in LAYOUT_CASES])
def test_damaged_checkpoint_layout(tmp_path, capsys, layout, name, kind, wrong):
    from emotion2vec.checkpoints import CheckpointError, read_official_checkpoint

    src = _layout_copy(layout, tmp_path)
    target = (src.parent if src.is_file() else src) / name
    _apply(target, kind, wrong)
    try:
        read_official_checkpoint(src)
    except CheckpointError as error:
        message = str(error)
        assert "\n" not in message and name in message, message
    else:
        text = name.endswith((".txt", ".yaml", ".json"))
        allowed = kind not in DESTRUCTIVE or (text and kind in TEXT_TRUNCATIONS)
        assert allowed, f"{layout}/{name} {kind} was read as valid"
        return
    _check_cli(["convert", src, tmp_path / "out"], capsys, name, out=tmp_path / "out")
