"""Symbolic encoders: S1 REMI Transformer (:mod:`.remi_transformer`), S2 score-graph GNN (:mod:`.graph`,
:mod:`.gnn`) and S3 continuous features (:mod:`.continuous`)."""

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
    "RemiTransformerEncoder",
    "RemiTransformerModule",
    "collate_token_parts",
    "make_remi_pair_collate",
    "mask_tokens",
    "mlm_loss",
    "tokenize_midi_files",
]
