"""Score graphs for S2: one node per note, typed edges between notes (after Jeong et al. 2019 and
Karystinaios & Widmer's GraphMuse).

Node features (columns of ``x``, see :data:`NODE_FEATURES`), all in [0, 1] whatever the segment's length,
tempo or texture: pitch/127, velocity/127, onset relative to the segment (0 = first onset, 1 = last offset),
log-compressed duration (:func:`scaled_duration`), sustain pedal down at the onset (0/1), and the voice
(greedy voice separation) spread over [0, 1].

Edge types (directed ``i → j``, decided on exact tick times, see :data:`EDGE_TYPES`):

- ``onset``: i and j start together (both directions);
- ``during``: j starts while i sounds (``onset_i < onset_j < offset_i``);
- ``follow``: j starts exactly when i ends (``onset_j == offset_i``);
- ``silence``: nothing starts when i ends, and j is among the next notes to start after that rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import symusic
import torch
from symusic.core import ScoreQuarter, ScoreSecond, ScoreTick
from torch_geometric.data import Batch, Data, HeteroData

NODE_FEATURES: tuple[str, ...] = ("pitch", "velocity", "onset", "duration", "pedal", "voice")
EDGE_TYPES: tuple[str, ...] = ("onset", "during", "follow", "silence")
NOTE = "note"
SUSTAIN_CONTROLLER = 64

Score = ScoreTick | ScoreQuarter | ScoreSecond
MidiSource = str | Path | Score


class MidiGraphError(ValueError):
    """A MIDI file or score that cannot be turned into a note graph."""


@dataclass(frozen=True)
class NoteTable:
    """Notes sorted by (onset, pitch): integer tick times for exact edge tests, seconds for features."""

    onset_ticks: np.ndarray
    offset_ticks: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray
    onset_seconds: np.ndarray
    duration_seconds: np.ndarray
    pedal: np.ndarray

    def __len__(self) -> int:
        return len(self.pitch)


def _load_score(source: MidiSource) -> tuple[Score, str]:
    if isinstance(source, ScoreTick | ScoreQuarter | ScoreSecond):
        return source.to("tick"), "<Score>"
    path = Path(source)
    if not path.is_file():
        raise MidiGraphError(f"MIDI file not found: {path}")
    try:
        return symusic.Score(str(path)), str(path)
    except Exception as exc:  # symusic raises plain RuntimeError/ValueError on corrupt files
        raise MidiGraphError(f"cannot parse MIDI file {path}: {exc}") from exc


def _pedal_intervals(score: ScoreTick) -> list[tuple[int, int]]:
    """Sustain-pedal down intervals in ticks from CC64 (>= 64 is down) and any parsed ``Pedal`` events."""
    intervals: list[tuple[int, int]] = []
    end_of_score = int(score.end())
    for track in score.tracks:
        intervals.extend((int(p.time), int(p.time + p.duration)) for p in track.pedals)
        down_since: int | None = None
        for cc in sorted((c for c in track.controls if c.number == SUSTAIN_CONTROLLER), key=lambda c: c.time):
            if cc.value >= 64 and down_since is None:
                down_since = int(cc.time)
            elif cc.value < 64 and down_since is not None:
                intervals.append((down_since, int(cc.time)))
                down_since = None
        if down_since is not None:
            intervals.append((down_since, max(end_of_score, down_since + 1)))
    return intervals


def extract_notes(source: MidiSource) -> NoteTable:
    """Collect the notes of all non-drum tracks, sorted by onset then pitch."""
    score, name = _load_score(source)
    if score.ticks_per_quarter <= 0:
        raise MidiGraphError(f"{name}: invalid ticks per quarter {score.ticks_per_quarter}")
    tick_score = score
    second_score = tick_score.to("second")
    rows: list[tuple[int, int, int, int, float, float]] = []
    for tick_track, sec_track in zip(tick_score.tracks, second_score.tracks, strict=True):
        if tick_track.is_drum:
            continue
        for tn, sn in zip(tick_track.notes, sec_track.notes, strict=True):
            if tn.duration <= 0:
                continue
            rows.append(
                (
                    int(tn.time),
                    int(tn.time + tn.duration),
                    int(tn.pitch),
                    int(tn.velocity),
                    float(sn.time),
                    float(sn.duration),
                )
            )
    if not rows:
        raise MidiGraphError(f"{name}: no pitched notes with positive duration")
    rows.sort(key=lambda r: (r[0], r[2]))
    cols = list(zip(*rows, strict=True))
    onset = np.asarray(cols[0], dtype=np.int64)
    pedal = np.zeros(len(rows), dtype=np.float32)
    for start, end in _pedal_intervals(tick_score):
        pedal[(onset >= start) & (onset < end)] = 1.0
    return NoteTable(
        onset_ticks=onset,
        offset_ticks=np.asarray(cols[1], dtype=np.int64),
        pitch=np.asarray(cols[2], dtype=np.int64),
        velocity=np.asarray(cols[3], dtype=np.int64),
        onset_seconds=np.asarray(cols[4], dtype=np.float32),
        duration_seconds=np.asarray(cols[5], dtype=np.float32),
        pedal=pedal,
    )


def assign_voices(notes: NoteTable) -> np.ndarray:
    """Greedy voice separation: each note joins the free voice (ended by its onset) closest in pitch,
    else opens a new voice. Chord notes therefore land in different voices."""
    voice_end: list[int] = []
    voice_pitch: list[int] = []
    voices = np.zeros(len(notes), dtype=np.int64)
    for i in range(len(notes)):
        onset, pitch = int(notes.onset_ticks[i]), int(notes.pitch[i])
        free = [v for v, end in enumerate(voice_end) if end <= onset]
        if free:
            voice = min(free, key=lambda v: (abs(voice_pitch[v] - pitch), v))
        else:
            voice = len(voice_end)
            voice_end.append(0)
            voice_pitch.append(pitch)
        voice_end[voice] = int(notes.offset_ticks[i])
        voice_pitch[voice] = pitch
        voices[i] = voice
    return voices


def _ranges_to_edges(sources: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> torch.Tensor:
    """Edges ``i → j`` for every ``j in range(starts[k], stops[k])`` with ``i = sources[k]``."""
    counts = np.maximum(stops - starts, 0)
    src = np.repeat(sources, counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    dst = np.repeat(starts, counts) + offsets
    return torch.as_tensor(np.stack([src, dst]), dtype=torch.long)


def note_edges(notes: NoteTable) -> dict[str, torch.Tensor]:
    """Typed directed edges ``{type: [2, E]}`` computed on exact tick times.

    Notes are sorted by onset, so every edge type is a contiguous index range per source note found with
    ``searchsorted``: O(N log N + E) rather than an N×N comparison, so whole pieces fit in memory.
    """
    on = notes.onset_ticks
    off = notes.offset_ticks
    index = np.arange(len(notes))
    same_start = np.searchsorted(on, on, side="left")
    same_stop = np.searchsorted(on, on, side="right")
    onset = _ranges_to_edges(index, same_start, same_stop)
    onset = onset[:, onset[0] != onset[1]]
    # during: onset_i < onset_j < offset_i
    during = _ranges_to_edges(index, same_stop, np.searchsorted(on, off, side="left"))
    # follow: onset_j == offset_i
    follow_start = np.searchsorted(on, off, side="left")
    follow_stop = np.searchsorted(on, off, side="right")
    follow = _ranges_to_edges(index, follow_start, follow_stop)
    # silence: nothing starts at offset_i; connect to every note at the next onset after offset_i
    rest = (follow_stop == follow_start) & (follow_stop < len(notes))
    next_start = follow_stop[rest]
    next_stop = np.searchsorted(on, on[np.minimum(next_start, len(notes) - 1)], side="right")
    silence = _ranges_to_edges(index[rest], next_start, next_stop)
    return {"onset": onset, "during": during, "follow": follow, "silence": silence}


# Durations are log-compressed from DURATION_UNIT_SECONDS (articulation differences live in 30 ms - 1 s) and
# saturate at MAX_DURATION_SECONDS.
DURATION_UNIT_SECONDS = 0.05
MAX_DURATION_SECONDS = 10.0


def scaled_duration(seconds: np.ndarray) -> np.ndarray:
    """``log1p(d / 50 ms) / log1p(10 s / 50 ms)`` clipped to [0, 1]: 0.1 s → 0.21, 0.5 s → 0.45, 2 s → 0.70."""
    top = np.log1p(MAX_DURATION_SECONDS / DURATION_UNIT_SECONDS)
    return np.clip(np.log1p(np.maximum(seconds, 0.0) / DURATION_UNIT_SECONDS) / top, 0.0, 1.0)


def node_features(notes: NoteTable, voices: np.ndarray) -> torch.Tensor:
    """``[N, 6]`` float features in :data:`NODE_FEATURES` order, each in [0, 1].

    Raw seconds and voice counts grow with the segment (a note 200 s into a piece, a twelfth voice), which
    puts the inputs of the first layer on scales the model never saw in training; onsets are therefore
    relative to the segment's span, durations log-compressed and voices divided by the highest voice index.
    """
    first = float(notes.onset_seconds.min())
    span = float((notes.onset_seconds + notes.duration_seconds).max()) - first
    onset = (notes.onset_seconds - first) / span if span > 0 else np.zeros_like(notes.onset_seconds)
    top_voice = int(voices.max())
    columns = [
        notes.pitch / 127.0,
        notes.velocity / 127.0,
        np.clip(onset, 0.0, 1.0),
        scaled_duration(notes.duration_seconds),
        notes.pedal,
        voices / top_voice if top_voice > 0 else np.zeros(len(voices)),
    ]
    return torch.as_tensor(np.stack(columns, axis=1), dtype=torch.float32)


def midi_to_graph(source: MidiSource, *, hetero: bool = False) -> Data | HeteroData:
    """Build the note graph of a MIDI file or ``symusic.Score``.

    Homogeneous (default): ``Data(x [N, 6], edge_index [2, E], edge_type [E])`` with ``edge_type`` indexing
    :data:`EDGE_TYPES`. ``hetero=True``: ``HeteroData`` with node type ``"note"`` and one
    ``("note", type, "note")`` relation per edge type (empty relations are kept, ``[2, 0]``).
    """
    notes = extract_notes(source)
    x = node_features(notes, assign_voices(notes))
    edges = note_edges(notes)
    if hetero:
        data = HeteroData()
        data[NOTE].x = x
        for name in EDGE_TYPES:
            data[NOTE, name, NOTE].edge_index = edges[name]
        return data
    edge_index = torch.cat([edges[name] for name in EDGE_TYPES], dim=1)
    edge_type = torch.cat(
        [torch.full((edges[name].shape[1],), k, dtype=torch.long) for k, name in enumerate(EDGE_TYPES)]
    )
    return Data(x=x, edge_index=edge_index, edge_type=edge_type, num_nodes=x.shape[0])


def hetero_to_homogeneous(data: HeteroData) -> Data:
    """Flatten a note ``HeteroData`` (from :func:`midi_to_graph`) to typed homogeneous edges."""
    if NOTE not in data.node_types:
        raise MidiGraphError(f"expected node type {NOTE!r}, got {data.node_types}")
    edge_indices, edge_types = [], []
    for k, name in enumerate(EDGE_TYPES):
        key = (NOTE, name, NOTE)
        if key in data.edge_types:
            ei = data[key].edge_index
            edge_indices.append(ei)
            edge_types.append(torch.full((ei.shape[1],), k, dtype=torch.long))
    x = data[NOTE].x
    if not edge_indices:
        return Data(
            x=x,
            edge_index=torch.zeros(2, 0, dtype=torch.long),
            edge_type=torch.zeros(0, dtype=torch.long),
            num_nodes=x.shape[0],
        )
    return Data(
        x=x, edge_index=torch.cat(edge_indices, dim=1), edge_type=torch.cat(edge_types), num_nodes=x.shape[0]
    )


def collate_graph_parts(graphs: list[Data | HeteroData]) -> Batch:
    """Batch graphs for the S2 encoders (heterogeneous graphs are flattened to typed edges first)."""
    if not graphs:
        raise MidiGraphError("empty list of graphs")
    homogeneous = [hetero_to_homogeneous(g) if isinstance(g, HeteroData) else g for g in graphs]
    return Batch.from_data_list(homogeneous)
