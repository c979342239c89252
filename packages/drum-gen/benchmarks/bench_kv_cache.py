"""Benchmark: 4-bar generation with the KV cache vs re-running the whole prefix every step.

Both paths are run with the same seed; the script checks they draw identical tokens (same
distribution, same samples) and reports wall time and speed-up. Usage::

    uv run --frozen python packages/drum-gen/benchmarks/bench_kv_cache.py --model runs/cpu-small
    uv run --frozen python packages/drum-gen/benchmarks/bench_kv_cache.py   # untrained recipe-sized model

Without ``--model`` an untrained model of the cpu-small recipe's size is used and generation runs for a
fixed number of tokens (an untrained model would not stop at 4 bars by itself).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from drum_gen.loader import load_model
from drum_gen.model import DrumPatternTransformer, DrumTransformerConfig
from drum_gen.sampling import SamplingConfig, StopCondition, generate
from drum_gen.training import build_tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", default=None, help="trained checkpoint directory (default: untrained model)"
    )
    parser.add_argument("--style", default="Questlove")
    parser.add_argument("--tempo", type=float, default=100.0)
    parser.add_argument("--bars", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1, help="patterns generated at once")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=300, help="fixed length for the untrained model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    if args.model:
        loaded = load_model(args.model, device="cpu")
        model, tokenizer = loaded.model, loaded.tokenizer
        stop = StopCondition(tokenizer.eos_id, tokenizer.pad_id, tokenizer.bar_token_ids, args.bars)
        max_new = model.config.max_seq_len
    else:
        tokenizer = build_tokenizer()
        torch.manual_seed(0)
        config = DrumTransformerConfig(
            vocab_size=tokenizer.vocab_size,
            pad_id=tokenizer.pad_id,
            d_model=128,
            n_layers=3,
            n_heads=4,
            d_ff=512,
        )
        model = DrumPatternTransformer(config).eval()
        stop = StopCondition(tokenizer.eos_id, tokenizer.pad_id)  # run to the fixed length
        max_new = args.tokens
    prompt = torch.tensor([tokenizer.prompt_ids(args.style, args.tempo)] * args.batch)
    suppress = set(tokenizer.conditioning_token_ids) | ({tokenizer.eos_id} if not args.model else set())

    def run(use_cache: bool, seed: int) -> tuple[float, list[list[int]]]:
        sampling = SamplingConfig(temperature=0.9, top_p=0.95, max_new_tokens=max_new, seed=seed)
        start = time.perf_counter()
        rows = generate(model, prompt, stop, sampling, use_cache=use_cache, suppress_token_ids=suppress)
        return time.perf_counter() - start, rows

    run(True, 0)  # warm-up
    cached_times, plain_times, identical = [], [], True
    lengths = []
    for repeat in range(args.repeats):
        t_cache, rows_cache = run(True, repeat)
        t_plain, rows_plain = run(False, repeat)
        cached_times.append(t_cache)
        plain_times.append(t_plain)
        identical &= rows_cache == rows_plain
        lengths.extend(len(r) for r in rows_cache)
    result = {
        "model": args.model or "untrained cpu-small-sized model",
        "parameters": model.num_parameters,
        "batch": args.batch,
        "threads": args.threads,
        "mean_sequence_length": statistics.mean(lengths),
        "bars_generated": [tokenizer.count_bars(r) for r in rows_cache],
        "seconds_with_cache": statistics.median(cached_times),
        "seconds_without_cache": statistics.median(plain_times),
        "speedup": statistics.median(plain_times) / statistics.median(cached_times),
        "identical_tokens": identical,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value:.3f}" if isinstance(value, float) else f"{key:>24}: {value}")
    if not identical:
        raise SystemExit("error: the cached and uncached paths drew different tokens with the same seed")


if __name__ == "__main__":
    main()
