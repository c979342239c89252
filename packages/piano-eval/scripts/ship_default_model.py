"""Ship the FULL benchmark's N-notes model as the default model of the piano-eval wheel.

The committed recipe reproduces it (docs/benchmark-results.md):

    uv run piano-eval benchmark --full --families N-notes          # trains on the 168 training pieces
    uv run python packages/piano-eval/scripts/ship_default_model.py runs/piano-benchmark

Copies ``RUN/models/N-notes`` (a ``save_model_folder`` folder) into ``piano_eval/scoring/default_model``,
writes its model card with the held-out test figures from ``RUN/results/N-notes.json`` and a SHA-256
manifest that ``piano_eval.scoring.load_model()`` checks.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from piano_eval.scoring import default_model_dir, load_model_folder
from shared_audio_core.files import MANIFEST_FILE, file_hashes

FAMILY = "N-notes"


def model_card(result: dict, config: dict, parameters: int) -> str:
    dims = result["dimensions"]
    seeds = result["extra"].get("ensemble_seeds", [config["seed"]])
    members = len(seeds)
    test_pieces = round(config["data"]["generated_pieces"] * config["data"]["split_fractions"][2])
    pairwise = " | ".join(f"{result['pairwise_per_dimension'][d]:.3f}" for d in dims)
    r2 = " | ".join(f"{result['r2_per_dimension'][d]:.3f}" for d in dims)
    data = config["data"]
    return f"""---
library_name: piano-eval
tags: [piano, performance-assessment, symbolic-music]
license: apache-2.0
---

# piano-eval default model: N-notes on the synthetic benchmark

Shipped inside the `piano-eval` wheel; `piano-eval score take.wav --midi take.mid` (and
`piano_eval.scoring.load_model()`) use it when no `--model` is given. It reads the **performance MIDI**
(one row of exact-onset features per played note: chord spread, gaps, hold ratio, velocity and its
deviation, pitch step, key and semitone-clash cues, pedal state) through a per-note MLP (128 wide) and
attention + statistics pooling. It is the mean of {members} such models trained with seeds
{", ".join(str(s) for s in seeds)} (`piano_eval.scoring.PerformanceEnsemble`; the ensemble was chosen on the
validation pieces, where the seeds alone scored 0.898–0.909 pairwise and their mean 0.914); {parameters:,}
parameters in all.

## What it scores

Five dimensions in [0, 1], higher = closer to the clean performance: {", ".join(f"`{d}`" for d in dims)}. They are
the **synthetic benchmark's** labelled degradations (timing jitter and drift, flattened or exaggerated
dynamics, articulation length, pedal overuse and blur, wrong and missing notes), not PercePiano's 19
perceptual dimensions and not human ratings. On real recordings it measures how much a performance looks
like those generated defects; it has not been validated against human judgements. For PercePiano-style
ratings train a model on rated data (`train fit`, apps/train) and pass `--model`.

## Evaluation (held-out pieces of the synthetic benchmark)

The test split: {test_pieces} of {data["generated_pieces"]} generated pieces × {data["performances_per_piece"]} performances (split
by piece, never seen in training or in the choice of settings). Pairwise accuracy over within-piece pairs (|Δ| ≥ 0.05) from the
model's comparator; R² per dimension and their mean.

| metric | overall | {" | ".join(dims)} |
|---|---:|{"---:|" * len(dims)}
| pairwise | {result["pairwise"]:.3f} | {pairwise} |
| R² | {result["r2"]:.3f} | {r2} |

## Recipe

`uv run piano-eval benchmark --full --families {FAMILY}` then `scripts/ship_default_model.py RUN_DIR`
(packages/piano-eval); benchmark configuration:

```json
{json.dumps(config, indent=2, sort_keys=True)}
```
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", type=Path, help="a `piano-eval benchmark --full` output folder")
    args = parser.parse_args()
    source = args.run / "models" / FAMILY
    saved = load_model_folder(source)  # refuses an incomplete folder
    payload = json.loads((args.run / "results" / f"{FAMILY}.json").read_text())
    result = payload["result"]
    config = payload.get("config")
    if config is None:
        raise SystemExit(
            f"{args.run}: results/{FAMILY}.json records no benchmark config; rerun the benchmark"
        )
    target = default_model_dir()
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    parameters = sum(p.numel() for p in saved.model.parameters())
    (target / "README.md").write_text(model_card(result, config, parameters))
    for path in target.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)  # package data: readable by every user
    manifest = {"source": str(source), "sha256": file_hashes(target)}
    (target / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    print(f"shipped {source} → {target} ({size / 1e6:.2f} MB); test pairwise {result['pairwise']:.3f}")


if __name__ == "__main__":
    main()
