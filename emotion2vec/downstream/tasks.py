"""What a downstream recipe learns: classification or regression.

The cross-validation driver (:mod:`emotion2vec.downstream.crossval`) is
the same for both; a task says which manifest rows take part, how a row
becomes a training item, which Brain trains the head, what the head
outputs, which metrics are reported and how predictions are written.

* ``classification`` (:class:`ClassificationTask`, the default): the
  ``label`` column, cross-entropy, WA / UA / WF1 / macro-F1. Rows with an
  empty ``label`` are not part of the task (a corpus lists them for
  pre-training, e.g. MOSI/MOSEI's zero-sentiment segments).
* ``regression`` (:class:`RegressionTask`): a numeric column (the
  ``regression: {target_column}`` hparam, default the corpus's registered
  ``value_column``), MSE or L1, MAE / Pearson r and ACC-2 / WF1 after
  binarising at ``binarize_at`` (:mod:`emotion2vec.downstream.regression`).
  Rows whose target is empty or not a finite number are not part of it.

Authors
 * emotion2vec-sb contributors
"""

import csv
import math
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from emotion2vec.downstream.brain import EmotionBrain, feature_dataset, label_encoder
from emotion2vec.downstream.regression import RegressionBrain, regression_dataset

TASKS = ("classification", "regression")

Rows = Sequence[Mapping[str, str]]


class TaskError(ValueError):
    """A task setting the recipe cannot use (the message says why)."""


class ClassificationTask:
    """Classes of the ``label`` column, in a fixed head output order.

    Arguments
    ---------
    labels : sequence of str
        Head output order.

    Example
    -------
    >>> task = ClassificationTask(["negative", "positive"])
    >>> [r["ID"] for r in task.select([dict(ID="a", label="positive"), dict(ID="b", label="")])]
    ['a']
    >>> task.outputs, task.metric_keys[:3]
    (['negative', 'positive'], ('wa', 'ua', 'wf1'))
    """

    name = "classification"
    brain_class = EmotionBrain
    metric_keys = ("wa", "ua", "wf1", "macro_f1")
    """Keys of each fold result that are averaged over folds."""
    table_keys = ("wa", "ua", "wf1")
    """Metrics of the markdown table."""

    def __init__(self, labels: Sequence[str]):
        self.labels = [str(label) for label in labels]
        self.encoder = label_encoder(self.labels)

    @property
    def outputs(self) -> List[str]:
        """Head output names (its ``labels`` in the head spec)."""
        return list(self.labels)

    @property
    def confusion_labels(self) -> List[str]:
        """Row/column names of the confusion matrix."""
        return list(self.labels)

    def settings(self) -> Optional[Dict[str, Any]]:
        """The task's entry in ``run.json`` (None: classification, as before tasks existed)."""
        return None

    def select(self, rows: Rows) -> List[Mapping[str, str]]:
        """The rows that take part: those with a non-empty ``label``."""
        return [row for row in rows if str(row.get("label") or "").strip()]

    def dataset(self, store, ids: Sequence[str], rows_by_id: Mapping[str, Mapping[str, str]]):
        """The training items of ``ids`` (:func:`~emotion2vec.downstream.brain.feature_dataset`)."""
        label_of = {uid: rows_by_id[uid]["label"] for uid in ids}
        return feature_dataset(store, ids, label_of, self.encoder)

    def item_classes(self, result) -> List[str]:
        """The class name of each test item (embedding plot colours)."""
        return [self.labels[t] for t in result.targets]

    def write_predictions(self, path: Path, result) -> None:
        """``predictions.csv``: ID, target, prediction and each class's probability."""
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["ID", "target", "prediction"] + [f"p_{label}" for label in self.labels])
            for uid, target, pred, probs in zip(result.ids, result.targets, result.preds, result.probs):
                writer.writerow(
                    [uid, self.labels[target], self.labels[pred]] + [f"{p:.6f}" for p in probs]
                )


class RegressionTask:
    """A numeric manifest column, regressed by a one-output head.

    Arguments
    ---------
    target_column : str
        The manifest column.
    loss : str
        ``mse`` or ``l1``.
    binarize_at : float
        Threshold of the binarised metrics (targets equal to it are left out
        of ACC-2 / WF1).

    Example
    -------
    >>> task = RegressionTask("score")
    >>> rows = [dict(ID="a", score="-1.2"), dict(ID="b", score=""), dict(ID="c", score="0")]
    >>> [r["ID"] for r in task.select(rows)], task.outputs, task.confusion_labels
    (['a', 'c'], ['score'], ['negative', 'positive'])
    """

    name = "regression"
    brain_class = RegressionBrain
    metric_keys = ("wf1", "acc2", "mae", "pearson")
    table_keys = ("wf1", "acc2", "mae", "pearson")

    def __init__(self, target_column: str, loss: str = "mse", binarize_at: float = 0.0):
        self.target_column = str(target_column)
        self.loss = str(loss).lower()
        self.binarize_at = float(binarize_at)

    @property
    def outputs(self) -> List[str]:
        """One head output, named after the target column."""
        return [self.target_column]

    @property
    def confusion_labels(self) -> List[str]:
        """``negative`` / ``positive`` (below / above the threshold)."""
        if self.binarize_at == 0.0:
            return ["negative", "positive"]
        return [f"< {self.binarize_at:g}", f"> {self.binarize_at:g}"]

    def settings(self) -> Dict[str, Any]:
        """The task's entry in ``run.json``."""
        return {"name": self.name, "target_column": self.target_column, "loss": self.loss,
                "binarize_at": self.binarize_at}

    def target(self, row: Mapping[str, str]) -> Optional[float]:
        """The row's target, or None when it has none."""
        try:
            value = float(str(row.get(self.target_column, "")).strip())
        except ValueError:
            return None
        return value if math.isfinite(value) else None

    def select(self, rows: Rows) -> List[Mapping[str, str]]:
        """The rows that take part: those with a finite numeric target."""
        if rows and self.target_column not in rows[0]:
            raise TaskError(
                f"regression target column {self.target_column!r} is not in the manifest "
                f"(columns: {', '.join(rows[0])})"
            )
        return [row for row in rows if self.target(row) is not None]

    def dataset(self, store, ids: Sequence[str], rows_by_id: Mapping[str, Mapping[str, str]]):
        """The training items of ``ids`` (:func:`~emotion2vec.downstream.regression.regression_dataset`)."""
        return regression_dataset(store, ids, {uid: self.target(rows_by_id[uid]) for uid in ids})

    def item_classes(self, result) -> List[str]:
        """``negative`` / ``positive`` / ``neutral`` (at the threshold) of each test target."""
        low, high = self.confusion_labels
        return [low if t < self.binarize_at else high if t > self.binarize_at else "neutral"
                for t in result.targets]

    def write_predictions(self, path: Path, result) -> None:
        """``predictions.csv``: ID, target and predicted score, and both binarised."""
        low, high = self.confusion_labels
        t = self.binarize_at
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["ID", "target", "prediction", "target_class", "predicted_class"])
            for uid, target, pred in zip(result.ids, result.targets, result.preds):
                target_class = high if target > t else low if target < t else "neutral"
                writer.writerow([uid, f"{target:.6f}", f"{pred:.6f}", target_class,
                                 high if pred > t else low])


def make_task(hparams: Mapping[str, Any], value_column: Optional[str] = None):
    """The task of a recipe's hparams.

    Arguments
    ---------
    hparams : mapping
        ``task`` (``classification`` or ``regression``; default
        classification), ``labels`` (classification) and ``regression``
        (``target_column``, ``loss``, ``binarize_at``).
    value_column : str, optional
        The corpus's registered numeric column: the default regression target.

    Returns
    -------
    ClassificationTask or RegressionTask

    Example
    -------
    >>> make_task({"task": "regression", "regression": {"loss": "l1"}}, "score").settings()
    {'name': 'regression', 'target_column': 'score', 'loss': 'l1', 'binarize_at': 0.0}
    >>> make_task({"task": "ranking"})
    Traceback (most recent call last):
    ...
    emotion2vec.downstream.tasks.TaskError: task must be one of classification, regression; got 'ranking'
    """
    name = str(hparams.get("task") or "classification").lower()
    if name not in TASKS:
        raise TaskError(f"task must be one of {', '.join(TASKS)}; got {hparams.get('task')!r}")
    if name == "classification":
        return ClassificationTask(hparams["labels"])
    options = dict(hparams.get("regression") or {})
    target = options.get("target_column") or value_column
    if not target:
        raise TaskError(
            "regression needs a target column: set regression: {target_column: NAME} "
            "(the corpus registers no value_column)"
        )
    loss = str(options.get("loss") or "mse").lower()
    if loss not in ("mse", "l1"):
        raise TaskError(f"regression loss must be mse or l1; got {options.get('loss')!r}")
    return RegressionTask(target, loss, float(options.get("binarize_at") or 0.0))
