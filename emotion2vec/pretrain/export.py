"""Exporting pre-trained models: recipe results -> model folder, and any
model -> the official FunASR / ModelScope on-disk layout.

- :func:`export_model_folder`: the student of a pre-training run (latest
  checkpoint of ``<output_folder>/save``) -> the self-contained model folder
  that ``emotion2vec convert`` writes (``load_model``, extraction and the
  downstream recipes use it unchanged).
- :func:`export_funasr`: a results dir, a model folder or a released
  checkpoint -> ``config.yaml`` (``model: Emotion2vec`` + official
  ``model_conf``) + ``model.pt`` (``{"state_dict": ...}``, backbone keys with
  the ``d2v_model.`` prefix declared by ``scope_map``, head keys ``proj.*``:
  the emotion2vec_plus layout) + ``configuration.json`` (+ ``tokens.txt``
  with a head), loadable by FunASR's ``AutoModel(model=DIR)``.
- :func:`convert`: what ``emotion2vec convert SRC OUT --to folder|funasr``
  runs.

Authors
 * emotion2vec-sb contributors
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml

from emotion2vec.checkpoints import (
    official_model_conf,
    read_official_checkpoint,
    to_official_state_dict,
)
from emotion2vec.fileutils import staged_folder
from emotion2vec.model import Emotion2vecConfig, Emotion2vecModel
from emotion2vec.model_folder import (
    CONFIG_FILE,
    ModelFolderError,
    expected_shapes,
    parse_config,
    read_model_folder,
    read_weights,
    save_model_folder,
)
from emotion2vec.safe_load import one_line, state_dict_mismatch

MODEL_CONFIG_FILE = "model_config.json"
FUNASR_FILES = ("config.yaml", "configuration.json", "model.pt", "tokens.txt")
BACKBONE_PREFIX = "d2v_model."


@dataclass
class LoadedModel:
    """A model read from any supported source.

    Arguments
    ---------
    config : Emotion2vecConfig
        Architecture.
    state_dict : dict
        Weights under our names.
    labels : list of str
        Head labels (empty without head).
    source : dict
        Provenance.
    """

    config: Emotion2vecConfig
    state_dict: dict
    labels: list = field(default_factory=list)
    source: dict = field(default_factory=dict)


def read_checkpoint_meta(ckpt: Path) -> dict:
    """The ``CKPT.yaml`` of a SpeechBrain checkpoint, with a clear error.

    Arguments
    ---------
    ckpt : Path
        A ``CKPT+...`` folder.

    Returns
    -------
    dict
    """
    path = Path(ckpt) / "CKPT.yaml"
    try:
        meta = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, ValueError, yaml.YAMLError) as error:
        raise ModelFolderError(f"{path}: cannot read YAML ({one_line(error)})") from None
    if not isinstance(meta, dict):
        raise ModelFolderError(f"{path}: expected a mapping, got {type(meta).__name__}")
    return meta


def _checkpoint_time(ckpt: Path) -> float:
    try:
        return float(read_checkpoint_meta(ckpt).get("unixtime", 0.0))
    except (TypeError, ValueError):
        raise ModelFolderError(f"{ckpt / 'CKPT.yaml'}: unixtime is not a number") from None


def find_results_checkpoint(results_dir) -> Path:
    """The most recent SpeechBrain checkpoint of a pre-training run.

    Arguments
    ---------
    results_dir : str or path
        The run's ``output_folder``, its ``save`` folder, or one
        ``CKPT+...`` folder.

    Returns
    -------
    Path
        The ``CKPT+...`` folder (holds ``model.ckpt``).
    """
    path = Path(results_dir)
    if (path / "CKPT.yaml").is_file():
        return path
    for save in (path / "save", path):
        ckpts = [p for p in save.glob("CKPT+*") if (p / "CKPT.yaml").is_file()]
        if ckpts:
            return max(ckpts, key=lambda p: (_checkpoint_time(p), p.name))
    raise ModelFolderError(
        f"{results_dir}: no pre-training checkpoint (save/CKPT+*/) found"
    )


def is_results_dir(path) -> bool:
    """Whether ``path`` looks like a pre-training run (or its save folder,
    or one of its checkpoints).

    Arguments
    ---------
    path : str or path
        Candidate.

    Returns
    -------
    bool
    """
    path = Path(path)
    return any(
        (p / MODEL_CONFIG_FILE).is_file() for p in (path, path / "save", path.parent)
    ) and not (path / CONFIG_FILE).is_file()


def read_results_dir(results_dir) -> LoadedModel:
    """Reads the student of a pre-training run (latest checkpoint).

    Arguments
    ---------
    results_dir : str or path
        See :func:`find_results_checkpoint`.

    Returns
    -------
    LoadedModel
    """
    ckpt = find_results_checkpoint(results_dir)
    config_path = ckpt.parent / MODEL_CONFIG_FILE
    if not config_path.is_file():
        raise ModelFolderError(f"{ckpt.parent}: missing {MODEL_CONFIG_FILE}")
    try:
        values = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelFolderError(f"{config_path}: not valid JSON ({one_line(error)})") from None
    config = parse_config(values, config_path)
    state = read_weights(ckpt / "model.ckpt")
    problems = state_dict_mismatch(expected_shapes(config, config_path), state)
    if problems:
        raise ModelFolderError(
            f"{ckpt / 'model.ckpt'}: does not match {config_path.name}: " + "; ".join(problems)
        )
    meta = read_checkpoint_meta(ckpt)
    source = {
        "exported_from": str(ckpt.resolve()),
        "checkpoint_meta": {k: v for k, v in meta.items() if isinstance(v, (int, float, str))},
        "weights": "student",
    }
    return LoadedModel(config, dict(state), [], source)


def read_any(src, trust: bool = False) -> LoadedModel:
    """Reads a results dir, a model folder or a released checkpoint.

    Arguments
    ---------
    src : str or path
        The source.
    trust : bool
        Allow full unpickling of a released checkpoint that the safe load
        refuses (see :mod:`emotion2vec.safe_load`).

    Returns
    -------
    LoadedModel
    """
    path = Path(src)
    if path.is_dir() and (path / CONFIG_FILE).exists():
        config, state, labels = read_model_folder(path)
        return LoadedModel(config, dict(state), labels, {"model_folder": str(path.resolve())})
    if path.is_dir() and is_results_dir(path):
        return read_results_dir(path)
    checkpoint = read_official_checkpoint(path, trust=trust)
    return LoadedModel(
        checkpoint.config, checkpoint.state_dict, checkpoint.labels,
        {"converted_from": str(path.resolve()), "read": checkpoint.source},
    )


def _check_out_dir(out_dir: Path, overwrite: bool, known: tuple) -> None:
    if out_dir.exists() and any(out_dir.iterdir()):
        foreign = sorted(p.name for p in out_dir.iterdir() if p.name not in known)
        if not overwrite:
            raise ModelFolderError(
                f"{out_dir} already exists and is not empty; pass --overwrite "
                "(or overwrite=True) to replace it"
            )
        if foreign:
            raise ModelFolderError(
                f"{out_dir} holds files this tool did not write "
                f"({', '.join(foreign)}); refusing to replace it"
            )


def export_model_folder(results_dir, out_dir, overwrite: bool = False) -> Path:
    """Writes the student of a pre-training run as a model folder.

    Arguments
    ---------
    results_dir : str or path
        Run output folder, its save folder or a checkpoint folder.
    out_dir : str or path
        Model folder to write.
    overwrite : bool
        Replace an existing model folder.

    Returns
    -------
    Path
    """
    loaded = read_results_dir(results_dir)
    return save_model_folder(
        out_dir, loaded.config, loaded.state_dict, loaded.labels,
        source=loaded.source, overwrite=overwrite,
    )


def funasr_config(config: Emotion2vecConfig, has_head: bool) -> dict:
    """The FunASR ``config.yaml`` of a model (plus-model layout).

    Arguments
    ---------
    config : Emotion2vecConfig
        Architecture.
    has_head : bool
        Whether a classification head (and ``tokens.txt``) is exported.

    Returns
    -------
    dict

    Example
    -------
    >>> conf = funasr_config(Emotion2vecConfig(), has_head=False)
    >>> conf["model"], conf["scope_map"], "tokenizer" in conf
    ('Emotion2vec', ['d2v_model.', 'none'], False)
    """
    conf = {"model": "Emotion2vec", "model_conf": official_model_conf(config)}
    if has_head:
        conf["tokenizer"] = "CharTokenizer"
        conf["tokenizer_conf"] = {"unk_symbol": "<unk>", "split_with_space": True}
    conf["scope_map"] = [BACKBONE_PREFIX, "none"]
    return conf


def funasr_state_dict(state: dict, extractor_mode: str = "layer_norm") -> dict:
    """Our weights under FunASR names: backbone ``d2v_model.*``, head
    ``proj.*``.

    Arguments
    ---------
    state : dict
        Our state dict.
    extractor_mode : str
        Conv front-end mode.

    Returns
    -------
    dict

    Example
    -------
    >>> sd = funasr_state_dict({"encoder.alibi_scale": torch.ones(1),
    ...                         "head.bias": torch.zeros(2)})
    >>> sorted(sd)
    ['d2v_model.modality_encoders.AUDIO.alibi_scale', 'proj.bias']
    """
    out = {}
    for key, value in to_official_state_dict(state, extractor_mode).items():
        name = key if key.startswith("proj.") else BACKBONE_PREFIX + key
        out[name] = value.detach().cpu().contiguous()
    return out


def export_funasr(src, out_dir, overwrite: bool = False, trust: bool = False) -> Path:
    """Writes the FunASR / ModelScope layout of any model.

    Arguments
    ---------
    src : str or path
        Results dir, model folder or released checkpoint.
    out_dir : str or path
        Folder to write.
    overwrite : bool
        Replace an existing export.
    trust : bool
        See :func:`read_any`.

    Returns
    -------
    Path
    """
    loaded = read_any(src, trust=trust)
    config = loaded.config
    with torch.device("meta"):
        model = Emotion2vecModel(config)
    expected = set(model.state_dict())
    if set(loaded.state_dict) != expected:
        raise ModelFolderError(
            f"{src}: weights do not match the config (missing "
            f"{sorted(expected - set(loaded.state_dict))}, unexpected "
            f"{sorted(set(loaded.state_dict) - expected)})"
        )
    has_head = bool(config.num_labels)
    out_dir = Path(out_dir)
    _check_out_dir(out_dir, overwrite, FUNASR_FILES)
    with staged_folder(out_dir) as tmp:
        with open(tmp / "config.yaml", "w", encoding="utf-8") as handle:
            yaml.safe_dump(
                funasr_config(config, has_head), handle, sort_keys=False,
                allow_unicode=True,
            )
        torch.save(
            {"state_dict": funasr_state_dict(loaded.state_dict, config.extractor_mode)},
            tmp / "model.pt",
        )
        metas = {"init_param": "model.pt", "config": "config.yaml"}
        if has_head:
            labels = loaded.labels or [f"class_{i}" for i in range(config.num_labels)]
            (tmp / "tokens.txt").write_text("\n".join(labels), encoding="utf-8")
            metas["tokenizer_conf"] = {"token_list": "tokens.txt"}
        meta = {
            "framework": "pytorch",
            "task": "emotion-recognition",
            "pipeline": {"type": "funasr-pipeline"},
            "model": {"type": "funasr"},
            "file_path_metas": metas,
        }
        (tmp / "configuration.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out_dir


def convert(
    src, out_dir, to: str = "folder", overwrite: bool = False, trust: bool = False
) -> Path:
    """``emotion2vec convert``: any source to a model folder or FunASR layout.

    Arguments
    ---------
    src : str or path
        Released checkpoint (file or hub folder), model folder, or
        pre-training results dir.
    out_dir : str or path
        Output folder.
    to : str
        ``folder`` (our model folder) or ``funasr``.
    overwrite : bool
        Replace an existing output.
    trust : bool
        Allow full unpickling of a released checkpoint that the safe load
        refuses: it runs any code in the file (``--trust-checkpoint``).

    Returns
    -------
    Path
    """
    if to == "funasr":
        return export_funasr(src, out_dir, overwrite=overwrite, trust=trust)
    if to != "folder":
        raise ValueError(f"--to must be 'folder' or 'funasr', got {to!r}")
    path = Path(src)
    if path.is_dir() and is_results_dir(path):
        return export_model_folder(path, out_dir, overwrite=overwrite)
    if path.is_dir() and (path / CONFIG_FILE).exists():
        loaded = read_any(path)
        return save_model_folder(
            out_dir, loaded.config, loaded.state_dict, loaded.labels,
            source=loaded.source, overwrite=overwrite,
        )
    from emotion2vec.convert import convert_checkpoint

    return convert_checkpoint(src, out_dir, overwrite=overwrite, trust=trust)
