"""MIDI → audio through a SoundFont, using symusic's ``Synthesizer`` (prestosynth).

symusic is pinned below 0.6 because 0.6.0's ``Synthesizer.render`` is broken. Drum tracks
(``Track.is_drum``, i.e. MIDI channel 10) are rendered from the SoundFont's percussion bank.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import numpy as np
import symusic

__all__ = [
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
) -> np.ndarray:
    """Render a MIDI file or ``Score`` to float32 mono audio ``[n]`` at ``sample_rate``.

    The length equals the score's end time (last note-off); SoundFont release tails past it are cut.
    The level is the synthesizer's own; it is not normalised (dense scores can exceed 1.0, so
    normalise with ``audio.peak_normalize`` before writing integer PCM).
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    score = load_score(midi)
    if score.note_num() == 0:
        name = midi if not isinstance(midi, symusic.Score) else "<score>"
        raise EmptyMidiError(f"{name}: the score has no notes to render")
    sf_path = resolve_soundfont(soundfont)
    synth = _synthesizer(str(sf_path), int(sample_rate), int(quality))
    audio = np.asarray(synth.render(score, stereo=False), dtype=np.float32)
    mono = np.ascontiguousarray(
        audio.reshape(-1) if audio.ndim == 1 else audio.mean(axis=0), dtype=np.float32
    )
    if not np.all(np.isfinite(mono)):
        raise RuntimeError(f"synthesizer produced non-finite samples with SoundFont {sf_path}")
    return mono
