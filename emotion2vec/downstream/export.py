"""``emotion2vec export``: a trained downstream run -> one classifier folder.

The folder is an emotion2vec model folder (the run's upstream, see
:mod:`emotion2vec.model_folder`) plus the trained head, which
``emotion2vec.inference.Emotion2vecClassifier.from_hparams(source=DIR)``
loads::

    DIR/config.json, model.ckpt, hyperparams.yaml, source.json  the upstream
    DIR/downstream.json            head spec (heads.build_head), "feature",
                                   "labels" (output order), provenance, scores
    DIR/downstream_head.ckpt       head state dict (strict; feature "weighted":
                                   the learned block weights are in it, layer_sum.logits)
    DIR/downstream_label_encoder.txt  the labels as a SpeechBrain CategoricalEncoder

Cross-validation trains one head per fold; the exported one is the fold
with the best VALIDATION score (``--fold NAME`` picks another). Only
emotion2vec upstreams can be exported (the classifier wraps an
``Emotion2vecModel``), and only when the model folder still holds the
weights the features were computed with. Before the folder is moved into
place, the classifier is loaded from it and its probabilities are compared
with the training-side feature pipeline + head on two random waveforms.

Authors
 * emotion2vec-sb contributors
"""

import json
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import torch

from emotion2vec.audio import SAMPLE_RATE
from emotion2vec.downstream.crossval import FOLD_RESULT_FILE, HEAD_FILE, RUN_FILE
from emotion2vec.downstream.upstreams import Emotion2vecUpstream
from emotion2vec.fileutils import PathLike, check_replaceable, staged_folder
from emotion2vec.model.featurize import FeatureOption
from emotion2vec.model.heads import build_head
from emotion2vec.model_folder import (
    DOWNSTREAM_HEAD_FILE,
    DOWNSTREAM_LABELS_FILE,
    DOWNSTREAM_SPEC_FILE,
    FOLDER_FILES,
    SOURCE_FILE,
    save_model_folder,
    write_label_encoder,
)
from emotion2vec.safe_load import CheckpointError, load_state_dict_file, read_json_object


class ExportError(ValueError):
    """A run that cannot be exported (the message says why)."""


def _read_json(path: Path) -> Dict[str, Any]:
    try:
        return read_json_object(path)
    except CheckpointError as error:
        raise ExportError(str(error)) from None


def finished_folds(results_dir: PathLike) -> Dict[str, Dict[str, Any]]:
    """Fold name -> fold result, for every finished fold of a run.

    Arguments
    ---------
    results_dir : str or path
        A recipe's ``output_folder``.

    Returns
    -------
    dict
    """
    folds = {}
    for path in sorted(Path(results_dir).glob(f"folds/*/{FOLD_RESULT_FILE}")):
        result = _read_json(path)
        folds[result.get("fold", path.parent.name)] = dict(result, folder=str(path.parent))
    return folds


def choose_fold(folds: Dict[str, Dict[str, Any]], fold: Optional[str] = None) -> str:
    """The fold to export: ``fold`` if given, else the best validation WA.

    Arguments
    ---------
    folds : dict
        Output of :func:`finished_folds`.
    fold : str, optional
        Requested fold name.

    Returns
    -------
    str

    Example
    -------
    >>> folds = {"session1": {"valid": {"WA": 0.6}}, "session2": {"valid": {"WA": 0.7}},
    ...          "session3": {"valid": {"WA": 0.7}}}
    >>> choose_fold(folds), choose_fold(folds, "session1")
    ('session2', 'session1')
    """
    if not folds:
        raise ExportError("the run has no finished fold (no folds/*/fold_result.json)")
    if fold is not None:
        if fold not in folds:
            raise ExportError(f"fold {fold!r} is not finished; finished: {sorted(folds)}")
        return fold

    def score(name):
        valid = folds[name].get("valid") or {}
        return valid.get("WA") if valid.get("WA") is not None else float("-inf")

    best = max(score(name) for name in folds)
    return next(name for name in folds if score(name) == best)


def export_downstream(
    results_dir: PathLike,
    out_dir: PathLike,
    fold: Optional[str] = None,
    overwrite: bool = False,
    verify: bool = True,
) -> Path:
    """Writes the upstream and one fold's trained head into a classifier folder.

    Arguments
    ---------
    results_dir : str or path
        A recipe's ``output_folder`` (with ``run.json`` and ``folds/``).
    out_dir : str or path
        Folder to write.
    fold : str, optional
        Fold whose head to export (default: best validation WA).
    overwrite : bool
        Replace an existing export folder.
    verify : bool
        Load the folder with ``Emotion2vecClassifier`` and check it
        reproduces the head's probabilities.

    Returns
    -------
    Path
        ``out_dir``.
    """
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    settings = _read_json(results_dir / RUN_FILE)
    task = (settings.get("task") or {}).get("name", "classification")
    if task != "classification":
        raise ExportError(
            f"{results_dir} is a {task} run; only classification heads can be exported "
            "as a classifier folder"
        )
    folds = finished_folds(results_dir)
    name = choose_fold(folds, fold)
    chosen = folds[name]
    upstream = _load_upstream(settings, results_dir)
    spec = dict(settings["head"])
    head = build_head(spec)
    head_path = Path(chosen["folder"]) / HEAD_FILE
    if not head_path.exists():
        raise ExportError(f"{head_path} not found (fold {name} has no saved head)")
    try:
        head.load_state_dict(load_state_dict_file(head_path))
    except CheckpointError as error:
        raise ExportError(str(error)) from None
    except RuntimeError as error:
        raise ExportError(f"{head_path} does not match the head spec in {RUN_FILE}: {error}") from None
    check_replaceable(out_dir, overwrite, FOLDER_FILES, ExportError)
    spec.update(
        exported_from=str(results_dir.resolve()), fold=name, corpus=settings.get("corpus"),
        protocol=settings.get("protocol"),
        test={k: chosen.get(k) for k in ("wa", "ua", "wf1", "macro_f1")},
        valid=chosen.get("valid"),
    )
    with staged_folder(out_dir) as folder:  # moved into place only once verified
        model = upstream.model
        source = _read_source(upstream.model_dir)
        save_model_folder(
            folder, model.config, model.state_dict(), labels=getattr(model, "labels", None) or None,
            source={"downstream_export": spec["exported_from"], "fold": name, "upstream": source},
        )
        (folder / DOWNSTREAM_SPEC_FILE).write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
        torch.save(head.state_dict(), folder / DOWNSTREAM_HEAD_FILE)
        write_label_encoder(folder / DOWNSTREAM_LABELS_FILE, list(spec["labels"]))
        if verify:
            verify_export(folder, upstream, head.eval(), spec["feature"])
    return out_dir


def _load_upstream(settings: Dict[str, Any], results_dir: Path) -> Emotion2vecUpstream:
    info = settings.get("upstream") or {}
    if info.get("kind") != "emotion2vec":
        raise ExportError(
            f"{results_dir}: the upstream is {info.get('kind')!r}; only emotion2vec upstreams "
            "can be exported (Emotion2vecClassifier wraps an emotion2vec model folder)"
        )
    model_dir = info.get("model_dir")
    if not model_dir or not Path(model_dir).is_dir():
        raise ExportError(f"{results_dir}: upstream model folder {model_dir!r} no longer exists")
    upstream = Emotion2vecUpstream(model_dir=model_dir)
    if upstream.identity()["weights_sha256"] != info.get("weights_sha256"):
        raise ExportError(
            f"{model_dir}: its weights changed since the run in {results_dir} was trained; "
            "the head would not match them"
        )
    return upstream


def _read_source(model_dir: Optional[str]) -> Dict[str, Any]:
    path = Path(model_dir or "") / SOURCE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"model_dir": model_dir}


@torch.no_grad()
def verify_export(folder: Path, upstream: Emotion2vecUpstream, head, feature: str,
                  atol: float = 1e-4) -> float:
    """Checks that the classifier loaded from ``folder`` matches the training pipeline.

    Arguments
    ---------
    folder : Path
        Export folder.
    upstream : Emotion2vecUpstream
        The run's upstream.
    head : torch.nn.Module
        The exported head (eval mode).
    feature : str
        Feature option.
    atol : float
        Largest allowed probability difference.

    Returns
    -------
    float
        The largest difference found.
    """
    from emotion2vec.inference import Emotion2vecClassifier

    classifier = Emotion2vecClassifier.from_hparams(source=str(folder), run_opts={"device": "cpu"})
    generator = torch.Generator().manual_seed(0)
    n = max(upstream.min_samples * 4, SAMPLE_RATE)  # at least one second
    wavs = torch.randn(2, n, generator=generator) * 0.1
    wavs[1, int(0.7 * n):] = 0.0
    lens = torch.tensor([1.0, int(0.7 * n) / n])
    probs = classifier.classify_batch(wavs, lens)[0].float().cpu()
    option = FeatureOption.parse(feature)
    out = upstream.cpu()(wavs, lens, layers=option.layers_for(upstream.num_blocks))
    streams = option.batch_streams(out)
    items = [
        option.assemble({k: v[b].float().numpy() for k, v in streams.items()}) for b in range(2)
    ]
    steps = max(len(x) for x in items)
    x = torch.zeros(2, steps, items[0].shape[1])
    for b, item in enumerate(items):
        x[b, : len(item)] = torch.from_numpy(np.ascontiguousarray(item))
    expected = torch.softmax(head.cpu()(x, torch.tensor([len(i) for i in items])), dim=-1)
    error = float((probs - expected).abs().max())
    if error > atol:
        raise ExportError(
            f"the exported classifier disagrees with the trained pipeline for feature "
            f"{feature!r} (max probability difference {error:.2e}): "
            "emotion2vec.inference builds this feature differently from "
            "emotion2vec.downstream.features; not exporting"
        )
    return error
