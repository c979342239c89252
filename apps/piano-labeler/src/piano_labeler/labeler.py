"""A labelling session without the page: which segments are presented, what each shows, saving, progress.

The Gradio page (:mod:`piano_labeler.app`) only turns these calls into components, so everything a
labeller relies on — resume at the first unlabelled segment, saves that merge rather than drop, the
calibration pass kept apart from the first one — is testable without a browser.

A segment counts as labelled once it has a record, i.e. once any of its controls was changed: every
change saves all of the segment's sliders as they stand, so a slider left at its default is saved at the
default. Moving between segments saves nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from piano_labeler.calibration import ConsistencyReport, choose_anchors, self_consistency
from piano_labeler.config import SCALE_MAX, SCALE_MIN, LabelerConfig
from piano_labeler.segments import Segment, SegmentList, relative_or_absolute
from piano_labeler.store import CALIBRATION_PASS, MAIN_PASS, Annotation, LabelStore, now_iso


class SaveError(ValueError):
    """A save request the session cannot honour (unknown segment, a slider without a value)."""


def default_calibration_path(out: Path) -> Path:
    """``labels.jsonl`` → ``labels.calibration.jsonl``, next to it."""
    return out.with_name(f"{out.stem}.calibration{out.suffix or '.jsonl'}")


@dataclass(frozen=True)
class SegmentView:
    """What the page shows for one presented segment (values in the config's dimension order)."""

    index: int
    total: int
    segment: Segment
    labels: tuple[float, ...]
    uncertain: tuple[bool, ...]
    comment: str
    labelled: bool


class Labeler:
    """One labeller's session over a segment list (or, with ``config.calibration``, over its anchors)."""

    def __init__(
        self,
        segments: SegmentList,
        config: LabelerConfig,
        out: str | Path,
        calibration_out: str | Path | None = None,
    ) -> None:
        self.segments = segments
        self.config = config
        self.first = LabelStore(out, pass_name=MAIN_PASS)
        self.second: LabelStore | None = None
        if config.calibration:
            path = Path(calibration_out) if calibration_out else default_calibration_path(Path(out))
            if path.resolve() == Path(out).resolve():
                raise ValueError(f"{path}: the calibration file must not be the labels file")
            self.second = LabelStore(path, pass_name=CALIBRATION_PASS)
            self.items: tuple[Segment, ...] = tuple(
                choose_anchors(
                    segments.segments, self.first.records(), count=config.anchors, keys=config.anchor_keys
                )
            )
        else:
            self.items = segments.segments
        self._positions = {segment.key: i for i, segment in enumerate(self.items)}
        self._latest: dict[tuple[str, str], int] = {}  # (page id, key) -> newest change number saved
        self._save_lock = threading.Lock()

    # ------------------------------------------------------------------------------------------- queries
    @property
    def store(self) -> LabelStore:
        """The file this session writes: the labels, or in calibration the second ratings."""
        return self.second if self.second is not None else self.first

    @property
    def total(self) -> int:
        return len(self.items)

    def refresh(self) -> None:
        """Pick up edits made to the files on disk since they were last read (a page load calls it)."""
        self.first.refresh()
        if self.second is not None:
            self.second.refresh()

    def index_of(self, key: str) -> int:
        try:
            return self._positions[key]
        except KeyError:
            raise SaveError(f"unknown segment {key!r}") from None

    def is_labelled(self, index: int) -> bool:
        return self.items[index].key in self.store

    def labelled_count(self) -> int:
        return sum(segment.key in self.store for segment in self.items)

    def first_unlabelled(self) -> int:
        """Where to resume: the first segment without a record; the first segment when all have one."""
        return next((i for i in range(self.total) if not self.is_labelled(i)), 0)

    def next_unlabelled(self, after: int) -> int:
        """The next segment without a record after ``after``, wrapping around; ``after`` if there is none."""
        for step in range(1, self.total + 1):
            i = (after + step) % self.total
            if not self.is_labelled(i):
                return i
        return after

    def step(self, index: int, delta: int) -> int:
        return min(max(index + delta, 0), self.total - 1)

    def view(self, index: int) -> SegmentView:
        """The segment and its saved values; defaults when it has no record.

        In calibration the values are those of the calibration pass only: showing the first ratings
        would anchor the second ones on them.
        """
        segment = self.items[index]
        record = self.store.get(segment.key)
        dims = self.config.dimensions
        default = self.config.slider_default
        if record is None:
            return SegmentView(
                index, self.total, segment, (default,) * len(dims), (False,) * len(dims), "", False
            )
        return SegmentView(
            index,
            self.total,
            segment,
            tuple(record.labels.get(d, default) for d in dims),
            tuple(record.uncertain.get(d, False) for d in dims),
            record.comment,
            True,
        )

    def consistency(self) -> ConsistencyReport | None:
        """First vs calibration ratings over every twice-rated segment; None outside calibration."""
        if self.second is None:
            return None
        return self_consistency(self.first.records(), self.second.records(), self.config.dimensions)

    def unmatched_records(self) -> list[str]:
        """Keys in the labels file that are no segment of this dataset (another dataset's labels?)."""
        keys = {segment.key for segment in self.segments}
        return [key for key in self.first if key not in keys]

    # ---------------------------------------------------------------------------------------------- save
    def save(
        self,
        key: str,
        labels: Sequence[float | None],
        uncertain: Sequence[bool | None],
        comment: str | None,
        *,
        order: tuple[str, int] | None = None,
    ) -> Annotation | None:
        """Record the segment's values now on the page (all dimensions, in config order) and write the file.

        Labels of dimensions outside this session's config, saved by an earlier session, are kept.

        ``order`` is ``(page id, sequence number)``, counted up by the page for each change it sends.
        Gradio may run a page's events out of order (its queue takes requests in arrival order, and
        parallel HTTP requests can overtake one another), so a change older than one already saved for
        the segment from the same page is dropped (None) instead of overwriting the newer values.
        """
        dims = self.config.dimensions
        index = self.index_of(key)
        if len(labels) != len(dims) or len(uncertain) != len(dims):
            raise SaveError(
                f"expected {len(dims)} labels and uncertain flags, got {len(labels)}/{len(uncertain)}"
            )
        values: dict[str, float] = {}
        for dim, value in zip(dims, labels, strict=True):
            if value is None:
                raise SaveError(f"{dim}: no value (type a number from {SCALE_MIN:g} to {SCALE_MAX:g})")
            value = float(value)
            if not SCALE_MIN <= value <= SCALE_MAX:
                raise SaveError(f"{dim}: {value:g} is outside {SCALE_MIN:g}–{SCALE_MAX:g}")
            values[dim] = int(value) if value.is_integer() else value
        with self._save_lock:  # the order check and the write are one step
            if order is not None:
                page, number = order
                if number <= self._latest.get((page, key), -1):
                    return None
                self._latest[(page, key)] = number
            segment = self.items[index]
            previous = self.store.get(key)
            base = self.store.path.parent
            annotation = Annotation(
                key=key,
                audio_path=relative_or_absolute(segment.audio_path, base),
                midi_path=relative_or_absolute(segment.midi_path, base) if segment.midi_path else None,
                score_path=relative_or_absolute(segment.score_path, base) if segment.score_path else None,
                piece_id=segment.piece_id,
                performance_id=segment.performance_id,
                start_time=segment.start_time,
                end_time=segment.end_time,
                labels=({**previous.labels} if previous else {}) | values,
                uncertain=({**previous.uncertain} if previous else {})
                | {d: bool(u) for d, u in zip(dims, uncertain, strict=True)},
                comment=comment or "",
                labeller=self.config.labeller,
                updated_at=now_iso(),
                pass_name=self.store.pass_name,
                extra=dict(previous.extra) if previous else {},
            )
            self.store.put(annotation)
            return annotation


__all__ = ["Labeler", "SaveError", "SegmentView", "default_calibration_path"]
