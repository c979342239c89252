"""MIDI → audio through a SoundFont, on symusic's ``Synthesizer`` (prestosynth).

symusic is pinned below 0.6 because 0.6.0's ``Synthesizer.render`` is broken. Drum tracks
(``Track.is_drum``, i.e. MIDI channel 10) are rendered from the SoundFont's percussion bank.

prestosynth (symusic 0.5.9's engine) is fast but leaves out parts of the SoundFont model; each gap
below was measured against FluidSynth and is corrected here (tests compare with FluidSynth):

* root keys ignored, zones without a sustain generator rendered as ~5 ms clicks → rendered from a
  compatibility copy of the SoundFont (``soundfont``);
* the sustain pedal (CC64) ignored, releases a linear-amplitude ramp (or cut at the file's end),
  velocity without effect on loudness → each note is planned and shaped here (``render``), with
  release times read from the SoundFont's zones (``envelopes``).
"""

from .envelopes import NoteEnvelope, ReleaseTable, release_table, timecents_to_seconds
from .render import (
    RELEASE_RANGE_DB,
    SUSTAIN_PEDAL_CC,
    EmptyMidiError,
    MidiLoadError,
    SoundingNotes,
    _synthesizer,  # noqa: F401 - the tests reach the engine cache
    example_drum_midi,
    load_score,
    render_midi,
    sounding_notes,
    velocity_gain,
)
from .soundfont import (
    SOUNDFONT_SUFFIXES,
    SYSTEM_SOUNDFONT_DIRS,
    InvalidSoundFontError,
    SoundFontNotFoundError,
    default_soundfont,
    find_system_soundfonts,
    prestosynth_compatible_soundfont,
    resolve_soundfont,
)

__all__ = [
    "RELEASE_RANGE_DB",
    "SOUNDFONT_SUFFIXES",
    "SUSTAIN_PEDAL_CC",
    "SYSTEM_SOUNDFONT_DIRS",
    "EmptyMidiError",
    "InvalidSoundFontError",
    "MidiLoadError",
    "NoteEnvelope",
    "ReleaseTable",
    "SoundFontNotFoundError",
    "SoundingNotes",
    "default_soundfont",
    "example_drum_midi",
    "find_system_soundfonts",
    "load_score",
    "prestosynth_compatible_soundfont",
    "release_table",
    "render_midi",
    "resolve_soundfont",
    "sounding_notes",
    "timecents_to_seconds",
    "velocity_gain",
]
