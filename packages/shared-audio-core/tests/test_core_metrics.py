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


def test_classification_values_are_exact_float64():
    # torchmetrics computed these in float32: 1/3 came back as 0.3333333432674408.
    assert m.accuracy([0, 1, 1], [0, 0, 0]) == 1 / 3
    assert m.accuracy([0, 1, 1], [0, 1, 0]) == 2 / 3
    assert m.top_k_accuracy([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]], [0, 1, 0], k=1) == 1 / 3
    # class 0: 2·1/(2·1+0+1) = 2/3; class 1: 2·0/(0+1+0) = 0 → mean 1/3.
    assert m.macro_f1([0, 1], [0, 0]) == 1 / 3
    assert type(m.accuracy([0, 1, 1], [0, 0, 0])) is float


def test_top_k_accuracy_ties_go_to_the_lowest_class_index():
    # All three classes tie: the top-2 set is {0, 1}, so targets 0 and 1 hit and 2 misses.
    tie3 = [[0.4, 0.4, 0.4]] * 3
    assert m.top_k_accuracy(tie3, [0, 1, 2], k=2) == 2 / 3
    assert m.top_k_accuracy(tie3, [0, 1, 2], k=1) == m.accuracy(tie3, [0, 1, 2]) == 1 / 3
    # Classes 1, 3, 5, 7, 8 tie at the top; with k=2 only 1 and 3 are in: target 5 misses
    # (torch.topk, used before, picked 5 here).
    scores = [[0.0, 2.0, 0.0, 2.0, 1.0, 2.0, 1.0, 2.0, 2.0, 0.0]]
    assert m.top_k_accuracy(scores, [5], k=2) == 0.0
    assert m.top_k_accuracy(scores, [3], k=2) == 1.0
    assert m.top_k_accuracy(scores, [5], k=3) == 1.0
    # A strictly higher score outranks a lower index: classes 2, 1 beat 0 at k=2.
    assert m.top_k_accuracy([[0.1, 0.5, 0.6]], [0], k=2) == 0.0


# ---------------------------------------------------------------------------------- regression
def test_correlations_hand_values():
    # x=[1,2,3], y=[1,2,4]: cov 3, var_x 2, var_y 42/9 → r = 9/sqrt(84).
    assert m.pearson([1, 2, 3], [1, 2, 4]) == pytest.approx(9 / math.sqrt(84))
    # Ranks x=[1,2.5,2.5,4], y=[1,3,2,4]: cov 4.5, var 4.5 and 5 → rho = 4.5/sqrt(22.5).
    assert m.spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / math.sqrt(22.5), rel=1e-5)
    # 5 concordant, 0 discordant, 1 pair tied in x only: tau_b = 5/sqrt(5*6).
    assert m.kendall([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(5 / math.sqrt(30), rel=1e-6)
    assert m.pearson(torch.tensor([3.0, 2.0, 1.0]), np.array([1.0, 2.0, 3.0])) == pytest.approx(-1.0)


def test_r2_per_dimension_default_and_pooled():
    preds = np.array([[1.0, 2.0], [3.0, 4.0]])
    target = np.array([[1.0, 2.0], [3.0, 5.0]])
    # Column 0 perfect; column 1: SS_tot 4.5, SS_res 1. r2 is their mean.
    assert m.r2_per_dimension(preds, target) == pytest.approx([1.0, 1 - 1 / 4.5])
    assert m.r2(preds, target) == pytest.approx((1.0 + 1 - 1 / 4.5) / 2)
    # Pooled: mean 2.75, SS_tot 8.75, SS_res 1.
    assert m.r2_pooled(preds, target) == pytest.approx(1 - 1 / 8.75)
    assert m.r2([1.0, 2.0, 4.0], [1.0, 3.0, 4.0]) == m.r2_pooled([1.0, 2.0, 4.0], [1.0, 3.0, 4.0])
    assert m.mae(preds, target) == pytest.approx(0.25)
    assert m.rmse(preds, target) == pytest.approx(0.5)


def test_rank_correlations_are_exact():
    # torchmetrics' Spearman divides by std·std + 1e-6 (0.9999985 here) and its Kendall is float32.
    assert m.spearman([0.0, 1e-9, 2e-9], [1.0, 2.0, 3.0]) == 1.0
    assert m.spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / math.sqrt(22.5), rel=1e-14)
    assert m.kendall([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(5 / math.sqrt(30), rel=1e-14)
    assert m.pearson([1e300, -1e300, 0.0], [1.0, -1.0, 0.0]) == 1.0  # no overflow in Σx²


def test_r2_default_does_not_reward_predicting_dimension_means():
    # Three dimensions with very different means; the model predicts each dimension's mean (+ noise).
    rng = np.random.default_rng(0)
    target = np.array([0.1, 0.5, 0.9]) + 0.05 * rng.standard_normal((200, 3))
    preds = target.mean(axis=0) + 0.01 * rng.standard_normal((200, 3))
    assert m.r2_pooled(preds, target) > 0.9  # the flattering number, only under its own name
    assert m.r2(preds, target) < 0.0
    assert m.regression_report(preds, target).r2 == m.r2(preds, target)
    assert m.MetricsSuite().regression_r2(preds, target) == m.r2(preds, target)
    assert m.MetricsSuite().full_report(preds, target)["r2"] < 0.0


def test_on_constant_policy_is_honoured_everywhere():
    target = [[1.0, 4.0], [2.0, 4.0], [3.0, 4.0]]  # column 1 constant
    preds = [[1.0, 3.0], [2.0, 5.0], [3.0, 4.0]]
    # Column 0 is perfect; the constant column counts as 0.0 under "zero".
    assert m.r2(preds, target, on_constant="zero") == 0.5
    assert m.regression_report(preds, target, on_constant="zero").r2_per_dimension == (1.0, 0.0)
    with pytest.raises(UndefinedMetricError, match="dimension 1"):
        m.r2(preds, target, on_constant="raise")
    assert m.r2_pooled([1.0, 2.0], [3.0, 3.0], on_constant="zero") == 0.0
    difficulty = [1.0, 1.0, 1.0]
    assert m.difficulty_spearman(preds, difficulty, on_constant="zero").per_dimension == (0.0, 0.0)
    with pytest.raises(UndefinedMetricError, match="target constant"):
        m.difficulty_spearman(preds, difficulty, on_constant="raise")
    # The suite's methods follow the suite's policy (they ignored it and always raised).
    zero, strict = m.MetricsSuite(on_constant="zero"), m.MetricsSuite(on_constant="raise")
    assert zero.regression_r2(preds, target) == 0.5
    assert zero.difficulty_correlation(preds, difficulty).overall_rho == 0.0
    with pytest.raises(UndefinedMetricError):
        strict.regression_r2(preds, target)
    with pytest.raises(UndefinedMetricError):
        strict.difficulty_correlation(preds, difficulty)
    with pytest.raises(MetricInputError, match="on_constant"):
        m.pearson([1, 2], [1, 2], on_constant="skip")  # type: ignore[arg-type]
    with pytest.raises(MetricInputError, match="on_constant"):
        m.MetricsSuite(on_constant="Zero")  # type: ignore[arg-type]


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
    assert rep.r2 == pytest.approx(sum(m.r2_per_dimension(preds, target)) / 2)
    assert rep.r2 == m.r2(preds, target)
    assert rep.r2_pooled == m.r2_pooled(preds, target)
    assert rep.pearson_per_dimension == pytest.approx(tuple(m.per_dimension(m.pearson, preds, target)))
    assert rep.range_accuracy == 1.0  # every |err| <= 0.1
    assert set(rep.scalars()) == {
        "r2",
        "r2_pooled",
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
