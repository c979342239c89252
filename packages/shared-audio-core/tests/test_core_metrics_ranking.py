"""Ranking, calibration, robustness, baselines and reporting against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from shared_audio_core import metrics as m
from shared_audio_core.metrics import MetricInputError, UndefinedMetricError
from torchmetrics.functional.classification import binary_calibration_error


# ------------------------------------------------------------------------------------- ranking
def test_pairwise_accuracy_seed_example_all_correct():
    logits = torch.tensor([[1.0, -1.0], [0.5, 0.8]])
    labels_a = torch.tensor([[0.8, 0.3], [0.6, 0.9]])
    labels_b = torch.tensor([[0.3, 0.8], [0.4, 0.5]])
    res = m.pairwise_accuracy(logits, labels_a, labels_b, threshold=0.05)
    assert res.overall == 1.0 and res.per_dimension == (1.0, 1.0)
    # Positional threshold and float() work for callers that only want the pooled number.
    assert float(m.pairwise_accuracy(logits, labels_a, labels_b, 0.45)) == 1.0


def test_pairwise_accuracy_counts_ambiguity_and_zero_logits():
    b = np.full((4, 2), 0.5)
    delta = np.array([[0.25, 0.015625], [0.375, -0.375], [-0.125, 0.03125], [0.5, 0.0]])
    logits = np.array([[1.0, 2.0], [-1.0, 0.5], [0.25, -0.25], [0.0, 1.0]])
    res = m.pairwise_accuracy(logits, b + delta, b, threshold=0.05)
    # dim 0: ✓, ✗ (wrong sign), ✗ (wrong sign), ✗ (logit 0 never correct) → 1/4.
    # dim 1: Δ 1/64 and 1/32 ambiguous, Δ 0 ignored; -0.375 vs +0.5 ✗ → 0/1.
    assert res.n_correct == (1, 0) and res.n_evaluated == (4, 1) and res.n_ignored == (0, 3)
    assert res.per_dimension == (0.25, 0.0)
    assert res.overall == pytest.approx(1 / 5)
    assert (res.total_correct, res.total_evaluated, res.total_ignored) == (1, 5, 3)
    assert res.to_dict(["timing", "pedal"])["per_dimension"] == {"timing": 0.25, "pedal": 0.0}


def test_pairwise_threshold_is_inclusive_and_dimension_can_be_empty():
    # |Δ| == threshold counts; |Δ| < threshold is ignored.
    res = m.pairwise_accuracy([[1.0, 1.0]], [[0.75, 0.625]], [[0.5, 0.5]], threshold=0.25)
    assert res.n_evaluated == (1, 0)
    assert res.per_dimension == (1.0, None)
    assert res.overall == 1.0
    assert m.pairwise_accuracy([1.0, -1.0], [0.9, 0.1], [0.1, 0.9]).per_dimension == (1.0,)


def test_pairwise_threshold_is_robust_to_float_rounding():
    # In float64 0.55 - 0.50 = 0.05000000000000004 and 0.35 - 0.30 = 0.04999999999999999: the same
    # |Δ| = 0.05 was counted once and ignored once. Both lie on the threshold, so both count.
    res = m.pairwise_accuracy([1.0, 1.0], [0.55, 0.35], [0.50, 0.30], threshold=0.05)
    assert res.n_evaluated == (2,) and res.overall == 1.0
    # The same in float32, whose rounding (~1e-8 here) exceeds the 1e-9 absolute slack.
    f32 = m.pairwise_accuracy(
        torch.tensor([1.0, 1.0]), torch.tensor([0.55, 0.35]), torch.tensor([0.50, 0.30]), threshold=0.05
    )
    assert f32.n_evaluated == (2,)
    # Genuinely below the threshold is still ignored; so is a Δ that is only rounding noise.
    assert m.pairwise_accuracy([1.0, 1.0], [0.55, 0.349], [0.50, 0.30]).n_evaluated == (1,)
    noise = m.pairwise_accuracy([1.0, 1.0], [0.3, 0.9], [0.1 + 0.2, 0.1], threshold=0.0)
    assert noise.n_evaluated == (1,) and noise.overall == 1.0
    # ranking_calibration uses the same rule: both on-threshold pairs are kept.
    rank = m.ranking_calibration([1.0, 1.0], [0.55, 0.35], [0.50, 0.30], threshold=0.05)
    assert int(rank.bin_counts.sum()) == 2
    within = m.pairwise_accuracy_within_pieces([[0.9], [0.1]], [[0.35], [0.30]], ["a", "a"])
    assert within.n_evaluated == (1,)


def test_pairwise_all_ambiguous_raises():
    with pytest.raises(UndefinedMetricError, match="all 4 entries"):
        m.pairwise_accuracy([[1.0, -1.0], [1.0, 1.0]], [[0.5, 0.5], [0.51, 0.5]], [[0.5, 0.5], [0.5, 0.5]])
    with pytest.raises(MetricInputError, match="shapes differ"):
        m.pairwise_accuracy([1.0, 2.0], [0.5], [0.2])
    with pytest.raises(MetricInputError, match="threshold"):
        m.pairwise_accuracy([1.0], [0.5], [0.2], threshold=-0.1)


def test_pairs_within_pieces_indices():
    pairs = m.pairs_within_pieces(["x", "y", "x", "y", "x", "z"])
    got = sorted(zip(pairs.index_a.tolist(), pairs.index_b.tolist(), strict=True))
    assert got == [(0, 2), (0, 4), (1, 3), (2, 4)]
    assert len(pairs) == 4
    assert len(m.pairs_within_pieces(np.array([1, 1, 1, 1]))) == 6  # C(4, 2)


def test_pairwise_accuracy_within_pieces_hand_value():
    preds = [[0.9], [0.1], [0.5], [0.4], [0.7]]
    labels = [[0.8], [0.2], [0.3], [0.6], [0.5]]
    # Pairs (0,1): logit +0.8, Δ +0.6 ✓; (2,3): logit +0.1, Δ -0.3 ✗; sample 4 is alone in its piece.
    res = m.pairwise_accuracy_within_pieces(preds, labels, ["a", "a", "b", "b", "c"])
    assert res.overall == 0.5 and res.n_evaluated == (2,)
    with pytest.raises(UndefinedMetricError, match="no piece has two"):
        m.pairwise_accuracy_within_pieces(preds, labels, ["a", "b", "c", "d", "e"])
    with pytest.raises(MetricInputError, match="4 piece ids for 5 samples"):
        m.pairwise_accuracy_within_pieces(preds, labels, ["a", "a", "b", "b"])


# --------------------------------------------------------------------------------- calibration
def test_ece_two_bins_hand_value():
    res = m.expected_calibration_error([0.9, 0.8, 0.3, 0.6], [1, 0, 1, 1], n_bins=2)
    # [0, .5): conf .3, acc 1 (1 sample); [.5, 1]: conf 2.3/3, acc 2/3 (3 samples).
    assert res.ece == pytest.approx(0.25 * 0.7 + 0.75 * abs(2 / 3 - 2.3 / 3))
    np.testing.assert_allclose(res.bin_edges, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(res.bin_counts, [1, 3])
    np.testing.assert_allclose(res.bin_confidence, [0.3, 2.3 / 3])
    np.testing.assert_allclose(res.bin_accuracy, [1.0, 2 / 3])
    # Agrees with torchmetrics when no confidence is exactly 1.0.
    tm = binary_calibration_error(torch.tensor([0.9, 0.8, 0.3, 0.6]), torch.tensor([1, 0, 1, 1]), n_bins=2)
    assert res.ece == pytest.approx(float(tm), rel=1e-6)


def test_ece_empty_bins_and_confidence_one():
    res = m.expected_calibration_error(
        np.array([0.9, 0.8, 0.3, 0.6]), np.array([True, False, True, True]), n_bins=4
    )
    # Bins [0,.25) empty; [.25,.5) .3 ✓; [.5,.75) .6 ✓; [.75,1] .9 ✓ .8 ✗ → .25·.7 + .25·.4 + .5·.35.
    assert res.ece == pytest.approx(0.45)
    np.testing.assert_array_equal(res.bin_counts, [0, 1, 1, 2])
    assert res.bin_confidence[0] == 0.0 and res.bin_accuracy[0] == 0.0
    assert res.n_bins == 4
    one = m.expected_calibration_error([1.0, 1.0], [1, 1], n_bins=10)
    assert one.bin_counts[-1] == 2 and one.ece == 0.0
    assert one.to_dict()["bin_counts"][-1] == 2


def test_ece_values_on_bin_edges_open_their_bin():
    # Edges 0, .1, …, 1: each k/10 opens bin k (1.0 closes the last bin). linspace's third edge is
    # 0.30000000000000004, which put a confidence of 0.3 into bin 2.
    conf = [k / 10 for k in range(11)]
    correct = [1, 0, 1, 0, 1, 1, 0, 1, 1, 0, 1]
    res = m.expected_calibration_error(conf, correct, n_bins=10)
    np.testing.assert_array_equal(res.bin_counts, [1] * 9 + [2])
    assert res.bin_edges.tolist() == conf
    # Hand value: bins 0–8 hold one value k/10 each, |acc − k/10|; bin 9 holds .9 ✗ and 1.0 ✓.
    per_bin = [abs(correct[k] - k / 10) for k in range(9)] + [2 * abs(0.5 - 0.95)]
    assert res.ece == pytest.approx(sum(per_bin) / 11, rel=1e-12)
    assert res.bin_confidence[3] == 0.3 and res.bin_accuracy[3] == 0.0
    hundred = m.expected_calibration_error([k / 100 for k in range(100)], [1] * 100, n_bins=100)
    np.testing.assert_array_equal(hundred.bin_counts, [1] * 100)  # 0.29 · 100 = 28.999999999999996
    # float32 confidences are compared in float32: float32(0.7) < 0.7 is still on the edge 7/10.
    f32 = m.expected_calibration_error(np.array([0.3, 0.7], dtype=np.float32), [1, 1], n_bins=10)
    assert f32.bin_counts[3] == 1 and f32.bin_counts[7] == 1
    probs = torch.tensor([[0.3, 0.2, 0.5], [0.7, 0.2, 0.1]])
    cls = m.classification_calibration(probs, [2, 0], n_bins=10)
    assert cls.bin_counts[5] == 1 and cls.bin_counts[7] == 1


def test_ece_input_errors():
    with pytest.raises(MetricInputError, match=r"\[0, 1\]"):
        m.expected_calibration_error([1.2], [1])
    with pytest.raises(MetricInputError, match="0/1"):
        m.expected_calibration_error([0.5], [2])
    with pytest.raises(MetricInputError, match="n_bins"):
        m.expected_calibration_error([0.5], [1], n_bins=0)


def test_classification_and_ranking_calibration():
    probs = [[0.7, 0.2, 0.1], [0.4, 0.6, 0.0], [0.5, 0.25, 0.25]]
    # Top-1 confidences .7 ✓, .6 ✗, .5 ✗ all in [.5, 1]: |1/3 - 0.6|.
    res = m.classification_calibration(probs, [0, 0, 2], n_bins=2)
    assert res.ece == pytest.approx(0.6 - 1 / 3)
    binary = m.classification_calibration([0.8, 0.3], [1, 1], n_bins=2)  # conf .8 ✓, .7 ✗
    assert binary.ece == pytest.approx(abs(0.5 - 0.75))
    # sigmoid(±ln 3) = .75 / .25 → confidence .75 twice; one right, one wrong; the ambiguous pair is dropped.
    logits = [math.log(3), -math.log(3), 5.0]
    rank = m.ranking_calibration(logits, [0.9, 0.9, 0.51], [0.4, 0.4, 0.5], n_bins=1)
    assert rank.ece == pytest.approx(0.25)
    assert int(rank.bin_counts.sum()) == 2
    with pytest.raises(UndefinedMetricError):
        m.ranking_calibration([1.0], [0.5], [0.5])


# ---------------------------------------------------------------------------------- robustness
def test_score_drop_pct():
    assert m.score_drop_pct(0.8, 0.6) == pytest.approx(25.0)
    assert m.score_drop_pct(0.5, 0.55) == pytest.approx(-10.0)
    with pytest.raises(UndefinedMetricError, match="non-positive"):
        m.score_drop_pct(0.0, 0.1)
    with pytest.raises(MetricInputError, match="finite"):
        m.score_drop_pct(float("nan"), 0.1)
    with pytest.raises(MetricInputError, match="finite"):
        m.score_drop_pct("0.8", 0.1)  # type: ignore[arg-type]
    assert m.score_drop_pct(np.float32(0.5), torch.tensor(0.25)) == pytest.approx(50.0)


def test_robustness_report_hand_values():
    clean = np.array([[1.0, 1.0], [2.0, 3.0], [3.0, 2.0]])
    aug = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 4.0]])
    res = m.robustness_report(clean, aug)
    # dim 0 identical → 1; dim 1 [1,3,2] vs [1,2,4] → 1 / sqrt(2 · 42/9) = 3/sqrt(84).
    assert res.pearson_per_dimension == pytest.approx((1.0, 3 / math.sqrt(84)))
    assert res.mean_pearson == pytest.approx((1 + 3 / math.sqrt(84)) / 2)
    assert res.score_drop_pct is None
    # With targets = clean: clean R² = 1; augmented per dimension: dim 0 → 1, dim 1 residuals
    # (0, 1, -2) over SS_tot 2 → 1 - 5/2; the default metric is their mean, -0.25.
    with_targets = m.robustness_report(clean, aug, targets=clean)
    assert with_targets.clean_metric == pytest.approx(1.0)
    assert with_targets.augmented_metric == pytest.approx(-0.25)
    assert with_targets.score_drop_pct == pytest.approx(125.0)
    with pytest.raises(UndefinedMetricError, match="dimension 1"):
        m.robustness_report(clean, np.array([[1.0, 2.0], [2.0, 2.0], [3.0, 2.0]]))


def test_score_drop_defaults_to_per_dimension_r2():
    # Dimension means 0.2 / 0.8 make pooled R² flattering: dimension 0 collapses to its mean under
    # augmentation, a ~50 % drop per dimension that pooled R² reports as 3.4 % (under a 15 % veto).
    targets = np.array([[0.1, 0.7], [0.2, 0.8], [0.3, 0.9]])
    clean = targets + np.array([[0.01, 0.0], [-0.01, 0.0], [0.0, 0.01]])
    aug = np.array([[0.2, 0.7], [0.2, 0.8], [0.2, 0.9]])  # dimension 0 predicts its mean
    res = m.robustness_report(clean, aug, targets=targets, on_constant="zero")
    assert res.clean_metric == m.r2(clean, targets)
    assert res.augmented_metric == pytest.approx((0.0 + 1.0) / 2)
    assert res.score_drop_pct == pytest.approx(m.score_drop_pct(m.r2(clean, targets), 0.5))
    assert m.score_drop_pct(m.r2_pooled(clean, targets), m.r2_pooled(aug, targets)) < 5.0
    assert res.score_drop_pct > 45.0


# ----------------------------------------------------------------------------------- baselines
def test_baseline_predictions():
    np.testing.assert_allclose(m.mean_predictions([[1.0, 2.0], [3.0, 4.0]], 3), [[2.0, 3.0]] * 3)
    r1 = m.random_predictions(50, 3, low=0.2, high=0.4, seed=7)
    assert r1.shape == (50, 3) and r1.min() >= 0.2 and r1.max() < 0.4
    np.testing.assert_array_equal(r1, m.random_predictions(50, 3, low=0.2, high=0.4, seed=7))
    assert not np.array_equal(r1, m.random_predictions(50, 3, low=0.2, high=0.4, seed=8))


def test_linear_regression_closed_form():
    # x = [0,1,2], y = [1,2,4]: slope Σdxdy/Σdx² = 3/2, intercept 7/3 - 3/2.
    model = m.LinearRegressionBaseline().fit([[0.0], [1.0], [2.0]], [1.0, 2.0, 4.0])
    assert model.coef_[0, 0] == pytest.approx(1.5)
    assert model.intercept_[0] == pytest.approx(7 / 3 - 1.5)
    np.testing.assert_allclose(model.predict([[3.0]]), [[7 / 3 + 1.5 * 2]])
    ridge = m.LinearRegressionBaseline(ridge=1.0).fit([[0.0], [1.0], [2.0]], [1.0, 2.0, 4.0])
    assert ridge.coef_[0, 0] == pytest.approx(3 / (2 + 1))  # Σdxdy / (Σdx² + λ)
    with pytest.raises(MetricInputError, match="before fit"):
        m.LinearRegressionBaseline().predict([[1.0]])


def test_evaluate_baselines():
    rng = np.random.default_rng(0)
    x_train, x_test = rng.normal(size=(40, 3)), rng.normal(size=(10, 3))
    w = np.array([[0.5, -0.2], [0.1, 0.3], [0.0, 0.2]])
    table = m.evaluate_baselines(x_train, x_train @ w + 0.5, x_test, x_test @ w + 0.5, seed=1)
    assert set(table) == {"random", "train_mean", "linear_regression"}
    assert table["linear_regression"]["r2"] == pytest.approx(1.0)
    assert table["train_mean"]["r2"] <= 0.0  # a constant never beats the test mean per column
    assert table["train_mean"]["r2_pooled"] > table["train_mean"]["r2"]
    # Pooled over dimensions the train-mean predictions differ per column, so Pearson is defined;
    # with one dimension they are constant and reported as 0.0 (on_constant="zero").
    single = m.evaluate_baselines(x_train, x_train @ w[:, 0], x_test, x_test @ w[:, 0])
    assert single["train_mean"]["pearson"] == 0.0
    assert single["linear_regression"]["pearson"] == pytest.approx(1.0)
    assert table["random"]["r2"] < table["linear_regression"]["r2"]


# ------------------------------------------------------------------------------------- reports
def test_format_comparison_table_exact():
    results = {
        "A1": {"r2": 0.55, "pairwise": 0.85, "gpu_hours": 2.5},
        "A2": {"r2": 0.58, "pairwise": 0.85, "gpu_hours": 8.0, "mae": 0.1},
    }
    table = m.format_comparison_table(results, precision=2)
    assert table == (
        "| model | r2 | pairwise | gpu_hours | mae |\n"
        "|---|---:|---:|---:|---:|\n"
        "| A1 | 0.55 | **0.85** | **2.50** | – |\n"
        "| A2 | **0.58** | **0.85** | 8.00 | **0.10** |\n"
    )
    only = m.format_comparison_table(results, columns=["gpu_hours"], lower_is_better=())
    assert "| A2 | **8.000** |" in only
    with pytest.raises(MetricInputError, match="A1/r2"):
        m.format_comparison_table({"A1": {"r2": float("nan")}})
    with pytest.raises(MetricInputError, match="at least one"):
        m.format_comparison_table({})


def test_metrics_suite_full_report():
    preds = np.array([[0.9, 0.2], [0.1, 0.7], [0.5, 0.4], [0.4, 0.6]])
    targets = np.array([[0.8, 0.3], [0.2, 0.6], [0.3, 0.5], [0.6, 0.6]])
    suite = m.MetricsSuite(ambiguous_threshold=0.05)
    row = suite.full_report(
        preds,
        targets,
        piece_ids=["a", "a", "b", "b"],
        difficulties=[1.0, 2.0, 3.0, 4.0],
        augmented_predictions=preds + np.array([[0.01, -0.02], [0.0, 0.01], [-0.01, 0.0], [0.02, 0.0]]),
    )
    assert row["r2"] == m.r2(preds, targets)
    assert row["r2_pooled"] == m.r2_pooled(preds, targets)
    # Piece a: dim0 logit .8 Δ .6 ✓, dim1 logit -.5 Δ -.3 ✓; piece b: dim0 .1 vs -.3 ✗, dim1 -.2 vs -.1 ✓.
    assert row["pairwise"] == pytest.approx(3 / 4)
    assert row["difficulty_rho"] == pytest.approx(
        m.spearman(preds.mean(axis=1), [1.0, 2.0, 3.0, 4.0]), rel=1e-6
    )
    augmented = preds + np.array([[0.01, -0.02], [0.0, 0.01], [-0.01, 0.0], [0.02, 0.0]])
    assert row["robustness_pearson"] == pytest.approx(
        np.mean([np.corrcoef(preds[:, d], augmented[:, d])[0, 1] for d in range(2)]), rel=1e-6
    )

    # Mean per-dimension R² drops from clean to augmented: (R²_clean − R²_aug) / R²_clean · 100.
    # (Pooled R² would even report a -1.8 % "drop", i.e. an improvement.)
    def mean_r2(p: np.ndarray) -> float:
        return float(np.mean(1 - ((p - targets) ** 2).sum(0) / ((targets - targets.mean(0)) ** 2).sum(0)))

    r2_clean, r2_aug = mean_r2(preds), mean_r2(augmented)
    assert row["score_drop_pct"] == pytest.approx((r2_clean - r2_aug) / r2_clean * 100, rel=1e-9)
    assert row["score_drop_pct"] == pytest.approx(6.3195164, rel=1e-6)
    explicit = suite.full_report(preds, targets, pair_logits=[1.0], labels_a=[0.9], labels_b=[0.1])
    assert explicit["pairwise"] == 1.0
    with pytest.raises(MetricInputError, match="together"):
        suite.full_report(preds, targets, pair_logits=[1.0])
    assert suite.pairwise_accuracy([1.0], [0.9], [0.1]).overall == 1.0
    assert suite.regression_r2(preds, targets) == row["r2"]
    assert m.format_comparison_table({"model": row}).count("**") == 2 * len(row)


_unit = st.floats(0.0, 1.0, allow_nan=False, width=32)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.floats(-5, 5, allow_nan=False, width=32), _unit, _unit), min_size=1, max_size=30
    )
)
def test_pairwise_accuracy_is_antisymmetric_and_scale_invariant(rows):
    logits = np.array([r[0] for r in rows])
    a = np.array([r[1] for r in rows])
    b = np.array([r[2] for r in rows])
    try:
        forward = m.pairwise_accuracy(logits, a, b)
    except UndefinedMetricError:
        assert np.all((np.abs(a - b) < 0.05) | (a == b))
        return
    swapped = m.pairwise_accuracy(-logits, b, a)
    scaled = m.pairwise_accuracy(3.0 * logits, a, b)
    assert forward == swapped == scaled
    assert forward.total_evaluated + forward.total_ignored == len(rows)
    assert 0.0 <= forward.overall <= 1.0
