"""Typed errors for MIDI loading and tokenization.

All inherit :class:`MidiError` (a ``ValueError``) so callers can catch the family at once, and every
message about a file names the file.
"""

from __future__ import annotations

__all__ = [
    "InvalidTokenError",
    "MidiContentError",
    "MidiError",
    "MidiLoadError",
    "TokenizerConfigError",
    "TooManyBarsError",
]


class MidiError(ValueError):
    """Base class for MIDI tokenization errors."""


class MidiLoadError(MidiError):
    """A MIDI file is missing, unreadable or not MIDI."""


class MidiContentError(MidiError):
    """A MIDI file loads but has nothing the tokenizer can use (no piano notes, no drum track...)."""


class TooManyBarsError(MidiContentError):
    """A score has more bars than the tokenizer can number (Octuple's ``octuple_max_bars``).

    miditok would clip the score to the limit and drop every later note with only a warning;
    raising keeps a corpus from losing notes unnoticed. ``bars`` and ``limit`` give the sizes.
    """

    def __init__(self, message: str, *, bars: int, limit: int) -> None:
        super().__init__(message)
        self.bars = bars
        self.limit = limit


class InvalidTokenError(MidiError):
    """A token id or token string is not in the vocabulary, or a sequence is malformed."""


class TokenizerConfigError(MidiError):
    """A tokenizer configuration is inconsistent, or a saved tokenizer directory is unusable."""
