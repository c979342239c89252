"""Figure of a :class:`~piano_eval.scoring.score.PerformanceScore`: per-dimension scores with their spread,
and the attention timeline with the lowest-scoring passages shaded."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from shared_audio_core.files import atomic_output

from piano_eval.scoring.score import PerformanceScore


def plot_score(result: PerformanceScore, path: str | Path) -> Path:
    """Write the two-panel PNG to ``path`` (atomically) and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (bars, timeline) = plt.subplots(
        2,
        1,
        figsize=(max(6.0, 0.6 * len(result.dimensions) + 3), 6.5),
        gridspec_kw={"height_ratios": [1, 1.2]},
    )
    x = np.arange(len(result.dimensions))
    error = None if result.std is None else result.std
    bars.bar(x, result.scores, yerr=error, capsize=3, color="tab:blue", alpha=0.8)
    bars.axhline(result.aggregate, color="black", lw=1, ls="--", label=f"aggregate {result.aggregate:.2f}")
    bars.set_xticks(x, result.dimensions, rotation=45, ha="right")
    bars.set_ylim(0, 1)
    bars.set_ylabel("score")
    bars.legend(loc="upper right", fontsize=8)
    bars.set_title(f"{Path(result.source).name} — {result.model}", fontsize=10)

    line = result.timeline
    timeline.fill_between(line.times, line.attention, step="mid", alpha=0.35, color="tab:orange")
    timeline.plot(
        line.times, line.attention, color="tab:orange", lw=1, drawstyle="steps-mid", label="attention"
    )
    timeline.set_xlabel("time (s)")
    timeline.set_ylabel("attention weight")
    timeline.set_xlim(0, max(result.duration, float(line.times.max(initial=0.0))))
    if line.local is not None:
        local = timeline.twinx()
        local.plot(line.times, line.local, color="tab:green", lw=1, drawstyle="steps-mid")
        local.set_ylim(0, 1)
        local.set_ylabel("local aggregate score (green)")
    for k, passage in enumerate(line.weakest):
        timeline.axvspan(
            passage.start,
            passage.end,
            color="tab:red",
            alpha=0.15,
            label="weakest passages" if k == 0 else None,
        )
    timeline.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return path
