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
]


class MidiError(ValueError):
    """Base class for MIDI tokenization errors."""


class MidiLoadError(MidiError):
    """A MIDI file is missing, unreadable or not MIDI."""


class MidiContentError(MidiError):
    """A MIDI file loads but has nothing the tokenizer can use (no piano notes, no drum track...)."""


class InvalidTokenError(MidiError):
    """A token id or token string is not in the vocabulary, or a sequence is malformed."""


class TokenizerConfigError(MidiError):
    """A tokenizer configuration is inconsistent, or a saved tokenizer directory is unusable."""
