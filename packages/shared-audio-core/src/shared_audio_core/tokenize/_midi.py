"""Loading MIDI into ``symusic.Score`` with typed errors."""

from __future__ import annotations

from pathlib import Path

import symusic
from symusic.core import ScoreQuarter, ScoreSecond, ScoreTick

from .errors import MidiLoadError

__all__ = ["MidiSource", "load_score", "source_name"]

# ``symusic.Score`` is a factory; the concrete classes are needed for type unions.
MidiSource = str | Path | ScoreTick | ScoreQuarter | ScoreSecond


def source_name(midi: MidiSource) -> str:
    """Human-readable name of a MIDI source for error messages."""
    return "<symusic.Score>" if isinstance(midi, symusic.Score) else str(midi)


def load_score(midi: MidiSource) -> ScoreTick:
    """Return ``midi`` as a tick-based ``symusic.Score`` (a copy when a Score was given).

    Raises:
        MidiLoadError: the path does not exist, is not a file, or is not a readable MIDI file.
    """
    if isinstance(midi, symusic.Score):
        return midi.copy() if midi.ttype == symusic.TimeUnit.tick else midi.to("tick")
    if not isinstance(midi, str | Path):
        raise MidiLoadError(f"expected a MIDI path or symusic.Score, got {type(midi).__name__}")
    path = Path(midi)
    if not path.is_file():
        raise MidiLoadError(f"MIDI file not found: {path}")
    try:
        return symusic.Score(path)
    except (RuntimeError, ValueError, OSError) as err:
        raise MidiLoadError(f"cannot read MIDI file {path}: {err}") from err
