"""piano_eval.evaluate against hand-computed values and brute-force recomputation."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from piano_eval.evaluate import (
    EvaluationResult,
    audio_summary_features,
    baseline_predictions,
    evaluate_scores,
    select_winner,
    write_report,
)

DIMS = ("timing", "dynamics")


def _data(seed=0, n_pieces=6, per_piece=4):
    rng = np.random.default_rng(seed)
    pieces = [f"p{k}" for k in range(n_pieces) for _ in range(per_piece)]
    targets = rng.uniform(0, 1, (len(pieces), 2))
    return pieces, targets


def _brute_force_pairwise(pred, target, pieces, threshold=0.05):
    correct = total = 0
    for i, j in itertools.combinations(range(len(pieces)), 2):
        if pieces[i] != pieces[j]:
            continue
        for d in range(target.shape[1]):
            delta = target[i, d] - target[j, d]
            if abs(delta) < threshold:
                continue
            total += 1
            correct += np.sign(pred[i, d] - pred[j, d]) == np.sign(delta)
    return correct / total


def test_pairwise_is_within_piece_and_matches_brute_force():
    pieces, targets = _data()
    noisy = targets + np.random.default_rng(1).normal(0, 0.2, targets.shape)
    result = evaluate_scores("m", noisy, targets, pieces, DIMS)
    assert result.pairwise == pytest.approx(_brute_force_pairwise(noisy, targets, pieces))
    assert result.n_pairs == 6 * 6  # C(4, 2) pairs in each of 6 pieces, none across pieces
    perfect = evaluate_scores("perfect", targets, targets, pieces, DIMS)
    assert perfect.pairwise == 1.0 and perfect.r2 == pytest.approx(1.0)
    reversed_ = evaluate_scores("reversed", 1 - targets, targets, pieces, DIMS)
    assert reversed_.pairwise == 0.0


def test_r2_is_the_mean_of_per_dimension_r2_not_pooled():
    # dimension means 0.2 and 0.8: predicting each dimension's mean explains nothing per dimension,
    # but pooled over dimensions it "explains" the gap between the two means.
    rng = np.random.default_rng(0)
    targets = np.column_stack([rng.uniform(0.1, 0.3, 40), rng.uniform(0.7, 0.9, 40)])
    mean_predictor = np.tile(targets.mean(axis=0), (40, 1))
    result = evaluate_scores(
        "mean", mean_predictor + 1e-9 * rng.normal(size=(40, 2)), targets, ["p"] * 40, DIMS
    )
    assert abs(result.r2) < 1e-3
    assert result.r2_pooled > 0.85


def test_missing_ratings_are_left_out():
    pieces, targets = _data()
    pred = targets + 0.05
    holes = targets.copy()
    holes[::3, 1] = np.nan
    with_holes = evaluate_scores("m", pred, holes, pieces, DIMS)
    garbage = pred.copy()
    garbage[::3, 1] = 42.0  # predictions for unrated entries cannot change any metric
    assert evaluate_scores("m", garbage, holes, pieces, DIMS).r2 == with_holes.r2
    observed = ~np.isnan(holes[:, 1])
    ss_res = np.sum((pred[observed, 1] - holes[observed, 1]) ** 2)
    ss_tot = np.sum((holes[observed, 1] - holes[observed, 1].mean()) ** 2)
    assert with_holes.r2_per_dimension["dynamics"] == pytest.approx(1 - ss_res / ss_tot)


def test_logits_give_calibration_and_robustness_drop():
    pieces, targets = _data()
    from shared_audio_core.metrics import pairs_within_pieces

    pairs = pairs_within_pieces(pieces)
    logits = 8 * (targets[pairs.index_a] - targets[pairs.index_b])
    augmented = targets + np.random.default_rng(2).normal(0, 0.15, targets.shape)
    result = evaluate_scores(
        "m", targets, targets, pieces, DIMS, pair_logits=logits, augmented_predictions=augmented
    )
    assert result.ece is not None and 0 <= result.ece <= 1 and len(result.reliability["bin_counts"]) == 10
    expected_aug_r2 = np.mean(
        [
            1
            - np.sum((augmented[:, d] - targets[:, d]) ** 2)
            / np.sum((targets[:, d] - targets[:, d].mean()) ** 2)
            for d in range(2)
        ]
    )
    assert result.robustness_drop_pct == pytest.approx(100 * (1 - expected_aug_r2), rel=1e-6)
    with pytest.raises(ValueError, match="within-piece pairs"):
        evaluate_scores("m", targets, targets, pieces, DIMS, pair_logits=logits[:3])


def test_input_errors():
    pieces, targets = _data()
    with pytest.raises(ValueError, match="NaN or inf"):
        evaluate_scores("m", np.full_like(targets, np.nan), targets, pieces, DIMS)
    with pytest.raises(ValueError, match=r"need predictions and targets \[N, 2\]"):
        evaluate_scores("m", targets[:, :1], targets, pieces, DIMS)
    with pytest.raises(Exception, match="no piece has two performances"):
        evaluate_scores("m", targets, targets, [str(i) for i in range(len(pieces))], DIMS)


def _result(name, pairwise, r2, drop=None):
    dims = {"timing": pairwise}
    return EvaluationResult(
        name,
        ("timing",),
        10,
        20,
        pairwise,
        dims,
        r2,
        {"timing": r2},
        r2,
        0,
        0,
        0,
        0,
        0,
        0,
        robustness_drop_pct=drop,
    )


def test_winner_selection():
    assert select_winner([_result("a", 0.80, 0.1), _result("b", 0.90, 0.0)]).winner == "b"
    tie = select_winner([_result("a", 0.901, 0.2), _result("b", 0.903, 0.1)])
    assert tie.winner == "a" and "highest R²" in tie.reason  # within the tie margin, R² decides
    vetoed = select_winner([_result("a", 0.95, 0.5, drop=30.0), _result("b", 0.85, 0.3, drop=5.0)])
    assert vetoed.winner == "b" and vetoed.vetoed == {"a": 30.0}
    with pytest.raises(ValueError, match="every candidate is vetoed"):
        select_winner([_result("a", 0.95, 0.5, drop=30.0)])


def test_baselines():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = np.column_stack([0.5 + 0.1 * x[:, 0], 0.5 - 0.1 * x[:, 1]])
    out = baseline_predictions(x[:40], y[:40], x[40:], seed=3, ridge=0.0)
    assert np.allclose(out["linear_audio_features"], y[40:], atol=1e-6)  # a linear target is recovered
    y[0, 0] = np.nan  # unrated: the mean is over the rated performances
    out = baseline_predictions(x[:40], y[:40], x[40:], seed=3)
    assert np.allclose(out["train_mean"], [np.mean(y[1:40, 0]), np.mean(y[:40, 1])])
    assert out["random"].shape == (20, 2) and out["random"].min() >= 0 and out["random"].max() <= 1


def test_audio_summary_features_track_level_and_density():
    sr = 24000
    t = np.arange(sr * 2) / sr
    clicks = np.zeros_like(t)
    clicks[:: sr // 8] = 1.0
    dense = np.convolve(clicks, np.exp(-np.arange(800) / 80) * np.sin(2 * np.pi * 440 * np.arange(800) / sr))[
        : t.size
    ]
    sparse = dense.copy()
    sparse[sr // 2 :] = 0
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    loud, quiet = audio_summary_features(tone, sr), audio_summary_features(0.1 * tone, sr)
    assert loud[0] - quiet[0] == pytest.approx(20.0, abs=0.1)  # 20 dB
    assert audio_summary_features(dense, sr)[3] > 2 * audio_summary_features(sparse, sr)[3]
    with pytest.raises(ValueError, match=r"at least 0\.1 s"):
        audio_summary_features(np.zeros(10), sr)


def test_report_files(tmp_path):
    pieces, targets = _data()
    results = [evaluate_scores(n, targets + s, targets, pieces, DIMS) for n, s in (("a", 0.0), ("b", 0.1))]
    report = write_report(
        tmp_path, results, title="T", winner=select_winner(results), predictions={"a": (targets, targets)}
    )
    text = report.read_text()
    assert "**Winner: a**" in text and "| timing | dynamics |" in text.replace("| model ", "")
    assert (tmp_path / "pairwise_per_dimension.png").stat().st_size > 1000 and (
        tmp_path / "scatter_a.png"
    ).exists()
    saved = json.loads((tmp_path / "results.json").read_text())
    assert EvaluationResult.from_dict(saved["results"][0]) == results[0]
