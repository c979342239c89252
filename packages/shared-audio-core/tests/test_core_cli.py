"""The audio-core CLI, called in-process through main([...])."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import symusic
from shared_audio_core.augment import list_presets
from shared_audio_core.cli import main
from shared_audio_core.synth import default_soundfont


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compatibility SoundFont copies go to a test folder, not ~/.cache."""
    monkeypatch.setenv("SHARED_AUDIO_CORE_CACHE", str(tmp_path_factory.getbasetemp() / "core_cache"))


def test_render_default_groove_with_preset_writes_decodable_flac(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "example.flac"
    assert (
        main(["render", "-o", str(out), "--preset", "practice_room", "--seed", "3", "--sample-rate", "22050"])
        == 0
    )
    info = sf.info(out)
    assert (
        info.format == "FLAC" and info.subtype == "PCM_24" and info.samplerate == 22050 and info.channels == 1
    )
    assert info.duration == pytest.approx(10.0, abs=0.05)
    audio, _ = sf.read(out, dtype="float32")
    assert np.sqrt(np.mean(audio**2)) > 0.01 and np.max(np.abs(audio)) <= 1.0
    text = capsys.readouterr().out
    assert "example_drum_groove.mid" in text and "practice_room" in text
    assert [p.name for p in tmp_path.iterdir()] == ["example.flac"]


def test_render_json_summary_is_reproducible(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = []
    for name in ("a.flac", "b.flac"):
        args = [
            "render",
            "-o",
            str(tmp_path / name),
            "--preset",
            "phone",
            "--seed",
            "9",
            "--sample-rate",
            "16000",
        ]
        assert main([*args, "--json"]) == 0
        runs.append(json.loads(capsys.readouterr().out))
    assert runs[0]["applied"] == runs[1]["applied"] and "band_limit" in runs[0]["applied"]
    assert runs[0]["soundfont"] == str(default_soundfont().resolve())
    a, _ = sf.read(tmp_path / "a.flac")
    b, _ = sf.read(tmp_path / "b.flac")
    np.testing.assert_array_equal(a, b)


def test_render_given_midi_to_16_bit_wav_without_augmentation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import symusic

    score = symusic.Score(480)
    track = symusic.Track("piano", program=0)
    for i, pitch in enumerate((60, 64, 67, 72)):
        track.notes.append(symusic.Note(i * 480, 480, pitch, 90))
    score.tracks.append(track)
    midi = tmp_path / "arpeggio.mid"
    score.dump_midi(str(midi))
    out = tmp_path / "arpeggio.wav"
    assert main(["render", str(midi), "-o", str(out), "--bit-depth", "16", "--sample-rate", "16000"]) == 0
    info = sf.info(out)
    assert info.subtype == "PCM_16" and info.duration == pytest.approx(2.0, abs=0.05)
    assert "augmentation: none" in capsys.readouterr().out


def test_render_errors_are_reported_not_raised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "Missing.sf2"
    assert main(["render", "-o", str(tmp_path / "x.flac"), "--soundfont", str(missing)]) == 2
    assert "Missing.sf2" in capsys.readouterr().err
    assert main(["render", "-o", str(tmp_path / "x.mp4")]) == 2
    assert ".mp4" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["render", "-o", str(tmp_path / "x.flac"), "--preset", "cathedral"])
    assert info.value.code == 2 and "cathedral" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["render", "-o", str(tmp_path / "x.flac"), "--sample-rate", "0"])
    assert info.value.code == 2 and "positive integer" in capsys.readouterr().err
    bad_midi = tmp_path / "garbage.mid"
    bad_midi.write_bytes(b"not midi")
    assert main(["render", str(bad_midi), "-o", str(tmp_path / "x.flac")]) == 2
    assert "garbage.mid" in capsys.readouterr().err
    assert not (tmp_path / "x.flac").exists()


def test_unwritable_output_is_an_error_message_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder is expected")
    midi = tmp_path / "one.mid"
    score = symusic.Score(480)
    score.tracks.append(symusic.Track("p", program=0))
    score.tracks[0].notes.append(symusic.Note(0, 240, 60, 90))
    score.dump_midi(str(midi))
    assert main(["render", str(midi), "-o", str(blocker / "out.wav"), "--sample-rate", "8000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("audio-core: error:") and str(blocker) in err and "Traceback" not in err


def test_presets_and_soundfonts_listings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in list_presets())
    assert main(["presets", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == set(list_presets())
    (tmp_path / "Orchestra.sf3").write_bytes(b"x")
    assert main(["soundfonts", "--search-dir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "TimGM6mb.sf2" in text and "Orchestra.sf3" in text


def test_help_mentions_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert all(cmd in text for cmd in ("render", "soundfonts", "presets"))
    for command, phrases in {
        "render": ("--soundfont", ".sf2/.sf3", "--preset", "practice_room", "--bit-depth", "-1 dBFS"),
        "soundfonts": ("--search-dir", ".sf2/.sf3"),
        "presets": ("--json", "probabilities"),
    }.items():
        with pytest.raises(SystemExit) as info:
            main([command, "--help"])
        assert info.value.code == 0
        text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
        assert all(phrase in text for phrase in phrases), (command, text)
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2 and "COMMAND" in capsys.readouterr().err
