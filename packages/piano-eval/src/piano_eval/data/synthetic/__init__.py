"""The synthetic piano benchmark: real or generated scores, an expressive-performance model with labelled
degradations per dimension, rendered to audio through the core synth. See ``docs/synthetic-benchmark.md``."""

from .benchmark import SPLITS, BenchmarkEntry, SyntheticBenchmarkConfig, build_benchmark, split_pieces
from .performance import DIMENSIONS, Degradation, ExpressiveStyle, Performance, PerformedNote, perform
from .scores import BASS, INNER, MELODY, PianoScore, ScoreError, ScoreNote, corpus_piece, generate_piece

__all__ = [
    "BASS",
    "DIMENSIONS",
    "INNER",
    "MELODY",
    "SPLITS",
    "BenchmarkEntry",
    "Degradation",
    "ExpressiveStyle",
    "Performance",
    "PerformedNote",
    "PianoScore",
    "ScoreError",
    "ScoreNote",
    "SyntheticBenchmarkConfig",
    "build_benchmark",
    "corpus_piece",
    "generate_piece",
    "perform",
    "split_pieces",
]
