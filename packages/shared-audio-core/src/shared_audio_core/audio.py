"""Audio I/O and signal helpers shared by every model package.

Conventions: audio is ``float32``; mono is 1-D ``[n]``, multichannel is channels-first ``[ch, n]``
(the layout torch and audiomentations use). Every function rejects non-finite input with a typed
error instead of propagating NaNs, and errors about files always name the file.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf
import soxr

from shared_audio_core.files import atomic_output

__all__ = [
    "SUPPORTED_WRITE_FORMATS",
    "AudioClippingError",
    "AudioDecodeError",
    "AudioError",
    "AudioFileNotFoundError",
    "AudioInfo",
    "AudioTooShortError",
    "EmptyAudioError",
    "NonFiniteAudioError",
    "Segments",
    "SilentAudioError",
    "UnsupportedAudioFormatError",
    "audio_info",
    "cqt_spectrogram",
    "ensure_finite",
    "load_audio",
    "log_mel_spectrogram",
    "loudness_normalize",
    "measure_loudness",
    "peak_normalize",
    "resample",
    "segment_audio",
    "to_mono",
    "write_audio",
]

#: Output container by file suffix; the subtype comes from ``bit_depth``.
SUPPORTED_WRITE_FORMATS: dict[str, str] = {".flac": "FLAC", ".wav": "WAV"}
_PCM_SUBTYPES: dict[int, str] = {16: "PCM_16", 24: "PCM_24"}


# --------------------------------------------------------------------------------------------- errors
class AudioError(Exception):
    """Base class of every audio error raised by this package."""


class AudioFileNotFoundError(AudioError, FileNotFoundError):
    """The audio file does not exist."""


class AudioDecodeError(AudioError):
    """The file exists but could not be decoded (corrupt, truncated or not audio)."""


class EmptyAudioError(AudioError, ValueError):
    """The audio has no samples."""


class NonFiniteAudioError(AudioError, ValueError):
    """The audio contains NaN or infinite samples."""


class SilentAudioError(AudioError, ValueError):
    """The operation needs signal energy (normalisation) but the audio is digital silence."""


class AudioTooShortError(AudioError, ValueError):
    """The audio is shorter than the operation's analysis window (e.g. 400 ms for LUFS)."""


class AudioClippingError(AudioError, ValueError):
    """Writing would clip: integer PCM cannot represent samples outside [-1, 1]."""


class UnsupportedAudioFormatError(AudioError, ValueError):
    """The requested output format or bit depth is not supported."""


# --------------------------------------------------------------------------------------------- checks
def ensure_finite(audio: np.ndarray, name: str = "<array>") -> np.ndarray:
    """Return ``audio`` as float32 after checking it is non-empty and finite; ``name`` goes in errors."""
    array = np.asarray(audio)
    if not np.issubdtype(array.dtype, np.floating):
        raise AudioError(f"{name}: expected floating-point audio, got dtype {array.dtype}")
    if array.ndim not in (1, 2):
        raise AudioError(f"{name}: expected audio shaped [n] or [channels, n], got shape {array.shape}")
    if array.size == 0:
        raise EmptyAudioError(f"{name}: audio has no samples")
    if not np.all(np.isfinite(array)):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise NonFiniteAudioError(f"{name}: audio contains {bad} NaN/inf samples")
    return array.astype(np.float32, copy=False)


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Average channels of ``[ch, n]`` audio; 1-D input is returned unchanged."""
    return audio if audio.ndim == 1 else audio.mean(axis=0, dtype=np.float32)


# --------------------------------------------------------------------------------------------- loading
@dataclass(frozen=True)
class AudioInfo:
    """Header facts of an audio file, read without decoding the samples."""

    path: Path
    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise AudioFileNotFoundError(f"audio file not found: {path}")
    if path.is_dir():
        raise AudioDecodeError(f"{path}: is a directory, not an audio file")


def audio_info(path: str | Path) -> AudioInfo:
    """Read sample rate, channel count and length of ``path``.

    A truncated WAV raises ``AudioDecodeError`` here too (see ``load_audio``).
    """
    path = Path(path)
    _check_exists(path)
    wav = _check_wav_complete(path)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioDecodeError(f"{path}: cannot read audio header ({exc})") from exc
    frames = int(info.frames)
    if wav is not None and wav.zero_size_streamed and wav.block_align:
        frames = wav.present // wav.block_align
    return AudioInfo(path, int(info.samplerate), int(info.channels), frames, info.format, info.subtype)


# --------------------------------------------------------------------------------------------- WAV integrity
#: RIFF form type -> struct byte order. RIFX is big-endian WAV; RF64 keeps 64-bit sizes in ``ds64``.
_RIFF_FORMS: dict[bytes, str] = {b"RIFF": "<", b"RIFX": ">", b"RF64": "<"}
_UNSET_SIZE = 0xFFFFFFFF


@dataclass(frozen=True)
class _WavData:
    """Where a WAV's sample bytes start, how many the header declares and how many the file holds."""

    offset: int  # file offset of the first data byte
    declared: int | None  # None: a streamed WAV whose writer never filled in the size (0 or 0xFFFFFFFF)
    present: int  # bytes from ``offset`` to the end of the file
    block_align: int  # bytes per frame (0 if the fmt chunk was unreadable)
    sample_rate: int
    zero_size_streamed: bool  # size field 0 with data behind it: libsndfile would read 0 frames
    byte_order: str

    def seconds(self, n_bytes: int) -> str:
        if not (self.block_align and self.sample_rate):
            return ""
        return f" ({n_bytes / self.block_align / self.sample_rate:.3f} s)"


def _looks_like_chunk(header: bytes, remaining: int, order: str) -> bool:
    """True if ``header`` is a plausible chunk header (ASCII id, size fitting in ``remaining``)."""
    if len(header) < 8 or not all(32 <= c < 127 for c in header[:4]):
        return False
    return struct.unpack(order + "I", header[4:8])[0] + 8 <= remaining


def _wav_data(path: Path) -> _WavData | None:
    """Walk the chunks of a RIFF/RIFX/RF64 WAVE file up to its data chunk; None if not such a file.

    libsndfile silently shortens a data chunk that runs past the end of the file, so a truncated WAV
    would load short with no error; reading the declared size ourselves makes that detectable.
    """
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in _RIFF_FORMS or head[8:12] != b"WAVE":
            return None
        order = _RIFF_FORMS[head[:4]]
        ds64_data_size: int | None = None
        block_align = sample_rate = 0
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk_id, chunk_size = struct.unpack(order + "4sI", f.read(8))
            if chunk_id == b"ds64" and len(body := f.read(16)) == 16:
                ds64_data_size = struct.unpack(order + "QQ", body)[1]
            elif chunk_id == b"fmt " and len(body := f.read(14)) == 14:
                _, _, sample_rate, _, block_align = struct.unpack(order + "HHIIH", body)
            elif chunk_id == b"data":
                present = size - pos - 8
                declared: int | None = chunk_size
                if head[:4] == b"RF64" and chunk_size == _UNSET_SIZE:
                    declared = ds64_data_size or None
                elif chunk_size == _UNSET_SIZE:
                    declared = None
                zero_streamed = False
                if chunk_size == 0 and present > 0 and not _looks_like_chunk(f.read(8), present, order):
                    declared, zero_streamed = None, head[:4] != b"RF64"
                return _WavData(pos + 8, declared, present, block_align, sample_rate, zero_streamed, order)
            pos += 8 + chunk_size + (chunk_size & 1)  # chunks are word-aligned
    return None


def _check_wav_complete(path: Path) -> _WavData | None:
    """Raise ``AudioDecodeError`` if ``path`` is a WAV whose data chunk is cut short."""
    wav = _wav_data(path)
    if wav is not None and wav.declared is not None and wav.present < wav.declared:
        raise AudioDecodeError(
            f"{path}: truncated WAV: the header declares {wav.declared} bytes of audio"
            f"{wav.seconds(wav.declared)} but only {wav.present} bytes{wav.seconds(wav.present)} are present"
        )
    return wav


def _with_streamed_size_filled_in(path: Path, wav: _WavData) -> io.BytesIO:
    """The file's bytes with a data size of 0 replaced by the whole frames actually present."""
    blob = bytearray(path.read_bytes())
    n = wav.present - (wav.present % wav.block_align if wav.block_align else 0)
    blob[wav.offset - 4 : wav.offset] = struct.pack(wav.byte_order + "I", min(n, _UNSET_SIZE - 1))
    return io.BytesIO(bytes(blob))


def resample(audio: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample ``[n]`` or ``[ch, n]`` audio with soxr (high quality), returning float32."""
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} -> {target_sr}")
    audio = ensure_finite(audio)
    if orig_sr == target_sr:
        return audio
    # soxr wants [n, ch]; our layout is channels-first.
    out = soxr.resample(audio.T, orig_sr, target_sr, quality="HQ")
    return np.ascontiguousarray(out.T, dtype=np.float32)


def load_audio(
    path: str | Path,
    sample_rate: int,
    *,
    mono: bool = True,
) -> np.ndarray:
    """Decode wav/flac/ogg/mp3 (anything libsndfile reads) to float32 at ``sample_rate``.

    Returns ``[n]`` when ``mono`` (channels averaged) else ``[ch, n]`` (mono files give ``[1, n]``).
    Raises ``AudioFileNotFoundError``, ``AudioDecodeError``, ``EmptyAudioError`` or
    ``NonFiniteAudioError``; every message contains the file name. A WAV whose data chunk is shorter
    than its header declares is an ``AudioDecodeError`` (libsndfile would return the partial audio);
    a streamed WAV whose writer left the data size unset (0 or 0xFFFFFFFF) is read to the end of file.
    """
    path = Path(path)
    if int(sample_rate) <= 0:
        raise ValueError(f"{path}: target sample_rate must be positive, got {sample_rate}")
    _check_exists(path)
    if path.stat().st_size == 0:
        raise EmptyAudioError(f"{path}: file is empty (0 bytes)")
    wav = _check_wav_complete(path)
    source: str | io.BytesIO = str(path)
    if wav is not None and wav.zero_size_streamed:
        source = _with_streamed_size_filled_in(path, wav)
    try:
        data, file_sr = sf.read(source, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        reason = str(exc)
        if "not a regular file" in reason:  # libsndfile's words for data it cannot identify
            reason = "unrecognised format or corrupt data"
        raise AudioDecodeError(f"{path}: cannot decode audio ({reason})") from exc
    if data.shape[0] == 0:
        raise EmptyAudioError(f"{path}: audio has no samples")
    audio = ensure_finite(np.ascontiguousarray(data.T), name=str(path))
    if mono:
        audio = to_mono(audio)
    return resample(audio, int(file_sr), int(sample_rate))


# --------------------------------------------------------------------------------------------- writing
def write_audio(
    path: str | Path,
    audio: np.ndarray,
    sample_rate: int,
    *,
    bit_depth: int = 16,
) -> Path:
    """Write ``[n]`` or ``[ch, n]`` audio as 16/24-bit PCM FLAC or WAV (chosen by suffix), atomically.

    The file is written to a temporary sibling and moved into place with ``os.replace`` so readers
    (and parallel dataset workers) never see a half-written file. Samples outside [-1, 1] raise
    ``AudioClippingError`` rather than being silently clipped: normalise first. Samples are rounded to
    the nearest integer code (see ``_quantize``).
    """
    path = Path(path)
    container = SUPPORTED_WRITE_FORMATS.get(path.suffix.lower())
    if container is None:
        raise UnsupportedAudioFormatError(
            f"{path}: unsupported output suffix {path.suffix!r}; use one of {sorted(SUPPORTED_WRITE_FORMATS)}"
        )
    if bit_depth not in _PCM_SUBTYPES:
        raise UnsupportedAudioFormatError(
            f"{path}: bit_depth must be one of {sorted(_PCM_SUBTYPES)}, got {bit_depth}"
        )
    if sample_rate <= 0:
        raise ValueError(f"{path}: sample_rate must be positive, got {sample_rate}")
    audio = ensure_finite(audio, name=str(path))
    peak = float(np.max(np.abs(audio)))
    if peak > 1.0:
        raise AudioClippingError(f"{path}: peak {peak:.4f} exceeds 1.0; normalise before writing")
    with atomic_output(path) as tmp:
        codes = _quantize(audio, bit_depth)
        sf.write(tmp, codes.T, int(sample_rate), format=container, subtype=_PCM_SUBTYPES[bit_depth])
    return path


def _quantize(audio: np.ndarray, bit_depth: int) -> np.ndarray:
    """Integer PCM codes: ``round(x * 2**(bits-1))`` (half to even), +1.0 saturating to the top code.

    libsndfile does not round float samples when writing WAV (measured mean error -0.5 LSB at 16
    bit, -0.34 at 24) but does for FLAC; quantising here gives both containers the same unbiased
    result. The scale is the inverse of libsndfile's int-to-float read, so a re-read sample is
    exactly ``code / 2**(bits-1)``. 24-bit codes go in the top bytes of int32, which is how
    libsndfile takes 24-bit input.
    """
    full = 2 ** (bit_depth - 1)
    codes = np.clip(np.round(audio.astype(np.float64) * full), -full, full - 1)
    if bit_depth == 16:
        return codes.astype(np.int16)
    return codes.astype(np.int32) << (32 - bit_depth)


# --------------------------------------------------------------------------------------------- levels
def peak_normalize(audio: np.ndarray, target_dbfs: float = -1.0) -> np.ndarray:
    """Scale so the absolute peak sits at ``target_dbfs`` (≤ 0). Silence raises ``SilentAudioError``."""
    if target_dbfs > 0:
        raise ValueError(f"target_dbfs must be <= 0 dBFS, got {target_dbfs}")
    audio = ensure_finite(audio)
    peak = float(np.max(np.abs(audio)))
    if peak == 0.0:
        raise SilentAudioError("cannot peak-normalise digital silence")
    return (audio * np.float32(10 ** (target_dbfs / 20) / peak)).astype(np.float32)


def measure_loudness(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness in LUFS (ITU-R BS.1770-4 via pyloudnorm)."""
    import pyloudnorm

    audio = ensure_finite(audio)
    n = audio.shape[-1]
    if n < int(0.4 * sample_rate):
        raise AudioTooShortError(
            f"loudness needs at least 0.4 s of audio, got {n / sample_rate:.3f} s at {sample_rate} Hz"
        )
    meter = pyloudnorm.Meter(sample_rate)
    return float(meter.integrated_loudness(audio.T.astype(np.float64)))


def loudness_normalize(
    audio: np.ndarray,
    sample_rate: int,
    target_lufs: float = -23.0,
    *,
    max_peak: float | None = None,
) -> np.ndarray:
    """Scale to ``target_lufs`` integrated loudness (EBU R128 default -23 LUFS).

    With ``max_peak`` set, the gain is capped so the peak never exceeds it (the result is then
    quieter than the target — the honest trade-off, since clipping would change loudness anyway).
    """
    current = measure_loudness(audio, sample_rate)
    if not np.isfinite(current):
        raise SilentAudioError("cannot loudness-normalise silence (loudness is -inf LUFS)")
    gain = 10 ** ((target_lufs - current) / 20)
    audio = ensure_finite(audio)
    if max_peak is not None:
        peak = float(np.max(np.abs(audio)))
        gain = min(gain, max_peak / peak)
    return (audio * np.float32(gain)).astype(np.float32)


# --------------------------------------------------------------------------------------------- segments
class Segments(NamedTuple):
    """Fixed-length windows: ``segments`` is ``[k, n]`` (or ``[k, ch, n]``); ``start_times`` in seconds."""

    segments: np.ndarray
    start_times: np.ndarray


def segment_audio(
    audio: np.ndarray,
    sample_rate: int,
    segment_seconds: float = 10.0,
    overlap: float = 0.5,
    *,
    pad_last: bool = True,
) -> Segments:
    """Cut audio into windows of ``segment_seconds`` with fractional ``overlap`` in [0, 1).

    The hop is ``segment * (1 - overlap)``. With ``pad_last`` a final zero-padded window covers the
    tail (so every sample is in some segment); without it, incomplete windows are dropped.
    """
    if segment_seconds <= 0:
        raise ValueError(f"segment_seconds must be positive, got {segment_seconds}")
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    audio = ensure_finite(audio)
    seg_len = round(segment_seconds * sample_rate)
    hop = max(1, round(seg_len * (1.0 - overlap)))
    n = audio.shape[-1]
    if n >= seg_len:
        starts = list(range(0, n - seg_len + 1, hop))
        if pad_last and starts[-1] + seg_len < n:
            starts.append(starts[-1] + hop)
    else:
        starts = [0] if pad_last else []
    lead = audio.shape[:-1]
    out = np.zeros((len(starts), *lead, seg_len), dtype=np.float32)
    for i, start in enumerate(starts):
        chunk = audio[..., start : start + seg_len]
        out[i, ..., : chunk.shape[-1]] = chunk
    return Segments(out, np.asarray(starts, dtype=np.float64) / sample_rate)


# --------------------------------------------------------------------------------------------- features
def _db_relative_to_max(values: np.ndarray, *, power: bool, top_db: float | None) -> np.ndarray:
    """dB relative to the maximum (librosa's ``ref=np.max``), with silence at the floor.

    librosa clamps the values *and* the reference to ``amin``, so when nothing exceeds ``amin``
    (digital silence) every bin comes out 0 dB, the maximum. Such input gets the floor instead:
    ``-top_db``, or the ``amin`` level itself (-100 dB) when ``top_db`` is None.
    """
    import librosa

    amin = 1e-10 if power else 1e-5  # librosa's defaults; both are -100 dB
    if float(np.max(values)) <= amin:
        floor = -float(top_db) if top_db is not None else -100.0
        return np.full(values.shape, floor, dtype=np.float32)
    to_db = librosa.power_to_db if power else librosa.amplitude_to_db
    return to_db(values, ref=np.max, amin=amin, top_db=top_db).astype(np.float32)


def log_mel_spectrogram(
    audio: np.ndarray,
    sample_rate: int,
    *,
    n_mels: int = 128,
    n_fft: int = 2048,
    hop_length: int = 512,
    fmin: float = 0.0,
    fmax: float | None = None,
    top_db: float | None = 80.0,
) -> np.ndarray:
    """Log-mel power spectrogram in dB (ref = max), ``[n_mels, frames]`` (``[ch, n_mels, frames]``).

    Values lie in [-top_db, 0]; digital silence is -top_db everywhere (-100 dB without top_db).
    """
    import librosa

    audio = ensure_finite(audio)
    mel = librosa.feature.melspectrogram(
        y=audio, sr=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, fmin=fmin, fmax=fmax
    )
    return _db_relative_to_max(mel, power=True, top_db=top_db)


def cqt_spectrogram(
    audio: np.ndarray,
    sample_rate: int,
    *,
    hop_length: int = 512,
    bins_per_octave: int = 24,
    n_octaves: int = 7,
    fmin: float | None = None,
    top_db: float | None = 80.0,
) -> np.ndarray:
    """Constant-Q magnitude in dB, ``[bins_per_octave * n_octaves, frames]``; default fmin is C1.

    The defaults (24 bins/octave, 7 octaves from C1, hop 512) give the 168-bin layout used for
    piano visualisation. As for ``log_mel_spectrogram``, silence is the floor, not 0 dB.
    """
    import librosa

    audio = ensure_finite(audio)
    fmin = float(librosa.note_to_hz("C1")) if fmin is None else fmin
    n_bins = bins_per_octave * n_octaves
    top_freq = fmin * 2 ** (n_bins / bins_per_octave)
    if top_freq >= sample_rate / 2:
        raise ValueError(
            f"CQT top bin {top_freq:.0f} Hz reaches Nyquist {sample_rate / 2:.0f} Hz; "
            "lower n_octaves/fmin or raise the sample rate"
        )
    cqt = librosa.cqt(
        audio,
        sr=sample_rate,
        hop_length=hop_length,
        fmin=fmin,
        n_bins=n_bins,
        bins_per_octave=bins_per_octave,
    )
    return _db_relative_to_max(np.abs(cqt), power=False, top_db=top_db)
