"""General MIDI percussion constants and Magenta's 9-class drum reduction.

GM drums live on MIDI channel 10 (index 9) with pitches 35-81. Recorded kits (the Roland TD-11 of the
Groove MIDI Dataset) emit extra pitches such as 22 (hi-hat edge) or 26 (open hi-hat edge); the reduction
used by Magenta's GrooVAE folds all of them into nine instrument classes, which is what models see.
"""

from __future__ import annotations

from collections.abc import Mapping

DRUM_CHANNEL = 9
"""Zero-based MIDI channel of GM percussion (channel 10 for humans)."""

GM_DRUM_RANGE: tuple[int, int] = (35, 81)
"""Inclusive pitch range of the GM percussion key map."""

ACOUSTIC_BASS_DRUM = 35
KICK = 36
SIDE_STICK = 37
SNARE = 38
HAND_CLAP = 39
ELECTRIC_SNARE = 40
LOW_FLOOR_TOM = 41
CLOSED_HIHAT = 42
HIGH_FLOOR_TOM = 43
PEDAL_HIHAT = 44
LOW_TOM = 45
OPEN_HIHAT = 46
LOW_MID_TOM = 47
HI_MID_TOM = 48
CRASH = 49
HIGH_TOM = 50
RIDE = 51
CHINESE_CYMBAL = 52
RIDE_BELL = 53
TAMBOURINE = 54
SPLASH = 55
COWBELL = 56
CRASH_2 = 57
VIBRASLAP = 58
RIDE_2 = 59

GM_DRUM_NAMES: Mapping[int, str] = {
    35: "Acoustic Bass Drum",
    36: "Bass Drum 1",
    37: "Side Stick",
    38: "Acoustic Snare",
    39: "Hand Clap",
    40: "Electric Snare",
    41: "Low Floor Tom",
    42: "Closed Hi-Hat",
    43: "High Floor Tom",
    44: "Pedal Hi-Hat",
    45: "Low Tom",
    46: "Open Hi-Hat",
    47: "Low-Mid Tom",
    48: "Hi-Mid Tom",
    49: "Crash Cymbal 1",
    50: "High Tom",
    51: "Ride Cymbal 1",
    52: "Chinese Cymbal",
    53: "Ride Bell",
    54: "Tambourine",
    55: "Splash Cymbal",
    56: "Cowbell",
    57: "Crash Cymbal 2",
    58: "Vibraslap",
    59: "Ride Cymbal 2",
    60: "Hi Bongo",
    61: "Low Bongo",
    62: "Mute Hi Conga",
    63: "Open Hi Conga",
    64: "Low Conga",
    65: "High Timbale",
    66: "Low Timbale",
    67: "High Agogo",
    68: "Low Agogo",
    69: "Cabasa",
    70: "Maracas",
    71: "Short Whistle",
    72: "Long Whistle",
    73: "Short Guiro",
    74: "Long Guiro",
    75: "Claves",
    76: "Hi Wood Block",
    77: "Low Wood Block",
    78: "Mute Cuica",
    79: "Open Cuica",
    80: "Mute Triangle",
    81: "Open Triangle",
}

DRUM_CLASSES: tuple[str, ...] = (
    "kick",
    "snare",
    "closed_hihat",
    "open_hihat",
    "low_tom",
    "mid_tom",
    "high_tom",
    "crash",
    "ride",
)
"""The nine instrument classes, in Magenta's order (index = class id)."""

NUM_DRUM_CLASSES = len(DRUM_CLASSES)

# Magenta `drums_encoder_decoder.DEFAULT_DRUM_TYPE_PITCHES`: first pitch of each list is canonical.
_CLASS_PITCHES: tuple[tuple[int, ...], ...] = (
    (36, 35),
    (38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85),
    (42, 44, 54, 68, 69, 70, 71, 73, 78, 80, 22),
    (46, 67, 72, 74, 79, 81, 26),
    (45, 29, 41, 43, 61, 64, 84),
    (48, 24, 47, 60, 63, 77, 86, 87),
    (50, 30, 62, 76, 83),
    (49, 52, 55, 57, 58),
    (51, 53, 59, 82),
)

CLASS_TO_PITCH: tuple[int, ...] = tuple(pitches[0] for pitches in _CLASS_PITCHES)
"""Canonical GM pitch written for each class (36, 38, 42, 46, 45, 48, 50, 49, 51)."""

PITCH_TO_CLASS: Mapping[int, int] = {
    pitch: class_id for class_id, pitches in enumerate(_CLASS_PITCHES) for pitch in pitches
}

HIHAT_PITCHES: frozenset[int] = frozenset({CLOSED_HIHAT, PEDAL_HIHAT, OPEN_HIHAT})
"""Pitches that are states of one physical hi-hat."""

SNARE_CLASS = DRUM_CLASSES.index("snare")
KICK_CLASS = DRUM_CLASSES.index("kick")
CLOSED_HIHAT_CLASS = DRUM_CLASSES.index("closed_hihat")
OPEN_HIHAT_CLASS = DRUM_CLASSES.index("open_hihat")
RIDE_CLASS = DRUM_CLASSES.index("ride")

TIMEKEEPER_CLASSES: frozenset[int] = frozenset({CLOSED_HIHAT_CLASS, OPEN_HIHAT_CLASS, RIDE_CLASS})
"""Classes that carry the subdivision (accents and swing are most audible there)."""


class UnknownDrumPitchError(ValueError):
    """A MIDI pitch that has no place in the 9-class drum reduction."""


def pitch_to_class(pitch: int) -> int:
    """Class id (index into :data:`DRUM_CLASSES`) of a drum pitch; raises for unmapped pitches."""
    try:
        return PITCH_TO_CLASS[pitch]
    except KeyError:
        raise UnknownDrumPitchError(
            f"pitch {pitch} is not part of the 9-class drum map; mapped pitches: {sorted(PITCH_TO_CLASS)}"
        ) from None


def canonical_pitch(pitch: int) -> int:
    """The canonical GM pitch of the class ``pitch`` belongs to (e.g. 22 -> 42, 40 -> 38)."""
    return CLASS_TO_PITCH[pitch_to_class(pitch)]


def is_hihat(pitch: int) -> bool:
    """Whether ``pitch`` is one of the closed/pedal/open hi-hat states."""
    return pitch in HIHAT_PITCHES


def voice(pitch: int) -> int:
    """Hi-hat states share one voice (one physical instrument); other pitches are their own voice."""
    return CLOSED_HIHAT if pitch in HIHAT_PITCHES else pitch


def drum_name(pitch: int) -> str:
    """Human-readable GM name of a pitch (or ``"pitch N"`` outside the GM map)."""
    return GM_DRUM_NAMES.get(pitch, f"pitch {pitch}")
