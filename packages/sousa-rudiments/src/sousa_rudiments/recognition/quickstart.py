"""``sousa quickstart``: the whole path in one command — generate, analyse, train, evaluate, classify.

Generates the ``small`` preset with audio (all 40 rudiments, 12 players of four tiers, two
recording presets), trains the two-stage model with the quickstart recipe, evaluates it on the
test split's players (never seen in training), classifies one of their clips and writes
``report.md`` with the figures and plots. Every stage resumes if the command is run again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from sousa_rudiments.recognition.recipe import RecipeConfig, recipe_path


@dataclass(frozen=True)
class QuickstartConfig:
    """What ``sousa quickstart`` runs; the defaults are the documented command."""

    out_dir: Path = Path("runs/quickstart")
    preset: str = "small"
    seed: int = 0
    workers: int = 2
    recipe: str = "quickstart"
    progress: bool = True


@dataclass
class QuickstartResult:
    report: Path
    seconds: dict[str, float] = field(default_factory=dict)


def run_quickstart(config: QuickstartConfig = QuickstartConfig()) -> QuickstartResult:
    """Run every stage into ``config.out_dir`` and return the report path and stage timings."""
    from shared_audio_core.audio import load_audio

    from sousa_rudiments.dataset import GenerateConfig, generate
    from sousa_rudiments.presets import get_preset
    from sousa_rudiments.recognition.cache import build_feature_cache
    from sousa_rudiments.recognition.data import split_sample_ids
    from sousa_rudiments.recognition.evaluate import evaluate_pipeline
    from sousa_rudiments.recognition.pipeline import RudimentPipeline
    from sousa_rudiments.recognition.plots import prediction_figure
    from sousa_rudiments.recognition.recipe import train_recognizer
    from sousa_rudiments.render import resolve_soundfonts

    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dataset_dir, cache_dir, model_dir = out / "dataset", out / "cache", out / "model"
    seconds: dict[str, float] = {}

    def stage(name: str) -> None:
        seconds[name] = round(time.perf_counter() - start, 1)
        if config.progress:
            print(f"[quickstart] {name} done in {seconds[name]:.0f} s", flush=True)

    start = time.perf_counter()
    generate(
        GenerateConfig(
            output_dir=dataset_dir,
            preset=get_preset(config.preset),
            seed=config.seed,
            with_audio=True,
            soundfonts=tuple(resolve_soundfonts()),
            workers=config.workers,
            progress=config.progress,
        )
    )
    stage("generate")
    start = time.perf_counter()
    recipe = RecipeConfig.from_yaml(recipe_path(config.recipe))
    build_feature_cache(
        dataset_dir, cache_dir, config=recipe.onsets, workers=config.workers, progress=config.progress
    )
    stage("analyse")
    start = time.perf_counter()
    training = train_recognizer(dataset_dir, cache_dir, model_dir, recipe, progress=config.progress)
    stage("train")

    start = time.perf_counter()
    pipeline = RudimentPipeline.from_pretrained(training.output_dir)
    report = evaluate_pipeline(pipeline, dataset_dir, "test", progress=config.progress)
    report_paths = report.write(out / "evaluation")
    stage("evaluate")

    start = time.perf_counter()
    import pandas as pd

    samples = pd.read_parquet(dataset_dir / "labels" / "samples.parquet").set_index("sample_id")
    example_id = split_sample_ids(dataset_dir, cache_dir)["test"][0]
    example = samples.loc[example_id]
    audio_path = dataset_dir / example["audio_path"]
    prediction = pipeline.predict_file(audio_path)
    figure = prediction_figure(
        load_audio(audio_path, pipeline.config.onsets.sample_rate),
        pipeline.config.onsets.sample_rate,
        prediction,
    )
    figure.savefig(out / "example.png", dpi=100)
    stage("classify")

    headline = report.to_dict()
    text = [
        "# SOUSA quickstart report",
        "",
        f"Dataset: `{dataset_dir}` (preset `{config.preset}`, seed {config.seed}); model: `{training.output_dir}`",
        f"(recipe `{config.recipe}`). Evaluated from audio on the test split's players, whom training never saw.",
        "",
        report.to_markdown(confusion_image="evaluation/confusion.png"),
        "",
        "## One held-out clip",
        "",
        f"`{example_id}` (truth: **{example['rudiment_slug']}**) → "
        + (
            f"**{prediction.best.slug}** ({prediction.best.probability:.0%})"
            if prediction.found
            else f"no rudiment found ({prediction.reason})"
        ),
        "",
        "![prediction](example.png)",
        "",
        "## Time per stage (s)",
        "",
        "| " + " | ".join(seconds) + " |",
        "|" + "---|" * len(seconds),
        "| " + " | ".join(f"{v:.0f}" for v in seconds.values()) + " |",
        "",
        f"Full report: `{report_paths['report.md']}`; total {sum(seconds.values()) / 60:.1f} min.",
    ]
    report_path = out / "report.md"
    report_path.write_text("\n".join(text) + "\n")
    (out / "quickstart.json").write_text(
        json.dumps(
            {
                "seconds": seconds,
                "validation": training.validation,
                "test": headline.get("overall", headline),
            },
            indent=2,
            default=str,
        )
    )
    return QuickstartResult(report_path, seconds)
