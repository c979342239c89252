"""Per-segment pseudo-labels (0–100) of six technical dimensions from a performance and its score.

note_accuracy, rhythmic_precision, dynamics_control, articulation and pedaling come from the performance
MIDI aligned to the score MIDI (or, without MIDI, from the recording aligned to the score); tone comes
from the recording. Every label is computed from the notes of its segment only. Formulas, what the
synthetic benchmark validates and the measured agreement with its ground truth: ``docs/pseudo-labels.md``.
"""

from .errors import AudioTooShortError, PseudoLabelFileError
from .jsonl import LabelWriter, read_labels
from .pipeline import (
    LABELS,
    LabelRunSummary,
    PerformanceFiles,
    label_performance,
    labels_of,
    pseudo_label_folder,
    segment_windows,
    write_pseudo_rating_folder,
)

__all__ = [
    "LABELS",
    "AudioTooShortError",
    "LabelRunSummary",
    "LabelWriter",
    "PerformanceFiles",
    "PseudoLabelFileError",
    "label_performance",
    "labels_of",
    "pseudo_label_folder",
    "read_labels",
    "segment_windows",
    "write_pseudo_rating_folder",
]
