"""Datasets for the pairwise objective and seed 004's extra training signals.

:class:`PerformancePairDataset`: pairs of performances of the same piece (T1/T3; seed 004's
``PairedPerformanceDataset`` is :meth:`PerformancePairDataset.from_piece_groups`).
:class:`CompetitionDataset` + :class:`WithinPiecePairSampler`: competition recordings with ordinal placements (T2).
:class:`AugmentedEmbeddingDataset`: clean/augmented embeddings of one performance (T4 invariance).
:class:`MIDIPretrainingDataset`: masked REMI token sequences for MLM pretraining (T4 symbolic).
Items of all of them collate with :func:`~piano_eval.training.collate.multi_task_collate_fn`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import Dataset, Sampler


class PerformancePairDataset(Dataset):
    """Pairs of performances of the same piece, built from per-performance inputs, labels and piece ids.

    ``pairs`` defaults to every ordered pair ``(i, j), i ≠ j`` within a piece; each item carries both
    inputs, both label vectors and both piece ids (and both label masks when ``label_mask`` is given).
    Inputs can be anything the part collate function handles
    (:func:`~piano_eval.training.collate.make_pair_collate`). ``keys`` optionally names the performances
    (row ``i`` is ``keys[i]``).
    """

    def __init__(
        self,
        inputs: Sequence[Any],
        labels: torch.Tensor,
        piece_ids: torch.Tensor,
        pairs: Sequence[tuple[int, int]] | None = None,
        label_mask: torch.Tensor | None = None,
        keys: Sequence[str] | None = None,
    ) -> None:
        if labels.dim() != 2 or labels.shape[0] != len(inputs) or piece_ids.shape != (len(inputs),):
            raise ValueError(
                f"need labels [N, K] and piece_ids [N] for N={len(inputs)} inputs, got "
                f"{tuple(labels.shape)} and {tuple(piece_ids.shape)}"
            )
        if label_mask is not None and label_mask.shape != labels.shape:
            raise ValueError("label_mask must have the shape of labels")
        if keys is not None and len(keys) != len(inputs):
            raise ValueError(f"got {len(keys)} keys for {len(inputs)} inputs")
        self.keys = list(keys) if keys is not None else None
        self.inputs = list(inputs)
        self.labels = labels.float()
        self.piece_ids = piece_ids.long()
        self.label_mask = label_mask
        self.pairs = list(pairs) if pairs is not None else self.same_piece_pairs(self.piece_ids)
        if not self.pairs:
            raise ValueError("no pairs: every piece needs at least two performances")

    @classmethod
    def from_piece_groups(
        cls,
        inputs: Mapping[str, Any],
        labels: Mapping[str, Sequence[float]],
        piece_to_keys: Mapping[str, Sequence[str]],
        keys: Sequence[str] | None = None,
    ) -> PerformancePairDataset:
        """Every within-piece pair from keyed data (seed 004's ``PairedPerformanceDataset``): ``inputs`` and
        ``labels`` by performance key, ``piece_to_keys`` grouping keys by piece, ``keys`` restricting to a
        split. Pieces left with one performance contribute none; row order follows ``piece_to_keys``."""
        wanted = set(keys) if keys is not None else None
        grouped = {key for members in piece_to_keys.values() for key in members}
        if wanted is not None and wanted - grouped:
            raise ValueError(f"keys in no piece of piece_to_keys: {sorted(wanted - grouped)[:5]}")
        rows: list[str] = []
        pieces: list[int] = []
        for piece_index, members in enumerate(piece_to_keys.values()):
            kept = [k for k in members if wanted is None or k in wanted]
            if len(kept) < 2:
                continue
            rows += kept
            pieces += [piece_index] * len(kept)
        missing = [k for k in rows if k not in labels or k not in inputs]
        if missing:
            raise ValueError(f"performances without inputs or labels: {missing[:5]}")
        return cls(
            [inputs[k] for k in rows],
            torch.tensor([list(labels[k]) for k in rows], dtype=torch.float32).reshape(len(rows), -1),
            torch.tensor(pieces, dtype=torch.long),
            keys=rows,
        )

    @staticmethod
    def same_piece_pairs(piece_ids: torch.Tensor) -> list[tuple[int, int]]:
        """Every ordered pair ``(i, j), i ≠ j`` of rows sharing a piece id."""
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


def _group_ids(groups: Sequence[Any] | torch.Tensor) -> tuple[torch.Tensor, list[Any]]:
    """Integer ids (order of first appearance) for piece/competition labels of any hashable type."""
    values = groups.tolist() if isinstance(groups, torch.Tensor) else list(groups)
    names = list(dict.fromkeys(values))
    index = {name: i for i, name in enumerate(names)}
    return torch.tensor([index[v] for v in values], dtype=torch.long), names


class WithinPiecePairSampler(Sampler[tuple[int, int]]):
    """Yields index pairs ``(i, j)`` of performances of the same piece, every such pair once per epoch.

    Pairs come from :meth:`PerformancePairDataset.same_piece_pairs` (ordered; ``ordered=False`` keeps
    ``i < j`` only), reshuffled on every iteration when ``shuffle``. Give it as ``sampler=`` to a
    DataLoader over a dataset whose ``__getitem__`` takes a pair (:class:`CompetitionDataset`), so pairs are
    drawn per epoch instead of materialised as a pair dataset.
    """

    def __init__(
        self,
        piece_ids: Sequence[Any] | torch.Tensor,
        shuffle: bool = True,
        ordered: bool = True,
        seed: int = 0,
    ) -> None:
        ids, _ = _group_ids(piece_ids)
        pairs = PerformancePairDataset.same_piece_pairs(ids)
        self.pairs = pairs if ordered else [(i, j) for i, j in pairs if i < j]
        if not self.pairs:
            raise ValueError("no pairs: every piece has a single performance")
        self.shuffle = shuffle
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.pairs)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if not self.shuffle:
            yield from self.pairs
            return
        for index in torch.randperm(len(self.pairs), generator=self.generator).tolist():
            yield self.pairs[index]


def crop_frames(features: Any, max_frames: int | None) -> Any:
    """The first ``max_frames`` frames of a ``[T, ...]`` tensor (other inputs unchanged)."""
    if max_frames is None or not isinstance(features, torch.Tensor):
        return features
    return features[:max_frames]


class CompetitionDataset(Dataset):
    """Competition recordings with ordinal placements (seed 004's T2), grouped by piece/competition.

    ``placements`` are 1 = best within a group; ties are allowed. An ``int`` index gives one recording:
    ``{"embeddings", "placement", "placement_score", "piece_ids"}`` (+ ``"recording_id"``), where
    ``placement_score`` = ``(n - placement) / (n - 1)`` in [0, 1] with ``n`` the group's worst placement,
    which makes placements comparable across fields of different sizes. A pair index ``(i, j)`` (from
    :class:`WithinPiecePairSampler`) gives ``{"a", "b", "placement_a", "placement_b", "piece_ids_a",
    "piece_ids_b", "preference"}``, ``preference`` = 1 if a placed better, 0 if worse, 0.5 on a tie.
    Embeddings longer than ``max_frames`` keep their first ``max_frames`` frames.
    """

    def __init__(
        self,
        inputs: Sequence[Any],
        placements: Sequence[int] | torch.Tensor,
        groups: Sequence[Any] | torch.Tensor,
        recording_ids: Sequence[str] | None = None,
        max_frames: int | None = None,
    ) -> None:
        placement = torch.as_tensor(placements, dtype=torch.long)
        if placement.shape != (len(inputs),) or len(groups) != len(inputs):
            raise ValueError(f"need one placement and one group per recording ({len(inputs)} recordings)")
        if bool((placement < 1).any()):
            raise ValueError("placements are 1-based ranks (1 = best)")
        if recording_ids is not None and len(recording_ids) != len(inputs):
            raise ValueError("need one recording id per recording")
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {max_frames}")
        self.inputs = list(inputs)
        self.placements = placement
        self.piece_ids, self.group_names = _group_ids(groups)
        self.recording_ids = list(recording_ids) if recording_ids is not None else None
        self.max_frames = max_frames
        worst = torch.zeros(len(self.group_names), dtype=torch.long).scatter_reduce(
            0, self.piece_ids, placement, reduce="amax"
        )[self.piece_ids]
        self.placement_scores = torch.where(
            worst > 1, (worst - placement).float() / (worst - 1).clamp(min=1).float(), torch.ones(len(inputs))
        )

    @classmethod
    def from_records(
        cls,
        records: Sequence[Mapping[str, Any]],
        max_frames: int | None = None,
        group_key: str = "competition",
    ) -> CompetitionDataset:
        """From seed-004-style records ``{"recording_id", "placement", "embeddings"[, group_key]}``; records
        without ``group_key`` form one group."""
        return cls(
            [r["embeddings"] for r in records],
            [int(r["placement"]) for r in records],
            [r.get(group_key, "") for r in records],
            [str(r["recording_id"]) for r in records] if all("recording_id" in r for r in records) else None,
            max_frames,
        )

    def pair_sampler(
        self, shuffle: bool = True, ordered: bool = True, seed: int = 0
    ) -> WithinPiecePairSampler:
        return WithinPiecePairSampler(self.piece_ids, shuffle=shuffle, ordered=ordered, seed=seed)

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int | tuple[int, int]) -> dict[str, Any]:
        if isinstance(index, tuple | list):
            i, j = (int(k) for k in index)
            if int(self.piece_ids[i]) != int(self.piece_ids[j]):
                raise ValueError(f"recordings {i} and {j} are from different pieces; pairs must share one")
            a, b = self.placements[i], self.placements[j]
            return {
                "a": crop_frames(self.inputs[i], self.max_frames),
                "b": crop_frames(self.inputs[j], self.max_frames),
                "placement_a": a,
                "placement_b": b,
                "piece_ids_a": self.piece_ids[i],
                "piece_ids_b": self.piece_ids[j],
                "preference": torch.tensor(0.5 if a == b else float(a < b)),
            }
        item = {
            "embeddings": crop_frames(self.inputs[index], self.max_frames),
            "placement": self.placements[index],
            "placement_score": self.placement_scores[index],
            "piece_ids": self.piece_ids[index],
        }
        if self.recording_ids is not None:
            item["recording_id"] = self.recording_ids[index]
        return item


class AugmentedEmbeddingDataset(Dataset):
    """Clean and augmented embeddings of the same performance (seed 004's T4 invariance objective).

    Items are ``{"clean": [T, D], "augmented": [T', D], "piece_ids"}``, the batch format of A2's
    self-supervised stage once collated (:func:`~piano_eval.training.collate.multi_task_collate_fn`). The
    augmented view is either one of the precomputed ``augmented`` views of that performance (embeddings of
    augmented audio; one drawn at random per access) or ``augment(clean)`` computed on access.
    """

    def __init__(
        self,
        clean: Sequence[torch.Tensor],
        piece_ids: Sequence[Any] | torch.Tensor,
        augmented: Sequence[Sequence[torch.Tensor] | torch.Tensor] | None = None,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
        seed: int = 0,
    ) -> None:
        if (augmented is None) == (augment is None):
            raise ValueError("give exactly one of augmented (precomputed views) or augment (a function)")
        if len(piece_ids) != len(clean):
            raise ValueError(f"need one piece id per performance ({len(clean)} performances)")
        self.clean = list(clean)
        self.piece_ids, _ = _group_ids(piece_ids)
        self.augment = augment
        self.views: list[list[torch.Tensor]] | None = None
        if augmented is not None:
            if len(augmented) != len(clean):
                raise ValueError(f"need augmented views for each of the {len(clean)} performances")
            self.views = [[v] if isinstance(v, torch.Tensor) else list(v) for v in augmented]
            for index, (base, views) in enumerate(zip(self.clean, self.views, strict=True)):
                if not views:
                    raise ValueError(f"performance {index} has no augmented view")
                if any(v.shape[1:] != base.shape[1:] for v in views):
                    raise ValueError(
                        f"performance {index}: augmented views differ in width from the clean one"
                    )
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.clean)

    def __getitem__(self, index: int) -> dict[str, Any]:
        clean = self.clean[index]
        if self.views is not None:
            views = self.views[index]
            augmented = views[int(torch.randint(len(views), (1,), generator=self.generator))]
        else:
            assert self.augment is not None
            augmented = self.augment(clean)
        return {"clean": clean, "augmented": augmented, "piece_ids": self.piece_ids[index]}


class MIDIPretrainingDataset(Dataset):
    """Token-id sequences → BERT-masked inputs and MLM targets (seed 004's T4 symbolic pretraining).

    Each access crops a window of ``max_seq_len`` tokens (random start when ``random_crop``), pads it with
    ``pad_id`` to ``max_seq_len`` and masks it anew (dynamic masking) with
    :func:`piano_eval.symbolic.remi_transformer.mask_tokens`: ``mask_prob`` of the real, non-special tokens
    are picked, 80 % → ``mask_id``, 10 % → a random non-special token, 10 % unchanged. Items:
    ``{"input_ids": [L], "labels": [L] (-100 where not picked), "attention_mask": [L] bool}``; tokens equal to
    ``pad_id`` count as padding, so pre-padded sequences work too. The defaults of ``pad_id``/``mask_id``
    are those of :class:`~piano_eval.symbolic.remi_transformer.RemiTransformerModule`, which trains on these
    items as they are (it uses the ``labels`` given instead of masking again).
    """

    def __init__(
        self,
        token_sequences: Sequence[Sequence[int] | torch.Tensor],
        max_seq_len: int,
        vocab_size: int,
        mask_prob: float = 0.15,
        pad_id: int = 0,
        mask_id: int = 3,
        special_ids: Sequence[int] = (),
        random_crop: bool = True,
        seed: int | None = None,
    ) -> None:
        if max_seq_len < 1:
            raise ValueError(f"max_seq_len must be >= 1, got {max_seq_len}")
        if not 0.0 < mask_prob < 1.0:
            raise ValueError(f"mask_prob must be in (0, 1), got {mask_prob}")
        if not (0 <= pad_id < vocab_size and 0 <= mask_id < vocab_size):
            raise ValueError(
                f"pad_id {pad_id} and mask_id {mask_id} must lie in a vocabulary of {vocab_size}"
            )
        self.sequences = [torch.as_tensor(s, dtype=torch.long) for s in token_sequences]
        for index, ids in enumerate(self.sequences):
            if ids.dim() != 1 or ids.numel() == 0:
                raise ValueError(f"sequence {index}: expected a non-empty 1-D list of token ids")
            if bool((ids < 0).any() or (ids >= vocab_size).any()):
                raise ValueError(f"sequence {index} has token ids outside [0, {vocab_size})")
        self.max_seq_len = max_seq_len
        self.vocab_size = vocab_size
        self.mask_prob = mask_prob
        self.pad_id = pad_id
        self.mask_id = mask_id
        self.special_ids = sorted(set(special_ids) | {pad_id, mask_id})
        self.random_crop = random_crop
        # None: torch's global RNG, which DataLoader seeds differently in each worker.
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else None

    def __len__(self) -> int:
        return len(self.sequences)

    def window(self, index: int) -> torch.Tensor:
        """The (cropped, padded) ``[max_seq_len]`` token window of sequence ``index`` before masking."""
        ids = self.sequences[index]
        start = 0
        if self.random_crop and ids.numel() > self.max_seq_len:
            start = int(torch.randint(ids.numel() - self.max_seq_len + 1, (1,), generator=self.generator))
        window = ids[start : start + self.max_seq_len]
        return torch.nn.functional.pad(window, (0, self.max_seq_len - window.numel()), value=self.pad_id)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        # Imported here: piano_eval.symbolic imports piano_eval.training, which imports this module.
        from piano_eval.symbolic.remi_transformer import mask_tokens

        ids = self.window(index)
        attention_mask = ids != self.pad_id
        masked, labels = mask_tokens(
            ids.unsqueeze(0),
            attention_mask.unsqueeze(0),
            mask_id=self.mask_id,
            vocab_size=self.vocab_size,
            special_ids=self.special_ids,
            mlm_probability=self.mask_prob,
            generator=self.generator,
        )
        return {"input_ids": masked[0], "labels": labels[0], "attention_mask": attention_mask}
