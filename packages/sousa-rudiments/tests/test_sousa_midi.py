"""MIDI written from performances: every stroke, grace and buzz bounce, on the label timeline."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from sousa_rudiments.midi import (
    GM_ACOUSTIC_SNARE,
    NegativeTimeError,
    performance_notes,
    performance_to_midi_bytes,
    performance_to_score,
    read_midi_notes,
    set_timbre,
)
from sousa_rudiments.performance import generate_performance
from sousa_rudiments.profiles import generate_profiles
from sousa_rudiments.rudiments import get_rudiment


@pytest.fixture(scope="module")
def profile():
    return generate_profiles(4, seed=3)[0]


def _expected_onsets(performance) -> list[float]:
    onsets = []
    for stroke in performance.strokes:
        if stroke.buzz_offsets_ms:
            onsets += [stroke.actual_time_ms + off for off in stroke.buzz_offsets_ms]
        else:
            onsets.append(stroke.actual_time_ms)
    return sorted(onsets)


@pytest.mark.parametrize("slug", ["multiple-bounce-roll", "flam-tap", "drag", "single-paradiddle"])
@pytest.mark.parametrize("tempo", [60, 180])
def test_midi_has_every_stroke_at_its_labelled_time(profile, slug, tempo):
    performance = generate_performance(get_rudiment(slug), profile, tempo, num_cycles=2, seed=11)
    notes = read_midi_notes(performance_to_midi_bytes(performance))
    expected = _expected_onsets(performance)
    assert len(notes) == len(expected)
    # 1920 ticks per quarter: rounding moves a note by at most half a tick (0.26 ms at 60 BPM); MIDI
    # stores the tempo in whole microseconds per quarter, which adds a drift of < 2 ppm.
    half_tick_ms = 60000.0 / tempo / 1920 / 2
    for (time_ms, pitch, _), want in zip(notes, expected, strict=True):
        assert pitch == GM_ACOUSTIC_SNARE
        assert abs(time_ms - want) <= half_tick_ms + 2e-6 * want + 1e-6


def test_buzz_bounces_and_graces_are_rendered(profile):
    buzz = generate_performance(get_rudiment("multiple-bounce-roll"), profile, 100, num_cycles=1, seed=2)
    bounces = sum(len(s.buzz_offsets_ms) for s in buzz.strokes)
    assert bounces > len(buzz.strokes)  # several notes per buzz stroke
    assert len(performance_notes(buzz.strokes)) == bounces
    velocities = [
        n.velocity for n in performance_notes(buzz.strokes) if n.stroke_index == buzz.strokes[0].index
    ]
    assert velocities == list(buzz.strokes[0].buzz_velocities)

    flam = generate_performance(get_rudiment("flam"), profile, 100, num_cycles=2, seed=2)
    graces = [s for s in flam.strokes if s.is_grace_note]
    assert graces
    notes = performance_notes(flam.strokes)
    assert {n.stroke_index for n in notes} == {s.index for s in flam.strokes}
    grace_velocities = {n.velocity for n in notes if n.stroke_index in {g.index for g in graces}}
    assert grace_velocities == {g.actual_velocity for g in graces}


def test_score_is_a_drum_track_lasting_the_whole_performance(profile):
    performance = generate_performance(get_rudiment("single-stroke-roll"), profile, 120, num_cycles=2, seed=5)
    score = performance_to_score(performance)
    assert GM_ACOUSTIC_SNARE == 38  # General MIDI acoustic snare
    assert len(score.tracks) == 1 and score.tracks[0].is_drum
    assert score.tempos[0].qpm == pytest.approx(120.0)
    end_ms = score.to("second").end() * 1000
    assert end_ms == pytest.approx(performance.duration_sec * 1000, abs=1.0)
    starts = [n.time for n in score.tracks[0].notes]
    ends = [n.time + n.duration for n in score.tracks[0].notes]
    assert all(e <= s for e, s in zip(ends[:-1], starts[1:], strict=True)), "note-offs overlap the next note"


def test_set_timbre_changes_kit_and_note_on_a_copy(profile):
    performance = generate_performance(get_rudiment("flam-tap"), profile, 120, num_cycles=1, seed=1)
    score = performance_to_score(performance)
    voiced = set_timbre(score, program=40, snare_note=40)
    assert voiced.tracks[0].program == 40
    assert {n.pitch for n in voiced.tracks[0].notes} == {40}
    assert {n.pitch for n in score.tracks[0].notes} == {GM_ACOUSTIC_SNARE}
    assert score.tracks[0].program == 0


@dataclass
class _Stroke:
    index: int
    actual_time_ms: float
    actual_velocity: float
    buzz_count: int | None = None
    buzz_offsets_ms: tuple[float, ...] = ()
    buzz_velocities: tuple[int, ...] = ()


@dataclass
class _Performance:
    tempo_bpm: float
    duration_sec: float
    strokes: list[_Stroke] = field(default_factory=list)


def test_negative_times_are_refused_instead_of_shifting_labels():
    performance = _Performance(120, 1.0, [_Stroke(0, -3.0, 80), _Stroke(1, 100.0, 80)])
    with pytest.raises(NegativeTimeError, match="stroke 0"):
        performance_to_score(performance)


def test_mismatched_buzz_velocities_raise():
    stroke = _Stroke(0, 10.0, 80, 3, (0.0, 2.0, 4.0), (80, 70))
    with pytest.raises(ValueError, match="3 buzz offsets but 2 buzz velocities"):
        performance_notes([stroke])


def test_velocities_are_clamped_to_midi_range():
    notes = performance_notes([_Stroke(0, 0.0, 300.0), _Stroke(1, 5.0, -4.0)])
    assert [n.velocity for n in notes] == [127, 1]
