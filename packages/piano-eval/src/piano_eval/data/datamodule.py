"""``PerformancePairDataModule``: a rating folder (``ratings.csv``, :mod:`piano_eval.data.folder`) as the
batches every piano-eval model trains on, so each model is a ``LightningCLI`` config (``apps/train``).

Input kinds (``input_kind``): what one performance becomes, and which models read it.

- ``tokens``: REMI ids of the performance MIDI (``benchmark_tokenizer``), S1;
- ``continuous``: 50 Hz MIDI frame features ``[T, 7]``, S3 and the hierarchical module;
- ``notes``: one row of exact-onset features per played note ``[N, 16]`` (:mod:`piano_eval.symbolic.notes`),
  the note-level model (N-notes);
- ``graph``: the note graph (:mod:`piano_eval.data.graph_inputs`), S2;
- ``waveform``: the audio at 24 kHz, A1–A3 with a backbone;
- ``embeddings``: the audio's cached frame embeddings ``[T, D]`` (:mod:`piano_eval.audio.cache`), backbone-free
  A1–A3, the head-only module and the hierarchical module;
- ``waveform+<symbolic kind>`` (tokens, continuous, notes, graph): ``{"audio_input", "symbolic_input"}``
  (``"score_input"`` too with ``with_score``), F1–F3 over frozen encoders.

Batches (``batches``; not called ``stage``: Lightning merges the data's and the model's hyper-parameters,
and the S1–S3/A2 modules have a ``stage`` of their own):

- ``"pairs"`` (default): within-piece pairs, each unordered pair once (``a < b``: the comparator
  is antisymmetric, ``(b, a)`` would repeat ``(a, b)``), in the pair-batch format of
  :mod:`piano_eval.training.collate` with ``label_mask_a``/``_b`` (False = not rated; the label under it
  is 0, never NaN) and, with ``augmentation``, ``a_aug``/``b_aug`` views (invariance loss, A2's first stage).
- ``"performances"``: labelled single performances ``{**part, "labels", "label_mask",
  "piece_ids"}`` (``HierarchicalMultiTaskModule``: ``{"features", "mask", "labels", "label_mask"}``).
- ``"pretrain"``: unlabelled single performances as each model's pretraining step reads them —
  S1 ``{"input_ids", "attention_mask"}``, S3 ``{"features", "mask"}``, S2 a PyG ``Batch``, and for
  ``waveform`` with ``augmentation`` A2's ``{"clean", "augmented", "piece_ids"}``.

Splits: the ``split`` column (``train``/``val``/``test``, no piece in two splits), or with ``val_fold`` /
``test_fold`` the ``fold`` column (k-fold by piece; :func:`piano_eval.data.folds.check_piece_folds`
refuses a piece in two folds; the training folds are all the others). The datasets are small: every input
is loaded once, in :meth:`setup`, with a progress bar.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from piano_eval.data.errors import DatasetLayoutError, FoldLeakError, LabelFileError
from piano_eval.data.folder import RatedPerformance, load_rating_folder
from piano_eval.data.folds import check_piece_folds
from piano_eval.data.fused_inputs import FUSED_KINDS, SYMBOLIC_KINDS
from piano_eval.data.fused_inputs import kind_collate as symbolic_or_audio_collate
from piano_eval.data.inputs import (
    benchmark_tokenizer,
    load_continuous,
    load_notes,
    load_tokens,
    load_waveforms,
)
from piano_eval.training import PerformancePairDataset, collate_feature_parts, make_pair_collate

INPUT_KINDS: tuple[str, ...] = (*SYMBOLIC_KINDS, "waveform", "embeddings", *FUSED_KINDS)
PRETRAIN_KINDS: tuple[str, ...] = ("tokens", "continuous", "graph", "waveform")
SPLITS: tuple[str, ...] = ("train", "val", "test")
BATCHES: tuple[str, ...] = ("pairs", "performances", "pretrain")
Batches = Literal["pairs", "performances", "pretrain"]


def unordered_pairs(piece_ids: Sequence[int]) -> list[tuple[int, int]]:
    """Every within-piece pair ``(a, b)``, ``a < b``, once."""
    ids = torch.as_tensor(list(piece_ids), dtype=torch.long)
    return [(a, b) for a, b in PerformancePairDataset.same_piece_pairs(ids) if a < b]


def select_split(
    performances: Sequence[RatedPerformance],
    split: str,
    *,
    val_fold: int | None = None,
    test_fold: int | None = None,
    source: str = "ratings.csv",
) -> list[RatedPerformance]:
    """The performances of ``split`` (``train``/``val``/``test``): by the ``split`` column, or by the
    ``fold`` column when ``val_fold``/``test_fold`` is given. Leaks and gaps are errors naming the row."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if val_fold is None and test_fold is None:
        return _by_split_column(performances, split, source)
    return _by_fold(performances, split, val_fold, test_fold, source)


def _by_split_column(
    performances: Sequence[RatedPerformance], split: str, source: str
) -> list[RatedPerformance]:
    split_of_piece: dict[str, str] = {}
    for p in performances:
        if p.split is None:
            raise LabelFileError(
                f"{source}: performance {p.performance_id!r} has no split; fill the split column with "
                f"train/val/test, or use the fold column (val_fold / test_fold)"
            )
        if p.split not in SPLITS:
            raise LabelFileError(
                f"{source}: performance {p.performance_id!r} has split {p.split!r}; use one of {SPLITS}"
            )
        seen = split_of_piece.setdefault(p.piece_id, p.split)
        if seen != p.split:
            raise FoldLeakError(f"{source}: piece {p.piece_id!r} is in splits {seen!r} and {p.split!r}")
    return [p for p in performances if p.split == split]


def _by_fold(
    performances: Sequence[RatedPerformance],
    split: str,
    val_fold: int | None,
    test_fold: int | None,
    source: str,
) -> list[RatedPerformance]:
    unfolded = [p.performance_id for p in performances if p.fold is None]
    if unfolded:
        raise LabelFileError(
            f"{source}: val_fold/test_fold need a fold for every performance; {unfolded[0]!r} has none"
        )
    folds = [int(p.fold) for p in performances]  # type: ignore[arg-type]
    check_piece_folds([p.piece_id for p in performances], folds, source=source)
    available = sorted(set(folds))
    for name, fold in (("val_fold", val_fold), ("test_fold", test_fold)):
        if fold is not None and fold not in available:
            raise ValueError(f"{name}={fold} is not a fold of {source} (folds: {available})")
    if val_fold is not None and val_fold == test_fold:
        raise ValueError(f"val_fold and test_fold are both {val_fold}: validation and test folds must differ")
    wanted = {"val": val_fold, "test": test_fold}
    if split == "train":
        held = {f for f in (val_fold, test_fold) if f is not None}
        return [p for p in performances if p.fold not in held]
    if wanted[split] is None:
        raise ValueError(f"the {split} split needs {split}_fold (the fold column is in use)")
    return [p for p in performances if p.fold == wanted[split]]


def open_embedding_cache(path: str | Path) -> Any:
    """An :class:`~piano_eval.audio.cache.EmbeddingCache`: ``path`` is ``<cache_dir>/<config_key>`` or a
    cache root holding exactly one such directory."""
    from piano_eval.audio.cache import EmbeddingCache

    path = Path(path)
    if (path / "config.json").is_file():
        return EmbeddingCache.open(path)
    keys = sorted(p.parent for p in path.glob("*/config.json")) if path.is_dir() else []
    if len(keys) != 1:
        found = f"it holds {[k.name for k in keys]}; name one" if keys else "no cache found there"
        raise DatasetLayoutError(
            f"embedding_cache={path}: {found} (extract with `python -m piano_eval.audio.extract AUDIO_DIR "
            f"--cache-dir {path} --backbone muq`)"
        )
    return EmbeddingCache.open(keys[0])


class PerformanceDataset(Dataset):
    """One item per performance: its input, labels (0 where not rated), label mask, piece index and, with
    ``augment``, an augmented copy of the input drawn anew on every access."""

    def __init__(
        self,
        inputs: Sequence[Any],
        labels: torch.Tensor,
        label_mask: torch.Tensor,
        piece_ids: torch.Tensor,
        augment: Callable[[Any], Any] | None = None,
    ) -> None:
        self.inputs = list(inputs)
        self.labels, self.label_mask, self.piece_ids = labels, label_mask, piece_ids
        self.augment = augment

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = {
            "part": self.inputs[index],
            "labels": self.labels[index],
            "label_mask": self.label_mask[index],
            "piece_ids": self.piece_ids[index],
        }
        if self.augment is not None:
            item["augmented"] = self.augment(self.inputs[index])
        return item


class AugmentedPairDataset(PerformancePairDataset):
    """:class:`PerformancePairDataset` whose items also carry ``a_aug``/``b_aug`` (new views every access)."""

    def __init__(self, *args: Any, augment: Callable[[Any], Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.augment = augment

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = super().__getitem__(index)
        item["a_aug"], item["b_aug"] = self.augment(item["a"]), self.augment(item["b"])
        return item


class PerformancePairDataModule(L.LightningDataModule):
    """Batches of a rating folder for every piano-eval model (the module docstring lists the kinds/formats)."""

    def __init__(
        self,
        root: str,
        input_kind: str = "tokens",
        scale: str = "1-7",
        dimensions: list[str] | None = None,
        batch_size: int = 8,
        num_workers: int = 0,
        batches: Batches = "pairs",
        val_fold: int | None = None,
        test_fold: int | None = None,
        augmentation: str | None = None,
        with_score: bool = False,
        embedding_cache: str | None = None,
        max_tokens: int = 1024,
        progress: bool = True,
        train_pieces: int | None = None,
    ) -> None:
        """
        Args:
            root: folder with ``ratings.csv`` (performance_id, piece_id, split/fold, audio, midi, score_midi,
                then one column per rating dimension); ``piano-eval synthesize --out DIR`` builds one.
            input_kind: what a performance becomes: tokens (S1), continuous (S3, hierarchical), notes
                (N-notes), graph (S2),
                waveform (A1-A3), embeddings (cached audio embeddings: backbone-free A1-A3, head only,
                hierarchical), waveform+tokens / +continuous / +notes / +graph (F1-F3).
            scale: the ratings' scale, "1-7" (PercePiano; divided by 7), "0-1" (the synthetic benchmark) or
                "0-100" (pseudo-labels and the labeling app; divided by 100).
            dimensions: rating columns to use, in this order (default: every rating column); the model's
                num_dimensions must equal their number.
            batch_size: pairs (or performances) per batch.
            num_workers: DataLoader worker processes.
            batches: "pairs" (within-piece pairs: the pair models), "performances" (labelled single
                performances: the hierarchical regression module) or "pretrain" (unlabelled single performances
                for S1/S2/S3 pretraining; waveform + augmentation gives A2's clean/augmented batches).
            val_fold: k-fold by piece: the fold column's validation fold (replaces the split column).
            test_fold: k-fold by piece: the test fold; training uses every other fold.
            augmentation: a shared_audio_core.augment preset (practice_room, gym, ...) applied anew to each
                waveform on every access: a_aug/b_aug views in pairs, clean/augmented views when pretraining.
            with_score: fused kinds: also load the score MIDI (score_midi column) as "score_input", for
                score conditioning.
            embedding_cache: embeddings kind: a cache of piano_eval.audio.extract (<cache_dir>/<config_key>, or
                a cache_dir holding one configuration).
            max_tokens: tokens kind: REMI sequences are cut to this length (the S1 model's max_seq_len).
            progress: show progress bars while loading inputs.
            train_pieces: train on this many of the training pieces only (all their performances; a
                seeded choice, the same in every run): a small "expert" subset, e.g. for comparing
                pseudo-label pretraining with training on the subset alone.
        """
        super().__init__()
        self.save_hyperparameters()
        if input_kind not in INPUT_KINDS:
            raise ValueError(f"unknown input_kind {input_kind!r}; choose from {list(INPUT_KINDS)}")
        if batches not in BATCHES:
            raise ValueError(f"batches must be one of {list(BATCHES)}, got {batches!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if train_pieces is not None and train_pieces < 1:
            raise ValueError(f"train_pieces must be >= 1, got {train_pieces}")
        if batches == "pretrain" and input_kind not in PRETRAIN_KINDS:
            raise ValueError(
                f"batches='pretrain' has no batch format for {input_kind!r}; use one of {list(PRETRAIN_KINDS)}"
            )
        if augmentation is not None:
            if input_kind != "waveform":
                raise ValueError(f"augmentation applies to waveform inputs, not {input_kind!r}")
            from shared_audio_core.augment import get_preset

            get_preset(augmentation)  # an unknown preset fails here, naming the valid ones
        if batches == "pretrain" and input_kind == "waveform" and augmentation is None:
            raise ValueError(
                "batches='pretrain' on waveforms gives A2's self-supervised {'clean', 'augmented'} batches: "
                "set augmentation to a preset (e.g. practice_room)"
            )
        if with_score and input_kind not in FUSED_KINDS:
            raise ValueError(f"with_score applies to the fused kinds {list(FUSED_KINDS)}, not {input_kind!r}")
        if input_kind == "embeddings" and embedding_cache is None:
            raise ValueError(
                "input_kind='embeddings' needs embedding_cache (a piano_eval.audio.extract cache)"
            )
        if batches == "performances" and input_kind == "graph":
            raise ValueError(
                "batches='performances' merges the inputs into the batch dict; graph batches cannot be merged"
            )
        self.root = Path(root)
        self.input_kind = input_kind
        self.scale = scale
        self.dimensions = dimensions
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.batches = batches
        self.val_fold, self.test_fold = val_fold, test_fold
        self.augmentation = augmentation
        self.with_score = with_score
        self.embedding_cache = embedding_cache
        self.max_tokens = max_tokens
        self.progress = progress
        self.train_pieces = train_pieces
        self.tokenizer = benchmark_tokenizer() if "tokens" in input_kind else None
        self.dims: tuple[str, ...] = ()
        self.performances: list[RatedPerformance] = []
        self.piece_index: dict[str, int] = {}
        self.split_performances: dict[str, list[RatedPerformance]] = {}
        self.datasets: dict[str, Dataset] = {}
        self._inputs: dict[str, Any] = {}
        self._cache: Any = None
        self._augmentor: Any = None

    # ------------------------------------------------------------------------------------------ inputs

    def _symbolic_item(self, kind: str, path: Path) -> Any:
        if kind == "tokens":
            return load_tokens([path], self.tokenizer, max_len=self.max_tokens)[0]
        if kind == "continuous":
            return load_continuous([path])[0]
        if kind == "notes":
            return load_notes([path])[0]
        from piano_eval.data.graph_inputs import load_graph

        return load_graph(path)

    def _need(self, p: RatedPerformance, column: str) -> Path:
        path = {"audio": p.audio_path, "midi": p.midi_path, "score_midi": p.score_midi_path}[column]
        if path is None:
            raise DatasetLayoutError(
                f"{self.root / 'ratings.csv'}: performance {p.performance_id!r} has no {column} file, "
                f"which input_kind={self.input_kind!r} reads"
            )
        return path

    def load_input(self, p: RatedPerformance) -> Any:
        """One performance's model input for this module's ``input_kind``."""
        kind = self.input_kind
        if kind in SYMBOLIC_KINDS:
            return self._symbolic_item(kind, self._need(p, "midi"))
        if kind == "waveform":
            return load_waveforms([self._need(p, "audio")])[0]
        if kind == "embeddings":
            from piano_eval.audio.cache import file_content_hash

            if self._cache is None:
                self._cache = open_embedding_cache(self.embedding_cache)  # type: ignore[arg-type]
            audio = self._need(p, "audio")
            key = file_content_hash(audio)
            if key not in self._cache:
                raise DatasetLayoutError(
                    f"{audio} ({p.performance_id}) is not in the embedding cache {self._cache.root}; extract it "
                    f"with python -m piano_eval.audio.extract"
                )
            return self._cache.read(key)
        symbolic = kind.split("+", 1)[1]
        item = {
            "audio_input": load_waveforms([self._need(p, "audio")])[0],
            "symbolic_input": self._symbolic_item(symbolic, self._need(p, "midi")),
        }
        if self.with_score:
            item["score_input"] = self._symbolic_item(symbolic, self._need(p, "score_midi"))
        return item

    def part_collate(self) -> Callable[[Sequence[Any]], Any]:
        """Collate of one side of a pair (or of a batch of performances) for this ``input_kind``."""
        return kind_collate(self.input_kind)

    def augment(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """A new augmented copy of a waveform item (seeded from torch's RNG: seed_everything fixes it)."""
        from shared_audio_core.augment import AudioAugmentor

        if self._augmentor is None:
            self._augmentor = AudioAugmentor.from_preset(self.augmentation)  # type: ignore[arg-type]
        seed = int(torch.randint(0, 2**31 - 1, ()).item())
        rate = int(item["sample_rate"])
        audio = self._augmentor(item["waveform"], rate, seed=seed).audio
        return {"waveform": torch.as_tensor(audio, dtype=torch.float32), "sample_rate": rate}

    # ------------------------------------------------------------------------------------------ setup

    def _read_folder(self) -> None:
        if self.performances:
            return
        self.dims, self.performances = load_rating_folder(
            self.root, dimensions=self.dimensions, scale=self.scale
        )
        self.piece_index = {
            piece: k for k, piece in enumerate(sorted({p.piece_id for p in self.performances}))
        }

    def split(self, name: str) -> list[RatedPerformance]:
        """The performances of split ``name``, in ``ratings.csv`` order (an empty split is an error)."""
        self._read_folder()
        if name not in self.split_performances:
            chosen = select_split(
                self.performances,
                name,
                val_fold=self.val_fold,
                test_fold=self.test_fold,
                source=str(self.root / "ratings.csv"),
            )
            if not chosen:
                folds = self.val_fold is not None or self.test_fold is not None
                where = f"the {name} folds" if folds else f"split {name!r}"
                raise LabelFileError(f"{self.root / 'ratings.csv'}: no performances in {where}")
            if name == "train" and self.train_pieces is not None:
                chosen = self._subset(chosen, self.train_pieces)
            self.split_performances[name] = chosen
        return self.split_performances[name]

    def _subset(self, performances: list[RatedPerformance], count: int) -> list[RatedPerformance]:
        pieces = sorted({p.piece_id for p in performances})
        if count > len(pieces):
            raise ValueError(
                f"train_pieces={count}, but {self.root / 'ratings.csv'} has {len(pieces)} training pieces"
            )
        kept = set(np.random.default_rng(0).permutation(pieces)[:count].tolist())
        return [p for p in performances if p.piece_id in kept]

    def _load_inputs(self, performances: Sequence[RatedPerformance], split: str) -> list[Any]:
        todo = [p for p in performances if p.performance_id not in self._inputs]
        bar = tqdm(
            todo,
            desc=f"loading {self.input_kind} inputs ({split})",
            unit="perf",
            disable=not self.progress or not todo,
        )
        for p in bar:
            self._inputs[p.performance_id] = self.load_input(p)
        return [self._inputs[p.performance_id] for p in performances]

    def build_dataset(self, split: str) -> Dataset:
        """The dataset of one split in this module's batch format (inputs loaded now)."""
        performances = self.split(split)
        inputs = self._load_inputs(performances, split)
        raw = torch.from_numpy(np.stack([p.labels for p in performances])).float()
        label_mask = ~torch.isnan(raw)
        labels = torch.nan_to_num(
            raw, nan=0.0
        )  # masked entries: a finite placeholder, never read as a rating
        piece_ids = torch.tensor([self.piece_index[p.piece_id] for p in performances], dtype=torch.long)
        # pairs: augmented views train the invariance/self-supervised terms, so only the training split needs
        # them (validation scores the clean audio); unlabelled pretraining batches need them in every split
        wanted = self.augmentation is not None and (split == "train" or self.batches == "pretrain")
        augment = self.augment if wanted else None
        if self.batches != "pairs":
            return PerformanceDataset(
                inputs, labels, label_mask, piece_ids, augment if self.batches == "pretrain" else None
            )
        pairs = unordered_pairs(piece_ids.tolist())
        if not pairs:
            raise LabelFileError(
                f"{self.root / 'ratings.csv'}: the {split} split has no piece with two performances, so no pairs"
            )
        if augment is not None:
            return AugmentedPairDataset(inputs, labels, piece_ids, pairs, label_mask, augment=augment)
        return PerformancePairDataset(inputs, labels, piece_ids, pairs, label_mask)

    def setup(self, stage: str) -> None:
        splits = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ("test",)}[
            stage
        ]
        for name in splits:
            if name not in self.datasets:
                self.datasets[name] = self.build_dataset(name)
        self._check_model()

    def _check_model(self) -> None:
        """The model must score as many dimensions as the data rates (a clear error before the first step)."""
        trainer = getattr(self, "trainer", None)
        model = getattr(trainer, "lightning_module", None) if trainer is not None else None
        expected = getattr(model, "num_dimensions", None)
        if expected is None:
            names = getattr(model, "names", None)
            expected = len(names) if isinstance(names, Sequence) else None
        if isinstance(expected, int) and expected != len(self.dims):
            raise ValueError(
                f"the model scores {expected} dimensions but {self.root / 'ratings.csv'} rates {len(self.dims)} "
                f"({', '.join(self.dims)}): set the model's num_dimensions to {len(self.dims)}"
            )

    # ------------------------------------------------------------------------------------------ loaders

    def collate_fn(self) -> Callable[[Sequence[Mapping[str, Any]]], Any]:
        part = self.part_collate()
        if self.batches == "pairs":
            return make_pair_collate(part)
        if self.batches == "pretrain":
            if self.augmentation is not None:
                return lambda items: {
                    "clean": part([i["part"] for i in items]),
                    "augmented": part([i["augmented"] for i in items]),
                    "piece_ids": torch.stack([i["piece_ids"] for i in items]),
                }
            return lambda items: part([i["part"] for i in items])

        def performances(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
            batch = dict(part([i["part"] for i in items]))
            for key in ("labels", "label_mask", "piece_ids"):
                batch[key] = torch.stack([i[key] for i in items])
            return batch

        return performances

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        if split not in self.datasets:
            self.datasets[split] = self.build_dataset(split)
        return DataLoader(
            self.datasets[split],
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            collate_fn=self.collate_fn(),
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        """The test split, in order (``train predict`` writes one prediction per batch)."""
        return self._loader("test", shuffle=False)


def kind_collate(kind: str) -> Callable[[Sequence[Any]], Any]:
    """Collate of one side of a pair for any :data:`INPUT_KINDS` entry."""
    if kind == "embeddings":
        return lambda parts: collate_feature_parts(list(parts))
    if kind not in INPUT_KINDS:
        raise ValueError(f"unknown input_kind {kind!r}; choose from {list(INPUT_KINDS)}")
    return symbolic_or_audio_collate(kind)


__all__ = [
    "INPUT_KINDS",
    "AugmentedPairDataset",
    "PerformanceDataset",
    "PerformancePairDataModule",
    "kind_collate",
    "open_embedding_cache",
    "select_split",
    "unordered_pairs",
]
