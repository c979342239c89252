"""Pairs of performances of the same piece, the unit every ranking objective trains on."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import Dataset


class PerformancePairDataset(Dataset):
    """Pairs of performances of the same piece, built from per-performance inputs, labels and piece ids.

    ``pairs`` defaults to every ordered pair ``(i, j), i ≠ j`` within a piece; each item carries both
    inputs, both label vectors and both piece ids (and both label masks when ``label_mask`` is given).
    Inputs can be anything the part collate function handles
    (:func:`~piano_eval.training.collate.make_pair_collate`).
    """

    def __init__(
        self,
        inputs: Sequence[Any],
        labels: torch.Tensor,
        piece_ids: torch.Tensor,
        pairs: Sequence[tuple[int, int]] | None = None,
        label_mask: torch.Tensor | None = None,
    ) -> None:
        if labels.dim() != 2 or labels.shape[0] != len(inputs) or piece_ids.shape != (len(inputs),):
            raise ValueError(
                f"need labels [N, K] and piece_ids [N] for N={len(inputs)} inputs, got "
                f"{tuple(labels.shape)} and {tuple(piece_ids.shape)}"
            )
        if label_mask is not None and label_mask.shape != labels.shape:
            raise ValueError("label_mask must have the shape of labels")
        self.inputs = list(inputs)
        self.labels = labels.float()
        self.piece_ids = piece_ids.long()
        self.label_mask = label_mask
        self.pairs = list(pairs) if pairs is not None else self.same_piece_pairs(self.piece_ids)
        if not self.pairs:
            raise ValueError("no pairs: every piece needs at least two performances")

    @staticmethod
    def same_piece_pairs(piece_ids: torch.Tensor) -> list[tuple[int, int]]:
        groups: dict[int, list[int]] = {}
        for index, piece in enumerate(piece_ids.tolist()):
            groups.setdefault(int(piece), []).append(index)
        return [pair for members in groups.values() for pair in itertools.permutations(members, 2)]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        i, j = self.pairs[index]
        item = {
            "a": self.inputs[i],
            "b": self.inputs[j],
            "labels_a": self.labels[i],
            "labels_b": self.labels[j],
            "piece_ids_a": self.piece_ids[i],
            "piece_ids_b": self.piece_ids[j],
        }
        if self.label_mask is not None:
            item["label_mask_a"] = self.label_mask[i]
            item["label_mask_b"] = self.label_mask[j]
        return item
