"""Latency of ``RudimentPipeline.predict`` on one 5 s clip, per mode, on one CPU thread.

Renders a single paradiddle at 120 BPM through the default SoundFont the way the dataset
generator does (performance → MIDI score → ``render_clip``, ``clean_studio``), cut to 5 s at
44.1 kHz; loads the pipeline (``--model``, default: the one shipped in the package); then, for
each mode the pipeline can run (``two_stage``, and ``direct``/``ensemble``/``product`` when it has a direct
model), runs ``--warmup`` untimed calls and ``--repeats`` timed calls and reports p50/p95/mean in
milliseconds. The onset front end alone (``prepare_audio`` + ``detect_onsets``) is timed too,
since every mode pays for it. CPU time is reported beside wall time: on a machine shared with
other jobs the wall clock overstates what a dedicated core needs. Usage::

    uv run --frozen python packages/sousa-rudiments/benchmarks/bench_predict.py --out bench_predict.json
    uv run --frozen python packages/sousa-rudiments/benchmarks/bench_predict.py --model runs/train/pipeline
    uv run --frozen python packages/sousa-rudiments/benchmarks/bench_predict.py --random-weights  # no model

Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch is imported

import argparse
import contextlib
import dataclasses
import io
import json
import math
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

CLIP_SECONDS = 5.0
SAMPLE_RATE = 44_100


def render_paradiddle(seconds: float = CLIP_SECONDS, tempo_bpm: float = 120.0, seed: int = 0) -> np.ndarray:
    """``seconds`` of a professional player's single paradiddle, rendered as the generator does."""
    from sousa_rudiments.midi import performance_to_score
    from sousa_rudiments.performance import generate_performance, slot_duration_ms
    from sousa_rudiments.profiles import generate_profiles
    from sousa_rudiments.render import TimbrePool, render_clip, resolve_soundfonts
    from sousa_rudiments.rudiments import get_rudiment

    rudiment = get_rudiment("single-paradiddle")
    cycle_s = rudiment.cycle_slots * slot_duration_ms(rudiment, tempo_bpm) / 1000.0
    cycles = math.ceil(seconds / cycle_s) + 1  # the lead-in and the tail are cut below
    performance = generate_performance(
        rudiment, generate_profiles(4, seed)[-1], tempo_bpm, num_cycles=cycles, seed=seed
    )
    timbre = TimbrePool(resolve_soundfonts(include_system=False), ("standard",), (38,)).timbres[0]
    clip = render_clip(
        performance_to_score(performance),
        timbre,
        sample_rate=SAMPLE_RATE,
        augmentation_preset="clean_studio",
        seed=seed,
    )
    audio = clip.audio[: int(seconds * SAMPLE_RATE)]
    if audio.size < int(seconds * SAMPLE_RATE):
        raise RuntimeError(f"rendered only {audio.size / SAMPLE_RATE:.2f} s, wanted {seconds} s")
    return audio


def load_pipeline(model: str | None, random_weights: bool):
    from sousa_rudiments.recognition.pipeline import RudimentPipeline

    if random_weights:
        from sousa_rudiments.recognition.models import (
            DirectAudioModel,
            FeatureInferenceModel,
            OnsetTransformer,
        )

        torch.manual_seed(0)
        return RudimentPipeline(
            FeatureInferenceModel(), OnsetTransformer(), DirectAudioModel(), source="<random>"
        )
    with contextlib.redirect_stdout(io.StringIO()):  # the Hub mixin prints "Loading weights ..."
        return RudimentPipeline.from_pretrained(model)


def _timed(call: Callable[[], object], warmup: int, repeats: int) -> dict[str, float]:
    for _ in range(warmup):
        call()
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        call()
        wall.append((time.perf_counter() - w0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return {
        "p50_ms": round(float(np.percentile(wall, 50)), 2),
        "p95_ms": round(float(np.percentile(wall, 95)), 2),
        "mean_ms": round(float(np.mean(wall)), 2),
        "min_ms": round(float(np.min(wall)), 2),
        "cpu_p50_ms": round(float(np.percentile(cpu, 50)), 2),
        "repeats": repeats,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", default=None, help="pipeline directory or Hub repo id (default: the shipped model)"
    )
    parser.add_argument(
        "--random-weights", action="store_true", help="time untrained models (no model needed)"
    )
    parser.add_argument("--repeats", type=int, default=50, help="timed predict calls per mode (default: 50)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls first (default: 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    from sousa_rudiments.recognition.onsets import detect_onsets
    from sousa_rudiments.recognition.pipeline import MODES, PipelineLoadError, RudimentPipeline

    try:
        pipeline = load_pipeline(args.model, args.random_weights)
    except PipelineLoadError as err:
        print(f"bench_predict: {err} (or pass --model DIR / --random-weights)", file=sys.stderr)
        return 2
    load_before = os.getloadavg()[0]
    audio = render_paradiddle()

    results: dict[str, object] = {
        "model": pipeline.source,
        "clip": {
            "rudiment": "single-paradiddle",
            "tempo_bpm": 120,
            "seconds": CLIP_SECONDS,
            "sample_rate": SAMPLE_RATE,
        },
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs",
        "modes": {},
    }

    def front_end() -> None:
        detect_onsets(pipeline.prepare_audio(audio, SAMPLE_RATE), pipeline.config.onsets)

    results["onsets_only"] = _timed(front_end, args.warmup, args.repeats)
    available = [m for m in MODES if m == "two_stage" or pipeline.direct_model is not None]
    for mode in available:
        runner = RudimentPipeline(
            pipeline.feature_model,
            pipeline.classifier,
            pipeline.direct_model,
            dataclasses.replace(pipeline.config, mode=mode),
            source=pipeline.source,
        )
        prediction = runner.predict(audio, SAMPLE_RATE)
        stats = _timed(lambda runner=runner: runner.predict(audio, SAMPLE_RATE), args.warmup, args.repeats)
        stats["strokes"] = len(prediction.strokes)
        stats["top1"] = prediction.best.slug
        results["modes"][mode] = stats
    results["load_average"] = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}

    print(
        f"model: {results['model']}; {CLIP_SECONDS:g} s paradiddle at 120 BPM, {results['threads']} thread(s)"
    )
    print(
        f"machine: {results['machine']}; 1-min load average before / after: {load_before:.2f} / {os.getloadavg()[0]:.2f}"
    )
    print("| stage | p50 ms | p95 ms | mean ms | CPU p50 ms |")
    print("|---|---|---|---|---|")
    for name, stats in [("onsets only", results["onsets_only"]), *results["modes"].items()]:
        print(
            f"| {name} | {stats['p50_ms']} | {stats['p95_ms']} | {stats['mean_ms']} | {stats['cpu_p50_ms']} |"
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
