"""The true note alignment of a synthetic-benchmark performance, in MIDI-file note order.

``truth/<piece>/<perf>.json`` stores ``"alignment": [[i, j], …]`` with ``i`` indexing the generator's
``Performance.notes`` (score order, missed notes left out, in the order :func:`perform` made them) and
``j`` indexing ``PianoScore.notes`` (−1 = inserted). Neither is the order of the files:

- ``midi/<piece>/<perf>.mid`` is ``Performance.to_score()``: notes sorted by (start, pitch), start rounded
  to ticks;
- ``scores/<piece>.mid`` is the *deadpan performance* of the score, written the same way, so score note
  ``j`` is the deadpan note whose ``score_index`` is ``j``.

:func:`benchmark_truth` regenerates both performances (deterministic in the benchmark's seeds), checks
that the regeneration reproduces the stored alignment and the files' notes exactly, and maps ``i`` and
``j`` to the file order of :mod:`piano_eval.alignment.midi` through each note's (tick, pitch). Two notes
with the same tick and pitch (a unison of two voices) are indistinguishable in a MIDI file; they are
assigned in order, and :func:`alignment_accuracy` compares by (tick, pitch) so either assignment counts.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .midi import PerformanceNotes, ScoreNotes
from .symbolic import NoteAlignment


@dataclass(frozen=True)
class TrueAlignment:
    """Ground truth in file order. The generator's wrong notes keep the index of the score note they replace;
    a pitch-based matcher cannot (and should not) match them, so they are kept apart from ``matches``."""

    matches: np.ndarray  # [M, 2] (score index, performance index) of notes played at the score's pitch
    wrong: np.ndarray  # [W, 2] the same for notes played at another pitch (wrong notes)
    deletions: np.ndarray  # score indices the generator left out (missed notes)
    insertions: np.ndarray  # performance indices with score_index −1 (notes added to the score)
    severity: dict[str, float]


def _config(root: Path):
    from piano_eval.data.synthetic import SyntheticBenchmarkConfig

    payload = json.loads((root / "benchmark.json").read_text())["config"]
    for key in ("corpus", "split_fractions"):
        payload[key] = tuple(payload[key])
    return SyntheticBenchmarkConfig(**payload)


def _file_positions(written, notes) -> list[int]:
    """Index in (tick, pitch) file order of each generator note, given the symusic score it was written to."""
    order = sorted(range(len(notes)), key=lambda i: (notes[i].start, notes[i].pitch))  # to_score's sort
    keys = [(int(n.time), int(n.pitch)) for n in written.tracks[0].notes]
    file_order = sorted(range(len(keys)), key=lambda r: keys[r])  # how the loaders order the file
    slots: dict[tuple[int, int], list[int]] = defaultdict(list)
    for position, r in enumerate(file_order):
        slots[keys[r]].append(position)
    positions = [0] * len(notes)
    for r, i in enumerate(order):
        positions[i] = slots[keys[r]].pop(0)
    return positions


def benchmark_truth(root: str | Path, piece_id: str, performance_id: str) -> TrueAlignment:
    """The true alignment of ``performance_id`` in the benchmark folder ``root`` (see module docstring)."""
    from piano_eval.data.synthetic import Degradation, ExpressiveStyle, perform
    from piano_eval.data.synthetic.benchmark import benchmark_pieces, deadpan_performance

    root = Path(root)
    config = _config(root)
    pieces = benchmark_pieces(config)
    p_index = next((k for k, p in enumerate(pieces) if p.piece_id == piece_id), None)
    if p_index is None:
        raise ValueError(f"{root}: no piece {piece_id!r} in the benchmark's config")
    suffix = performance_id.rsplit("-p", 1)
    if len(suffix) != 2 or suffix[0] != piece_id or not suffix[1].isdigit():
        raise ValueError(f"{performance_id!r} is not a performance id of piece {piece_id!r} (<piece>-pNN)")
    k = int(suffix[1])
    truth_path = root / "truth" / piece_id / f"{performance_id}.json"
    truth = json.loads(truth_path.read_text())
    seed = (config.seed * 1_000_003 + p_index) * 1000 + k
    piece = pieces[p_index]
    performance = perform(piece, ExpressiveStyle(**truth["style"]), Degradation(**truth["severity"]), seed)
    stored = [tuple(pair) for pair in truth["alignment"]]
    regenerated = [(i, n.score_index) for i, n in enumerate(performance.notes)]
    if stored != regenerated:
        raise ValueError(f"{truth_path}: regenerating the performance does not reproduce its alignment")
    deadpan = deadpan_performance(piece, 0)
    perf_pos = _file_positions(performance.to_score(), performance.notes)
    score_pos_by_deadpan = _file_positions(deadpan.to_score(), deadpan.notes)
    score_pos = {n.score_index: score_pos_by_deadpan[d] for d, n in enumerate(deadpan.notes)}
    same = [performance.notes[i].pitch == piece.notes[j].pitch if j >= 0 else False for i, j in stored]

    def pairs(keep: bool) -> np.ndarray:
        chosen = [
            (score_pos[j], perf_pos[i])
            for (i, j), s in zip(stored, same, strict=True)
            if j >= 0 and s == keep
        ]
        return np.array(sorted(chosen), dtype=int).reshape(-1, 2)

    matches, wrong = pairs(True), pairs(False)
    insertions = np.array(sorted(perf_pos[i] for i, j in stored if j < 0), dtype=int)
    played = np.concatenate([matches[:, 0], wrong[:, 0]])
    deletions = np.setdiff1d(np.arange(len(piece.notes)), played)
    return TrueAlignment(matches, wrong, deletions, insertions, dict(truth["severity"]))


def check_against_files(truth: TrueAlignment, score: ScoreNotes, performance: PerformanceNotes) -> None:
    """Raise when the files' note counts disagree with the truth (a benchmark built by other code)."""
    played = truth.matches.shape[0] + truth.wrong.shape[0]
    n_perf = played + truth.insertions.size
    n_score = played + truth.deletions.size
    if n_perf != len(performance) or n_score != len(score):
        raise ValueError(
            f"{performance.path}: {len(performance)} performed and {len(score)} score notes in the files, "
            f"{n_perf} and {n_score} in the truth"
        )


def alignment_accuracy(
    predicted: NoteAlignment, truth: TrueAlignment, score: ScoreNotes, performance: PerformanceNotes
) -> dict[str, float]:
    """``recall``: fraction of the true same-pitch matches recovered; ``precision``: fraction of predicted
    matches that are true (wrong notes are not true matches: see :class:`TrueAlignment`).

    Pairs are compared by the (tick, pitch) of both notes, so indistinguishable unison notes count either
    way round. Also the counts behind them.
    """

    def keys(pairs: np.ndarray) -> Counter:
        return Counter(
            (
                int(score.onset_tick[s]),
                int(score.pitch[s]),
                int(performance.onset_tick[p]),
                int(performance.pitch[p]),
            )
            for s, p in pairs
        )

    true, found = keys(truth.matches), keys(predicted.matches)
    correct = sum((true & found).values())
    n_true, n_found = sum(true.values()), sum(found.values())
    return {
        "recall": correct / n_true if n_true else 1.0,
        "precision": correct / n_found if n_found else 1.0,
        "correct": float(correct),
        "true_matches": float(n_true),
        "predicted_matches": float(n_found),
    }
