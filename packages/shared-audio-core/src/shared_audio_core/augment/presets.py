"""Named recording-environment presets, as data.

Presets simulate *where and how* a performance was recorded; none of them moves time or pitch
(``pitch_shift``/``time_stretch`` stay at p=0) because datasets such as SOUSA carry millisecond
timing labels that a time-stretch would silently invalidate. Enable those effects in your own
config where labels allow it.
"""

from __future__ import annotations

import copy

from .config import (
    AugmentationConfig,
    BandLimitConfig,
    EQConfig,
    GainConfig,
    Mp3Config,
    NoiseConfig,
    ReverbConfig,
)

__all__ = ["PRESETS", "UnknownPresetError", "get_preset", "list_presets"]


class UnknownPresetError(ValueError):
    """The preset name is not in ``PRESETS``; the message lists the valid names."""


PRESETS: dict[str, AugmentationConfig] = {
    # Close-miked, treated room: almost dry, tiny level and colour differences.
    "clean_studio": AugmentationConfig(
        reverb=ReverbConfig(p=0.3, min_rt60_s=0.15, max_rt60_s=0.3, min_drr_db=8.0, max_drr_db=14.0),
        eq=EQConfig(p=0.3, min_gain_db=-2.0, max_gain_db=2.0),
        gain=GainConfig(p=0.5, min_gain_db=-3.0, max_gain_db=3.0),
    ),
    # Small untreated room, phone/laptop-grade mic: some reverb, room tone, mild lossy encoding.
    "practice_room": AugmentationConfig(
        reverb=ReverbConfig(p=0.9, min_rt60_s=0.3, max_rt60_s=0.7, min_drr_db=0.0, max_drr_db=6.0),
        noise=NoiseConfig(p=0.6, min_snr_db=30.0, max_snr_db=45.0, min_f_decay=-3.0, max_f_decay=0.0),
        eq=EQConfig(p=0.5, min_gain_db=-4.0, max_gain_db=4.0),
        gain=GainConfig(p=0.7, min_gain_db=-6.0, max_gain_db=6.0),
        mp3=Mp3Config(p=0.2, min_bitrate_kbps=96, max_bitrate_kbps=192),
    ),
    # Large hard hall: long reverb dominating the direct sound, crowd/HVAC rumble.
    "gym": AugmentationConfig(
        reverb=ReverbConfig(p=1.0, min_rt60_s=1.2, max_rt60_s=2.5, min_drr_db=-6.0, max_drr_db=0.0),
        noise=NoiseConfig(p=0.8, min_snr_db=15.0, max_snr_db=30.0, min_f_decay=-6.0, max_f_decay=-3.0),
        eq=EQConfig(p=0.5, min_gain_db=-6.0, max_gain_db=6.0),
        gain=GainConfig(p=0.7, min_gain_db=-6.0, max_gain_db=6.0),
    ),
    # Concrete garage: medium bright reverb, strong resonances, low-frequency noise.
    "garage": AugmentationConfig(
        reverb=ReverbConfig(p=1.0, min_rt60_s=0.6, max_rt60_s=1.2, min_drr_db=-3.0, max_drr_db=3.0),
        noise=NoiseConfig(p=0.8, min_snr_db=20.0, max_snr_db=35.0, min_f_decay=-6.0, max_f_decay=-3.0),
        eq=EQConfig(p=0.7, min_gain_db=-8.0, max_gain_db=8.0),
        gain=GainConfig(p=0.7, min_gain_db=-6.0, max_gain_db=6.0),
    ),
    # Outdoors: no walls (short, weak reflections), wind/traffic noise, distance EQ, quieter.
    "marching_field": AugmentationConfig(
        reverb=ReverbConfig(p=0.3, min_rt60_s=0.1, max_rt60_s=0.3, min_drr_db=6.0, max_drr_db=12.0),
        noise=NoiseConfig(p=1.0, min_snr_db=10.0, max_snr_db=25.0, min_f_decay=-6.0, max_f_decay=0.0),
        eq=EQConfig(p=0.8, min_gain_db=-8.0, max_gain_db=8.0),
        gain=GainConfig(p=0.8, min_gain_db=-12.0, max_gain_db=0.0),
        mp3=Mp3Config(p=0.3, min_bitrate_kbps=64, max_bitrate_kbps=128),
    ),
    # Phone call / voice memo: 300-3400 Hz telephone band, saturation, low-bitrate codec.
    "phone": AugmentationConfig(
        reverb=ReverbConfig(p=0.5, min_rt60_s=0.2, max_rt60_s=0.5, min_drr_db=3.0, max_drr_db=9.0),
        noise=NoiseConfig(p=0.7, min_snr_db=25.0, max_snr_db=40.0),
        band_limit=BandLimitConfig(p=1.0, min_distortion=0.05, max_distortion=0.3),
        mp3=Mp3Config(p=1.0, min_bitrate_kbps=16, max_bitrate_kbps=48),
        gain=GainConfig(p=0.5, min_gain_db=-3.0, max_gain_db=3.0),
    ),
}


def list_presets() -> list[str]:
    return sorted(PRESETS)


def get_preset(name: str) -> AugmentationConfig:
    """A private copy of the named preset (mutating it does not change ``PRESETS``)."""
    try:
        return copy.deepcopy(PRESETS[name])
    except KeyError:
        raise UnknownPresetError(
            f"unknown augmentation preset {name!r}; valid presets: {list_presets()}"
        ) from None
