"""Validate the pseudo-labels and the score alignment on the synthetic benchmark, where the truth is known.

Builds (or reuses) a synthetic benchmark, labels every segment twice — from the performance MIDI aligned
to the score (+ tone from audio) and from the audio alone — and reports:

- each label's Spearman correlation with its ground truth, ``1 − severity`` of the paired degradation
  (note_accuracy↔notes, rhythmic_precision↔timing, dynamics_control↔dynamics, articulation↔articulation,
  pedaling↔pedal; tone has no ground truth), over segments and over performances (mean of segments);
- for note accuracy, the same correlation of the *realised* truth (the true share of correct notes in the
  segment, from the true alignment): the ceiling a segment-level label can reach, since a short segment
  holds few of the errors its severity makes likely;
- alignment accuracy: MIDI — the share of true (same-pitch) matches the note alignment recovers and the
  share of its matches that are true; audio — the share of truly played score notes whose estimated
  audio onset is within 50 ms of the true onset, and the median error;
- how many performances aligned to the *wrong* score are rejected (AlignmentError).

Usage (tune on one seed, report on another)::

    uv run python packages/piano-eval/scripts/validate_pseudo_labels.py --seed 0  # → runs/pseudo-label-validation
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from piano_eval.alignment import AlignmentError, align_notes, load_performance, load_score, match_notes
from piano_eval.alignment.audio import AUDIO_THRESHOLD, align_audio, audio_features
from piano_eval.alignment.truth import alignment_accuracy, benchmark_truth, check_against_files
from piano_eval.data.folder import load_rating_folder
from piano_eval.data.synthetic import SyntheticBenchmarkConfig, build_benchmark
from piano_eval.pseudo_labels import LABELS, PerformanceFiles, label_performance
from piano_eval.pseudo_labels.audio import SAMPLE_RATE, analyse_audio
from piano_eval.pseudo_labels.symbolic import AlignedPerformance
from scipy.stats import spearmanr
from shared_audio_core.audio import load_audio
from tqdm.auto import tqdm

TRUTH = {
    "note_accuracy": "notes",
    "rhythmic_precision": "timing",
    "dynamics_control": "dynamics",
    "articulation": "articulation",
    "pedaling": "pedal",
}
TARGETS = {"note_accuracy": 0.8, "rhythmic_precision": 0.8}  # others 0.6


def _spearman(x: list[float | None], y: list[float]) -> tuple[float, int]:
    pairs = [(a, b) for a, b in zip(x, y, strict=True) if a is not None]
    if len(pairs) < 3:
        return float("nan"), len(pairs)
    a, b = np.array(pairs).T
    return float(spearmanr(a, b)[0]), len(pairs)


def _realised_note_accuracy(truth, score, performance, timemap, start: float, end: float) -> float | None:
    inside = lambda p: (performance.onset[p] >= start) & (performance.onset[p] < end)  # noqa: E731
    correct = int(inside(truth.matches[:, 1]).sum())
    wrong = int(inside(truth.wrong[:, 1]).sum())
    expected = timemap(score.onset_quarter[truth.deletions])
    missing = int(((expected >= start) & (expected < end)).sum())
    extra = int(inside(truth.insertions).sum()) if truth.insertions.size else 0
    total = correct + wrong + missing + extra
    return None if total == 0 else 100.0 * correct / total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("runs/pseudo-label-validation"))
    parser.add_argument(
        "--seed", type=int, default=0, help="benchmark seed (the formulas were set on seed 1)"
    )
    parser.add_argument("--pieces", type=int, default=24)
    parser.add_argument("--performances", type=int, default=6)
    parser.add_argument("--bars", type=int, default=8, help="bars per piece (8: 16–29 s pieces)")
    parser.add_argument("--segment-seconds", type=float, default=10.0)
    parser.add_argument("--hop-seconds", type=float, default=5.0)
    parser.add_argument("--limit", type=int, default=None, help="only the first N performances (quick look)")
    args = parser.parse_args()

    data = args.out / f"benchmark-seed{args.seed}-{args.pieces}x{args.performances}-{args.bars}bars"
    config = SyntheticBenchmarkConfig(
        generated_pieces=args.pieces, performances_per_piece=args.performances, bars=args.bars, seed=args.seed
    )
    started = time.time()
    build_benchmark(data, config)
    build_seconds = time.time() - started
    _, performances = load_rating_folder(data, scale="0-1")
    performances = performances[: args.limit] if args.limit else performances

    segments: dict[str, list] = defaultdict(list)  # path → [(labels, truth labels, realised)]
    per_perf: dict[str, list] = defaultdict(list)
    midi_acc = defaultdict(float)
    audio_errors: list[float] = []
    timings = defaultdict(float)
    scores_by_piece = {}
    same_quality: list[float] = []
    midi_same_quality: list[float] = []
    for p in tqdm(performances, desc="validate", unit="perf"):
        truth = benchmark_truth(data, p.piece_id, p.performance_id)
        truth_labels = {k: 1.0 - v for k, v in truth.severity.items()}
        score = scores_by_piece.setdefault(p.piece_id, load_score(p.score_midi_path))
        performance = load_performance(p.midi_path)
        check_against_files(truth, score, performance)
        t = time.time()
        alignment = align_notes(score, performance)
        timings["note alignment"] += time.time() - t
        midi_same_quality.append(alignment.score)
        accuracy = alignment_accuracy(alignment, truth, score, performance)
        for key in ("correct", "true_matches", "predicted_matches"):
            midi_acc[key] += accuracy[key]
        timemap = AlignedPerformance.build(score, performance, alignment).timemap
        t = time.time()
        audio = load_audio(p.audio_path, SAMPLE_RATE)
        analysis = analyse_audio(audio, p.audio_path, score)
        timings["audio alignment"] += time.time() - t
        same_quality.append(analysis.alignment.quality)
        true_s, true_p = truth.matches[:, 0], truth.matches[:, 1]
        audio_errors += list(np.abs(analysis.alignment.refined[true_s] - performance.onset[true_p]))

        for path, files in (
            ("midi", PerformanceFiles(p.score_midi_path, p.audio_path, p.midi_path, p.performance_id)),
            ("audio", PerformanceFiles(p.score_midi_path, p.audio_path, None, p.performance_id)),
        ):
            t = time.time()
            # audio_withheld=(): measure the audio-only labels the pipeline does not write too
            records = label_performance(files, args.segment_seconds, args.hop_seconds, audio_withheld=())
            timings[f"labels ({path})"] += time.time() - t
            for r in records:
                realised = _realised_note_accuracy(
                    truth, score, performance, timemap, r["start_time"], r["end_time"]
                )
                segments[path].append((r["labels"], truth_labels, realised))
            per_perf[path].append(
                (
                    {
                        k: (
                            np.nanmean(
                                [np.nan if r["labels"][k] is None else r["labels"][k] for r in records]
                            )
                        )
                        for k in LABELS
                    },
                    truth_labels,
                )
            )

    # wrong-score rejection: each performance against the next piece's score
    pieces = sorted(scores_by_piece)
    rejected = tried = audio_rejected = 0
    cross_scores = []
    audio_cross_quality = []
    for p in performances[:: max(1, args.performances // 2)]:
        if len(pieces) < 2:
            break
        other = pieces[(pieces.index(p.piece_id) + 1) % len(pieces)]
        performance = load_performance(p.midi_path)
        cross_scores.append(match_notes(scores_by_piece[other], performance).score)
        tried += 1
        try:
            align_notes(scores_by_piece[other], performance)
        except AlignmentError:
            rejected += 1
        features = audio_features(load_audio(p.audio_path, SAMPLE_RATE), SAMPLE_RATE)
        audio_cross_quality.append(align_audio(features, scores_by_piece[other]).quality)
        audio_rejected += audio_cross_quality[-1] < AUDIO_THRESHOLD

    results: dict = {
        "config": {**vars(args), "out": str(args.out)},
        "benchmark": str(data),
        "performances": len(performances),
        "segments": len(segments["midi"]),
        "build_seconds": build_seconds,
        "timings_seconds": dict(timings),
        "labels": {},
    }
    for path in ("midi", "audio"):
        for name in LABELS:
            entry = results["labels"].setdefault(name, {})
            if name == "tone":
                values = [s[0]["tone"] for s in segments[path] if s[0]["tone"] is not None]
                entry[path] = {"mean": float(np.mean(values)), "std": float(np.std(values)), "n": len(values)}
                continue
            truth_name = TRUTH[name]
            rho, n = _spearman(
                [s[0][name] for s in segments[path]], [s[1][truth_name] for s in segments[path]]
            )
            perf_values = [None if np.isnan(v[0][name]) else float(v[0][name]) for v in per_perf[path]]
            rho_perf, n_perf = _spearman(perf_values, [v[1][truth_name] for v in per_perf[path]])
            entry[path] = {"segments": rho, "n": n, "performances": rho_perf, "n_performances": n_perf}
    realised = [s[2] for s in segments["midi"]]
    results["labels"]["note_accuracy"]["ceiling"] = _spearman(
        realised, [s[1]["notes"] for s in segments["midi"]]
    )[0]
    errors = np.array(audio_errors)
    results["alignment"] = {
        "midi_recall": midi_acc["correct"] / midi_acc["true_matches"],
        "midi_precision": midi_acc["correct"] / midi_acc["predicted_matches"],
        "audio_within_50ms": float(np.mean(errors <= 0.05)),
        "audio_median_error_ms": float(np.median(errors) * 1000),
        "audio_p90_error_ms": float(np.percentile(errors, 90) * 1000),
        "wrong_score_rejected": f"{rejected}/{tried}",
        "wrong_score_max_quality": float(max(cross_scores)) if cross_scores else None,
        "audio_wrong_score_rejected": f"{audio_rejected}/{tried}",
        "audio_wrong_score_max_quality": float(max(audio_cross_quality)) if audio_cross_quality else None,
        "audio_same_score_min_quality": float(min(same_quality)),
        "midi_same_score_min_quality": float(min(midi_same_quality)),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"results-seed{args.seed}.json").write_text(json.dumps(results, indent=2))

    print(
        f"\n{len(performances)} performances, {len(segments['midi'])} segments of {args.segment_seconds:g} s "
        f"(hop {args.hop_seconds:g} s), benchmark seed {args.seed}\n"
    )
    print(
        "| label | truth | target | Spearman, MIDI (segments) | MIDI (performances) | audio only (segments) "
        "| audio only (performances) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in LABELS:
        entry = results["labels"][name]
        if name == "tone":
            print(
                f"| tone | none | – | (no ground truth; mean {entry['audio']['mean']:.1f} ± "
                f"{entry['audio']['std']:.1f}) | | | |"
            )
            continue
        target = TARGETS.get(name, 0.6)
        m, a = entry["midi"], entry["audio"]
        print(
            f"| {name} | {TRUTH[name]} | ≥ {target} | {m['segments']:.3f} | {m['performances']:.3f} | "
            f"{a['segments']:.3f} | {a['performances']:.3f} |"
        )
    print(
        f"\nnote accuracy ceiling (realised true accuracy per segment vs severity): "
        f"{results['labels']['note_accuracy']['ceiling']:.3f}"
    )
    al = results["alignment"]
    print(
        f"MIDI alignment: recall {al['midi_recall']:.4f}, precision {al['midi_precision']:.4f}; "
        f"audio onsets within 50 ms {al['audio_within_50ms']:.3f} "
        f"(median {al['audio_median_error_ms']:.1f} ms, "
        f"p90 {al['audio_p90_error_ms']:.1f} ms); wrong score rejected {al['wrong_score_rejected']} "
        f"(highest wrong-score quality {al['wrong_score_max_quality']:.3f}, lowest right-score "
        f"{al['midi_same_score_min_quality']:.3f}); "
        f"audio: wrong score rejected {al['audio_wrong_score_rejected']} "
        f"(highest wrong-score quality {al['audio_wrong_score_max_quality']:.3f}, lowest right-score "
        f"{al['audio_same_score_min_quality']:.3f})"
    )
    print("timings (s):", {k: round(v, 1) for k, v in timings.items()}, f"build {build_seconds:.1f}")


if __name__ == "__main__":
    main()
