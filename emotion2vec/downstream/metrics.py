"""Classification metrics of the emotion2vec paper, in plain numpy.

Definitions (identical to the scikit-learn functions named):

* WA, weighted accuracy = overall accuracy (``accuracy_score``).
* UA, unweighted accuracy = UAR = mean per-class recall over the classes
  present in the targets (``balanced_accuracy_score``).
* WF1 = per-class F1 averaged with the class supports as weights
  (``f1_score(average="weighted")``); the F1 of a class is 0 when its
  precision + recall is 0 (``zero_division=0``).
* Macro-F1 = unweighted mean of per-class F1 over the classes present in
  targets or predictions (``f1_score(average="macro")``).
* Sentiment (MOSI/MOSEI): segments with target 0 are removed, targets and
  predictions are binarised by ``> 0``; ACC-2 = accuracy and WF1 as above
  (:func:`sentiment_report`).
* Regression (:func:`regression_report`): MAE, Pearson's r, and the
  sentiment ACC-2 / WF1 of the predicted scores binarised at a threshold
  (MERBench practice: regress the score, binarise at evaluation).
* Cross-validation results are the arithmetic mean of the per-fold
  metrics (:func:`average_reports`), not metrics of pooled predictions.

Inputs are 1-D sequences, numpy arrays or torch tensors of class indices.
Scores are fractions in [0, 1] (multiply by 100 for the paper's tables).

Authors
 * emotion2vec-sb contributors
"""

from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

__all__ = [
    "average_reports",
    "classification_report",
    "confusion_matrix",
    "macro_f1",
    "mean_absolute_error",
    "pearson_r",
    "regression_report",
    "sentiment_report",
    "unweighted_accuracy",
    "weighted_accuracy",
    "weighted_f1",
]


def _to_numpy(values: Any, name: str) -> np.ndarray:
    if hasattr(values, "detach"):  # torch tensor, possibly on an accelerator
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D sequence of class indices, got shape {array.shape}"
        )
    return array


def _as_labels(values: Any, name: str) -> np.ndarray:
    array = _to_numpy(values, name)
    if array.dtype == bool:
        return array.astype(np.int64)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        if not np.issubdtype(array.dtype, np.floating) or not np.all(
            np.equal(np.mod(array, 1), 0)
        ):
            raise ValueError(
                f"{name} must hold integer class indices, got dtype {array.dtype}"
            )
    array = array.astype(np.int64)
    if array.size and array.min() < 0:
        raise ValueError(f"{name} holds a negative class index ({array.min()})")
    return array


def _pair(targets: Any, preds: Any) -> Tuple[np.ndarray, np.ndarray]:
    y = _as_labels(targets, "targets")
    p = _as_labels(preds, "preds")
    if y.shape != p.shape:
        raise ValueError(f"targets and preds differ in length ({len(y)} vs {len(p)})")
    if y.size == 0:
        raise ValueError("targets and preds are empty")
    return y, p


def confusion_matrix(
    targets: Sequence[int], preds: Sequence[int], num_classes: Optional[int] = None
) -> np.ndarray:
    """Counts of (target, prediction) pairs.

    Arguments
    ---------
    targets : sequence of int
        True class indices.
    preds : sequence of int
        Predicted class indices.
    num_classes : int, optional
        Matrix size; default ``max(targets, preds) + 1``.

    Returns
    -------
    numpy.ndarray
        ``[num_classes, num_classes]`` int64; row = target, column = prediction.

    Example
    -------
    >>> confusion_matrix([0, 0, 1, 2], [0, 1, 1, 1], num_classes=3)
    array([[1, 1, 0],
           [0, 1, 0],
           [0, 1, 0]])
    """
    y, p = _pair(targets, preds)
    largest = int(max(y.max(), p.max()))
    if num_classes is None:
        num_classes = largest + 1
    elif largest >= num_classes:
        raise ValueError(f"class index {largest} out of range for num_classes={num_classes}")
    flat = np.bincount(y * num_classes + p, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes).astype(np.int64)


def _per_class(matrix: np.ndarray) -> Dict[str, np.ndarray]:
    """Per-class precision, recall, F1 and support (0 where undefined)."""
    tp = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": support,
        "predicted": predicted,
    }


def weighted_accuracy(targets: Sequence[int], preds: Sequence[int]) -> float:
    """WA: the fraction of correct predictions (overall accuracy).

    Arguments
    ---------
    targets : sequence of int
        True class indices.
    preds : sequence of int
        Predicted class indices.

    Returns
    -------
    float

    Example
    -------
    >>> weighted_accuracy([0, 0, 0, 1], [0, 0, 1, 1])
    0.75
    """
    y, p = _pair(targets, preds)
    return float(np.mean(y == p))


def unweighted_accuracy(targets: Sequence[int], preds: Sequence[int]) -> float:
    """UA (= UAR): mean per-class recall over the classes present in targets.

    Arguments
    ---------
    targets : sequence of int
        True class indices.
    preds : sequence of int
        Predicted class indices.

    Returns
    -------
    float

    Example
    -------
    >>> unweighted_accuracy([0, 0, 0, 1], [0, 0, 1, 1])  # (2/3 + 1) / 2
    0.8333333333333333
    """
    stats = _per_class(confusion_matrix(targets, preds))
    present = stats["support"] > 0
    return float(np.mean(stats["recall"][present]))


def weighted_f1(targets: Sequence[int], preds: Sequence[int]) -> float:
    """WF1: per-class F1 averaged with the target counts as weights.

    Arguments
    ---------
    targets : sequence of int
        True class indices.
    preds : sequence of int
        Predicted class indices.

    Returns
    -------
    float

    Example
    -------
    >>> round(weighted_f1([0, 0, 0, 1], [0, 0, 1, 1]), 4)  # (3 * 0.8 + 2/3) / 4
    0.7667
    """
    stats = _per_class(confusion_matrix(targets, preds))
    return float(np.sum(stats["f1"] * stats["support"]) / np.sum(stats["support"]))


def macro_f1(targets: Sequence[int], preds: Sequence[int]) -> float:
    """Macro-F1: mean per-class F1 over classes in targets or predictions.

    Arguments
    ---------
    targets : sequence of int
        True class indices.
    preds : sequence of int
        Predicted class indices.

    Returns
    -------
    float

    Example
    -------
    >>> round(macro_f1([0, 0, 0, 1], [0, 0, 1, 1]), 4)  # (0.8 + 2/3) / 2
    0.7333
    """
    stats = _per_class(confusion_matrix(targets, preds))
    seen = (stats["support"] > 0) | (stats["predicted"] > 0)
    return float(np.mean(stats["f1"][seen]))


def classification_report(
    targets: Sequence[int], preds: Sequence[int], num_classes: Optional[int] = None
) -> Dict[str, Any]:
    """All metrics at once, as a JSON-serialisable dict.

    Arguments
    ---------
    targets : sequence of int
        True class indices.
    preds : sequence of int
        Predicted class indices.
    num_classes : int, optional
        Number of classes (size of the per-class lists and the matrix);
        default ``max(targets, preds) + 1``.

    Returns
    -------
    dict
        ``wa``, ``ua``, ``wf1``, ``macro_f1``, ``num_samples``,
        ``confusion_matrix`` (list of rows, row = target), and per class
        ``precision``, ``recall``, ``f1`` (0.0 where undefined) and
        ``support`` (target count).

    Example
    -------
    >>> report = classification_report([0, 0, 0, 1], [0, 0, 1, 1], num_classes=3)
    >>> report["wa"], report["support"], report["confusion_matrix"]
    (0.75, [3, 1, 0], [[2, 1, 0], [0, 1, 0], [0, 0, 0]])
    """
    matrix = confusion_matrix(targets, preds, num_classes)
    stats = _per_class(matrix)
    present = stats["support"] > 0
    seen = present | (stats["predicted"] > 0)
    total = float(stats["support"].sum())
    return {
        "wa": float(np.trace(matrix) / total),
        "ua": float(np.mean(stats["recall"][present])),
        "wf1": float(np.sum(stats["f1"] * stats["support"]) / total),
        "macro_f1": float(np.mean(stats["f1"][seen])),
        "num_samples": int(total),
        "confusion_matrix": matrix.tolist(),
        "precision": [float(v) for v in stats["precision"]],
        "recall": [float(v) for v in stats["recall"]],
        "f1": [float(v) for v in stats["f1"]],
        "support": [int(v) for v in stats["support"]],
    }


def sentiment_report(
    targets: Sequence[float], preds: Sequence[float], threshold: float = 0.0
) -> Dict[str, float]:
    """Binary sentiment metrics of MOSI/MOSEI (non-zero targets only).

    Segments whose target is exactly ``threshold`` (0) are removed; targets
    and predictions are then positive when ``> threshold``.

    Arguments
    ---------
    targets : sequence of float
        Annotated sentiment scores in [-3, 3].
    preds : sequence of float
        Predicted scores (or signs).
    threshold : float
        The neutral value (0 for sentiment).

    Returns
    -------
    dict
        ``acc2`` (accuracy), ``wf1`` (weighted F1) and ``num_samples``
        (segments kept).

    Example
    -------
    >>> report = sentiment_report([-1.2, 0.0, 2.0, 0.4, 1.0], [-0.3, 1.0, 1.5, -0.2, 0.5])
    >>> report["acc2"], round(report["wf1"], 4), report["num_samples"]
    (0.75, 0.7667, 4)
    """
    y, p = _scores(targets, preds)
    keep = y != threshold
    if not keep.any():
        what = "a non-zero sentiment target" if threshold == 0 else f"a target other than {threshold:g}"
        raise ValueError(f"no segment with {what}")
    y_bin, p_bin = y[keep] > threshold, p[keep] > threshold
    return {
        "acc2": weighted_accuracy(y_bin, p_bin),
        "wf1": weighted_f1(y_bin, p_bin),
        "num_samples": int(keep.sum()),
    }


def _scores(targets: Any, preds: Any) -> Tuple[np.ndarray, np.ndarray]:
    y = _to_numpy(targets, "targets").astype(np.float64)
    p = _to_numpy(preds, "preds").astype(np.float64)
    if y.shape != p.shape:
        raise ValueError(f"targets and preds differ in length ({len(y)} vs {len(p)})")
    if y.size == 0:
        raise ValueError("targets and preds are empty")
    if not (np.isfinite(y).all() and np.isfinite(p).all()):
        raise ValueError("targets and preds must be finite")
    return y, p


def mean_absolute_error(targets: Sequence[float], preds: Sequence[float]) -> float:
    """MAE: mean of ``|target - prediction|`` (``sklearn.metrics.mean_absolute_error``).

    Arguments
    ---------
    targets : sequence of float
        True scores.
    preds : sequence of float
        Predicted scores.

    Returns
    -------
    float

    Example
    -------
    >>> mean_absolute_error([1.0, -2.0], [0.5, -1.0])
    0.75
    """
    y, p = _scores(targets, preds)
    return float(np.mean(np.abs(y - p)))


def pearson_r(targets: Sequence[float], preds: Sequence[float]) -> float:
    """Pearson's correlation coefficient (``scipy.stats.pearsonr``'s statistic).

    Undefined when either side is constant; 0.0 is returned then (the
    convention of F1's ``zero_division=0``), so checkpoint selection and
    averaging never see a NaN.

    Arguments
    ---------
    targets : sequence of float
        True scores.
    preds : sequence of float
        Predicted scores.

    Returns
    -------
    float
        In [-1, 1].

    Example
    -------
    >>> round(pearson_r([1.0, 2.0, 3.0], [2.0, 4.0, 7.0]), 4)
    0.9934
    >>> pearson_r([1.0, 2.0], [5.0, 5.0])
    0.0
    """
    y, p = _scores(targets, preds)
    dy, dp = y - y.mean(), p - p.mean()
    denom = np.sqrt(np.sum(dy**2) * np.sum(dp**2))
    if denom == 0.0:
        return 0.0
    return float(np.clip(np.sum(dy * dp) / denom, -1.0, 1.0))


def regression_report(
    targets: Sequence[float], preds: Sequence[float], threshold: float = 0.0
) -> Dict[str, Any]:
    """Regression metrics plus the binarised sentiment metrics, as one dict.

    MERBench practice for MOSI/MOSEI: the head regresses the score; at
    evaluation the segments whose target equals ``threshold`` (0) are
    dropped and targets and predictions are binarised by ``> threshold``
    (:func:`sentiment_report`). MAE and Pearson's r use every segment.

    Arguments
    ---------
    targets : sequence of float
        True scores.
    preds : sequence of float
        Predicted scores.
    threshold : float
        Where scores are binarised (0 for sentiment).

    Returns
    -------
    dict
        ``mae``, ``pearson``, ``acc2``, ``wf1``, ``num_samples`` (all
        segments), ``num_binary`` (segments off the threshold; ``acc2`` and
        ``wf1`` are 0.0 when there is none), ``confusion_matrix`` (2 x 2 of
        the binarised segments, row = target, below then above the
        threshold) and ``support``.

    Example
    -------
    >>> report = regression_report([-1.2, 0.0, 2.0, 0.4, 1.0], [-0.3, 1.0, 1.5, -0.2, 0.5])
    >>> report["acc2"], report["num_binary"], report["confusion_matrix"]
    (0.75, 4, [[1, 0], [1, 2]])
    >>> round(report["mae"], 2), round(report["pearson"], 4)
    (0.7, 0.732)
    """
    y, p = _scores(targets, preds)
    keep = y != threshold
    if keep.any():
        binary = sentiment_report(y, p, threshold)
        matrix = confusion_matrix(y[keep] > threshold, p[keep] > threshold, num_classes=2)
    else:
        binary = {"acc2": 0.0, "wf1": 0.0, "num_samples": 0}
        matrix = np.zeros((2, 2), dtype=np.int64)
    return {
        "mae": mean_absolute_error(y, p),
        "pearson": pearson_r(y, p),
        "acc2": binary["acc2"],
        "wf1": binary["wf1"],
        "num_samples": int(y.size),
        "num_binary": binary["num_samples"],
        "confusion_matrix": matrix.tolist(),
        "support": [int(v) for v in matrix.sum(axis=1)],
    }


def average_reports(
    reports: Iterable[Mapping[str, Any]], keys: Optional[List[str]] = None
) -> Dict[str, float]:
    """Cross-validation result: the mean (and std) of per-fold metrics.

    Arguments
    ---------
    reports : iterable of mapping
        One report per fold (e.g. from :func:`classification_report`).
    keys : list of str, optional
        Metrics to average; default every float-valued key of the first
        report.

    Returns
    -------
    dict
        ``{key: mean}`` plus ``{key + "_std": population std}`` and
        ``num_folds``.

    Example
    -------
    >>> average_reports([{"wa": 0.5, "ua": 0.4}, {"wa": 0.7, "ua": 0.6}])
    {'wa': 0.6, 'wa_std': 0.1, 'ua': 0.5, 'ua_std': 0.1, 'num_folds': 2}
    """
    reports = list(reports)
    if not reports:
        raise ValueError("no fold reports to average")
    if keys is None:
        keys = [k for k, v in reports[0].items() if isinstance(v, float)]
    result: Dict[str, float] = {}
    for key in keys:
        missing = [i for i, r in enumerate(reports) if key not in r]
        if missing:
            raise ValueError(f"metric {key!r} missing from fold report(s) {missing}")
        values = np.array([float(r[key]) for r in reports])
        result[key] = round(float(values.mean()), 12)
        result[key + "_std"] = round(float(values.std()), 12)
    result["num_folds"] = len(reports)
    return result
