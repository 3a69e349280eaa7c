"""The custom emotion recognition recipe: your data, any label set, three modes.

``recipes/custom/emotion_recognition/train.py`` only calls :func:`main`::

    python train.py hparams/finetune.yaml --data_folder=ROOT \\
        --upstream_source=MODEL_DIR --output_folder=OUT

The hparams file picks the mode:

* ``probe.yaml`` extends the shared frozen recipe
  (``hparams/downstream_frozen.yaml``, recognised by its
  ``feature_cache_folder``): features cached once, a head trained on them
  (:func:`emotion2vec.downstream.recipe.run_recipe`) on the one ``holdout``
  fold; the classifier is exported with
  :func:`emotion2vec.downstream.export.export_downstream`;
* ``finetune.yaml`` (and ``finetune_top.yaml``, which extends it): the
  backbone trains with the head (:func:`run_finetune`, the
  :class:`~emotion2vec.finetune.brain.FineTuneBrain`); the classifier is
  exported with :func:`emotion2vec.finetune.export.export_finetuned`.

Every mode prepares the ``custom`` corpus (:mod:`emotion2vec.corpora.custom`)
into ``OUT/data``, and ends with ``OUT/results.md`` / ``results.json``
(:mod:`emotion2vec.finetune.results`) and the classifier folder
``OUT/classifier`` that ``emotion2vec classify --model OUT/classifier``
loads. Fine-tuning also writes ``finetune.json`` (the settings the run
depends on: a re-run with other settings is refused, the same settings
resume from the last checkpoint), ``split.json``, ``predictions.csv`` and
its checkpoints in ``save_folder``.

Authors
 * emotion2vec-sb contributors
"""

import csv
import json
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import speechbrain as sb
import torch
from speechbrain.utils.distributed import ddp_barrier, if_main_process

from emotion2vec.audio import SAMPLE_RATE
from emotion2vec.audio.batching import batch_budget
from emotion2vec.corpora.common import PrepError
from emotion2vec.corpora.manifest import read_manifest
from emotion2vec.downstream.brain import label_encoder
from emotion2vec.downstream.crossval import (
    FOLD_RESULT_FILE,
    CrossValError,
    ids_digest,
    with_corpus_defaults,
)
from emotion2vec.downstream.export import ExportError, export_downstream
from emotion2vec.downstream.folds import Fold, FoldError, make_folds
from emotion2vec.downstream.recipe import load_recipe, run_recipe, start_experiment
from emotion2vec.downstream.upstreams import state_digest
from emotion2vec.fileutils import sha256_file, staged_file
from emotion2vec.finetune.brain import FineTuneBrain
from emotion2vec.finetune.data import LengthBucketBatchSampler, WaveformDataset, loader_options
from emotion2vec.finetune.export import RUN_FILE, best_checkpoint, export_finetuned
from emotion2vec.finetune.freezing import configure_trainable, parse_trainable_blocks
from emotion2vec.finetune.model import FineTuneClassifier, load_backbone
from emotion2vec.finetune.results import split_summary, write_split_results
from emotion2vec.model.featurize import FeatureOption
from emotion2vec.model.heads import build_head, head_spec
from emotion2vec.safe_load import CheckpointError

logger = logging.getLogger(__name__)

CLASSIFIER_DIR = "classifier"
FROZEN_RECIPE_KEY = "feature_cache_folder"
"""A key only the frozen recipe (``hparams/downstream_frozen.yaml``) has."""


class FineTuneError(ValueError):
    """A setting or output folder the fine-tuning recipe refuses (message says why)."""


#: Recipe keys that shape the training trajectory: a run resumes only with the same.
OPTIMISATION_KEYS = (
    "number_of_epochs", "lr_head", "lr_backbone", "layer_decay", "weight_decay", "warmup_ratio",
    "final_lr_scale", "label_smoothing", "balanced_loss", "max_batch_seconds", "max_batch_size",
    "max_train_seconds",
)
USER_ERRORS = (CrossValError, PrepError, FoldError, ExportError, CheckpointError, FineTuneError)


def main(argv: Optional[List[str]] = None, script: Optional[str] = None) -> Dict[str, Any]:
    """Runs the custom recipe in the mode its hparams file picks.

    Arguments
    ---------
    argv : list of str
        ``hparams.yaml`` followed by SpeechBrain options and overrides.
    script : str, optional
        The recipe's ``train.py`` (copied into the output folder).

    Returns
    -------
    dict
        ``results.json``'s content.

    Raises
    ------
    SystemExit
        Data, a setting or an output folder the recipe cannot use (one
        line saying why, no traceback).
    """
    try:
        loaded = load_recipe(argv)
        if FROZEN_RECIPE_KEY in loaded[3]:
            return run_probe(*loaded, script=script)
        return run_finetune(*loaded, script=script)
    except USER_ERRORS as error:
        sys.exit(f"error: {' '.join(str(error).split())}")


# --------------------------------------------------------------------- probe
def run_probe(hparams_file, run_opts, overrides, hparams, script=None) -> Dict[str, Any]:
    """The frozen probe: the shared cross-validation driver on one holdout
    fold, then the split's results and the exported classifier.

    Arguments
    ---------
    hparams_file : str
        The hparams file given.
    run_opts : RunOptions
        SpeechBrain run options.
    overrides : str
        Command-line overrides.
    hparams : dict
        The loaded recipe (extends ``hparams/downstream_frozen.yaml``).
    script : str, optional
        The recipe's ``train.py``.

    Returns
    -------
    dict
        ``results.json``'s content.
    """
    crossval = run_recipe(hparams_file, run_opts, overrides, hparams, script=script)
    if len(crossval["folds"]) != 1:
        raise FineTuneError(
            f"the custom recipe reports one train/valid/test split; protocol "
            f"{hparams.get('protocol')!r} made {len(crossval['folds'])} folds (use holdout)"
        )
    out = Path(hparams["output_folder"])
    fold = crossval["folds"][0]["fold"]
    result = json.loads((out / "folds" / fold / FOLD_RESULT_FILE).read_text(encoding="utf-8"))
    run = crossval["settings"]
    settings = {
        "corpus": run["corpus"], "mode": "probe (frozen upstream)", "upstream": run["upstream"]["name"],
        "feature": run["feature"], "head": run["head"]["type"], "split": fold,
        "select_metric": str(hparams.get("select_metric", "WA")).upper(),
    }
    summary = split_summary(settings, run["head"]["labels"], result["report"], result["sizes"],
                            result.get("valid"), result.get("best_epoch"))
    if if_main_process():
        write_split_results(out, summary, plot=bool(hparams.get("plots", True)))
        try:
            export_downstream(out, out / CLASSIFIER_DIR, overwrite=True)
            logger.info("classifier folder: %s (emotion2vec classify --model %s FILES)",
                        out / CLASSIFIER_DIR, out / CLASSIFIER_DIR)
        except ExportError as error:
            logger.warning("no classifier folder exported: %s", error)
    ddp_barrier()
    return summary


# ------------------------------------------------------------------ finetune
def mode_name(trainable_blocks: int, num_blocks: int, freeze_feature_extractor: bool) -> str:
    """How a fine-tuning run is described in logs and tables.

    Arguments
    ---------
    trainable_blocks : int
        Top blocks that train.
    num_blocks : int
        Blocks of the model.
    freeze_feature_extractor : bool
        Conv front-end frozen (full fine-tuning).

    Returns
    -------
    str

    Example
    -------
    >>> mode_name(12, 12, True), mode_name(4, 12, True), mode_name(0, 12, True)
    ('full fine-tuning (conv front-end frozen)', 'fine-tuning the top 4 of 12 blocks', 'head only (frozen upstream)')
    """
    if trainable_blocks == 0:
        return "head only (frozen upstream)"
    if trainable_blocks < num_blocks:
        return f"fine-tuning the top {trainable_blocks} of {num_blocks} blocks"
    return "full fine-tuning" + (" (conv front-end frozen)" if freeze_feature_extractor else "")


def _relative_to(path, base: Path) -> str:
    path = Path(path).resolve()
    try:
        return path.relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path)


def check_run_file(out: Path, settings: Mapping[str, Any]) -> None:
    """Refuses an output folder holding a run with other settings; writes
    ``finetune.json``.

    Arguments
    ---------
    out : Path
        Output folder.
    settings : mapping
        What the run depends on.
    """
    path = out / RUN_FILE
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        new = json.loads(json.dumps(settings, default=str))
        changed = sorted(k for k in new if old.get(k) != new[k])
        if changed:
            raise FineTuneError(
                f"{out} holds a fine-tuning run with other settings ({', '.join(changed)} "
                "differ); choose another output_folder or delete that folder"
            )
    with staged_file(path) as tmp:
        tmp.write_text(json.dumps(settings, indent=2, ensure_ascii=False, default=str) + "\n",
                       encoding="utf-8")


def _log_split(fold: Fold, label_of: Mapping[str, str], labels) -> None:
    for part, ids in (("train", fold.train_ids), ("valid", fold.valid_ids), ("test", fold.test_ids)):
        counts = Counter(label_of[i] for i in ids)
        logger.info("%s (%s): %d utterances (%s)", part, fold.name, len(ids),
                    ", ".join(f"{label} {counts.get(label, 0)}" for label in labels))
    missing = sorted(set(labels) - {label_of[i] for i in fold.train_ids})
    if missing:
        logger.warning("no training utterance of %s: the classifier cannot learn them",
                       ", ".join(missing))


def build_classifier(hparams: Mapping[str, Any], labels):
    """The backbone and a fresh head, with what trains set.

    Arguments
    ---------
    hparams : mapping
        The recipe (``upstream_source``, ``trust_upstream_checkpoint``,
        ``feature``, ``head``, ``layerdrop``, ``trainable_blocks``,
        ``freeze_feature_extractor``, ``seed``).
    labels : sequence of str
        Class labels in output order.

    Returns
    -------
    classifier : FineTuneClassifier
    info : dict
        Upstream provenance and weights digest, head spec, training plan.
    """
    backbone, upstream = load_backbone(
        hparams["upstream_source"], trust=bool(hparams["trust_upstream_checkpoint"])
    )
    upstream["weights_sha256"] = state_digest(backbone)
    upstream["source"] = str(Path(hparams["upstream_source"]).resolve())
    try:
        option = FeatureOption.parse(hparams["feature"])
        count = parse_trainable_blocks(hparams["trainable_blocks"], backbone.config.num_blocks)
        spec = head_spec(hparams["head"], option.input_dim(backbone.config.embed_dim), labels,
                         option.name)
    except ValueError as error:
        raise FineTuneError(str(error)) from None
    if spec.get("input_norm"):
        raise FineTuneError(
            "head input_norm standardises FROZEN features with training statistics; "
            "a fine-tuned backbone changes them: drop input_norm from the head"
        )
    layerdrop = float(hparams["layerdrop"])
    if layerdrop > 0 and option.layers is not None:
        raise FineTuneError(
            f"layerdrop={layerdrop} skips blocks, so feature {option.name!r} (which reads "
            "block outputs) would get the wrong ones: use layerdrop: 0.0"
        )
    backbone.encoder.layerdrop = backbone.encoder.prenet_layerdrop = layerdrop
    sb.utils.seed.seed_everything(int(hparams["seed"]), verbose=False)  # the head's init
    classifier = FineTuneClassifier(backbone, build_head(spec), option.name)
    plan = configure_trainable(classifier, count, bool(hparams["freeze_feature_extractor"]))
    plan["mode"] = mode_name(count, backbone.config.num_blocks,
                             bool(hparams["freeze_feature_extractor"]))
    logger.info("%s: %d trainable parameters (head %d), %d frozen", plan["mode"],
                plan["trainable_parameters"], plan["head_parameters"], plan["frozen_parameters"])
    return classifier, {"upstream": upstream, "head": spec, "training": plan}


def class_weights(train_labels: List[str], labels) -> torch.Tensor:
    """Inverse-frequency class weights, scikit-learn's "balanced" rule:
    ``utterances / (classes present * utterances of the class)``.

    Arguments
    ---------
    train_labels : list of str
        Label of every training utterance.
    labels : sequence of str
        Class labels in output order.

    Returns
    -------
    torch.Tensor
        ``[classes]``; 0 for a class absent from training.

    Example
    -------
    >>> [round(w, 4) for w in class_weights(["a", "a", "a", "b"], ["a", "b", "c"]).tolist()]
    [0.6667, 2.0, 0.0]
    """
    counts = Counter(train_labels)
    present = [label for label in labels if counts.get(label)]
    total = sum(counts.values())
    raw = {label: total / (len(present) * counts[label]) for label in present}
    return torch.tensor([raw.get(label, 0.0) for label in labels], dtype=torch.float32)


def run_finetune(hparams_file, run_opts, overrides, hparams, script=None) -> Dict[str, Any]:
    """Fine-tunes the upstream with a new head on the holdout split, tests
    the best checkpoint and exports the classifier (see the module docstring).

    Arguments
    ---------
    hparams_file : str
        The hparams file given.
    run_opts : RunOptions
        SpeechBrain run options.
    overrides : str
        Command-line overrides.
    hparams : dict
        The loaded recipe.
    script : str, optional
        The recipe's ``train.py``.

    Returns
    -------
    dict
        ``results.json``'s content.
    """
    out = start_experiment(hparams_file, overrides, hparams, script)
    rows = read_manifest(hparams["manifest_file"])
    hparams = with_corpus_defaults(hparams, rows)
    labels = hparams["labels"]
    unknown = sorted({row["label"] for row in rows} - set(labels))
    if unknown:
        raise FineTuneError(
            f"labels {unknown} of {hparams['manifest_file']} are not in labels {labels}; "
            "add them to --labels (or leave labels null: every label found)"
        )
    encoder = label_encoder(labels)
    folds = make_folds(hparams["protocol"], rows, **hparams["fold_options"])
    if len(folds) != 1:
        raise FineTuneError(
            f"fine-tuning runs one train/valid/test split; protocol {hparams['protocol']!r} "
            f"made {len(folds)} folds (use holdout or predefined)"
        )
    fold = folds[0]
    by_id = {row["ID"]: row for row in rows}
    _log_split(fold, {i: by_id[i]["label"] for i in by_id}, labels)
    classifier, info = build_classifier(hparams, labels)
    save_folder = Path(hparams["save_folder"])
    metric = str(hparams["select_metric"]).upper()
    settings = {
        "corpus": hparams["corpus"],
        "manifest": str(Path(hparams["manifest_file"]).resolve()),
        "manifest_sha256": sha256_file(hparams["manifest_file"]),
        "labels": labels, "protocol": hparams["protocol"],
        "fold_options": dict(hparams["fold_options"]), "fold": fold.name,
        "ids_sha256": ids_digest(fold), "upstream": info["upstream"],
        "backbone_config": classifier.backbone.config.to_dict(),
        "feature": classifier.option.name, "head": info["head"], "training": info["training"],
        "optimisation": {key: hparams[key] for key in OPTIMISATION_KEYS},
        "select_metric": metric, "seed": int(hparams["seed"]),
        "save_folder": _relative_to(save_folder, out),
    }
    if if_main_process():
        check_run_file(out, settings)

    counter = hparams["epoch_counter"]
    checkpointer = sb.utils.checkpoints.Checkpointer(
        save_folder, recoverables={"model": classifier, "counter": counter}
    )
    brain = FineTuneBrain(
        modules={"model": classifier}, opt_class=hparams["opt_class"], hparams=hparams,
        run_opts=run_opts, checkpointer=checkpointer,
    )
    seed = int(hparams["seed"])
    crop = hparams["max_train_seconds"]
    sets = {}
    for part, ids, train in (("train", fold.train_ids, True), ("valid", fold.valid_ids, False),
                             ("test", fold.test_ids, False)):
        data = WaveformDataset([by_id[i] for i in ids], encoder,
                               crop_samples=int(crop * SAMPLE_RATE) if crop and train else None,
                               seed=seed)
        budget = (int(hparams["max_batch_seconds"] * SAMPLE_RATE) if train else
                  batch_budget(brain.device, int(hparams["eval_batch_seconds"] * SAMPLE_RATE)))
        sampler = LengthBucketBatchSampler(
            data.sizes, budget, max_batch_size=hparams["max_batch_size"] if train else None,
            shuffle=train, seed=seed, dataset=data,
        )
        sets[part] = (data, loader_options(sampler, hparams["num_workers"]))
    brain.train_sampler = sets["train"][1]["batch_sampler"]
    if hparams["balanced_loss"]:
        brain.class_weights = class_weights([by_id[i]["label"] for i in fold.train_ids], labels)
    brain.fit(counter, sets["train"][0], sets["valid"][0],
              train_loader_kwargs=sets["train"][1], valid_loader_kwargs=sets["valid"][1])
    brain.evaluate(sets["test"][0], test_loader_kwargs=sets["test"][1])
    test = brain.test_result
    best = best_checkpoint(save_folder, metric)
    summary = split_summary(
        dict(settings, mode=info["training"]["mode"], upstream=Path(settings["upstream"]["source"]).name,
             split=fold.name),
        labels, test.report, fold.sizes(),
        {k: best.meta.get(k) for k in ("WA", "UA", "WF1")}, best.meta.get("epoch"),
    )
    if if_main_process():
        _write_split_files(out, fold, test, labels)
        write_split_results(out, summary, plot=bool(hparams["plots"]))
        export_finetuned(out, out / CLASSIFIER_DIR, overwrite=True)
        logger.info("classifier folder: %s (emotion2vec classify --model %s FILES)",
                    out / CLASSIFIER_DIR, out / CLASSIFIER_DIR)
    ddp_barrier()
    return summary


def _write_split_files(out: Path, fold: Fold, test, labels) -> None:
    split = {"train": fold.train_ids, "valid": fold.valid_ids, "test": fold.test_ids}
    (out / "split.json").write_text(
        json.dumps({k: list(v) for k, v in split.items()}, indent=1, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    with open(out / "predictions.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["ID", "target", "prediction"] + [f"p_{label}" for label in labels])
        for uid, target, pred, probs in zip(test.ids, test.targets, test.preds, test.probs):
            writer.writerow([uid, labels[target], labels[pred]] + [f"{p:.6f}" for p in probs])

