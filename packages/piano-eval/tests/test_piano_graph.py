"""midi_to_graph on a hand-built five-note MIDI file with known onset/during/follow/silence edges."""

import numpy as np
import pytest
import symusic
import torch
from piano_eval.symbolic.graph import (
    EDGE_TYPES,
    NODE_FEATURES,
    MidiGraphError,
    collate_graph_parts,
    hetero_to_homogeneous,
    midi_to_graph,
)
from torch_geometric.data import HeteroData

# (pitch, onset tick, duration ticks) at 480 ticks per quarter and 120 BPM (480 ticks = 0.5 s).
NOTES = [(60, 0, 480), (64, 0, 960), (67, 240, 240), (72, 480, 480), (65, 1440, 480)]
EXPECTED_EDGES = {
    "onset": {(0, 1), (1, 0)},
    "during": {(0, 2), (1, 2), (1, 3)},
    "follow": {(0, 3), (2, 3)},
    "silence": {(1, 4), (3, 4)},
}


def _score(notes=NOTES, pedal=True):
    score = symusic.Score(480)
    score.tempos.append(symusic.Tempo(0, 120.0))
    track = symusic.Track(program=0)
    for pitch, start, duration in reversed(notes):  # file order must not matter
        track.notes.append(symusic.Note(start, duration, pitch, 64 + pitch % 8))
    if pedal:
        track.controls.append(symusic.ControlChange(200, 64, 127))
        track.controls.append(symusic.ControlChange(500, 64, 0))
    score.tracks.append(track)
    return score


@pytest.fixture
def midi_path(tmp_path):
    path = tmp_path / "five_notes.mid"
    _score().dump_midi(str(path))
    return path


def _edge_sets(data):
    out = {}
    for k, name in enumerate(EDGE_TYPES):
        ei = data.edge_index[:, data.edge_type == k]
        out[name] = set(map(tuple, ei.T.tolist()))
    return out


def test_midi_to_graph_known_edges_from_file(midi_path):
    data = midi_to_graph(midi_path)
    assert data.num_nodes == 5
    assert _edge_sets(data) == EXPECTED_EDGES


def test_midi_to_graph_node_features(midi_path):
    x = midi_to_graph(midi_path).x
    assert NODE_FEATURES == ("pitch", "velocity", "onset", "duration", "pedal", "voice")
    assert (x[:, 0] * 127).round().tolist() == [60, 64, 67, 72, 65]
    assert (x[:, 1] * 127).round().tolist() == [64 + p % 8 for p in (60, 64, 67, 72, 65)]
    # Onsets 0, 0, 0.25, 0.5, 1.5 s over a segment spanning 2 s (the last note ends at 2 s).
    assert x[:, 2].tolist() == pytest.approx([0.0, 0.0, 0.125, 0.25, 0.75])
    seconds = np.array([0.5, 1.0, 0.25, 0.5, 0.5])
    assert x[:, 3].tolist() == pytest.approx(np.log1p(seconds / 0.05) / np.log1p(10 / 0.05))
    assert x[:, 4].tolist() == [0.0, 0.0, 1.0, 1.0, 0.0]  # pedal down on ticks [200, 500)
    # Greedy voices (nearest free voice by pitch) 0, 1, 2, 2, 1, divided by the highest voice.
    assert x[:, 5].tolist() == [0.0, 0.5, 1.0, 1.0, 0.5]


def test_midi_to_graph_hetero_variant_matches_homogeneous():
    hetero = midi_to_graph(_score(), hetero=True)
    assert isinstance(hetero, HeteroData)
    for name, expected in EXPECTED_EDGES.items():
        assert set(map(tuple, hetero["note", name, "note"].edge_index.T.tolist())) == expected
    flat = hetero_to_homogeneous(hetero)
    assert _edge_sets(flat) == EXPECTED_EDGES
    batch = collate_graph_parts([hetero, midi_to_graph(_score())])
    assert batch.num_graphs == 2 and batch.num_nodes == 10


def test_midi_to_graph_errors(tmp_path):
    with pytest.raises(MidiGraphError, match="not found"):
        midi_to_graph(tmp_path / "missing.mid")
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not a midi file")
    with pytest.raises(MidiGraphError, match=r"bad\.mid"):
        midi_to_graph(bad)
    empty = symusic.Score(480)
    empty.tracks.append(symusic.Track(program=0))
    with pytest.raises(MidiGraphError, match="no pitched notes"):
        midi_to_graph(empty)


def test_drum_tracks_are_ignored():
    score = _score(pedal=False)
    drums = symusic.Track(program=0, is_drum=True)
    drums.notes.append(symusic.Note(0, 120, 36, 100))
    score.tracks.append(drums)
    assert midi_to_graph(score).num_nodes == 5
    assert torch.equal(midi_to_graph(score).edge_index, midi_to_graph(_score(pedal=False)).edge_index)


def _brute_force_edges(onsets, offsets):
    """The edge definitions written out pair by pair (the reference for the searchsorted version)."""
    n = len(onsets)
    onset_set = set(onsets)
    edges = {name: set() for name in EDGE_TYPES}
    for i in range(n):
        later = [o for o in onsets if o > offsets[i]]
        for j in range(n):
            if i != j and onsets[i] == onsets[j]:
                edges["onset"].add((i, j))
            if onsets[i] < onsets[j] < offsets[i]:
                edges["during"].add((i, j))
            if offsets[i] == onsets[j]:
                edges["follow"].add((i, j))
            if offsets[i] not in onset_set and later and onsets[j] == min(later):
                edges["silence"].add((i, j))
    return edges


@pytest.mark.parametrize("seed", range(5))
def test_edges_match_pairwise_definition_on_random_scores(seed):
    gen = torch.Generator().manual_seed(seed)
    notes = [
        (
            int(torch.randint(40, 90, (1,), generator=gen)),
            int(torch.randint(0, 12, (1,), generator=gen)) * 120,
            int(torch.randint(1, 6, (1,), generator=gen)) * 120,
        )
        for _ in range(25)
    ]
    notes = list({(p, s): (p, s, d) for p, s, d in notes}.values())  # one note per (pitch, onset)
    data = midi_to_graph(_score(notes, pedal=False))
    ordered = sorted(notes, key=lambda n: (n[1], n[0]))
    expected = _brute_force_edges([s for _, s, _ in ordered], [s + d for _, s, d in ordered])
    assert _edge_sets(data) == expected


def test_large_piece_builds_quickly():
    import time

    gen = torch.Generator().manual_seed(0)
    notes = [(int(torch.randint(21, 108, (1,), generator=gen)), 60 * k, 240) for k in range(6000)]
    start = time.perf_counter()
    data = midi_to_graph(_score(notes, pedal=False))
    assert time.perf_counter() - start < 5.0
    assert data.num_nodes == 6000
    # Each note overlaps the next three onsets (240 / 60 = 4 grid steps): during edges to 3 notes.
    assert int((data.edge_type == EDGE_TYPES.index("during")).sum()) == 3 * 6000 - 6


def test_node_features_are_bounded_whatever_the_length_tempo_and_voices():
    """Raw seconds and voice indices grow with the piece (a note 200 s in, 12 voices): features must stay in
    [0, 1] so the input layer sees the same ranges for every segment."""
    notes = [(30 + 5 * v, 480 * 400 + 480 * k, 480 * (1 + v)) for k in range(8) for v in range(12)]
    notes.append((100, 480 * 420, 480 * 40))  # a 20 s note
    x = midi_to_graph(_score(notes, pedal=False)).x
    assert x.min() >= 0.0 and x.max() <= 1.0
    # Onsets are relative to the segment: the first note starts at 0 and order is kept.
    assert x[:, 2].min() == 0.0 and torch.all(x[1:, 2] >= x[:-1, 2])
    # Voices are spread over [0, 1] rather than counted up.
    assert x[:, 5].max() == 1.0 and len(set(x[:, 5].tolist())) >= 12
