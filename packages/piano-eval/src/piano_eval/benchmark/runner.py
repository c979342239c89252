"""Run the synthetic benchmark: build the data, train each model family on the training pieces, score the
held-out test pieces (clean and augmented audio), compare with the baselines, write the report.

Every finished family is saved (``models/<family>/`` components + ``results/<family>.json``); a rerun with
the same output folder skips finished families, so an interrupted benchmark loses at most one family.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import soundfile as sf
import torch
from shared_audio_core.audio import load_audio, peak_normalize
from shared_audio_core.augment import AudioAugmentor, get_preset
from shared_audio_core.files import atomic_output, atomic_write_text
from shared_audio_core.metrics import pairs_within_pieces
from torch.utils.data import DataLoader, RandomSampler
from tqdm.auto import tqdm

from piano_eval.data.folder import RatedPerformance, load_rating_folder
from piano_eval.data.inputs import AUDIO_SAMPLE_RATE, input_loader, part_collate, reads
from piano_eval.data.synthetic import SyntheticBenchmarkConfig, build_benchmark
from piano_eval.evaluate import (
    EvaluationResult,
    audio_summary_features,
    baseline_predictions,
    evaluate_scores,
    select_winner,
    write_report,
)
from piano_eval.scoring import save_model_folder
from piano_eval.training import PerformanceModule, PerformancePairDataset, make_pair_collate

from .families import Family, get_family


@dataclass(frozen=True)
class BenchmarkRunConfig:
    """What to build and train. :data:`QUICK` fits in ~10 min on 2 CPU cores; :data:`FULL` is the docs recipe."""

    data: SyntheticBenchmarkConfig = field(default_factory=SyntheticBenchmarkConfig)
    robustness_preset: str | None = "practice_room"  # test audio re-rendered through this room for robustness
    families: tuple[str, ...] = ("S1-remi", "S3-continuous", "A-logmel")
    epochs: dict[str, int] = field(default_factory=lambda: {"S1-remi": 30, "S3-continuous": 8, "A-logmel": 8})
    batch_size: int = 16
    pairs_per_performance: int = 2
    learning_rate: float = 1e-3
    seed: int = 0
    threads: int = 2

    def __post_init__(self) -> None:
        for name in self.families:
            get_family(name)
            if name not in self.epochs:
                raise ValueError(f"no epoch count for family {name!r}")


QUICK = BenchmarkRunConfig(
    data=SyntheticBenchmarkConfig(generated_pieces=24, performances_per_piece=6, bars=4),
    epochs={"S1-remi": 30, "S3-continuous": 8, "A-logmel": 8},
)
FULL = BenchmarkRunConfig(
    data=SyntheticBenchmarkConfig(generated_pieces=120, performances_per_piece=8, bars=4),
    epochs={"S1-remi": 60, "S3-continuous": 30, "A-logmel": 30},
)


def _labels(performances: Sequence[RatedPerformance]) -> np.ndarray:
    return np.stack([p.labels for p in performances])


def _piece_index(performances: Sequence[RatedPerformance]) -> torch.Tensor:
    ids = {piece: k for k, piece in enumerate(sorted({p.piece_id for p in performances}))}
    return torch.tensor([ids[p.piece_id] for p in performances])


def _inputs(family: Family, performances: Sequence[RatedPerformance]) -> list[Any]:
    source = reads(family.input_kind)
    paths = [p.midi_path if source == "midi" else p.audio_path for p in performances]
    missing = [p.performance_id for p, path in zip(performances, paths, strict=True) if path is None]
    if missing:
        raise ValueError(f"{family.name} reads {source}, missing for {missing[:5]}")
    return input_loader(family.input_kind)(paths)  # type: ignore[arg-type]


def augment_performances(
    performances: Sequence[RatedPerformance], out_dir: Path, preset: str
) -> list[RatedPerformance]:
    """The same performances with their audio passed through an augmentation preset (seeded per file)."""
    augmentor = AudioAugmentor(get_preset(preset))
    result = []
    for index, performance in enumerate(performances):
        path = out_dir / f"{performance.performance_id}.flac"
        if not path.exists():
            audio = load_audio(performance.audio_path, AUDIO_SAMPLE_RATE)
            augmented = peak_normalize(
                augmentor(audio, AUDIO_SAMPLE_RATE, seed=zlib.crc32(path.name.encode()) + index).audio
            )
            with atomic_output(path) as tmp:
                sf.write(str(tmp), augmented, AUDIO_SAMPLE_RATE, format="FLAC")
        result.append(replace(performance, audio_path=path))
    return result


def unordered_pairs(piece_ids: torch.Tensor) -> list[tuple[int, int]]:
    """Each within-piece pair once: the comparator is antisymmetric, so (b, a) repeats (a, b) exactly."""
    return [(a, b) for a, b in PerformancePairDataset.same_piece_pairs(piece_ids) if a < b]


@torch.no_grad()
def predict(
    model: PerformanceModule,
    inputs: Sequence[Any],
    collate: Callable,
    piece_ids: Sequence[str],
    batch_size: int = 16,
) -> tuple[np.ndarray, np.ndarray]:
    """Absolute scores ``[N, K]`` and comparator logits for the within-piece pairs ``[P, K]``."""
    model.eval()
    outputs = []
    for start in range(0, len(inputs), batch_size):
        outputs.append(model(collate(list(inputs[start : start + batch_size]))))
    scores = torch.cat([o.scores for o in outputs]).double().numpy()
    pairs = pairs_within_pieces(list(piece_ids))
    logits = []
    for start in range(0, len(pairs.index_a), 256):
        a, b = pairs.index_a[start : start + 256], pairs.index_b[start : start + 256]
        out_a = _select(outputs, a, batch_size)
        out_b = _select(outputs, b, batch_size)
        logits.append(model.ranking_logits(out_a, out_b))
    return scores, torch.cat(logits).double().numpy()


def _select(outputs: list[Any], index: np.ndarray, batch_size: int) -> Any:
    """Rows ``index`` of batched head outputs (a NamedTuple of tensors), as one batch."""
    fields = type(outputs[0])._fields
    merged = {}
    for name in fields:
        values = [getattr(o, name) for o in outputs]
        if values[0] is None:
            merged[name] = None
            continue
        if values[0].dim() >= 2 and name == "attention":  # frame-level: lengths differ between batches
            merged[name] = None
            continue
        merged[name] = torch.cat(values)[torch.as_tensor(index)]
    merged = {k: (v if v is not None else None) for k, v in merged.items()}
    return type(outputs[0])(**merged)


def train_family(
    family: Family,
    train: Sequence[RatedPerformance],
    train_inputs: Sequence[Any],
    config: BenchmarkRunConfig,
    dims: int,
    *,
    progress: bool,
) -> PerformanceModule:
    L.seed_everything(config.seed, workers=True, verbose=False)
    model = family.build(dims, config.learning_rate)
    pieces = _piece_index(train)
    labels = torch.from_numpy(_labels(train)).float()
    dataset = PerformancePairDataset(list(train_inputs), labels, pieces, pairs=unordered_pairs(pieces))
    collate = make_pair_collate(part_collate(family.input_kind))
    # Each epoch draws pairs_per_performance × N pairs (not all N²-ish of them): every performance is seen
    # about that often per epoch, whatever the number of performances per piece.
    sampler = RandomSampler(dataset, num_samples=min(len(dataset), config.pairs_per_performance * len(train)))
    loader = DataLoader(dataset, batch_size=config.batch_size, sampler=sampler, collate_fn=collate)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # no banner per family
    trainer = L.Trainer(
        max_epochs=config.epochs[family.name],
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=progress,
        enable_model_summary=False,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*val_dataloader.*"
        )  # validation is the held-out test, after
        trainer.fit(model, loader)
    return model


def run_benchmark(
    out_dir: str | Path,
    config: BenchmarkRunConfig = QUICK,
    *,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> Path:
    """Build, train, evaluate and write ``out_dir/report/report.md``; returns the report path."""
    torch.set_num_threads(config.threads)
    out = Path(out_dir)
    started = time.perf_counter()
    data_dir = out / "data"
    log(f"building the synthetic benchmark in {data_dir}")
    build_benchmark(data_dir, config.data, progress=progress)
    dims, performances = load_rating_folder(data_dir, scale="0-1")
    split = {name: [p for p in performances if p.split == name] for name in ("train", "val", "test")}
    test = split["test"]
    targets = _labels(test)
    pieces = [p.piece_id for p in test]
    results: list[EvaluationResult] = []
    scatter: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    augmented_audio = None
    if config.robustness_preset is not None:
        log(f"test audio through '{config.robustness_preset}' for the robustness check")
        augmented_audio = augment_performances(
            test, out / f"test-{config.robustness_preset}", config.robustness_preset
        )

    # baselines on simple audio features
    def features(perfs: Sequence[RatedPerformance]) -> np.ndarray:
        return np.stack(
            [
                audio_summary_features(load_audio(p.audio_path, AUDIO_SAMPLE_RATE), AUDIO_SAMPLE_RATE)
                for p in perfs
            ]
        )

    train_x, test_x = features(split["train"]), features(test)
    aug_x = features(augmented_audio) if augmented_audio is not None else None
    baselines = baseline_predictions(train_x, _labels(split["train"]), test_x, seed=config.seed)
    aug_baselines = (
        baseline_predictions(train_x, _labels(split["train"]), aug_x, seed=config.seed)
        if aug_x is not None
        else {}
    )
    for name, pred in baselines.items():
        results.append(
            evaluate_scores(
                name,
                pred,
                targets,
                pieces,
                dims,
                augmented_predictions=aug_baselines.get(name) if name == "linear_audio_features" else None,
            )
        )

    for name in tqdm(config.families, desc="model families", disable=not progress):
        family = get_family(name)
        saved = out / "results" / f"{name}.json"
        if saved.exists():
            payload = json.loads(saved.read_text())
            results.append(EvaluationResult.from_dict(payload["result"]))
            scatter[name] = (np.array(payload["predictions"]), targets)
            log(f"{name}: already trained (results in {saved})")
            continue
        log(f"{name}: {family.description}")
        t0 = time.perf_counter()
        model = train_family(
            family, split["train"], _inputs(family, split["train"]), config, len(dims), progress=progress
        )
        collate = part_collate(family.input_kind)
        scores, logits = predict(model, _inputs(family, test), collate, pieces)
        augmented_scores = None
        if reads(family.input_kind) == "audio" and augmented_audio is not None:
            augmented_scores, _ = predict(model, _inputs(family, augmented_audio), collate, pieces)
        result = evaluate_scores(
            name, scores, targets, pieces, dims, pair_logits=logits, augmented_predictions=augmented_scores
        )
        result = replace(
            result, extra={"train_seconds": round(time.perf_counter() - t0, 1), "epochs": config.epochs[name]}
        )
        save_model_folder(model, out / "models" / name, family.input_kind, dims)
        atomic_write_text(saved, json.dumps({"result": result.to_dict(), "predictions": scores.tolist()}))
        results.append(result)
        scatter[name] = (scores, targets)
        log(f"{name}: pairwise {result.pairwise:.3f}, R² {result.r2:.3f} ({result.extra['train_seconds']} s)")

    models = [r for r in results if r.name in config.families]
    winner = select_winner(models) if models else None
    elapsed = time.perf_counter() - started
    notes = [
        f"{len(split['train'])} training / {len(split['val'])} validation / {len(test)} test performances; "
        f"test pieces never seen in training ({len({p.piece_id for p in test})} pieces).",
        "Pairwise accuracy over within-piece pairs of the test set, |Δ| ≥ 0.05; R² = mean of per-dimension R².",
        f"Robustness: test audio re-rendered through '{config.robustness_preset}'; symbolic models read MIDI and are not affected."
        if config.robustness_preset
        else "No robustness check.",
        f"Total time {elapsed / 60:.1f} min with {config.threads} threads.",
        f"Config: {json.dumps(asdict(config))}",
    ]
    return write_report(
        out / "report",
        results,
        title="piano-eval synthetic benchmark",
        winner=winner,
        predictions=scatter,
        notes=notes,
    )
