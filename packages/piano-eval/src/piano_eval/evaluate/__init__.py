"""Evaluation of piano-performance scorers: the core metrics suite per dimension, baselines, winner selection
and a markdown + PNG report. Metric definitions live in :mod:`shared_audio_core.metrics`; this package
only decides what is compared with what (within-piece pairs, held-out pieces, clean vs augmented)."""

from .baselines import AUDIO_SUMMARY_FEATURES, audio_summary_features, baseline_predictions
from .report import write_report
from .results import EvaluationResult, evaluate_scores
from .selection import WinnerSelection, select_winner

__all__ = [
    "AUDIO_SUMMARY_FEATURES",
    "EvaluationResult",
    "WinnerSelection",
    "audio_summary_features",
    "baseline_predictions",
    "evaluate_scores",
    "select_winner",
    "write_report",
]
