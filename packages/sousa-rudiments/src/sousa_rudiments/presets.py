"""Named dataset sizes (``tiny`` … ``full``) as data.

A preset fixes everything that determines *which* samples exist (profiles, rudiments, tempos,
augmentations, timbre pool, clip length, sample rate). Together with the seed it is the identity of a
dataset directory: resuming or sharding with a different preset is refused.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "DRUM_KITS",
    "PRESETS",
    "SAMPLED_KIT",
    "SNARE_NOTES",
    "DatasetPreset",
    "UnknownPresetError",
    "get_preset",
    "list_presets",
]

#: General MIDI percussion kits, selected by a program change on the drum channel (bank 128 in a
#: SoundFont). Every kit a SoundFont actually has multiplies the timbres that SoundFont offers.
#: ``sampled`` is the one kit of a single-kit SoundFont (Debian's avldrums: multi-sampled acoustic
#: kits stored as one melodic preset, bank 0 program 0, GM note layout), played on a melodic channel.
DRUM_KITS: dict[str, int] = {
    "standard": 0,
    "room": 8,
    "power": 16,
    "electronic": 24,
    "jazz": 32,
    "brush": 40,
    "sampled": 0,
}

#: The kit name of a single-kit SoundFont (see :data:`DRUM_KITS`).
SAMPLED_KIT = "sampled"

#: GM acoustic snare (38) and electric snare (40).
SNARE_NOTES: tuple[int, ...] = (38, 40)


class UnknownPresetError(KeyError):
    """The preset name is not one of :data:`PRESETS`."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "unknown preset"


@dataclass(frozen=True)
class DatasetPreset:
    """How many samples a dataset has and how they are rendered.

    ``rudiments=None`` means all 40 PAS rudiments. ``num_cycles=None`` lets the performance generator
    choose the clip length. Without audio, the augmentation axis collapses: one sample per performance.
    """

    name: str
    num_profiles: int
    tempos_bpm: tuple[int, ...]
    augmentations: tuple[str, ...]
    rudiments: tuple[str, ...] | None = None
    num_cycles: int | None = None
    sample_rate: int = 44100
    bit_depth: int = 24
    kits: tuple[str, ...] = tuple(DRUM_KITS)
    snare_notes: tuple[int, ...] = SNARE_NOTES
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.num_profiles < 1:
            raise ValueError(f"preset {self.name!r}: num_profiles must be >= 1, got {self.num_profiles}")
        if not self.tempos_bpm or any(t <= 0 for t in self.tempos_bpm):
            raise ValueError(f"preset {self.name!r}: tempos_bpm must be positive, got {self.tempos_bpm}")
        if not self.augmentations:
            raise ValueError(f"preset {self.name!r}: needs at least one augmentation preset")
        if len(set(self.augmentations)) != len(self.augmentations):
            raise ValueError(f"preset {self.name!r}: augmentation names repeat: {self.augmentations}")
        unknown_kits = [k for k in self.kits if k not in DRUM_KITS]
        if unknown_kits or not self.kits:
            raise ValueError(
                f"preset {self.name!r}: unknown drum kits {unknown_kits}; choose from {list(DRUM_KITS)}"
            )
        if not self.snare_notes or any(n not in SNARE_NOTES for n in self.snare_notes):
            raise ValueError(f"preset {self.name!r}: snare_notes must be a subset of {SNARE_NOTES}")
        if self.num_cycles is not None and self.num_cycles < 1:
            raise ValueError(f"preset {self.name!r}: num_cycles must be >= 1 or None")
        if self.rudiments is not None:
            from sousa_rudiments.rudiments import get_rudiment

            # Canonical slugs, each once: file paths and ids are built from them, so `FLAM` and `flam`
            # must not become two directories of the same rudiment. Unknown slugs raise here.
            canonical = tuple(dict.fromkeys(get_rudiment(slug).slug for slug in self.rudiments))
            if not canonical:
                raise ValueError(f"preset {self.name!r}: rudiments must be None (all 40) or non-empty")
            object.__setattr__(self, "rudiments", canonical)

    def num_performances(self, num_rudiments: int = 40) -> int:
        rudiments = len(self.rudiments) if self.rudiments is not None else num_rudiments
        return self.num_profiles * rudiments * len(self.tempos_bpm)

    def num_samples(self, *, with_audio: bool, num_rudiments: int = 40) -> int:
        per_performance = len(self.augmentations) if with_audio else 1
        return self.num_performances(num_rudiments) * per_performance

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("tempos_bpm", "augmentations", "rudiments", "kits", "snare_notes"):
            if data[key] is not None:
                data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetPreset:
        values = dict(data)
        for key in ("tempos_bpm", "augmentations", "rudiments", "kits", "snare_notes"):
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return cls(**values)


_FULL_TEMPOS = (60, 90, 120, 150, 180)
_FULL_AUGMENTATIONS = ("clean_studio", "practice_room", "garage", "gym", "phone")

PRESETS: dict[str, DatasetPreset] = {
    preset.name: preset
    for preset in (
        DatasetPreset(
            name="tiny",
            num_profiles=4,
            tempos_bpm=(120,),
            augmentations=("clean_studio", "practice_room"),
            rudiments=("single-paradiddle", "flam-tap", "multiple-bounce-roll"),
            num_cycles=2,
            sample_rate=22050,
            description="tests and CI: 12 performances, seconds to generate",
        ),
        DatasetPreset(
            name="small",
            num_profiles=12,
            tempos_bpm=(80, 120, 160),
            augmentations=("clean_studio", "garage"),
            num_cycles=4,
            description="development and benchmarks: 1,440 performances",
        ),
        DatasetPreset(
            name="medium",
            num_profiles=40,
            tempos_bpm=_FULL_TEMPOS,
            augmentations=("clean_studio", "practice_room", "garage"),
            description="model prototyping: 8,000 performances",
        ),
        DatasetPreset(
            name="full",
            num_profiles=100,
            tempos_bpm=_FULL_TEMPOS,
            augmentations=_FULL_AUGMENTATIONS,
            description="the published dataset: 20,000 performances, 100,000 audio clips",
        ),
    )
}


def list_presets() -> list[str]:
    return list(PRESETS)


def get_preset(name: str) -> DatasetPreset:
    """The named preset; unknown names raise :class:`UnknownPresetError` listing the valid ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise UnknownPresetError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
