"""The 40 PAS International Drum Rudiments as data.

Every rudiment is one row of ``_DEFINITIONS``: a compact sticking string plus its grid. The sticking grammar
(deliberately different from the reference notation so the tests, which parse the reference notation, check
this table independently):

* a token is one group of primary strokes played by one hand;
* one uppercase letter (``R``/``L``) is a single stroke; two letters (``RR``) a diddle (positions 1 and 2),
  three letters (``RRR``) a triple stroke (three taps);
* prefix ``f`` = flam (one grace note by the opposite hand), ``d`` = drag (two grace notes by the opposite
  hand, a same-hand double bounce), ``z`` = multiple-bounce (buzz) stroke, ``>`` = accent on the group's
  first stroke. Prefixes may appear in any order before the letters.

Primary strokes occupy consecutive slots of the subdivision grid unless ``slots`` is given explicitly (for
#30 and #35, whose double shares one slot, and for the mixed-rhythm rudiments #8, #36, #37, #39, #40). Grace
notes never occupy a slot: they are attached to their primary (``grace_notes``/``grace_hand``) and placed
before it in time by the performance generator. The cycle lasts ``cycle_slots`` slots: the last primary slot rounded up to the next whole beat, so
released rolls (#7–#15) and rudiments ending on a long note (#2, #3, #23, ...) rest until the next beat.

Choices where sources differ (also in each rudiment's ``notes``):

* #30 flam drag, ``lR LL R``: a flam accent (accent on the flam, triplet grid) whose middle note is a
  same-hand double — two left strokes sharing slot 1 (slots 1 and 1.5), labelled as a diddle. Sources that
  write the middle note as a drag (two grace notes) are not followed; the double counts as two primaries.
* #35 single dragadiddle, ``>R R L R R``: a paradiddle whose accented first note is a same-hand double
  sharing slot 0 (slots 0 and 0.5, accent on the first), labelled as a diddle; no grace notes.
* Lead alternation: every rudiment mirrors R↔L on the next cycle except #19 and #28 ("same lead" in the
  reference), #26 (the flammed #19), the continuous rolls #1, #4, #5, #6, and the rudiments whose one cycle
  already holds both leads (#8 ``>R LL RR >L``, #20 ``lR rL``, #22, #27, #29, #31): mirroring those would
  put two same-hand strokes (two left flams, ``L L rL``, ...) across the seam of two cycles.
* Time feel: #8, #36 and #37 are duple (16th grid) with 8th-note singles; #39 and #40 put 8th-note drags
  before a single ratamacue on the triplet grid so the closing accent falls on a beat (see their notes).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Literal

Hand = Literal["R", "L"]
StrokeKind = Literal["tap", "accent", "diddle", "buzz"]
Family = Literal["roll", "diddle", "flam", "drag"]

__all__ = [
    "RUDIMENTS",
    "Family",
    "Hand",
    "Rudiment",
    "RudimentStroke",
    "StrokeKind",
    "UnknownRudimentError",
    "get_rudiment",
    "list_rudiments",
    "other_hand",
]


def other_hand(hand: Hand) -> Hand:
    """The opposite hand."""
    return "L" if hand == "R" else "R"


@dataclass(frozen=True)
class RudimentStroke:
    """One primary stroke of a rudiment cycle, with the grace notes attached to it.

    ``kind`` is the stroke mechanism: ``diddle`` and ``buzz`` win over ``accent`` (an accented diddle stroke
    is kind ``diddle`` with ``accent=True``); ``accent`` is an accented single stroke, ``tap`` an unaccented
    one. ``grace_notes`` is 0, 1 (flam) or 2 (drag); graces are played by ``grace_hand`` just before this
    stroke and take no slot. ``slot`` is the stroke's position on the cycle's subdivision grid.
    """

    hand: Hand
    kind: StrokeKind
    accent: bool
    grace_notes: int
    grace_hand: Hand | None
    diddle_position: int | None
    slot: float

    def mirrored(self) -> RudimentStroke:
        """The same stroke played by the other hand (graces too)."""
        return replace(
            self,
            hand=other_hand(self.hand),
            grace_hand=None if self.grace_hand is None else other_hand(self.grace_hand),
        )

    @property
    def is_flam(self) -> bool:
        return self.grace_notes == 1

    @property
    def is_drag(self) -> bool:
        return self.grace_notes == 2


@dataclass(frozen=True)
class Rudiment:
    """One PAS rudiment: its strokes for a right-hand lead and the grid they sit on.

    ``subdivision`` is the number of grid slots per beat (2 = eighths, 3 = eighth triplets, 4 = sixteenths);
    ``cycle_slots`` the length of one cycle in slots. ``alternates_lead`` says whether the next cycle is
    mirrored (R↔L); ``notes`` records choices where sources differ.
    """

    number: int
    slug: str
    name: str
    family: Family
    subdivision: int
    cycle_slots: float
    strokes: tuple[RudimentStroke, ...]
    alternates_lead: bool
    notes: str = ""

    @property
    def time_feel(self) -> str:
        """Human name of the grid: eighths, triplets or sixteenths."""
        return {2: "eighths", 3: "triplets", 4: "sixteenths", 6: "sextuplets"}.get(
            self.subdivision, f"{self.subdivision} per beat"
        )

    @property
    def cycle_beats(self) -> float:
        """Length of one cycle in beats."""
        return self.cycle_slots / self.subdivision

    @property
    def num_primary_strokes(self) -> int:
        return len(self.strokes)

    @property
    def num_grace_notes(self) -> int:
        return sum(s.grace_notes for s in self.strokes)

    @property
    def has_flams(self) -> bool:
        return any(s.grace_notes == 1 for s in self.strokes)

    @property
    def has_drags(self) -> bool:
        return any(s.grace_notes == 2 for s in self.strokes)

    @property
    def has_diddles(self) -> bool:
        return any(s.diddle_position is not None for s in self.strokes)

    @property
    def has_accents(self) -> bool:
        return any(s.accent for s in self.strokes)

    @property
    def is_roll(self) -> bool:
        return self.family == "roll"

    def cycle(self, lead: Hand = "R") -> tuple[RudimentStroke, ...]:
        """The strokes of one cycle led by ``lead`` (mirrored R↔L for a left lead)."""
        if lead not in ("R", "L"):
            raise ValueError(f"lead must be 'R' or 'L', got {lead!r}")
        if lead == "R":
            return self.strokes
        return tuple(s.mirrored() for s in self.strokes)

    def lead_for_cycle(self, cycle_index: int, first_lead: Hand = "R") -> Hand:
        """The lead hand of cycle ``cycle_index`` when the first cycle is led by ``first_lead``."""
        if self.alternates_lead and cycle_index % 2 == 1:
            return other_hand(first_lead)
        return first_lead


_TOKEN = re.compile(r"^(?P<prefix>[>fdz]*)(?P<hands>R{1,3}|L{1,3})$")


def _parse_sticking(sticking: str, slots: tuple[float, ...] | None) -> tuple[RudimentStroke, ...]:
    """Parse the library's sticking grammar (see module docstring) into strokes."""
    strokes: list[RudimentStroke] = []
    for token in sticking.split():
        match = _TOKEN.match(token)
        if match is None:
            raise ValueError(f"bad sticking token {token!r} in {sticking!r}")
        prefix, hands = match["prefix"], match["hands"]
        hand: Hand = "R" if hands[0] == "R" else "L"
        graces = 1 if "f" in prefix else 2 if "d" in prefix else 0
        for position in range(len(hands)):
            first = position == 0
            accent = first and ">" in prefix
            diddle_position = position + 1 if len(hands) == 2 else None
            kind: StrokeKind
            if "z" in prefix:
                kind = "buzz"
            elif diddle_position is not None:
                kind = "diddle"
            elif accent:
                kind = "accent"
            else:
                kind = "tap"
            strokes.append(
                RudimentStroke(
                    hand=hand,
                    kind=kind,
                    accent=accent,
                    grace_notes=graces if first else 0,
                    grace_hand=other_hand(hand) if first and graces else None,
                    diddle_position=diddle_position,
                    slot=float(len(strokes)),
                )
            )
    if slots is not None:
        if len(slots) != len(strokes) or list(slots) != sorted(slots):
            raise ValueError(f"slots {slots} do not fit the {len(strokes)} strokes of {sticking!r}")
        strokes = [replace(s, slot=float(slot)) for s, slot in zip(strokes, slots, strict=True)]
    return tuple(strokes)


# (number, slug, name, family, subdivision, sticking, alternates_lead, slots, notes)
_DEFINITIONS: tuple[tuple[int, str, str, Family, int, str, bool, tuple[float, ...] | None, str], ...] = (
    (1, "single-stroke-roll", "Single Stroke Roll", "roll", 4, "R L R L", False, None,
     "Continuous: the cycle repeats unchanged (mirroring R L R L would put two L strokes across the seam)."),
    (2, "single-stroke-four", "Single Stroke Four", "roll", 3, "R L R L", True, None,
     "Three triplet strokes leading into the fourth on the next beat; no accents."),
    (3, "single-stroke-seven", "Single Stroke Seven", "roll", 3, "R L R L R L R", True, None,
     "Six triplet strokes leading into the seventh on the next beat; no accents."),
    (4, "multiple-bounce-roll", "Multiple Bounce Roll", "roll", 4, "zR zL zR zL", False, None,
     "Continuous buzz strokes; the cycle repeats unchanged."),
    (5, "triple-stroke-roll", "Triple Stroke Roll", "roll", 3, "RRR LLL", False, None,
     "Continuous; three taps per hand on triplets, the cycle repeats unchanged."),
    (6, "double-stroke-open-roll", "Double Stroke Open Roll", "roll", 4, "RR LL", False, None,
     "Continuous diddles; the cycle repeats unchanged."),
    (7, "five-stroke-roll", "Five Stroke Roll", "roll", 4, "RR LL >R", True, None, ""),
    (8, "six-stroke-roll", "Six Stroke Roll", "roll", 4, ">R LL RR >L", False, (0.0, 2.0, 3.0, 4.0, 5.0, 6.0),
     "Duple feel: accented singles are 8th notes, the diddles 16ths (counted 1 & a 2 e &; PAS sheet as "
     "transcribed by drumrudimentsystem/26drumrudiments: singles at half the speed of the doubles). Same "
     "lead: the cycle already ends on the other hand, so R LL RR L repeats unchanged."),
    (9, "seven-stroke-roll", "Seven Stroke Roll", "roll", 4, "RR LL RR >L", True, None, ""),
    (10, "nine-stroke-roll", "Nine Stroke Roll", "roll", 4, "RR LL RR LL >R", True, None, ""),
    (11, "ten-stroke-roll", "Ten Stroke Roll", "roll", 4, "RR LL RR LL >R >L", True, None, ""),
    (12, "eleven-stroke-roll", "Eleven Stroke Roll", "roll", 4, "RR LL RR LL RR >L", True, None, ""),
    (13, "thirteen-stroke-roll", "Thirteen Stroke Roll", "roll", 4, "RR LL RR LL RR LL >R", True, None, ""),
    (14, "fifteen-stroke-roll", "Fifteen Stroke Roll", "roll", 4, "RR LL RR LL RR LL RR >L", True, None, ""),
    (15, "seventeen-stroke-roll", "Seventeen Stroke Roll", "roll", 4, "RR LL RR LL RR LL RR LL >R", True,
     None, ""),
    (16, "single-paradiddle", "Single Paradiddle", "diddle", 4, ">R L RR", True, None, ""),
    (17, "double-paradiddle", "Double Paradiddle", "diddle", 3, ">R L R L RR", True, None, ""),
    (18, "triple-paradiddle", "Triple Paradiddle", "diddle", 4, ">R L R L R L RR", True, None, ""),
    (19, "single-paradiddle-diddle", "Single Paradiddle-Diddle", "diddle", 3, ">R L RR LL", False, None,
     "Same lead every cycle."),
    (20, "flam", "Flam", "flam", 2, "fR fL", False, None,
     "The cycle holds both hands (lR rL), so it repeats unchanged: mirroring would play two left flams."),
    (21, "flam-accent", "Flam Accent", "flam", 3, ">fR L R", True, None, "Triplet feel; accent on the flam."),
    (22, "flam-tap", "Flam Tap", "flam", 4, "fR R fL L", False, None,
     "The cycle holds both hands (lR R rL L), so it repeats unchanged."),
    (23, "flamacue", "Flamacue", "flam", 4, "fR >L R L fR", True, None,
     "Accent on the second note; the closing flam falls on the next beat."),
    (24, "flam-paradiddle", "Flam Paradiddle", "flam", 4, "fR L RR", True, None, ""),
    (25, "single-flammed-mill", "Single Flammed Mill", "flam", 4, "fR R L R", True, None, ""),
    (26, "flam-paradiddle-diddle", "Flam Paradiddle-Diddle", "flam", 3, "fR L RR LL", False, None,
     "Same lead, like #19 (its unflammed form): mirroring would play L L rL, three left strokes in a row."),
    (27, "pataflafla", "Pataflafla", "flam", 4, "fR L R fL", False, None,
     "Flams on the first and fourth notes; PAS repeats lR L R rL unchanged (mirroring: two left flams)."),
    (28, "swiss-army-triplet", "Swiss Army Triplet", "flam", 3, "fR R L", False, None, "Same lead every cycle."),
    (29, "inverted-flam-tap", "Inverted Flam Tap", "flam", 4, "fR L fL R", False, None,
     "The cycle holds both hands (lR L rL R), so it repeats unchanged."),
    (30, "flam-drag", "Flam Drag", "flam", 3, ">fR LL R", True, (0.0, 1.0, 1.5, 2.0),
     "Chosen reading: a flam accent (accent on the flam, triplet grid) whose second note is a same-hand "
     "double: two fast left strokes sharing slot 1 (at slots 1 and 1.5), played as a diddle. Other sources "
     "write it as a drag (two left grace notes) before the middle note; we follow the reference sticking "
     "lR LL R, so the double counts as two primary strokes."),
    (31, "drag", "Drag", "drag", 2, "dR dL", False, None,
     "The cycle holds both hands (llR rrL), so it repeats unchanged: mirroring would play two left drags."),
    (32, "single-drag-tap", "Single Drag Tap", "drag", 2, "dR >L", True, None, "Accent on the tap."),
    (33, "double-drag-tap", "Double Drag Tap", "drag", 3, "dR dR >L", True, None, "Accent on the tap."),
    (34, "lesson-25", "Lesson 25", "drag", 4, "dR L >R", True, None, ""),
    (35, "single-dragadiddle", "Single Dragadiddle", "drag", 4, ">RR L RR", True, (0.0, 0.5, 1.0, 2.0, 3.0),
     "Chosen reading: a paradiddle whose first (accented) stroke is a same-hand double sharing slot 0 "
     "(strokes at slots 0 and 0.5, accent on the first), i.e. >R R L R R with the first two R as a diddle. "
     "Other sources write the first note as a drag (two grace notes); we keep the reference sticking, so the "
     "double counts as two primary strokes and no stroke carries grace notes."),
    (36, "drag-paradiddle-1", "Drag Paradiddle #1", "drag", 4, ">R dR L RR", True, (0.0, 4.0, 5.0, 6.0, 7.0),
     "Duple feel: an accented single on the beat held for a beat, then a 16th-note dragged paradiddle on "
     "the next beat (PAS sheet as transcribed by drumrudimentsystem, 40drumrudiments: 'a quarter note "
     "single stroke and a 16th note dragged single paradiddle')."),
    (37, "drag-paradiddle-2", "Drag Paradiddle #2", "drag", 4, ">R dR dR L RR", True,
     (0.0, 2.0, 4.0, 5.0, 6.0, 7.0),
     "Duple feel: two 8th notes (>R, llR) leading into the 16th-note dragged paradiddle of #36 on the next "
     "beat (freedrumlessons: 'the original variation is just moved down to the two-count')."),
    (38, "single-ratamacue", "Single Ratamacue", "drag", 3, "dR L R >L", True, None, ""),
    (39, "double-ratamacue", "Double Ratamacue", "drag", 3, "dR dR L R >L", True, (0.0, 3.0, 4.0, 5.0, 6.0),
     "Both drags on the same hand. PAS sheet: an 8th-note drag leading into a single ratamacue (#38, on the "
     "same triplet grid), so the accent lands on a beat (slot 6), not on a triplet partial."),
    (40, "triple-ratamacue", "Triple Ratamacue", "drag", 3, "dR dR dR L R >L", True,
     (0.0, 3.0, 6.0, 7.0, 8.0, 9.0),
     "All three drags on the same hand. PAS sheet: two 8th-note drags leading into a single ratamacue, so "
     "the accent lands on a beat (slot 9)."),
)  # fmt: skip


def _build(row: tuple[int, str, str, Family, int, str, bool, tuple[float, ...] | None, str]) -> Rudiment:
    number, slug, name, family, subdivision, sticking, alternates, slots, notes = row
    strokes = _parse_sticking(sticking, slots)
    last_slot = max(s.slot for s in strokes)
    cycle_slots = float(math.ceil((math.floor(last_slot) + 1) / subdivision) * subdivision)
    return Rudiment(
        number=number,
        slug=slug,
        name=name,
        family=family,
        subdivision=subdivision,
        cycle_slots=cycle_slots,
        strokes=strokes,
        alternates_lead=alternates,
        notes=notes,
    )


RUDIMENTS: dict[str, Rudiment] = {row[1]: _build(row) for row in _DEFINITIONS}
"""All 40 rudiments keyed by slug, in PAS order."""


class UnknownRudimentError(ValueError):
    """Raised for a slug that names no PAS rudiment; the message lists the valid slugs."""

    def __init__(self, slug: str) -> None:
        self.slug = slug
        super().__init__(f"unknown rudiment {slug!r}; valid slugs: {', '.join(RUDIMENTS)}")


def get_rudiment(slug: str) -> Rudiment:
    """The rudiment named ``slug`` (e.g. ``"single-paradiddle"``); underscores are accepted for hyphens."""
    key = slug.strip().lower().replace("_", "-")
    try:
        return RUDIMENTS[key]
    except KeyError:
        raise UnknownRudimentError(slug) from None


def list_rudiments() -> list[Rudiment]:
    """All rudiments in PAS order (#1–#40)."""
    return sorted(RUDIMENTS.values(), key=lambda r: r.number)
