"""The ``graph`` input kind (S2): the note graph of a performance MIDI, as :mod:`piano_eval.data.inputs`
does for tokens, continuous features and waveforms.

A graph is :func:`piano_eval.symbolic.graph.midi_to_graph`'s homogeneous ``Data`` (``x [N, 6]``,
``edge_index [2, E]``, ``edge_type [E]``; a file without notes raises ``MidiGraphError`` naming it); one
side of a pair batch is a PyG ``Batch`` (:func:`piano_eval.symbolic.graph.collate_graph_parts`), what
``ScoreGraphModule`` encodes and pretrains on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch_geometric.data import Batch, Data

from piano_eval.symbolic.graph import collate_graph_parts, midi_to_graph


def load_graph(path: Path) -> Data:
    """The homogeneous note graph of one MIDI file."""
    graph = midi_to_graph(path)
    assert isinstance(graph, Data)
    return graph


def load_graphs(paths: Sequence[Path]) -> list[Data]:
    return [load_graph(p) for p in paths]


def collate_graphs(graphs: Sequence[Data]) -> Batch:
    return collate_graph_parts(list(graphs))
