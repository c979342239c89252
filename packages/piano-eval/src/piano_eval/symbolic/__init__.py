"""Symbolic encoders: S1 REMI Transformer (:mod:`.remi_transformer`), S2 score-graph GNN (:mod:`.graph`,
:mod:`.gnn`) and S3 continuous features (:mod:`.continuous`)."""

from piano_eval.symbolic.continuous import (
    ContinuousEncoder,
    ContinuousPerformanceModel,
    collate_continuous_features,
    features_from_midi,
)
from piano_eval.symbolic.gnn import (
    RELATIONS,
    HeteroScoreGraphEncoder,
    ScoreGraphEncoder,
    ScoreGraphModule,
    add_reverse_relations,
    link_prediction_loss,
    make_graph_pair_collate,
)
from piano_eval.symbolic.graph import (
    EDGE_TYPES,
    NODE_FEATURES,
    MidiGraphError,
    collate_graph_parts,
    hetero_to_homogeneous,
    midi_to_graph,
)
from piano_eval.symbolic.notes import NOTE_FEATURE_NAMES, NoteEncoder, NoteSequenceModel, note_features
from piano_eval.symbolic.remi_transformer import (
    RemiTransformerEncoder,
    RemiTransformerModule,
    collate_token_parts,
    make_remi_pair_collate,
    mask_tokens,
    mlm_loss,
    tokenize_midi_files,
)

__all__ = [
    "EDGE_TYPES",
    "NODE_FEATURES",
    "NOTE_FEATURE_NAMES",
    "RELATIONS",
    "ContinuousEncoder",
    "ContinuousPerformanceModel",
    "HeteroScoreGraphEncoder",
    "MidiGraphError",
    "NoteEncoder",
    "NoteSequenceModel",
    "RemiTransformerEncoder",
    "RemiTransformerModule",
    "ScoreGraphEncoder",
    "ScoreGraphModule",
    "add_reverse_relations",
    "collate_continuous_features",
    "collate_graph_parts",
    "collate_token_parts",
    "features_from_midi",
    "hetero_to_homogeneous",
    "link_prediction_loss",
    "make_graph_pair_collate",
    "make_remi_pair_collate",
    "mask_tokens",
    "midi_to_graph",
    "mlm_loss",
    "note_features",
    "tokenize_midi_files",
]
