"""Every public metric against an independent reference: sklearn, scipy.stats or a brute-force loop.

Data are drawn on small grids so ties and constant columns are common, plus decimal values that
sit exactly on ECE bin edges and pairwise thresholds. The references state the documented rules
in the most literal way (decimal arithmetic for edges and thresholds, explicit loops), not by
re-running the implementation's vectorised code.
"""

from __future__ import annotations

import itertools
import math
from decimal import Decimal

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from shared_audio_core import metrics as m
from shared_audio_core.metrics import UndefinedMetricError
from sklearn import metrics as skm
from sklearn.linear_model import LinearRegression, Ridge

EXAMPLES = settings(max_examples=60, deadline=None)
REL = 1e-9

# Values: a few repeated numbers (ties, constant columns) or a fine exact-binary grid.
_value = st.one_of(
    st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0]),
    st.integers(-640, 640).map(lambda k: k / 64),
)


@st.composite
def _regression(draw: st.DrawFn, min_rows: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """``preds, target`` of shape ``[N, D]``; sometimes a target column is forced constant."""
    n = draw(st.integers(min_rows, 25))
    d = draw(st.integers(1, 4))
    cells = st.lists(_value, min_size=n * d, max_size=n * d)
    preds = np.array(draw(cells)).reshape(n, d)
    target = np.array(draw(cells)).reshape(n, d)
    if draw(st.booleans()) and draw(st.booleans()):
        target[:, draw(st.integers(0, d - 1))] = draw(_value)
    return preds, target


@st.composite
def _classes(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    c = draw(st.integers(2, 6))
    n = draw(st.integers(1, 30))
    labels = st.lists(st.integers(0, c - 1), min_size=n, max_size=n)
    return np.array(draw(labels)), np.array(draw(labels)), c


def _constant(x: np.ndarray) -> bool:
    return bool(np.all(x == x.flat[0]))


# ------------------------------------------------------------------------------ classification
@EXAMPLES
@given(_classes())
def test_label_metrics_match_sklearn(data):
    preds, target, c = data
    assert m.accuracy(preds, target) == skm.accuracy_score(target, preds)
    expected_f1 = skm.f1_score(target, preds, average="macro", zero_division=0)
    assert m.macro_f1(preds, target) == pytest.approx(expected_f1, rel=1e-12)
    assert m.macro_f1(preds, target, num_classes=c + 2) == pytest.approx(expected_f1, rel=1e-12)
    labels = list(range(c))
    cm = m.confusion_matrix(preds, target, num_classes=c)
    np.testing.assert_array_equal(cm, skm.confusion_matrix(target, preds, labels=labels))
    for how in ("true", "pred", "all"):
        np.testing.assert_allclose(
            m.confusion_matrix(preds, target, num_classes=c, normalize=how),
            skm.confusion_matrix(target, preds, labels=labels, normalize=how),
            rtol=1e-12,
        )


@EXAMPLES
@given(data=st.data())
def test_top_k_accuracy_matches_brute_force_and_sklearn(data):
    c = data.draw(st.integers(1, 7))
    n = data.draw(st.integers(1, 20))
    k = data.draw(st.integers(1, c))
    scores = np.array(data.draw(st.lists(st.integers(0, 3), min_size=n * c, max_size=n * c)), float)
    scores = scores.reshape(n, c)
    target = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    # Brute force of the documented rule: order classes by (-score, index), take the first k.
    hits = 0
    for row, y in zip(scores, target, strict=True):
        order = sorted(range(c), key=lambda j, row=row: (-row[j], j))
        hits += y in order[:k]
    got = m.top_k_accuracy(scores, target, k=k)
    assert got == hits / n
    if c >= 3 and k < c:
        # sklearn breaks ties towards the *highest* index: mirror the class order to compare.
        mirrored = skm.top_k_accuracy_score(c - 1 - target, scores[:, ::-1], k=k, labels=list(range(c)))
        assert got == pytest.approx(mirrored, rel=1e-12)
    assert m.top_k_accuracy(scores, target, k=1) == m.accuracy(scores, target)


# ---------------------------------------------------------------------------------- regression
@EXAMPLES
@given(_regression())
def test_errors_and_r2_match_sklearn(data):
    preds, target = data
    flat_p, flat_t = preds.ravel(), target.ravel()
    assert m.mae(preds, target) == pytest.approx(skm.mean_absolute_error(flat_t, flat_p), rel=1e-12)
    assert m.rmse(preds, target) == pytest.approx(
        math.sqrt(skm.mean_squared_error(flat_t, flat_p)), rel=1e-12, abs=1e-15
    )
    constant_cols = [_constant(target[:, d]) for d in range(target.shape[1])]
    if any(constant_cols):
        with pytest.raises(UndefinedMetricError, match="dimension"):
            m.r2(preds, target)
        raw = [
            0.0 if const else skm.r2_score(target[:, d], preds[:, d]) for d, const in enumerate(constant_cols)
        ]
        assert m.r2_per_dimension(preds, target, on_constant="zero") == pytest.approx(raw, rel=REL, abs=1e-12)
        assert m.r2(preds, target, on_constant="zero") == pytest.approx(np.mean(raw), rel=REL, abs=1e-12)
    else:
        raw = skm.r2_score(target, preds, multioutput="raw_values")
        assert m.r2_per_dimension(preds, target) == pytest.approx(raw.tolist(), rel=REL, abs=1e-12)
        uniform = skm.r2_score(target, preds, multioutput="uniform_average")
        assert m.r2(preds, target) == pytest.approx(uniform, rel=REL, abs=1e-12)
        report = m.regression_report(preds, target, on_constant="zero")
        assert report.r2 == pytest.approx(uniform, rel=REL, abs=1e-12)
        # variance_weighted is 1 − ΣSS_res / Σ(per-column SS_tot): neither default nor pooled.
        weighted = skm.r2_score(target, preds, multioutput="variance_weighted")
        ss_res = ((target - preds) ** 2).sum(0)
        ss_tot = ((target - target.mean(0)) ** 2).sum(0)
        assert weighted == pytest.approx(1 - ss_res.sum() / ss_tot.sum(), rel=REL, abs=1e-12)
    if _constant(flat_t):
        assert m.r2_pooled(preds, target, on_constant="zero") == 0.0
    else:
        assert m.r2_pooled(preds, target) == pytest.approx(skm.r2_score(flat_t, flat_p), rel=REL, abs=1e-12)


@EXAMPLES
@given(_regression())
def test_correlations_match_scipy(data):
    preds, target = data
    x, y = preds.ravel(), target.ravel()
    cases = [
        (m.pearson, stats.pearsonr),
        (m.spearman, stats.spearmanr),
        (m.kendall, stats.kendalltau),  # tau-b, scipy's default variant
    ]
    for ours, reference in cases:
        if _constant(x) or _constant(y):
            with pytest.raises(UndefinedMetricError, match="constant"):
                ours(preds, target)
            assert ours(preds, target, on_constant="zero") == 0.0
        else:
            expected = float(reference(x, y)[0])
            assert ours(preds, target) == pytest.approx(expected, rel=REL, abs=1e-12)
            assert ours(preds, target, on_constant="zero") == ours(preds, target)


@EXAMPLES
@given(_regression(), st.sampled_from([0.0, 0.1, 0.25, 0.5]))
def test_range_accuracy_and_per_dimension_match_loops(data, alpha):
    preds, target = data
    flat = list(zip(preds.ravel().tolist(), target.ravel().tolist(), strict=True))
    # Grid values make |p − t| exact, so the inclusive bound needs no slack here.
    assert m.range_accuracy(preds, target, alpha) == sum(abs(p - t) <= alpha for p, t in flat) / len(flat)
    assert m.per_dimension(m.mae, preds, target) == pytest.approx(
        [float(np.mean(np.abs(preds[:, d] - target[:, d]))) for d in range(preds.shape[1])], rel=1e-12
    )


@EXAMPLES
@given(_regression(min_rows=3), st.lists(_value, min_size=25, max_size=25))
def test_difficulty_spearman_matches_scipy(data, difficulty):
    preds, _ = data
    d = np.array(difficulty[: len(preds)])
    series = [preds.mean(axis=1)] + [preds[:, k] for k in range(preds.shape[1])]
    if _constant(d) or any(_constant(s) for s in series):
        res = m.difficulty_spearman(preds, d, on_constant="zero")
        expected = [0.0 if _constant(d) or _constant(s) else stats.spearmanr(s, d)[0] for s in series]
        with pytest.raises(UndefinedMetricError):
            m.difficulty_spearman(preds, d)
    else:
        res = m.difficulty_spearman(preds, d)
        expected = [stats.spearmanr(s, d)[0] for s in series]
    assert [res.overall_rho, *res.per_dimension] == pytest.approx(expected, rel=REL, abs=1e-12)


# ------------------------------------------------------------------------------------- ranking
_DECIMAL_LABELS = [0.3, 0.35, 0.5, 0.55, 0.25, 0.45, 0.6, 0.4, 0.7, 0.65]


def _decisive(a: float, b: float, threshold: float) -> bool:
    """Documented rule in exact decimal arithmetic: |Δ| >= threshold and Δ != 0."""
    delta = abs(Decimal(repr(float(a))) - Decimal(repr(float(b))))
    return delta >= Decimal(repr(float(threshold))) and delta != 0


@EXAMPLES
@given(data=st.data())
def test_pairwise_accuracy_matches_double_loop(data):
    n = data.draw(st.integers(1, 20))
    d = data.draw(st.integers(1, 3))
    threshold = data.draw(st.sampled_from([0.0, 0.05, 0.1, 0.25]))
    labels = st.lists(st.sampled_from(_DECIMAL_LABELS), min_size=n * d, max_size=n * d)
    a = np.array(data.draw(labels)).reshape(n, d)
    b = np.array(data.draw(labels)).reshape(n, d)
    logits = np.array(data.draw(st.lists(st.integers(-2, 2), min_size=n * d, max_size=n * d)), float)
    logits = logits.reshape(n, d)
    correct, evaluated = [0] * d, [0] * d
    for i in range(n):
        for k in range(d):
            if _decisive(a[i, k], b[i, k], threshold):
                evaluated[k] += 1
                correct[k] += bool(np.sign(logits[i, k]) == np.sign(a[i, k] - b[i, k]))
    for dtype in (np.float64, np.float32):
        args = (logits.astype(dtype), a.astype(dtype), b.astype(dtype))
        if sum(evaluated) == 0:
            with pytest.raises(UndefinedMetricError):
                m.pairwise_accuracy(*args, threshold=threshold)
            continue
        res = m.pairwise_accuracy(*args, threshold=threshold)
        assert res.n_evaluated == tuple(evaluated) and res.n_correct == tuple(correct)
        assert res.overall == sum(correct) / sum(evaluated)
        assert res.per_dimension == tuple(
            c / e if e else None for c, e in zip(correct, evaluated, strict=True)
        )


@EXAMPLES
@given(data=st.data())
def test_within_piece_pairs_match_double_loop(data):
    n = data.draw(st.integers(2, 12))
    pieces = data.draw(st.lists(st.sampled_from("abc"), min_size=n, max_size=n))
    preds = np.array(data.draw(st.lists(_value, min_size=n, max_size=n)))
    labels = np.array(data.draw(st.lists(st.sampled_from(_DECIMAL_LABELS), min_size=n, max_size=n)))
    expected_pairs = [(i, j) for i, j in itertools.combinations(range(n), 2) if pieces[i] == pieces[j]]
    pairs = m.pairs_within_pieces(pieces)
    assert sorted(zip(pairs.index_a.tolist(), pairs.index_b.tolist(), strict=True)) == expected_pairs
    correct = evaluated = 0
    for i, j in expected_pairs:
        if _decisive(labels[i], labels[j], 0.05):
            evaluated += 1
            correct += bool(np.sign(preds[i] - preds[j]) == np.sign(labels[i] - labels[j]))
    if evaluated == 0:
        with pytest.raises(UndefinedMetricError):
            m.pairwise_accuracy_within_pieces(preds, labels, pieces)
        return
    res = m.pairwise_accuracy_within_pieces(preds, labels, pieces)
    assert (res.n_correct, res.n_evaluated) == ((correct,), (evaluated,))


# --------------------------------------------------------------------------------- calibration
_N_BINS = [1, 2, 4, 5, 8, 10, 20]  # k / n_bins is a short decimal: exact Decimal edges below
_confidence = st.one_of(
    st.integers(0, 20).map(lambda k: k / 20),  # exactly on edges
    st.integers(0, 100).map(lambda k: k / 100),
    st.floats(0.0, 1.0, allow_nan=False, allow_subnormal=False),
)


def _reference_ece(conf: list[float], hit: list[float], n_bins: int, text=repr) -> tuple[float, list[int]]:
    """Per-bin loop; bin of a value = floor(value · n_bins) in exact decimals, 1.0 in the last bin.

    ``text`` gives the decimal the value stands for (the shortest repr in the value's own dtype).
    """
    ece, counts = 0.0, []
    for b in range(n_bins):
        members = [i for i, c in enumerate(conf) if min(int(Decimal(text(c)) * n_bins), n_bins - 1) == b]
        counts.append(len(members))
        if members:
            acc = sum(hit[i] for i in members) / len(members)
            mean_conf = sum(conf[i] for i in members) / len(members)
            ece += len(members) / len(conf) * abs(acc - mean_conf)
    return ece, counts


@EXAMPLES
@given(
    st.lists(st.tuples(_confidence, st.booleans()), min_size=1, max_size=40),
    st.sampled_from(_N_BINS),
)
def test_ece_matches_per_bin_loop(rows, n_bins):
    conf = [c for c, _ in rows]
    hit = [float(h) for _, h in rows]
    res = m.expected_calibration_error(conf, hit, n_bins=n_bins)
    ece, counts = _reference_ece(conf, hit, n_bins)
    assert res.bin_counts.tolist() == counts
    assert res.ece == pytest.approx(ece, rel=1e-12, abs=1e-15)
    assert res.bin_edges.tolist() == [k / n_bins for k in range(n_bins + 1)]
    # float32 confidences: binned by the decimal their float32 value stands for.
    conf32 = np.array(conf, dtype=np.float32)
    res32 = m.expected_calibration_error(conf32, hit, n_bins=n_bins)
    ece32, counts32 = _reference_ece(conf32.tolist(), hit, n_bins, text=lambda c: str(np.float32(c)))
    assert res32.bin_counts.tolist() == counts32
    assert res32.ece == pytest.approx(ece32, rel=1e-12, abs=1e-15)


@EXAMPLES
@given(data=st.data())
def test_classification_and_ranking_calibration_match_loops(data):
    n_bins = data.draw(st.sampled_from(_N_BINS))
    n = data.draw(st.integers(1, 20))
    c = data.draw(st.integers(2, 4))
    raw = np.array(data.draw(st.lists(st.integers(0, 4), min_size=n * c, max_size=n * c)), float)
    raw = raw.reshape(n, c) + 1.0
    probs = raw / raw.sum(axis=1, keepdims=True)
    target = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    conf = probs.max(axis=1).tolist()
    hit = [float(int(np.argmax(row)) == y) for row, y in zip(probs, target, strict=True)]
    res = m.classification_calibration(probs, target, n_bins=n_bins)
    ece, counts = _reference_ece(conf, hit, n_bins)
    assert res.bin_counts.tolist() == counts and res.ece == pytest.approx(ece, rel=1e-12, abs=1e-15)

    logits = data.draw(st.lists(st.integers(-16, 16).map(lambda k: k / 8), min_size=n, max_size=n))
    a = data.draw(st.lists(st.sampled_from(_DECIMAL_LABELS), min_size=n, max_size=n))
    b = data.draw(st.lists(st.sampled_from(_DECIMAL_LABELS), min_size=n, max_size=n))
    kept = [i for i in range(n) if _decisive(a[i], b[i], 0.05)]
    if not kept:
        with pytest.raises(UndefinedMetricError):
            m.ranking_calibration(logits, a, b)
        return
    p = [float(torch.sigmoid(torch.tensor(logits[i], dtype=torch.float64))) for i in kept]
    rank_conf = [max(q, 1 - q) for q in p]
    rank_hit = [float(np.sign(logits[i]) == np.sign(a[i] - b[i])) for i in kept]
    rank = m.ranking_calibration(logits, a, b, n_bins=n_bins)
    ece, counts = _reference_ece(rank_conf, rank_hit, n_bins)
    assert rank.bin_counts.tolist() == counts and rank.ece == pytest.approx(ece, rel=1e-12, abs=1e-15)


# ---------------------------------------------------------------------------------- robustness
@EXAMPLES
@given(_regression(min_rows=3), st.lists(_value, min_size=100, max_size=100))
def test_robustness_report_matches_scipy_and_sklearn(data, noise):
    clean, target = data
    aug = clean + np.array(noise[: clean.size]).reshape(clean.shape) / 4
    if any(_constant(clean[:, d]) or _constant(aug[:, d]) for d in range(clean.shape[1])):
        return  # per-dimension policy covered in test_core_metrics_ranking
    res = m.robustness_report(clean, aug)
    expected = [stats.pearsonr(clean[:, d], aug[:, d])[0] for d in range(clean.shape[1])]
    assert list(res.pearson_per_dimension) == pytest.approx(expected, rel=REL, abs=1e-12)
    assert res.mean_pearson == pytest.approx(np.mean(expected), rel=REL, abs=1e-12)
    if any(_constant(target[:, d]) for d in range(target.shape[1])):
        return
    clean_r2 = skm.r2_score(target, clean)  # uniform_average: the default metric
    aug_r2 = skm.r2_score(target, aug)
    if clean_r2 <= 0:
        with pytest.raises(UndefinedMetricError, match="non-positive"):
            m.robustness_report(clean, aug, targets=target)
        return
    with_targets = m.robustness_report(clean, aug, targets=target)
    assert with_targets.clean_metric == pytest.approx(clean_r2, rel=REL, abs=1e-12)
    assert with_targets.augmented_metric == pytest.approx(aug_r2, rel=REL, abs=1e-12)
    assert with_targets.score_drop_pct == pytest.approx(
        (clean_r2 - aug_r2) / clean_r2 * 100, rel=1e-7, abs=1e-9
    )


@EXAMPLES
@given(st.floats(-10, 10, allow_nan=False), st.floats(-10, 10, allow_nan=False))
def test_score_drop_pct_matches_formula(clean, augmented):
    if clean <= 0:
        with pytest.raises(UndefinedMetricError):
            m.score_drop_pct(clean, augmented)
    else:
        assert m.score_drop_pct(clean, augmented) == pytest.approx((clean - augmented) / clean * 100)


# ----------------------------------------------------------------------------------- baselines
@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**16), st.sampled_from([0.0, 0.5, 3.0]))
def test_linear_baseline_matches_sklearn(seed, ridge):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(30, 3)), rng.normal(size=(30, 2))
    x_test = rng.normal(size=(5, 3))
    ours = m.LinearRegressionBaseline(ridge=ridge).fit(x, y).predict(x_test)
    reference = (Ridge(alpha=ridge) if ridge else LinearRegression()).fit(x, y).predict(x_test)
    np.testing.assert_allclose(ours, reference, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(m.mean_predictions(y, 4), np.tile(y.mean(axis=0), (4, 1)))
    table = m.evaluate_baselines(x, y, x_test, rng.normal(size=(5, 2)))
    assert table["train_mean"]["r2"] <= 0.0
