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

Sources are read with :func:`emotion2vec.checkpoints.read_model_source`;
the FunASR names and config are :mod:`emotion2vec.checkpoints.funasr`.

Authors
 * emotion2vec-sb contributors
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml

from emotion2vec.checkpoints import (
    FUNASR_FILES,
    funasr_config,
    funasr_state_dict,
    is_results_dir,
    read_model_source,
    read_results_dir,
)
from emotion2vec.fileutils import check_replaceable, staged_folder
from emotion2vec.model import Emotion2vecModel
from emotion2vec.model_folder import CONFIG_FILE, ModelFolderError, save_model_folder


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
    config, state, source = read_results_dir(results_dir)
    return save_model_folder(out_dir, config, state, [], source=source, overwrite=overwrite)


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
        See :func:`emotion2vec.checkpoints.read_model_source`.

    Returns
    -------
    Path
    """
    loaded = read_model_source(src, trust=trust)
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
    check_replaceable(out_dir, overwrite, FUNASR_FILES, ModelFolderError)
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
        loaded = read_model_source(path)
        return save_model_folder(
            out_dir, loaded.config, loaded.state_dict, loaded.labels,
            source=loaded.source, overwrite=overwrite,
        )
    from emotion2vec.convert import convert_checkpoint

    return convert_checkpoint(src, out_dir, overwrite=overwrite, trust=trust)
