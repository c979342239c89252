"""Model folders (save → load), scoring one performance and the input-file checks behind them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import symusic
import torch
from piano_eval.data.errors import (
    EmptyMidiError,
    LengthMismatchError,
    SilentAudioError,
    UnreadableAudioError,
    UnreadableMidiError,
)
from piano_eval.data.folder import load_rating_folder
from piano_eval.data.inputs import load_continuous, load_tokens
from piano_eval.data.synthetic import SyntheticBenchmarkConfig, build_benchmark
from piano_eval.data.validation import AudioSummary, MidiSummary, check_audio, check_lengths, check_midi
from piano_eval.heads import HeadConfig
from piano_eval.scoring import (
    SIDECAR,
    WEIGHTS,
    ModelFolderError,
    load_model_folder,
    resolve_weights,
    save_model_folder,
    score_performance,
)
from piano_eval.scoring.score import frame_times, merge_same_times, weakest_passages
from piano_eval.symbolic.continuous import ContinuousPerformanceModel, collate_continuous_features


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic")
    build_benchmark(
        root, SyntheticBenchmarkConfig(generated_pieces=3, performances_per_piece=2, bars=1), progress=False
    )
    return root


def tiny_s3(dims: int, dropout: float = 0.2) -> ContinuousPerformanceModel:
    torch.manual_seed(0)
    return ContinuousPerformanceModel(
        encoder_dim=16,
        num_layers=1,
        num_heads=2,
        max_frames=512,
        code_dim=8,
        codebook_entries=4,
        head=HeadConfig(hidden_dim=16, projection_dim=8, num_dimensions=dims, dropout=dropout),
    )


def first(data: Path):
    dims, performances = load_rating_folder(data, scale="0-1")
    return dims, performances[0]


def test_model_folder_round_trip_rebuilds_the_module_and_records_what_it_reads(data, tmp_path) -> None:
    dims, perf = first(data)
    model = tiny_s3(len(dims)).eval()
    folder = save_model_folder(model, tmp_path / "s3", "continuous", dims)
    sidecar = json.loads((folder / SIDECAR).read_text())
    assert sidecar["class_path"] == "piano_eval.symbolic.continuous.ContinuousPerformanceModel"
    assert sidecar["input_kind"] == "continuous" and tuple(sidecar["dimensions"]) == dims
    assert (folder / "scorer" / "model.safetensors").is_file()  # the Hub components are still there
    saved = load_model_folder(folder)
    assert type(saved.model) is ContinuousPerformanceModel and not saved.model.training
    assert saved.name == "s3" and saved.dimensions == dims
    part = collate_continuous_features(load_continuous([perf.midi_path]))
    with torch.no_grad():
        assert torch.equal(saved.model.predict_scores(part), model.predict_scores(part))


def test_model_folder_errors_name_the_problem(data, tmp_path) -> None:
    dims, _ = first(data)
    model = tiny_s3(len(dims))
    with pytest.raises(ValueError, match="unknown input kind 'pixels'"):
        save_model_folder(model, tmp_path / "a", "pixels")
    with pytest.raises(ValueError, match="2 dimension names for a model with 5"):
        save_model_folder(model, tmp_path / "a", "continuous", ["x", "y"])
    model.save_components(tmp_path / "bare")  # what the benchmark writes today
    with pytest.raises(ModelFolderError, match=f"no {SIDECAR}.*save_model_folder"):
        load_model_folder(tmp_path / "bare")
    with pytest.raises(ModelFolderError, match="model folder not found"):
        load_model_folder(tmp_path / "nowhere")
    folder = save_model_folder(model, tmp_path / "ok", "continuous", dims)
    (folder / WEIGHTS).write_bytes(b"not safetensors")
    with pytest.raises(ModelFolderError, match="weights do not fit"):
        load_model_folder(folder)
    save_model_folder(tiny_s3(3), tmp_path / "other", "continuous")
    (folder / WEIGHTS).write_bytes((tmp_path / "other" / WEIGHTS).read_bytes())  # 3 outputs, not 5
    with pytest.raises(ModelFolderError, match="weights do not fit"):
        load_model_folder(folder)


def test_weights_are_equal_by_default_and_named_ones_override() -> None:
    dims = ("timing", "dynamics", "pedal")
    assert np.allclose(resolve_weights(dims, None), [1 / 3] * 3)
    assert np.allclose(resolve_weights(dims, {"timing": 2.0, "pedal": 0.0}), [2 / 3, 1 / 3, 0.0])
    with pytest.raises(ValueError, match="no dimension 'tone'"):
        resolve_weights(dims, {"tone": 1.0})
    with pytest.raises(ValueError, match="≥ 0"):
        resolve_weights(dims, {"timing": -1.0})
    with pytest.raises(ValueError, match="all zero"):
        resolve_weights(dims, dict.fromkeys(dims, 0.0))


def test_weakest_passages_find_the_planted_low_region() -> None:
    times = np.arange(0, 20, 0.1) + 0.05
    local = np.full_like(times, 0.8)
    local[(times > 12) & (times < 14)] = 0.2
    local[(times > 3) & (times < 5)] = 0.5
    found = weakest_passages(times, local, window=2.0, count=2, duration=20.0)
    assert [round(p.start) for p in found] == [3, 12]
    assert found[1].score == pytest.approx(0.2) and all(p.end - p.start == pytest.approx(2.0) for p in found)


def test_merge_same_times_sums_attention_of_a_chord() -> None:
    times, attention, local = merge_same_times(
        np.array([0.0, 0.0, 1.0]), np.array([0.2, 0.6, 0.2]), np.array([0.0, 1.0, 0.5])
    )
    assert times.tolist() == [0.0, 1.0] and np.allclose(attention, [0.8, 0.2])
    assert np.allclose(local, [0.75, 0.5])  # attention-weighted


def test_token_frames_sit_at_their_note_onsets(data) -> None:
    _, perf = first(data)
    ids = load_tokens([perf.midi_path])[0]
    times = frame_times("tokens", len(ids), 3.0, perf.midi_path, ids)
    onsets = sorted(n.time for t in symusic.Score(str(perf.midi_path)).to("second").tracks for n in t.notes)
    assert np.all(np.diff(times) >= -1e-9)  # monotone
    assert set(np.round(times, 6)) <= set(np.round(onsets, 6))
    assert np.allclose(frame_times("continuous", 4, 2.0, None), [0.25, 0.75, 1.25, 1.75])


def test_score_performance_with_dropout_uncertainty_and_timeline(data, tmp_path) -> None:
    dims, perf = first(data)
    saved = load_model_folder(save_model_folder(tiny_s3(len(dims)), tmp_path / "m", "continuous", dims))
    result = score_performance(saved, perf.audio_path, perf.midi_path, samples=12, weights={dims[0]: 3.0})
    again = score_performance(saved, perf.audio_path, perf.midi_path, samples=12, weights={dims[0]: 3.0})
    assert result.std is not None and np.all(result.std > 0) and np.array_equal(result.std, again.std)
    assert np.all((result.scores > 0) & (result.scores < 1))
    assert result.aggregate == pytest.approx(float(result.scores @ result.weights))
    assert result.weights[0] == pytest.approx(3 / (3 + len(dims) - 1))
    line = result.timeline
    assert line.attention.sum() == pytest.approx(1.0, abs=1e-5)
    assert line.times.min() >= 0 and line.times.max() <= result.duration
    assert line.local is not None and len(line.local) == len(line.times) and len(line.weakest) == 1
    payload = result.to_dict()
    assert list(payload["dimensions"]) == list(dims) and payload["uncertainty"].startswith("Monte-Carlo")


def test_score_performance_without_dropout_reports_no_uncertainty(data, tmp_path) -> None:
    dims, perf = first(data)
    saved = load_model_folder(save_model_folder(tiny_s3(len(dims), 0.0), tmp_path / "m", "continuous", dims))
    result = score_performance(saved, perf.audio_path, perf.midi_path, score_midi=perf.score_midi_path)
    assert result.std is None and result.aggregate_std is None and result.uncertainty.startswith("none")
    assert "not used" in result.notes[0]
    with pytest.raises(ValueError, match=r"reads midi.*--midi"):
        score_performance(saved, perf.audio_path)


def _empty_midi(path: Path) -> Path:
    symusic.Score().dump_midi(str(path))
    return path


def test_midi_checks_name_the_file_and_run_inside_the_loaders(data, tmp_path) -> None:
    _, perf = first(data)
    assert check_midi(perf.midi_path).notes > 0
    empty = _empty_midi(tmp_path / "empty.mid")
    for load in (load_tokens, load_continuous, check_midi):
        with pytest.raises(EmptyMidiError, match=r"empty\.mid: the MIDI file has no notes"):
            load([empty]) if load is not check_midi else load(empty)
    (tmp_path / "bad.mid").write_text("not midi")
    with pytest.raises(UnreadableMidiError, match=r"bad\.mid: cannot read MIDI"):
        load_continuous([tmp_path / "bad.mid"])


def test_audio_checks_refuse_corrupt_and_silent_files(data, tmp_path) -> None:
    _, perf = first(data)
    summary = check_audio(perf.audio_path)
    assert summary.duration > 1 and summary.peak > 0.01
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x00\x00garbage" * 10)
    with pytest.raises(UnreadableAudioError, match=r"corrupt\.wav"):
        check_audio(tmp_path / "corrupt.wav")
    with pytest.raises(UnreadableAudioError, match="not found"):
        check_audio(tmp_path / "missing.flac")
    sf.write(tmp_path / "silent.wav", np.zeros(16000, dtype=np.float32), 16000)
    with pytest.raises(SilentAudioError, match=r"silent\.wav: the audio is silent \(peak digital silence"):
        check_audio(tmp_path / "silent.wav")
    sf.write(tmp_path / "hum.wav", np.full(16000, 1e-4, dtype=np.float32), 16000, subtype="FLOAT")
    with pytest.raises(SilentAudioError, match="-80 dBFS"):
        check_audio(tmp_path / "hum.wav")


@pytest.mark.parametrize(
    ("audio_s", "midi_s", "mismatch"),
    [(10.0, 11.9, False), (10.0, 12.1, True), (60.0, 65.9, False), (60.0, 67.0, True), (3.0, 4.9, False)],
)
def test_length_tolerance_is_two_seconds_or_ten_percent_whichever_is_larger(
    audio_s, midi_s, mismatch
) -> None:
    audio = AudioSummary(Path("take.wav"), 16000, audio_s, 0.5)
    midi = MidiSummary(Path("take.mid"), 10, midi_s)
    if not mismatch:
        check_lengths(audio, midi)
        return
    with pytest.raises(
        LengthMismatchError, match=rf"take\.wav lasts {audio_s:.2f} s but take\.mid lasts {midi_s:.2f} s"
    ):
        check_lengths(audio, midi)
