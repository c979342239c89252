"""Review findings on shared_audio_core.audio, each checked against an independent reference.

* truncated WAVs raise ``AudioDecodeError`` (the RIFF header is parsed here with ``struct``);
* integer PCM writes round to nearest (raw integers are parsed here from the file bytes);
* log-mel / CQT of silence sit at the floor, while normal signals equal librosa's own result.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from shared_audio_core.audio import AudioDecodeError, EmptyAudioError, audio_info, load_audio, write_audio

SR = 8000


def noise(seconds: float, sr: int = SR, channels: int = 1) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.uniform(-0.5, 0.5, (channels, round(seconds * sr))).astype(np.float32).squeeze()


def chunks(blob: bytes) -> dict[bytes, tuple[int, int]]:
    """Test-side RIFF parser: chunk id -> (body offset, declared size)."""
    out, pos = {}, 12
    while pos + 8 <= len(blob):
        cid, size = struct.unpack_from("<4sI", blob, pos)
        out[cid] = (pos + 8, size)
        pos += 8 + size + (size & 1)
    return out


def with_data_size(blob: bytes, size: int) -> bytes:
    offset, _ = chunks(blob)[b"data"]
    patched = bytearray(blob)
    patched[offset - 4 : offset] = struct.pack("<I", size)
    return bytes(patched)


# ------------------------------------------------------------------------------------------ truncation
@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_truncated_wav_raises_naming_file_and_both_lengths(tmp_path: Path, subtype: str) -> None:
    whole = tmp_path / "whole.wav"
    sf.write(whole, noise(2.0), SR, subtype=subtype)
    blob = whole.read_bytes()
    cut = tmp_path / "cut_take.wav"
    cut.write_bytes(blob[: len(blob) // 2])
    data_offset, declared = chunks(blob)[b"data"]
    present = len(blob) // 2 - data_offset
    assert declared == 2 * SR * {"PCM_16": 2, "PCM_24": 3, "FLOAT": 4}[subtype]
    for call in (lambda: load_audio(cut, SR), lambda: audio_info(cut)):
        with pytest.raises(AudioDecodeError, match=r"cut_take\.wav") as info:
            call()
        message = str(info.value)
        assert f"{declared} bytes" in message and f"{present} bytes" in message
        assert "2.000 s" in message


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_intact_wav_still_loads_completely(tmp_path: Path, subtype: str) -> None:
    path = tmp_path / "ok.wav"
    audio = noise(2.0)
    sf.write(path, audio, SR, subtype=subtype)
    reference, _ = sf.read(path, dtype="float32")
    np.testing.assert_array_equal(load_audio(path, SR), reference)
    assert audio_info(path).frames == 2 * SR


def test_wav_with_chunks_after_and_odd_chunk_before_data_loads(tmp_path: Path) -> None:
    plain = tmp_path / "plain.wav"
    sf.write(plain, noise(1.0), SR, subtype="PCM_16")
    blob = plain.read_bytes()
    data_offset, _ = chunks(blob)[b"data"]
    header, body = blob[: data_offset - 8], blob[data_offset - 8 :]
    odd = b"junk" + struct.pack("<I", 3) + b"abc\x00"  # odd size + pad byte
    info_list = b"LIST" + struct.pack("<I", 14) + b"INFOINAM" + struct.pack("<I", 2) + b"x\x00"
    rebuilt = bytearray(header + odd + body + info_list)
    rebuilt[4:8] = struct.pack("<I", len(rebuilt) - 8)
    path = tmp_path / "extra_chunks.wav"
    path.write_bytes(bytes(rebuilt))
    np.testing.assert_array_equal(load_audio(path, SR), sf.read(plain, dtype="float32")[0])


@pytest.mark.parametrize("size", [0, 0xFFFFFFFF])
def test_streamed_wav_with_unset_sizes_is_read_to_the_end(tmp_path: Path, size: int) -> None:
    plain = tmp_path / "plain.wav"
    sf.write(plain, noise(1.0, channels=2).T, SR, subtype="PCM_16")
    blob = bytearray(with_data_size(plain.read_bytes(), size))
    blob[4:8] = struct.pack("<I", size)
    path = tmp_path / "streamed.wav"
    path.write_bytes(bytes(blob))
    reference = sf.read(plain, dtype="float32", always_2d=True)[0].T
    np.testing.assert_array_equal(load_audio(path, SR, mono=False), reference)
    assert audio_info(path).frames == SR


def test_empty_data_chunk_followed_by_metadata_is_empty_not_streamed(tmp_path: Path) -> None:
    plain = tmp_path / "plain.wav"
    sf.write(plain, np.zeros(0, dtype=np.float32), SR, subtype="PCM_16")
    info_list = b"LIST" + struct.pack("<I", 14) + b"INFOINAM" + struct.pack("<I", 2) + b"x\x00"
    blob = bytearray(plain.read_bytes() + info_list)
    blob[4:8] = struct.pack("<I", len(blob) - 8)
    path = tmp_path / "empty_with_list.wav"
    path.write_bytes(bytes(blob))
    with pytest.raises(EmptyAudioError, match=r"empty_with_list\.wav"):
        load_audio(path, SR)


def test_truncated_rf64_and_big_endian_wav_raise(tmp_path: Path) -> None:
    for name, kwargs in (("cut64.wav", {"format": "RF64"}), ("cutx.wav", {"endian": "BIG"})):
        whole = tmp_path / f"whole_{name}"
        sf.write(whole, noise(1.0), SR, subtype="PCM_16", **kwargs)
        assert load_audio(whole, SR).shape == (SR,)
        cut = tmp_path / name
        cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
        with pytest.raises(AudioDecodeError, match=rf"{name}.*{2 * SR} bytes"):
            load_audio(cut, SR)


# ------------------------------------------------------------------------------------------ rounding
def raw_pcm(path: Path, bits: int) -> np.ndarray:
    """Signed integers straight from the WAV bytes (little-endian, 2 or 3 bytes a sample)."""
    blob = path.read_bytes()
    offset, size = chunks(blob)[b"data"]
    data = np.frombuffer(blob, dtype=np.uint8, count=size, offset=offset)
    width = bits // 8
    as_int = sum(data[i::width].astype(np.int64) << (8 * i) for i in range(width))
    return np.where(as_int >= 2 ** (bits - 1), as_int - 2**bits, as_int)


def read_ints(path: Path, bits: int) -> np.ndarray:
    if path.suffix == ".wav":
        return raw_pcm(path, bits)
    return sf.read(path, dtype="int32")[0].astype(np.int64) >> (32 - bits)


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
@pytest.mark.parametrize("bits", [16, 24])
def test_pcm_writes_round_to_nearest(tmp_path: Path, suffix: str, bits: int) -> None:
    lsb = 2.0 ** -(bits - 1)
    steps = np.arange(-40, 40)
    offsets = np.array([0.0, 0.25, 0.49, 0.51, 0.75])
    expected = (steps[:, None] + np.array([0, 0, 0, 1, 1])).ravel()  # nearest integer, by construction
    ramp = ((steps[:, None] + offsets) * lsb).ravel()
    ramp = np.concatenate([ramp, [-1.0, 1.0]]).astype(np.float32)
    expected = np.concatenate([expected, [-(2 ** (bits - 1)), 2 ** (bits - 1) - 1]])  # +1.0 saturates
    path = write_audio(tmp_path / f"ramp{suffix}", ramp, SR, bit_depth=bits)
    np.testing.assert_array_equal(read_ints(path, bits), expected)
    # and reading back as float gives exactly integer / 2**(bits-1)
    np.testing.assert_array_equal(load_audio(path, SR), (expected * lsb).astype(np.float32))


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
@pytest.mark.parametrize("bits", [16, 24])
def test_pcm_quantisation_error_is_unbiased(tmp_path: Path, suffix: str, bits: int) -> None:
    audio = np.random.default_rng(1).uniform(-0.9, 0.9, 100_000).astype(np.float32)
    stereo = np.stack([audio, -audio])
    path = write_audio(tmp_path / f"noise{suffix}", stereo, SR, bit_depth=bits)
    ints = read_ints(path, bits).reshape(-1, 2).T
    error = ints - stereo.astype(np.float64) * 2 ** (bits - 1)  # in LSB
    assert abs(error.mean()) < 0.01  # truncation would give -0.5
    assert np.max(np.abs(error)) <= 0.5


# ------------------------------------------------------------------------------------------ features
def test_log_mel_and_cqt_of_silence_are_the_floor() -> None:
    from shared_audio_core.audio import cqt_spectrogram, log_mel_spectrogram

    sr = 24000
    silence = np.zeros(2 * sr, dtype=np.float32)
    below_amin = np.full(2 * sr, 1e-9, dtype=np.float32)  # every bin under librosa's amin
    for spec in (log_mel_spectrogram, cqt_spectrogram):
        np.testing.assert_array_equal(spec(silence, sr), -80.0)
        np.testing.assert_array_equal(spec(silence, sr, top_db=40.0), -40.0)
        np.testing.assert_array_equal(spec(silence, sr, top_db=None), -100.0)  # the amin level
        np.testing.assert_array_equal(spec(below_amin, sr), -80.0)


def test_log_mel_and_cqt_of_signals_equal_librosa() -> None:
    import librosa
    from shared_audio_core.audio import cqt_spectrogram, log_mel_spectrogram

    sr = 24000
    audio = noise(2.0, sr) * np.float32(0.3)
    mel = librosa.feature.melspectrogram(y=audio, sr=sr, n_fft=2048, hop_length=512, n_mels=64)
    np.testing.assert_allclose(
        log_mel_spectrogram(audio, sr, n_mels=64),
        librosa.power_to_db(mel, ref=np.max, top_db=80.0),
        atol=1e-4,
    )
    fmin = float(librosa.note_to_hz("C1"))
    cqt = np.abs(librosa.cqt(audio, sr=sr, hop_length=512, fmin=fmin, n_bins=168, bins_per_octave=24))
    np.testing.assert_allclose(
        cqt_spectrogram(audio, sr), librosa.amplitude_to_db(cqt, ref=np.max, top_db=80.0), atol=1e-4
    )
