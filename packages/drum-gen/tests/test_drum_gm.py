"""GM constants and the 9-class reduction."""

import pytest
from drum_gen import gm


def test_core_pitches_match_general_midi() -> None:
    assert (gm.KICK, gm.SNARE, gm.CLOSED_HIHAT, gm.PEDAL_HIHAT, gm.OPEN_HIHAT) == (36, 38, 42, 44, 46)
    assert (gm.CRASH, gm.RIDE, gm.HIGH_FLOOR_TOM, gm.LOW_MID_TOM, gm.HIGH_TOM) == (49, 51, 43, 47, 50)
    assert gm.DRUM_CHANNEL == 9
    assert gm.GM_DRUM_RANGE == (35, 81)
    assert set(gm.GM_DRUM_NAMES) == set(range(35, 82))


def test_nine_classes_in_magenta_order_with_canonical_pitches() -> None:
    assert gm.DRUM_CLASSES == (
        "kick", "snare", "closed_hihat", "open_hihat", "low_tom", "mid_tom", "high_tom", "crash", "ride",
    )  # fmt: skip
    assert gm.CLASS_TO_PITCH == (36, 38, 42, 46, 45, 48, 50, 49, 51)
    for class_id, pitch in enumerate(gm.CLASS_TO_PITCH):
        assert gm.pitch_to_class(pitch) == class_id


@pytest.mark.parametrize(
    ("pitch", "name"),
    [(35, "kick"), (40, "snare"), (37, "snare"), (44, "closed_hihat"), (22, "closed_hihat"),
     (26, "open_hihat"), (43, "low_tom"), (47, "mid_tom"), (50, "high_tom"), (57, "crash"),
     (53, "ride"), (58, "crash")],
)  # fmt: skip
def test_reduction_of_td11_and_gm_pitches(pitch: int, name: str) -> None:
    assert gm.DRUM_CLASSES[gm.pitch_to_class(pitch)] == name


def test_every_gm_drum_pitch_has_a_class() -> None:
    for pitch in range(gm.GM_DRUM_RANGE[0], gm.GM_DRUM_RANGE[1] + 1):
        assert 0 <= gm.pitch_to_class(pitch) < gm.NUM_DRUM_CLASSES


def test_unknown_pitch_error_lists_mapped_pitches() -> None:
    with pytest.raises(gm.UnknownDrumPitchError, match="pitch 100 is not part"):
        gm.pitch_to_class(100)
    assert gm.canonical_pitch(22) == 42
    assert gm.drum_name(38) == "Acoustic Snare"
    assert gm.drum_name(5) == "pitch 5"
    assert gm.is_hihat(44) and not gm.is_hihat(38)
