"""Score one performance with a saved model: per-dimension scores with an uncertainty, a weighted
aggregate, and a timeline of where the model looked and which passages scored lowest.

Uncertainty. :class:`~piano_eval.heads.PerformanceHead` predicts one score per dimension and no variance (the
learned log-variances of :class:`~piano_eval.losses.UncertaintyWeightedLoss` weight training *tasks*, not
dimensions or inputs), so the spread is Monte-Carlo dropout: the encoder runs once, the head ``samples``
times with its dropout active; ``std`` is the spread of those draws. A model without dropout has no
uncertainty estimate (``std`` is ``None``).

Timeline. ``attention`` is the head's pooling weight per encoder frame (sums to 1), placed in seconds:
notes at their onsets (``notes``), REMI tokens at the onset of the note they describe (``tokens``), frames
spread evenly over the file's duration otherwise (50 Hz MIDI frames, audio encoder frames). ``local`` is the
weighted aggregate the head gives each frame on its own (pooling replaced by that frame) — a heuristic
of where the performance sounds weakest to the model; ``weakest`` are the lowest-scoring windows of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from piano_eval.data.inputs import input_loader, part_collate, reads
from piano_eval.data.validation import AudioSummary, MidiSummary, check_audio, check_lengths, check_midi
from piano_eval.heads import PerformanceHead
from piano_eval.scoring.ensemble import PerformanceEnsemble, combine_outputs
from piano_eval.scoring.model_files import SavedModel
from piano_eval.training import PerformanceModule


@dataclass(frozen=True)
class Passage:
    start: float  # seconds
    end: float
    score: float  # mean local aggregate score in the window


@dataclass(frozen=True)
class AttentionTimeline:
    times: np.ndarray  # [T] seconds of each encoder frame
    attention: np.ndarray  # [T] pooling weights, sum 1
    local: np.ndarray | None  # [T] weighted aggregate of each frame alone; None when the head cannot say
    weakest: tuple[Passage, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "times": self.times.round(4).tolist(),
            "attention": self.attention.tolist(),
            "local": None if self.local is None else self.local.tolist(),
            "weakest": [vars(p) for p in self.weakest],
        }


@dataclass(frozen=True)
class PerformanceScore:
    """One performance's scores in [0, 1]; ``std`` is ``None`` when the model has no dropout."""

    model: str
    source: str  # the file the model read
    dimensions: tuple[str, ...]
    scores: np.ndarray  # [K] the model's prediction (dropout off)
    std: np.ndarray | None  # [K] Monte-Carlo dropout spread
    weights: np.ndarray  # [K] sum 1
    aggregate: float
    aggregate_std: float | None
    uncertainty: str  # how std was estimated
    duration: float  # seconds
    timeline: AttentionTimeline
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "source": self.source,
            "duration": round(self.duration, 3),
            "dimensions": {
                name: {
                    "score": float(self.scores[k]),
                    "std": None if self.std is None else float(self.std[k]),
                    "weight": float(self.weights[k]),
                }
                for k, name in enumerate(self.dimensions)
            },
            "aggregate": {"score": self.aggregate, "std": self.aggregate_std},
            "uncertainty": self.uncertainty,
            "timeline": self.timeline.to_dict(),
            "notes": list(self.notes),
        }


def resolve_weights(dimensions: Sequence[str], weights: Mapping[str, float] | None) -> np.ndarray:
    """Normalised aggregate weights: equal by default; named dimensions get their weight, the others 1."""
    values = np.ones(len(dimensions))
    for name, weight in (weights or {}).items():
        if name not in dimensions:
            raise ValueError(f"no dimension {name!r} to weight; the model scores {list(dimensions)}")
        if not np.isfinite(weight) or weight < 0:
            raise ValueError(f"weight of {name!r} must be a finite number ≥ 0, got {weight}")
        values[list(dimensions).index(name)] = weight
    if values.sum() <= 0:
        raise ValueError("the aggregate weights are all zero")
    return values / values.sum()


def _dropout_modules(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0]


def _note_onsets(midi: Path) -> np.ndarray:
    import symusic

    score = symusic.Score(str(midi)).to("second")
    return np.sort(np.concatenate([[n.time for n in t.notes] for t in score.tracks] or [[]]))


def frame_times(kind: str, frames: int, duration: float, midi: Path | None, ids: Any = None) -> np.ndarray:
    """Seconds of each of the ``frames`` encoder outputs (see the module docstring)."""
    even = (np.arange(frames) + 0.5) * duration / max(frames, 1)
    if kind == "notes" and midi is not None:
        onsets = _note_onsets(midi)
        return onsets if len(onsets) == frames else even
    if kind == "tokens" and midi is not None and ids is not None:
        from piano_eval.data.inputs import benchmark_tokenizer

        tokenizer = benchmark_tokenizer()
        names = [tokenizer.id_to_token(int(i)) for i in ids[:frames]]
        is_note = np.array([n.startswith("Pitch") for n in names])
        # a note's own tokens (Pitch, Velocity, Duration) sit at its onset; Bar/Position/specials at the next note's
        same_note = is_note | np.array([n.startswith(("Velocity", "Duration")) for n in names])
        onsets = _note_onsets(midi)
        if len(names) == frames and is_note.any():
            count = np.cumsum(is_note)
            index = np.where(same_note, count - 1, count)
            grid = onsets if len(onsets) >= is_note.sum() else np.linspace(0, duration, int(is_note.sum()))
            return grid[np.clip(index, 0, len(grid) - 1)]
    return even


def merge_same_times(
    times: np.ndarray, attention: np.ndarray, local: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """One point per distinct time (a chord's notes, a note's tokens): attention summed, local score
    averaged with the attention as weights."""
    unique, inverse = np.unique(times, return_inverse=True)
    if len(unique) == len(times):
        return times, attention, local
    summed = np.bincount(inverse, weights=attention, minlength=len(unique))
    if local is None:
        return unique, summed, None
    weighted = np.bincount(inverse, weights=attention * local, minlength=len(unique))
    plain = np.bincount(inverse, weights=local, minlength=len(unique)) / np.bincount(inverse)
    merged = np.where(summed > 0, weighted / np.where(summed > 0, summed, 1.0), plain)
    return unique, summed, merged


def weakest_passages(
    times: np.ndarray, local: np.ndarray, window: float, count: int, duration: float
) -> tuple[Passage, ...]:
    """The ``count`` non-overlapping ``window``-second windows with the lowest mean ``local`` score."""
    if count < 1 or len(times) == 0:
        return ()
    window = min(window, max(duration, 1e-6))
    starts = np.unique(np.clip(np.concatenate([times - window / 2, [0.0]]), 0, max(duration - window, 0)))
    candidates = []
    for start in starts:
        inside = (times >= start) & (times < start + window)
        if inside.any():
            candidates.append((float(local[inside].mean()), float(start)))
    chosen: list[Passage] = []
    for value, start in sorted(candidates):
        if all(start + window <= p.start or start >= p.end for p in chosen):
            chosen.append(Passage(round(start, 3), round(start + window, 3), value))
        if len(chosen) == count:
            break
    return tuple(sorted(chosen, key=lambda p: p.start))


def _encode_and_score(
    model: PerformanceModule | PerformanceEnsemble,
    part: Any,
    weights: torch.Tensor,
    samples: int,
    seed: int,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None, str]:
    """``(scores [K], draws [S, K] or None, attention [T], local [T] or None, uncertainty method)``.

    An ensemble of plain models is handled member by member (the mean of their heads), so it keeps the
    per-frame local scores and head-only dropout passes a single model has."""
    members = list(model.members) if isinstance(model, PerformanceEnsemble) else [model]
    # encoder → scorer: the head can run alone on cached encoder features
    plain = all(type(m).forward is PerformanceModule.forward for m in members)
    mask: torch.Tensor | None = None
    with torch.no_grad():
        if plain:
            encoded = [m.encode(part) for m in members]
            mask = encoded[0][1]
            run = lambda: combine_outputs(  # noqa: E731
                [m.scorer(f, k) for m, (f, k) in zip(members, encoded, strict=True)]
            )
        else:
            run = lambda: model(part)  # noqa: E731
        out = run()
        valid = mask[0].bool() if mask is not None else None
        local = None
        if plain and all(isinstance(m.scorer.head, PerformanceHead) for m in members):
            per_member = []
            for m, (features, _) in zip(members, encoded, strict=True):
                head = m.scorer.head
                frames = features[0] if valid is None else features[0][valid]
                per_member.append(head.frame_scores(frames) @ weights)
            local = torch.stack(per_member).mean(0)
        dropouts = (
            [d for m in members for d in _dropout_modules(m.scorer)] if plain else _dropout_modules(model)
        )
        draws = None
        method = "none: the model has no dropout, so no uncertainty estimate"
        if dropouts and samples > 1:
            rng_state = torch.random.get_rng_state()
            torch.manual_seed(seed)  # reproducible draws, without disturbing the caller's generator
            for m in dropouts:
                m.train()
            try:
                draws = torch.stack([run().scores[0] for _ in range(samples)])
            finally:
                for m in dropouts:
                    m.eval()
                torch.random.set_rng_state(rng_state)
            method = (
                f"Monte-Carlo dropout: std of {samples} {'head' if plain else 'model'} passes, dropout on"
            )
    attention = out.attention[0]
    if attention.dim() > 1:  # multi-head pooling: mean over heads
        attention = attention.mean(0)
    if valid is not None and valid.numel() == attention.numel():
        attention = attention[valid]
    return out.scores[0], draws, attention, local, method


def score_performance(
    saved: SavedModel,
    audio: str | Path | None = None,
    midi: str | Path | None = None,
    score_midi: str | Path | None = None,
    *,
    weights: Mapping[str, float] | None = None,
    samples: int = 30,
    seed: int = 0,
    window: float = 2.0,
    passages: int = 3,
) -> PerformanceScore:
    """Validate the files (:mod:`piano_eval.data.validation`), run the model, assemble the result.

    The model reads the audio or the performance MIDI according to its input kind; the other file, when
    given, is checked too and their lengths compared. ``score_midi`` is checked; no saved input kind reads
    the score yet, so it is noted and not used.
    """
    kind = saved.input_kind
    source_kind = reads(kind)
    audio_summary: AudioSummary | None = check_audio(audio) if audio is not None else None
    midi_summary: MidiSummary | None = check_midi(midi) if midi is not None else None
    if audio_summary is not None and midi_summary is not None:
        check_lengths(audio_summary, midi_summary)
    notes: list[str] = []
    if score_midi is not None:
        check_midi(score_midi)
        notes.append(f"{saved.name} reads '{kind}' inputs, not the score: {score_midi} was checked, not used")
    source = audio_summary if source_kind == "audio" else midi_summary
    if source is None:
        given = "--midi PERF.mid" if source_kind == "midi" else "the audio file"
        raise ValueError(f"{saved.name} reads {source_kind} (input kind '{kind}'): pass {given}")
    path = source.path
    loaded = input_loader(kind)([path])
    part = part_collate(kind)(loaded)
    weight_array = resolve_weights(saved.dimensions, weights)
    weight_tensor = torch.as_tensor(weight_array, dtype=torch.float32)
    scores, draws, attention, local, method = _encode_and_score(
        saved.model.eval(), part, weight_tensor, samples, seed
    )
    frames = attention.numel()
    times = frame_times(kind, frames, source.duration, midi_summary.path if midi_summary else None, loaded[0])
    local_np = None if local is None or local.numel() != frames else local.double().numpy()
    times, attention_np, local_np = merge_same_times(
        np.asarray(times, dtype=np.float64), attention.double().numpy(), local_np
    )
    timeline = AttentionTimeline(
        times=times,
        attention=attention_np,
        local=local_np,
        weakest=weakest_passages(times, local_np, window, passages, source.duration)
        if local_np is not None
        else (),
    )
    scores_np = scores.double().numpy()
    std = None if draws is None else draws.double().std(0).numpy()
    aggregate_std = None if draws is None else float((draws.double().numpy() @ weight_array).std(ddof=1))
    return PerformanceScore(
        model=saved.name,
        source=str(path),
        dimensions=saved.dimensions,
        scores=scores_np,
        std=std,
        weights=weight_array,
        aggregate=float(scores_np @ weight_array),
        aggregate_std=aggregate_std,
        uncertainty=method,
        duration=source.duration,
        timeline=timeline,
        notes=tuple(notes),
    )
