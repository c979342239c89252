"""MIDI → audio through a SoundFont, using symusic's ``Synthesizer`` (prestosynth).

symusic is pinned below 0.6 because 0.6.0's ``Synthesizer.render`` is broken. Drum tracks
(``Track.is_drum``, i.e. MIDI channel 10) are rendered from the SoundFont's percussion bank.

Two prestosynth limitations (symusic 0.5.9) are handled here, both measured, both documented:

* **Velocity does not change loudness.** prestosynth does not implement SoundFont modulators, so
  the standard velocity→attenuation modulator is missing: a velocity-20 note renders exactly as
  loud as a velocity-127 one (velocity only picks the sample layer). ``render_midi`` therefore
  renders one pass per distinct velocity and scales it by ``velocity_gain(v)`` = (v/127)², the
  -40·log10(127/v) dB curve of the SF2 default modulator (as FluidSynth applies it).
* **Some TimGM6mb drum keys render as ~5 ms clicks** (38 acoustic snare, 56, 60-62, 69, 70, 73-80)
  although their samples are 50-150 ms long. With the default SoundFont, key 38 is played on key
  40 (electric snare, which renders fully) — see ``DEFAULT_SOUNDFONT_DRUM_KEY_FIXES``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path

import numpy as np
import symusic

__all__ = [
    "DEFAULT_SOUNDFONT_DRUM_KEY_FIXES",
    "SOUNDFONT_SUFFIXES",
    "SYSTEM_SOUNDFONT_DIRS",
    "EmptyMidiError",
    "InvalidSoundFontError",
    "MidiLoadError",
    "SoundFontNotFoundError",
    "default_soundfont",
    "example_drum_midi",
    "find_system_soundfonts",
    "load_score",
    "render_midi",
    "resolve_soundfont",
    "velocity_gain",
]

SOUNDFONT_SUFFIXES: tuple[str, ...] = (".sf2", ".sf3")

#: Where Linux distributions (Debian/Ubuntu fluid-soundfont-gm, musescore-general-soundfont, Arch
#: soundfont-fluid ...) install SoundFonts. ``~`` is expanded at search time.
SYSTEM_SOUNDFONT_DIRS: tuple[str, ...] = (
    "/usr/share/sounds/sf2",
    "/usr/share/sounds/sf3",
    "/usr/share/soundfonts",
    "/usr/share/sf2",
    "/usr/local/share/soundfonts",
    "/usr/local/share/sounds/sf2",
    "/opt/homebrew/share/soundfonts",
    "~/.local/share/soundfonts",
)


#: GM drum keys that prestosynth truncates to a click with TimGM6mb, mapped to a key that renders.
#: Only the snare has a same-family substitute; the other broken keys are left alone.
DEFAULT_SOUNDFONT_DRUM_KEY_FIXES: dict[int, int] = {38: 40}


class SoundFontNotFoundError(FileNotFoundError):
    """The SoundFont path does not exist."""


class InvalidSoundFontError(ValueError):
    """The path exists but is not a .sf2/.sf3 file."""


class MidiLoadError(ValueError):
    """A MIDI file is missing or could not be parsed."""


class EmptyMidiError(ValueError):
    """The score has no notes, so there is nothing to render."""


def default_soundfont() -> Path:
    """The General MIDI SoundFont ``TimGM6mb.sf2`` shipped inside pretty_midi (6 MB, always present)."""
    import pretty_midi

    path = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    if not path.is_file():
        raise SoundFontNotFoundError(f"pretty_midi's default SoundFont is missing: {path}")
    return path


def example_drum_midi() -> Path:
    """A ~10 s GM drum groove shipped with the package (made by ``benchmarks/make_example_groove.py``)."""
    return Path(str(resources.files("shared_audio_core") / "data" / "example_drum_groove.mid"))


def find_system_soundfonts(search_dirs: Iterable[str | Path] | None = None) -> list[Path]:
    """All .sf2/.sf3 files (recursively) under ``search_dirs`` (default ``SYSTEM_SOUNDFONT_DIRS``).

    Missing directories are skipped: absence of system SoundFonts is normal, not an error.
    """
    dirs = SYSTEM_SOUNDFONT_DIRS if search_dirs is None else search_dirs
    found: set[Path] = set()
    for directory in dirs:
        root = Path(os.path.expanduser(str(directory)))
        if not root.is_dir():
            continue
        for candidate in root.rglob("*"):
            if candidate.suffix.lower() in SOUNDFONT_SUFFIXES and candidate.is_file():
                found.add(candidate.resolve())
    return sorted(found)


def resolve_soundfont(soundfont: str | Path | None = None) -> Path:
    """``None`` → the default SoundFont; otherwise check the path exists and is a .sf2/.sf3 file."""
    if soundfont is None:
        return default_soundfont()
    path = Path(os.path.expanduser(str(soundfont)))
    if not path.exists():
        raise SoundFontNotFoundError(f"SoundFont not found: {path}")
    if not path.is_file() or path.suffix.lower() not in SOUNDFONT_SUFFIXES:
        raise InvalidSoundFontError(f"{path}: not a SoundFont file (expected one of {SOUNDFONT_SUFFIXES})")
    return path.resolve()


def velocity_gain(velocity: int | np.ndarray) -> float | np.ndarray:
    """Amplitude factor of the SF2 default velocity modulator: (v/127)², i.e. 40·log10(v/127) dB."""
    return (np.asarray(velocity, dtype=np.float64) / 127.0) ** 2


@functools.lru_cache(maxsize=8)
def _synthesizer(soundfont: str, sample_rate: int, quality: int) -> symusic.Synthesizer:
    # Loading a SoundFont parses the whole sample bank; reuse one synthesizer per configuration.
    return symusic.Synthesizer(soundfont, sample_rate=sample_rate, quality=quality)


def load_score(midi: str | Path | symusic.Score) -> symusic.Score:
    """Return a ``symusic.Score``; a path is parsed with errors that name the file."""
    if isinstance(midi, symusic.Score):
        return midi
    path = Path(midi)
    if not path.is_file():
        raise MidiLoadError(f"MIDI file not found: {path}")
    try:
        return symusic.Score(str(path))
    except Exception as exc:  # symusic raises plain RuntimeError/ValueError from C++
        raise MidiLoadError(f"{path}: cannot parse MIDI ({exc})") from exc


def render_midi(
    midi: str | Path | symusic.Score,
    soundfont: str | Path | None = None,
    sample_rate: int = 44100,
    *,
    quality: int = 0,
    velocity_dynamics: bool = True,
    drum_key_map: Mapping[int, int] | None = None,
) -> np.ndarray:
    """Render a MIDI file or ``Score`` to float32 mono audio ``[n]`` at ``sample_rate``.

    ``velocity_dynamics`` applies the velocity→loudness curve prestosynth lacks (see module doc);
    turn it off only to get prestosynth's raw output. ``drum_key_map`` remaps drum-track keys
    before rendering; ``None`` means ``DEFAULT_SOUNDFONT_DRUM_KEY_FIXES`` for the default
    SoundFont and no remapping for any other. The length equals the score's end time (last
    note-off); release tails past it are cut. The level is not normalised (dense scores can exceed
    1.0, so use ``audio.peak_normalize`` before writing integer PCM).
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    score = load_score(midi)
    if score.note_num() == 0:
        name = midi if not isinstance(midi, symusic.Score) else "<score>"
        raise EmptyMidiError(f"{name}: the score has no notes to render")
    sf_path = resolve_soundfont(soundfont)
    if drum_key_map is None:
        drum_key_map = DEFAULT_SOUNDFONT_DRUM_KEY_FIXES if sf_path == default_soundfont().resolve() else {}
    synth = _synthesizer(str(sf_path), int(sample_rate), int(quality))

    layers = _velocity_layers(score, drum_key_map, split=velocity_dynamics)
    mono = np.zeros(0, dtype=np.float32)
    for gain, layer in layers:
        rendered = np.asarray(synth.render(layer, stereo=False), dtype=np.float32)
        channel = rendered[0] if rendered.ndim == 2 and rendered.shape[0] == 1 else rendered.reshape(-1)
        if channel.shape[0] > mono.shape[0]:
            mono = np.concatenate([mono, np.zeros(channel.shape[0] - mono.shape[0], dtype=np.float32)])
        mono[: channel.shape[0]] += np.float32(gain) * channel
    if not np.all(np.isfinite(mono)):
        raise RuntimeError(f"synthesizer produced non-finite samples with SoundFont {sf_path}")
    return mono


def _velocity_layers(
    score: symusic.Score, drum_key_map: Mapping[int, int], *, split: bool
) -> list[tuple[float, symusic.Score]]:
    """Split the score into one score per distinct velocity (with its gain), remapping drum keys.

    Controllers, pedals and pitch bends are dropped: prestosynth ignores them anyway.
    """
    tick_score = score if score.ttype == symusic.core.Tick else score.to("tick")
    tracks = []
    for track in tick_score.tracks:
        notes = track.notes.numpy()
        if track.is_drum and drum_key_map:
            pitch = notes["pitch"].copy()
            for src, dst in drum_key_map.items():
                pitch[notes["pitch"] == src] = dst
            notes["pitch"] = pitch
        tracks.append((track, notes))
    all_velocities = np.concatenate([n["velocity"] for _, n in tracks]).astype(np.int64)
    groups: list[int | None] = sorted(set(all_velocities.tolist())) if split else [None]

    layers: list[tuple[float, symusic.Score]] = []
    for velocity in groups:
        layer = symusic.Score(tick_score.ticks_per_quarter)
        layer.tempos = tick_score.tempos.copy()
        layer.time_signatures = tick_score.time_signatures.copy()
        for track, notes in tracks:
            keep = (
                np.ones(len(notes["velocity"]), dtype=bool)
                if velocity is None
                else notes["velocity"] == velocity
            )
            if not keep.any():
                continue
            new_track = symusic.Track(track.name, track.program, track.is_drum)
            new_track.notes = symusic.Note.from_numpy(
                notes["time"][keep], notes["duration"][keep], notes["pitch"][keep], notes["velocity"][keep]
            )
            layer.tracks.append(new_track)
        layers.append((1.0 if velocity is None else float(velocity_gain(velocity)), layer))
    return layers
