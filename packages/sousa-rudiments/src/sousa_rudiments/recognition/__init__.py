"""Rudiment recognition from audio: onsets → stroke features → rudiment, with a default model in the wheel.

``RudimentPipeline.from_pretrained()`` loads the shipped default; see ``docs/recognition.md``.
"""

from sousa_rudiments.recognition.pipeline import (
    NoOnsetsError,
    PipelineConfig,
    PipelineLoadError,
    RecognitionError,
    RudimentPipeline,
    RudimentPrediction,
    UnsupportedSampleRateError,
)

__all__ = [
    "NoOnsetsError",
    "PipelineConfig",
    "PipelineLoadError",
    "RecognitionError",
    "RudimentPipeline",
    "RudimentPrediction",
    "UnsupportedSampleRateError",
]
