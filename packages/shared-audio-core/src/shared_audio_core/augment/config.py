"""Augmentation configuration as plain dataclasses (one per effect), serialisable with to_dict/from_dict.

Every effect has its own probability ``p``; ranges are sampled uniformly per call. A config whose
``augment_prob`` is 0, or whose effects all have ``p == 0``, is the exact identity.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "EFFECT_ORDER",
    "AugmentationConfig",
    "AugmentationConfigError",
    "BandLimitConfig",
    "EQConfig",
    "EffectConfig",
    "GainConfig",
    "Mp3Config",
    "NoiseConfig",
    "PitchShiftConfig",
    "ReverbConfig",
    "TimeStretchConfig",
]

#: Signal-chain order: the performance (pitch, tempo), the instrument/mic colour (EQ), the room
#: (reverb), the environment (noise), the transmission channel (phone band-limit, MP3), the level.
EFFECT_ORDER: tuple[str, ...] = (
    "pitch_shift",
    "time_stretch",
    "eq",
    "reverb",
    "noise",
    "band_limit",
    "mp3",
    "gain",
)

MP3_BITRATES: tuple[int, ...] = (
    8,
    16,
    24,
    32,
    40,
    48,
    56,
    64,
    80,
    96,
    112,
    128,
    144,
    160,
    192,
    224,
    256,
    320,
)


class AugmentationConfigError(ValueError):
    """An augmentation config has invalid values or unknown keys."""


def _check_range(owner: str, name: str, low: float, high: float, lo_bound: float, hi_bound: float) -> None:
    if low > high:
        raise AugmentationConfigError(f"{owner}: min_{name} ({low}) > max_{name} ({high})")
    if low < lo_bound or high > hi_bound:
        raise AugmentationConfigError(
            f"{owner}: {name} range [{low}, {high}] outside [{lo_bound}, {hi_bound}]"
        )


@dataclass
class EffectConfig:
    """Common part of every effect: the probability that it runs on a given call."""

    p: float = 0.0
    #: Names of the parameters recorded in ``AugmentationResult.applied`` for this effect.
    PARAM_NAMES: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.p <= 1.0:
            raise AugmentationConfigError(f"{type(self).__name__}: p must be in [0, 1], got {self.p}")
        self.validate()

    def validate(self) -> None:
        """Subclasses check their ranges here (raise ``AugmentationConfigError``)."""


@dataclass
class ReverbConfig(EffectConfig):
    """Room reverb by convolution with an impulse response (audiomentations ``ApplyImpulseResponse``).

    Without ``ir_dir``, IRs are synthesised (exponentially decaying noise reaching -60 dB at
    ``rt60_s``, with a direct path ``drr_db`` above the reverberant energy) and cached on disk.
    With ``ir_dir``, a random IR file from that directory is used and rt60/drr are not recorded.
    """

    min_rt60_s: float = 0.3
    max_rt60_s: float = 0.8
    min_drr_db: float = 0.0
    max_drr_db: float = 6.0
    ir_dir: str | None = None
    PARAM_NAMES: ClassVar[tuple[str, ...]] = ("rt60_s", "drr_db", "ir")

    def validate(self) -> None:
        _check_range("ReverbConfig", "rt60_s", self.min_rt60_s, self.max_rt60_s, 0.05, 10.0)
        _check_range("ReverbConfig", "drr_db", self.min_drr_db, self.max_drr_db, -30.0, 30.0)


@dataclass
class NoiseConfig(EffectConfig):
    """Additive coloured noise at an SNR (``AddColorNoise``; f_decay 0 = white, -3 pink, -6 brown)."""

    min_snr_db: float = 20.0
    max_snr_db: float = 40.0
    min_f_decay: float = 0.0
    max_f_decay: float = 0.0
    PARAM_NAMES: ClassVar[tuple[str, ...]] = ("snr_db", "f_decay")

    def validate(self) -> None:
        _check_range("NoiseConfig", "snr_db", self.min_snr_db, self.max_snr_db, -20.0, 120.0)
        _check_range("NoiseConfig", "f_decay", self.min_f_decay, self.max_f_decay, -12.0, 12.0)


@dataclass
class BandLimitConfig(EffectConfig):
    """Telephone-like channel: tanh saturation (compressor-like), then a Butterworth band-pass.

    Saturation runs first so its harmonics are removed by the band-pass, as in a real phone path.
    """

    min_low_hz: float = 300.0
    max_low_hz: float = 300.0
    min_high_hz: float = 3400.0
    max_high_hz: float = 3400.0
    rolloff_db_per_octave: int = 36
    min_distortion: float = 0.0
    max_distortion: float = 0.0
    PARAM_NAMES: ClassVar[tuple[str, ...]] = ("low_hz", "high_hz", "distortion")

    def validate(self) -> None:
        _check_range("BandLimitConfig", "low_hz", self.min_low_hz, self.max_low_hz, 20.0, 20000.0)
        _check_range("BandLimitConfig", "high_hz", self.min_high_hz, self.max_high_hz, 20.0, 20000.0)
        _check_range("BandLimitConfig", "distortion", self.min_distortion, self.max_distortion, 0.0, 1.0)
        if self.max_low_hz * 1.2 >= self.min_high_hz:
            raise AugmentationConfigError("BandLimitConfig: low_hz range must lie well below high_hz range")
        # audiomentations describes the band as centre ± bandwidth/2 with bandwidth < 2 × centre.
        if self.rolloff_db_per_octave <= 0 or self.rolloff_db_per_octave % 6:
            raise AugmentationConfigError(
                f"BandLimitConfig: rolloff_db_per_octave must be a positive multiple of 6, got {self.rolloff_db_per_octave}"
            )


@dataclass
class PitchShiftConfig(EffectConfig):
    """Pitch shift in semitones, duration kept (``PitchShift``, signalsmith-stretch)."""

    min_semitones: float = -2.0
    max_semitones: float = 2.0
    PARAM_NAMES: ClassVar[tuple[str, ...]] = ("semitones",)

    def validate(self) -> None:
        _check_range("PitchShiftConfig", "semitones", self.min_semitones, self.max_semitones, -24.0, 24.0)


@dataclass
class TimeStretchConfig(EffectConfig):
    """Tempo change with pitch kept; output length equals input length (``leave_length_unchanged``)."""

    min_rate: float = 0.9
    max_rate: float = 1.1
    PARAM_NAMES: ClassVar[tuple[str, ...]] = ("rate",)

    def validate(self) -> None:
        _check_range("TimeStretchConfig", "rate", self.min_rate, self.max_rate, 0.1, 10.0)


@dataclass
class EQConfig(EffectConfig):
    """Seven-band parametric EQ (``SevenBandParametricEQ``'s bands); each band's gain drawn in the range.

    Each band's centre frequency and Q are drawn in audiomentations' fixed ranges (shelves Q 0.1-0.999,
    peaks 0.5-5) and recorded with the gain, so a recorded EQ can be rebuilt exactly.
    """

    min_gain_db: float = -6.0
    max_gain_db: float = 6.0
    PARAM_NAMES: ClassVar[tuple[str, ...]] = tuple(
        f"band{i}_{what}" for i in range(1, 8) for what in ("freq_hz", "gain_db", "q")
    )

    def validate(self) -> None:
        _check_range("EQConfig", "gain_db", self.min_gain_db, self.max_gain_db, -24.0, 24.0)


@dataclass
class GainConfig(EffectConfig):
    """Overall level change in dB (``Gain``): microphone distance / input gain."""

    min_gain_db: float = -6.0
    max_gain_db: float = 6.0
    PARAM_NAMES: ClassVar[tuple[str, ...]] = ("gain_db",)

    def validate(self) -> None:
        _check_range("GainConfig", "gain_db", self.min_gain_db, self.max_gain_db, -60.0, 24.0)


@dataclass
class Mp3Config(EffectConfig):
    """Lossy MP3 round trip (``Mp3Compression``, backend fast-mp3-augment); bitrate drawn from LAME's set."""

    min_bitrate_kbps: int = 32
    max_bitrate_kbps: int = 128
    PARAM_NAMES: ClassVar[tuple[str, ...]] = ("bitrate_kbps",)

    def validate(self) -> None:
        _check_range("Mp3Config", "bitrate_kbps", self.min_bitrate_kbps, self.max_bitrate_kbps, 8, 320)
        if not self.bitrates():
            raise AugmentationConfigError(
                f"Mp3Config: no supported bitrate in [{self.min_bitrate_kbps}, {self.max_bitrate_kbps}]; "
                f"supported: {MP3_BITRATES}"
            )

    def bitrates(self) -> tuple[int, ...]:
        return tuple(b for b in MP3_BITRATES if self.min_bitrate_kbps <= b <= self.max_bitrate_kbps)


_EFFECT_TYPES: dict[str, type[EffectConfig]] = {
    "pitch_shift": PitchShiftConfig,
    "time_stretch": TimeStretchConfig,
    "eq": EQConfig,
    "reverb": ReverbConfig,
    "noise": NoiseConfig,
    "band_limit": BandLimitConfig,
    "mp3": Mp3Config,
    "gain": GainConfig,
}


@dataclass
class AugmentationConfig:
    """All effects plus two global knobs.

    ``augment_prob``: probability that the chain runs at all on a call (0 → identity).
    ``max_effects``: if more effects are drawn than this, a random subset of this size is kept.
    """

    augment_prob: float = 1.0
    max_effects: int | None = None
    pitch_shift: PitchShiftConfig = field(default_factory=PitchShiftConfig)
    time_stretch: TimeStretchConfig = field(default_factory=TimeStretchConfig)
    eq: EQConfig = field(default_factory=EQConfig)
    reverb: ReverbConfig = field(default_factory=ReverbConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    band_limit: BandLimitConfig = field(default_factory=BandLimitConfig)
    mp3: Mp3Config = field(default_factory=Mp3Config)
    gain: GainConfig = field(default_factory=GainConfig)

    def __post_init__(self) -> None:
        if not 0.0 <= self.augment_prob <= 1.0:
            raise AugmentationConfigError(f"augment_prob must be in [0, 1], got {self.augment_prob}")
        if self.max_effects is not None and self.max_effects < 0:
            raise AugmentationConfigError(f"max_effects must be >= 0 or None, got {self.max_effects}")
        for name, cls in _EFFECT_TYPES.items():
            if not isinstance(getattr(self, name), cls):
                raise AugmentationConfigError(
                    f"{name} must be a {cls.__name__}, got {type(getattr(self, name))}"
                )

    def effect(self, name: str) -> EffectConfig:
        return getattr(self, name)

    def is_identity(self) -> bool:
        """True when no call can change the audio."""
        return (
            self.augment_prob == 0.0
            or self.max_effects == 0
            or all(self.effect(n).p == 0.0 for n in EFFECT_ORDER)
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AugmentationConfig:
        """Inverse of ``to_dict``; missing keys take defaults, unknown keys raise with the valid ones."""
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - allowed
        if unknown:
            raise AugmentationConfigError(
                f"unknown AugmentationConfig keys {sorted(unknown)}; valid: {sorted(allowed)}"
            )
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            effect_cls = _EFFECT_TYPES.get(key)
            if effect_cls is None:
                kwargs[key] = value
                continue
            if isinstance(value, effect_cls):
                kwargs[key] = value
                continue
            fields = {f.name for f in dataclasses.fields(effect_cls)}
            bad = set(value) - fields
            if bad:
                raise AugmentationConfigError(f"unknown {key} keys {sorted(bad)}; valid: {sorted(fields)}")
            kwargs[key] = effect_cls(**value)
        return cls(**kwargs)

    @staticmethod
    def param_names() -> dict[str, tuple[str, ...]]:
        """Recorded parameter names per effect, in chain order."""
        return {name: _EFFECT_TYPES[name].PARAM_NAMES for name in EFFECT_ORDER}
