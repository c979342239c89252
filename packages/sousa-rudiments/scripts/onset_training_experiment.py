"""Should the models be trained at the onset threshold they detect with? (an A/B, not a test)

The shipped models were trained on detections at ``delta`` 0.07 (``DEFAULT_ONSETS``) and detect at
0.10, the threshold ``ship_default_model.py`` chose end to end on the validation players: a stricter
detector hands the models fewer ring and room detections, for some missed soft strokes. Models
trained on detections at 0.10 would see at training what they get at inference. This script trains
the two-stage pipeline of the default recipe (no direct model: it reads log-mels, not onsets) once
per training threshold (:data:`TRAIN_DELTAS`) on one dataset, and scores each from the audio at
every threshold of :data:`SCORE_DELTAS` on

- the training dataset's held-out players (its test split; ``short_take_experiment.TRAIN_DATA``:
  16 players, the five training SoundFonts; two professionals in this draw),
- every clip of :data:`UNSEEN_KIT`: 8 other players (seed 1) with the same tempos, rooms and clip
  length, through the Red Zeppelin sampled kit that no training data uses, and
- the training dataset's validation players (see :data:`SCORE_SETS`)::

    uv run python packages/sousa-rudiments/scripts/onset_training_experiment.py --out runs/onset-training \\
        --report packages/sousa-rudiments/docs/recognition/onset-training-experiment.md

Everything resumes: data, caches (one per training threshold), each arm's stages and the evaluations.
``--train-deltas`` / ``--score-deltas`` add arms or thresholds to the same ``--out``; the report has every
(trained at, detects at) scored there so far.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from shared_audio_core.cliargs import positive_int
from shared_audio_core.synth import default_soundfont
from ship_default_model import Job, evaluate_jobs
from short_take_experiment import SOUNDFONTS, TRAIN_DATA
from sousa_rudiments.dataset.generate import GenerateConfig, generate
from sousa_rudiments.recognition.cache import build_feature_cache
from sousa_rudiments.recognition.evaluate import EvaluationReport
from sousa_rudiments.recognition.recipe import RecipeConfig, recipe_path, train_recognizer
from sousa_rudiments.render import resolve_soundfonts

UNSEEN_KIT = dataclasses.replace(TRAIN_DATA, name="exp-unseen-kit", num_profiles=8)
"""The training data's tempos, rooms and clip length, 8 players (2 per tier): 2,880 clips."""
UNSEEN_SOUNDFONT = "/usr/share/sounds/sf2/Red_Zeppelin_4_LV2.sf2"
TRAIN_DELTAS = (0.07, 0.10)
SCORE_DELTAS = (0.07, 0.10, 0.12, 0.14, 0.16)
SCORE_SETS = {"held-out players": "test", "unseen kit": "all", "validation players": "validation"}
"""Which clips each arm is scored on. The validation players are in no training split either, but their
cached detections chose each stage's best epoch (the same way for every arm)."""


def arm_name(train_delta: float) -> str:
    return f"train-{train_delta:.2f}"


def score_path(run: Path, score_set: str, score_delta: float) -> Path:
    return run / f"{score_set.replace(' ', '-')}-at-{score_delta:.2f}.json"


def onset_delta(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(
            f"an onset threshold lies in (0, 1) (relative to the envelope's 99th percentile), got {text}"
        )
    return value


def collected_rows(out: Path) -> list[dict[str, object]]:
    """Every (trained at, detects at) scored on all of :data:`SCORE_SETS` in ``out``, by any earlier run too."""
    rows: list[dict[str, object]] = []
    for run in sorted(out.glob("train-*")):
        train_delta = float(run.name.removeprefix("train-"))
        scored = sorted({float(p.stem.rsplit("-at-", 1)[1]) for p in run.glob("*-at-*.json")})
        for score_delta in scored:
            paths = {name: score_path(run, name, score_delta) for name in SCORE_SETS}
            if all(path.is_file() for path in paths.values()):
                row: dict[str, object] = {"train_delta": train_delta, "score_delta": score_delta}
                rows.append(row | {name: json.loads(path.read_text()) for name, path in paths.items()})
    return rows


def scores_table(rows: list[dict[str, object]]) -> str:
    """Markdown: one row per (training threshold, detection threshold), top-1/top-3/not found per data set."""
    columns = " | ".join(f"{name}: clips | top-1 | top-3 | not found" for name in SCORE_SETS)
    lines = [f"| trained at | detects at | {columns} |", "|---|---|" + "---|---|---|---|" * len(SCORE_SETS)]
    for row in rows:
        cells = [f"{row['train_delta']:.2f}", f"{row['score_delta']:.2f}"]
        for name in SCORE_SETS:
            s = row[name]
            assert isinstance(s, dict)
            cells += [str(s["clips"]), f"{s['top1']:.1%}", f"{s['top3']:.1%}", f"{s['not_found_rate']:.1%}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--out", type=Path, required=True, help="working directory (data, caches, runs, scores)"
    )
    parser.add_argument("--report", type=Path, required=True, help="markdown table to write")
    parser.add_argument(
        "--recipe",
        type=Path,
        default=recipe_path("default"),
        help="recipe YAML both arms train with, their onset threshold aside (default: the shipped recipe)",
    )
    parser.add_argument(
        "--train-deltas",
        type=onset_delta,
        nargs="+",
        default=list(TRAIN_DELTAS),
        metavar="DELTA",
        help=f"onset thresholds to train at, one arm each (default: {' '.join(map(str, TRAIN_DELTAS))})",
    )
    parser.add_argument(
        "--score-deltas",
        type=onset_delta,
        nargs="+",
        default=list(SCORE_DELTAS),
        metavar="DELTA",
        help=f"onset thresholds to score every arm at (default: {' '.join(map(str, SCORE_DELTAS))})",
    )
    parser.add_argument(
        "--workers", type=positive_int, default=2, help="processes for data, caches, evaluations"
    )
    args = parser.parse_args(argv)

    train_sfs = tuple(resolve_soundfonts([str(default_soundfont()), *SOUNDFONTS], include_system=False))
    unseen_sfs = tuple(resolve_soundfonts([UNSEEN_SOUNDFONT], include_system=False))
    train_data, unseen_data = args.out / "data" / "train", args.out / "data" / "unseen-kit"
    for out, preset, seed, soundfonts in (
        (train_data, TRAIN_DATA, 0, train_sfs),
        (unseen_data, UNSEEN_KIT, 1, unseen_sfs),
    ):
        generate(
            GenerateConfig(
                out, preset, seed=seed, with_audio=True, soundfonts=soundfonts, workers=args.workers
            )
        )
    base = dataclasses.replace(RecipeConfig.from_yaml(args.recipe), train_direct=False)
    splits = {"test": ("test",), "validation": ("validation",), "all": ("train", "validation", "test")}
    data_of = {"held-out players": train_data, "unseen kit": unseen_data, "validation players": train_data}
    for train_delta in args.train_deltas:
        onsets = dataclasses.replace(base.onsets, delta=train_delta)  # the recipe's detector, this threshold
        cache = args.out / "cache" / f"delta-{train_delta:.2f}"
        build_feature_cache(train_data, cache, config=onsets, workers=args.workers)
        run = args.out / arm_name(train_delta)
        result = train_recognizer(train_data, cache, run, dataclasses.replace(base, onsets=onsets))
        for score_delta in args.score_deltas:
            for name, which in SCORE_SETS.items():
                path = score_path(run, name, score_delta)
                if not path.is_file():
                    jobs = [Job("two_stage", score_delta, data_of[name], s, None) for s in splits[which]]
                    reports = evaluate_jobs(result.output_dir, jobs, workers=args.workers, threads=1)
                    pooled = [o for job in jobs for o in reports[job].outcomes]
                    report = EvaluationReport(
                        pooled, split="+".join(splits[which]), dataset_dir=str(data_of[name])
                    )
                    path.write_text(json.dumps(report.headline(), indent=2) + "\n")
                    print(path, json.dumps(report.headline()), flush=True)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(scores_table(collected_rows(args.out)))
    print(args.report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
