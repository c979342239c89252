"""Throughput of SoundFont rendering and of each augmentation preset, single-threaded.

Measures seconds of audio produced per CPU-second (= per core, since everything runs on one
thread) for the bundled ~10 s drum groove at 44.1 kHz: rendering through the default SoundFont,
then augmenting the rendered clip with each preset (a fresh per-call seed each repetition, so the
preset's effect probabilities are sampled as in dataset generation). CPU time, not wall time, is
the denominator so the figure is stable on a shared machine. Warm-up calls (SoundFont loading,
librosa/numba JIT, IR cache creation) are excluded.

    uv run --frozen python packages/shared-audio-core/benchmarks/bench_render_augment.py [--update-readme]
"""

from __future__ import annotations

import os

# Pin every numeric library to one thread before numpy is imported.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

from shared_audio_core.audio import peak_normalize  # noqa: E402
from shared_audio_core.augment import AudioAugmentor, list_presets  # noqa: E402
from shared_audio_core.synth import example_drum_midi, render_midi  # noqa: E402
from tqdm import tqdm  # noqa: E402

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
SAMPLE_RATE = 44100


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def measure(fn: Callable[[int], object], repeats: int, label: str) -> tuple[float, float]:
    """Return (cpu seconds, wall seconds) for ``repeats`` calls of ``fn(i)`` after one warm-up."""
    fn(-1)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in tqdm(range(repeats), desc=label, leave=False):
        fn(i)
    return time.process_time() - cpu0, time.perf_counter() - wall0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per row (default 10)")
    parser.add_argument(
        "--update-readme", action="store_true", help="rewrite the Performance table in README.md"
    )
    args = parser.parse_args()

    midi = example_drum_midi()
    audio = peak_normalize(render_midi(midi, sample_rate=SAMPLE_RATE), -1.0)
    clip_s = len(audio) / SAMPLE_RATE
    rows: list[tuple[str, float, float]] = []

    cpu, wall = measure(lambda _: render_midi(midi, sample_rate=SAMPLE_RATE), args.repeats, "render")
    rows.append(
        (
            "render (TimGM6mb: pedal, SF2 envelopes, velocity)",
            clip_s * args.repeats / cpu,
            clip_s * args.repeats / wall,
        )
    )

    with tempfile.TemporaryDirectory() as ir_cache:
        for preset in list_presets():
            augmentor = AudioAugmentor.from_preset(preset, seed=0, ir_cache_dir=ir_cache)
            # warm-up with every seed first so IR files are cached: steady-state throughput
            for i in range(-1, args.repeats):
                augmentor(audio, SAMPLE_RATE, seed=i)
            cpu, wall = measure(lambda i, a=augmentor: a(audio, SAMPLE_RATE, seed=i), args.repeats, preset)
            rows.append((f"augment `{preset}`", clip_s * args.repeats / cpu, clip_s * args.repeats / wall))

    machine = f"{os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}"
    lines = [
        f"Measured {dt.date.today().isoformat()} on {machine}; one thread; "
        f"{clip_s:.1f} s drum groove at {SAMPLE_RATE} Hz, {args.repeats} timed calls per row "
        "(`benchmarks/bench_render_augment.py`). Audio seconds per CPU-second is the per-core "
        "throughput; wall-clock is shown for reference (1-minute load average at the end: "
        f"{os.getloadavg()[0]:.1f}).",
        "",
        "| step | audio s per CPU-s (per core) | audio s per wall-s |",
        "|---|---:|---:|",
        *(f"| {name} | {per_cpu:.1f} | {per_wall:.1f} |" for name, per_cpu, per_wall in rows),
    ]
    table = "\n".join(lines)
    print(table)
    if args.update_readme:
        text = README.read_text()
        if START not in text or END not in text:
            raise SystemExit(f"{README} has no {START} ... {END} markers")
        new = re.sub(
            re.escape(START) + ".*?" + re.escape(END), f"{START}\n{table}\n{END}", text, flags=re.DOTALL
        )
        README.write_text(new)
        print(f"updated {README}")


if __name__ == "__main__":
    main()
