"""``AudioAugmentor``: a seeded, recorded chain of audiomentations transforms.

How randomness is controlled: the augmentor owns a ``numpy.random.Generator``. It decides which
effects run and samples every *recorded* parameter itself, then builds the audiomentations
transform with a degenerate range (``min == max``) and ``p=1``; the EQ is built band by band so that
each band's frequency, gain and Q are drawn (and recorded) here. What audiomentations still draws
internally (noise samples) runs under Python/NumPy global RNGs seeded from the generator, inside a
lock that restores the previous global state. Hence: same seed → identical output, and the recorded
parameters are exactly the ones used (the EQ's are read back from the filters that ran).

Level policy: reverb output is rescaled to the input RMS (audiomentations normalises the wet
signal to a 0.5 peak, which would otherwise act as a hidden gain change). After the chain, if the
peak exceeds 1.0 the whole signal is scaled down to peak 1.0 (no clipping, no distortion) and the
factor is reported as ``AugmentationResult.peak_scale``. When no effect runs the input is returned
unchanged (exact identity), even if its own peak is above 1.0.
"""

from __future__ import annotations

import contextlib
import math
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..audio import ensure_finite
from .config import EFFECT_ORDER, AugmentationConfig
from .impulse_responses import DRR_STEP_DB, RT60_STEP_S, quantize, synthetic_ir_file
from .presets import get_preset

__all__ = ["AudioAugmentor", "AugmentationError", "AugmentationResult", "flat_param_columns"]

AudioT = TypeVar("AudioT")
ParamValue = float | int | str
N_SYNTHETIC_IR_VARIANTS = 4
_AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
_GLOBAL_RNG_LOCK = threading.Lock()


#: SevenBandParametricEQ's bands (audiomentations 0.43): filter, centre-frequency range in Hz (drawn
#: uniformly on the mel scale) and the Q range its filters draw from by default. Drawn here rather
#: than inside audiomentations so every value comes from the augmentor's generator and is recorded.
_EQ_BANDS: tuple[tuple[str, float, float, float, float], ...] = (
    ("low_shelf", 42.0, 95.0, 0.1, 0.999),
    ("peaking", 91.0, 204.0, 0.5, 5.0),
    ("peaking", 196.0, 441.0, 0.5, 5.0),
    ("peaking", 421.0, 948.0, 0.5, 5.0),
    ("peaking", 909.0, 2045.0, 0.5, 5.0),
    ("peaking", 1957.0, 4404.0, 0.5, 5.0),
    ("high_shelf", 4216.0, 9486.0, 0.1, 0.999),
)
# The highest high-shelf centre frequency: the EQ needs a Nyquist above it.
_EQ_MAX_CENTER_HZ = _EQ_BANDS[-1][2]
#: fast-mp3-augment refuses input shorter than this (TooShortAudio); shorter clips are zero-padded.
_MP3_MIN_SECONDS = 0.1
#: Zeros appended before encoding: fast-mp3-augment returns the last ~529 samples (the decoder delay)
#: as silence; one MPEG-1 frame (1152 samples, two MPEG-2 frames) of padding keeps them.
_MP3_TAIL_PAD = 1152


class AugmentationError(RuntimeError):
    """An effect produced invalid audio (non-finite samples) or could not run on this input."""


def flat_param_columns() -> list[str]:
    """Every ``aug_<effect>_<param>`` column ``flat_params(complete=True)`` can emit, in chain order."""
    return [f"aug_{effect}_{p}" for effect, names in AugmentationConfig.param_names().items() for p in names]


@dataclass
class AugmentationResult:
    """Augmented audio (same container type and shape as the input) and what was done to it."""

    audio: Any
    applied: dict[str, dict[str, ParamValue]] = field(default_factory=dict)
    peak_scale: float = 1.0

    def flat_params(self, *, complete: bool = False) -> dict[str, ParamValue | None]:
        """``{"aug_<effect>_<param>": value}``; ``complete`` adds every column (None when not applied)
        so that rows of a dataset share one schema."""
        flat: dict[str, ParamValue | None] = dict.fromkeys(flat_param_columns()) if complete else {}
        for effect, params in self.applied.items():
            for name, value in params.items():
                flat[f"aug_{effect}_{name}"] = value
        return flat


@contextlib.contextmanager
def _seeded_global_rngs(seed: int) -> Iterator[None]:
    """Seed ``random`` and ``np.random`` (which audiomentations uses) and restore them afterwards."""
    with _GLOBAL_RNG_LOCK:
        py_state = random.getstate()
        np_state = np.random.get_state()
        random.seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


def _generator(seed: int | None) -> np.random.Generator:
    """Any Python int is a valid seed (negative ones are wrapped to 64 bits, deterministically)."""
    return np.random.default_rng(None if seed is None else int(seed) & 0xFFFF_FFFF_FFFF_FFFF)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


class AudioAugmentor:
    """Apply an ``AugmentationConfig`` to waveforms; each call returns an ``AugmentationResult``.

    Accepts ``numpy.ndarray`` or ``torch.Tensor`` shaped ``[n]`` or ``[channels, n]``; returns the
    same type, shape and device with dtype float32. ``seed`` fixes the sequence of augmentations of
    successive calls; a per-call ``seed`` makes one call independent of the call history (use it in
    dataset generation, e.g. ``seed=zlib.crc32(sample_id.encode())``; not ``hash()``, which
    Python salts per process for strings).
    """

    def __init__(
        self,
        config: AugmentationConfig | None = None,
        *,
        seed: int | None = None,
        ir_cache_dir: str | Path | None = None,
    ) -> None:
        self.config = AugmentationConfig() if config is None else config
        self.seed = seed
        self.ir_cache_dir = None if ir_cache_dir is None else Path(ir_cache_dir)
        self._rng = _generator(seed)
        self._ir_transforms: dict[str, Any] = {}
        self._user_irs: list[Path] | None = None

    @classmethod
    def from_preset(
        cls, name: str, seed: int | None = None, *, ir_cache_dir: str | Path | None = None
    ) -> AudioAugmentor:
        return cls(get_preset(name), seed=seed, ir_cache_dir=ir_cache_dir)

    # ----------------------------------------------------------------------------------- call
    def __call__(self, audio: AudioT, sample_rate: int, *, seed: int | None = None) -> AugmentationResult:
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        samples, restore = self._to_numpy(audio)
        if samples.ndim == 2 and samples.shape[0] > samples.shape[1]:
            raise ValueError(f"multichannel audio must be channels-first [ch, n], got shape {samples.shape}")
        self._check_input(samples, sample_rate)
        rng = self._rng if seed is None else _generator(seed)
        effects = self._draw_effects(rng)
        if not effects:
            return AugmentationResult(restore(samples), {}, 1.0)

        applied: dict[str, dict[str, ParamValue]] = {}
        out = samples.copy()
        for name in effects:
            params, transform = self._build(name, rng, out, sample_rate)
            with _seeded_global_rngs(int(rng.integers(2**32))):
                result = transform(out)
            if isinstance(transform, _EqChain):
                params = transform.applied_params()
            if not np.all(np.isfinite(result)):
                raise AugmentationError(f"effect {name!r} with {params} produced non-finite samples")
            out = np.ascontiguousarray(result, dtype=np.float32)
            applied[name] = params

        peak = float(np.max(np.abs(out)))
        scale = 1.0 / peak if peak > 1.0 else 1.0
        if scale != 1.0:
            out = (out * np.float32(scale)).astype(np.float32)
        return AugmentationResult(restore(out), applied, scale)

    def _check_input(self, samples: np.ndarray, sample_rate: int) -> None:
        """Refuse input some enabled effect cannot handle on every call, not only when it is drawn."""
        cfg = self.config
        if cfg.is_identity():
            return
        if cfg.eq.p > 0 and sample_rate / 2 <= _EQ_MAX_CENTER_HZ:
            raise AugmentationError(
                f"eq needs a sample rate above {2 * _EQ_MAX_CENTER_HZ:.0f} Hz, got {sample_rate}; "
                "resample first or use a config with eq.p = 0"
            )
        if cfg.mp3.p > 0:
            from fast_mp3_augment import SUPPORTED_SAMPLE_RATES

            if sample_rate not in SUPPORTED_SAMPLE_RATES:
                raise AugmentationError(
                    f"mp3 supports sample rates {sorted(SUPPORTED_SAMPLE_RATES)}, got {sample_rate}; "
                    "resample first or use a config with mp3.p = 0"
                )
            if samples.ndim == 2 and samples.shape[0] > 2:
                raise AugmentationError(
                    f"mp3 supports mono or stereo, got {samples.shape[0]} channels; "
                    "use a config with mp3.p = 0"
                )

    def _draw_effects(self, rng: np.random.Generator) -> list[str]:
        cfg = self.config
        if cfg.is_identity() or rng.random() >= cfg.augment_prob:
            return []
        chosen = [
            name for name in EFFECT_ORDER if cfg.effect(name).p > 0 and rng.random() < cfg.effect(name).p
        ]
        if cfg.max_effects is not None and len(chosen) > cfg.max_effects:
            keep = set(rng.choice(len(chosen), size=cfg.max_effects, replace=False).tolist())
            chosen = [name for i, name in enumerate(chosen) if i in keep]
        return chosen

    # ----------------------------------------------------------------------------------- effects
    def _build(
        self, name: str, rng: np.random.Generator, samples: np.ndarray, sr: int
    ) -> tuple[dict[str, ParamValue], Callable[[np.ndarray], np.ndarray]]:
        """Sample this effect's parameters and return them with a one-argument transform."""
        import audiomentations as am

        cfg = self.config
        if name == "pitch_shift":
            c = cfg.pitch_shift
            semitones = float(rng.uniform(c.min_semitones, c.max_semitones))
            method = (
                "signalsmith_stretch"
                if samples.ndim == 1 or samples.shape[0] <= 2
                else "librosa_phase_vocoder"
            )
            t = am.PitchShift(min_semitones=semitones, max_semitones=semitones, method=method, p=1.0)
            return {"semitones": semitones}, lambda x: t(x, sr)
        if name == "time_stretch":
            c = cfg.time_stretch
            rate = float(rng.uniform(c.min_rate, c.max_rate))
            method = (
                "signalsmith_stretch"
                if samples.ndim == 1 or samples.shape[0] <= 2
                else "librosa_phase_vocoder"
            )
            t = am.TimeStretch(
                min_rate=rate, max_rate=rate, leave_length_unchanged=True, method=method, p=1.0
            )
            return {"rate": rate}, lambda x: t(x, sr)
        if name == "eq":
            return {}, _EqChain(rng, cfg.eq.min_gain_db, cfg.eq.max_gain_db, sr)
        if name == "reverb":
            return self._build_reverb(rng, sr)
        if name == "noise":
            c = cfg.noise
            snr = float(rng.uniform(c.min_snr_db, c.max_snr_db))
            decay = float(rng.uniform(c.min_f_decay, c.max_f_decay))
            t = am.AddColorNoise(min_snr_db=snr, max_snr_db=snr, min_f_decay=decay, max_f_decay=decay, p=1.0)
            return {"snr_db": snr, "f_decay": decay}, lambda x: t(x, sr)
        if name == "band_limit":
            c = cfg.band_limit
            low = float(rng.uniform(c.min_low_hz, c.max_low_hz))
            high = float(min(rng.uniform(c.min_high_hz, c.max_high_hz), 0.45 * sr))
            distortion = float(rng.uniform(c.min_distortion, c.max_distortion))
            centre = (low + high) / 2
            bandpass = am.BandPassFilter(
                min_center_freq=centre,
                max_center_freq=centre,
                min_bandwidth_fraction=(high - low) / centre,
                max_bandwidth_fraction=(high - low) / centre,
                min_rolloff=c.rolloff_db_per_octave,
                max_rolloff=c.rolloff_db_per_octave,
                zero_phase=False,
                p=1.0,
            )
            saturate = am.TanhDistortion(min_distortion=distortion, max_distortion=distortion, p=1.0)

            def band_limit(x: np.ndarray) -> np.ndarray:
                # Saturate first so the band-pass removes the harmonics it creates.
                return bandpass(saturate(x, sr) if distortion > 0 else x, sr)

            return {"low_hz": low, "high_hz": high, "distortion": distortion}, band_limit
        if name == "mp3":
            bitrate = int(rng.choice(cfg.mp3.bitrates()))
            t = am.Mp3Compression(min_bitrate=bitrate, max_bitrate=bitrate, backend="fast-mp3-augment", p=1.0)
            return {"bitrate_kbps": bitrate}, lambda x: _mp3_round_trip(t, x, sr)
        if name == "gain":
            c = cfg.gain
            gain_db = float(rng.uniform(c.min_gain_db, c.max_gain_db))
            t = am.Gain(min_gain_db=gain_db, max_gain_db=gain_db, p=1.0)
            return {"gain_db": gain_db}, lambda x: t(x, sr)
        raise AugmentationError(f"unknown effect {name!r}")  # unreachable: names come from EFFECT_ORDER

    def _build_reverb(
        self, rng: np.random.Generator, sr: int
    ) -> tuple[dict[str, ParamValue], Callable[[np.ndarray], np.ndarray]]:
        c = self.config.reverb
        params: dict[str, ParamValue]
        if c.ir_dir is not None:
            irs = self._user_ir_files(Path(c.ir_dir))
            ir_path = irs[int(rng.integers(len(irs)))]
            params = {"ir": ir_path.name}
        else:
            rt60 = quantize(float(rng.uniform(c.min_rt60_s, c.max_rt60_s)), RT60_STEP_S)
            rt60 = max(rt60, RT60_STEP_S)
            drr = quantize(float(rng.uniform(c.min_drr_db, c.max_drr_db)), DRR_STEP_DB)
            variant = int(rng.integers(N_SYNTHETIC_IR_VARIANTS))
            ir_path = synthetic_ir_file(rt60, drr, sr, variant=variant, cache_dir=self.ir_cache_dir)
            params = {"rt60_s": rt60, "drr_db": drr, "ir": ir_path.stem}
        transform = self._ir_transform(ir_path)

        def reverb(x: np.ndarray) -> np.ndarray:
            wet = transform(x, sr)
            before, after = _rms(x), _rms(wet)
            return wet * np.float32(before / after) if after > 0 else wet

        return params, reverb

    def _ir_transform(self, ir_path: Path) -> Any:
        # One transform per IR file keeps audiomentations' LRU cache of decoded/resampled IRs alive.
        import audiomentations as am

        key = str(ir_path)
        if key not in self._ir_transforms:
            self._ir_transforms[key] = am.ApplyImpulseResponse(
                ir_path=key, p=1.0, leave_length_unchanged=True
            )
        return self._ir_transforms[key]

    def _user_ir_files(self, directory: Path) -> list[Path]:
        if self._user_irs is None:
            if not directory.is_dir():
                raise FileNotFoundError(f"impulse response directory not found: {directory}")
            files = sorted(p for p in directory.rglob("*") if p.suffix.lower() in _AUDIO_EXTENSIONS)
            if not files:
                raise FileNotFoundError(
                    f"no impulse response audio files ({_AUDIO_EXTENSIONS}) in {directory}"
                )
            self._user_irs = files
        return self._user_irs

    # ----------------------------------------------------------------------------------- types
    @staticmethod
    def _to_numpy(audio: Any) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
        """Convert input to float32 numpy and return a function mapping results back to its type."""
        if type(audio).__module__.startswith("torch"):
            import torch

            if not isinstance(audio, torch.Tensor):
                raise TypeError(f"expected numpy array or torch.Tensor, got {type(audio)}")
            device = audio.device
            samples = ensure_finite(audio.detach().to("cpu", torch.float32).numpy())
            return samples, lambda x: torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device)
        if not isinstance(audio, np.ndarray):
            raise TypeError(f"expected numpy array or torch.Tensor, got {type(audio)}")
        samples = ensure_finite(audio)
        return samples, lambda x: np.asarray(x, dtype=np.float32)


class _EqChain:
    """``SevenBandParametricEQ`` as its seven filters in order, each with fixed (min == max) settings.

    audiomentations' EQ draws every band's Q internally; recording only frequency and gain left a
    recorded EQ impossible to reproduce. Here frequency (mel-uniform, as audiomentations does), gain
    and Q are drawn from the augmentor's generator, and ``applied_params`` reads back the values the
    filters actually used (the mel round trip can move a frequency by ~1e-12 Hz).
    """

    def __init__(self, rng: np.random.Generator, min_gain_db: float, max_gain_db: float, sr: int) -> None:
        import audiomentations as am
        from audiomentations.core.utils import convert_frequency_to_mel, convert_mel_to_frequency

        kinds = {
            "low_shelf": am.LowShelfFilter,
            "peaking": am.PeakingFilter,
            "high_shelf": am.HighShelfFilter,
        }
        self.sample_rate = sr
        self.filters: list[Any] = []
        for kind, low_hz, high_hz, low_q, high_q in _EQ_BANDS:
            mel = rng.uniform(convert_frequency_to_mel(low_hz), convert_frequency_to_mel(high_hz))
            freq = float(convert_mel_to_frequency(mel))
            gain = float(rng.uniform(min_gain_db, max_gain_db))
            q = float(rng.uniform(low_q, high_q))
            self.filters.append(
                kinds[kind](
                    min_center_freq=freq,
                    max_center_freq=freq,
                    min_gain_db=gain,
                    max_gain_db=gain,
                    min_q=q,
                    max_q=q,
                    p=1.0,
                )
            )

    def __call__(self, x: np.ndarray) -> np.ndarray:
        for band in self.filters:
            x = band(x, self.sample_rate)
        return x

    def applied_params(self) -> dict[str, ParamValue]:
        params: dict[str, ParamValue] = {}
        for i, band in enumerate(self.filters, start=1):
            params[f"band{i}_freq_hz"] = float(band.parameters["center_freq"])
            params[f"band{i}_gain_db"] = float(band.parameters["gain_db"])
            params[f"band{i}_q"] = float(band.parameters["q_factor"])
        return params


def _mp3_round_trip(transform: Any, x: np.ndarray, sr: int) -> np.ndarray:
    """MP3 round trip of the whole clip, however short, at the recorded bitrate.

    The clip is zero-padded (by ``_MP3_TAIL_PAD`` and up to the encoder's 100 ms minimum), encoded,
    and cut back to its length. Without the padding the encoder refuses clips under 100 ms and
    silences the last ~12 ms (44.1 kHz) of every clip. Zeros are what an encoder pads a stream's last
    frame with anyway; the frames before the padding are identical to a direct encode.
    """
    n = x.shape[-1]
    length = max(n + _MP3_TAIL_PAD, math.ceil(_MP3_MIN_SECONDS * sr))  # the encoder needs n >= 0.1 * sr
    padded = np.zeros((*x.shape[:-1], length), dtype=np.float32)
    padded[..., :n] = x
    return np.ascontiguousarray(transform(padded, sr)[..., :n])
