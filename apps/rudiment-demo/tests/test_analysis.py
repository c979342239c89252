"""The prediction function behind the page: rankings, notation and figures for the example clips, and
``gr.Error`` with the library's own message for audio it cannot analyse.
"""

from __future__ import annotations

import gradio as gr
import numpy as np
import pytest
from matplotlib.figure import Figure
from rudiment_demo.analysis import heard_sticking, rudiment_sticking, warm_up
from rudiment_demo.ui import ERROR_TITLE, NO_AUDIO, classify, page_outputs, respond
from shared_audio_core.audio import (
    AudioDecodeError,
    AudioTooShortError,
    SilentAudioError,
    load_audio,
    resample,
    write_audio,
)
from sousa_rudiments.recognition.pipeline import StrokeEstimate, UnsupportedSampleRateError
from sousa_rudiments.rudiments import get_rudiment

SR = 44_100


# ------------------------------------------------------------------------------------------ examples
def test_every_example_is_named_correctly_with_a_sorted_top5(pipeline, examples):
    """The README says the shipped model gets all four examples right; this is that claim, checked."""
    for example in examples:
        result = classify(pipeline, str(example.path))
        probabilities = list(result.label.values())
        assert result.prediction.found, (example.rudiment, result.prediction.reason)
        assert next(iter(result.label)) == example.name, (example.rudiment, result.label)
        assert len(result.label) == 5
        assert probabilities == sorted(probabilities, reverse=True)
        assert 0.0 < sum(probabilities) <= 1.0 + 1e-6
        # the table shows the same ranking, with PAS numbers and percentages
        assert [row[0] for row in result.table] == [1, 2, 3, 4, 5]
        assert [row[1] for row in result.table] == list(result.label)
        assert result.table[0][2] == get_rudiment(example.rudiment).number
        assert [row[3] for row in result.table] == [round(100 * p, 1) for p in probabilities]
        assert f"### {example.name} (PAS #{get_rudiment(example.rudiment).number})" in result.summary
        assert rudiment_sticking(get_rudiment(example.rudiment)) in result.sticking
        for figure in (result.sticking_figure, result.timeline_figure, result.features_figure):
            assert isinstance(figure, Figure) and figure.axes
        assert f"PAS #{get_rudiment(example.rudiment).number}" in result.sticking_figure.axes[0].get_title()


def test_page_outputs_follow_the_component_order(pipeline, examples):
    result = classify(pipeline, str(examples[0].path))
    summary, label, table, sticking, *figures = page_outputs(result)
    assert summary == result.summary and table == result.table and sticking == result.sticking
    assert isinstance(label, gr.Label) and label.label == "Top 5"
    assert figures == [result.sticking_figure, result.timeline_figure, result.features_figure]


def test_noise_is_no_rudiment_with_the_reason_on_the_page(pipeline, tmp_path):
    noise = (0.3 * np.random.default_rng(0).standard_normal(3 * SR)).astype(np.float32)
    path = write_audio(tmp_path / "noise.wav", np.clip(noise, -1, 1), SR)
    result = classify(pipeline, str(path))
    assert not result.prediction.found
    assert "### No rudiment found" in result.summary
    assert result.prediction.reason is not None and "not percussive" in result.summary
    assert page_outputs(result)[1].label == "Closest guesses (no rudiment found)"
    assert "**Closest guess:" in result.sticking


def test_warm_up_runs_the_whole_path(pipeline):
    assert warm_up(pipeline) >= 0.0


# --------------------------------------------------------------------------------------- bad audio
def _library_message(pipeline, audio: np.ndarray, sample_rate: int, error: type[Exception]) -> str:
    with pytest.raises(error) as raised:
        pipeline.predict(audio, sample_rate)
    return str(raised.value)


def test_silence_is_a_gr_error_with_the_library_message(pipeline, tmp_path):
    silence = np.zeros(3 * SR, dtype=np.float32)
    path = write_audio(tmp_path / "silence.wav", silence, SR)
    expected = _library_message(pipeline, silence, SR, SilentAudioError)
    with pytest.raises(gr.Error) as raised:
        classify(pipeline, str(path))
    assert raised.value.message == expected == "the recording is silent (peak below -100 dBFS)"


def test_8_khz_is_a_gr_error_with_the_library_message(pipeline, examples, tmp_path):
    audio = resample(load_audio(examples[0].path, SR), SR, 8_000)
    path = write_audio(tmp_path / "phone.wav", audio, 8_000)
    expected = _library_message(pipeline, audio, 8_000, UnsupportedSampleRateError)
    with pytest.raises(gr.Error) as raised:
        classify(pipeline, str(path))
    assert raised.value.message == expected
    assert "8000 Hz is not supported" in expected


def test_half_a_second_is_a_gr_error_with_the_library_message(pipeline, examples, tmp_path):
    audio = load_audio(examples[0].path, SR)[: SR // 2]
    path = write_audio(tmp_path / "short.flac", audio, SR)
    expected = _library_message(pipeline, audio, SR, AudioTooShortError)
    with pytest.raises(gr.Error) as raised:
        classify(pipeline, str(path))
    assert raised.value.message == expected == "0.50 s of audio: a rudiment needs at least 1 s"


def test_unreadable_file_names_the_file_not_the_upload_folder(pipeline, tmp_path):
    path = tmp_path / "take.wav"
    path.write_bytes(b"this is not audio at all")
    with pytest.raises(AudioDecodeError) as library:
        pipeline.predict_file(path)
    with pytest.raises(gr.Error) as raised:
        classify(pipeline, str(path))
    assert raised.value.message == str(library.value).replace(str(path), "take.wav")
    assert raised.value.message.startswith("take.wav: cannot")
    assert str(tmp_path) not in raised.value.message


def test_the_page_shows_the_message_and_clears_the_previous_answer(pipeline, tmp_path):
    path = write_audio(tmp_path / "silence.wav", np.zeros(3 * SR, dtype=np.float32), SR)
    summary, label, table, sticking, *figures = respond(pipeline, str(path))
    assert summary == f"### {ERROR_TITLE}\n\nThe recording is silent (peak below -100 dBFS)."
    assert not label.value and table is None and sticking == "" and figures == [None, None, None]


def test_no_recording_asks_for_one(pipeline):
    with pytest.raises(gr.Error) as raised:
        classify(pipeline, None)
    assert raised.value.message == NO_AUDIO


# ---------------------------------------------------------------------------------------- notation
@pytest.mark.parametrize(
    ("slug", "sticking"),
    [
        ("single-paradiddle", ">R L RR | >L R LL"),
        ("flam-accent", ">lR L R | >rL R L"),
        ("drag", "llR rrL"),
        ("multiple-bounce-roll", "Rz Lz Rz Lz"),
        ("single-dragadiddle", ">RR L RR | >LL R LL"),
        ("triple-stroke-roll", "R R R L L L"),
    ],
)
def test_rudiment_sticking_is_written_from_the_rudiment_library(slug, sticking):
    assert rudiment_sticking(get_rudiment(slug)) == sticking


def _stroke(hand: str, *, grace=0.0, accent=0.0, diddle=0.0, buzz=0.0) -> StrokeEstimate:
    return StrokeEstimate(
        time_s=0.0, strength=1.0, hand=hand, p_right=1.0 if hand == "R" else 0.0, p_accent=accent,
        p_grace=grace, p_tap=0.0, p_diddle=diddle, p_buzz=buzz,
    )  # fmt: skip


def test_heard_sticking_attaches_graces_and_joins_diddles():
    strokes = [
        _stroke("L", grace=0.9),
        _stroke("R", accent=0.8),  # flam accent: lR with an accent
        _stroke("L", diddle=0.9),
        _stroke("L", diddle=0.9),  # a diddle by one hand: LL
        _stroke("R", diddle=0.9),  # a diddle stroke whose partner was not heard stays alone
        _stroke("L", buzz=0.7),
    ]
    assert heard_sticking(strokes) == ">lR LL R Lz"


def test_heard_sticking_says_how_many_strokes_it_left_out():
    strokes = [_stroke("R" if i % 2 else "L") for i in range(70)]
    text = heard_sticking(strokes, limit=64)
    assert text.endswith("… (+6 more strokes)")
    assert text.count("R") + text.count("L") == 64
