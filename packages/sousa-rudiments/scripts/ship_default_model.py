"""Choose the decision settings on validation, evaluate from audio, and ship a trained pipeline as the default.

The committed recipe reproduces the shipped model (docs/recognition.md has the exact commands, with the
SoundFonts):

    uv run sousa generate --preset medium --with-audio --seed 0 --soundfont ... --out data/medium
    uv run sousa generate --preset medium --with-audio --seed 1 --soundfont Red_Zeppelin_4_LV2.sf2 --out data/unseen-kit
    uv run sousa generate --preset small --with-audio --seed 1 --soundfont Red_Zeppelin_4_LV2.sf2 --out data/unseen-kit-short
    uv run sousa train data/medium --out runs/default                    # recipes/default.yaml
    uv run python packages/sousa-rudiments/scripts/ship_default_model.py runs/default/pipeline \\
        --dataset data/medium --unseen data/unseen-kit --unseen-short data/unseen-kit-short --compare-limit 800 \\
        --onset-deltas 0.1 --workers 2

1. every mode the run has (two-stage, direct, ensemble, product) is scored from audio on the **validation**
   players, at each onset peak-picking threshold of ``--onset-deltas`` (default: only the run's own); the
   best top-1 becomes the shipped mode and threshold (ties go to the simpler two-stage pipeline, then to
   the threshold the models were trained with). The threshold is a decision setting like the mode: the
   models were trained on detections at the recipe's threshold, and a stricter one at inference hands
   them fewer ring and room detections to reject, for some missed soft strokes;
2. every mode is then scored on the **test** players and on the unseen-SoundFont dataset(s) (``--unseen``
   at the training data's clip length, ``--unseen-short`` four-cycle takes), and the reports are written to
   ``docs/recognition/``;
3. the pipeline is copied into ``sousa_rudiments/recognition/default_model`` with a model card and a
   SHA-256 manifest (``shared_audio_core.files``) that ``RudimentPipeline.from_pretrained()`` checks.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
from shared_audio_core.cliargs import positive_int
from shared_audio_core.files import MANIFEST_FILE, file_hashes
from sousa_rudiments.recognition.evaluate import EvaluationReport, evaluate_pipeline, limit_clips, load_split
from sousa_rudiments.recognition.pipeline import (
    MODES,
    PipelineConfig,
    RudimentPipeline,
    default_model_dir,
    write_pipeline,
)
from tqdm.auto import tqdm

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
DOCS = PACKAGE_ROOT / "docs" / "recognition"


def model_card(
    mode: str,
    onset_delta: float,
    trained_delta: float,
    metadata: dict,
    figures: dict[str, dict[str, dict[str, float]]],
) -> str:
    training = metadata.get("training", {})
    datasets = training.get("datasets", [])
    held_out = "the training dataset (its players are in no training or validation split)"
    if len(datasets) > 1:
        held_out = (
            "the first training dataset (its players are in no training or validation split; the other "
            "training datasets are other seeds, i.e. other simulated players)"
        )
    rows = []
    for where, per_mode in figures.items():
        for m, h in per_mode.items():
            rows.append(
                f"| {where} | {m}{' (shipped)' if m == mode else ''} | {h['top1']:.1%} | {h['top3']:.1%} | "
                f"{h['top5']:.1%} | {h['macro_f1']:.3f} |"
            )
    recipe = json.dumps(training.get("recipe", {}), indent=2)
    return f"""---
library_name: sousa-rudiments
tags: [audio-classification, drums, rudiments, sousa]
license: apache-2.0
---

# SOUSA rudiment recognizer (default model of `sousa-rudiments`)

Hears which of the 40 PAS drum rudiments a snare recording plays, and which strokes it heard (time, hand,
accent, grace, diddle, buzz). Shipped inside the `sousa-rudiments` wheel and loaded by
`RudimentPipeline.from_pretrained()` / `sousa classify FILE` when no `--model` is given.

**Decision mode: `{mode}`, onset threshold (`delta`) {onset_delta:g}**, both chosen on the validation
players' top-1 accuracy (from audio); the models were trained on detections at delta {trained_delta:g}.

## How it works

audio → blind onset detection (librosa spectral flux, 2.9 ms hop) → per-onset inputs (timing, level,
brightness; nothing from labels) → `FeatureInferenceModel` (dilated convolutions; the 12 SOUSA stroke
features per onset) → `OnsetTransformer` (rudiment) — and a `DirectAudioModel` (log-mel CRNN) beside it.
Modes: `two_stage` (the transformer alone), `direct` (the CRNN alone), `ensemble` (the mean of their
probabilities), `product` (their normalised product, a geometric mean).

## Evaluation (from audio, players never seen in training)

| data | mode | top-1 | top-3 | top-5 | macro-F1 |
|---|---|---|---|---|---|
{chr(10).join(rows)}

"held-out players": the test split of {held_out}.
"unseen SoundFont": a dataset rendered only through a sampled acoustic kit (avldrums Red Zeppelin)
that training never heard, played by other simulated players (another seed); "short takes": the same kit,
four-cycle clips (2–4 s) instead of the generator's automatic length (about four bars) training used. Full reports, confusion
matrices and per-tier/per-preset tables: `docs/recognition/` in the source repository.

## Training data and recipe

Synthetic SOUSA clips (`sousa generate`), datasets {", ".join(f"`{Path(d).name}`" for d in datasets)}; validation figures
during training: {json.dumps(training.get("validation", {}))}. Recipe (`recipes/default.yaml`):

```json
{recipe}
```

## Intended use and limitations

- Practice feedback and dataset research on **snare rudiments played alone**; not drum kits, not
  music with other instruments.
- Trained only on synthetic performances rendered through General MIDI SoundFonts and one sampled kit;
  real rooms, microphones and drums differ. Accuracy on real recordings has not been measured.
- Rudiments that differ only in sticking (which hand plays) sound alike when both hands sound alike;
  hand estimates come from context (the rudiment's pattern), not from the sound of each hand.
- Short takes (a few seconds, four cycles) are recognised less well than takes of a few bars: the
  training clips were a few bars long (see the "short takes" row).
- Noise, tones and recordings with fewer than 4 strokes are reported as "no rudiment found".

## How to load

```python
from sousa_rudiments.recognition import RudimentPipeline
pipeline = RudimentPipeline.from_pretrained()            # this model; or a directory / Hub repo id
prediction = pipeline.predict_file("take.wav")
print(prediction.best.name, prediction.best.probability)
```
"""


@dataclasses.dataclass(frozen=True)
class Job:
    """One evaluation: a mode of the pipeline at an onset threshold on a split, on ``limit`` clips
    (``None``: every clip)."""

    mode: str
    onset_delta: float
    dataset: Path
    split: str
    limit: int | None


def decision_config(base: PipelineConfig, mode: str, onset_delta: float) -> PipelineConfig:
    """``base`` deciding in ``mode`` with onset peak picking at threshold ``onset_delta``."""
    return dataclasses.replace(base, mode=mode, onsets=dataclasses.replace(base.onsets, delta=onset_delta))


def _evaluate(pipeline_dir: Path, job: Job, threads: int, progress: bool) -> EvaluationReport:
    torch.set_num_threads(threads)
    loaded = RudimentPipeline.from_pretrained(pipeline_dir)
    pipeline = RudimentPipeline(
        loaded.feature_model,
        loaded.classifier,
        loaded.direct_model,
        decision_config(loaded.config, job.mode, job.onset_delta),
        metadata=loaded.metadata,
        source=loaded.source,
    )
    return evaluate_pipeline(pipeline, job.dataset, job.split, limit=job.limit, progress=progress)


def evaluate_jobs(
    pipeline_dir: Path, jobs: list[Job], *, workers: int, threads: int
) -> dict[Job, EvaluationReport]:
    """Every job's report; with ``workers`` > 1 the jobs run in that many processes, longest first.

    Each job analyses its clips from the audio again, so the jobs are independent and the run is
    bound by the CPU: two processes of one thread each use a 2-core machine fully.
    """
    if workers <= 1:
        return {job: _evaluate(pipeline_dir, job, threads, True) for job in jobs}
    sizes = {job: len(limit_clips(load_split(job.dataset, job.split)[0], job.limit)) for job in jobs}
    ordered = sorted(jobs, key=lambda job: -sizes[job])
    with ProcessPoolExecutor(workers) as pool:
        futures = {job: pool.submit(_evaluate, pipeline_dir, job, threads, False) for job in ordered}
        bar = tqdm(total=sum(sizes.values()), desc="evaluating", unit="clip")
        reports = {}
        for job in ordered:  # longest first is also roughly the order they finish
            reports[job] = futures[job].result()
            bar.update(sizes[job])
        bar.close()
    return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "pipeline", type=Path, help="trained pipeline directory (sousa train OUT → OUT/pipeline)"
    )
    parser.add_argument(
        "--dataset", type=Path, required=True, help="the dataset it was trained on (validation/test splits)"
    )
    parser.add_argument(
        "--unseen", type=Path, required=True, help="a dataset rendered with a SoundFont training never used"
    )
    parser.add_argument(
        "--unseen-short",
        type=Path,
        default=None,
        help="optionally, short (four-cycle) takes through the unseen SoundFont, reported as their own row",
    )
    parser.add_argument(
        "--compare-limit",
        type=positive_int,
        default=None,
        metavar="N",
        help="choose the mode and compare the modes on N clips of each split, spread over the rudiments "
        "(default: every clip); the shipped mode is still scored on every test clip",
    )
    parser.add_argument(
        "--onset-deltas",
        type=float,
        nargs="+",
        default=None,
        metavar="DELTA",
        help="onset peak-picking thresholds to choose from on validation, with the mode "
        "(default: only the one in PIPELINE's config, which for a `sousa train` run is the one its models "
        "were trained on; pass the trained run, not an already shipped model)",
    )
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads per evaluation")
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="evaluations run in this many processes at once (2 on a 2-core machine)",
    )
    parser.add_argument("--no-ship", action="store_true", help="evaluate and write docs only")
    parser.add_argument("--docs", type=Path, default=DOCS, help="where the reports go (default: %(default)s)")
    parser.add_argument(
        "--target",
        type=Path,
        default=None,
        help="where the model is shipped (default: the package's default_model directory)",
    )
    args = parser.parse_args(argv)
    if args.onset_deltas is not None and not all(0 < d < 1 for d in args.onset_deltas):
        parser.error(
            f"--onset-deltas must lie in (0, 1) (relative to the envelope's 99th percentile), got {args.onset_deltas}"
        )
    torch.set_num_threads(args.threads)

    base = RudimentPipeline.from_pretrained(args.pipeline)
    modes = [m for m in MODES if m == "two_stage" or base.direct_model is not None]
    limit = args.compare_limit

    def run(jobs: list[Job]) -> dict[Job, EvaluationReport]:
        return evaluate_jobs(args.pipeline, jobs, workers=args.workers, threads=args.threads)

    trained_delta = base.config.onsets.delta
    deltas = sorted(set(args.onset_deltas or []) | {trained_delta})
    scored = run([Job(m, d, args.dataset, "validation", limit) for d in deltas for m in modes])
    by_setting = {(job.mode, job.onset_delta): report for job, report in scored.items()}
    chosen, delta = max(
        by_setting, key=lambda k: (by_setting[k].top_k(1), k[0] == "two_stage", k[1] == trained_delta)
    )
    validation = {m: by_setting[m, delta] for m in modes}
    top1 = {f"{m} @ {d:g}": round(r.top_k(1), 4) for (m, d), r in by_setting.items()}
    print(f"validation top-1: {top1} → {chosen} @ {delta:g}")

    docs: Path = args.docs
    docs.mkdir(parents=True, exist_ok=True)
    figures: dict[str, dict[str, dict[str, float]]] = {
        "validation players": {m: validation[m].headline() for m in modes}
    }
    evaluations = [("held-out players", args.dataset, "test"), ("unseen SoundFont", args.unseen, "test")]
    if args.unseen_short is not None:
        evaluations.append(("unseen SoundFont, short takes", args.unseen_short, "test"))
    # the shipped mode on every clip; all modes compared on the same `limit` clips
    jobs = {
        (where, mode): Job(mode, delta, dataset, split, None if mode == chosen else limit)
        for where, dataset, split in evaluations
        for mode in modes
    }
    reports = run(list(jobs.values()))
    for where, dataset, split in evaluations:
        figures[where] = {}
        name = where.replace(",", "").replace(" ", "-")
        subset = set(limit_clips(load_split(dataset, split)[0], limit)["sample_id"])
        for mode in modes:
            report = reports[jobs[where, mode]]
            if mode == chosen:
                report.write(docs / name)
                if limit is not None and len(subset) < report.n_clips:
                    figures[f"{where} (all clips)"] = {mode: report.headline()}
                    outcomes = [o for o in report.outcomes if o.sample_id in subset]
                    report = EvaluationReport(
                        outcomes, split=split, dataset_dir=str(dataset), model=report.model
                    )
            figures[where][mode] = report.headline()
            (docs / f"{name}-{mode}.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    summary = {
        "chosen_mode": chosen,
        "chosen_onset_delta": delta,
        "trained_onset_delta": trained_delta,
        "validation_top1_by_onset_delta": {
            f"{d:g}": {m: by_setting[m, d].top_k(1) for m in modes} for d in deltas
        },
        "figures": figures,
    }
    (docs / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    if args.no_ship:
        return 0

    target = default_model_dir() if args.target is None else args.target
    if target.exists():
        shutil.rmtree(target)
    config = decision_config(base.config, chosen, delta)
    write_pipeline(
        target,
        feature_model=base.feature_model,
        classifier=base.classifier,
        direct_model=base.direct_model if chosen != "two_stage" else None,
        config=config,
        training=base.metadata.get("training", {}),
        card=model_card(chosen, delta, trained_delta, base.metadata, figures),
    )
    manifest = {
        "source": str(args.pipeline),
        "mode": chosen,
        "onset_delta": delta,
        "sha256": file_hashes(target),
    }
    (target / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    print(f"shipped the {chosen} pipeline (onset delta {delta:g}) to {target} ({size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
