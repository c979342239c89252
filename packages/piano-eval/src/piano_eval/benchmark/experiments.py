"""The seed-004 comparisons and the seed-001 ablations as named experiments on the synthetic benchmark.

Each experiment is a list of model families (:mod:`piano_eval.benchmark.families`, with their training
options) run through :func:`~piano_eval.benchmark.runner.run_benchmark` into ``<root>/<name>/`` with its own
report. The experiments of one ``root`` share one built benchmark (``<root>/data``), and the later ones read
the winners of the earlier ones from their results: ``fusion`` fuses the winners of ``audio-track`` and
``symbolic-track`` (default A-logmel + N-notes when those have not run), ``robustness`` scores those winners
and the best fusion, ``ablations`` uses the best fusion as its fused model.

Every experiment has a quick size (CPU minutes, the ``QUICK`` benchmark data) and a full size (``FULL``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shared_audio_core.augment import list_presets
from shared_audio_core.metrics import format_comparison_table

from piano_eval.data.synthetic import SyntheticBenchmarkConfig
from piano_eval.evaluate import EvaluationResult

from .families import (
    DEFAULT_AUDIO_FAMILY,
    DEFAULT_SYMBOLIC_FAMILY,
    FUSION_TYPES_BY_NAME,
    FusionFamily,
    Variant,
    fusion_family,
    get_family,
)
from .runner import FULL, QUICK, BenchmarkRunConfig, run_benchmark


@dataclass(frozen=True)
class ExperimentSize:
    """Data and epochs of one size; a family's epochs are looked up by its name, then by its base family's
    (``N-notes+uncertainty`` → ``N-notes``, ``F1-cross-attention[...]`` → ``F1-cross-attention``)."""

    data: SyntheticBenchmarkConfig
    epochs: Mapping[str, int] = field(default_factory=dict)
    default_epochs: int = 8
    pretrain_epochs: int = 3
    batch_size: int = 16

    def epochs_for(self, name: str) -> int:
        base = name.split("[", 1)[0]
        for key in (name, base, base.split("+", 1)[0]):
            if key in self.epochs:
                return int(self.epochs[key])
        return self.default_epochs


_FUSION_EPOCHS = dict.fromkeys(FUSION_TYPES_BY_NAME, 8)
QUICK_SIZE = ExperimentSize(
    data=QUICK.data,
    epochs={**QUICK.epochs, "A1-lora": 8, "A2-staged": 8, "S2-gnn": 30, **_FUSION_EPOCHS},
    pretrain_epochs=3,
)
FULL_SIZE = ExperimentSize(
    data=FULL.data,
    epochs={
        **FULL.epochs,
        "A1-lora": 30,
        "A2-staged": 30,
        "S2-gnn": 60,
        **dict.fromkeys(FUSION_TYPES_BY_NAME, 30),
    },
    pretrain_epochs=10,
)

# (label, reference family, changed family): the ablations report the change in each metric
Contrast = tuple[str, str, str]


@dataclass(frozen=True)
class Experiment:
    name: str
    compares: str  # one line: what the experiment compares (CLI help, docs)
    families: Callable[[Path], tuple[str, ...]]  # root → the families, winners read from earlier experiments
    contrasts: Callable[[Sequence[str]], tuple[Contrast, ...]] = lambda families: ()
    robustness_presets: tuple[str, ...] = ()


# ------------------------------------------------------------------------------------------ winners


def read_results(folder: Path) -> tuple[list[EvaluationResult], str | None]:
    """The model results and winner of an experiment's ``report/results.json`` (``([], None)`` if absent)."""
    path = folder / "report" / "results.json"
    if not path.is_file():
        return [], None
    payload = json.loads(path.read_text())
    results = [EvaluationResult.from_dict(r) for r in payload["results"]]
    winner = payload.get("winner", {}).get("winner")
    return results, winner


def track_winner(root: Path, experiment: str, default: str) -> str:
    """The winner of ``experiment`` under ``root`` if it ran (and names a family), else ``default``."""
    _, winner = read_results(root / experiment)
    if winner is None:
        return default
    try:
        get_family(winner)
    except ValueError:
        return default
    return winner


def _components(root: Path) -> tuple[str, str]:
    return (
        track_winner(root, "audio-track", DEFAULT_AUDIO_FAMILY),
        track_winner(root, "symbolic-track", DEFAULT_SYMBOLIC_FAMILY),
    )


def best_fusion(root: Path) -> FusionFamily:
    """The best F1–F3 of the ``fusion`` experiment (pairwise, R² tiebreak, robustness veto), else F3 over
    the track winners."""
    from piano_eval.evaluate import select_winner

    results, _ = read_results(root / "fusion")
    fused = []
    for r in results:
        try:
            family = get_family(r.name)
        except ValueError:
            continue
        if isinstance(family, FusionFamily):
            fused.append(r)
    if fused:
        try:
            family = get_family(select_winner(fused).winner)
            assert isinstance(family, FusionFamily)
            return family
        except ValueError:  # every fusion vetoed
            pass
    audio, symbolic = _components(root)
    return fusion_family("F3-gated", audio, symbolic)


def _fusion_families(root: Path) -> tuple[str, ...]:
    audio, symbolic = _components(root)
    return (symbolic, audio, *(fusion_family(f, audio, symbolic).name for f in FUSION_TYPES_BY_NAME))


def _robustness_families(root: Path) -> tuple[str, ...]:
    fused = best_fusion(root)
    audio = track_winner(root, "audio-track", fused.audio_family)
    return tuple(dict.fromkeys((fused.symbolic_family, fused.audio_family, audio, fused.name)))


def _ablation_families(root: Path) -> tuple[str, ...]:
    fused = best_fusion(root)
    return tuple(
        dict.fromkeys(
            (
                fused.symbolic_family,
                fused.audio_family,
                fused.name,
                "S3-continuous",
                "S3-continuous+pretrain",
                "N-notes",
                "N-notes+uncertainty",
                "A-logmel",
                "A-logmel+augment",
            )
        )
    )


def _ablation_contrasts(families: Sequence[str]) -> tuple[Contrast, ...]:
    fused = next(f for f in families if isinstance(get_family(f), FusionFamily))
    audio = get_family(fused)
    assert isinstance(audio, FusionFamily)
    return (
        ("audio-only vs fused", audio.audio_family, fused),
        ("no pretraining vs pretraining (S3 contrastive)", "S3-continuous", "S3-continuous+pretrain"),
        ("fixed lambdas vs uncertainty weighting", "N-notes", "N-notes+uncertainty"),
        ("no augmentation vs training-audio augmentation", "A-logmel", "A-logmel+augment"),
    )


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        Experiment(
            "audio-track",
            "A1 LoRA vs A2 staged adaptation vs A3 gradual unfreezing (A-logmel), one log-mel backbone",
            lambda root: ("A1-lora", "A2-staged", "A-logmel"),
        ),
        Experiment(
            "symbolic-track",
            "S1 REMI Transformer vs S2 note-graph GAT vs S3 continuous CNN+Transformer (each after its "
            "pretraining) vs the note-level model",
            lambda root: ("S1-remi+pretrain", "S2-gnn+pretrain", "S3-continuous+pretrain", "N-notes"),
        ),
        Experiment(
            "fusion",
            "F1 cross-attention vs F2 concat vs F3 gated over the track winners (default A-logmel + N-notes), "
            "and the two alone",
            _fusion_families,
        ),
        Experiment(
            "robustness",
            "the winners on clean vs every augmentation preset: R² drop % per preset and the 15 % veto",
            _robustness_families,
            robustness_presets=tuple(list_presets()),
        ),
        Experiment(
            "ablations",
            "audio-only vs fused, with vs without pretraining, uncertainty weighting and training-audio "
            "augmentation",
            _ablation_families,
            _ablation_contrasts,
        ),
    )
}


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose from {list(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def experiment_config(
    name: str, root: str | Path, size: ExperimentSize = QUICK_SIZE, *, threads: int = 2, seed: int = 0
) -> BenchmarkRunConfig:
    """The runner config of experiment ``name`` at ``size`` (winners read from ``root``'s earlier runs)."""
    experiment = get_experiment(name)
    families = experiment.families(Path(root))
    variants = {f: get_family(f) for f in families}
    return BenchmarkRunConfig(
        data=size.data,
        families=families,
        epochs={f: size.epochs_for(f) for f in families},
        batch_size=size.batch_size,
        seed=seed,
        threads=threads,
        pretrain_epochs={
            f: size.pretrain_epochs for f, v in variants.items() if isinstance(v, Variant) and v.pretrain
        },
        train_augmentation={
            f: v.train_augmentation
            for f, v in variants.items()
            if isinstance(v, Variant) and v.train_augmentation is not None
        },
        robustness_presets=experiment.robustness_presets,
    )


def contrast_section(results: Sequence[EvaluationResult], contrasts: Sequence[Contrast]) -> list[str]:
    """Markdown lines: for each (label, reference, changed) the metrics of both and the change."""
    by_name = {r.name: r for r in results}
    rows: dict[str, dict[str, float | None]] = {}
    for label, reference, changed in contrasts:
        if reference not in by_name or changed not in by_name:
            continue
        a, b = by_name[reference], by_name[changed]
        rows[f"{label}: {reference} → {changed}"] = {
            "pairwise_ref": a.pairwise,
            "pairwise": b.pairwise,
            "Δpairwise": b.pairwise - a.pairwise,
            "Δr2": b.r2 - a.r2,
            "robust_drop_ref": a.robustness_drop_pct,
            "robust_drop": b.robustness_drop_pct,
        }
    if not rows:
        return []
    return [
        "## Ablations",
        "",
        "Each row: the reference model, then the model with one thing changed (Δ = changed − reference).",
        "",
        format_comparison_table(
            rows, lower_is_better=("robust_drop_ref", "robust_drop"), row_header="change"
        ),
        "",
    ]


def run_experiment(
    name: str,
    root: str | Path,
    size: ExperimentSize = QUICK_SIZE,
    *,
    threads: int = 2,
    seed: int = 0,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> Path:
    """Run experiment ``name`` into ``root/name`` (benchmark data in ``root/data``); returns the report path.

    Resumable like the benchmark: finished families of ``root/name`` are kept.
    """
    experiment = get_experiment(name)
    root = Path(root)
    config = experiment_config(name, root, size, threads=threads, seed=seed)
    log(f"experiment {name}: {experiment.compares}; families {', '.join(config.families)}")
    contrasts = experiment.contrasts(config.families)
    return run_benchmark(
        root / name,
        config,
        progress=progress,
        log=log,
        data_dir=root / "data",
        title=f"piano-eval experiment: {name}",
        sections=(lambda results: contrast_section(results, contrasts)) if contrasts else None,
    )


__all__ = [
    "EXPERIMENTS",
    "FULL_SIZE",
    "QUICK_SIZE",
    "Experiment",
    "ExperimentSize",
    "best_fusion",
    "contrast_section",
    "experiment_config",
    "get_experiment",
    "read_results",
    "run_experiment",
    "track_winner",
]
