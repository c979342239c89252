"""Batch formats: padding with validity masks, the frame-feature part, and the pair-batch collate.

Pair batch (what :func:`make_pair_collate` builds and :class:`~piano_eval.training.PerformanceModule`
consumes)::

    {"a": part_a, "b": part_b,                    # encoder inputs, whatever ``encode`` understands
     "labels_a": [B, K], "labels_b": [B, K],      # targets in [0, 1]
     "piece_ids_a": [B], "piece_ids_b": [B],      # long; same id = same piece (InfoNCE positives)
     optional "label_mask_a"/"label_mask_b": [B, K] bool (False = missing rating),
     optional "a_aug"/"b_aug": augmented copies of the parts (augmentation-invariance loss)}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

PART_KEYS: tuple[str, ...] = ("a", "b", "a_aug", "b_aug")


def pad_sequences(
    sequences: Sequence[torch.Tensor], pad_value: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad ``[T_i, ...]`` tensors to ``[B, T_max, ...]`` and return a bool validity mask ``[B, T_max]``."""
    if not sequences:
        raise ValueError("cannot pad an empty list of sequences")
    lengths = [int(s.shape[0]) for s in sequences]
    if min(lengths) == 0:
        raise ValueError("sequences must be non-empty")
    padded = torch.nn.utils.rnn.pad_sequence(list(sequences), batch_first=True, padding_value=pad_value)
    mask = torch.arange(max(lengths)).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    return padded, mask


def collate_feature_parts(parts: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Collate ``[T_i, D]`` frame features into the part format ``{"features": [B, T, D], "mask": [B, T]}``."""
    features, mask = pad_sequences(parts)
    return {"features": features, "mask": mask}


def feature_part(part: Any, owner: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(features [B, T, D], mask [B, T] bool)`` of a frame-feature part; a missing mask means all valid."""
    if not isinstance(part, Mapping) or "features" not in part:
        raise TypeError(f"{owner} expects parts {{'features': [B,T,D], 'mask': [B,T]}}")
    features = part["features"]
    mask = part.get("mask")
    if mask is None:
        mask = torch.ones(features.shape[:2], dtype=torch.bool, device=features.device)
    return features, mask.bool()


def make_pair_collate(
    part_collate: Callable[[Sequence[Any]], Any],
) -> Callable[[Sequence[Mapping[str, Any]]], dict[str, Any]]:
    """Build a DataLoader ``collate_fn`` for pair items: parts go through ``part_collate``, tensors stack."""

    def collate(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        if not items:
            raise ValueError("empty batch")
        batch: dict[str, Any] = {}
        for key in items[0]:
            values = [item[key] for item in items]
            if key in PART_KEYS:
                batch[key] = part_collate(values)
            else:
                batch[key] = torch.stack([torch.as_tensor(v) for v in values])
        return batch

    return collate


collate_embedding_pairs = make_pair_collate(collate_feature_parts)
