"""Errors the data loaders raise: each names the file and, where there is one, the row and field."""

from __future__ import annotations


class DatasetLayoutError(ValueError):
    """A corpus folder is not in the published layout (a metadata file or column is missing)."""


class LabelFileError(ValueError):
    """A label/ratings file is malformed: a missing dimension, a rating outside its scale, a bad row."""


class FoldLeakError(ValueError):
    """Two folds share a piece (piece-disjoint folds are the point of cross-validation by piece)."""


class InputFileError(ValueError):
    """A performance's audio or MIDI file cannot be used as model input; the message names the file."""


class UnreadableMidiError(InputFileError):
    """The file is not a MIDI file symusic can parse (missing, truncated, another format)."""


class EmptyMidiError(InputFileError):
    """The MIDI file parses but holds no notes: there is nothing to score."""


class UnreadableAudioError(InputFileError):
    """The audio file is missing, corrupt, truncated, empty or not audio."""


class SilentAudioError(InputFileError):
    """The audio decodes but is (near) digital silence: a scorer would rate an empty recording."""


class LengthMismatchError(InputFileError):
    """Audio and performance MIDI given together differ in length: they are probably not the same take."""
