"""Cross-validation driver shared by every corpus recipe.

:func:`run_crossval` takes the loaded hparams of a recipe and runs the
whole protocol on a prepared manifest:

1. folds from ``protocol`` + ``fold_options``
   (:func:`emotion2vec.downstream.folds.make_folds`, leakage-checked);
2. upstream features computed once into the shared cache
   (:class:`emotion2vec.downstream.features.FeatureCache`);
3. per fold, a fresh head (seeded with ``seed + fold index``, so a fold's
   result does not depend on which folds ran before), an
   :class:`~emotion2vec.downstream.brain.EmotionBrain` with its own
   checkpointer, epoch counter and train log, fit, then test on the best
   validation checkpoint;
4. aggregation over folds (mean and population std of WA, UA, WF1,
   macro-F1) into ``results.json`` and ``results.md``.

Output folder layout::

    <output_folder>/run.json            settings the results depend on
    <output_folder>/results.json        per-fold and mean/std metrics
    <output_folder>/results.md          the table, paper layout
    <output_folder>/confusion_matrix.png
    <output_folder>/folds/<fold>/       train_log.txt, save/ (checkpoints),
        split.json (the fold's IDs), predictions.csv, embeddings.npz,
        best_head.ckpt, confusion_matrix.png,
        embedding.png, fold_result.json (written last: the fold is done)

A re-run skips finished folds and resumes an interrupted one from its
last checkpoint. A fold whose utterances differ from the finished one, or
an output folder holding a run with other settings, is an error (never a
silent mix of results).

Authors
 * emotion2vec-sb contributors
"""

import csv
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
from emotion2vec.corpora.common import read_manifest
from emotion2vec.downstream import plots
from emotion2vec.downstream.brain import EmotionBrain, feature_dataset, label_encoder
from emotion2vec.downstream.features import FeatureCache
from emotion2vec.downstream.folds import Fold, make_folds
from emotion2vec.downstream.metrics import average_reports
from emotion2vec.fileutils import staged_file
from emotion2vec.model.heads import build_head, head_spec

logger = logging.getLogger(__name__)

RUN_FILE = "run.json"
RESULTS_FILE = "results.json"
TABLE_FILE = "results.md"
FOLD_RESULT_FILE = "fold_result.json"
HEAD_FILE = "best_head.ckpt"
METRIC_KEYS = ("wa", "ua", "wf1", "macro_f1")
PROTOCOL_NAMES = {
    "loso_session": "leave-one-session-out",
    "loso_speaker": "leave-one-speaker-out",
    "random_kfold": "random",
    "predefined": "predefined split",
    "holdout": "holdout",
}
SINGLE_SPLIT_PROTOCOLS = ("predefined", "holdout")


class CrossValError(ValueError):
    """An output folder or setting the driver refuses to use (message says why)."""


def _write_json(path: Path, data: Any) -> None:
    """Atomic JSON write (:func:`emotion2vec.fileutils.staged_file`)."""
    with staged_file(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")


def _run_opt(run_opts, key: str, default=None):
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
    return {"frm": "Frm", "utt": "Utt", "utt+frm": "Utt+Frm", "last4": "last 4 blocks"}.get(
        feature, feature
    )


def run_settings(hparams: Mapping[str, Any], cache: FeatureCache, spec: Dict, num_folds: int):
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

    Returns
    -------
    dict
    """
    upstream = cache.upstream
    return {
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


def _check_run_file(out: Path, settings: Dict) -> None:
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
    _write_json(path, settings)


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
        labels = sorted({row["label"] for row in rows})
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
    labels = hparams["labels"]
    encoder = label_encoder(labels)
    folds = make_folds(hparams["protocol"], rows, **dict(hparams.get("fold_options") or {}))
    wanted = hparams.get("run_folds")
    if wanted:
        unknown = sorted(set(wanted) - {f.name for f in folds})
        if unknown:
            raise CrossValError(f"run_folds {unknown} not in {[f.name for f in folds]}")
    device = _run_opt(run_opts, "device") or infer_device()
    progress = not _run_opt(run_opts, "noprogressbar", False)
    cache = FeatureCache(
        hparams["feature_cache_folder"], hparams["upstream"], hparams["feature"], rows,
        corpus=hparams["corpus"], dtype=hparams.get("cache_dtype", "float32"),
        batch_seconds=hparams.get("extract_batch_seconds", 160.0), device=device,
        progress=progress,
    )
    run_on_main(cache.build)
    store = cache.open()
    spec = head_spec(hparams["head"], store.input_dim, labels, cache.option.name)
    settings = run_settings(hparams, cache, spec, len(folds))
    if if_main_process():
        _check_run_file(out, settings)
    label_of = {row["ID"]: row["label"] for row in rows}
    results = []
    for index, fold in enumerate(folds):
        if wanted and fold.name not in wanted:
            continue
        results.append(
            run_fold(hparams, run_opts, fold, index, store, spec, encoder, label_of, rows)
        )
    summary = aggregate(results, settings)
    if if_main_process():
        write_results(out, summary, labels, hparams)
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
    encoder,
    label_of: Mapping[str, str],
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
    encoder : CategoricalEncoder
        Fixed label order.
    label_of : mapping
        ID -> label.
    rows : sequence of mapping
        Manifest rows (for the plot colours).

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
        logger.info("fold %s already done (WA %.4f); skipping", fold.name, result["wa"])
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
    brain = EmotionBrain(
        modules={"head": head}, opt_class=hparams["opt_class"],
        hparams=dict(hparams, epoch_counter=counter, train_logger=train_logger),
        run_opts=run_opts, checkpointer=checkpointer,
    )
    loader = {"batch_size": int(hparams["batch_size"]), "num_workers": int(hparams.get("num_workers", 0))}
    sets = {
        name: feature_dataset(store, ids, label_of, encoder)
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
        **{key: test.report[key] for key in METRIC_KEYS},
        "num_samples": test.report["num_samples"],
        "best_epoch": None if best is None else best.meta.get("epoch"),
        "valid": None if best is None else {k: best.meta.get(k) for k in ("WA", "UA", "WF1")},
        "report": test.report,
    }
    if if_main_process():
        _write_fold_outputs(fold_dir, fold, test, head, encoder, hparams, rows)
        _write_json(done, result)
    return result


def _write_fold_outputs(fold_dir, fold, test, head, encoder, hparams, rows) -> None:
    labels = [encoder.ind2lab[i] for i in range(len(encoder))]
    split = {"train": fold.train_ids, "valid": fold.valid_ids, "test": fold.test_ids}
    _write_json(fold_dir / "split.json", {k: list(v) for k, v in split.items()})
    preds = test.preds
    with open(fold_dir / "predictions.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["ID", "target", "prediction"] + [f"p_{label}" for label in labels])
        for uid, target, pred, probs in zip(test.ids, test.targets, preds, test.probs):
            writer.writerow([uid, labels[target], labels[pred]] + [f"{p:.6f}" for p in probs])
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
            coords, [labels[t] for t in test.targets], fold_dir / "embedding.png", values=values,
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


def aggregate(results: List[Dict[str, Any]], settings: Mapping[str, Any]) -> Dict[str, Any]:
    """Mean and population std over folds, plus the per-fold rows.

    Arguments
    ---------
    results : list of dict
        Fold results.
    settings : mapping
        Run settings (``run.json``).

    Returns
    -------
    dict
        ``settings``, ``folds`` (per-fold metrics), ``mean`` and ``std``
        (fractions), and the summed ``confusion_matrix``.

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
    averaged = average_reports(results, keys=list(METRIC_KEYS))
    matrix = np.sum([np.array(r["report"]["confusion_matrix"]) for r in results], axis=0)
    per_fold = [
        {k: r.get(k) for k in ("fold", "sizes", "best_epoch", "valid", "num_samples") + METRIC_KEYS}
        for r in results
    ]
    return {
        "settings": dict(settings),
        "num_folds": len(results),
        "mean": {k: averaged[k] for k in METRIC_KEYS},
        "std": {k: averaged[k + "_std"] for k in METRIC_KEYS},
        "folds": per_fold,
        "confusion_matrix": matrix.tolist(),
    }


def results_table(summary: Mapping[str, Any]) -> str:
    """The markdown table of a run (paper layout: WA, UA, WF1 in %).

    Arguments
    ---------
    summary : mapping
        Output of :func:`aggregate`.

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
    cell = lambda k: f"{100 * mean[k]:.2f} ± {100 * std[k]:.2f}"  # noqa: E731
    lines = [
        f"## {settings.get('corpus', '')}: {upstream}, {feature}, {protocol}",
        "",
        f"Mean ± std over {summary['num_folds']} fold(s); frozen upstream, "
        f"{settings.get('head', {}).get('type', '?')} head.",
        "",
        "| Upstream | Feature | Protocol | WA (%) | UA (%) | WF1 (%) |",
        "|---|---|---|---|---|---|",
        f"| {upstream} | {feature} | {protocol} | {cell('wa')} | {cell('ua')} | {cell('wf1')} |",
        "",
        "| Fold | Train / valid / test | Best epoch | valid WA (%) | WA (%) | UA (%) | WF1 (%) |",
        "|---|---|---|---|---|---|---|",
    ]
    for fold in summary["folds"]:
        valid = (fold.get("valid") or {}).get("WA")
        lines.append(
            f"| {fold['fold']} | {' / '.join(str(s) for s in fold.get('sizes') or [])} | "
            f"{fold.get('best_epoch')} | {'' if valid is None else f'{100 * valid:.2f}'} | "
            f"{100 * fold['wa']:.2f} | {100 * fold['ua']:.2f} | {100 * fold['wf1']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def write_results(out: Path, summary: Dict[str, Any], labels: Sequence[str], hparams) -> None:
    """Writes ``results.json``, ``results.md`` and the summed confusion matrix.

    Arguments
    ---------
    out : Path
        Output folder.
    summary : dict
        Output of :func:`aggregate`.
    labels : sequence of str
        Class names.
    hparams : mapping
        Recipe hparams (``plots``).
    """
    summary = dict(summary, labels=list(labels))
    _write_json(out / RESULTS_FILE, summary)
    (out / TABLE_FILE).write_text(results_table(summary), encoding="utf-8")
    if hparams.get("plots", True) and plots.plots_available():
        plots.plot_confusion(
            summary["confusion_matrix"], labels, out / "confusion_matrix.png",
            f"{summary['settings'].get('corpus', '')}: all folds",
        )
    mean = summary["mean"]
    logger.info(
        "%d fold(s): WA %.2f  UA %.2f  WF1 %.2f -> %s", summary["num_folds"],
        100 * mean["wa"], 100 * mean["ua"], 100 * mean["wf1"], out / RESULTS_FILE,
    )

