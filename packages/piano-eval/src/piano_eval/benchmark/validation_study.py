"""Choose a family's training settings on the validation pieces, never on the test pieces.

Each candidate is a family (possibly rebuilt with other constructor arguments) plus changes to the run
configuration (epochs, seed, weight averaging). It is trained on the training pieces of a built benchmark
and scored on its validation pieces; the test pieces are not loaded. Candidates that differ only in their
seed are also scored as an ensemble (mean scores, mean comparator logits), to show how much of a
difference between candidates is seed noise. Results are saved per candidate, so an interrupted study
resumes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from shared_audio_core.files import atomic_write_text
from shared_audio_core.metrics import format_comparison_table

from piano_eval.data.folder import load_rating_folder
from piano_eval.evaluate import EvaluationResult, evaluate_scores

from .families import Family, get_family
from .runner import BenchmarkRunConfig, family_inputs, input_collate, label_matrix, predict, train_family


@dataclass(frozen=True)
class Candidate:
    """One setting to try: ``family`` (default: the registered one of that name) and run-config changes."""

    name: str
    family: str = "N-notes"
    build: Callable[[int, float], Any] | None = None  # (num_dimensions, learning_rate) -> model
    run: Mapping[str, Any] = field(default_factory=dict)  # BenchmarkRunConfig fields to replace

    def family_for(self) -> Family:
        family = get_family(self.family)
        return replace(family, build=self.build) if self.build is not None else family

    def config_for(self, base: BenchmarkRunConfig) -> BenchmarkRunConfig:
        return replace(base, families=(self.family,), **dict(self.run))


def _score(name: str, scores: np.ndarray, logits: np.ndarray, targets, pieces, dims) -> EvaluationResult:
    return evaluate_scores(name, scores, targets, pieces, dims, pair_logits=logits)


def run_validation_study(
    data_dir: str | Path,
    out_dir: str | Path,
    candidates: Sequence[Candidate],
    base: BenchmarkRunConfig,
    *,
    ensembles: Mapping[str, Sequence[str]] | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> list[EvaluationResult]:
    """Train each candidate on the training pieces of ``data_dir``, score the validation pieces.

    ``ensembles`` maps a name to candidate names whose predictions are averaged. Writes
    ``out_dir/<candidate>.json`` and ``out_dir/report.md``; returns the results (candidates, then ensembles).
    """
    import torch

    torch.set_num_threads(base.threads)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dims, performances = load_rating_folder(data_dir, scale="0-1")
    train = [p for p in performances if p.split == "train"]
    val = [p for p in performances if p.split == "val"]
    if not train or not val:
        raise ValueError(
            f"{data_dir}: needs training and validation pieces (found {len(train)} / {len(val)})"
        )
    targets, pieces = label_matrix(val), [p.piece_id for p in val]
    outputs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    results: list[EvaluationResult] = []
    for candidate in candidates:
        saved = out / f"{candidate.name}.json"
        if saved.exists():
            payload = json.loads(saved.read_text())
            outputs[candidate.name] = (np.array(payload["scores"]), np.array(payload["logits"]))
            log(f"{candidate.name}: already scored ({saved})")
        else:
            family, config = candidate.family_for(), candidate.config_for(base)
            log(f"{candidate.name}: training {family.name} with {dict(candidate.run)}")
            model = train_family(
                family, train, family_inputs(family, train), config, len(dims), progress=progress
            )
            scores, logits = predict(
                model, family_inputs(family, val), input_collate(family.input_kind), pieces
            )
            atomic_write_text(
                saved,
                json.dumps(
                    {
                        "run": {k: repr(v) for k, v in candidate.run.items()},
                        "scores": scores.tolist(),
                        "logits": logits.tolist(),
                    }
                ),
            )
            outputs[candidate.name] = (scores, logits)
        result = _score(candidate.name, *outputs[candidate.name], targets, pieces, dims)
        log(f"{candidate.name}: validation pairwise {result.pairwise:.3f}, R² {result.r2:.3f}")
        results.append(result)
    for name, members in (ensembles or {}).items():
        missing = [m for m in members if m not in outputs]
        if missing:
            raise ValueError(f"ensemble {name!r} names candidates that were not run: {missing}")
        scores = np.mean([outputs[m][0] for m in members], axis=0)
        logits = np.mean([outputs[m][1] for m in members], axis=0)
        results.append(_score(name, scores, logits, targets, pieces, dims))
    rows = {
        r.name: {
            "pairwise": r.pairwise,
            "r2": r.r2,
            **{f"pw_{d}": v for d, v in r.pairwise_per_dimension.items()},
        }
        for r in results
    }
    columns = ["pairwise", "r2", *[f"pw_{d}" for d in dims]]
    report = [
        f"# Validation study ({len({p.piece_id for p in val})} validation pieces, {len(val)} performances; "
        f"trained on {len({p.piece_id for p in train})} training pieces)",
        "",
        format_comparison_table(rows, columns=columns),
        "",
        "Test pieces were not read.",
    ]
    atomic_write_text(out / "report.md", "\n".join(report) + "\n")
    return results
