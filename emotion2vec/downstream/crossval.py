"""Cross-validation driver shared by every corpus recipe.

:func:`run_crossval` takes the loaded hparams of a recipe and runs the
whole protocol on a prepared manifest:

1. folds from ``protocol`` + ``fold_options``
   (:func:`emotion2vec.downstream.folds.make_folds`, leakage-checked);
2. upstream features computed once into the shared cache
   (:class:`emotion2vec.downstream.features.FeatureCache`);
3. per fold, a fresh head (seeded with ``seed + fold index``, so a fold's
   result does not depend on which folds ran before), the task's Brain
   (:class:`~emotion2vec.downstream.brain.EmotionBrain` for
   classification, :class:`~emotion2vec.downstream.regression.RegressionBrain`
   for regression) with its own checkpointer, epoch counter and train
   log, fit, then test on the best validation checkpoint;
4. aggregation over folds (mean and population std of WA, UA, WF1,
   macro-F1; for regression WF1, ACC-2, MAE, Pearson r) into
   ``results.json`` and ``results.md``; with the ``weighted`` feature also
   the mean and std of the learned block weights.

The task (``task: classification | regression``,
:mod:`emotion2vec.downstream.tasks`) decides which manifest rows take part
(rows without a label, or without a target, are listed for pre-training
only); the features are cached for every row of the manifest, so the
tasks of one corpus share one cache.

Output folder layout::

    <output_folder>/run.json            settings the results depend on
    <output_folder>/results.json        per-fold and mean/std metrics
    <output_folder>/results.md          the table, paper layout
    <output_folder>/confusion_matrix.png
    <output_folder>/layer_weights.png   feature "weighted": mean block weights
    <output_folder>/folds/<fold>/       train_log.txt, save/ (checkpoints),
        split.json (the fold's IDs), predictions.csv, embeddings.npz,
        best_head.ckpt, confusion_matrix.png, embedding.png,
        layer_weights.json + layer_weights.png (feature "weighted": the
        best checkpoint's softmax block weights, with block indices and names),
        fold_result.json (written last: the fold is done)

A re-run skips finished folds and resumes an interrupted one from its
last checkpoint. A fold whose utterances differ from the finished one, or
an output folder holding a run with other settings, is an error (never a
silent mix of results).

Authors
 * emotion2vec-sb contributors
"""

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np
import speechbrain as sb
import torch
from speechbrain.utils.distributed import if_main_process, infer_device, run_on_main

from emotion2vec.corpora import CORPORA
from emotion2vec.corpora.manifest import read_manifest
from emotion2vec.downstream import plots
from emotion2vec.downstream.features import FeatureCache
from emotion2vec.downstream.folds import Fold, make_folds
from emotion2vec.downstream.metrics import average_reports
from emotion2vec.downstream.tasks import TaskError, make_task
from emotion2vec.fileutils import staged_file
from emotion2vec.model.heads import build_head, layer_weights

logger = logging.getLogger(__name__)

RUN_FILE = "run.json"
RESULTS_FILE = "results.json"
TABLE_FILE = "results.md"
FOLD_RESULT_FILE = "fold_result.json"
HEAD_FILE = "best_head.ckpt"
LAYER_WEIGHTS_FILE = "layer_weights.json"
METRIC_KEYS = ("wa", "ua", "wf1", "macro_f1")
PROTOCOL_NAMES = {
    "loso_session": "leave-one-session-out",
    "loso_speaker": "leave-one-speaker-out",
    "random_kfold": "random",
    "predefined": "predefined split",
    "fixed_folds": "fixed-group",
    "holdout": "holdout",
}
SINGLE_SPLIT_PROTOCOLS = ("predefined", "holdout")


class CrossValError(ValueError):
    """An output folder or setting the driver refuses to use (message says why)."""


def write_json(path: Path, data: Any) -> None:
    """Atomic JSON write (:func:`emotion2vec.fileutils.staged_file`).

    Arguments
    ---------
    path : Path
        Destination file.
    data : any
        JSON-serialisable data (other objects are written as ``str``).
    """
    with staged_file(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")


def run_option(run_opts, key: str, default=None):
    """A SpeechBrain run option (``device``, ``noprogressbar``, ...), or ``default``
    when it is missing or None.

    Arguments
    ---------
    run_opts : RunOptions or dict or None
        The run options.
    key : str
        Option name.
    default : any
        Value when unset.

    Returns
    -------
    any

    Example
    -------
    >>> run_option({"device": None}, "device", "cpu"), run_option(None, "debug", False)
    ('cpu', False)
    """
    try:
        value = run_opts[key]
    except (KeyError, TypeError):
        return default
    return default if value is None else value


def ids_digest(fold: Fold) -> str:
    """SHA-256 of a fold's train/valid/test IDs (detects changed folds).

    Arguments
    ---------
    fold : Fold
        The fold.

    Returns
    -------
    str

    Example
    -------
    >>> a = Fold("f", ("a", "b"), ("c",), ("d",))
    >>> ids_digest(a) == ids_digest(Fold("f", ("b", "a"), ("c",), ("d",)))
    True
    """
    text = "|".join(",".join(ids) for ids in (fold.train_ids, fold.valid_ids, fold.test_ids))
    return hashlib.sha256(text.encode()).hexdigest()


def describe_protocol(protocol: str, options: Mapping[str, Any], num_folds: int) -> str:
    """Human-readable protocol, paper style.

    Arguments
    ---------
    protocol : str
        Protocol name (see ``folds.PROTOCOLS``).
    options : mapping
        Fold options (``valid_is_test`` adds the paper's ``*``).
    num_folds : int
        Number of folds.

    Returns
    -------
    str

    Example
    -------
    >>> describe_protocol("loso_session", {"valid_is_test": True}, 5)
    'leave-one-session-out 5-fold*'
    """
    name = PROTOCOL_NAMES.get(protocol, protocol)
    text = name if protocol in SINGLE_SPLIT_PROTOCOLS else f"{name} {num_folds}-fold"
    return text + ("*" if options.get("valid_is_test") else "")


def _feature_title(feature: str) -> str:
    return {"frm": "Frm", "utt": "Utt", "utt+frm": "Utt+Frm", "last4": "last 4 blocks",
            "weighted": "weighted blocks"}.get(feature, feature)


def run_settings(
    hparams: Mapping[str, Any], cache: FeatureCache, spec: Dict, num_folds: int, task=None
):
    """What the results of a run depend on (the content of ``run.json``).

    Arguments
    ---------
    hparams : mapping
        Recipe hparams.
    cache : FeatureCache
        The features used.
    spec : dict
        Head spec (see ``heads.head_spec``).
    num_folds : int
        Folds of the protocol.
    task : ClassificationTask or RegressionTask, optional
        The task (a regression adds its ``task`` entry; a classification
        run's settings are as they were before tasks existed).

    Returns
    -------
    dict
    """
    upstream = cache.upstream
    settings = {
        "corpus": hparams["corpus"],
        "manifest": str(Path(hparams["manifest_file"]).resolve()),
        "manifest_sha256": cache.material["manifest_sha256"],
        "upstream": {
            "kind": upstream.kind,
            "name": upstream.describe(),
            "model_dir": getattr(upstream, "model_dir", None),
            "weights_sha256": cache.material["upstream"]["weights_sha256"],
        },
        "feature": cache.option.name,
        "feature_cache": str(cache.path),
        "head": spec,
        "protocol": hparams["protocol"],
        "fold_options": dict(hparams.get("fold_options") or {}),
        "num_folds": num_folds,
        "seed": int(hparams.get("seed", 0)),
    }
    extra = task.settings() if task is not None else None
    if extra is not None:
        settings["task"] = extra
    return settings


def check_run_file(out: Path, settings: Dict) -> None:
    """Writes ``run.json``, refusing an output folder that holds another run.

    Arguments
    ---------
    out : Path
        Output folder.
    settings : dict
        What the results depend on (a ``feature_cache`` entry may change).

    Raises
    ------
    CrossValError
        ``run.json`` exists with other settings (the keys are named).
    """
    path = out / RUN_FILE
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        stable = {k: v for k, v in settings.items() if k != "feature_cache"}
        changed = sorted(k for k in stable if old.get(k) != json.loads(json.dumps(stable[k])))
        if changed:
            raise CrossValError(
                f"{out} holds a run with other settings ({', '.join(changed)} differ); "
                "choose another output_folder or delete that folder"
            )
    write_json(path, settings)


def with_corpus_defaults(hparams: Mapping[str, Any], rows: Sequence[Mapping[str, str]]) -> Dict[str, Any]:
    """The hparams with the corpus's registered facts where they are null.

    ``labels`` (null: the registered classes, or every label of the
    manifest, sorted, for a corpus registered without classes),
    ``protocol`` (null: the corpus's paper protocol), ``fold_options``
    (merged over the protocol's registered defaults) and ``value_column``.

    Arguments
    ---------
    hparams : mapping
        Recipe hparams (``corpus`` and the four keys above).
    rows : sequence of mapping
        The manifest rows.

    Returns
    -------
    dict
        A shallow copy with the four keys filled in.

    Example
    -------
    >>> filled = with_corpus_defaults({"corpus": "ravdess", "labels": None,
    ...     "protocol": "loso_speaker", "fold_options": {"seed": 1}}, rows=[])
    >>> filled["labels"][:2], filled["fold_options"]
    (['neutral', 'calm'], {'valid': 'next_speaker', 'valid_is_test': False, 'seed': 1})
    """
    filled = dict(hparams)
    name = str(hparams["corpus"]).lower()
    info = CORPORA.get(name)
    if info is None and (not hparams.get("labels") or not hparams.get("protocol")):
        raise CrossValError(
            f"corpus {hparams['corpus']!r} is not registered in emotion2vec.corpora "
            f"(known: {', '.join(sorted(CORPORA))}); give labels and protocol in the hparams"
        )
    labels = hparams.get("labels") or (info.labels if info else ())
    if not labels:
        labels = sorted({row["label"] for row in rows if str(row.get("label") or "").strip()})
    filled["labels"] = [str(label) for label in labels]
    filled["protocol"] = hparams.get("protocol") or info.default_protocol
    if not filled["protocol"]:
        raise CrossValError(f"corpus {name!r} registers no protocol; set protocol in the hparams")
    defaults = info.fold_options(filled["protocol"]) if info else {}
    filled["fold_options"] = {**defaults, **dict(hparams.get("fold_options") or {})}
    filled["value_column"] = hparams.get("value_column") or (info.value_column if info else None)
    return filled


def run_crossval(hparams: Dict[str, Any], run_opts=None) -> Dict[str, Any]:
    """Runs every fold of the recipe's protocol and aggregates the results.

    Arguments
    ---------
    hparams : dict
        Loaded recipe hparams: ``output_folder``, ``corpus``,
        ``manifest_file``, ``labels``, ``protocol``, ``fold_options`` (the
        corpus's registered facts where null: :func:`with_corpus_defaults`),
        ``upstream``, ``feature``, ``feature_cache_folder``, ``head``,
        ``seed``, ``batch_size``, ``opt_class``, ``epoch_counter`` and
        ``train_logger`` (factories), optionally ``lr_scheduler``,
        ``run_folds`` (names), ``cache_dtype``, ``extract_batch_seconds``,
        ``num_workers``, ``plots``, ``embedding_method``, ``value_column``.
    run_opts : RunOptions or dict, optional
        SpeechBrain run options (``device``, ``noprogressbar``, ...).

    Returns
    -------
    dict
        The content of ``results.json``.
    """
    run_opts = run_opts if run_opts is not None else {}
    out = Path(hparams["output_folder"])
    rows = read_manifest(hparams["manifest_file"])
    hparams = with_corpus_defaults(hparams, rows)
    info = CORPORA.get(str(hparams["corpus"]).lower())
    try:  # the regression target defaults to the corpus's registered numeric column
        task = make_task(hparams, info.value_column if info else None)
        task_rows = task.select(rows)
    except TaskError as error:
        raise CrossValError(str(error)) from None
    if not task_rows:
        raise CrossValError(f"no row of {hparams['manifest_file']} takes part in the {task.name} task")
    if len(task_rows) < len(rows):
        logger.info(
            "%d of %d manifest rows have no %s and are not part of the %s task",
            len(rows) - len(task_rows), len(rows),
            "label" if task.name == "classification" else f"{task.outputs[0]} value", task.name,
        )
    folds = make_folds(hparams["protocol"], task_rows, **dict(hparams.get("fold_options") or {}))
    wanted = hparams.get("run_folds")
    if wanted:
        unknown = sorted(set(wanted) - {f.name for f in folds})
        if unknown:
            raise CrossValError(f"run_folds {unknown} not in {[f.name for f in folds]}")
    device = run_option(run_opts, "device") or infer_device()
    progress = not run_option(run_opts, "noprogressbar", False)
    cache = FeatureCache(
        hparams["feature_cache_folder"], hparams["upstream"], hparams["feature"], rows,
        corpus=hparams["corpus"], dtype=hparams.get("cache_dtype", "float32"),
        batch_seconds=hparams.get("extract_batch_seconds", 160.0), device=device,
        progress=progress,
    )
    run_on_main(cache.build)
    store = cache.open()
    spec = cache.option.head_spec(hparams["head"], store.dim, cache.upstream.num_blocks, task.outputs)
    settings = run_settings(hparams, cache, spec, len(folds), task)
    if if_main_process():
        check_run_file(out, settings)
    results = []
    for index, fold in enumerate(folds):
        if wanted and fold.name not in wanted:
            continue
        results.append(run_fold(hparams, run_opts, fold, index, store, spec, task, rows))
    summary = aggregate(results, settings, task.metric_keys)
    if if_main_process():
        write_results(out, summary, task.confusion_labels, hparams, task.table_keys)
    return summary


def feature_statistics(store, ids: Sequence[str]):
    """Per-feature mean and standard deviation over every step of ``ids``.

    Arguments
    ---------
    store : FeatureStore
        Cached features (``store.get(uid) -> [steps, dim]``).
    ids : sequence of str
        The utterances (a fold's training set: no test data leaks in).

    Returns
    -------
    mean, std : torch.Tensor
        float32 ``[dim]`` each (accumulated in float64).

    Example
    -------
    >>> class Store:
    ...     def get(self, uid):
    ...         return np.full((2, 1), float(uid), dtype=np.float32)
    >>> [t.tolist() for t in feature_statistics(Store(), ["1", "3"])]
    [[2.0], [1.0]]
    """
    total = total_sq = None
    count = 0
    for uid in ids:
        x = np.asarray(store.get(uid), dtype=np.float64)
        total = x.sum(0) if total is None else total + x.sum(0)
        total_sq = (x**2).sum(0) if total_sq is None else total_sq + (x**2).sum(0)
        count += x.shape[0]
    if not count:
        raise CrossValError("cannot compute feature statistics of an empty training set")
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    return torch.from_numpy(mean).float(), torch.from_numpy(std).float()


def run_fold(
    hparams: Mapping[str, Any],
    run_opts,
    fold: Fold,
    index: int,
    store,
    spec: Dict,
    task,
    rows: Sequence[Mapping[str, str]],
) -> Dict[str, Any]:
    """Trains and tests one fold (or returns its finished result).

    Arguments
    ---------
    hparams : mapping
        Recipe hparams (see :func:`run_crossval`).
    run_opts : RunOptions or dict
        SpeechBrain run options.
    fold : Fold
        The split.
    index : int
        Fold index (the head is seeded with ``seed + index``).
    store : FeatureStore
        Cached features.
    spec : dict
        Head spec.
    task : ClassificationTask or RegressionTask
        What the head learns (:mod:`emotion2vec.downstream.tasks`).
    rows : sequence of mapping
        Manifest rows (targets and plot colours).

    Returns
    -------
    dict
        The fold result (``fold_result.json``).
    """
    fold_dir = Path(hparams["output_folder"]) / "folds" / fold.name
    done = fold_dir / FOLD_RESULT_FILE
    digest = ids_digest(fold)
    if done.is_file():
        result = json.loads(done.read_text(encoding="utf-8"))
        if result.get("ids_sha256") != digest:
            raise CrossValError(
                f"{done}: this fold was run on other utterances (fold definition changed); "
                "use another output_folder or delete the fold folder"
            )
        key = task.metric_keys[0]
        logger.info("fold %s already done (%s %.4f); skipping", fold.name, key, result[key])
        return result
    sb.utils.seed.seed_everything(int(hparams.get("seed", 0)) + index, verbose=False)
    head = build_head(spec)
    if spec.get("input_norm"):
        head.set_input_statistics(*feature_statistics(store, fold.train_ids))
    counter = hparams["epoch_counter"]()
    train_logger = hparams["train_logger"](save_file=str(fold_dir / "train_log.txt"))
    checkpointer = sb.utils.checkpoints.Checkpointer(
        fold_dir / "save", recoverables={"head": head, "counter": counter}
    )
    brain = task.brain_class(
        modules={"head": head}, opt_class=hparams["opt_class"],
        hparams=dict(hparams, epoch_counter=counter, train_logger=train_logger),
        run_opts=run_opts, checkpointer=checkpointer,
    )
    loader = {"batch_size": int(hparams["batch_size"]), "num_workers": int(hparams.get("num_workers", 0))}
    rows_by_id = {row["ID"]: row for row in rows}
    sets = {
        name: task.dataset(store, ids, rows_by_id)
        for name, ids in (("train", fold.train_ids), ("valid", fold.valid_ids), ("test", fold.test_ids))
    }
    logger.info("fold %s: train/valid/test = %s", fold.name, fold.sizes())
    brain.fit(counter, sets["train"], sets["valid"],
              train_loader_kwargs=dict(loader, shuffle=True), valid_loader_kwargs=loader)
    brain.evaluate(sets["test"], test_loader_kwargs=loader)
    best = checkpointer.find_checkpoint(
        importance_key=brain.checkpoint_rank, ckpt_predicate=lambda c: brain.select_metric in c.meta
    )
    test = brain.test_result
    result = {
        "fold": fold.name,
        "index": index,
        "sizes": list(fold.sizes()),
        "valid_is_test": fold.valid_is_test,
        "ids_sha256": digest,
        **{key: test.report[key] for key in task.metric_keys},
        "num_samples": test.report["num_samples"],
        "best_epoch": None if best is None else best.meta.get("epoch"),
        "valid": None if best is None else {k: best.meta.get(k) for k in brain.METRICS},
        "report": test.report,
    }
    weights = fold_layer_weights(head, store)
    if weights is not None:
        result["layer_weights"] = weights
    if if_main_process():
        _write_fold_outputs(fold_dir, fold, test, head, task, hparams, rows)
        if weights is not None:
            _write_layer_weights(fold_dir, fold.name, weights, hparams)
        write_json(done, result)
    return result


def fold_layer_weights(head, store) -> Optional[Dict[str, Any]]:
    """The learned block weights of a fold's head (``weighted`` feature).

    Arguments
    ---------
    head : torch.nn.Module
        The trained head (best checkpoint loaded).
    store : FeatureStore
        Its features (block indices and names).

    Returns
    -------
    dict or None
        ``blocks`` (indices), ``names``, ``weights`` (softmax, sum 1) and
        ``layer_norm``; None for a head without a weighted layer sum.
    """
    weights = layer_weights(head)
    if weights is None:
        return None
    blocks = list(store.stacked_blocks or range(len(weights)))
    names = list(store.block_names or [f"block.{i}" for i in blocks])
    if len(blocks) != len(weights) or len(names) != len(weights):
        raise CrossValError(
            f"the head weights {len(weights)} blocks but the feature cache stacks {len(blocks)}"
        )
    return {
        "blocks": blocks,
        "names": names,
        "weights": [float(w) for w in weights],
        "layer_norm": bool(getattr(head.layer_sum, "layer_norm", False)),
    }


def _write_layer_weights(fold_dir: Path, fold_name: str, weights: Dict[str, Any], hparams) -> None:
    write_json(fold_dir / LAYER_WEIGHTS_FILE, dict(weights, fold=fold_name))
    if hparams.get("plots", True) and plots.plots_available():
        plots.plot_layer_weights(
            weights["weights"], weights["names"], fold_dir / "layer_weights.png",
            title=f"{hparams['corpus']} {fold_name}: learned block weights",
        )


def _write_fold_outputs(fold_dir, fold, test, head, task, hparams, rows) -> None:
    labels = task.confusion_labels
    split = {"train": fold.train_ids, "valid": fold.valid_ids, "test": fold.test_ids}
    write_json(fold_dir / "split.json", {k: list(v) for k, v in split.items()})
    task.write_predictions(fold_dir / "predictions.csv", test)
    np.savez(fold_dir / "embeddings.npz", ids=np.array(test.ids), targets=test.targets,
             embeddings=test.embeddings)
    torch.save(head.state_dict(), fold_dir / HEAD_FILE)
    if not hparams.get("plots", True):
        return
    if not plots.plots_available():
        logger.warning("matplotlib is not installed: no plots (pip install 'emotion2vec[plots]')")
        return
    title = f"{hparams['corpus']} {fold.name}"
    plots.plot_confusion(test.report["confusion_matrix"], labels, fold_dir / "confusion_matrix.png", title)
    if len(test.ids) >= 2 and test.embeddings.size:
        coords, method = plots.embed_2d(test.embeddings, hparams.get("embedding_method", "auto"),
                                        seed=int(hparams.get("seed", 0)))
        column = hparams.get("value_column")
        values = _column_values(rows, test.ids, column) if column else None
        plots.plot_embedding(
            coords, task.item_classes(test), fold_dir / "embedding.png", values=values,
            value_name=column or "", title=f"{title}: head representations ({method}, test set)",
        )


def _column_values(rows, ids, column) -> Optional[np.ndarray]:
    by_id = {row["ID"]: row.get(column) for row in rows}
    values = []
    for uid in ids:
        try:
            values.append(float(by_id.get(uid)))
        except (TypeError, ValueError):
            values.append(np.nan)
    values = np.array(values)
    return values if np.isfinite(values).any() else None


def aggregate(
    results: List[Dict[str, Any]], settings: Mapping[str, Any], keys: Sequence[str] = METRIC_KEYS
) -> Dict[str, Any]:
    """Mean and population std over folds, plus the per-fold rows.

    Arguments
    ---------
    results : list of dict
        Fold results.
    settings : mapping
        Run settings (``run.json``).
    keys : sequence of str
        The metrics (the task's ``metric_keys``; default classification's).

    Returns
    -------
    dict
        ``settings``, ``folds`` (per-fold metrics), ``mean`` and ``std``
        (fractions), the summed ``confusion_matrix`` and, when the folds
        learned block weights, ``layer_weights`` (:func:`mean_layer_weights`).

    Example
    -------
    >>> folds = [dict(fold="a", wa=0.5, ua=0.4, wf1=0.5, macro_f1=0.4,
    ...               report={"confusion_matrix": [[1, 1], [0, 2]]}),
    ...          dict(fold="b", wa=0.7, ua=0.6, wf1=0.7, macro_f1=0.6,
    ...               report={"confusion_matrix": [[2, 0], [1, 1]]})]
    >>> summary = aggregate(folds, {})
    >>> summary["mean"]["wa"], summary["std"]["wa"], summary["confusion_matrix"]
    (0.6, 0.1, [[3, 1], [1, 3]])
    """
    if not results:
        raise CrossValError("no fold was run")
    keys = tuple(keys)
    averaged = average_reports(results, keys=list(keys))
    matrix = np.sum([np.array(r["report"]["confusion_matrix"]) for r in results], axis=0)
    per_fold = [
        {k: r.get(k) for k in ("fold", "sizes", "best_epoch", "valid", "num_samples") + keys}
        for r in results
    ]
    summary = {
        "settings": dict(settings),
        "num_folds": len(results),
        "mean": {k: averaged[k] for k in keys},
        "std": {k: averaged[k + "_std"] for k in keys},
        "folds": per_fold,
        "confusion_matrix": matrix.tolist(),
    }
    weights = mean_layer_weights(results)
    if weights is not None:
        summary["layer_weights"] = weights
    return summary


def mean_layer_weights(results: Sequence[Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    """Mean and population std over folds of the learned block weights.

    Arguments
    ---------
    results : sequence of dict
        Fold results (``layer_weights`` from :func:`fold_layer_weights`).

    Returns
    -------
    dict or None
        ``blocks``, ``names``, ``mean``, ``std`` and ``folds`` (fold ->
        weights); None when no fold learned block weights.

    Example
    -------
    >>> w = lambda *v: {"blocks": [0, 1], "names": ["a", "b"], "weights": list(v)}
    >>> m = mean_layer_weights([{"fold": "f1", "layer_weights": w(0.2, 0.8)},
    ...                         {"fold": "f2", "layer_weights": w(0.4, 0.6)}])
    >>> [round(x, 6) for x in m["mean"]], [round(x, 6) for x in m["std"]]
    ([0.3, 0.7], [0.1, 0.1])
    """
    found = [r for r in results if r.get("layer_weights")]
    if not found:
        return None
    first = found[0]["layer_weights"]
    for r in found:
        if r["layer_weights"]["blocks"] != first["blocks"]:
            raise CrossValError(
                f"fold {r.get('fold')} weights blocks {r['layer_weights']['blocks']}, "
                f"others {first['blocks']}"
            )
    table = np.array([r["layer_weights"]["weights"] for r in found], dtype=np.float64)
    return {
        "blocks": list(first["blocks"]),
        "names": list(first["names"]),
        "mean": table.mean(axis=0).tolist(),
        "std": table.std(axis=0).tolist(),
        "folds": {str(r.get("fold")): list(r["layer_weights"]["weights"]) for r in found},
    }


METRIC_TITLES = {
    "wa": ("WA (%)", True), "ua": ("UA (%)", True), "wf1": ("WF1 (%)", True),
    "macro_f1": ("Macro-F1 (%)", True), "acc2": ("ACC-2 (%)", True), "mae": ("MAE", False),
    "pearson": ("Pearson r", False),
}
"""Result key -> (table title, shown in percent)."""


def _metric_cell(key: str, value: float, spread: Optional[float] = None) -> str:
    percent = METRIC_TITLES.get(key, (key, False))[1]
    scale, digits = (100, 2) if percent else (1, 4)
    text = f"{scale * value:.{digits}f}"
    return text if spread is None else f"{text} ± {scale * spread:.{digits}f}"


def results_table(summary: Mapping[str, Any], keys: Sequence[str] = ("wa", "ua", "wf1")) -> str:
    """The markdown table of a run (paper layout: WA, UA, WF1 in %).

    Arguments
    ---------
    summary : mapping
        Output of :func:`aggregate`.
    keys : sequence of str
        Metric columns (the task's ``table_keys``; the first also gives the
        per-fold validation column).

    Returns
    -------
    str
    """
    settings = summary["settings"]
    protocol = describe_protocol(
        settings.get("protocol", "?"), settings.get("fold_options", {}),
        settings.get("num_folds", summary["num_folds"]),
    )
    upstream = settings.get("upstream", {}).get("name", "?")
    feature = _feature_title(settings.get("feature", "?"))
    mean, std = summary["mean"], summary["std"]
    titles = [METRIC_TITLES.get(k, (k, False))[0] for k in keys]
    first = keys[0]
    valid_title = f"valid {titles[0]}"
    cells = " | ".join(_metric_cell(k, mean[k], std[k]) for k in keys)
    lines = [
        f"## {settings.get('corpus', '')}: {upstream}, {feature}, {protocol}",
        "",
        f"Mean ± std over {summary['num_folds']} fold(s); frozen upstream, "
        f"{settings.get('head', {}).get('type', '?')} head.",
        "",
        "| Upstream | Feature | Protocol | " + " | ".join(titles) + " |",
        "|---" * (3 + len(keys)) + "|",
        f"| {upstream} | {feature} | {protocol} | {cells} |",
        "",
        f"| Fold | Train / valid / test | Best epoch | {valid_title} | " + " | ".join(titles) + " |",
        "|---" * (4 + len(keys)) + "|",
    ]
    for fold in summary["folds"]:
        valid = (fold.get("valid") or {}).get(first.upper())
        lines.append(
            f"| {fold['fold']} | {' / '.join(str(s) for s in fold.get('sizes') or [])} | "
            f"{fold.get('best_epoch')} | {'' if valid is None else _metric_cell(first, valid)} | "
            + " | ".join(_metric_cell(k, fold[k]) for k in keys) + " |"
        )
    weights = summary.get("layer_weights")
    if weights:
        lines += [
            "",
            f"Learned block weights (softmax, sum 1; mean ± std over {len(weights['folds'])} fold(s)):",
            "",
            "| Block | Name | Weight |",
            "|---|---|---|",
        ]
        for block, name, mean, std in zip(weights["blocks"], weights["names"], weights["mean"], weights["std"]):
            lines.append(f"| {block} | {name} | {mean:.4f} ± {std:.4f} |")
    return "\n".join(lines) + "\n"


def write_results(
    out: Path, summary: Dict[str, Any], labels: Sequence[str], hparams,
    keys: Sequence[str] = ("wa", "ua", "wf1"),
) -> None:
    """Writes ``results.json``, ``results.md`` and the summed confusion matrix.

    Arguments
    ---------
    out : Path
        Output folder.
    summary : dict
        Output of :func:`aggregate`.
    labels : sequence of str
        Class names (rows of the confusion matrix).
    hparams : mapping
        Recipe hparams (``plots``).
    keys : sequence of str
        Metrics of the table and the log line.
    """
    summary = dict(summary, labels=list(labels))
    write_json(out / RESULTS_FILE, summary)
    (out / TABLE_FILE).write_text(results_table(summary, keys), encoding="utf-8")
    if hparams.get("plots", True) and plots.plots_available():
        plots.plot_confusion(
            summary["confusion_matrix"], labels, out / "confusion_matrix.png",
            f"{summary['settings'].get('corpus', '')}: all folds",
        )
        weights = summary.get("layer_weights")
        if weights:
            plots.plot_layer_weights(
                weights["mean"], weights["names"], out / "layer_weights.png", std=weights["std"],
                title=f"{summary['settings'].get('corpus', '')}: learned block weights, "
                      f"mean over {len(weights['folds'])} fold(s)",
            )
    mean = summary["mean"]
    logger.info(
        "%d fold(s): %s -> %s", summary["num_folds"],
        "  ".join(f"{METRIC_TITLES.get(k, (k,))[0].split(' (')[0]} {_metric_cell(k, mean[k])}" for k in keys),
        out / RESULTS_FILE,
    )
