"""Performance → audio: timbre choice (SoundFont × GM kit × snare note), synthesis, augmentation.

Synthesis and augmentation come from ``shared_audio_core``; this module decides *which* timbre each
sample gets and records it. A kit is only offered for a SoundFont whose percussion bank (bank 128)
actually contains it, so the recorded ``kit`` is what was heard, not a silent fallback to the
standard kit. A SoundFont without a percussion bank whose only preset is named as a kit (Debian's
avldrums: ``Black_Pearl_4pc``) offers that one ``sampled`` kit instead.
"""

from __future__ import annotations

import functools
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import symusic
from shared_audio_core.audio import peak_normalize
from shared_audio_core.synth import (
    SoundFontNotFoundError,
    default_soundfont,
    find_system_soundfonts,
    render_midi,
    resolve_soundfont,
)

from sousa_rudiments.midi import set_timbre
from sousa_rudiments.presets import DRUM_KITS, SAMPLED_KIT

__all__ = [
    "RenderedClip",
    "SoundFontFormatError",
    "Timbre",
    "TimbrePool",
    "augment_audio",
    "percussion_presets",
    "preset_headers",
    "render_clip",
    "resolve_soundfonts",
    "single_kit_preset",
    "synthesize",
]

#: Peak level of the dry render before augmentation (headroom for gain/reverb effects).
DRY_PEAK_DBFS = -3.0


class SoundFontFormatError(ValueError):
    """The file is not a RIFF ``sfbk`` SoundFont, or its preset table cannot be read."""


def _riff_chunks(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    chunks = []
    pos = start
    while pos + 8 <= end:
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        chunks.append((chunk_id, pos + 8, min(pos + 8 + size, end)))
        pos += 8 + size + (size & 1)
    return chunks


@functools.lru_cache(maxsize=32)
def preset_headers(soundfont: Path) -> tuple[tuple[str, int, int], ...]:
    """``(name, program, bank)`` of every preset a .sf2/.sf3 file defines (the terminal EOP left out).

    Reads only the RIFF preset headers (``pdta/phdr``, 38-byte records), not the sample data.
    """
    data = Path(soundfont).read_bytes()
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise SoundFontFormatError(f"{soundfont}: not a SoundFont (missing RIFF/sfbk header)")
    headers: list[tuple[str, int, int]] = []
    for chunk_id, body, end in _riff_chunks(data, 12, len(data)):
        if chunk_id != b"LIST" or data[body : body + 4] != b"pdta":
            continue
        for sub_id, sub_body, sub_end in _riff_chunks(data, body + 4, end):
            if sub_id != b"phdr":
                continue
            for record in range(sub_body, sub_end - 37, 38):
                name = data[record : record + 20].split(b"\0", 1)[0].decode("latin-1")
                preset, bank = struct.unpack("<HH", data[record + 20 : record + 24])
                headers.append((name, preset, bank))
    return tuple(headers[:-1])  # the SF2 spec ends the table with a terminal "EOP" record


def percussion_presets(soundfont: Path) -> frozenset[int]:
    """Program numbers of the percussion kits (bank 128 presets) a .sf2/.sf3 file defines."""
    return frozenset(preset for _, preset, bank in preset_headers(Path(soundfont)) if bank == 128)


_KIT_NAME = re.compile(r"kit|drum|\d+\s*pc\b", re.IGNORECASE)


def single_kit_preset(soundfont: Path) -> int | None:
    """The program of the one drum kit a single-kit SoundFont holds as a melodic preset, else None.

    Only a file without a percussion bank whose single preset is named as a kit qualifies (``kit``,
    ``drum`` or ``4pc`` in the name): a one-instrument piano SoundFont must not become a "snare".
    """
    headers = preset_headers(Path(soundfont))
    if any(bank == 128 for _, _, bank in headers) or len(headers) != 1:
        return None
    name, preset, _ = headers[0]
    return preset if _KIT_NAME.search(name) else None


def resolve_soundfonts(
    paths: Sequence[str | Path] | None = None, *, include_system: bool = True
) -> list[Path]:
    """The SoundFonts a dataset renders with, in a stable order.

    Explicit ``paths`` must exist (``SoundFontNotFoundError`` otherwise). With no paths: the core's
    default SoundFont plus, when ``include_system``, every SoundFont installed on the system (Debian's
    fluid-soundfont-gm, musescore-general-soundfont, …). Sorted by file name so every machine that
    has the same files builds the same pool.
    """
    if paths:
        resolved = [resolve_soundfont(p) for p in paths]
    else:
        resolved = [default_soundfont()]
        if include_system:
            resolved += find_system_soundfonts()
    unique: dict[str, Path] = {}
    for path in resolved:
        if path.name in unique and unique[path.name] != path:
            raise ValueError(
                f"two SoundFonts share the file name {path.name!r}: {unique[path.name]} and {path}"
            )
        unique[path.name] = path
    return [unique[name] for name in sorted(unique)]


@dataclass(frozen=True)
class Timbre:
    """What one clip sounds like: a SoundFont, one of its GM kits and the snare note played."""

    soundfont: Path
    kit: str
    snare_note: int

    @property
    def program(self) -> int:
        return DRUM_KITS[self.kit]

    @property
    def drum_channel(self) -> bool:
        """False for a single-kit SoundFont's ``sampled`` kit, which is a melodic preset."""
        return self.kit != SAMPLED_KIT

    @property
    def soundfont_name(self) -> str:
        return self.soundfont.name


class TimbrePool:
    """Every (SoundFont, kit, note) combination available; a sample draws one with its own RNG."""

    def __init__(self, soundfonts: Sequence[Path], kits: Sequence[str], snare_notes: Sequence[int]) -> None:
        if not soundfonts:
            raise SoundFontNotFoundError("no SoundFont available to render audio")
        timbres: list[Timbre] = []
        for soundfont in soundfonts:
            if not Path(soundfont).is_file():
                raise SoundFontNotFoundError(f"SoundFont not found: {soundfont}")
            available = percussion_presets(Path(soundfont))
            sampled = single_kit_preset(Path(soundfont)) == DRUM_KITS[SAMPLED_KIT]
            for kit in kits:
                offered = sampled if kit == SAMPLED_KIT else DRUM_KITS[kit] in available
                if offered:
                    timbres.extend(Timbre(Path(soundfont), kit, note) for note in snare_notes)
        if not timbres:
            names = ", ".join(Path(s).name for s in soundfonts)
            raise SoundFontFormatError(
                f"none of the SoundFonts ({names}) has any of the drum kits {list(kits)}"
            )
        self.timbres: tuple[Timbre, ...] = tuple(timbres)

    def __len__(self) -> int:
        return len(self.timbres)

    def choose(self, rng: np.random.Generator) -> Timbre:
        return self.timbres[int(rng.integers(len(self.timbres)))]


def synthesize(score: symusic.Score, timbre: Timbre, sample_rate: int) -> np.ndarray:
    """Render ``score`` with ``timbre`` and peak-normalise to :data:`DRY_PEAK_DBFS`."""
    voiced = set_timbre(
        score, program=timbre.program, snare_note=timbre.snare_note, drum_channel=timbre.drum_channel
    )
    audio = render_midi(voiced, soundfont=timbre.soundfont, sample_rate=sample_rate)
    return peak_normalize(audio, DRY_PEAK_DBFS)


def augment_audio(
    audio: np.ndarray, sample_rate: int, preset: str, seed: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """Apply the core augmentation ``preset`` (seeded) and return audio plus its ``aug_*`` parameters.

    Every ``aug_<effect>_<param>`` column the core can emit is present (``None`` when the effect was
    not drawn), so all rows share one schema. The core scales a clip that an effect pushed past full
    scale back to peak 1.0; that factor is recorded as ``aug_peak_scale`` so no level change goes
    unrecorded.
    """
    from shared_audio_core.augment import AudioAugmentor

    result = AudioAugmentor.from_preset(preset, seed=seed)(audio, sample_rate)
    params: dict[str, Any] = dict(result.flat_params(complete=True))
    params["aug_peak_scale"] = float(result.peak_scale)
    return np.asarray(result.audio, dtype=np.float32), params


@dataclass(frozen=True)
class RenderedClip:
    audio: np.ndarray
    sample_rate: int
    timbre: Timbre
    augmentation_preset: str
    aug_params: dict[str, Any]


def render_clip(
    score: symusic.Score,
    timbre: Timbre,
    *,
    sample_rate: int,
    augmentation_preset: str,
    seed: int,
) -> RenderedClip:
    """Synthesise ``score`` with ``timbre`` and augment it with ``augmentation_preset``."""
    dry = synthesize(score, timbre, sample_rate)
    wet, params = augment_audio(dry, sample_rate, augmentation_preset, seed)
    return RenderedClip(wet, sample_rate, timbre, augmentation_preset, params)
