"""The comparison report: ``report.md`` (tables), ``results.json`` (every number) and PNG figures."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from shared_audio_core.files import atomic_write_text
from shared_audio_core.metrics import format_comparison_table

from .results import EvaluationResult
from .selection import WinnerSelection


def _per_dimension_table(results: Sequence[EvaluationResult], key: str) -> str:
    dims = results[0].dimensions
    rows = {r.name: {d: getattr(r, key)[d] for d in dims} for r in results}
    return format_comparison_table(rows, columns=list(dims), lower_is_better=())


def _bars(results: Sequence[EvaluationResult], key: str, ylabel: str, path: Path) -> Path:
    dims = results[0].dimensions
    figure, axis = plt.subplots(figsize=(1.6 + 1.2 * len(dims), 3.6))
    width = 0.8 / len(results)
    for k, result in enumerate(results):
        values = [getattr(result, key)[d] if getattr(result, key)[d] is not None else np.nan for d in dims]
        axis.bar(np.arange(len(dims)) + k * width, values, width, label=result.name)
    axis.set_xticks(np.arange(len(dims)) + 0.4 - width / 2, dims, rotation=20)
    axis.set_ylabel(ylabel)
    if key == "pairwise_per_dimension":
        axis.axhline(0.5, color="gray", lw=0.8, ls="--")
        axis.set_ylim(0, 1)
    axis.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def _scatter(
    name: str, predictions: np.ndarray, targets: np.ndarray, dims: Sequence[str], path: Path
) -> Path:
    figure, axes = plt.subplots(1, len(dims), figsize=(2.6 * len(dims), 2.8), squeeze=False)
    for d, axis in enumerate(axes[0]):
        axis.scatter(targets[:, d], predictions[:, d], s=8, alpha=0.6)
        axis.plot([0, 1], [0, 1], color="gray", lw=0.8)
        axis.set_title(dims[d], fontsize=9)
        axis.set_xlabel("target")
    axes[0][0].set_ylabel(f"{name} prediction")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def _reliability(result: EvaluationResult, path: Path) -> Path:
    data = result.reliability or {}
    figure, axis = plt.subplots(figsize=(3.4, 3.4))
    centers = np.asarray(data.get("bin_confidence", []), dtype=float)
    accuracy = np.asarray(data.get("bin_accuracy", []), dtype=float)
    counts = np.asarray(data.get("bin_counts", []), dtype=float)
    keep = counts > 0
    axis.plot([0.5, 1], [0.5, 1], color="gray", lw=0.8)
    axis.plot(centers[keep], accuracy[keep], marker="o")
    axis.set_xlabel("confidence")
    axis.set_ylabel("accuracy")
    axis.set_title(
        f"{result.name}: ECE {result.ece:.3f}" if result.ece is not None else result.name, fontsize=9
    )
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def write_report(
    out_dir: str | Path,
    results: Sequence[EvaluationResult],
    *,
    title: str,
    winner: WinnerSelection | None = None,
    predictions: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    notes: Sequence[str] = (),
) -> Path:
    """Write the report; ``predictions`` maps a name to ``(predictions, targets)`` for scatter plots."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not results:
        raise ValueError("write_report needs at least one result")
    figures = [
        _bars(results, "pairwise_per_dimension", "pairwise accuracy", out / "pairwise_per_dimension.png"),
        _bars(results, "r2_per_dimension", "R²", out / "r2_per_dimension.png"),
    ]
    for name, (pred, target) in (predictions or {}).items():
        figures.append(_scatter(name, pred, target, results[0].dimensions, out / f"scatter_{name}.png"))
    for result in results:
        if result.reliability is not None:
            figures.append(_reliability(result, out / f"reliability_{result.name}.png"))
    lines = [f"# {title}", ""]
    if winner is not None:
        lines += [f"**Winner: {winner.winner}** — {winner.reason}.", ""]
    lines += ["## Overall (held-out)", "", format_comparison_table({r.name: r.row() for r in results}), ""]
    lines += [
        "## Pairwise accuracy per dimension",
        "",
        _per_dimension_table(results, "pairwise_per_dimension"),
        "",
    ]
    lines += ["## R² per dimension", "", _per_dimension_table(results, "r2_per_dimension"), ""]
    if notes:
        lines += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    lines += ["## Figures", "", *[f"![{f.stem}]({f.name})" for f in figures], ""]
    atomic_write_text(out / "report.md", "\n".join(lines))
    payload = {"title": title, "results": [r.to_dict() for r in results]}
    if winner is not None:
        payload["winner"] = {
            "winner": winner.winner,
            "ranking": list(winner.ranking),
            "vetoed": winner.vetoed,
            "reason": winner.reason,
        }
    atomic_write_text(out / "results.json", json.dumps(payload, indent=2))
    return out / "report.md"
