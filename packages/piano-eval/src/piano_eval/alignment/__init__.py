"""Score alignment: performance MIDI ↔ score MIDI notes (partitura + parangonar) and audio ↔ score (DTW).

See ``docs/pseudo-labels.md`` for how well each recovers the synthetic benchmark's true alignment.
"""

from .audio import AUDIO_THRESHOLD, AudioAlignment, AudioFeatures, align_audio, audio_features
from .errors import AlignmentError
from .midi import PerformanceNotes, ScoreNotes, load_performance, load_score
from .symbolic import DEFAULT_THRESHOLD, NoteAlignment, align_notes, match_notes
from .timemap import TimeMap, isotonic

__all__ = [
    "AUDIO_THRESHOLD",
    "DEFAULT_THRESHOLD",
    "AlignmentError",
    "AudioAlignment",
    "AudioFeatures",
    "NoteAlignment",
    "PerformanceNotes",
    "ScoreNotes",
    "TimeMap",
    "align_audio",
    "align_notes",
    "audio_features",
    "isotonic",
    "load_performance",
    "load_score",
    "match_notes",
]
