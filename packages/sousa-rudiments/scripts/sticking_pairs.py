"""Rudiments that sound alike except for their sticking, and what an evaluation report says about them.

Groups come from the rudiment library (the one source of truth): two rudiments are grouped when one
cycle has the same grid, slots, accents and grace notes once the hands are ignored — with ``--kind``
also the same stroke mechanism (a diddle's second stroke is a rebound, often softer and earlier). For
each group, the report's confusion matrix (rows = truth, columns = first-ranked) gives how often each
member was heard as itself or as its twin.

    uv run python packages/sousa-rudiments/scripts/sticking_pairs.py docs/recognition/held-out-players/report.json
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from sousa_rudiments.recognition.cache import RUDIMENT_SLUGS
from sousa_rudiments.rudiments import Rudiment, list_rudiments


def audible_signature(rudiment: Rudiment, *, with_kind: bool) -> tuple:
    """What one cycle sounds like if both hands sound the same."""
    strokes = tuple(
        (s.slot, s.accent, s.grace_notes, s.kind if with_kind else ("buzz" if s.kind == "buzz" else "stroke"))
        for s in rudiment.strokes
    )
    return rudiment.subdivision, rudiment.cycle_slots, strokes


def sticking_groups(*, with_kind: bool) -> list[list[str]]:
    groups: dict[tuple, list[str]] = defaultdict(list)
    for rudiment in list_rudiments():
        groups[audible_signature(rudiment, with_kind=with_kind)].append(rudiment.slug)
    return [slugs for slugs in groups.values() if len(slugs) > 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("report", type=Path, nargs="?", help="report.json of `sousa evaluate`")
    args = parser.parse_args(argv)
    confusion = None
    if args.report:
        report = json.loads(args.report.read_text())
        confusion = (
            report["confusion"]["matrix"] if isinstance(report["confusion"], dict) else report["confusion"]
        )
    for with_kind in (False, True):
        print(
            f"\n## same rhythm, accents and graces{' and stroke kinds' if with_kind else ''}; only hands differ"
        )
        for group in sticking_groups(with_kind=with_kind):
            print(f"- {' / '.join(group)}")
            if confusion is None:
                continue
            for truth in group:
                row = confusion[RUDIMENT_SLUGS.index(truth)]
                total = sum(row) or 1
                heard = ", ".join(
                    f"{other} {row[RUDIMENT_SLUGS.index(other)] / total:.0%}" for other in group
                )
                print(f"  - {truth} ({total} clips) heard as: {heard}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
