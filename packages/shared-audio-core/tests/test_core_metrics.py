"""Classification and regression metrics against values computed by hand in the comments."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from shared_audio_core import metrics as m
from shared_audio_core.metrics import MetricInputError, UndefinedMetricError

PREDS = [0, 1, 1, 2, 0]
TARGET = [0, 1, 2, 2, 1]


# ------------------------------------------------------------------------------ classification
def test_accuracy_labels_and_scores():
    assert m.accuracy([0, 1, 1, 2], [0, 1, 2, 2]) == pytest.approx(3 / 4)
    scores = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.0, 0.1, 0.9]])
    assert m.accuracy(scores, torch.tensor([0, 1, 2, 2])) == pytest.approx(3 / 4)
    assert m.accuracy(np.array([1, 1]), np.array([1, 1])) == 1.0


def test_top_k_accuracy():
    scores = [[0.1, 0.5, 0.4], [0.6, 0.3, 0.1], [0.2, 0.3, 0.5]]
    target = [2, 1, 0]
    # top-1 picks 1, 0, 2: none right. top-2 sets {1,2}, {0,1}, {2,1}: first two contain the target.
    assert m.top_k_accuracy(scores, target, k=1) == 0.0
    assert m.top_k_accuracy(scores, target, k=2) == pytest.approx(2 / 3)
    assert m.top_k_accuracy(scores, target, k=3) == 1.0
    with pytest.raises(MetricInputError, match="k must be in"):
        m.top_k_accuracy(scores, target, k=4)


def test_macro_f1_hand_value():
    # class 0: tp1 fp1 fn0 → F1 2/3; class 1: tp1 fp1 fn1 → 1/2; class 2: tp1 fp0 fn1 → 2/3.
    expected = (2 / 3 + 1 / 2 + 2 / 3) / 3
    assert m.macro_f1(PREDS, TARGET) == pytest.approx(expected, rel=1e-6)
    # A declared but absent class does not deflate the mean.
    assert m.macro_f1(PREDS, TARGET, num_classes=5) == pytest.approx(expected, rel=1e-6)


def test_confusion_matrix_counts_and_normalisation():
    cm = m.confusion_matrix(PREDS, TARGET)
    np.testing.assert_array_equal(cm, [[1, 0, 0], [1, 1, 0], [0, 1, 1]])
    assert cm.dtype == np.int64
    np.testing.assert_allclose(
        m.confusion_matrix(PREDS, TARGET, normalize="pred"), [[0.5, 0, 0], [0.5, 0.5, 0], [0, 0.5, 1.0]]
    )
    np.testing.assert_allclose(m.confusion_matrix(PREDS, TARGET, normalize="true")[1], [0.5, 0.5, 0])
    np.testing.assert_allclose(m.confusion_matrix(PREDS, TARGET, normalize="all").sum(), 1.0)
    four = m.confusion_matrix(PREDS, TARGET, num_classes=4, normalize="true")
    np.testing.assert_array_equal(four[3], [0, 0, 0, 0])  # class with no samples stays 0, not NaN


def test_classification_input_errors():
    with pytest.raises(MetricInputError, match="different lengths"):
        m.accuracy([0, 1], [0, 1, 1])
    with pytest.raises(MetricInputError, match="must be < num_classes=2"):
        m.macro_f1([0, 2], [0, 1], num_classes=2)
    with pytest.raises(MetricInputError, match="integers"):
        m.accuracy([0.5, 1.0], [0, 1])
    with pytest.raises(MetricInputError, match=">= 0"):
        m.accuracy([-1, 1], [0, 1])
    with pytest.raises(MetricInputError, match="NaN"):
        m.accuracy([[0.1, float("nan")]], [0])


# ---------------------------------------------------------------------------------- regression
def test_correlations_hand_values():
    # x=[1,2,3], y=[1,2,4]: cov 3, var_x 2, var_y 42/9 → r = 9/sqrt(84).
    assert m.pearson([1, 2, 3], [1, 2, 4]) == pytest.approx(9 / math.sqrt(84))
    # Ranks x=[1,2.5,2.5,4], y=[1,3,2,4]: cov 4.5, var 4.5 and 5 → rho = 4.5/sqrt(22.5).
    assert m.spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / math.sqrt(22.5), rel=1e-5)
    # 5 concordant, 0 discordant, 1 pair tied in x only: tau_b = 5/sqrt(5*6).
    assert m.kendall([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(5 / math.sqrt(30), rel=1e-6)
    assert m.pearson(torch.tensor([3.0, 2.0, 1.0]), np.array([1.0, 2.0, 3.0])) == pytest.approx(-1.0)


def test_r2_flattened_and_per_dimension():
    preds = np.array([[1.0, 2.0], [3.0, 4.0]])
    target = np.array([[1.0, 2.0], [3.0, 5.0]])
    # Flattened: mean 2.75, SS_tot 8.75, SS_res 1.
    assert m.r2(preds, target) == pytest.approx(1 - 1 / 8.75)
    # Column 0 perfect; column 1: SS_tot 4.5, SS_res 1.
    assert m.r2_per_dimension(preds, target) == pytest.approx([1.0, 1 - 1 / 4.5])
    assert m.mae(preds, target) == pytest.approx(0.25)
    assert m.rmse(preds, target) == pytest.approx(0.5)


def test_range_accuracy_inclusive_bound():
    # Errors 0.1 (float: 0.09999…/0.10000…01), 0.2, 0.0 with alpha 0.1 → 2/3.
    assert m.range_accuracy([0.3, 0.5, 0.9], [0.2, 0.7, 0.9], alpha=0.1) == pytest.approx(2 / 3)
    assert m.range_accuracy([0.3, 0.5, 0.9], [0.2, 0.7, 0.9], alpha=0.0) == pytest.approx(1 / 3)
    with pytest.raises(MetricInputError, match="alpha"):
        m.range_accuracy([0.0], [0.0], alpha=-1)


def test_constant_inputs_documented_behaviour():
    with pytest.raises(UndefinedMetricError, match="preds constant"):
        m.pearson([1, 1, 1], [1, 2, 3])
    with pytest.raises(UndefinedMetricError, match="target constant"):
        m.spearman([1, 2, 3], [5, 5, 5])
    assert m.kendall([1, 1, 1], [1, 2, 3], on_constant="zero") == 0.0
    # Constant predictions are fine for R²: [2,2,2] vs [1,2,3] → SS_res 2 = SS_tot → 0; [0,0,0] → 1 - 14/2.
    assert m.r2([2, 2, 2], [1, 2, 3]) == pytest.approx(0.0)
    assert m.r2([0, 0, 0], [1, 2, 3]) == pytest.approx(-6.0)
    with pytest.raises(UndefinedMetricError, match="target constant"):
        m.r2([1, 2, 3], [2, 2, 2])
    with pytest.raises(UndefinedMetricError, match="dimension 1"):
        m.r2_per_dimension([[1, 1], [2, 2], [3, 3]], [[1, 4], [2, 4], [3, 4]])


def test_regression_input_errors():
    with pytest.raises(MetricInputError, match="shapes differ"):
        m.mae([1.0, 2.0], [[1.0, 2.0]])
    with pytest.raises(MetricInputError, match="NaN or infinite"):
        m.rmse([1.0, float("inf")], [1.0, 2.0])
    with pytest.raises(MetricInputError, match="empty"):
        m.mae([], [])
    with pytest.raises(MetricInputError, match="at least 2"):
        m.pearson([1.0], [2.0])


def test_regression_report_collects_everything():
    preds = np.array([[0.1, 0.9], [0.4, 0.5], [0.8, 0.2], [0.5, 0.6]])
    target = np.array([[0.2, 0.8], [0.4, 0.4], [0.7, 0.3], [0.6, 0.6]])
    rep = m.regression_report(preds, target, alpha=0.1)
    assert rep.r2 == pytest.approx(m.r2(preds, target))
    assert rep.r2_mean == pytest.approx(sum(m.r2_per_dimension(preds, target)) / 2)
    assert rep.pearson_per_dimension == pytest.approx(tuple(m.per_dimension(m.pearson, preds, target)))
    assert rep.range_accuracy == 1.0  # every |err| <= 0.1
    assert set(rep.scalars()) == {
        "r2",
        "r2_mean",
        "pearson",
        "spearman",
        "kendall",
        "mae",
        "rmse",
        "range_acc",
    }
    assert rep.to_dict()["alpha"] == 0.1


def test_difficulty_spearman_hand_values():
    preds = [[0.1, 0.5], [0.5, 0.3], [0.9, 0.2]]
    difficulty = [1, 3, 2]
    # Mean prediction ranks 1,2,3 vs 1,3,2: Σd² = 2 → rho = 1 - 6·2/(3·8) = 0.5; column 1 ranks 3,2,1 → -0.5.
    res = m.difficulty_spearman(preds, difficulty)
    assert res.overall_rho == pytest.approx(0.5, rel=1e-5)
    assert res.per_dimension == pytest.approx((0.5, -0.5), rel=1e-5)
    assert res.to_dict(["timing", "pedal"])["per_dimension"] == pytest.approx(
        {"timing": 0.5, "pedal": -0.5}, rel=1e-5
    )
    with pytest.raises(MetricInputError, match="different lengths"):
        m.difficulty_spearman(preds, [1, 2])
