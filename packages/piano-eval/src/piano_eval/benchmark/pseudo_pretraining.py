"""Does pseudo-label pretraining help a model fine-tuned on a few expert ratings? (seed 001 §4.4–4.5)

On a built synthetic benchmark:

1. every training performance gets the six pseudo-labels of :mod:`piano_eval.pseudo_labels`, computed
   against its score over the whole performance (one segment: the benchmark's pieces are a few bars), cached
   in ``<out>/pseudo-labels.jsonl`` (resumable);
2. a note-level model (the benchmark's N-notes family) is trained on those pseudo-labels for all training
   pieces — no true rating is read;
3. a small "expert" subset — ``expert_pieces`` of the training pieces, with their true labels standing in
   for expert ratings — trains two models of the same family: one from scratch, one whose encoder starts from
   step 2 (a fresh head for the expert dimensions);
4. both are scored on the held-out test pieces, for several subset draws (``seeds``).

The report gives the mean and spread over the draws of pairwise accuracy and R², overall and per dimension.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from piano_eval.data.folder import RatedPerformance, load_rating_folder
from piano_eval.data.inputs import input_loader, part_collate
from piano_eval.evaluate import EvaluationResult, evaluate_scores

from .families import Family, get_family
from .runner import FULL, BenchmarkRunConfig, predict, train_family

FAMILY = "N-notes"


@dataclass(frozen=True)
class PseudoPretrainingConfig:
    expert_pieces: int = 25  # training pieces whose true labels play the expert ratings (200 at 8 per piece)
    seeds: tuple[int, ...] = (0, 1, 2)  # subset draws (and training seeds)
    pretrain_epochs: int = 40
    finetune_epochs: int = 60
    run: BenchmarkRunConfig = field(default_factory=lambda: replace(FULL, families=(FAMILY,)))

    def __post_init__(self) -> None:
        if self.expert_pieces < 2:
            raise ValueError(f"expert_pieces must be >= 2, got {self.expert_pieces}")
        if not self.seeds:
            raise ValueError("seeds must name at least one subset draw")
        if self.pretrain_epochs < 1 or self.finetune_epochs < 1:
            raise ValueError("pretrain_epochs and finetune_epochs must be >= 1")


def whole_performance_pseudo_labels(
    performances: Sequence[RatedPerformance], out: Path, *, progress: bool = True
) -> tuple[tuple[str, ...], np.ndarray]:
    """``(label names, [N, 6] pseudo-labels in [0, 1], NaN where not computable)``, one segment per
    performance, cached in ``out`` (JSONL, resumed when it exists)."""
    from tqdm.auto import tqdm

    from piano_eval.pseudo_labels import LABELS, LabelWriter, PerformanceFiles, label_performance, read_labels

    with LabelWriter(out) as writer:
        for p in tqdm(performances, desc="pseudo-labels", unit="perf", disable=not progress):
            if p.score_midi_path is None:
                raise ValueError(f"performance {p.performance_id} has no score_midi to compute pseudo-labels")
            files = PerformanceFiles(p.score_midi_path, p.audio_path, p.midi_path, p.performance_id)
            for record in label_performance(files, None, skip=writer.done):  # the whole performance
                writer.write(record)
    by_file = {(r["audio_path"], r["midi_path"]): r["labels"] for r in read_labels(out)}
    rows = []
    for p in performances:
        key = (
            None if p.audio_path is None else str(p.audio_path),
            None if p.midi_path is None else str(p.midi_path),
        )
        labels = by_file[key]
        rows.append([np.nan if labels[k] is None else labels[k] / 100.0 for k in LABELS])
    return LABELS, np.array(rows, dtype=float)


def _with_labels(performances: Sequence[RatedPerformance], labels: np.ndarray) -> list[RatedPerformance]:
    return [replace(p, labels=row) for p, row in zip(performances, labels, strict=True)]


def expert_subset(train: Sequence[RatedPerformance], pieces: int, seed: int) -> list[RatedPerformance]:
    """All performances of ``pieces`` training pieces drawn with ``seed`` (whole pieces: pairs are within
    a piece)."""
    names = sorted({p.piece_id for p in train})
    if pieces > len(names):
        raise ValueError(f"expert_pieces={pieces}, but there are {len(names)} training pieces")
    kept = set(np.random.default_rng(seed).permutation(names)[:pieces].tolist())
    return [p for p in train if p.piece_id in kept]


def _score(
    model, family: Family, test: Sequence[RatedPerformance], inputs, dims: Sequence[str], name: str
) -> EvaluationResult:
    pieces = [p.piece_id for p in test]
    scores, logits = predict(model, inputs, part_collate(family.input_kind), pieces)
    targets = np.stack([p.labels for p in test])
    return evaluate_scores(name, scores, targets, pieces, dims, pair_logits=logits)


def run_pseudo_pretraining(
    data: str | Path, out: str | Path, config: PseudoPretrainingConfig, *, progress: bool = True
) -> dict:
    """Run the comparison on the benchmark folder ``data``; writes ``<out>/results.json`` and
    ``<out>/report.md`` and returns the results."""
    torch.set_num_threads(config.run.threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dims, performances = load_rating_folder(data, scale="0-1")
    train = [p for p in performances if p.split == "train"]
    test = [p for p in performances if p.split == "test"]
    family = get_family(FAMILY)
    load = input_loader(family.input_kind)
    train_inputs = dict(
        zip((p.performance_id for p in train), load([p.midi_path for p in train]), strict=True)
    )
    test_inputs = load([p.midi_path for p in test])

    names, pseudo = whole_performance_pseudo_labels(train, out / "pseudo-labels.jsonl", progress=progress)
    pretrain_run = replace(config.run, epochs={FAMILY: config.pretrain_epochs})
    pretrained = train_family(
        family,
        _with_labels(train, pseudo),
        list(train_inputs.values()),
        pretrain_run,
        len(names),
        progress=progress,
    )
    encoder_folder = out / "pseudo-pretrained"
    pretrained.save_pretrained(encoder_folder)

    rows: list[dict] = []
    for seed in config.seeds:
        subset = expert_subset(train, config.expert_pieces, seed)
        inputs = [train_inputs[p.performance_id] for p in subset]
        run = replace(config.run, epochs={FAMILY: config.finetune_epochs}, seed=seed)
        scratch = train_family(family, subset, inputs, run, len(dims), progress=progress)
        warm = _warm_start(family, encoder_folder, len(dims), run.learning_rate)
        finetuned = train_family(family, subset, inputs, run, len(dims), progress=progress, model=warm)
        for label, model in (("scratch", scratch), ("pseudo-pretrained", finetuned)):
            result = _score(model, family, test, test_inputs, dims, label)
            rows.append({"seed": seed, "model": label, "result": result.to_dict()})
    results = {
        "config": {k: v for k, v in asdict(config).items() if k != "run"},
        "family": FAMILY,
        "train_performances": len(train),
        "expert_performances": len(expert_subset(train, config.expert_pieces, config.seeds[0])),
        "test_performances": len(test),
        "pseudo_labels": list(names),
        "pseudo_label_coverage": {n: float(np.mean(~np.isnan(pseudo[:, k]))) for k, n in enumerate(names)},
        "rows": rows,
    }
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "report.md").write_text(report(results, dims))
    return results


def _warm_start(family: Family, folder: Path, dims: int, learning_rate: float):
    model = family.build(dims, learning_rate)
    from piano_eval.training import load_part_weights

    load_part_weights(model.encoder, str(folder))
    return model


def report(results: dict, dims: Sequence[str]) -> str:
    """Markdown: mean ± sd over the subset draws, overall and per dimension, for both models."""
    lines = [
        "| model | pairwise | R² | " + " | ".join(f"pairwise {d}" for d in dims) + " |",
        "|---|---:|---:|" + "---:|" * len(dims),
    ]
    for model in ("scratch", "pseudo-pretrained"):
        picked = [EvaluationResult.from_dict(r["result"]) for r in results["rows"] if r["model"] == model]

        def cell(values: list[float]) -> str:
            return f"{np.mean(values):.3f} ± {np.std(values):.3f}"

        per_dim = [cell([r.pairwise_per_dimension[d] for r in picked]) for d in dims]
        lines.append(
            f"| {model} | {cell([r.pairwise for r in picked])} | {cell([r.r2 for r in picked])} | "
            + " | ".join(per_dim)
            + " |"
        )
    return "\n".join(lines) + "\n"


__all__ = [
    "PseudoPretrainingConfig",
    "expert_subset",
    "report",
    "run_pseudo_pretraining",
    "whole_performance_pseudo_labels",
]
