"""Per-segment pseudo-labels of a performance or of a whole rating folder, written as resumable JSONL.

With a performance MIDI, the five symbolic labels come from it aligned to the score MIDI
(:mod:`.symbolic`) and tone from the recording; with a recording only, all six come from the recording
aligned to the score (:mod:`.audio`). A segment is a window of ``segment_seconds`` every
``hop_seconds`` over the recording (or the MIDI when there is no recording), plus one window ending at
the end when the hop does not land there, so the tail is labelled too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from piano_eval.alignment.midi import load_performance, load_score
from piano_eval.alignment.symbolic import DEFAULT_THRESHOLD, align_notes
from piano_eval.data.validation import check_audio, check_lengths, check_midi

from .audio import SAMPLE_RATE, WITHHELD_FROM_AUDIO, analyse_audio, audio_labels, tone
from .errors import AudioTooShortError, PseudoLabelFileError
from .jsonl import LabelWriter, read_labels, segment_key
from .symbolic import AlignedPerformance, midi_labels

LABELS: tuple[str, ...] = (
    "note_accuracy",
    "rhythmic_precision",
    "dynamics_control",
    "articulation",
    "pedaling",
    "tone",
)


def segment_windows(
    duration: float, segment_seconds: float, hop_seconds: float, *, name: str | Path
) -> list[tuple[float, float]]:
    """``(start, end)`` windows covering ``duration`` (module docstring); ``name`` goes in the error."""
    if segment_seconds <= 0 or hop_seconds <= 0:
        raise ValueError(f"segment and hop must be positive, got {segment_seconds} and {hop_seconds} s")
    if duration + 1e-9 < segment_seconds:
        raise AudioTooShortError(
            f"{name}: lasts {duration:.2f} s, shorter than one {segment_seconds:g} s segment "
            "(use a shorter --segment-seconds)"
        )
    starts = list(np.arange(0.0, duration - segment_seconds + 1e-9, hop_seconds))
    if starts[-1] + segment_seconds < duration - 1e-3:
        starts.append(duration - segment_seconds)
    return [(round(float(s), 6), round(float(s) + segment_seconds, 6)) for s in starts]


@dataclass(frozen=True)
class PerformanceFiles:
    """The files of one performance. ``score`` is required; at least one of ``audio`` and ``midi``."""

    score: Path
    audio: Path | None = None
    midi: Path | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.audio is None and self.midi is None:
            raise ValueError(
                f"{self.name or self.score}: pseudo-labels need a recording or a performance MIDI"
            )


def _record(files: PerformanceFiles, start: float, end: float, labels: dict[str, float | None]) -> dict:
    return {
        "audio_path": None if files.audio is None else str(files.audio),
        "midi_path": None if files.midi is None else str(files.midi),
        "score_path": str(files.score),
        "start_time": start,
        "end_time": end,
        "labels": {k: None if labels[k] is None else round(float(labels[k]), 3) for k in LABELS},
    }


def _key(files: PerformanceFiles, start: float, end: float) -> tuple:
    return segment_key(
        None if files.audio is None else str(files.audio),
        None if files.midi is None else str(files.midi),
        str(files.score),
        start,
        end,
    )


def label_performance(
    files: PerformanceFiles,
    segment_seconds: float | None = 10.0,
    hop_seconds: float = 5.0,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    skip: Any = None,
    audio_withheld: Sequence[str] = WITHHELD_FROM_AUDIO,
) -> list[dict[str, Any]]:
    """The label records (JSONL format) of every segment of one performance; ``segment_seconds=None``
    makes the whole performance one segment.

    ``skip(key) -> bool`` leaves out segments already written (nothing is computed when all are).
    Typed errors: :class:`~piano_eval.data.errors.EmptyMidiError` / ``UnreadableMidiError`` /
    ``UnreadableAudioError`` / ``SilentAudioError`` / ``LengthMismatchError`` for bad files,
    :class:`AudioTooShortError` when no segment fits, :class:`~piano_eval.alignment.AlignmentError`
    when the performance does not align to the score. Without a performance MIDI the labels in
    ``audio_withheld`` are null (they do not follow the ground truth from audio alone).
    """
    from shared_audio_core.audio import load_audio

    audio_summary = check_audio(files.audio) if files.audio is not None else None
    midi_summary = check_midi(files.midi) if files.midi is not None else None
    if audio_summary is not None and midi_summary is not None:
        check_lengths(audio_summary, midi_summary)
    if audio_summary is not None:
        duration, name = audio_summary.duration, files.audio
    else:
        assert midi_summary is not None
        duration, name = midi_summary.duration, files.midi
    if segment_seconds is None:
        windows = [(0.0, round(float(duration), 6))]
    else:
        windows = segment_windows(duration, segment_seconds, hop_seconds, name=name)
    todo = [w for w in windows if skip is None or not skip(_key(files, *w))]
    if not todo:
        return []
    score = load_score(files.score)
    audio = None if files.audio is None else load_audio(files.audio, SAMPLE_RATE)
    records = []
    if files.midi is not None:
        performance = load_performance(files.midi)
        aligned = AlignedPerformance.build(
            score, performance, align_notes(score, performance, threshold=threshold)
        )
        analysis = None if audio is None else analyse_audio(audio, files.audio)
        for start, end in todo:
            labels: dict[str, float | None] = dict(midi_labels(aligned, start, end))
            labels["tone"] = None if analysis is None else tone(analysis, start, end)
            records.append(_record(files, start, end, labels))
    else:
        assert audio is not None
        analysis = analyse_audio(audio, files.audio, score)
        for start, end in todo:
            labels = audio_labels(analysis, start, end, withheld=audio_withheld)
            records.append(_record(files, start, end, labels))
    return records


@dataclass(frozen=True)
class LabelRunSummary:
    performances: int
    written: int  # segments written by this run
    already: int  # segments found in the file from an earlier run
    out: Path


def pseudo_label_folder(
    root: str | Path,
    out: str | Path,
    segment_seconds: float | None = 10.0,
    hop_seconds: float = 5.0,
    *,
    scale: str = "0-1",
    threshold: float = DEFAULT_THRESHOLD,
    progress: bool = True,
) -> LabelRunSummary:
    """Label every performance of a rating folder (``ratings.csv`` with audio, midi, score_midi) into
    the JSONL file ``out``, resuming it when it exists (``segment_seconds=None``: one segment per
    performance). Stops at the first bad input with its typed error (what was written so far stays;
    rerun after fixing it)."""
    from tqdm.auto import tqdm

    from piano_eval.data.errors import LabelFileError
    from piano_eval.data.folder import load_rating_folder

    root = Path(root)
    _, performances = load_rating_folder(root, scale=scale)
    jobs: list[PerformanceFiles] = []
    for p in performances:
        if p.score_midi_path is None:
            raise LabelFileError(
                f"{root / 'ratings.csv'}: performance {p.performance_id} has no score_midi "
                "(pseudo-labels compare a performance with its score)"
            )
        jobs.append(PerformanceFiles(p.score_midi_path, p.audio_path, p.midi_path, p.performance_id))
    with LabelWriter(out) as writer:
        already = len(writer)
        written = 0
        bar = tqdm(jobs, desc="pseudo-labels", unit="perf", disable=not progress)
        for files in bar:
            for record in label_performance(
                files, segment_seconds, hop_seconds, threshold=threshold, skip=writer.done
            ):
                written += writer.write(record)
            bar.set_postfix(segments=already + written)
        bar.close()
    return LabelRunSummary(len(jobs), written, already, Path(out))


def labels_of(records: Sequence[dict[str, Any]], name: str) -> np.ndarray:
    """One label of many records as floats (NaN where the label is ``None``)."""
    return np.array(
        [np.nan if r["labels"][name] is None else r["labels"][name] for r in records], dtype=float
    )


def write_pseudo_rating_folder(
    root: str | Path, labels: str | Path, out: str | Path, *, scale: str = "0-1"
) -> Path:
    """``out/ratings.csv``: the performances of the rating folder ``root`` with their whole-performance
    pseudo-labels (from ``labels``, written with ``segment_seconds=None``) as rating columns on the 0–100
    scale, empty where a label is null — a rating folder a ``train fit`` config pretrains on
    (``scale: 0-100``). Paths point at ``root``'s files. A performance without a whole-performance record
    is an error naming it."""
    import csv

    from shared_audio_core.files import atomic_output

    from piano_eval.data.folder import load_rating_folder

    root, out = Path(root), Path(out)
    _, performances = load_rating_folder(root, scale=scale)
    whole: dict[tuple, dict[str, Any]] = {}
    for record in read_labels(labels):
        if record["start_time"] == 0.0:  # the whole-performance record starts at 0 and is the longest
            key = (record["audio_path"], record["midi_path"])
            if key not in whole or record["end_time"] > whole[key]["end_time"]:
                whole[key] = record
    rows = []
    for p in performances:
        key = (
            None if p.audio_path is None else str(p.audio_path),
            None if p.midi_path is None else str(p.midi_path),
        )
        record = whole.get(key)
        if record is None:
            raise PseudoLabelFileError(
                f"{labels}: no pseudo-labels for performance {p.performance_id} "
                f"(run piano-eval pseudo-label {root} --whole-performances --out {labels})"
            )
        rows.append(
            {
                "performance_id": p.performance_id,
                "piece_id": p.piece_id,
                "split": p.split or "",
                **({} if p.fold is None else {"fold": str(p.fold)}),
                "audio": "" if p.audio_path is None else str(p.audio_path.resolve()),
                "midi": "" if p.midi_path is None else str(p.midi_path.resolve()),
                "score_midi": "" if p.score_midi_path is None else str(p.score_midi_path.resolve()),
                **{k: "" if record["labels"][k] is None else f"{record['labels'][k]:.3f}" for k in LABELS},
            }
        )
    out.mkdir(parents=True, exist_ok=True)
    with atomic_output(out / "ratings.csv") as tmp, tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out / "ratings.csv"
