"""Do short training windows, seen as recordings of their own, fix short takes? (an A/B, not a test)

The shipped recipe trains on windows of 32-256 onsets cut from ~4-bar clips whose clip-relative inputs
(median IOI, strength and loudness relative to the clip, position in the clip) come from the whole clip;
on four-cycle takes its accuracy halves. This script trains the two-stage pipeline three ways on one
dataset, the rest of the default recipe unchanged (no direct model):

- ``default``: the shipped recipe's windows (``min_crop_onsets`` 32);
- ``short``: windows from 8 onsets;
- ``short-as-recordings``: windows from 8 onsets with ``crops_as_recordings`` (inputs recomputed over
  the window: :func:`sousa_rudiments.recognition.features.window_as_recording`);

and scores each from the audio on the training dataset's held-out players (full clips) and on every
clip of a dataset of short takes by other players (another seed). The script generates both datasets
(:data:`TRAIN_DATA`, :data:`SHORT_TAKES`: smaller than ``medium`` to fit an hour on 2 cores) through
the training SoundFonts of the default recipe (docs/recognition.md)::

    uv run python packages/sousa-rudiments/scripts/short_take_experiment.py --out runs/short-takes \\
        --report packages/sousa-rudiments/docs/recognition/short-takes-experiment.md

Everything resumes: data, cache, each arm's stages (``sousa train``'s resume) and each evaluation (JSON).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from shared_audio_core.cliargs import positive_int
from shared_audio_core.synth import default_soundfont
from sousa_rudiments.dataset.generate import GenerateConfig, generate
from sousa_rudiments.presets import DatasetPreset, get_preset
from sousa_rudiments.recognition.cache import build_feature_cache
from sousa_rudiments.recognition.evaluate import EvaluationReport, evaluate_pipeline
from sousa_rudiments.recognition.pipeline import RudimentPipeline
from sousa_rudiments.recognition.recipe import RecipeConfig, recipe_path, train_recognizer
from sousa_rudiments.render import resolve_soundfonts

TRAIN_DATA = DatasetPreset(
    name="exp-train",
    num_profiles=16,
    tempos_bpm=(60, 120, 180),
    augmentations=get_preset("medium").augmentations,
    description="experiment",  # medium's rooms and clip length, 16 players, 3 tempos: 5,760 clips
)
SHORT_TAKES = DatasetPreset(
    name="exp-short",
    num_profiles=12,
    tempos_bpm=(80, 120, 160),
    augmentations=("clean_studio", "practice_room"),
    num_cycles=4,
    description="experiment",  # four-cycle takes (2-4 s): 2,880 clips
)
SOUNDFONTS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf3/MuseScore_General_Full.sf3",
    "/usr/share/sounds/sf2/sf_GMbank.sf2",
    "/usr/share/sounds/sf2/Black_Pearl_4_LV2.sf2",
)
"""Besides the core's TimGM6mb: the default recipe's training SoundFonts (Debian packages)."""

ARMS: dict[str, dict[str, object]] = {
    "default": {"min_crop_onsets": 32},  # pinned: the result stays reproducible if the recipe changes
    "short": {"min_crop_onsets": 8},
    "short-as-recordings": {"min_crop_onsets": 8, "crops_as_recordings": True},
}


def _score(pipeline: RudimentPipeline, dataset: Path, splits: tuple[str, ...], out: Path) -> dict[str, float]:
    """top-1/3/5 and macro-F1 over the given splits of ``dataset`` (pooled), cached in ``out``."""
    if out.is_file():
        return json.loads(out.read_text())
    outcomes = []
    for split in splits:
        outcomes += evaluate_pipeline(pipeline, dataset, split).outcomes
    report = EvaluationReport(outcomes, split="+".join(splits), dataset_dir=str(dataset))
    scores = report.headline()
    out.write_text(json.dumps(scores, indent=2) + "\n")
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--out", type=Path, required=True, help="working directory (data, cache, runs, scores)"
    )
    parser.add_argument("--report", type=Path, required=True, help="markdown table to write")
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    parser.add_argument("--workers", type=positive_int, default=2, help="processes for data and cache")
    args = parser.parse_args()

    soundfonts = tuple(resolve_soundfonts([str(default_soundfont()), *SOUNDFONTS], include_system=False))
    train_data, short_data = args.out / "data" / "train", args.out / "data" / "short"
    for out, preset, seed in ((train_data, TRAIN_DATA, 0), (short_data, SHORT_TAKES, 1)):
        generate(
            GenerateConfig(
                out, preset, seed=seed, with_audio=True, soundfonts=soundfonts, workers=args.workers
            )
        )
    cache = args.out / "cache"
    build_feature_cache(train_data, cache, workers=args.workers)
    base = dataclasses.replace(RecipeConfig.from_yaml(recipe_path("default")), train_direct=False)
    rows = []
    for arm in args.arms:
        config = dataclasses.replace(base, **ARMS[arm])  # type: ignore[arg-type]
        result = train_recognizer(train_data, cache, args.out / arm, config)
        pipeline = RudimentPipeline.from_pretrained(result.output_dir)
        held_out = _score(pipeline, train_data, ("test",), args.out / arm / "held-out-players.json")
        short = _score(
            pipeline, short_data, ("train", "validation", "test"), args.out / arm / "short-takes.json"
        )
        rows.append((arm, held_out, short))
        print(arm, json.dumps({"held_out": held_out, "short": short}), flush=True)

    lines = [
        "| training windows | held-out players: clips | top-1 | top-3 | short takes: clips | top-1 | top-3 | top-5 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arm, held, short in rows:
        lines.append(
            f"| {arm} | {held['clips']} | {held['top1']:.1%} | {held['top3']:.1%} | {short['clips']} "
            f"| {short['top1']:.1%} | {short['top3']:.1%} | {short['top5']:.1%} |"
        )
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text("\n".join(lines) + "\n")
    print(args.report)


if __name__ == "__main__":
    main()
