"""Tests of emotion2vec.downstream.metrics on hand-computed cases
(definitions: datasets.md section 2.8, i.e. the scikit-learn functions)."""

import json

import numpy as np
import pytest
import torch

from emotion2vec.downstream.metrics import (
    average_reports,
    classification_report,
    confusion_matrix,
    macro_f1,
    sentiment_report,
    unweighted_accuracy,
    weighted_accuracy,
    weighted_f1,
)

# Three classes, supports 4 / 3 / 3.
TARGETS = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
PREDS = [0, 0, 1, 2, 1, 1, 0, 2, 2, 1]
# Confusion (row = target): [[2, 1, 1], [1, 2, 0], [0, 1, 2]]; column sums 3 / 4 / 3.
# WA  = (2 + 2 + 2) / 10 = 0.6
# recall    = 2/4, 2/3, 2/3            -> UA = (1/2 + 2/3 + 2/3) / 3 = 11/18
# precision = 2/3, 2/4, 2/3
# F1_0 = 2 * (2/3 * 1/2) / (2/3 + 1/2) = 4/7;  F1_1 = 4/7;  F1_2 = 2/3
# WF1  = (4 * 4/7 + 3 * 4/7 + 3 * 2/3) / 10 = (4 + 2) / 10 = 0.6
# macro-F1 = (4/7 + 4/7 + 2/3) / 3 = 38/63


def test_three_class_hand_computed():
    assert confusion_matrix(TARGETS, PREDS, 3).tolist() == [[2, 1, 1], [1, 2, 0], [0, 1, 2]]
    assert weighted_accuracy(TARGETS, PREDS) == pytest.approx(0.6)
    assert unweighted_accuracy(TARGETS, PREDS) == pytest.approx(11 / 18)
    assert weighted_f1(TARGETS, PREDS) == pytest.approx(0.6)
    assert macro_f1(TARGETS, PREDS) == pytest.approx(38 / 63)


def test_report_has_everything_and_is_json():
    report = classification_report(TARGETS, PREDS, num_classes=3)
    assert report["wa"] == pytest.approx(0.6)
    assert report["ua"] == pytest.approx(11 / 18)
    assert report["wf1"] == pytest.approx(0.6)
    assert report["macro_f1"] == pytest.approx(38 / 63)
    assert report["precision"] == pytest.approx([2 / 3, 1 / 2, 2 / 3])
    assert report["recall"] == pytest.approx([1 / 2, 2 / 3, 2 / 3])
    assert report["f1"] == pytest.approx([4 / 7, 4 / 7, 2 / 3])
    assert report["support"] == [4, 3, 3] and report["num_samples"] == 10
    json.dumps(report)


def test_class_never_predicted():
    # Class 2 is never predicted: precision 0/0 -> 0, recall 0, F1 0.
    # class 0: P = R = 1 -> F1 1; class 1: P = 2/4, R = 1 -> F1 2/3.
    # WA = 4/6; UA = (1 + 1 + 0) / 3 = 2/3; WF1 = (2*1 + 2*2/3 + 2*0) / 6 = 5/9;
    # macro-F1 = (1 + 2/3 + 0) / 3 = 5/9
    y, p = [0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 1, 1]
    report = classification_report(y, p, 3)
    assert report["wa"] == pytest.approx(4 / 6)
    assert report["ua"] == pytest.approx(2 / 3)
    assert report["wf1"] == pytest.approx(5 / 9)
    assert report["macro_f1"] == pytest.approx(5 / 9)
    assert report["precision"][2] == 0.0 and report["f1"][2] == 0.0


def test_missing_classes():
    # 4 classes declared; targets only use {0, 1}; class 3 is predicted but
    # never a target; class 2 appears nowhere.
    # UA over classes in targets: (1/2 + 1) / 2 = 3/4 (balanced_accuracy_score).
    # F1_0 = 2/3 (P 1, R 1/2), F1_1 = 1, F1_3 = 0 (P 0, no support).
    # macro-F1 over classes in targets or preds {0, 1, 3}: (2/3 + 1 + 0) / 3 = 5/9.
    # WF1 = (2 * 2/3 + 2 * 1) / 4 = 5/6; WA = 3/4.
    y, p = [0, 0, 1, 1], [0, 3, 1, 1]
    report = classification_report(y, p, num_classes=4)
    assert report["ua"] == pytest.approx(3 / 4)
    assert report["macro_f1"] == pytest.approx(5 / 9)
    assert report["wf1"] == pytest.approx(5 / 6)
    assert report["wa"] == pytest.approx(3 / 4)
    assert report["support"] == [2, 2, 0, 0]
    assert np.array(report["confusion_matrix"]).shape == (4, 4)
    # Functions without num_classes agree.
    assert unweighted_accuracy(y, p) == pytest.approx(3 / 4)
    assert macro_f1(y, p) == pytest.approx(5 / 9)


def test_perfect_and_all_wrong():
    y = [2, 0, 1, 1]
    assert classification_report(y, y)["wf1"] == 1.0
    report = classification_report([0, 0, 1, 1], [1, 1, 0, 0])
    assert report["wa"] == report["ua"] == report["wf1"] == report["macro_f1"] == 0.0


def test_input_types_agree():
    as_list = classification_report(TARGETS, PREDS, 3)
    as_numpy = classification_report(np.array(TARGETS, np.int32), np.array(PREDS), 3)
    as_torch = classification_report(torch.tensor(TARGETS), torch.tensor(PREDS), 3)
    as_float = classification_report(
        np.array(TARGETS, float), torch.tensor(PREDS, dtype=torch.float32), 3
    )
    assert as_list == as_numpy == as_torch == as_float
    assert weighted_accuracy(np.array([True, False]), [1, 1]) == 0.5


@pytest.mark.parametrize(
    "targets, preds, kwargs, problem",
    [
        ([0, 1], [0], {}, "differ in length"),
        ([], [], {}, "empty"),
        ([0, -1], [0, 0], {}, "negative"),
        ([0.5, 1], [0, 1], {}, "integer"),
        ([[0, 1]], [[0, 1]], {}, "1-D"),
        ([0, 3], [0, 1], {"num_classes": 3}, "out of range"),
    ],
)
def test_bad_inputs(targets, preds, kwargs, problem):
    with pytest.raises(ValueError, match=problem):
        confusion_matrix(targets, preds, **kwargs)


def test_sentiment_report_drops_zero_targets():
    # Kept (target != 0): targets +,+,-,+ ; preds +,-,-,+ -> binary y [1,1,0,1], p [1,0,0,1]
    # ACC-2 = 3/4; class 0: P 1/2, R 1 -> F1 2/3; class 1: P 1, R 2/3 -> F1 4/5
    # WF1 = (1 * 2/3 + 3 * 4/5) / 4 = 23/30
    report = sentiment_report([0.6, 0.0, 2.0, -1.0, 3.0], [1.2, -2.0, -0.1, -0.5, 0.4])
    assert report["num_samples"] == 4
    assert report["acc2"] == pytest.approx(3 / 4)
    assert report["wf1"] == pytest.approx(23 / 30)
    with pytest.raises(ValueError, match="non-zero"):
        sentiment_report([0.0, 0.0], [1.0, -1.0])


def test_average_reports_is_mean_of_folds():
    folds = [
        classification_report([0, 1], [0, 1]),
        classification_report([0, 1, 1, 1], [1, 1, 1, 1]),
    ]
    mean = average_reports(folds)
    assert mean["wa"] == pytest.approx((1.0 + 0.75) / 2)
    assert mean["ua"] == pytest.approx((1.0 + 0.5) / 2)
    assert mean["num_folds"] == 2 and "wa_std" in mean
    assert "support" not in mean and "num_samples" not in mean
    with pytest.raises(ValueError, match="no fold"):
        average_reports([])
    with pytest.raises(ValueError, match="missing"):
        average_reports([{"wa": 0.5}, {"ua": 0.5}], keys=["wa"])
