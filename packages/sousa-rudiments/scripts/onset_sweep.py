"""How the onset detector's peak-picking settings trade spurious detections for missed strokes.

A sampled acoustic kit rings: on the unseen Red Zeppelin kit the training settings find 92 % of the
strokes but only 58 % of the detections are strokes (docs/recognition.md, "Onsets"). This script
scores a grid of ``OnsetConfig`` variants (``delta``, ``pre_avg_frames``, ``post_avg_frames``;
everything else as ``DEFAULT_ONSETS``, the settings models are trained with) on one split of each
dataset given, from the audio against the strokes table (mir_eval, ±25 ms): mean per-clip precision, recall and F, and the recall of grace notes on their
own — a threshold that removes ring peaks must not remove the soft grace note of a flam or drag,
which the classifier needs.

Choose settings on a split of a timbre that training uses (e.g. the Black Pearl sampled kit) and
only then look at a held-out kit: ``--choose-on`` names the dataset that picks the winner. The winner
is the best F among the settings that lose at most ``--max-recall-loss`` of the training settings'
recall and grace-note recall there: the feature model's ``p_stroke`` head can reject a spurious
detection, but nothing downstream recovers a stroke the detector missed, so F alone (which trades
recall for precision one for one) would pick a detector that deafens the classifier to flams.
This scores the detector alone. What the models make of the detections is measured end to end by
``ship_default_model.py --onset-deltas``, which chooses the shipped threshold on validation accuracy.
Each clip's audio is loaded once and every variant runs on it. Writes a markdown table (``--out``)
and the raw figures as JSON beside it::

    uv run python packages/sousa-rudiments/scripts/onset_sweep.py bp=DATA/bp rz=DATA/rz \\
        --split validation --choose-on bp --out docs/recognition/onset-sweep.md
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
from pathlib import Path
from typing import Any

import mir_eval
import numpy as np
from shared_audio_core.audio import load_audio
from sousa_rudiments.recognition.evaluate import limit_clips, load_split
from sousa_rudiments.recognition.onsets import DEFAULT_ONSETS, OnsetConfig, detect_onsets
from tqdm import tqdm

WINDOW_S = 0.025
DELTAS = (0.05, 0.07, 0.10, 0.14, 0.20)
PRE_AVG_FRAMES = (30, 90)
POST_AVG_FRAMES = (10, 30)


def grid() -> list[OnsetConfig]:
    """The training settings (``DEFAULT_ONSETS``) first, then every other combination of the swept values."""
    variants = [
        dataclasses.replace(DEFAULT_ONSETS, delta=d, pre_avg_frames=pre, post_avg_frames=post)
        for d, pre, post in itertools.product(DELTAS, PRE_AVG_FRAMES, POST_AVG_FRAMES)
    ]
    return [DEFAULT_ONSETS] + [v for v in variants if v != DEFAULT_ONSETS]


def label(config: OnsetConfig) -> str:
    return f"delta {config.delta:g}, avg {config.pre_avg_frames}/{config.post_avg_frames}"


def clip_scores(
    reference: np.ndarray, grace: np.ndarray, detected: np.ndarray
) -> tuple[float, float, float, int, int]:
    """(precision, recall, F, grace notes matched, grace notes) of one clip at ±25 ms."""
    if not reference.size or not detected.size:
        return 0.0, 0.0, 0.0, 0, int(grace.sum())
    matching = mir_eval.util.match_events(reference, detected, WINDOW_S)
    matched = np.zeros(reference.size, dtype=bool)
    matched[[ref for ref, _ in matching]] = True
    precision = len(matching) / detected.size
    recall = len(matching) / reference.size
    f = 0.0 if not matching else 2 * precision * recall / (precision + recall)
    return precision, recall, f, int((matched & grace).sum()), int(grace.sum())


def sweep(dataset: Path, split: str, configs: list[OnsetConfig], limit: int | None) -> list[dict[str, Any]]:
    """Mean per-clip precision/recall/F and pooled grace-note recall of each config on ``split``."""
    samples, strokes = load_split(dataset, split)
    samples = limit_clips(samples, limit)
    sums = np.zeros((len(configs), 3))
    grace_hits = np.zeros(len(configs), dtype=int)
    grace_total = 0
    detections = np.zeros(len(configs), dtype=int)
    for row in tqdm(samples.itertuples(index=False), total=len(samples), desc=dataset.name, unit="clip"):
        audio = load_audio(dataset / row.audio_path, DEFAULT_ONSETS.sample_rate)
        rows = strokes[row.sample_id]
        reference = np.array([float(s["actual_time_ms"]) / 1000.0 for s in rows])
        grace = np.array([bool(s["is_grace_note"]) for s in rows], dtype=bool)
        grace_total += int(grace.sum())
        for i, config in enumerate(configs):
            detected = np.sort(detect_onsets(audio, config).times)
            p, r, f, hits, _ = clip_scores(reference, grace, detected)
            sums[i] += (p, r, f)
            grace_hits[i] += hits
            detections[i] += detected.size
    n = len(samples)
    return [
        {
            "config": label(config),
            "settings": dataclasses.asdict(config),
            "clips": n,
            "precision": sums[i, 0] / n,
            "recall": sums[i, 1] / n,
            "f_measure": sums[i, 2] / n,
            "grace_recall": grace_hits[i] / grace_total if grace_total else float("nan"),
            "detections_per_clip": detections[i] / n,
        }
        for i, config in enumerate(configs)
    ]


def choose(results: list[dict[str, Any]], max_recall_loss: float) -> int:
    """Index of the best F among the settings within ``max_recall_loss`` of the training settings' (first
    row) recall and grace recall; the training settings always qualify."""
    default = results[0]
    eligible = [
        i
        for i, r in enumerate(results)
        if r["recall"] >= default["recall"] - max_recall_loss
        and not r["grace_recall"] < default["grace_recall"] - max_recall_loss
    ]
    return max(eligible, key=lambda i: results[i]["f_measure"])


def markdown(
    results: dict[str, list[dict[str, Any]]], split: str, chosen: int, max_recall_loss: float
) -> str:
    names = list(results)
    header = "| settings | " + " | ".join(f"{n}: P / R / F / grace R" for n in names) + " |"
    lines = [
        f"Onset detector settings, split `{split}` (mean per clip, ±25 ms; grace R: grace notes found, pooled).",
        "First row: the training settings (`DEFAULT_ONSETS`); **bold**: the best F on the dataset settings are chosen on among",
        f"those losing at most {max_recall_loss:g} of their recall and grace recall there.",
        "",
        header,
        "|---|" + "---|" * len(names),
    ]
    for i, first in enumerate(results[names[0]]):
        cells = [
            f"{r['precision']:.3f} / {r['recall']:.3f} / {r['f_measure']:.3f} / {r['grace_recall']:.3f}"
            for r in (results[n][i] for n in names)
        ]
        name = f"**{first['config']}**" if i == chosen else first["config"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("datasets", nargs="+", metavar="NAME=DIR", help="datasets with audio, each named")
    parser.add_argument("--split", default="validation", help="split to score (default: validation)")
    parser.add_argument("--choose-on", required=True, metavar="NAME", help="dataset that picks the winner")
    parser.add_argument(
        "--max-recall-loss",
        type=float,
        default=0.01,
        help="recall (and grace recall) the winner may lose against the training settings (default: 0.01)",
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="at most N clips per dataset, spread over rudiments"
    )
    parser.add_argument("--out", type=Path, required=True, help="markdown table to write (JSON beside it)")
    args = parser.parse_args(argv)
    named = dict(item.split("=", 1) for item in args.datasets)
    if args.choose_on not in named:
        parser.error(f"--choose-on {args.choose_on!r} is not one of the named datasets {list(named)}")
    configs = grid()
    results = {name: sweep(Path(path), args.split, configs, args.limit) for name, path in named.items()}
    chosen = choose(results[args.choose_on], args.max_recall_loss)
    table = markdown(results, args.split, chosen, args.max_recall_loss)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table)
    args.out.with_suffix(".json").write_text(
        json.dumps(
            {
                "split": args.split,
                "chosen_on": args.choose_on,
                "max_recall_loss": args.max_recall_loss,
                "chosen": chosen,
                "results": results,
            },
            indent=2,
        )
    )
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
