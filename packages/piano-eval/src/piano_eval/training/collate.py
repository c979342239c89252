"""Batch formats: padding with validity masks, the frame-feature part, and the pair-batch collate.

Pair batch (what :func:`make_pair_collate` builds and :class:`~piano_eval.training.PerformanceModule`
consumes)::

    {"a": part_a, "b": part_b,                    # encoder inputs, whatever ``encode`` understands
     "labels_a": [B, K], "labels_b": [B, K],      # targets in [0, 1]
     "piece_ids_a": [B], "piece_ids_b": [B],      # long; same id = same piece (InfoNCE positives)
     optional "label_mask_a"/"label_mask_b": [B, K] bool (False = missing rating),
     optional "a_aug"/"b_aug": augmented copies of the parts (augmentation-invariance loss)}

Multi-task batch (:func:`multi_task_collate_fn`, for items that carry only some tasks' targets, e.g. a rated
performance, a competition pair with placements, a clean/augmented view pair)::

    {<field>: [B, ...] stacked (0 where the item lacks it),
     <frame field>: [B, T_max, ...] right-padded, with its frame mask [B, T_max] bool beside it
        ("embeddings_x" → "mask_x", "embeddings" → "mask", other fields → "<field>_mask");
        part fields ("a", "b", "a_aug", "b_aug", "clean", "augmented") become {"features", "mask"} parts,
     <non-tensor field>: list (None where missing),
     "present": {<field>: [B] bool},               # which items carry the field
     "task_mask": {<task>: [B] bool}}              # with ``tasks``: items carrying all of a task's fields
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

PART_KEYS: tuple[str, ...] = ("a", "b", "a_aug", "b_aug")
MULTI_TASK_PART_KEYS: tuple[str, ...] = (*PART_KEYS, "clean", "augmented")
RESERVED_MULTI_TASK_KEYS: tuple[str, ...] = ("present", "task_mask")


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


def frame_mask_key(key: str) -> str:
    """Name of the frame mask next to a padded frame field (the seed's ``embeddings_a`` → ``mask_a``)."""
    if key.startswith("embeddings"):
        return "mask" + key[len("embeddings") :]
    return f"{key}_mask"


def _is_tensor_like(value: Any) -> bool:
    return isinstance(value, torch.Tensor | np.ndarray | numbers.Number)


def _collate_field(key: str, values: Sequence[Any], present: torch.Tensor) -> torch.Tensor | tuple:
    """Stack (0-/1-D) or pad (≥ 2-D, along the first axis) the present values; missing rows stay zero."""
    tensors = [torch.as_tensor(v) for v in values if v is not None]
    dims = {t.dim() for t in tensors}
    if len(dims) != 1:
        raise ValueError(f"field {key!r} mixes tensors of {sorted(dims)} dimensions")
    rows = torch.nonzero(present).flatten()
    if dims.pop() < 2:
        shapes = {tuple(t.shape) for t in tensors}
        if len(shapes) != 1:
            raise ValueError(
                f"field {key!r} has shapes {sorted(shapes)}; only frame sequences [T, ...] (2-D and more) "
                "are padded, so 0-/1-D fields must agree in shape"
            )
        stacked = torch.stack(tensors)
        out = stacked.new_zeros((len(values), *stacked.shape[1:]))
        out[rows] = stacked
        return out
    trailing = {tuple(t.shape[1:]) for t in tensors}
    if len(trailing) != 1:
        raise ValueError(f"field {key!r}: frame sequences differ in feature shape {sorted(trailing)}")
    padded, frame_mask = pad_sequences(tensors)
    out = padded.new_zeros((len(values), *padded.shape[1:]))
    mask = torch.zeros(len(values), padded.shape[1], dtype=torch.bool)
    out[rows], mask[rows] = padded, frame_mask
    return out, mask


def multi_task_collate_fn(
    batch: Sequence[Mapping[str, Any]], tasks: Mapping[str, Sequence[str]] | None = None
) -> dict[str, Any]:
    """Collate items carrying different subsets of fields (seed 004's multi-task batches; format above).

    A field missing from an item (absent or ``None``) is zero-filled and marked ``False`` in
    ``batch["present"][field]``, so each loss can select the items it applies to instead of mistaking the
    fill for a target. ``tasks`` (e.g. ``{"ranking": ["b", "labels_b"], "ordinal": ["placement"]}``) adds
    ``batch["task_mask"][task]`` = the items that carry every field of the task. Use
    ``functools.partial(multi_task_collate_fn, tasks=...)`` as a DataLoader ``collate_fn``.
    """
    if not batch:
        raise ValueError("empty batch")
    keys = list(dict.fromkeys(key for item in batch for key in item))
    reserved = sorted(set(keys) & set(RESERVED_MULTI_TASK_KEYS))
    if reserved:
        raise ValueError(f"item fields {reserved} clash with the batch's own keys")
    out: dict[str, Any] = {}
    present: dict[str, torch.Tensor] = {}
    for key in keys:
        values = [item.get(key) for item in batch]
        has = torch.tensor([v is not None for v in values], dtype=torch.bool)
        present[key] = has
        if not bool(has.any()):
            out[key] = values
            continue
        if not all(_is_tensor_like(v) for v in values if v is not None):
            out[key] = values
            continue
        collated = _collate_field(key, values, has)
        if not isinstance(collated, tuple):
            out[key] = collated
            continue
        features, mask = collated
        if key in MULTI_TASK_PART_KEYS:
            out[key] = {"features": features, "mask": mask}
            continue
        mask_key = frame_mask_key(key)
        if mask_key in keys:
            raise ValueError(f"field {mask_key!r} is the frame mask collate derives for {key!r}; drop it")
        out[key], out[mask_key] = features, mask
    out["present"] = present
    if tasks is not None:
        none = torch.zeros(len(batch), dtype=torch.bool)
        out["task_mask"] = {
            task: torch.stack([present.get(f, none) for f in fields]).all(dim=0) if fields else ~none
            for task, fields in tasks.items()
        }
    return out
