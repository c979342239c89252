"""Losses against hand-computed values and their masking/edge-case behaviour."""

import math

import pytest
import torch
from piano_eval.losses import (
    UncertaintyWeightedLoss,
    ccc_loss,
    concordance_correlation,
    dimension_ranking_loss,
    invariance_loss,
    listmle_loss,
    piece_infonce_loss,
    regression_loss,
    uncertainty_weighted_sum,
)


def _bce(logit: float, target: float) -> float:
    p = 1 / (1 + math.exp(-logit))
    return -(target * math.log(p) + (1 - target) * math.log(1 - p))


def test_ranking_loss_matches_hand_computed_bce_and_skips_ambiguous_pairs():
    logits = torch.tensor([[2.0, -1.0], [0.5, 3.0]])
    labels_a = torch.tensor([[0.8, 0.30], [0.60, 0.50]])
    labels_b = torch.tensor([[0.3, 0.32], [0.40, 0.90]])  # entry (0,1) has |Δ|=0.02 < 0.05: ignored
    expected = (_bce(2.0, 1.0) + _bce(0.5, 1.0) + _bce(3.0, 0.0)) / 3
    loss = dimension_ranking_loss(logits, labels_a, labels_b, ambiguity_threshold=0.05)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_ranking_loss_has_no_margin_argument_and_is_zero_with_no_usable_pair():
    logits = torch.tensor([[5.0]], requires_grad=True)
    loss = dimension_ranking_loss(logits, torch.tensor([[0.5]]), torch.tensor([[0.52]]))
    assert loss.item() == 0.0
    loss.backward()
    assert logits.grad is not None and logits.grad.abs().sum() == 0
    with pytest.raises(TypeError):
        dimension_ranking_loss(logits, torch.tensor([[0.5]]), torch.tensor([[0.9]]), margin=0.1)  # type: ignore[call-arg]


def test_ranking_loss_label_mask_and_shape_errors():
    logits = torch.tensor([[1.0, 1.0]])
    a, b = torch.tensor([[0.9, 0.9]]), torch.tensor([[0.1, 0.1]])
    masked = dimension_ranking_loss(logits, a, b, label_mask=torch.tensor([[True, False]]))
    assert masked.item() == pytest.approx(_bce(1.0, 1.0))
    with pytest.raises(ValueError, match="shape mismatch"):
        dimension_ranking_loss(logits, a, torch.tensor([0.1]))


def test_piece_infonce_matches_hand_computed_value():
    # Two pieces; orthogonal unit vectors make the similarities easy to write down.
    proj = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    ids = torch.tensor([0, 0, 1, 1])
    tau = 0.5
    # Anchor 0: positive sim 1, negatives sim 0 (two of them).
    expected = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + 2 * math.exp(0.0)))
    assert piece_infonce_loss(proj, ids, temperature=tau).item() == pytest.approx(expected, rel=1e-6)


def test_piece_infonce_rewards_clustering_and_handles_no_positives():
    ids = torch.tensor([0, 0, 1, 1])
    clustered = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]])
    mixed = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [0.1, 1.0]])
    assert piece_infonce_loss(clustered, ids) < piece_infonce_loss(mixed, ids)
    assert piece_infonce_loss(torch.randn(3, 4), torch.tensor([0, 1, 2])).item() == 0.0
    with pytest.raises(ValueError, match="temperature"):
        piece_infonce_loss(clustered, ids, temperature=0.0)


def test_regression_loss_mask_ignores_nan_targets_and_per_dimension():
    pred = torch.tensor([[0.5, 0.2], [0.1, 0.4]])
    target = torch.tensor([[0.7, float("nan")], [0.1, 0.0]])
    mask = torch.tensor([[True, False], [True, True]])
    expected = (0.2**2 + 0.0 + 0.4**2) / 3
    assert regression_loss(pred, target, mask).item() == pytest.approx(expected, rel=1e-6)
    per_dim = regression_loss(pred, target, mask, reduction="per_dimension")
    assert per_dim.tolist() == pytest.approx([0.2**2 / 2, 0.4**2])
    with pytest.raises(ValueError, match="NaN"):
        regression_loss(pred, target)


def test_invariance_loss_is_mse():
    z = torch.tensor([[1.0, 2.0]])
    assert invariance_loss(z, torch.tensor([[0.0, 0.0]])).item() == pytest.approx(2.5)
    assert invariance_loss(z, z).item() == 0.0


def test_listmle_two_items_matches_closed_form_and_prefers_correct_order():
    scores = torch.tensor([0.3, 1.2])
    targets = torch.tensor([0.9, 0.1])  # item 0 should rank first
    expected = math.log(1 + math.exp(1.2 - 0.3))
    assert listmle_loss(scores, targets).item() == pytest.approx(expected, rel=1e-6)
    good = listmle_loss(torch.tensor([3.0, 2.0, 1.0]), torch.tensor([0.9, 0.5, 0.1]))
    bad = listmle_loss(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.9, 0.5, 0.1]))
    assert good < bad


def test_listmle_mask_removes_items_and_batches_lists():
    scores = torch.tensor([[0.3, 1.2, 50.0], [0.0, 0.0, 0.0]], requires_grad=True)
    targets = torch.tensor([[0.9, 0.1, 0.5], [0.1, 0.2, 0.3]])
    mask = torch.tensor([[True, True, False], [True, True, True]])
    loss = listmle_loss(scores, targets, mask)
    first = math.log(1 + math.exp(0.9))
    second = math.log(3) + math.log(2)  # uniform scores: −log(1/3·1/2·1)
    assert loss.item() == pytest.approx((first + second) / 2, rel=1e-5)
    loss.backward()
    assert torch.isfinite(scores.grad).all() and scores.grad[0, 2] == 0


def test_ccc_hand_computed_and_perfect_agreement():
    pred = torch.tensor([1.0, 2.0, 3.0])
    target = torch.tensor([2.0, 4.0, 6.0])
    # means 2, 4; var_p 2/3, var_t 8/3, cov 4/3 -> 2·4/3 / (2/3 + 8/3 + 4) = (8/3)/(22/3) = 4/11
    assert concordance_correlation(pred, target).item() == pytest.approx(4 / 11, rel=1e-5)
    assert ccc_loss(pred, target).item() == pytest.approx(1 - 4 / 11, rel=1e-5)
    assert ccc_loss(target.unsqueeze(1), target.unsqueeze(1)).item() == pytest.approx(0.0, abs=1e-6)


def test_uncertainty_weighted_sum_formula_and_module_learns_to_downweight_noisy_task():
    losses = torch.tensor([2.0, 0.5])
    s = torch.tensor([0.0, math.log(4.0)])
    expected = 0.5 * 2.0 + 0.0 + 0.5 * 0.25 * 0.5 + 0.5 * math.log(4.0)
    assert uncertainty_weighted_sum(losses, s).item() == pytest.approx(expected, rel=1e-6)

    module = UncertaintyWeightedLoss(["noisy", "clean"])
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    for _ in range(200):
        optimizer.zero_grad()
        module({"noisy": torch.tensor(4.0), "clean": torch.tensor(0.25)}).backward()
        optimizer.step()
    # The optimum is s = log L, so the weight exp(−s)/2 becomes 1/(2L).
    assert module.log_variances.tolist() == pytest.approx([math.log(4.0), math.log(0.25)], abs=0.05)
    weights = module.weights()
    assert weights["clean"] > weights["noisy"]


def test_uncertainty_weighted_loss_rejects_unknown_tasks():
    module = UncertaintyWeightedLoss(["a"])
    with pytest.raises(KeyError, match="unknown tasks"):
        module({"b": torch.tensor(1.0)})
    with pytest.raises(ValueError):
        UncertaintyWeightedLoss(["a", "a"])
