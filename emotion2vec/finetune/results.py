"""The results of one train/valid/test split: ``results.json`` and ``results.md``.

Written by the custom recipe in every mode (frozen probe, partial and full
fine-tuning) from a test report of
:func:`emotion2vec.downstream.metrics.classification_report`: WA, UA, WF1
and macro-F1 on the test set, the validation scores of the checkpoint that
was tested, the confusion matrix with the user's labels (rows = true
class) and per-class precision / recall / F1 / support, plus
``confusion_matrix.png`` when matplotlib is installed.

Authors
 * emotion2vec-sb contributors
"""

import json
import logging
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence

from emotion2vec.downstream import plots
from emotion2vec.fileutils import staged_file

logger = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
TABLE_FILE = "results.md"
METRIC_KEYS = ("wa", "ua", "wf1", "macro_f1")


def split_summary(
    settings: Mapping[str, Any],
    labels: Sequence[str],
    report: Mapping[str, Any],
    sizes: Sequence[int],
    valid: Optional[Mapping[str, Any]] = None,
    best_epoch: Optional[int] = None,
) -> Dict[str, Any]:
    """The content of ``results.json``.

    Arguments
    ---------
    settings : mapping
        What the run depends on (mode, upstream, feature, split...).
    labels : sequence of str
        Class labels in output order.
    report : mapping
        Test :func:`~emotion2vec.downstream.metrics.classification_report`.
    sizes : sequence of int
        Train, valid and test sizes.
    valid : mapping, optional
        Validation ``WA`` / ``UA`` / ``WF1`` of the tested checkpoint.
    best_epoch : int, optional
        Its epoch.

    Returns
    -------
    dict
    """
    return {
        "settings": dict(settings),
        "labels": list(labels),
        "sizes": list(sizes),
        "best_epoch": best_epoch,
        "valid": dict(valid or {}),
        "test": {**{k: report[k] for k in METRIC_KEYS}, "num_samples": report["num_samples"]},
        "report": dict(report),
    }


def _pct(value) -> str:
    return "" if value is None else f"{100 * float(value):.2f}"


def results_table(summary: Mapping[str, Any]) -> str:
    """The markdown of ``results.md``.

    Arguments
    ---------
    summary : mapping
        Output of :func:`split_summary`.

    Returns
    -------
    str

    Example
    -------
    >>> from emotion2vec.downstream.metrics import classification_report
    >>> report = classification_report([0, 1, 1], [0, 1, 0], num_classes=2)
    >>> summary = split_summary({"mode": "finetune", "upstream": "base", "feature": "frm",
    ...     "split": "holdout_label"}, ["zen", "über"], report, [8, 3, 3], {"UA": 0.5}, 2)
    >>> print(results_table(summary).splitlines()[6])
    | finetune | base | frm | holdout_label | 66.67 | 75.00 | 66.67 | 66.67 |
    """
    settings, labels, report = summary["settings"], summary["labels"], summary["report"]
    test, valid = summary["test"], summary.get("valid") or {}
    sizes = " / ".join(str(s) for s in summary.get("sizes") or [])
    lines = [
        f"## {settings.get('corpus', 'custom')}: {settings.get('mode', '?')}, "
        f"{settings.get('upstream', '?')}",
        "",
        f"Test set ({test['num_samples']} utterances; train / valid / test = {sizes}); "
        f"checkpoint of epoch {summary.get('best_epoch')} (best validation "
        f"{settings.get('select_metric', '?')}).",
        "",
        "| Mode | Upstream | Feature | Split | WA (%) | UA (%) | WF1 (%) | macro-F1 (%) |",
        "|---|---|---|---|---|---|---|---|",
        f"| {settings.get('mode', '?')} | {settings.get('upstream', '?')} | "
        f"{settings.get('feature', '?')} | {settings.get('split', '?')} | {_pct(test['wa'])} | "
        f"{_pct(test['ua'])} | {_pct(test['wf1'])} | {_pct(test['macro_f1'])} |",
        "",
        f"Validation: WA {_pct(valid.get('WA'))}, UA {_pct(valid.get('UA'))}, "
        f"WF1 {_pct(valid.get('WF1'))}.",
        "",
        "Confusion matrix (rows: true class, columns: predicted):",
        "",
        "| true \\ predicted | " + " | ".join(labels) + " |",
        "|---|" + "---|" * len(labels),
    ]
    for label, row in zip(labels, report["confusion_matrix"]):
        lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + " |")
    lines += ["", "| Class | Precision (%) | Recall (%) | F1 (%) | Support |", "|---|---|---|---|---|"]
    for i, label in enumerate(labels):
        lines.append(
            f"| {label} | {_pct(report['precision'][i])} | {_pct(report['recall'][i])} | "
            f"{_pct(report['f1'][i])} | {report['support'][i]} |"
        )
    return "\n".join(lines) + "\n"


def write_split_results(out: Path, summary: Mapping[str, Any], plot: bool = True) -> None:
    """Writes ``results.json``, ``results.md`` (and ``confusion_matrix.png``).

    Arguments
    ---------
    out : Path
        Output folder.
    summary : mapping
        Output of :func:`split_summary`.
    plot : bool
        Draw the confusion matrix (needs matplotlib).
    """
    out = Path(out)
    with staged_file(out / RESULTS_FILE) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str) + "\n",
                       encoding="utf-8")
    (out / TABLE_FILE).write_text(results_table(summary), encoding="utf-8")
    if plot and plots.plots_available():
        plots.plot_confusion(
            summary["report"]["confusion_matrix"], summary["labels"], out / "confusion_matrix.png",
            f"{summary['settings'].get('mode', '')}: test set",
        )
    test = summary["test"]
    logger.info(
        "test: WA %.2f  UA %.2f  WF1 %.2f  macro-F1 %.2f -> %s", 100 * test["wa"],
        100 * test["ua"], 100 * test["wf1"], 100 * test["macro_f1"], out / TABLE_FILE,
    )
