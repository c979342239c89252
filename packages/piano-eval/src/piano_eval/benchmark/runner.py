"""Run the synthetic benchmark: build the data, train each model family on the training pieces, score the
held-out test pieces (clean and augmented audio), compare with the baselines, write the report.

Every finished family is saved (``models/<family>/`` components + ``results/<family>.json``); a rerun with
the same output folder skips finished families, so an interrupted benchmark loses at most one family.

Options the experiments (:mod:`piano_eval.benchmark.experiments`) use, all off by default: a self-supervised
stage before finetuning (``pretrain_epochs``), augmented renderings of the training audio
(``train_augmentation``), the test audio through more augmentation presets (``robustness_presets``), fusion
families over the trained encoders of families earlier in the list, and a shared data folder (``data_dir``).
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
from lightning.pytorch.callbacks import EMAWeightAveraging
from shared_audio_core.audio import load_audio, peak_normalize
from shared_audio_core.augment import AudioAugmentor, get_preset
from shared_audio_core.files import atomic_output, atomic_write_text
from shared_audio_core.metrics import pairs_within_pieces
from torch.utils.data import DataLoader, RandomSampler
from tqdm.auto import tqdm

from piano_eval.data.folder import RatedPerformance, load_rating_folder
from piano_eval.data.fused_inputs import EXTRA_KINDS, kind_collate, load_inputs, reads_audio, with_audio
from piano_eval.data.inputs import AUDIO_SAMPLE_RATE, INPUT_KINDS, input_loader, part_collate, reads
from piano_eval.data.synthetic import SyntheticBenchmarkConfig, build_benchmark
from piano_eval.evaluate import (
    EvaluationResult,
    audio_summary_features,
    baseline_predictions,
    evaluate_scores,
    select_winner,
    write_report,
)
from piano_eval.scoring import PerformanceEnsemble, save_model_folder
from piano_eval.training import (
    PerformanceModule,
    PerformancePairDataset,
    PretrainableModule,
    make_pair_collate,
)

from .families import Family, FusionFamily, get_family


@dataclass(frozen=True)
class BenchmarkRunConfig:
    """What to build and train. :data:`QUICK` fits in ~10 min on 2 CPU cores; :data:`FULL` is the docs recipe."""

    data: SyntheticBenchmarkConfig = field(default_factory=SyntheticBenchmarkConfig)
    robustness_preset: str | None = "practice_room"  # test audio re-rendered through this room for robustness
    families: tuple[str, ...] = ("S1-remi", "S3-continuous", "N-notes", "A-logmel")
    epochs: dict[str, int] = field(
        default_factory=lambda: {"S1-remi": 30, "S3-continuous": 8, "N-notes": 80, "A-logmel": 8}
    )
    batch_size: int = 16
    pairs_per_performance: int = 2
    learning_rate: float = 1e-3
    seed: int = 0
    threads: int = 2
    # family → epochs of its self-supervised stage before finetuning (S1 MLM, S2 link prediction, S3
    # contrastive on the training inputs alone; A2 InfoNCE + invariance on clean vs augmented pairs)
    pretrain_epochs: dict[str, int] = field(default_factory=dict)
    # family → augmentation preset: each training performance's audio is rendered once through it; pairs
    # carry the renderings as a_aug/b_aug (invariance loss) and each side is the rendering half the time
    train_augmentation: dict[str, str] = field(default_factory=dict)
    # more presets the test audio goes through; a family's robustness drop is then its worst over all of them
    robustness_presets: tuple[str, ...] = ()
    # family → decay of an exponential moving average of its weights over the supervised fit (Lightning's
    # EMAWeightAveraging); the averaged weights are the ones evaluated and saved
    weight_averaging: dict[str, float] = field(default_factory=dict)
    # family → number of members: the family is trained that many times (seeds seed, seed + 1, …) and
    # evaluated and saved as their ensemble (piano_eval.scoring.PerformanceEnsemble)
    ensemble_seeds: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for index, name in enumerate(self.families):
            family = get_family(name)
            if name not in self.epochs:
                raise ValueError(f"no epoch count for family {name!r}")
            if isinstance(family, FusionFamily):
                ensembled = [
                    f for f in (family.audio_family, family.symbolic_family) if f in self.ensemble_seeds
                ]
                if ensembled:
                    raise ValueError(f"{name} cannot fuse the encoders of an ensemble: {ensembled}")
                earlier = self.families[:index]
                missing = [f for f in (family.audio_family, family.symbolic_family) if f not in earlier]
                if missing:
                    raise ValueError(
                        f"{name} fuses the trained encoders of {missing}: list them before it in families"
                    )
        for option in ("pretrain_epochs", "train_augmentation", "weight_averaging", "ensemble_seeds"):
            unknown = sorted(set(getattr(self, option)) - set(self.families))
            if unknown:
                raise ValueError(f"{option} names families not in families: {unknown}")
        if any(n < 0 for n in self.pretrain_epochs.values()):
            raise ValueError(f"pretrain_epochs must be >= 0, got {self.pretrain_epochs}")
        for name, preset in self.train_augmentation.items():
            if not reads_audio(get_family(name).input_kind):
                raise ValueError(f"train_augmentation: {name} reads no audio")
            get_preset(preset)  # an unknown preset fails here, naming the valid ones
        for preset in self.robustness_presets:
            get_preset(preset)
        fused = [n for n in self.ensemble_seeds if isinstance(get_family(n), FusionFamily)]
        if fused:
            raise ValueError(f"ensemble_seeds: a fusion family cannot be an ensemble: {fused}")
        if any(n < 1 for n in self.ensemble_seeds.values()):
            raise ValueError(f"ensemble_seeds must be >= 1, got {self.ensemble_seeds}")
        bad_decays = {k: v for k, v in self.weight_averaging.items() if not 0.0 < v < 1.0}
        if bad_decays:
            raise ValueError(f"weight_averaging decays must be in (0, 1), got {bad_decays}")

    def with_families(self, names: Sequence[str]) -> BenchmarkRunConfig:
        """This configuration for a subset of families (``--families``): per-family options of the others
        are dropped, their epochs kept."""
        keep = tuple(names)

        def only(option: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in option.items() if k in keep}

        return replace(
            self,
            families=keep,
            pretrain_epochs=only(self.pretrain_epochs),
            train_augmentation=only(self.train_augmentation),
            weight_averaging=only(self.weight_averaging),
            ensemble_seeds=only(self.ensemble_seeds),
        )


QUICK = BenchmarkRunConfig(
    data=SyntheticBenchmarkConfig(generated_pieces=24, performances_per_piece=6, bars=4),
    epochs={"S1-remi": 30, "S3-continuous": 8, "N-notes": 80, "A-logmel": 8},
)
# 240 pieces x 8 performances (168 training pieces, 2,688 pairs an epoch). The frame-level families cost
# 0.15 s (S1) to 0.7 s (S3, A-logmel) an optimiser step on 2 CPU cores, so they get a fixed budget of
# ~800-3,400 steps (10 min each); N-notes is cheap and trains to convergence.
FULL = BenchmarkRunConfig(
    data=SyntheticBenchmarkConfig(generated_pieces=240, performances_per_piece=8, bars=4),
    epochs={"S1-remi": 20, "S3-continuous": 5, "N-notes": 60, "A-logmel": 5},
    # chosen on the validation pieces (scripts/select_n_notes.py): three seeds 0.898-0.909, their mean 0.914
    ensemble_seeds={"N-notes": 3},
)


def label_matrix(performances: Sequence[RatedPerformance]) -> np.ndarray:
    """Ratings ``[N, K]`` in [0, 1], NaN where a dimension is not rated."""
    return np.stack([p.labels for p in performances])


def _piece_index(performances: Sequence[RatedPerformance]) -> torch.Tensor:
    ids = {piece: k for k, piece in enumerate(sorted({p.piece_id for p in performances}))}
    return torch.tensor([ids[p.piece_id] for p in performances])


def family_inputs(family: Family, performances: Sequence[RatedPerformance]) -> list[Any]:
    """The model inputs ``family`` reads for each performance (from its MIDI or its audio)."""
    if family.input_kind in EXTRA_KINDS:  # graph and fused kinds (piano_eval.data.fused_inputs)
        return load_inputs(family.input_kind, performances)
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


class AugmentedViewPairDataset(PerformancePairDataset):
    """Pairs whose items also carry ``a_aug``/``b_aug``, the augmented renderings of both sides; with
    ``swap_probability`` a side's main input and its rendering trade places, so the supervised terms see
    the augmented audio too (training-audio augmentation) while the invariance term still pairs the views."""

    def __init__(
        self, *args: Any, augmented_inputs: Sequence[Any], swap_probability: float = 0.5, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if len(augmented_inputs) != len(self.inputs):
            raise ValueError(f"{len(augmented_inputs)} augmented inputs for {len(self.inputs)} inputs")
        self.augmented_inputs = list(augmented_inputs)
        self.swap_probability = swap_probability

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = super().__getitem__(index)
        i, j = self.pairs[index]
        for side, row in (("a", i), ("b", j)):
            clean, augmented = item[side], self.augmented_inputs[row]
            if float(torch.rand(())) < self.swap_probability:
                clean, augmented = augmented, clean
            item[side], item[f"{side}_aug"] = clean, augmented
        return item


def _fit(
    model: PerformanceModule,
    loader: DataLoader,
    epochs: int,
    progress: bool,
    ema_decay: float | None = None,
) -> dict[str, float]:
    """One Lightning fit on CPU; returns the last logged metrics (``pretrain/total``, ``train/total``, ...).

    With ``ema_decay`` the model ends with the exponential moving average of its weights."""
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # no banner per family
    callbacks = [EMAWeightAveraging(decay=ema_decay)] if ema_decay is not None else []
    trainer = L.Trainer(
        callbacks=callbacks,
        max_epochs=epochs,
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
        # frozen encoders (fusion) stay in eval mode on purpose
        warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")
        trainer.fit(model, loader)
    return {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}


def _pretrain(
    family: Family,
    model: PerformanceModule,
    train_inputs: Sequence[Any],
    pair_loader: DataLoader,
    epochs: int,
    config: BenchmarkRunConfig,
    progress: bool,
) -> dict[str, float]:
    """The model's self-supervised stage, then the switch to its supervised stage; returns its metrics."""
    from piano_eval.audio.staged import StagedAdaptationModel

    if isinstance(model, PretrainableModule):
        model.set_stage("pretrain")
        loader = DataLoader(
            list(train_inputs),
            batch_size=config.batch_size,
            shuffle=True,
            collate_fn=kind_collate(family.input_kind),
        )
        metrics = _fit(model, loader, epochs, progress)
        model.switch_to_finetune()
        return {k: v for k, v in metrics.items() if k.startswith("pretrain/")}
    if isinstance(model, StagedAdaptationModel):
        if not isinstance(pair_loader.dataset, AugmentedViewPairDataset):
            raise ValueError(
                f"{family.name}: the self-supervised stage of {type(model).__name__} contrasts clean and "
                "augmented audio; set train_augmentation for it"
            )
        model.stage = "self_supervised"
        metrics = _fit(model, pair_loader, epochs, progress)
        model.switch_to_supervised()
        return {k: v for k, v in metrics.items() if k.startswith("train_ssl/")}
    raise ValueError(f"{family.name}: {type(model).__name__} has no self-supervised stage to pretrain")


def train_family(
    family: Family,
    train: Sequence[RatedPerformance],
    train_inputs: Sequence[Any],
    config: BenchmarkRunConfig,
    dims: int,
    *,
    progress: bool,
    model: PerformanceModule | None = None,
    augmented_inputs: Sequence[Any] | None = None,
    metrics: dict[str, float] | None = None,
) -> PerformanceModule:
    """Train ``model`` (default: ``family.build``) on within-piece pairs of ``train``.

    ``augmented_inputs`` (one per training performance) turn on training-audio augmentation; with
    ``config.pretrain_epochs[family.name]`` the model's self-supervised stage runs first. ``metrics``, when
    given, receives the last logged pretraining and training losses.
    """
    L.seed_everything(config.seed, workers=True, verbose=False)
    if model is None:
        model = family.build(dims, config.learning_rate)
    pieces = _piece_index(train)
    raw = torch.from_numpy(label_matrix(train)).float()
    # a missing rating (NaN: not rated, or a pseudo-label that could not be computed) is masked out of the
    # losses; the 0 under the mask is never read as a rating
    label_mask = ~torch.isnan(raw)
    labels = torch.nan_to_num(raw, nan=0.0)
    pairs = unordered_pairs(pieces)
    if augmented_inputs is not None:
        dataset: PerformancePairDataset = AugmentedViewPairDataset(
            list(train_inputs),
            labels,
            pieces,
            pairs=pairs,
            label_mask=label_mask,
            augmented_inputs=augmented_inputs,
        )
    else:
        dataset = PerformancePairDataset(
            list(train_inputs), labels, pieces, pairs=pairs, label_mask=label_mask
        )
    part = (
        part_collate(family.input_kind)
        if family.input_kind in INPUT_KINDS
        else kind_collate(family.input_kind)
    )
    collate = make_pair_collate(part)
    # Each epoch draws pairs_per_performance × N pairs (not all N²-ish of them): every performance is seen
    # about that often per epoch, whatever the number of performances per piece.
    sampler = RandomSampler(dataset, num_samples=min(len(dataset), config.pairs_per_performance * len(train)))
    loader = DataLoader(dataset, batch_size=config.batch_size, sampler=sampler, collate_fn=collate)
    logged: dict[str, float] = {}
    pretrain_epochs = config.pretrain_epochs.get(family.name, 0)
    if pretrain_epochs > 0:
        logged.update(_pretrain(family, model, train_inputs, loader, pretrain_epochs, config, progress))
    else:
        _to_supervised_stage(model)
    logged.update(
        _fit(model, loader, config.epochs[family.name], progress, config.weight_averaging.get(family.name))
    )
    if metrics is not None:
        metrics.update(logged)
    return model


def _to_supervised_stage(model: PerformanceModule) -> None:
    """Without a pretraining stage a two-stage model trains its supervised stage only."""
    from piano_eval.audio.staged import StagedAdaptationModel

    if isinstance(model, StagedAdaptationModel):
        model.switch_to_supervised()
    elif isinstance(model, PretrainableModule) and model.stage != "finetune":
        model.switch_to_finetune()


def _save(model: PerformanceModule, directory: Path, kind: str, dims: Sequence[str]) -> None:
    """A scoreable model folder for the kinds ``piano-eval score`` reads; the module's weights otherwise."""
    if kind in INPUT_KINDS:
        save_model_folder(model, directory, kind, dims)
        return
    from safetensors.torch import save_model

    from piano_eval.scoring.model_files import WEIGHTS

    directory.mkdir(parents=True, exist_ok=True)
    with atomic_output(directory / WEIGHTS) as tmp:
        save_model(model, str(tmp))


def _load_trained(family: Family, directory: Path, dims: int, learning_rate: float) -> PerformanceModule:
    """A family trained by an earlier, interrupted run of the same output folder (for fusion encoders)."""
    from safetensors.torch import load_model

    from piano_eval.scoring.model_files import WEIGHTS

    weights = directory / WEIGHTS
    if not weights.is_file():
        raise ValueError(
            f"{family.name} has results but no weights at {weights}; delete its results to retrain"
        )
    model = family.build(dims, learning_rate)
    _to_supervised_stage(model)
    load_model(model, str(weights), strict=True, device="cpu")
    return model.eval()


def _augmented_inputs(
    family: Family, performances: Sequence[RatedPerformance], clean: Sequence[Any], folder: Path, preset: str
) -> list[Any]:
    """``clean`` inputs with their audio replaced by its rendering through ``preset`` (cached in ``folder``)."""
    rendered = augment_performances(performances, folder, preset)
    audio = input_loader("waveform")([p.audio_path for p in rendered])
    return [with_audio(family.input_kind, item, a) for item, a in zip(clean, audio, strict=True)]


def input_collate(kind: str) -> Callable:
    """The batch collate of an input kind (:mod:`piano_eval.data.inputs` or :mod:`~piano_eval.data.fused_inputs`)."""
    return part_collate(kind) if kind in INPUT_KINDS else kind_collate(kind)


def _robustness_section(results: Sequence[EvaluationResult], presets: Sequence[str]) -> list[str]:
    """Markdown lines: per-preset R² drop % of each audio-reading family and the veto verdict."""
    from shared_audio_core.metrics import format_comparison_table

    from piano_eval.evaluate.selection import ROBUSTNESS_VETO_PCT

    rows = {
        r.name: {**r.extra["robustness"], "worst": r.robustness_drop_pct}
        for r in results
        if "robustness" in r.extra
    }
    if not rows:
        return []
    vetoed = sorted(n for n, row in rows.items() if (row["worst"] or 0.0) > ROBUSTNESS_VETO_PCT)
    return [
        "## Robustness per augmentation preset",
        "",
        "Drop % of the mean per-dimension R² from clean to augmented test audio (lower is better); "
        f"a worst drop above {ROBUSTNESS_VETO_PCT:g} % vetoes the model (evaluate.selection). "
        "Models reading MIDI only are not affected by audio augmentation and are not listed.",
        "",
        format_comparison_table(rows, columns=[*presets, "worst"], lower_is_better=(*presets, "worst")),
        "",
        f"Vetoed: {', '.join(vetoed) if vetoed else 'none'}.",
        "",
    ]


def _insert_section(report: Path, lines: Sequence[str]) -> None:
    """Put ``lines`` into ``report.md`` before its Notes section."""
    if not lines:
        return
    text = report.read_text()
    marker = "## Notes"
    block = "\n".join(lines) + "\n"
    text = text.replace(marker, block + marker, 1) if marker in text else text + "\n" + block
    atomic_write_text(report, text)


def run_benchmark(
    out_dir: str | Path,
    config: BenchmarkRunConfig = QUICK,
    *,
    progress: bool = True,
    log: Callable[[str], None] = print,
    data_dir: str | Path | None = None,
    title: str = "piano-eval synthetic benchmark",
    sections: Callable[[Sequence[EvaluationResult]], list[str]] | None = None,
) -> Path:
    """Build, train, evaluate and write ``out_dir/report/report.md``; returns the report path.

    ``data_dir`` (default ``out_dir/data``) lets several runs share one built benchmark; ``sections`` adds
    markdown lines to the report, computed from the results.
    """
    torch.set_num_threads(config.threads)
    out = Path(out_dir)
    started = time.perf_counter()
    data_dir = Path(data_dir) if data_dir is not None else out / "data"
    log(f"building the synthetic benchmark in {data_dir}")
    build_benchmark(data_dir, config.data, progress=progress)
    dims, performances = load_rating_folder(data_dir, scale="0-1")
    split = {name: [p for p in performances if p.split == name] for name in ("train", "val", "test")}
    test = split["test"]
    targets = label_matrix(test)
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
    baselines = baseline_predictions(train_x, label_matrix(split["train"]), test_x, seed=config.seed)
    aug_baselines = (
        baseline_predictions(train_x, label_matrix(split["train"]), aug_x, seed=config.seed)
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

    extra_audio = {}
    for preset in config.robustness_presets:
        log(f"test audio through '{preset}' for the robustness table")
        extra_audio[preset] = augment_performances(test, out / f"test-{preset}", preset)

    trained: dict[str, PerformanceModule] = {}  # this run's models, the encoders of later fusion families

    def component(component_name: str) -> PerformanceModule:
        if component_name not in trained:
            trained[component_name] = _load_trained(
                get_family(component_name), out / "models" / component_name, len(dims), config.learning_rate
            )
        return trained[component_name]

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
        train_inputs = family_inputs(family, split["train"])
        built = None
        if isinstance(family, FusionFamily):
            encoders = component(family.audio_family), component(family.symbolic_family)
            L.seed_everything(config.seed, workers=True, verbose=False)  # same init, resumed or not
            built = family.build_fused(len(dims), config.learning_rate, *encoders)
        augmented_train = None
        if name in config.train_augmentation:
            preset = config.train_augmentation[name]
            augmented_train = _augmented_inputs(
                family, split["train"], train_inputs, out / f"train-{preset}", preset
            )
        logged: dict[str, float] = {}
        members = [
            train_family(
                family,
                split["train"],
                train_inputs,
                replace(config, seed=config.seed + k),
                len(dims),
                progress=progress,
                model=built,
                augmented_inputs=augmented_train,
                metrics=logged,
            )
            for k in range(config.ensemble_seeds.get(name, 1))
        ]
        model = members[0] if len(members) == 1 else PerformanceEnsemble.of(members)
        collate = input_collate(family.input_kind)
        test_inputs = family_inputs(family, test)
        scores, logits = predict(model, test_inputs, collate, pieces)
        augmented_scores = None
        if reads_audio(family.input_kind) and augmented_audio is not None:
            augmented_scores, _ = predict(model, family_inputs(family, augmented_audio), collate, pieces)
        result = evaluate_scores(
            name, scores, targets, pieces, dims, pair_logits=logits, augmented_predictions=augmented_scores
        )
        extra: dict[str, Any] = {
            "train_seconds": round(time.perf_counter() - t0, 1),
            "epochs": config.epochs[name],
        }
        if config.pretrain_epochs.get(name, 0) > 0:
            extra["pretrain_epochs"] = config.pretrain_epochs[name]
            extra["pretrain_losses"] = {k: v for k, v in logged.items() if not k.startswith("train/")}
        if name in config.train_augmentation:
            extra["train_augmentation"] = config.train_augmentation[name]
        if name in config.weight_averaging:
            extra["ema_decay"] = config.weight_averaging[name]
        if len(members) > 1:
            extra["ensemble_seeds"] = [config.seed + k for k in range(len(members))]
        worst = result.robustness_drop_pct
        if extra_audio and reads_audio(family.input_kind):
            drops: dict[str, float | None] = {}
            if config.robustness_preset is not None:
                drops[config.robustness_preset] = result.robustness_drop_pct
            for preset, performances_ in extra_audio.items():
                preset_scores, _ = predict(model, family_inputs(family, performances_), collate, pieces)
                drops[preset] = evaluate_scores(
                    name, scores, targets, pieces, dims, augmented_predictions=preset_scores
                ).robustness_drop_pct
            extra["robustness"] = drops
            known = [d for d in drops.values() if d is not None]
            worst = max(known) if known else None
        result = replace(result, robustness_drop_pct=worst, extra=extra)
        trained[name] = model
        _save(model, out / "models" / name, family.input_kind, dims)
        atomic_write_text(
            saved,
            json.dumps(
                {"result": result.to_dict(), "predictions": scores.tolist(), "config": asdict(config)}
            ),
        )
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
    report = write_report(
        out / "report",
        results,
        title=title,
        winner=winner,
        predictions=scatter,
        notes=notes,
    )
    extra_lines = (
        _robustness_section(
            models,
            [
                *dict.fromkeys(
                    ([config.robustness_preset] if config.robustness_preset else [])
                    + list(config.robustness_presets)
                )
            ],
        )
        if config.robustness_presets
        else []
    )
    if sections is not None:
        extra_lines += sections(results)
    _insert_section(report, extra_lines)
    return report
