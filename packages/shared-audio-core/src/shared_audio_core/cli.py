"""``audio-core``: render MIDI through a SoundFont and an augmentation preset; list SoundFonts and presets."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .cliargs import positive_int

__all__ = ["build_parser", "main"]

RENDER_PEAK_DBFS = -1.0


def _format_value(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _cmd_render(args: argparse.Namespace) -> int:
    from .audio import SUPPORTED_WRITE_FORMATS, UnsupportedAudioFormatError, peak_normalize, write_audio
    from .augment import AudioAugmentor
    from .synth import example_drum_midi, render_midi, resolve_soundfont

    if args.output.suffix.lower() not in SUPPORTED_WRITE_FORMATS:  # fail before the slow work
        raise UnsupportedAudioFormatError(
            f"{args.output}: unsupported output suffix; use one of {sorted(SUPPORTED_WRITE_FORMATS)}"
        )
    midi = Path(args.midi) if args.midi else example_drum_midi()
    soundfont = resolve_soundfont(args.soundfont)
    audio = render_midi(midi, soundfont, sample_rate=args.sample_rate)
    # Synthesizer levels are arbitrary (dense drum hits exceed 1.0); give the chain a defined level.
    audio = peak_normalize(audio, RENDER_PEAK_DBFS)
    applied: dict[str, dict[str, object]] = {}
    if args.preset is not None:
        augmentor = AudioAugmentor.from_preset(args.preset, seed=args.seed)
        result = augmentor(audio, args.sample_rate)
        audio, applied = result.audio, result.applied
    out = write_audio(args.output, audio, args.sample_rate, bit_depth=args.bit_depth)

    summary = {
        "midi": str(midi),
        "soundfont": str(soundfont),
        "output": str(out),
        "sample_rate": args.sample_rate,
        "bit_depth": args.bit_depth,
        "duration_s": round(len(audio) / args.sample_rate, 3),
        "preset": args.preset,
        "seed": args.seed,
        "applied": applied,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(
        f"rendered {midi.name} with {soundfont.name} -> {out} ({summary['duration_s']} s, "
        f"{args.sample_rate} Hz, {args.bit_depth}-bit)"
    )
    if args.preset is None:
        print("augmentation: none (pass --preset NAME)")
    elif not applied:
        print(f"augmentation preset {args.preset!r} (seed {args.seed}): no effect drawn this time")
    else:
        print(f"augmentation preset {args.preset!r} (seed {args.seed}):")
        for effect, params in applied.items():
            shown = ", ".join(f"{k}={_format_value(v)}" for k, v in params.items())
            print(f"  {effect}: {shown}")
    return 0


def _cmd_soundfonts(args: argparse.Namespace) -> int:
    from .synth import SYSTEM_SOUNDFONT_DIRS, default_soundfont, find_system_soundfonts

    print(f"default: {default_soundfont()}")
    found = find_system_soundfonts(args.search_dir or None)
    searched = args.search_dir or list(SYSTEM_SOUNDFONT_DIRS)
    if found:
        print("system:")
        for path in found:
            print(f"  {path}")
    else:
        print(f"system: none found in {', '.join(map(str, searched))}")
    return 0


def _cmd_presets(args: argparse.Namespace) -> int:
    from .augment import PRESETS, list_presets

    if args.json:
        print(json.dumps({name: PRESETS[name].to_dict() for name in list_presets()}, indent=2))
        return 0
    for name in list_presets():
        cfg = PRESETS[name]
        effects = [
            f"{effect} p={cfg.effect(effect).p:g}" for effect in cfg.param_names() if cfg.effect(effect).p > 0
        ]
        print(f"{name:15s} {', '.join(effects)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .augment import list_presets

    parser = argparse.ArgumentParser(
        prog="audio-core",
        description="Shared audio core: render MIDI through a SoundFont with optional augmentation, "
        "and inspect the available SoundFonts and augmentation presets.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    render = sub.add_parser(
        "render",
        help="render a MIDI file (default: the bundled drum groove) to FLAC/WAV",
        description="Render MIDI with symusic's SoundFont synthesizer, peak-normalise to -1 dBFS, "
        "optionally apply an augmentation preset, and write 16/24-bit FLAC or WAV (by suffix). "
        "Prints the effects that were applied and their sampled parameters.",
    )
    render.add_argument(
        "midi", nargs="?", help="MIDI file; default: the ~10 s example drum groove shipped in the package"
    )
    render.add_argument("-o", "--output", required=True, type=Path, help="output file, .flac or .wav")
    render.add_argument(
        "--soundfont", help="path to a .sf2/.sf3 SoundFont (default: pretty_midi's TimGM6mb.sf2)"
    )
    render.add_argument("--preset", choices=list_presets(), help="augmentation preset (default: none)")
    render.add_argument(
        "--seed", type=int, default=0, help="augmentation seed; same seed, same output (default 0)"
    )
    render.add_argument(
        "--sample-rate", type=positive_int, default=44100, help="output sample rate in Hz (default 44100)"
    )
    render.add_argument(
        "--bit-depth", type=int, choices=(16, 24), default=24, help="PCM bit depth (default 24)"
    )
    render.add_argument("--json", action="store_true", help="print a JSON summary instead of text")
    render.set_defaults(func=_cmd_render)

    soundfonts = sub.add_parser(
        "soundfonts",
        help="list the default and system SoundFonts",
        description="Print the default SoundFont and any .sf2/.sf3 files found in the system SoundFont folders.",
    )
    soundfonts.add_argument(
        "--search-dir", action="append", help="search this folder instead of the system folders (repeatable)"
    )
    soundfonts.set_defaults(func=_cmd_soundfonts)

    presets = sub.add_parser(
        "presets",
        help="list augmentation presets",
        description="List the named augmentation presets with the effects they enable and their probabilities.",
    )
    presets.add_argument("--json", action="store_true", help="print every preset's full config as JSON")
    presets.set_defaults(func=_cmd_presets)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from .audio import AudioError
    from .synth import EmptyMidiError, InvalidSoundFontError, MidiLoadError, SoundFontNotFoundError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (AudioError, MidiLoadError, EmptyMidiError, SoundFontNotFoundError, InvalidSoundFontError) as exc:
        print(f"audio-core: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. the output folder cannot be created or written
        print(f"audio-core: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
