"""Losses for pairwise ranking, piece-contrastive learning, regression, listwise ranking and multi-task
weighting.

Conventions: labels are in [0, 1]; ``logits[b, k] > 0`` means performance a is better than b on dimension k.
When a batch holds no usable pair for a loss (every pair ambiguous, no positive for any anchor), the loss is
an exact, differentiable zero, so it contributes nothing instead of a NaN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn


def _check_same_shape(**tensors: torch.Tensor) -> None:
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"shape mismatch: {shapes}")


def _check_finite(name: str, t: torch.Tensor) -> None:
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or inf; mask missing labels instead")


def _zero_like(reference: torch.Tensor) -> torch.Tensor:
    """A zero that keeps the graph alive so ``backward()`` still works."""
    return reference.sum() * 0.0


def ambiguity_mask(
    labels_a: torch.Tensor, labels_b: torch.Tensor, ambiguity_threshold: float = 0.05
) -> torch.Tensor:
    """``True`` where ``|labels_a − labels_b| >= threshold``, i.e. where the pair has a usable order."""
    _check_same_shape(labels_a=labels_a, labels_b=labels_b)
    if ambiguity_threshold < 0:
        raise ValueError(f"ambiguity_threshold must be >= 0, got {ambiguity_threshold}")
    delta = (labels_a - labels_b).abs()
    mask = delta >= ambiguity_threshold
    # Exactly tied labels carry no order, even with a zero threshold.
    return mask & (delta > 0)


def dimension_ranking_loss(
    logits: torch.Tensor,
    labels_a: torch.Tensor,
    labels_b: torch.Tensor,
    ambiguity_threshold: float = 0.05,
    label_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Binary cross-entropy of ``sigmoid(logits)`` against ``1[labels_a > labels_b]`` per dimension.

    Entries with ``|Δlabel| < ambiguity_threshold`` (annotators could not tell the two apart) and entries
    where ``label_mask`` is ``False`` (a missing rating) are excluded from the mean. There is deliberately no
    margin argument: the original accepted one and ignored it.
    """
    _check_same_shape(logits=logits, labels_a=labels_a, labels_b=labels_b)
    valid = ambiguity_mask(labels_a, labels_b, ambiguity_threshold)
    if label_mask is not None:
        _check_same_shape(logits=logits, label_mask=label_mask)
        valid = valid & label_mask.bool()
    if not bool(valid.any()):
        return _zero_like(logits)
    target = (labels_a > labels_b).to(logits.dtype)
    per_entry = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return per_entry[valid].mean()


def piece_infonce_loss(
    projections: torch.Tensor, piece_ids: torch.Tensor, temperature: float = 0.07
) -> torch.Tensor:
    """Supervised InfoNCE where segments of the same piece are positives (SupCon, "out" form).

    For each anchor i with at least one positive, the loss is the mean over positives p of
    ``−log(exp(s_ip/τ) / Σ_{j≠i} exp(s_ij/τ))`` with cosine similarities ``s``; anchors are averaged.
    """
    if projections.dim() != 2:
        raise ValueError(f"projections must be [N, P], got {tuple(projections.shape)}")
    if piece_ids.shape != projections.shape[:1]:
        raise ValueError(f"piece_ids {tuple(piece_ids.shape)} must be [N={projections.shape[0]}]")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    n = projections.shape[0]
    normalized = F.normalize(projections, dim=-1)
    logits = normalized @ normalized.T / temperature
    self_mask = torch.eye(n, dtype=torch.bool, device=projections.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positives = (piece_ids.unsqueeze(0) == piece_ids.unsqueeze(1)) & ~self_mask
    has_positive = positives.any(dim=1)
    if not bool(has_positive.any()):
        return _zero_like(projections)
    pos_log_prob = log_prob.masked_fill(~positives, 0.0).sum(dim=1) / positives.sum(dim=1).clamp_min(1)
    return -pos_log_prob[has_positive].mean()


def regression_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    reduction: Literal["mean", "per_dimension"] = "mean",
) -> torch.Tensor:
    """Masked MSE. ``mask`` marks observed labels (targets under ``False`` may be NaN and are ignored).

    ``reduction="per_dimension"`` returns one MSE per last-axis dimension (for uncertainty weighting).
    """
    _check_same_shape(pred=pred, target=target)
    if mask is None:
        _check_finite("target", target)
        mask = torch.ones_like(target, dtype=torch.bool)
    else:
        _check_same_shape(pred=pred, mask=mask)
        mask = mask.bool()
        _check_finite("target (observed entries)", target[mask])
    squared = torch.where(mask, pred - torch.nan_to_num(target), torch.zeros_like(pred)).pow(2)
    weights = mask.to(pred.dtype)
    if reduction == "mean":
        if not bool(mask.any()):
            return _zero_like(pred)
        return squared.sum() / weights.sum()
    if reduction == "per_dimension":
        flat_sq = squared.reshape(-1, squared.shape[-1])
        flat_w = weights.reshape(-1, weights.shape[-1])
        return flat_sq.sum(dim=0) / flat_w.sum(dim=0).clamp_min(1.0)
    raise ValueError(f"reduction must be 'mean' or 'per_dimension', got {reduction!r}")


def invariance_loss(z: torch.Tensor, z_aug: torch.Tensor) -> torch.Tensor:
    """MSE between the embedding of a clean input and of its augmented copy."""
    _check_same_shape(z=z, z_aug=z_aug)
    return F.mse_loss(z, z_aug)


def listmle_loss(
    scores: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """ListMLE (Xia et al., 2008): negative Plackett–Luce log-likelihood of the target order.

    ``scores``/``targets`` are ``[N]`` (one list) or ``[L, N]`` (L lists, e.g. one per dimension after a
    transpose). For the order π sorted by target (descending), the loss is
    ``Σ_i [logsumexp(s_π(i..N)) − s_π(i)]``, averaged over lists. ``mask`` drops items from a list.
    """
    _check_same_shape(scores=scores, targets=targets)
    _check_finite("targets", targets if mask is None else targets[mask.bool()])
    if scores.dim() == 1:
        scores, targets = scores.unsqueeze(0), targets.unsqueeze(0)
        mask = None if mask is None else mask.unsqueeze(0)
    if scores.dim() != 2:
        raise ValueError(f"scores must be [N] or [L, N], got {tuple(scores.shape)}")
    if mask is None:
        mask = torch.ones_like(scores, dtype=torch.bool)
    mask = mask.bool()
    # Masked items sort last and contribute neither a term nor a denominator entry.
    sort_key = torch.where(mask, torch.nan_to_num(targets), torch.full_like(targets, float("-inf")))
    order = torch.argsort(sort_key, dim=1, descending=True, stable=True)
    sorted_scores = scores.gather(1, order)
    sorted_mask = mask.gather(1, order)
    # A large finite negative (not -inf) keeps logcumsumexp's gradient finite for masked items.
    masked_scores = sorted_scores.masked_fill(~sorted_mask, torch.finfo(scores.dtype).min / 4)
    # Reverse cumulative logsumexp: log Σ_{j>=i} exp(s_j).
    tail_lse = torch.logcumsumexp(masked_scores.flip(1), dim=1).flip(1)
    terms = torch.where(sorted_mask, tail_lse - sorted_scores, torch.zeros_like(sorted_scores))
    usable = sorted_mask.sum(dim=1) >= 2
    if not bool(usable.any()):
        return _zero_like(scores)
    return terms.sum(dim=1)[usable].mean()


def concordance_correlation(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Lin's concordance correlation per column of ``[N, K]`` inputs (population moments)."""
    _check_same_shape(pred=pred, target=target)
    if pred.dim() == 1:
        pred, target = pred.unsqueeze(1), target.unsqueeze(1)
    if pred.shape[0] < 2:
        raise ValueError("CCC needs at least two samples")
    mu_p, mu_t = pred.mean(dim=0), target.mean(dim=0)
    var_p = pred.var(dim=0, unbiased=False)
    var_t = target.var(dim=0, unbiased=False)
    cov = ((pred - mu_p) * (target - mu_t)).mean(dim=0)
    return 2 * cov / (var_p + var_t + (mu_p - mu_t).pow(2) + eps)


def ccc_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 − CCC`` averaged over dimensions: rewards agreement in correlation, scale and offset."""
    _check_finite("target", target)
    return (1.0 - concordance_correlation(pred, target)).mean()


def uncertainty_weighted_sum(losses: torch.Tensor, log_variances: torch.Tensor) -> torch.Tensor:
    """Kendall & Gal (2018): ``Σ_k exp(−s_k)/2 · L_k + s_k/2`` with ``s_k = log σ_k²``."""
    _check_same_shape(losses=losses, log_variances=log_variances)
    return (0.5 * torch.exp(-log_variances) * losses + 0.5 * log_variances).sum()


class UncertaintyWeightedLoss(nn.Module):
    """Learns one log-variance per named task and combines task losses with :func:`uncertainty_weighted_sum`.

    A task whose loss stays large learns a large ``s`` and is down-weighted; ``s/2`` stops ``s → ∞``.
    """

    def __init__(self, task_names: Sequence[str], initial_log_variance: float = 0.0) -> None:
        super().__init__()
        names = tuple(task_names)
        if not names or len(set(names)) != len(names):
            raise ValueError(f"task_names must be non-empty and unique, got {names!r}")
        self.task_names = names
        self.log_variances = nn.Parameter(torch.full((len(names),), float(initial_log_variance)))

    def forward(self, losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Combine the losses present in ``losses`` (a subset of the task names is allowed)."""
        unknown = sorted(set(losses) - set(self.task_names))
        if unknown:
            raise KeyError(f"unknown tasks {unknown}; expected a subset of {list(self.task_names)}")
        if not losses:
            raise ValueError("no task losses given")
        index = torch.tensor([self.task_names.index(n) for n in losses], device=self.log_variances.device)
        values = torch.stack([losses[n].reshape(()) for n in losses])
        return uncertainty_weighted_sum(values, self.log_variances[index])

    def weights(self) -> dict[str, float]:
        """Current effective weight ``exp(−s)/2`` per task, for logging."""
        w = 0.5 * torch.exp(-self.log_variances.detach())
        return {name: float(v) for name, v in zip(self.task_names, w, strict=True)}
