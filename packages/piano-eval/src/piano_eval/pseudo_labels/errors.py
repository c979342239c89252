"""Errors of pseudo-labelling; each names the file and what is wrong with it."""

from __future__ import annotations

from piano_eval.data.errors import InputFileError


class AudioTooShortError(InputFileError):
    """The recording (or, without one, the performance MIDI) is shorter than one segment."""


class PseudoLabelFileError(ValueError):
    """An existing labels JSONL file cannot be resumed (a line in it is not a label record)."""
