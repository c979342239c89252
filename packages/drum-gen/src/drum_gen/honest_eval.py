"""Honest evaluation: measures that do not reuse the judge the model was trained against.

The style-classifier accuracy in :mod:`drum_gen.evaluate` is circular: the classifier and the model
both learned the same procedural templates, so a model that copies the templates scores 100 %. The
measures here compare generated patterns with a **held-out** corpus sample (another corpus seed than
training) and with the training corpus itself:

- :func:`two_sample_test` -- a classifier two-sample test (C2ST): a fresh L2 logistic regression on
  :func:`pattern_features`, k-fold cross-validated on generated-vs-held-out labels. Accuracy near 50 %
  means the two sets cannot be told apart; its binomial standard error says how near is near.
- :func:`distribution_distances` -- MGEval-style (Yang & Lerch 2020) overlap area and KL divergence,
  computed here **directly between the per-pattern feature distributions** of the two sets (not
  between intra-/inter-set distance distributions), so identical sets give overlap 1 and KL 0 exactly.
  Scalar features (density, syncopation) use a Gaussian KDE (Silverman bandwidth) on a shared grid;
  discrete pooled features (hi-hat onset positions, inter-onset intervals in 16ths) use histograms
  with one bin per value.
- :func:`novelty` -- nearest-neighbour Jaccard similarity of each generated pattern's (step, drum
  class) onsets to every ``bars``-bar window of the training corpus; exact copies have similarity 1.
  Diversity is the mean pairwise Jaccard distance among the generated patterns.
- :func:`timing_stats` -- micro-timing and velocity read back from humanized patterns per instrument:
  the onset offset (ms) from the style's *swung* 16th grid, so swing is not counted as micro-timing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from drum_gen import gm
from drum_gen.analysis import onset_grid
from drum_gen.humanize import instrument_offset_ms, swing_step_ticks
from drum_gen.pattern import Pattern
from drum_gen.styles import StyleSpec

STEPS_PER_BAR = 16
"""Features use a 4/4 16th grid (what the generator writes); other meters are padded/truncated."""
HIHAT_CLASSES = (2, 3)
EPS = 1e-10


# --------------------------------------------------------------------------- features


def _grid(pattern: Pattern) -> np.ndarray:
    """``[bars, 16, 9]`` onset grid, padded or truncated to 16 steps per bar."""
    grid = onset_grid(pattern, 4)
    if grid.shape[1] < STEPS_PER_BAR:
        grid = np.pad(grid, ((0, 0), (0, STEPS_PER_BAR - grid.shape[1]), (0, 0)))
    return grid[:, :STEPS_PER_BAR]


def syncopation(pattern: Pattern) -> float:
    """Fraction of onsets on weak 16ths (odd steps: the "e" and "a"); 0 for an empty pattern.

    A deliberately simple proxy (no metrical-weight model): enough to separate straight from
    syncopated grooves, and defined for every pattern.
    """
    grid = _grid(pattern)
    total = grid.sum()
    return float(grid[:, 1::2].sum() / total) if total else 0.0


def pattern_features(pattern: Pattern) -> np.ndarray:
    """Fixed-length vector for the two-sample test: density per instrument (9), any-instrument onset
    histogram over the 16 bar positions (16), hi-hat onset histogram (16) and syncopation (1)."""
    grid = _grid(pattern)
    bars = max(grid.shape[0], 1)
    per_class = grid.sum(axis=(0, 1)) / bars
    positions = grid.max(axis=2).mean(axis=0) if grid.shape[0] else np.zeros(STEPS_PER_BAR)
    hihat = grid[:, :, HIHAT_CLASSES].max(axis=2).mean(axis=0) if grid.shape[0] else np.zeros(STEPS_PER_BAR)
    return np.concatenate([per_class, positions, hihat, [syncopation(pattern)]]).astype(np.float64)


def hihat_positions(pattern: Pattern) -> np.ndarray:
    """Bar positions (0-15, 16ths) of every hi-hat onset."""
    grid = _grid(pattern)
    return np.nonzero(grid[:, :, HIHAT_CLASSES].max(axis=2))[1].astype(np.float64)


def inter_onset_intervals(pattern: Pattern) -> np.ndarray:
    """Intervals (in 16ths, any instrument) between consecutive onset steps of the whole pattern."""
    steps = np.nonzero(_grid(pattern).max(axis=2).reshape(-1))[0]
    return np.diff(steps).astype(np.float64)


# --------------------------------------------------------------------------- (a) two-sample test


@dataclass(frozen=True)
class TwoSampleResult:
    accuracy: float
    standard_error: float
    n_generated: int
    n_reference: int
    folds: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, steps: int, lr: float) -> np.ndarray:
    """Full-batch gradient descent on L2-regularised logistic loss; returns ``[d + 1]`` weights."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    penalty = np.r_[np.full(x.shape[1], l2), 0.0]
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -30, 30)))
        w -= lr * (xb.T @ (p - y) / len(y) + penalty * w)
    return w


def two_sample_test(
    generated: Sequence[Pattern],
    reference: Sequence[Pattern],
    *,
    folds: int = 5,
    l2: float = 0.01,
    steps: int = 300,
    lr: float = 0.5,
) -> TwoSampleResult | None:
    """Classifier two-sample test: k-fold CV accuracy of telling generated from reference patterns.

    Fold of a pattern = its index modulo k in its own set, so folds are stratified and, when the two
    sets are the same list, each pattern and its twin are held out together (otherwise the twin in the
    training fold, carrying the opposite label, would push accuracy *below* 50 %). Features are
    standardised on the training fold. A prediction exactly at p = 0.5 counts as half right. None when
    either set has fewer than 2 patterns.
    """
    if len(generated) < 2 or len(reference) < 2:
        return None
    x = np.stack([pattern_features(p) for p in [*generated, *reference]])
    y = np.r_[np.ones(len(generated)), np.zeros(len(reference))]
    k = max(2, min(folds, len(generated), len(reference)))
    fold = np.r_[np.arange(len(generated)) % k, np.arange(len(reference)) % k]
    correct = 0.0
    for f in range(k):
        train, test = fold != f, fold == f
        mean, std = x[train].mean(axis=0), x[train].std(axis=0)
        std[std < 1e-9] = 1.0
        w = _fit_logistic((x[train] - mean) / std, y[train], l2, steps, lr)
        z = np.hstack([(x[test] - mean) / std, np.ones((int(test.sum()), 1))]) @ w
        hits = np.where(np.abs(z) < 1e-9, 0.5, ((z > 0) == (y[test] == 1)).astype(float))
        correct += float(hits.sum())
    n = len(y)
    accuracy = correct / n
    return TwoSampleResult(
        accuracy=accuracy,
        standard_error=math.sqrt(max(accuracy * (1 - accuracy), 0.0) / n),
        n_generated=len(generated),
        n_reference=len(reference),
        folds=k,
    )


# --------------------------------------------------------------------------- (b) MGEval distances


def _kde(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Gaussian KDE (Silverman's rule; a small floor for constant data), normalised on ``grid``."""
    n = values.size
    sigma = float(values.std(ddof=1)) if n > 1 else 0.0
    bandwidth = max(1.06 * sigma * n ** (-0.2), 1e-3 * (grid[-1] - grid[0]), 1e-6)
    density = np.exp(-0.5 * ((grid[:, None] - values[None, :]) / bandwidth) ** 2).sum(axis=1)
    return density / density.sum()


def overlap_and_kl(a: np.ndarray, b: np.ndarray, *, discrete: bool) -> tuple[float, float] | None:
    """Overlap area (sum of min) and KL(a || b) of two value samples on a shared support.

    ``discrete``: one histogram bin per integer value; otherwise KDEs on a 200-point grid spanning both
    samples (padded by 10 %). ``b`` gets ``1e-10`` added before the log so KL stays finite. None when
    either sample is empty.
    """
    if a.size == 0 or b.size == 0:
        return None
    lo, hi = float(min(a.min(), b.min())), float(max(a.max(), b.max()))
    if discrete:
        edges = np.arange(math.floor(lo), math.floor(hi) + 2) - 0.5
        pa = np.histogram(a, bins=edges)[0].astype(float)
        pb = np.histogram(b, bins=edges)[0].astype(float)
        pa, pb = pa / pa.sum(), pb / pb.sum()
    else:
        pad = max(0.1 * (hi - lo), 1e-3)
        grid = np.linspace(lo - pad, hi + pad, 200)
        pa, pb = _kde(a, grid), _kde(b, grid)
    overlap = float(np.minimum(pa, pb).sum())
    mask = pa > 0
    kl = float(np.sum(pa[mask] * np.log(pa[mask] / (pb[mask] + EPS))))
    return min(overlap, 1.0), max(kl, 0.0)


DISTANCE_FEATURES: dict[str, tuple[Any, bool]] = {
    "density": (lambda p: np.array([len(p.notes) / max(p.num_bars, 1)]), False),
    "syncopation": (lambda p: np.array([syncopation(p)]), False),
    "hihat_positions": (hihat_positions, True),
    "ioi_16ths": (inter_onset_intervals, True),
}
"""Feature -> (values of one pattern, discrete?). Values are pooled over the patterns of a set."""


def distribution_distances(
    generated: Sequence[Pattern], reference: Sequence[Pattern]
) -> dict[str, dict[str, float | None]]:
    """Per feature: ``{"overlap", "kl"}`` between generated and reference (None when undefined)."""
    out: dict[str, dict[str, float | None]] = {}
    for name, (fn, discrete) in DISTANCE_FEATURES.items():
        a = np.concatenate([fn(p) for p in generated]) if generated else np.zeros(0)
        b = np.concatenate([fn(p) for p in reference]) if reference else np.zeros(0)
        result = overlap_and_kl(a, b, discrete=discrete)
        out[name] = (
            {"overlap": None, "kl": None}
            if result is None
            else dict(zip(("overlap", "kl"), result, strict=True))
        )
    return out


# --------------------------------------------------------------------------- (c) novelty, diversity


def onset_vectors(patterns: Sequence[Pattern], bars: int) -> np.ndarray:
    """Boolean ``[n_windows, bars*16*9]`` (step, class) onset vectors of every ``bars``-bar window
    (at each bar offset) of each pattern; shorter patterns are zero-padded to one window."""
    rows = []
    for p in patterns:
        grid = _grid(p) > 0
        if grid.shape[0] < bars:
            grid = np.pad(grid, ((0, bars - grid.shape[0]), (0, 0), (0, 0)))
        for start in range(grid.shape[0] - bars + 1):
            rows.append(grid[start : start + bars].reshape(-1))
    return np.asarray(rows, dtype=bool).reshape(len(rows), bars * STEPS_PER_BAR * gm.NUM_DRUM_CLASSES)


def _jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise Jaccard similarity of boolean rows; two empty rows count as identical (1)."""
    af, bf = a.astype(np.float64), b.astype(np.float64)
    inter = af @ bf.T
    union = af.sum(1)[:, None] + bf.sum(1)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


@dataclass(frozen=True)
class NoveltyResult:
    nearest_similarity_mean: float
    """Mean over generated patterns of the Jaccard similarity to the closest training window."""
    novelty_mean: float
    """1 - ``nearest_similarity_mean``: 0 when every pattern copies the training corpus."""
    copy_fraction: float
    """Fraction of generated patterns identical (on the 16th grid, per drum class) to a training window."""
    diversity: float | None
    """Mean pairwise Jaccard distance among generated patterns (None with fewer than 2)."""
    n_generated: int
    n_training_windows: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def novelty(generated: Sequence[Pattern], training: Sequence[Pattern]) -> NoveltyResult | None:
    """Nearest-neighbour overlap of each generated pattern with the training corpus, plus diversity."""
    if not generated or not training:
        return None
    bars = max(p.num_bars for p in generated)
    gen = np.stack([onset_vectors([p], bars)[0] for p in generated])  # each pattern's first window
    train = onset_vectors(training, bars)
    nearest = _jaccard(gen, train).max(axis=1)
    diversity = None
    if len(gen) > 1:
        sim = _jaccard(gen, gen)
        upper = np.triu_indices(len(gen), k=1)
        diversity = float(1.0 - sim[upper].mean())
    return NoveltyResult(
        nearest_similarity_mean=float(nearest.mean()),
        novelty_mean=float(1.0 - nearest.mean()),
        copy_fraction=float(np.mean(nearest >= 1.0 - 1e-12)),
        diversity=diversity,
        n_generated=len(gen),
        n_training_windows=len(train),
    )


# --------------------------------------------------------------------------- (d) timing, velocity


def _swung_grid(pattern: Pattern, swing_percent: float, resolution: int) -> np.ndarray:
    """Tick positions of the straight 16th grid after MPC swing (as :func:`~drum_gen.humanize.apply_swing`),
    over the whole pattern plus one step past its end."""
    step16 = pattern.ticks_per_beat // 4
    bar = pattern.ticks_per_bar
    step = swing_step_ticks(pattern.ticks_per_beat, resolution)
    span, off_beat = 2 * step, swing_percent / 100.0 * 2 * step
    ticks = []
    for b in range(pattern.num_bars + 1):
        for rel in range(0, bar, step16):
            pair = rel // span
            if (pair + 1) * span > bar:
                ticks.append(b * bar + rel)
                continue
            offset = rel - pair * span
            warped = (
                offset * off_beat / step
                if offset <= step
                else off_beat + (offset - step) * (span - off_beat) / step
            )
            ticks.append(b * bar + pair * span + warped)
    return np.asarray(sorted(ticks), dtype=np.float64)


def timing_stats(
    patterns: Sequence[Pattern], swing_percent: float = 50.0, resolution: int = 16
) -> dict[str, dict[str, float | int]]:
    """Per drum class: ``mean_offset_ms`` / ``std_offset_ms`` of onsets from the nearest swung-16th grid
    position, ``mean_velocity`` and ``n`` notes.

    Removing the swing grid first matters: otherwise swing would read as a late bias of every off-beat.
    An offset larger than half the distance to the next grid line is attributed to that line (with
    J Dilla's 62 % 16th swing that is ~60 ms after the off-beat; the jitter is clipped at 2.5 sigma).
    """
    offsets: dict[int, list[float]] = {}
    velocities: dict[int, list[int]] = {}
    for p in patterns:
        grid = _swung_grid(p, swing_percent, resolution)
        ms_per_tick = p.seconds_per_tick * 1000.0
        for note in p.notes:
            nearest = grid[np.argmin(np.abs(grid - note.time))]
            cls = gm.pitch_to_class(note.pitch)
            offsets.setdefault(cls, []).append((note.time - nearest) * ms_per_tick)
            velocities.setdefault(cls, []).append(note.velocity)
    return {
        gm.DRUM_CLASSES[cls]: {
            "mean_offset_ms": float(np.mean(offsets[cls])),
            "std_offset_ms": float(np.std(offsets[cls])),
            "mean_velocity": float(np.mean(velocities[cls])),
            "n": len(offsets[cls]),
        }
        for cls in sorted(offsets)
    }


def timing_targets(style: StyleSpec) -> dict[str, dict[str, float]]:
    """The style's intended per-class offset (``per_instrument_offsets_ms``) and jitter sigma
    (``microtiming_ms``; the measured std reads ~5 % lower because the jitter is clipped at 2.5 sigma)."""
    return {
        name: {
            "offset_ms": instrument_offset_ms(gm.CLASS_TO_PITCH[cls], style.per_instrument_offsets_ms),
            "sigma_ms": style.microtiming_ms,
        }
        for cls, name in enumerate(gm.DRUM_CLASSES)
    }


# --------------------------------------------------------------------------- per style bundle


@dataclass(frozen=True)
class HonestMeasures:
    """All honest measures of one style."""

    two_sample: TwoSampleResult | None
    distances: dict[str, dict[str, float | None]]
    novelty: NoveltyResult | None
    novelty_heldout: NoveltyResult | None
    """The same novelty measure for the held-out corpus sample: what "novel" looks like for the templates."""
    timing_generated: dict[str, dict[str, float | int]]
    timing_heldout: dict[str, dict[str, float | int]]
    timing_targets: dict[str, dict[str, float]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "two_sample": None if self.two_sample is None else self.two_sample.to_dict(),
            "distances": self.distances,
            "novelty": None if self.novelty is None else self.novelty.to_dict(),
            "novelty_heldout": None if self.novelty_heldout is None else self.novelty_heldout.to_dict(),
            "timing_generated": self.timing_generated,
            "timing_heldout": self.timing_heldout,
            "timing_targets": self.timing_targets,
        }


def honest_measures(
    style: StyleSpec,
    generated_q: Sequence[Pattern],
    heldout_q: Sequence[Pattern],
    training_q: Sequence[Pattern],
    generated_h: Sequence[Pattern],
    heldout_h: Sequence[Pattern],
) -> HonestMeasures:
    """Compute (a)-(d) for one style: quantized sets for (a)-(c), humanized sets for (d)."""
    swing = (style.swing_percent, style.swing_resolution)
    return HonestMeasures(
        two_sample=two_sample_test(generated_q, heldout_q),
        distances=distribution_distances(generated_q, heldout_q),
        novelty=novelty(generated_q, training_q),
        novelty_heldout=novelty(heldout_q, training_q),
        timing_generated=timing_stats(generated_h, *swing),
        timing_heldout=timing_stats(heldout_h, *swing),
        timing_targets=timing_targets(style),
    )


def honest_markdown(measures: Mapping[str, HonestMeasures]) -> list[str]:
    """Four Markdown tables (one per measure, rows per style)."""

    def f(x: float | int | None, digits: int = 3) -> str:
        return "n/a" if x is None else f"{x:.{digits}f}"

    lines = [
        "Honest evaluation (generated vs a held-out corpus sample drawn with another seed than training; "
        "drum_gen.honest_eval).",
        "",
        "(a) Two-sample classifier test (logistic regression, k-fold CV; 50 % = indistinguishable):",
        "",
        "| style | accuracy | std. error | n gen | n held-out | folds |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for style, m in measures.items():
        t = m.two_sample
        lines.append(
            f"| {style} | n/a | n/a | 0 | 0 | 0 |"
            if t is None
            else f"| {style} | {t.accuracy:.1%} | {t.standard_error:.1%} | {t.n_generated} | "
            f"{t.n_reference} | {t.folds} |"
        )
    lines += [
        "",
        "(b) MGEval-style distances between per-pattern feature distributions (KDE for density/syncopation, "
        "histograms for hi-hat positions and inter-onset intervals; KL(generated || held-out)):",
        "",
        "| style | feature | overlap | KL |",
        "|---|---|---:|---:|",
    ]
    for style, m in measures.items():
        for feature, d in m.distances.items():
            lines.append(f"| {style} | {feature} | {f(d['overlap'])} | {f(d['kl'])} |")
    lines += [
        "",
        "(c) Novelty vs the training corpus (Jaccard of (16th step, drum class) onsets to the nearest "
        "training window) and diversity (mean pairwise Jaccard distance):",
        "",
        "| style | set | nearest similarity | novelty | exact copies | diversity |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for style, m in measures.items():
        for label, n in (("generated", m.novelty), ("held-out", m.novelty_heldout)):
            if n is None:
                lines.append(f"| {style} | {label} | n/a | n/a | n/a | n/a |")
            else:
                lines.append(
                    f"| {style} | {label} | {f(n.nearest_similarity_mean)} | {f(n.novelty_mean)} | "
                    f"{n.copy_fraction:.1%} | {f(n.diversity)} |"
                )
    lines += [
        "",
        "(d) Micro-timing (ms from the swung 16th grid) and velocity after humanization, per instrument:",
        "",
        "| style | instrument | target offset | target sigma | gen offset | gen std | held-out offset "
        "| held-out std | gen velocity | held-out velocity | n gen |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for style, m in measures.items():
        for name, g in m.timing_generated.items():
            h = m.timing_heldout.get(name, {})
            t = m.timing_targets[name]
            lines.append(
                f"| {style} | {name} | {f(t['offset_ms'], 1)} | {f(t['sigma_ms'], 1)} | "
                f"{f(g['mean_offset_ms'], 1)} | {f(g['std_offset_ms'], 1)} | {f(h.get('mean_offset_ms'), 1)} | "
                f"{f(h.get('std_offset_ms'), 1)} | {f(g['mean_velocity'], 1)} | {f(h.get('mean_velocity'), 1)} | "
                f"{g['n']} |"
            )
    return lines
