"""Figures of a prediction and of an evaluation, as matplotlib ``Figure`` objects.

No pyplot: every function builds a :class:`matplotlib.figure.Figure` directly, so nothing touches
pyplot's global state or needs a display, and a figure is freed when it is no longer referenced.
``save_*`` write PNG files (Agg; another suffix such as ``.svg`` picks that format). The ``draw_*`` functions draw into a given ``Axes``, which
:func:`prediction_figure` uses to combine them.

The sticking diagram is drawn from :func:`sousa_rudiments.rudiments.get_rudiment` only: the rudiment
library is the one source of truth for how a rudiment is played.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import transforms
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from shared_audio_core.audio import to_mono

from sousa_rudiments.recognition.features import STROKE_FEATURES
from sousa_rudiments.rudiments import RUDIMENTS, Rudiment, RudimentStroke, get_rudiment

__all__ = [
    "HAND_COLOURS",
    "KIND_COLOURS",
    "confusion_matrix_figure",
    "draw_onset_timeline",
    "draw_sticking_diagram",
    "draw_stroke_feature_heatmap",
    "onset_timeline",
    "prediction_figure",
    "save_confusion_matrix",
    "save_figure",
    "save_onset_timeline",
    "save_prediction_figure",
    "save_sticking_diagram",
    "save_stroke_feature_heatmap",
    "sticking_diagram",
    "stroke_feature_heatmap",
]

KIND_COLOURS: dict[str, str] = {
    "grace": "#9467bd",
    "tap": "#555555",
    "accent": "#d62728",
    "diddle": "#1f77b4",
    "buzz": "#ff7f0e",
}
"""Colour of each predicted stroke kind (``StrokeEstimate.kind``) in the onset timeline."""

HAND_COLOURS: dict[str, str] = {"R": "#1f3b73", "L": "#8c1d18"}

_ENVELOPE_COLUMNS = 2000


# --------------------------------------------------------------------------------------------- timeline
def _stroke_marks(prediction: Any) -> list[tuple[float, str, str]]:
    """(time, kind, hand) of every detected stroke; plain onsets when the prediction has no strokes."""
    strokes = list(getattr(prediction, "strokes", []) or [])
    if strokes:
        return [(float(s.time_s), s.kind, s.hand) for s in strokes]
    return [(float(t), "tap", "") for t in np.asarray(getattr(prediction, "onset_times", []))]


def draw_onset_timeline(ax: Axes, audio: np.ndarray, sample_rate: int, prediction: Any) -> Axes:
    """Waveform envelope of ``audio`` with a line per detected onset, coloured by predicted stroke kind.

    The predicted hand (R/L) is written above each line; the legend names the five kinds.
    """
    mono = to_mono(np.asarray(audio, dtype=np.float32))
    duration = len(mono) / float(sample_rate) if len(mono) else float(getattr(prediction, "duration_s", 0.0))
    if len(mono):
        hop = max(1, len(mono) // _ENVELOPE_COLUMNS)
        usable = len(mono) // hop * hop
        peaks = np.abs(mono[:usable]).reshape(-1, hop).max(axis=1)
        times = (np.arange(peaks.size) + 0.5) * hop / sample_rate
        ax.fill_between(times, -peaks, peaks, color="#b0b0b0", linewidth=0)
        limit = float(peaks.max()) * 1.05 if peaks.size and peaks.max() > 0 else 1.0
    else:
        limit = 1.0
    ax.set_ylim(-limit, limit)
    ax.set_xlim(0.0, max(duration, 1e-3))
    marks = _stroke_marks(prediction)
    above = transforms.blended_transform_factory(ax.transData, ax.transAxes)
    size = float(np.clip(900.0 / max(len(marks), 1), 4.0, 9.0))
    for time_s, kind, hand in marks:
        ax.axvline(time_s, color=KIND_COLOURS.get(kind, "#555555"), linewidth=1.0, alpha=0.9)
        if hand:
            ax.text(
                time_s, 1.01, hand, transform=above, ha="center", va="bottom", fontsize=size,
                color=HAND_COLOURS.get(hand, "black"), gid="hand", clip_on=False,
            )  # fmt: skip
    handles = [Line2D([], [], color=colour, linewidth=2, label=kind) for kind, colour in KIND_COLOURS.items()]
    ax.legend(handles=handles, loc="lower right", ncol=len(handles), fontsize="small", framealpha=0.8)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("amplitude")
    tempo = float(getattr(prediction, "tempo_bpm", 0.0) or 0.0)
    ax.set_title(f"{len(marks)} onsets detected, tempo ≈ {tempo:.0f} BPM (hand above each onset)", pad=16)
    return ax


def onset_timeline(audio: np.ndarray, sample_rate: int, prediction: Any) -> Figure:
    """Figure: the recording's envelope with the predicted onsets, stroke kinds and hands."""
    figure = Figure(figsize=(12, 3.2), layout="constrained")
    draw_onset_timeline(figure.add_subplot(), audio, sample_rate, prediction)
    return figure


# ---------------------------------------------------------------------------------------------- heatmap
def draw_stroke_feature_heatmap(ax: Axes, prediction: Any) -> Axes:
    """Onsets (x) × the 12 ``STROKE_FEATURES`` (y); binary features are probabilities.

    Every feature is drawn on one 0-1 colour scale (the continuous ones — IOI and flam spacing in
    beats, velocity/127, ... — are mostly in that range and clipped to it).
    """
    features = np.asarray(
        getattr(prediction, "stroke_features", np.zeros((0, len(STROKE_FEATURES)))), dtype=float
    )
    features = features.reshape(-1, len(STROKE_FEATURES))
    ax.set_yticks(range(len(STROKE_FEATURES)), STROKE_FEATURES, fontsize="small")
    ax.set_title("stroke features per onset (feature model)")
    ax.set_xlabel("onset (index)")
    if not len(features):
        ax.text(0.5, 0.5, "no onsets detected", transform=ax.transAxes, ha="center", va="center")
        ax.set_ylim(len(STROKE_FEATURES) - 0.5, -0.5)
        return ax
    image = ax.imshow(
        np.clip(features.T, 0.0, 1.0),
        aspect="auto",
        interpolation="nearest",
        cmap="viridis",
        vmin=0.0,
        vmax=1.0,
    )
    figure = ax.get_figure()
    if figure is not None:
        figure.colorbar(image, ax=ax, label="value (clipped to 0-1)", pad=0.01)
    return ax


def stroke_feature_heatmap(prediction: Any) -> Figure:
    """Figure: the predicted stroke features of every onset."""
    n = len(np.asarray(getattr(prediction, "stroke_features", [])))
    figure = Figure(figsize=(float(np.clip(3 + 0.12 * n, 6, 16)), 3.8), layout="constrained")
    draw_stroke_feature_heatmap(figure.add_subplot(), prediction)
    return figure


# --------------------------------------------------------------------------------------------- sticking
def _cycles(rudiment: Rudiment) -> list[tuple[str, tuple[RudimentStroke, ...]]]:
    """One cycle, plus the mirrored one when the lead alternates (that pair is the repeating pattern)."""
    cycles = [("R", rudiment.cycle("R"))]
    if rudiment.alternates_lead:
        cycles.append(("L", rudiment.cycle("L")))
    return cycles


def draw_sticking_diagram(ax: Axes, slug: str) -> Axes:
    """The sticking of ``slug`` on its slot grid, from the rudiment library.

    Hand letters (R/L) sit at their slots; ``>`` above marks an accent; grace notes are small
    lowercase letters just before their stroke (one for a flam, two for a drag); a bracket under
    two strokes marks a diddle and ``z`` under a stroke a buzz. Thick lines are beats, the thickest
    the cycle boundary. A rudiment whose lead alternates is drawn for two cycles (R lead, then L
    lead), the pattern that repeats. Text artists carry a ``gid`` (hand, grace, accent, buzz, beat).
    """
    rudiment = get_rudiment(slug)
    cycles = _cycles(rudiment)
    length = rudiment.cycle_slots
    total = length * len(cycles)
    for slot in np.arange(0.0, total + 1e-9, 1.0):
        if slot % length == 0:
            ax.axvline(slot - 0.5, color="#333333", linewidth=2.0, zorder=0)
        elif slot % rudiment.subdivision == 0:
            ax.axvline(slot - 0.5, color="#777777", linewidth=1.0, zorder=0)
        else:
            ax.axvline(slot - 0.5, color="#cccccc", linewidth=0.6, linestyle=":", zorder=0)
    for beat in range(int(np.ceil(total / rudiment.subdivision))):
        ax.text(
            beat * rudiment.subdivision, -0.9, str(beat % int(max(rudiment.cycle_beats, 1)) + 1),
            ha="center", va="center", fontsize=8, color="#777777", gid="beat",
        )  # fmt: skip
    for index, (lead, strokes) in enumerate(cycles):
        offset = index * length
        for i, stroke in enumerate(strokes):
            x = offset + stroke.slot
            ax.text(
                x, 0.0, stroke.hand, ha="center", va="center", fontsize=16, fontweight="bold",
                color=HAND_COLOURS[stroke.hand], gid="hand",
            )  # fmt: skip
            if stroke.accent:
                ax.text(x, 0.55, ">", ha="center", va="center", fontsize=15, fontweight="bold", gid="accent")
            for g in range(stroke.grace_notes):
                grace_hand = stroke.grace_hand or stroke.hand
                ax.text(
                    x - 0.22 * (stroke.grace_notes - g), 0.12, grace_hand.lower(), ha="center", va="center",
                    fontsize=10, color=HAND_COLOURS[grace_hand], gid="grace",
                )  # fmt: skip
            if stroke.kind == "buzz":
                ax.text(x, -0.5, "z", ha="center", va="center", fontsize=12, fontstyle="italic", gid="buzz")
            if stroke.diddle_position == 1 and i + 1 < len(strokes) and strokes[i + 1].diddle_position == 2:
                end = offset + strokes[i + 1].slot
                ax.add_line(
                    Line2D(
                        [x, x, end, end],
                        [-0.35, -0.48, -0.48, -0.35],
                        color="#1f77b4",
                        linewidth=1.5,
                        gid="diddle",
                    )
                )
        if len(cycles) > 1:
            ax.text(
                offset - 0.4,
                0.85,
                f"{lead} lead",
                ha="left",
                va="center",
                fontsize=8,
                color="#555555",
                gid="lead",
            )
    ax.set_xlim(-0.75, total - 0.25)
    ax.set_ylim(-1.1, 1.05)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    repeat = (
        "; the next cycle mirrors the lead" if rudiment.alternates_lead else "; the cycle repeats as written"
    )
    beats = f"{rudiment.cycle_beats:g} beat" + ("" if rudiment.cycle_beats == 1 else "s")
    ax.set_title(
        f"PAS #{rudiment.number}: {rudiment.name}\n{rudiment.time_feel}, {beats} per cycle{repeat}",
        fontsize=11,
    )
    return ax


def sticking_diagram(slug: str) -> Figure:
    """Figure: the rudiment's sticking (see :func:`draw_sticking_diagram`); title = PAS number + name."""
    rudiment = get_rudiment(slug)
    slots = rudiment.cycle_slots * len(_cycles(rudiment))
    figure = Figure(figsize=(float(np.clip(1.0 + 0.42 * slots, 5.0, 18.0)), 2.6), layout="constrained")
    draw_sticking_diagram(figure.add_subplot(), slug)
    return figure


# -------------------------------------------------------------------------------------------- confusion
def confusion_matrix_figure(
    matrix: np.ndarray, labels: Sequence[str], *, title: str = "Confusion matrix"
) -> Figure:
    """Truth (rows) × prediction (columns): colour = share of the true class's clips, numbers = clips."""
    matrix = np.asarray(matrix)
    n = matrix.shape[0]
    if matrix.shape != (n, n) or len(labels) != n:
        raise ValueError(f"matrix {matrix.shape} and {len(labels)} labels do not match")
    rows = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, rows, out=np.zeros(matrix.shape, dtype=float), where=rows > 0)
    side = float(np.clip(3.0 + 0.3 * n, 5.0, 16.0))
    figure = Figure(figsize=(side + 1.5, side), layout="constrained")
    ax = figure.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    figure.colorbar(image, ax=ax, label="share of the true rudiment's clips", shrink=0.8)
    font = float(np.clip(300.0 / max(n, 1), 6.0, 10.0))
    names = [
        f"{label} (#{RUDIMENTS[label].number})" if label in RUDIMENTS else str(label) for label in labels
    ]
    ax.set_xticks(range(n), names, rotation=90, fontsize=font)
    ax.set_yticks(range(n), names, fontsize=font)
    ax.set_xlabel("predicted (first-ranked)")
    ax.set_ylabel("truth")
    ax.set_title(f"{title} ({int(matrix.sum())} clips)")
    if n <= 60:
        for i, j in zip(*np.nonzero(matrix), strict=True):
            ax.text(
                j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=font * 0.9,
                color="white" if shares[i, j] > 0.5 else "black",
            )  # fmt: skip
    return figure


# ------------------------------------------------------------------------------------------- prediction
def _headline(prediction: Any) -> str:
    top = list(getattr(prediction, "top", []) or [])
    if not top:
        return "no ranking"
    best = top[0]
    if getattr(prediction, "found", True):
        runners = ", ".join(f"{g.name} {g.probability:.0%}" for g in top[1:3])
        return f"{best.name} ({best.probability:.0%})" + (f" — then {runners}" if runners else "")
    return f"no rudiment found: {prediction.reason} (best guess: {best.name} {best.probability:.0%})"


def prediction_figure(audio: np.ndarray, sample_rate: int, prediction: Any) -> Figure:
    """One figure: onset timeline, stroke-feature heatmap and the predicted rudiment's sticking.

    This is what ``sousa classify --plot OUT.png`` saves. When nothing was found the sticking of the
    best guess is still drawn, and the headline says that it is a guess.
    """
    figure = Figure(figsize=(13, 10), layout="constrained")
    grid = figure.add_gridspec(3, 1, height_ratios=[2.2, 2.2, 1.4])
    draw_onset_timeline(figure.add_subplot(grid[0]), audio, sample_rate, prediction)
    draw_stroke_feature_heatmap(figure.add_subplot(grid[1]), prediction)
    sticking_ax = figure.add_subplot(grid[2])
    top = list(getattr(prediction, "top", []) or [])
    if top:
        draw_sticking_diagram(sticking_ax, top[0].slug)
    else:
        sticking_ax.set_axis_off()
    figure.suptitle(_headline(prediction), fontsize=14, fontweight="bold")
    return figure


# ------------------------------------------------------------------------------------------------ saving
def save_figure(figure: Figure, path: str | Path, *, dpi: int = 100) -> Path:
    """Write ``figure`` to ``path`` (parent folders created) and return the path.

    PNG (Agg) when the name has no suffix or ``.png``; another suffix matplotlib writes (``.svg``,
    ``.pdf``, ...) picks that format, and one it cannot write raises ``ValueError``.
    """
    path = Path(path)
    fmt = path.suffix[1:].lower() or "png"
    supported = figure.canvas.get_supported_filetypes()
    if fmt not in supported:
        raise ValueError(
            f"cannot write a .{fmt} figure; use one of: {', '.join('.' + k for k in sorted(supported))}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi, format=fmt)
    return path


def save_onset_timeline(
    audio: np.ndarray, sample_rate: int, prediction: Any, path: str | Path, *, dpi: int = 100
) -> Path:
    return save_figure(onset_timeline(audio, sample_rate, prediction), path, dpi=dpi)


def save_stroke_feature_heatmap(prediction: Any, path: str | Path, *, dpi: int = 100) -> Path:
    return save_figure(stroke_feature_heatmap(prediction), path, dpi=dpi)


def save_sticking_diagram(slug: str, path: str | Path, *, dpi: int = 100) -> Path:
    return save_figure(sticking_diagram(slug), path, dpi=dpi)


def save_confusion_matrix(
    matrix: np.ndarray, labels: Sequence[str], path: str | Path, *, dpi: int = 100
) -> Path:
    return save_figure(confusion_matrix_figure(matrix, labels), path, dpi=dpi)


def save_prediction_figure(
    audio: np.ndarray, sample_rate: int, prediction: Any, path: str | Path, *, dpi: int = 100
) -> Path:
    return save_figure(prediction_figure(audio, sample_rate, prediction), path, dpi=dpi)
