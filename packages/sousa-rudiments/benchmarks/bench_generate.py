"""Generation throughput in samples/s per core, labels+MIDI only and with audio.

Times the per-performance work (performance generation, MIDI, rendering, augmentation, FLAC,
done-marker) on an evenly spread subset of a preset's plan, after one warm-up task so one-time
imports and caches are not counted. Two rates are reported: wall clock (samples/s divided by the
worker count) and CPU time (samples per CPU-second of this process and its workers). On a machine
shared with other jobs the wall-clock rate understates what a dedicated core does; the CPU-time rate
does not. Usage::

    uv run --frozen python packages/sousa-rudiments/benchmarks/bench_generate.py --preset small \
        --performances 200 --audio-performances 60 --workers 1 --json bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from sousa_rudiments.dataset.generate import GenerateConfig, _prepare_directory, build_identity, run_tasks
from sousa_rudiments.dataset.plan import plan_tasks
from sousa_rudiments.presets import get_preset
from sousa_rudiments.profiles import generate_profiles
from sousa_rudiments.render import resolve_soundfonts
from sousa_rudiments.rudiments import RUDIMENTS


def _cpu_seconds() -> float:
    """User+system CPU of this process and of finished worker processes."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(preset_name: str, *, with_audio: bool, performances: int, workers: int, seed: int) -> dict:
    preset = get_preset(preset_name)
    slugs = list(preset.rudiments) if preset.rudiments is not None else list(RUDIMENTS)
    profiles = generate_profiles(preset.num_profiles, seed)
    tasks = plan_tasks(preset, [p.profile_id for p in profiles], slugs, with_audio=with_audio)
    step = max(1, len(tasks) // (performances + 1))
    warmup, subset = tasks[0], tasks[step::step][:performances]
    with tempfile.TemporaryDirectory(prefix="sousa-bench-") as tmp:
        config = GenerateConfig(
            output_dir=Path(tmp) / "dataset",
            preset=preset,
            seed=seed,
            with_audio=with_audio,
            soundfonts=tuple(resolve_soundfonts()) if with_audio else (),
            workers=workers,
            progress=False,
        )
        _prepare_directory(config, build_identity(config))
        run_tasks(GenerateConfig(**{**config.__dict__, "workers": 1}), [warmup])
        cpu_before = _cpu_seconds()
        start = time.perf_counter()
        samples = run_tasks(config, subset)
        seconds = time.perf_counter() - start
        cpu = _cpu_seconds() - cpu_before
        audio_seconds = 0.0
        if with_audio:
            import soundfile as sf

            audio_seconds = sum(
                sf.info(str(p)).duration for p in (Path(tmp) / "dataset" / "audio").rglob("*.flac")
            )
    return {
        "preset": preset_name,
        "mode": "audio+labels+MIDI" if with_audio else "labels+MIDI",
        "workers": workers,
        "performances": len(subset),
        "samples": samples,
        "seconds": round(seconds, 3),
        "samples_per_s": round(samples / seconds, 2),
        "samples_per_s_per_core": round(samples / seconds / workers, 2),
        "cpu_seconds": round(cpu, 3),
        "samples_per_cpu_s": round(samples / cpu, 2),
        "sample_rate": preset.sample_rate if with_audio else None,
        "mean_clip_seconds": round(audio_seconds / max(1, samples), 2) if with_audio else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="small")
    parser.add_argument("--performances", type=int, default=200, help="performances timed without audio")
    parser.add_argument("--audio-performances", type=int, default=60, help="performances timed with audio")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]

    results = [
        measure(
            args.preset,
            with_audio=False,
            performances=args.performances,
            workers=args.workers,
            seed=args.seed,
        ),
        measure(
            args.preset,
            with_audio=True,
            performances=args.audio_performances,
            workers=args.workers,
            seed=args.seed,
        ),
    ]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs")
    print(f"1-min load average before / after: {load_before:.2f} / {os.getloadavg()[0]:.2f}")
    print(
        "| mode | workers | samples | wall s | samples/s/core (wall) | CPU s | samples/CPU-s | mean clip (s) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['mode']} | {r['workers']} | {r['samples']} | {r['seconds']} | {r['samples_per_s_per_core']} | "
            f"{r['cpu_seconds']} | {r['samples_per_cpu_s']} | {r['mean_clip_seconds'] or '-'} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
