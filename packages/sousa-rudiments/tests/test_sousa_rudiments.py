"""The rudiment library against an independent copy of shared/reference/pas-rudiments.md.

The reference stickings are written below in the reference's own notation (``lR`` flam, ``llR`` drag,
``>`` accent, ``z`` buzz) and parsed by a tiny parser that shares no code with the library.
"""

from __future__ import annotations

import re
from dataclasses import replace
from itertools import pairwise

import numpy as np
import pytest
from sousa_rudiments.performance import StrokeEvent, generate_performance
from sousa_rudiments.profiles import sample_profile
from sousa_rudiments.rudiments import RUDIMENTS, UnknownRudimentError, get_rudiment, list_rudiments

# number: (slug, family, one cycle in reference notation). Accents that the reference gives in its notes
# column rather than in the sticking (#21 "accent on the flam", #30 "flam accent whose 2nd note ...") are
# written into the sticking here. #30's "LL" (two fast strokes in one slot) is written as two strokes.
REFERENCE: dict[int, tuple[str, str, str]] = {
    1: ("single-stroke-roll", "roll", "R L R L"),
    2: ("single-stroke-four", "roll", "R L R L"),
    3: ("single-stroke-seven", "roll", "R L R L R L R"),
    4: ("multiple-bounce-roll", "roll", "zR zL zR zL"),
    5: ("triple-stroke-roll", "roll", "R R R L L L"),
    6: ("double-stroke-open-roll", "roll", "R R L L"),
    7: ("five-stroke-roll", "roll", "R R L L >R"),
    8: ("six-stroke-roll", "roll", ">R L L R R >L"),
    9: ("seven-stroke-roll", "roll", "R R L L R R >L"),
    10: ("nine-stroke-roll", "roll", "R R L L R R L L >R"),
    11: ("ten-stroke-roll", "roll", "R R L L R R L L >R >L"),
    12: ("eleven-stroke-roll", "roll", "R R L L R R L L R R >L"),
    13: ("thirteen-stroke-roll", "roll", "R R L L R R L L R R L L >R"),
    14: ("fifteen-stroke-roll", "roll", "R R L L R R L L R R L L R R >L"),
    15: ("seventeen-stroke-roll", "roll", "R R L L R R L L R R L L R R L L >R"),
    16: ("single-paradiddle", "diddle", ">R L R R"),
    17: ("double-paradiddle", "diddle", ">R L R L R R"),
    18: ("triple-paradiddle", "diddle", ">R L R L R L R R"),
    19: ("single-paradiddle-diddle", "diddle", ">R L R R L L"),
    20: ("flam", "flam", "lR rL"),
    21: ("flam-accent", "flam", ">lR L R"),
    22: ("flam-tap", "flam", "lR R rL L"),
    23: ("flamacue", "flam", "lR >L R L lR"),
    24: ("flam-paradiddle", "flam", "lR L R R"),
    25: ("single-flammed-mill", "flam", "lR R L R"),
    26: ("flam-paradiddle-diddle", "flam", "lR L R R L L"),
    27: ("pataflafla", "flam", "lR L R rL"),
    28: ("swiss-army-triplet", "flam", "lR R L"),
    29: ("inverted-flam-tap", "flam", "lR L rL R"),
    30: ("flam-drag", "flam", ">lR L L R"),
    31: ("drag", "drag", "llR rrL"),
    32: ("single-drag-tap", "drag", "llR >L"),
    33: ("double-drag-tap", "drag", "llR llR >L"),
    34: ("lesson-25", "drag", "llR L >R"),
    35: ("single-dragadiddle", "drag", ">R R L R R"),
    36: ("drag-paradiddle-1", "drag", ">R llR L R R"),
    37: ("drag-paradiddle-2", "drag", ">R llR llR L R R"),
    38: ("single-ratamacue", "drag", "llR L R >L"),
    39: ("double-ratamacue", "drag", "llR llR L R >L"),
    40: ("triple-ratamacue", "drag", "llR llR llR L R >L"),
}
# "same lead" in the reference, plus the continuous rolls whose cycle repeats unchanged (mirroring R L R L
# or R R L L would put two same-hand strokes across the seam of two cycles).
# #26 is the flammed #19; #8, #20, #22, #27, #29 and #31 already hold both leads in one cycle (see PLAYED).
SAME_LEAD = {8, 19, 20, 22, 26, 27, 28, 29, 31}
CONTINUOUS_ROLLS = {1, 4, 5, 6}

_REF_TOKEN = re.compile(r"^(?P<accent>>?)(?P<graces>[rl]*)(?P<buzz>z?)(?P<hand>[RL])$")


def parse_reference(notation: str) -> list[dict[str, object]]:
    """One dict per primary stroke: hand, accent, buzz, grace count and grace hand."""
    strokes = []
    for token in notation.split():
        match = _REF_TOKEN.match(token)
        assert match is not None, token
        graces = match["graces"]
        assert len(set(graces)) <= 1, token
        strokes.append(
            {
                "hand": match["hand"],
                "accent": bool(match["accent"]),
                "buzz": bool(match["buzz"]),
                "graces": len(graces),
                "grace_hand": graces[0].upper() if graces else None,
            }
        )
    return strokes


def test_library_has_the_forty_pas_rudiments_in_order() -> None:
    assert len(RUDIMENTS) == 40
    assert [r.number for r in list_rudiments()] == list(range(1, 41))
    assert {r.number: r.slug for r in RUDIMENTS.values()} == {n: ref[0] for n, ref in REFERENCE.items()}


@pytest.mark.parametrize("number", sorted(REFERENCE))
def test_rudiment_matches_reference_sticking(number: int) -> None:
    slug, family, notation = REFERENCE[number]
    rudiment = get_rudiment(slug)
    expected = parse_reference(notation)
    assert rudiment.number == number
    assert rudiment.family == family
    strokes = rudiment.cycle("R")
    assert len(strokes) == len(expected), "count of primary strokes"
    assert [s.hand for s in strokes] == [e["hand"] for e in expected], "hands"
    assert [i for i, s in enumerate(strokes) if s.accent] == [
        i for i, e in enumerate(expected) if e["accent"]
    ]
    assert [s.grace_notes for s in strokes] == [e["graces"] for e in expected], "grace placement and count"
    assert [s.grace_hand for s in strokes] == [e["grace_hand"] for e in expected], "grace hands"
    assert [s.kind == "buzz" for s in strokes] == [e["buzz"] for e in expected]
    assert rudiment.alternates_lead == (number not in SAME_LEAD | CONTINUOUS_ROLLS)


@pytest.mark.parametrize("slug", sorted(RUDIMENTS))
def test_graces_take_no_slot_and_primaries_fit_the_cycle(slug: str) -> None:
    rudiment = get_rudiment(slug)
    slots = [s.slot for s in rudiment.strokes]
    assert slots[0] == 0.0
    assert all(b > a for a, b in pairwise(slots)), "one slot per primary, increasing"
    assert slots[-1] < rudiment.cycle_slots
    assert rudiment.cycle_slots % rudiment.subdivision == 0, "cycles end on a beat"
    if rudiment.number not in (8, 30, 35, 36, 37, 39, 40):  # shared-slot doubles; mixed rhythms (sheet test)
        assert slots == [float(i) for i in range(len(slots))], "consecutive slots: graces do not take one"


@pytest.mark.parametrize("slug", sorted(RUDIMENTS))
def test_diddles_are_same_hand_pairs_and_kinds_are_consistent(slug: str) -> None:
    strokes = get_rudiment(slug).strokes
    for i, stroke in enumerate(strokes):
        if stroke.diddle_position == 1:
            second = strokes[i + 1]
            assert second.diddle_position == 2 and second.hand == stroke.hand
            assert second.grace_notes == 0 and not second.accent
        if stroke.diddle_position == 2:
            assert strokes[i - 1].diddle_position == 1
        if stroke.diddle_position is not None:
            assert stroke.kind == "diddle"
        elif stroke.kind != "buzz":
            assert stroke.kind == ("accent" if stroke.accent else "tap")
        assert (stroke.grace_hand is None) == (stroke.grace_notes == 0)
        if stroke.grace_hand is not None:
            assert stroke.grace_hand != stroke.hand, "flam and drag graces come from the other hand"


def test_double_stroke_rolls_and_paradiddles_have_diddles_where_expected() -> None:
    for number in range(6, 16):
        rudiment = list_rudiments()[number - 1]
        for stroke in rudiment.strokes:
            if not stroke.accent:
                assert stroke.diddle_position in (1, 2), rudiment.slug
    paradiddle = get_rudiment("single-paradiddle").strokes
    assert [s.diddle_position for s in paradiddle] == [None, None, 1, 2]
    assert [s.diddle_position for s in get_rudiment("triple-stroke-roll").strokes] == [None] * 6


def test_flam_drag_and_dragadiddle_double_shares_one_slot_and_choice_is_documented() -> None:
    flam_drag = get_rudiment("flam-drag")
    assert [s.slot for s in flam_drag.strokes] == [0.0, 1.0, 1.5, 2.0]
    assert [s.diddle_position for s in flam_drag.strokes] == [None, 1, 2, None]
    assert "same-hand double" in flam_drag.notes
    dragadiddle = get_rudiment("single-dragadiddle")
    assert [s.slot for s in dragadiddle.strokes] == [0.0, 0.5, 1.0, 2.0, 3.0]
    assert [s.diddle_position for s in dragadiddle.strokes] == [1, 2, None, 1, 2]
    assert "same-hand double" in dragadiddle.notes and "Other sources" in dragadiddle.notes


@pytest.mark.parametrize("slug", sorted(RUDIMENTS))
def test_left_lead_cycle_is_the_mirror(slug: str) -> None:
    rudiment = get_rudiment(slug)
    right, left = rudiment.cycle("R"), rudiment.cycle("L")
    swap = {"R": "L", "L": "R", None: None}
    assert [s.hand for s in left] == [swap[s.hand] for s in right]
    assert [s.grace_hand for s in left] == [swap[s.grace_hand] for s in right]
    assert [(s.accent, s.kind, s.slot, s.grace_notes) for s in left] == [
        (s.accent, s.kind, s.slot, s.grace_notes) for s in right
    ]
    expected_second_lead = "L" if rudiment.alternates_lead else "R"
    assert rudiment.lead_for_cycle(1, "R") == expected_second_lead
    assert rudiment.lead_for_cycle(2, "R") == "R"


def test_paradiddle_next_cycle_is_mirrored() -> None:
    paradiddle = get_rudiment("single-paradiddle")
    second = paradiddle.cycle(paradiddle.lead_for_cycle(1, "R"))
    assert [(">" if s.accent else "") + s.hand for s in second] == [">L", "R", "L", "L"]


def test_unknown_rudiment_error_lists_valid_slugs() -> None:
    with pytest.raises(UnknownRudimentError, match="valid slugs: single-stroke-roll") as info:
        get_rudiment("paradiddle-flamadiddle")
    assert isinstance(info.value, ValueError)
    assert "triple-ratamacue" in str(info.value)
    assert get_rudiment("Single_Paradiddle").number == 16
    with pytest.raises(ValueError, match="lead"):
        get_rudiment("flam").cycle("X")  # type: ignore[arg-type]


def test_time_feel_follows_the_reference_notes() -> None:
    # #21 "triplet feel"; #28 is a triplet by name; #2 "3 fast + 1" and #3 "6 fast + 1": the last stroke
    # lands on the beat after a run of triplet subdivisions.
    for slug in ("flam-accent", "swiss-army-triplet", "single-stroke-four", "single-stroke-seven"):
        rudiment = get_rudiment(slug)
        assert (rudiment.subdivision, rudiment.time_feel) == (3, "triplets"), slug
    for slug, fast in (("single-stroke-four", 3), ("single-stroke-seven", 6)):
        slots = [s.slot for s in get_rudiment(slug).strokes]
        assert slots == [float(i) for i in range(fast + 1)]
        assert slots[-1] % 3 == 0, f"{slug}: the closing stroke is on a beat"
    assert (get_rudiment("single-paradiddle").subdivision, get_rudiment("single-paradiddle").time_feel) == (
        4,
        "sixteenths",
    )


# Three cycles as a right-handed player must play them, written by hand from the PAS table (not derived from
# the library): "same lead" rudiments repeat, the others mirror. Notation as REFERENCE; graces precede their
# primary. Mirroring #8, #20, #22, #27, #29, #31 would play two left flams/drags or L L across the seam.
PLAYED: dict[int, str] = {
    1: "R L R L  R L R L  R L R L",
    2: "R L R L  L R L R  R L R L",
    3: "R L R L R L R  L R L R L R L  R L R L R L R",
    4: "zR zL zR zL  zR zL zR zL  zR zL zR zL",
    5: "R R R L L L  R R R L L L  R R R L L L",
    6: "R R L L  R R L L  R R L L",
    7: "R R L L >R  L L R R >L  R R L L >R",
    8: ">R L L R R >L  >R L L R R >L  >R L L R R >L",
    9: "R R L L R R >L  L L R R L L >R  R R L L R R >L",
    10: "R R L L R R L L >R  L L R R L L R R >L  R R L L R R L L >R",
    11: "R R L L R R L L >R >L  L L R R L L R R >L >R  R R L L R R L L >R >L",
    12: "R R L L R R L L R R >L  L L R R L L R R L L >R  R R L L R R L L R R >L",
    13: "R R L L R R L L R R L L >R  L L R R L L R R L L R R >L  R R L L R R L L R R L L >R",
    14: "R R L L R R L L R R L L R R >L  L L R R L L R R L L R R L L >R  R R L L R R L L R R L L R R >L",
    15: "R R L L R R L L R R L L R R L L >R  L L R R L L R R L L R R L L R R >L  "
    "R R L L R R L L R R L L R R L L >R",
    16: ">R L R R  >L R L L  >R L R R",
    17: ">R L R L R R  >L R L R L L  >R L R L R R",
    18: ">R L R L R L R R  >L R L R L R L L  >R L R L R L R R",
    19: ">R L R R L L  >R L R R L L  >R L R R L L",
    20: "lR rL  lR rL  lR rL",
    21: ">lR L R  >rL R L  >lR L R",
    22: "lR R rL L  lR R rL L  lR R rL L",
    23: "lR >L R L lR  rL >R L R rL  lR >L R L lR",
    24: "lR L R R  rL R L L  lR L R R",
    25: "lR R L R  rL L R L  lR R L R",
    26: "lR L R R L L  lR L R R L L  lR L R R L L",
    27: "lR L R rL  lR L R rL  lR L R rL",
    28: "lR R L  lR R L  lR R L",
    29: "lR L rL R  lR L rL R  lR L rL R",
    30: ">lR L L R  >rL R R L  >lR L L R",
    31: "llR rrL  llR rrL  llR rrL",
    32: "llR >L  rrL >R  llR >L",
    33: "llR llR >L  rrL rrL >R  llR llR >L",
    34: "llR L >R  rrL R >L  llR L >R",
    35: ">R R L R R  >L L R L L  >R R L R R",
    36: ">R llR L R R  >L rrL R L L  >R llR L R R",
    37: ">R llR llR L R R  >L rrL rrL R L L  >R llR llR L R R",
    38: "llR L R >L  rrL R L >R  llR L R >L",
    39: "llR llR L R >L  rrL rrL R L >R  llR llR L R >L",
    40: "llR llR llR L R >L  rrL rrL rrL R L >R  llR llR llR L R >L",
}


def _played_notation(strokes: list[StrokeEvent]) -> str:
    """The performance as heard (actual-time order) in reference notation."""
    tokens: list[str] = []
    graces = ""
    for stroke in sorted(strokes, key=lambda s: s.actual_time_ms):
        if stroke.is_grace_note:
            graces += stroke.hand.lower()
            continue
        buzz = "z" if stroke.stroke_type == "buzz" else ""
        tokens.append((">" if stroke.is_accent else "") + graces + buzz + stroke.hand)
        graces = ""
    assert not graces, "a grace note after the last primary"
    return " ".join(tokens)


_STEADY = replace(
    sample_profile("pro-ref", "professional", np.random.default_rng(0), dominant_hand="R"),
    timing_accuracy_ms=2.0,
    accent_accuracy=1.0,
)


@pytest.mark.parametrize("number", sorted(PLAYED))
def test_played_sequence_over_three_cycles_matches_pas(number: int) -> None:
    rudiment = list_rudiments()[number - 1]
    performance = generate_performance(rudiment, _STEADY, 90, num_cycles=3, seed=1)
    assert _played_notation(performance.strokes) == " ".join(PLAYED[number].split())


# Onsets of the first cycle in beats from the sheet (PAS, see each rudiment's notes), and the next cycle's
# start. #8: 8th, four 16ths, 8th. #36: quarter, four 16ths. #37: two 8ths, four 16ths. #39/#40: on #38's
# grid (a triplet per beat), 8th-note drags on beats, then llR L R as a triplet and the accent on the beat.
SHEET_ONSETS_BEATS: dict[str, tuple[list[float], float]] = {
    "six-stroke-roll": ([0, 0.5, 0.75, 1, 1.25, 1.5], 2),
    "drag-paradiddle-1": ([0, 1, 1.25, 1.5, 1.75], 2),
    "drag-paradiddle-2": ([0, 0.5, 1, 1.25, 1.5, 1.75], 2),
    "single-ratamacue": ([0, 1 / 3, 2 / 3, 1], 2),
    "double-ratamacue": ([0, 1, 4 / 3, 5 / 3, 2], 3),
    "triple-ratamacue": ([0, 1, 2, 7 / 3, 8 / 3, 3], 4),
}


@pytest.mark.parametrize("slug", sorted(SHEET_ONSETS_BEATS))
def test_mixed_rhythm_onsets_follow_the_sheet(slug: str) -> None:
    onsets, cycle_beats = SHEET_ONSETS_BEATS[slug]
    tempo = 100.0
    performance = generate_performance(get_rudiment(slug), _STEADY, tempo, num_cycles=2, seed=0)
    beat_ms = 60_000.0 / tempo
    primaries = performance.primary_strokes
    beats = [(s.intended_time_ms - performance.lead_in_ms) / beat_ms for s in primaries]
    assert beats[: len(onsets)] == pytest.approx(onsets, abs=1e-4)
    assert beats[len(onsets)] == pytest.approx(cycle_beats, abs=1e-4)
    accents = [b for b, s in zip(beats, primaries, strict=True) if s.is_accent]
    if "ratamacue" in slug:
        assert all(abs(b - round(b)) < 1e-4 for b in accents), "the closing accent lands on a beat"
