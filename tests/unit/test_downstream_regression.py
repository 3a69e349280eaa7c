"""The regression task of the downstream machinery (MOSI/MOSEI, MERBench practice):
its metrics, task selection of rows, checkpoint ranking, and what it refuses."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from emotion2vec.corpora import CORPORA, register_corpus
from emotion2vec.downstream.crossval import aggregate, results_table, with_corpus_defaults
from emotion2vec.downstream.export import ExportError, export_downstream
from emotion2vec.downstream.metrics import mean_absolute_error, pearson_r, regression_report
from emotion2vec.downstream.regression import RegressionBrain
from emotion2vec.downstream.tasks import ClassificationTask, RegressionTask, TaskError, make_task
from emotion2vec.model.heads import LinearHead


def test_regression_report_binarises_off_the_threshold():
    targets = [-1.2, 0.0, 2.0, 0.4, 1.0, -0.6]
    preds = [-0.3, 1.0, 1.5, -0.2, 0.5, 0.1]
    report = regression_report(targets, preds)
    # kept (target != 0): y = [0, 1, 1, 1, 0], p = [0, 1, 0, 1, 1]
    assert report["num_samples"] == 6 and report["num_binary"] == 5
    assert report["acc2"] == pytest.approx(3 / 5)
    assert report["confusion_matrix"] == [[1, 1], [1, 2]] and report["support"] == [2, 3]
    # class 0: P 1/2 R 1/2 F1 1/2; class 1: P 2/3 R 2/3 F1 2/3 -> WF1 (2 * 1/2 + 3 * 2/3) / 5
    assert report["wf1"] == pytest.approx(3 / 5)
    assert report["mae"] == pytest.approx(np.mean(np.abs(np.subtract(targets, preds))))
    assert report["pearson"] == pytest.approx(np.corrcoef(targets, preds)[0, 1])
    shifted = regression_report([2.0, 3.0, 4.0], [2.5, 2.0, 5.0], threshold=3.0)
    assert shifted["num_binary"] == 2 and shifted["acc2"] == 1.0


def test_regression_report_edge_cases():
    only_zero = regression_report([0.0, 0.0], [0.3, -0.2])
    assert only_zero["num_binary"] == 0 and only_zero["acc2"] == only_zero["wf1"] == 0.0
    assert pearson_r([1.0, 2.0, 3.0], [0.5, 0.5, 0.5]) == 0.0
    assert mean_absolute_error(np.array([1.0]), np.array([-1.0])) == 2.0
    with pytest.raises(ValueError, match="finite"):
        regression_report([1.0, float("nan")], [0.0, 0.0])
    with pytest.raises(ValueError, match="differ in length"):
        regression_report([1.0], [0.0, 0.0])


def test_tasks_select_their_rows():
    rows = [dict(ID="a", label="positive", score="1.2"), dict(ID="b", label="", score="0"),
            dict(ID="c", label="", score=""), dict(ID="d", label="negative", score="nan")]
    assert [r["ID"] for r in ClassificationTask(["negative", "positive"]).select(rows)] == ["a", "d"]
    task = make_task({"task": "regression", "regression": {"target_column": None}}, "score")
    assert isinstance(task, RegressionTask) and [r["ID"] for r in task.select(rows)] == ["a", "b"]
    with pytest.raises(TaskError, match="'valence' is not in the manifest"):
        RegressionTask("valence").select(rows)
    with pytest.raises(TaskError, match="needs a target column"):
        make_task({"task": "regression"})
    with pytest.raises(TaskError, match="mse or l1"):
        make_task({"task": "regression", "regression": {"loss": "huber"}}, "score")
    assert make_task({"labels": ["x", "y"]}).name == "classification"


def test_labels_from_a_manifest_skip_unlabelled_rows():
    register_corpus("doctest_unlabelled", protocols={"predefined": {}})(lambda src, out: out)
    try:
        rows = [dict(ID="a", label="b"), dict(ID="b", label=""), dict(ID="c", label="a")]
        filled = with_corpus_defaults({"corpus": "doctest_unlabelled", "labels": None,
                                       "protocol": None, "fold_options": {}}, rows)
        assert filled["labels"] == ["a", "b"] and filled["protocol"] == "predefined"
    finally:
        CORPORA.pop("doctest_unlabelled")


def test_checkpoints_ranked_by_the_regression_metric():
    brain = RegressionBrain({"head": LinearHead(2, 1)}, None, {"select_metric": "mae"},
                            run_opts={"device": "cpu"})
    ckpts = [dict(MAE=0.9, epoch=1), dict(MAE=0.7, epoch=2), dict(MAE=0.7, epoch=3), dict(MAE=0.8, epoch=4)]
    best = max(ckpts, key=lambda meta: brain.checkpoint_rank(SimpleNamespace(meta=meta)))
    assert best["epoch"] == 2  # smallest MAE, earliest of a tie
    brain.hparams.select_metric = "pearson"
    assert brain.checkpoint_rank(SimpleNamespace(meta=dict(PEARSON=0.3, epoch=1)))[0] == 0.3
    brain.hparams.select_metric = "WA"
    with pytest.raises(ValueError, match="select_metric must be one of .*MAE"):
        brain.select_metric


def test_regression_summary_and_table():
    folds = [dict(fold="predefined", sizes=[7, 3, 3], best_epoch=2,
                  valid={"WF1": 0.5, "ACC2": 0.5, "MAE": 0.4, "PEARSON": 0.1},
                  wf1=0.6, acc2=0.7, mae=0.8123, pearson=0.25,
                  report={"confusion_matrix": [[1, 0], [1, 1]]})]
    settings = {"corpus": "mosi", "protocol": "predefined", "feature": "last4",
                "upstream": {"name": "emotion2vec_base"}, "head": {"type": "linear"}}
    summary = aggregate(folds, settings, RegressionTask.metric_keys)
    table = results_table(summary, RegressionTask.table_keys)
    assert "| WF1 (%) | ACC-2 (%) | MAE | Pearson r |" in table
    assert "| 60.00 ± 0.00 | 70.00 ± 0.00 | 0.8123 ± 0.0000 | 0.2500 ± 0.0000 |" in table
    assert "| predefined | 7 / 3 / 3 | 2 | 50.00 | 60.00 | 70.00 | 0.8123 | 0.2500 |" in table


def test_a_regression_run_is_not_exported_as_a_classifier(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"task": {"name": "regression"}}))
    with pytest.raises(ExportError, match="is a regression run; only classification heads"):
        export_downstream(tmp_path, tmp_path / "export")
