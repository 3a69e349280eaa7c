"""A fine-tuning results folder -> one classifier folder.

The classifier folder has the layout of ``emotion2vec export`` (see
:mod:`emotion2vec.downstream.export`): a model folder holding the
FINE-TUNED backbone (not the upstream it started from), plus
``downstream.json`` (head spec, feature, the user's labels, provenance and
scores), ``downstream_head.ckpt`` and ``downstream_label_encoder.txt``;
``emotion2vec.inference.Emotion2vecClassifier`` and ``emotion2vec
classify`` load it. The weights come from the run's best checkpoint (on
the validation metric the run selects with); before the folder is moved
into place the classifier is loaded back from it and its probabilities are
compared with the fine-tuned model's on two random waveforms.

A fine-tuning results folder is recognised by its ``finetune.json``
(:data:`RUN_FILE`, the settings of the run); ``emotion2vec export`` uses
:func:`export_finetuned` for it and
:func:`emotion2vec.downstream.export.export_downstream` otherwise.

Authors
 * emotion2vec-sb contributors
"""

import json
from pathlib import Path
from typing import Any, Dict, Optional

import torch
from speechbrain.utils.checkpoints import Checkpointer

from emotion2vec.audio import SAMPLE_RATE
from emotion2vec.downstream.export import ExportError
from emotion2vec.fileutils import PathLike, check_replaceable, staged_folder
from emotion2vec.finetune.model import FineTuneClassifier
from emotion2vec.model import Emotion2vecModel
from emotion2vec.model.heads import build_head
from emotion2vec.model_folder import (
    DOWNSTREAM_HEAD_FILE,
    DOWNSTREAM_LABELS_FILE,
    DOWNSTREAM_SPEC_FILE,
    FOLDER_FILES,
    parse_config,
    save_model_folder,
    write_label_encoder,
)
from emotion2vec.safe_load import CheckpointError, load_state_dict_file, read_json_object

RUN_FILE = "finetune.json"
RESULTS_FILE = "results.json"
MODEL_KEY = "model"
"""The checkpointer's name of the FineTuneClassifier (``CKPT+*/model.ckpt``)."""


def is_finetune_results(results_dir: PathLike) -> bool:
    """Whether ``results_dir`` is a fine-tuning run's output folder.

    Arguments
    ---------
    results_dir : str or path
        A recipe's ``output_folder``.

    Returns
    -------
    bool
    """
    return (Path(results_dir) / RUN_FILE).is_file()


def checkpoint_rank(metric: str):
    """Sort key of checkpoints: best ``metric``, then the earliest epoch
    (the rule of :meth:`emotion2vec.downstream.brain.EmotionBrain.checkpoint_rank`).

    Arguments
    ---------
    metric : str
        ``WA``, ``UA`` or ``WF1``.

    Returns
    -------
    callable

    Example
    -------
    >>> from types import SimpleNamespace as C
    >>> ckpts = [C(meta={"UA": 0.5, "epoch": 1}), C(meta={"UA": 0.7, "epoch": 3}),
    ...          C(meta={"UA": 0.7, "epoch": 2})]
    >>> max(ckpts, key=checkpoint_rank("UA")).meta["epoch"]
    2
    """
    return lambda ckpt: (ckpt.meta.get(metric, float("-inf")), -ckpt.meta.get("epoch", 0))


def best_checkpoint(save_folder: PathLike, metric: str):
    """The checkpoint with the best validation ``metric`` in ``save_folder``.

    Arguments
    ---------
    save_folder : str or path
        The run's checkpoint folder.
    metric : str
        Validation metric.

    Returns
    -------
    speechbrain.utils.checkpoints.Checkpoint
    """
    found = Checkpointer(save_folder).find_checkpoint(
        importance_key=checkpoint_rank(metric), ckpt_predicate=lambda c: metric in c.meta
    )
    if found is None:
        raise ExportError(
            f"{save_folder}: no checkpoint with a validation {metric} (the run has not "
            "finished an epoch yet)"
        )
    return found


def _read_json(path: Path) -> Dict[str, Any]:
    try:
        return read_json_object(path)
    except CheckpointError as error:
        raise ExportError(str(error)) from None


def export_finetuned(
    results_dir: PathLike, out_dir: PathLike, overwrite: bool = False, verify: bool = True
) -> Path:
    """Writes the fine-tuned backbone and head of a run into a classifier folder.

    Arguments
    ---------
    results_dir : str or path
        A fine-tuning run's ``output_folder`` (with ``finetune.json``).
    out_dir : str or path
        Folder to write.
    overwrite : bool
        Replace an existing classifier folder.
    verify : bool
        Load the folder with ``Emotion2vecClassifier`` and check that it
        reproduces the fine-tuned model's probabilities.

    Returns
    -------
    Path
        ``out_dir``.
    """
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    settings = _read_json(results_dir / RUN_FILE)
    config = parse_config(settings["backbone_config"], results_dir / RUN_FILE)
    spec = dict(settings["head"])
    ckpt = best_checkpoint(results_dir / settings.get("save_folder", "save"), settings["select_metric"])
    try:
        state = load_state_dict_file(Path(ckpt.path) / f"{MODEL_KEY}.ckpt")
    except CheckpointError as error:
        raise ExportError(str(error)) from None
    backbone = Emotion2vecModel(config)
    head = build_head(spec)
    classifier = FineTuneClassifier(backbone, head, spec["feature"])
    try:
        classifier.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ExportError(f"{ckpt.path}: does not match {RUN_FILE}: {error}") from None
    check_replaceable(out_dir, overwrite, FOLDER_FILES, ExportError)
    results = results_dir / RESULTS_FILE
    test = _read_json(results).get("test") if results.is_file() else None
    spec.update(
        exported_from=str(results_dir.resolve()), checkpoint=Path(ckpt.path).name,
        corpus=settings.get("corpus"), protocol=settings.get("protocol"),
        fold=settings.get("fold"), training=settings.get("training"),
        valid={k: ckpt.meta.get(k) for k in ("WA", "UA", "WF1")}, epoch=ckpt.meta.get("epoch"),
        test=None if test is None else {k: test.get(k) for k in ("wa", "ua", "wf1", "macro_f1")},
    )
    with staged_folder(out_dir) as folder:  # moved into place only once verified
        save_model_folder(
            folder, config, backbone.state_dict(),
            source={"finetuned": spec["exported_from"], "checkpoint": spec["checkpoint"],
                    "upstream": settings.get("upstream")},
        )
        (folder / DOWNSTREAM_SPEC_FILE).write_text(
            json.dumps(spec, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        torch.save(head.state_dict(), folder / DOWNSTREAM_HEAD_FILE)
        write_label_encoder(folder / DOWNSTREAM_LABELS_FILE, list(spec["labels"]))
        if verify:
            verify_classifier_folder(folder, classifier)
    return out_dir


@torch.no_grad()
def verify_classifier_folder(folder: Path, classifier: FineTuneClassifier, atol: float = 1e-4) -> float:
    """Checks that ``Emotion2vecClassifier`` loaded from ``folder`` gives the
    fine-tuned model's probabilities.

    Arguments
    ---------
    folder : Path
        The classifier folder.
    classifier : FineTuneClassifier
        The fine-tuned model.
    atol : float
        Largest allowed probability difference.

    Returns
    -------
    float
        The largest difference found.
    """
    from emotion2vec.inference import Emotion2vecClassifier

    loaded = Emotion2vecClassifier.from_hparams(source=str(folder), run_opts={"device": "cpu"})
    generator = torch.Generator().manual_seed(0)
    n = max(classifier.backbone.min_samples * 4, SAMPLE_RATE)
    wavs = torch.randn(2, n, generator=generator) * 0.1
    wavs[1, int(0.7 * n):] = 0.0
    lens = torch.tensor([1.0, int(0.7 * n) / n])
    probs = loaded.classify_batch(wavs, lens)[0].float().cpu()
    expected = torch.softmax(classifier.cpu().eval()(wavs, lens).float(), dim=-1)
    error = float((probs - expected).abs().max())
    if error > atol:
        raise ExportError(
            f"the exported classifier disagrees with the fine-tuned model (max probability "
            f"difference {error:.2e}); not exporting"
        )
    return error


def read_run_settings(results_dir: PathLike) -> Optional[Dict[str, Any]]:
    """The settings of a fine-tuning run (``finetune.json``), or None.

    Arguments
    ---------
    results_dir : str or path
        The run's output folder.

    Returns
    -------
    dict or None
    """
    path = Path(results_dir) / RUN_FILE
    return _read_json(path) if path.is_file() else None
