"""Training recipe: procedural corpus and/or Groove MIDI → token windows → Lightning → checkpoint directory.

``train(config, out_dir)`` is what ``drum-gen train`` runs. It checkpoints every epoch under
``out_dir/lightning/`` so an interrupted run resumes where it stopped, stops at ``max_minutes`` of wall
time, then writes a complete checkpoint (model, tokenizer, style classifier, metadata) to ``out_dir``.

``lightning_config(config)`` is the same recipe as LightningCLI ``model``/``data``/``trainer`` sections
(:class:`DrumLanguageModule`, :class:`DrumDataModule`); ``train`` builds its run from it, so the workspace's
``train fit`` config generated from it cannot drift from ``drum-gen train``.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from shared_audio_core.files import atomic_write_text
from torch.utils.data import DataLoader, Dataset

from drum_gen.classifier import StyleClassifier
from drum_gen.corpus import CorpusItem, generate_corpus
from drum_gen.groove_midi import build_groove_corpus, load_style_map_file
from drum_gen.loader import save_checkpoint
from drum_gen.model import (
    IGNORE_INDEX,
    DrumPatternTransformer,
    DrumTransformerConfig,
    next_token_loss,
    shift_labels,
    sliding_windows,
)
from drum_gen.styles import list_styles
from drum_gen.tokenizer import PREFIX_LENGTH, DrumPatternTokenizer, DrumPatternTokenizerConfig

logger = logging.getLogger(__name__)

CLASSIFIER_SEED_OFFSET = 10_000
"""The classifier's corpus uses another seed than the model's, so it judges unseen patterns."""

TEST_SEED_OFFSET = 3 * CLASSIFIER_SEED_OFFSET
"""Seed offset of the held-out procedural patterns of ``DrumDataModule``'s test/predict split."""

GRADIENT_CLIP_VAL = 1.0
LOG_EVERY_N_STEPS = 10

PROCEDURAL = "procedural"
GROOVE_PREFIX = "groove:"


def parse_data_spec(spec: str) -> tuple[str, Path | None]:
    """``"procedural"`` -> ("procedural", None); ``"groove:DIR"`` -> ("groove", DIR); else ValueError."""
    if spec == PROCEDURAL:
        return PROCEDURAL, None
    if spec.startswith(GROOVE_PREFIX) and spec[len(GROOVE_PREFIX) :].strip():
        return "groove", Path(spec[len(GROOVE_PREFIX) :]).expanduser()
    raise ValueError(
        f"unknown data source {spec!r}; use 'procedural' or 'groove:DIR' (a Groove MIDI directory)"
    )


@dataclass
class TrainingConfig:
    """Everything a training run depends on (saved in the checkpoint's ``drum_gen.json``)."""

    # data
    data: list[str] = field(default_factory=lambda: [PROCEDURAL])
    """Sources mixed into one corpus: ``procedural`` (``patterns_per_style`` per style) and/or ``groove:DIR``."""
    style_map: str | dict[str, str | None] | None = None
    """Groove style -> producer style: a YAML/TOML file path or an inline mapping, merged over the default."""
    groove_steps_per_beat: int = 4
    patterns_per_style: int = 200
    bars: int = 4
    styles: list[str] | None = None
    seed: int = 0
    val_fraction: float = 0.1
    tempo_token_dropout: float = 0.3
    # model
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 512
    max_seq_len: int = 512
    dropout: float = 0.1
    # optimisation
    batch_size: int = 16
    learning_rate: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 50
    max_epochs: int = 30
    max_minutes: float | None = 10.0
    num_threads: int | None = None
    accelerator: str = "auto"
    """Lightning accelerator (``auto`` picks a GPU when present; ``gpu``/``cuda`` insist, ``cpu`` forbids)."""
    # style classifier (judge)
    classifier_patterns_per_style: int = 100
    progress: bool = True

    def __post_init__(self) -> None:
        if self.patterns_per_style < 2:
            raise ValueError(f"patterns_per_style must be >= 2, got {self.patterns_per_style}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if not 0.0 <= self.tempo_token_dropout <= 1.0:
            raise ValueError(f"tempo_token_dropout must be in [0, 1], got {self.tempo_token_dropout}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ValueError(f"max_minutes must be positive, got {self.max_minutes}")
        if self.batch_size < 1 or self.max_epochs < 1:
            raise ValueError("batch_size and max_epochs must be >= 1")
        if isinstance(self.data, str):
            self.data = [self.data]
        if not self.data:
            raise ValueError("data must name at least one source ('procedural' or 'groove:DIR')")
        for spec in self.data:
            parse_data_spec(spec)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown training config keys: {sorted(unknown)}; valid keys: {sorted(known)}")
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainingConfig:
        data = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a training recipe must be a YAML mapping")
        return cls.from_dict(data)

    def model_config(self, tokenizer: DrumPatternTokenizer) -> DrumTransformerConfig:
        return DrumTransformerConfig(
            vocab_size=tokenizer.vocab_size,
            pad_id=tokenizer.pad_id,
            d_model=self.d_model,
            n_layers=self.n_layers,
            n_heads=self.n_heads,
            d_ff=self.d_ff,
            max_seq_len=self.max_seq_len,
            dropout=self.dropout,
        )


class TokenWindowDataset(Dataset[list[int]]):
    """Token windows of the corpus (each ``[BOS, Style, TempoBin, …]``, at most ``max_seq_len`` long)."""

    def __init__(self, sequences: Sequence[Sequence[int]], window: int) -> None:
        self.windows = [
            w for ids in sequences for w in sliding_windows(list(ids), window, prefix_len=PREFIX_LENGTH)
        ]

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> list[int]:
        return self.windows[index]


class PadCollator:
    """Right-pads a batch with PAD; optionally replaces the TempoBin condition by a random bin.

    Tempo dropout exists because the corpus ties each style to its tempo range: without it a request
    outside that range (J Dilla at 140 BPM) would be an unseen condition.
    """

    def __init__(
        self, pad_id: int, tempo_bin_ids: Sequence[int] = (), tempo_dropout: float = 0.0, seed: int = 0
    ):
        self.pad_id = pad_id
        self.tempo_bin_ids = list(tempo_bin_ids)
        self.tempo_dropout = tempo_dropout
        self.rng = random.Random(seed)

    def __call__(self, batch: Sequence[Sequence[int]]) -> torch.Tensor:
        length = max(len(ids) for ids in batch)
        out = torch.full((len(batch), length), self.pad_id, dtype=torch.long)
        for row, ids in enumerate(batch):
            ids = list(ids)
            if self.tempo_bin_ids and self.rng.random() < self.tempo_dropout:
                ids[PREFIX_LENGTH - 1] = self.rng.choice(self.tempo_bin_ids)
            out[row, : len(ids)] = torch.tensor(ids)
        return out


class DrumLanguageModule(L.LightningModule):
    """Lightning wrapper: next-token loss, AdamW, linear warm-up then cosine decay.

    ``model_config`` is a :class:`~drum_gen.model.DrumTransformerConfig` as a dict; its ``vocab_size`` and
    ``pad_id`` must be the tokenizer's (``lightning_config`` writes them; a mismatch with the
    :class:`DrumDataModule` it trains on is refused in ``setup``).
    """

    def __init__(
        self, model_config: dict[str, Any], learning_rate: float, weight_decay: float, warmup_steps: int
    ):
        super().__init__()
        self.save_hyperparameters()
        self.model = DrumPatternTransformer(DrumTransformerConfig.from_dict(model_config))

    def setup(self, stage: str) -> None:
        data = self.trainer.datamodule  # None when ``train`` passes its loaders directly
        if isinstance(data, DrumDataModule):
            data.check_model(self.model.config)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        loss = next_token_loss(self.model, batch)
        self.log("train_loss", loss, prog_bar=True, batch_size=batch.shape[0])
        return loss

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        loss = next_token_loss(self.model, batch)
        self.log("val_loss", loss, prog_bar=True, batch_size=batch.shape[0], sync_dist=True)
        return loss

    def test_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        loss = next_token_loss(self.model, batch)
        self.log("test_loss", loss, batch_size=batch.shape[0], sync_dist=True)
        return loss

    def predict_step(self, batch: torch.Tensor, batch_idx: int) -> dict[str, torch.Tensor]:
        """Per-window mean next-token negative log-likelihood (nats per token)."""
        inputs, labels = shift_labels(batch, self.model.config.pad_id)
        logits, _ = self.model(inputs)
        per_token = torch.nn.functional.cross_entropy(
            logits.transpose(1, 2), labels, ignore_index=IGNORE_INDEX, reduction="none"
        )
        counts = (labels != IGNORE_INDEX).sum(1).clamp_min(1)
        return {"nll": per_token.sum(1) / counts}

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=self.hparams.learning_rate, weight_decay=self.hparams.weight_decay
        )
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        warmup = min(self.hparams.warmup_steps, total)

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = (step - warmup) / max(total - warmup, 1)
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def build_tokenizer(styles: Sequence[str] | None = None) -> DrumPatternTokenizer:
    names = list(styles) if styles else [s.name for s in list_styles()]
    return DrumPatternTokenizer(DrumPatternTokenizerConfig(styles=tuple(names)))


def split_corpus(
    items: Sequence[CorpusItem], val_fraction: float, seed: int
) -> tuple[list[CorpusItem], list[CorpusItem]]:
    """Stratified train/validation split (every style in both)."""
    rng = random.Random(seed)
    train: list[CorpusItem] = []
    val: list[CorpusItem] = []
    for style in dict.fromkeys(item.style for item in items):
        group = [item for item in items if item.style == style]
        rng.shuffle(group)
        n_val = max(1, round(len(group) * val_fraction))
        val.extend(group[:n_val])
        train.extend(group[n_val:])
    return train, val


@dataclass
class TrainingData:
    """The mixed corpus and, per source, how many patterns it gave (recorded in the summary)."""

    train: list[CorpusItem]
    validation: list[CorpusItem]
    sources: list[dict[str, Any]]

    def describe(self) -> str:
        parts = []
        for src in self.sources:
            text = f"{src['source']}: {src['train_patterns']} train + {src['val_patterns']} val patterns"
            if src.get("skipped_files"):
                text += f" (skipped files: {src['skipped_files']})"
            parts.append(text)
        return "; ".join(parts)


def resolve_style_map(config: TrainingConfig) -> dict[str, str | None] | None:
    if isinstance(config.style_map, str):
        return load_style_map_file(config.style_map)
    return config.style_map


def load_training_data(config: TrainingConfig, styles: Sequence[str]) -> TrainingData:
    """Build every source of ``config.data`` and mix them.

    Procedural items are split stratified by style; Groove items keep the dataset's official split
    (whole sessions per split), so validation never sees a performance the model trained on.
    """
    train_items: list[CorpusItem] = []
    val_items: list[CorpusItem] = []
    sources: list[dict[str, Any]] = []
    roots = [parse_data_spec(spec)[1] for spec in config.data]
    for root in roots:  # fail before minutes of corpus building, with a one-line reason
        if root is not None and not root.is_dir():
            raise ValueError(f"Groove MIDI directory not found: {root}")
        if root is not None and not (root / "info.csv").is_file():
            raise ValueError(f"{root} is not a Groove MIDI Dataset directory: no info.csv in it")
    style_map = resolve_style_map(config) if any(r is not None for r in roots) else None
    for spec, root in zip(config.data, roots, strict=True):
        if root is None:
            items = generate_corpus(
                config.patterns_per_style, config.seed, config.bars, styles, progress=config.progress
            )
            tr, va = split_corpus(items, config.val_fraction, config.seed)
            sources.append({"source": spec, "train_patterns": len(tr), "val_patterns": len(va)})
        else:
            groove = build_groove_corpus(
                root,
                bars=config.bars,
                styles=styles,
                style_map=style_map,
                steps_per_beat=config.groove_steps_per_beat,
                progress=config.progress,
            )
            tr, va = groove.train, groove.validation
            sources.append(
                {
                    "source": spec,
                    "train_patterns": len(tr),
                    "val_patterns": len(va),
                    "files_used": groove.files_used,
                    "skipped_files": {k: v for k, v in groove.skipped.items() if v},
                    "unmapped_styles": groove.unmapped_styles,
                    "patterns_per_style": dict(sorted(Counter(i.style for i in tr + va).items())),
                }
            )
        train_items.extend(tr)
        val_items.extend(va)
    if not train_items:
        raise ValueError(f"no training patterns from {config.data}: {sources}")
    return TrainingData(train_items, val_items, sources)


def fit_style_classifier(
    config: TrainingConfig, styles: Sequence[str]
) -> tuple[StyleClassifier, dict[str, Any]]:
    """Fit the judge on its own corpus and report held-out accuracy on a third one."""
    fit_items = generate_corpus(
        config.classifier_patterns_per_style, config.seed + CLASSIFIER_SEED_OFFSET, config.bars, styles
    )
    test_items = generate_corpus(
        max(config.classifier_patterns_per_style // 4, 5),
        config.seed + 2 * CLASSIFIER_SEED_OFFSET,
        config.bars,
        styles,
    )
    classifier = StyleClassifier(list(styles)).fit(
        [i.pattern for i in fit_items], [i.style for i in fit_items]
    )
    report = classifier.score([i.pattern for i in test_items], [i.style for i in test_items])
    return classifier, {
        "corpus_test_accuracy": report.accuracy,
        "corpus_test_per_style": report.per_style_accuracy,
    }


_DEFAULTS = TrainingConfig()


class DrumDataModule(L.LightningDataModule):
    """Token windows of a recipe's corpus (the data keys of :class:`TrainingConfig`, same defaults).

    ``train`` and LightningCLI both feed the model through it. The corpus is built in ``setup``
    (seconds for the procedural one). Validation is the recipe's split (stratified procedural, Groove's
    official one); test and predict use fresh procedural patterns of another seed, never trained on
    (Groove's test split stays unread, as everywhere in drum-gen).
    """

    def __init__(
        self,
        data: Sequence[str] = tuple(_DEFAULTS.data),
        style_map: str | dict[str, str | None] | None = _DEFAULTS.style_map,
        groove_steps_per_beat: int = _DEFAULTS.groove_steps_per_beat,
        patterns_per_style: int = _DEFAULTS.patterns_per_style,
        bars: int = _DEFAULTS.bars,
        styles: list[str] | None = _DEFAULTS.styles,
        seed: int = _DEFAULTS.seed,
        val_fraction: float = _DEFAULTS.val_fraction,
        tempo_token_dropout: float = _DEFAULTS.tempo_token_dropout,
        max_seq_len: int = _DEFAULTS.max_seq_len,
        batch_size: int = _DEFAULTS.batch_size,
        progress: bool = _DEFAULTS.progress,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        # validated like a recipe (a bad data spec or fraction fails here, before any corpus is built)
        self.config = TrainingConfig(
            data=list(data),
            style_map=style_map,
            groove_steps_per_beat=groove_steps_per_beat,
            patterns_per_style=patterns_per_style,
            bars=bars,
            styles=styles,
            seed=seed,
            val_fraction=val_fraction,
            tempo_token_dropout=tempo_token_dropout,
            max_seq_len=max_seq_len,
            batch_size=batch_size,
            progress=progress,
        )
        self.tokenizer = build_tokenizer(styles)
        self.training_data: TrainingData | None = None
        self.windows: dict[str, TokenWindowDataset] = {}

    def check_model(self, config: DrumTransformerConfig) -> None:
        """Refuse a model whose vocabulary or context does not fit this data (a config edited by hand)."""
        tokenizer = self.tokenizer
        if (config.vocab_size, config.pad_id) != (tokenizer.vocab_size, tokenizer.pad_id):
            raise ValueError(
                f"model_config has vocab_size={config.vocab_size}, pad_id={config.pad_id} but the tokenizer of "
                f"styles {list(tokenizer.styles)} has vocab_size={tokenizer.vocab_size}, pad_id={tokenizer.pad_id}"
            )
        if self.config.max_seq_len > config.max_seq_len:
            raise ValueError(
                f"data max_seq_len {self.config.max_seq_len} is longer than the model's {config.max_seq_len}"
            )

    def setup(self, stage: str | None = None) -> None:
        config = self.config
        if stage in (None, "fit", "validate") and self.training_data is None:
            self.training_data = load_training_data(config, self.tokenizer.styles)
            logger.info("training data: %s", self.training_data.describe())
            for split, items in (("train", self.training_data.train), ("val", self.training_data.validation)):
                self.windows[split] = self._windows(items)
        if stage in (None, "test", "predict") and "test" not in self.windows:
            per_style = max(1, round(config.patterns_per_style * config.val_fraction))
            held_out = generate_corpus(
                per_style, config.seed + TEST_SEED_OFFSET, config.bars, self.tokenizer.styles
            )
            self.windows["test"] = self._windows(held_out)

    def _windows(self, items: Sequence[CorpusItem]) -> TokenWindowDataset:
        ids = [self.tokenizer.encode_pattern(i.pattern, i.style) for i in items]
        return TokenWindowDataset(ids, self.config.max_seq_len)

    def train_dataloader(self) -> DataLoader:
        tokenizer, config = self.tokenizer, self.config
        tempo_ids = [tokenizer.token_to_id(f"TempoBin_{b}") for b in tokenizer.config.tempo_bins]
        return DataLoader(
            self.windows["train"],
            batch_size=config.batch_size,
            shuffle=True,
            collate_fn=PadCollator(tokenizer.pad_id, tempo_ids, config.tempo_token_dropout, config.seed),
            generator=torch.Generator().manual_seed(config.seed),
        )

    def _plain_loader(self, split: str) -> DataLoader:
        return DataLoader(
            self.windows[split],
            batch_size=self.config.batch_size,
            collate_fn=PadCollator(self.tokenizer.pad_id),
        )

    def val_dataloader(self) -> DataLoader:
        return self._plain_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._plain_loader("test")

    def predict_dataloader(self) -> DataLoader:
        return self._plain_loader("test")


_DATA_KEYS = tuple(p for p in inspect.signature(DrumDataModule.__init__).parameters if p != "self")
_OPTIMISATION_KEYS = ("learning_rate", "weight_decay", "warmup_steps")
TRAIN_ONLY_KEYS = ("classifier_patterns_per_style",)
"""Recipe keys outside the Lightning run: ``train`` fits the style classifier (judge) after it."""


def _max_time(minutes: float | None) -> str | None:
    if minutes is None:
        return None
    seconds = round(minutes * 60)
    return f"{seconds // 86400:02d}:{seconds // 3600 % 24:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def lightning_config(config: TrainingConfig) -> dict[str, Any]:
    """The recipe as LightningCLI sections: ``seed_everything``, ``num_threads``, ``model``, ``data``, ``trainer``.

    ``train`` builds its module, data and trainer from exactly these values; every recipe key lands in
    one section except :data:`TRAIN_ONLY_KEYS`.
    """
    tokenizer = build_tokenizer(config.styles)
    recipe = config.to_dict()
    return {
        "seed_everything": config.seed,
        "num_threads": config.num_threads,
        "model": {
            "class_path": f"{__name__}.DrumLanguageModule",
            "init_args": {
                "model_config": config.model_config(tokenizer).to_dict(),
                **{k: recipe[k] for k in _OPTIMISATION_KEYS},
            },
        },
        "data": {
            "class_path": f"{__name__}.DrumDataModule",
            "init_args": {k: recipe[k] for k in _DATA_KEYS},
        },
        "trainer": {
            "accelerator": config.accelerator,
            "max_epochs": config.max_epochs,
            "max_time": _max_time(config.max_minutes),
            "gradient_clip_val": GRADIENT_CLIP_VAL,
            "log_every_n_steps": LOG_EVERY_N_STEPS,
            "deterministic": False,
        },
    }


def train(config: TrainingConfig, out_dir: str | Path) -> Path:
    """Train a model by ``config`` and write a loadable checkpoint directory to ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    started = time.monotonic()
    parts = lightning_config(config)
    L.seed_everything(parts["seed_everything"], workers=True, verbose=False)
    data = DrumDataModule(**parts["data"]["init_args"])
    data.setup("fit")
    tokenizer, styles = data.tokenizer, data.tokenizer.styles
    train_set, val_set = data.windows["train"], data.windows["val"]
    if not len(val_set):
        logger.warning("no validation patterns (the Groove validation split was empty or skipped)")
    module = DrumLanguageModule(**parts["model"]["init_args"])
    lightning_dir = out_dir / "lightning"
    # save_top_k=1 without a monitor keeps the newest epoch; Lightning writes last.ckpt only alongside it.
    checkpointing = ModelCheckpoint(
        dirpath=lightning_dir, filename="{epoch:03d}", save_last=True, every_n_epochs=1, save_top_k=1
    )
    trainer = L.Trainer(
        **parts["trainer"],
        devices=1,  # one device: the run writes its checkpoint once, from this process
        callbacks=[checkpointing],
        logger=CSVLogger(out_dir, name="logs"),
        enable_progress_bar=config.progress,
        enable_model_summary=False,
    )
    resume = lightning_dir / "last.ckpt"
    trainer.fit(
        module,
        data.train_dataloader(),
        data.val_dataloader() if len(val_set) else None,
        ckpt_path=resume if resume.is_file() else None,
    )
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    classifier, classifier_metrics = fit_style_classifier(config, styles)
    model = module.model.cpu().eval()
    assert data.training_data is not None
    metadata = {
        "training": config.to_dict(),
        "results": {
            **metrics,
            **classifier_metrics,
            "epochs_completed": int(trainer.current_epoch),
            "global_steps": int(trainer.global_step),
            "train_windows": len(train_set),
            "val_windows": len(val_set),
            "data_sources": data.training_data.sources,
            "parameters": model.num_parameters,
            "wall_seconds_this_run": round(time.monotonic() - started, 1),
        },
    }
    save_checkpoint(out_dir, model, tokenizer, metadata, classifier)
    atomic_write_text(
        out_dir / "training_summary.json", json.dumps(metadata["results"], indent=2, sort_keys=True)
    )
    logger.info("saved checkpoint to %s: %s", out_dir, metadata["results"])
    return out_dir
