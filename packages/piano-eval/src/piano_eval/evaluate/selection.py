"""Winner selection (seed 004): highest pairwise accuracy, R² breaks ties, a robustness drop above the veto
disqualifies — a model that collapses on phone recordings is not the best model, however well it ranks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .results import EvaluationResult

ROBUSTNESS_VETO_PCT = 15.0
PAIRWISE_TIE = 0.005  # pairwise accuracies closer than this are a tie, decided by R²


@dataclass(frozen=True)
class WinnerSelection:
    winner: str
    ranking: tuple[str, ...]
    vetoed: dict[str, float]  # name → robustness drop %
    reason: str


def select_winner(
    results: Sequence[EvaluationResult], *, veto_pct: float = ROBUSTNESS_VETO_PCT, tie: float = PAIRWISE_TIE
) -> WinnerSelection:
    if not results:
        raise ValueError("select_winner needs at least one result")
    vetoed = {r.name: r.robustness_drop_pct for r in results if (r.robustness_drop_pct or 0.0) > veto_pct}
    eligible = [r for r in results if r.name not in vetoed]
    if not eligible:
        raise ValueError(f"every candidate is vetoed by a robustness drop above {veto_pct} %: {vetoed}")
    best_pairwise = max(r.pairwise for r in eligible)
    contenders = [r for r in eligible if best_pairwise - r.pairwise <= tie]
    ranking = sorted(eligible, key=lambda r: (r not in contenders, -r.r2 if r in contenders else -r.pairwise))
    winner = ranking[0]
    reason = (
        f"highest pairwise accuracy ({winner.pairwise:.3f})"
        if len(contenders) == 1
        else f"pairwise accuracy within {tie} of the best among {[r.name for r in contenders]}; highest R² ({winner.r2:.3f})"
    )
    if vetoed:
        reason += f"; vetoed for a robustness drop > {veto_pct} %: {sorted(vetoed)}"
    return WinnerSelection(winner.name, tuple(r.name for r in ranking), vetoed, reason)
