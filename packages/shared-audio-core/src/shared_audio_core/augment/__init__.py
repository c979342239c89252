"""Waveform augmentation on audiomentations: seeded, recorded, with named presets stored as data.

>>> from shared_audio_core.augment import AudioAugmentor
>>> result = AudioAugmentor.from_preset("practice_room", seed=0)(audio, 44100)  # doctest: +SKIP
>>> result.audio, result.applied, result.flat_params()  # doctest: +SKIP
"""

from .augmentor import AudioAugmentor, AugmentationError, AugmentationResult, flat_param_columns
from .config import (
    EFFECT_ORDER,
    AugmentationConfig,
    AugmentationConfigError,
    BandLimitConfig,
    EffectConfig,
    EQConfig,
    GainConfig,
    Mp3Config,
    NoiseConfig,
    PitchShiftConfig,
    ReverbConfig,
    TimeStretchConfig,
)
from .impulse_responses import default_ir_cache_dir, synthesize_impulse_response, synthetic_ir_file
from .presets import PRESETS, UnknownPresetError, get_preset, list_presets

__all__ = [
    "EFFECT_ORDER",
    "PRESETS",
    "AudioAugmentor",
    "AugmentationConfig",
    "AugmentationConfigError",
    "AugmentationError",
    "AugmentationResult",
    "BandLimitConfig",
    "EQConfig",
    "EffectConfig",
    "GainConfig",
    "Mp3Config",
    "NoiseConfig",
    "PitchShiftConfig",
    "ReverbConfig",
    "TimeStretchConfig",
    "UnknownPresetError",
    "default_ir_cache_dir",
    "flat_param_columns",
    "get_preset",
    "list_presets",
    "synthesize_impulse_response",
    "synthetic_ir_file",
]
