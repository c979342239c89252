"""Render the demo's example clips with the SOUSA generator and renderer (the same path as ``sousa generate``).

Each clip is one seeded performance (``generate_performance``) by a simulated player the shipped model
never met (profiles of seed 4242; the shipped model trained on seed 0), at 120 BPM and the generator's
automatic length (about four bars, as in the ``medium`` preset it trained on), synthesised through the default SoundFont's standard kit and one of the core's room
presets (``render_clip``), written as 16-bit mono FLAC at 44.1 kHz. ``examples.json`` records how each
clip was made, so tests and the app read the truth from it instead of from file names.

After writing, the shipped model classifies every clip and the script prints its top-1 answer: the
README's table of which examples the model gets right comes from this output.

    uv run --frozen python apps/rudiment-demo/scripts/render_examples.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from shared_audio_core.audio import write_audio
from shared_audio_core.synth import default_soundfont
from sousa_rudiments.midi import performance_to_score
from sousa_rudiments.performance import generate_performance
from sousa_rudiments.profiles import generate_profiles
from sousa_rudiments.recognition.pipeline import RudimentPipeline
from sousa_rudiments.render import Timbre, render_clip
from sousa_rudiments.rudiments import get_rudiment

SAMPLE_RATE = 44_100
PLAYER_SEED = 4242  # not a training seed: the examples are players the model has not heard
NUM_PLAYERS = 8
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "examples"


@dataclass(frozen=True)
class ExampleSpec:
    """One example clip: which rudiment, which simulated player, and through which room."""

    rudiment: str
    player: str
    augmentation: str
    tempo_bpm: float = 120.0
    cycles: int | None = None  # the generator's automatic length
    seed: int = 7


# One rudiment per family (diddle, flam, drag, roll), players of three skill tiers, two rooms.
EXAMPLES: tuple[ExampleSpec, ...] = (
    ExampleSpec("single-paradiddle", "adv-0001", "clean_studio"),
    ExampleSpec("flam-accent", "int-0001", "practice_room"),
    ExampleSpec("drag", "pro-0001", "practice_room"),
    ExampleSpec("double-stroke-open-roll", "int-0001", "clean_studio"),
)


def render_example(spec: ExampleSpec, out: Path) -> dict:
    """Render one clip to ``out/<rudiment>.flac`` and return its manifest entry."""
    players = {p.profile_id: p for p in generate_profiles(NUM_PLAYERS, seed=PLAYER_SEED)}
    player = players[spec.player]
    rudiment = get_rudiment(spec.rudiment)
    performance = generate_performance(
        rudiment, player, spec.tempo_bpm, num_cycles=spec.cycles, seed=spec.seed
    )
    timbre = Timbre(default_soundfont(), "standard", 38)
    clip = render_clip(
        performance_to_score(performance),
        timbre,
        sample_rate=SAMPLE_RATE,
        augmentation_preset=spec.augmentation,
        seed=spec.seed,
    )
    path = write_audio(out / f"{rudiment.slug}.flac", clip.audio, SAMPLE_RATE, bit_depth=16)
    return {
        "file": path.name,
        "rudiment": rudiment.slug,
        "name": rudiment.name,
        "pas_number": rudiment.number,
        "duration_s": round(len(clip.audio) / SAMPLE_RATE, 3),
        "sample_rate": SAMPLE_RATE,
        "soundfont": timbre.soundfont_name,
        "kit": timbre.kit,
        "snare_note": timbre.snare_note,
        "player_seed": PLAYER_SEED,
        "skill_tier": player.skill_tier,
        **asdict(spec),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Render the rudiment demo's example clips (FLAC, 44.1 kHz) and examples.json."
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    entries = []
    for spec in EXAMPLES:
        entries.append(render_example(spec, args.out))
        print(f"rendered {args.out / entries[-1]['file']}", flush=True)
    (args.out / "examples.json").write_text(json.dumps(entries, indent=2) + "\n")

    pipeline = RudimentPipeline.from_pretrained(None)
    print("\nshipped model's answers:")
    for entry in entries:
        prediction = pipeline.predict_file(args.out / entry["file"])
        verdict = "correct" if prediction.found and prediction.best.slug == entry["rudiment"] else "WRONG"
        size_kb = (args.out / entry["file"]).stat().st_size / 1024
        print(
            f"  {entry['file']:<30} {size_kb:6.0f} KB  {prediction.best.slug:<26} "
            f"{prediction.best.probability:5.1%}  {verdict}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
