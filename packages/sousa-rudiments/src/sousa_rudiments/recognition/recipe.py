"""The training recipe: stage 1, stage 2 and the direct model, then the pipeline directory.

One function, :func:`train_recognizer`, used by ``sousa train``, ``sousa quickstart`` and the
script that rebuilds the shipped default model; its settings are one dataclass
(:class:`RecipeConfig`) loaded from YAML (``recipes/*.yaml``) so the recipe is reproducible.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from sousa_rudiments.recognition.cache import INDEX_FILE, build_feature_cache, require_cache_settings
from sousa_rudiments.recognition.data import RudimentDataModule
from sousa_rudiments.recognition.onsets import DEFAULT_ONSETS, OnsetConfig
from sousa_rudiments.recognition.training import DirectAudioModule, FeatureModelModule, OnsetClassifierModule

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"
LAST_CHECKPOINT = "last"
STAGE_DONE = "done.json"


def recipe_path(name: str) -> Path:
    """A committed recipe by name (``default``: the shipped model, ``quickstart``)."""
    path = RECIPES_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"no recipe {name!r}; committed recipes: {', '.join(known)}")
    return path


@dataclass(frozen=True)
class StageConfig:
    """Trainer settings of one model."""

    max_epochs: int = 30
    batch_size: int = 32
    lr: float = 3e-3
    patience: int = 8


@dataclass(frozen=True)
class RecipeConfig:
    """Everything that decides the trained models (besides the dataset and the seed)."""

    seed: int = 0
    threads: int = 2
    feature_model: StageConfig = StageConfig(max_epochs=25, lr=3e-3)
    classifier: StageConfig = StageConfig(max_epochs=60, lr=2e-3, patience=15)
    direct: StageConfig = StageConfig(max_epochs=30, lr=3e-3)
    train_direct: bool = True
    classifier_width: int = 64
    """``d_model`` of the rudiment classifier (``OnsetTransformer``)."""
    classifier_layers: int = 3
    """Transformer layers of the rudiment classifier."""
    max_onsets: int = 256
    min_crop_onsets: int | None = None
    """Training windows of the onset models are ``min_crop_onsets``..``max_onsets`` long (None: fixed)."""
    crops_as_recordings: bool = False
    """Recompute a training window's clip-relative inputs over the window (a short recording's view)."""
    crop_frames: int = 512
    onsets: OnsetConfig = DEFAULT_ONSETS
    """Onset detection of the training features, written into the pipeline so inference detects alike
    (YAML: only the settings that differ from ``DEFAULT_ONSETS``, e.g. ``onsets: {delta: 0.1}``)."""

    @classmethod
    def from_yaml(cls, path: str | Path) -> RecipeConfig:
        data: dict[str, Any] = yaml.safe_load(Path(path).read_text()) or {}
        nested: dict[str, Any] = {
            k: StageConfig(**data.pop(k)) for k in ("feature_model", "classifier", "direct") if k in data
        }
        if "onsets" in data:
            onsets = data.pop("onsets")
            unknown_onsets = set(onsets) - {f.name for f in dataclasses.fields(OnsetConfig)}
            if unknown_onsets:
                raise ValueError(f"{path}: unknown onset settings {sorted(unknown_onsets)}")
            nested["onsets"] = dataclasses.replace(DEFAULT_ONSETS, **onsets)
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"{path}: unknown recipe keys {sorted(unknown)}")
        return cls(**data, **nested)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TrainingResult:
    """Where the pipeline landed and how each model did on the validation split."""

    output_dir: Path
    validation: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _trainer(
    stage: StageConfig, out: Path, monitor: str, mode: str, progress: bool
) -> tuple[L.Trainer, ModelCheckpoint]:
    checkpoint = ModelCheckpoint(dirpath=out / "checkpoints", monitor=monitor, mode=mode, save_top_k=1)
    # Lightning >= 2.6 writes `save_last` only when a top-k checkpoint is saved, so last.ckpt would be
    # the best epoch and a resumed run would redo every epoch after it: the latest epoch gets its own
    # callback (no monitor: it keeps the newest, overwritten each epoch).
    latest = ModelCheckpoint(
        dirpath=out / "checkpoints", filename=LAST_CHECKPOINT, enable_version_counter=False
    )
    trainer = L.Trainer(
        max_epochs=stage.max_epochs,
        accelerator="cpu",
        logger=CSVLogger(out, name="logs"),
        callbacks=[checkpoint, latest, EarlyStopping(monitor=monitor, mode=mode, patience=stage.patience)],
        enable_progress_bar=progress,
        enable_model_summary=False,
        deterministic=True,
        log_every_n_steps=10,
    )
    return trainer, checkpoint


def _fit(
    module: L.LightningModule,
    data: RudimentDataModule,
    stage: StageConfig,
    out: Path,
    monitor: str,
    mode: str,
    progress: bool,
) -> tuple[L.LightningModule, float]:
    """Fit one stage, resuming from its latest epoch; a stage that finished (``done.json``) is not refit."""
    out.mkdir(parents=True, exist_ok=True)
    done = out / STAGE_DONE
    if done.is_file():
        finished = json.loads(done.read_text())
        best_path, score = out / finished["best_checkpoint"], float(finished["best_score"])
    else:
        trainer, checkpoint = _trainer(stage, out, monitor, mode, progress)
        last = out / "checkpoints" / f"{LAST_CHECKPOINT}.ckpt"
        trainer.fit(module, datamodule=data, ckpt_path=str(last) if last.is_file() else None)  # resumes
        best_path, score = Path(checkpoint.best_model_path), float(checkpoint.best_model_score)
        # Lightning reports an absolute path; `out` may be relative (`sousa train DATA --out runs/x`)
        relative = best_path.resolve().relative_to(out.resolve())
        record = {"best_checkpoint": str(relative), "best_score": score, "monitor": monitor}
        done.write_text(json.dumps(record, indent=2) + "\n")
    return type(module).load_from_checkpoint(best_path, map_location="cpu"), score


def train_recognizer(
    dataset_dir: str | Path | Sequence[str | Path],
    cache_dir: str | Path | Sequence[str | Path],
    output_dir: str | Path,
    config: RecipeConfig = RecipeConfig(),
    *,
    progress: bool = True,
) -> TrainingResult:
    """Train the feature model, the classifier and (``train_direct``) the direct model; write a pipeline.

    Several datasets (other seeds: other players) with one cache each are pooled split by split.
    Each finished cache must hold features detected with ``config.onsets`` (else
    :class:`~sousa_rudiments.recognition.cache.FeatureCacheError`); one not built yet is built here
    (one process) with them; the pipeline detects with them too.
    ``output_dir/pipeline`` is a :class:`~sousa_rudiments.recognition.pipeline.RudimentPipeline`
    directory; ``output_dir/runs`` keeps checkpoints and CSV logs, so an interrupted run resumes
    from each stage's latest epoch, and stages that finished (``runs/<stage>/done.json``) are not refit.
    """
    from sousa_rudiments.recognition.pipeline import PipelineConfig, write_pipeline

    output_dir = Path(output_dir)
    torch.set_num_threads(config.threads)
    L.seed_everything(config.seed, workers=True)
    result = TrainingResult(output_dir / "pipeline")
    runs = output_dir / "runs"
    datasets = [str(dataset_dir)] if isinstance(dataset_dir, str | Path) else [str(d) for d in dataset_dir]
    caches = [str(cache_dir)] if isinstance(cache_dir, str | Path) else [str(c) for c in cache_dir]
    for dataset, cache in zip(datasets, caches, strict=True):
        if (Path(cache) / INDEX_FILE).is_file():
            require_cache_settings(dataset, cache, config.onsets)
        else:  # never built, or interrupted: (re)build it with the recipe's onset settings
            build_feature_cache(dataset, cache, config=config.onsets, progress=progress)
    onsets = RudimentDataModule(
        datasets,
        caches,
        "onsets",
        config.feature_model.batch_size,
        config.max_onsets,
        min_crop_onsets=config.min_crop_onsets,
        crops_as_recordings=config.crops_as_recordings,
        seed=config.seed,
    )

    start = time.perf_counter()
    mean, std = onsets.input_statistics()
    feature, loss = _fit(
        FeatureModelModule(lr=config.feature_model.lr, input_mean=mean, input_std=std),
        onsets,
        config.feature_model,
        runs / "feature_model",
        "val/loss",
        "min",
        progress,
    )
    result.validation["feature_model_loss"] = loss
    result.seconds["feature_model"] = time.perf_counter() - start
    feature_dir = runs / "feature_model" / "best"
    feature.model.save_pretrained(feature_dir)

    start = time.perf_counter()
    classifier_data = RudimentDataModule(
        datasets,
        caches,
        "onsets",
        config.classifier.batch_size,
        config.max_onsets,
        min_crop_onsets=config.min_crop_onsets,
        crops_as_recordings=config.crops_as_recordings,
        seed=config.seed,
    )
    classifier, acc = _fit(
        OnsetClassifierModule(
            str(feature_dir),
            d_model=config.classifier_width,
            num_layers=config.classifier_layers,
            lr=config.classifier.lr,
        ),
        classifier_data,
        config.classifier,
        runs / "classifier",
        "val/acc",
        "max",
        progress,
    )
    result.validation["two_stage_acc"] = acc
    result.seconds["classifier"] = time.perf_counter() - start

    direct = None
    if config.train_direct:
        start = time.perf_counter()
        mels = RudimentDataModule(
            datasets,
            caches,
            "mel",
            config.direct.batch_size,
            crop_frames=config.crop_frames,
            seed=config.seed,
        )
        direct_module, acc = _fit(
            DirectAudioModule(lr=config.direct.lr),
            mels,
            config.direct,
            runs / "direct",
            "val/acc",
            "max",
            progress,
        )
        direct = direct_module.model
        result.validation["direct_acc"] = acc
        result.seconds["direct"] = time.perf_counter() - start

    write_pipeline(
        result.output_dir,
        feature_model=feature.model,
        classifier=classifier.model,
        direct_model=direct,
        config=PipelineConfig(onsets=config.onsets),
        training={
            "recipe": config.to_dict(),
            "datasets": datasets,
            "validation": result.validation,
            "seconds": result.seconds,
        },
    )
    (output_dir / "training.json").write_text(
        json.dumps({"validation": result.validation, "seconds": result.seconds}, indent=2)
    )
    return result
