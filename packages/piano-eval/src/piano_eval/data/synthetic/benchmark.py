"""Build the synthetic piano benchmark folder: scores → performances → MIDI + audio + ratings.

Layout (the generic ``ratings.csv`` folder layout :mod:`piano_eval.data.folder` reads)::

    DIR/benchmark.json              the config it was built with + the dimension names
    DIR/ratings.csv                 performance_id, piece_id, split, audio, midi, score_midi, <dimensions…>
    DIR/scores/<piece>.mid          the score played deadpan (reference for alignment)
    DIR/midi/<piece>/<perf>.mid     the performance
    DIR/audio/<piece>/<perf>.flac   the performance rendered through a piano SoundFont (+ augmentation)
    DIR/truth/<piece>/<perf>.json   style, severities and the true note alignment

Splits are by piece (no piece in two splits). The build is resumable: a performance whose files exist is
kept, so an interrupted build continues where it stopped (every file is written atomically).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from shared_audio_core.audio import peak_normalize
from shared_audio_core.augment import AudioAugmentor, get_preset
from shared_audio_core.files import atomic_output
from shared_audio_core.synth import render_midi
from tqdm.auto import tqdm

from .performance import DIMENSIONS, Degradation, ExpressiveStyle, Performance, perform
from .scores import PianoScore, corpus_piece, generate_piece

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SyntheticBenchmarkConfig:
    """What to build. Defaults give a few minutes of CPU and enough pieces to hold some out."""

    generated_pieces: int = 24
    corpus: tuple[str, ...] = ()  # music21 corpus paths, e.g. ("bach/bwv66.6",); needs the corpus extra
    bars: int = 4
    performances_per_piece: int = 6
    clean_probability: float = 0.25
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    sample_rate: int = 24000
    soundfont: str | None = None  # default: the core synth's default piano-capable GM SoundFont
    augmentation: str | None = None  # a shared_audio_core.augment preset applied to every rendering
    seed: int = 0
    # the dimensions that get degraded; the others stay clean (label 1) — a one-dimension benchmark shows
    # whether a model hears that degradation at all
    degraded_dimensions: tuple[str, ...] = DIMENSIONS

    def __post_init__(self) -> None:
        if self.generated_pieces + len(self.corpus) < 3:
            raise ValueError("need at least 3 pieces: one each for train, val and test")
        if self.performances_per_piece < 2:
            raise ValueError("performances_per_piece must be ≥ 2: pairs are formed within a piece")
        if len(self.split_fractions) != 3 or abs(sum(self.split_fractions) - 1.0) > 1e-6:
            raise ValueError(
                f"split_fractions must be three fractions summing to 1, got {self.split_fractions}"
            )
        if self.augmentation is not None:
            get_preset(self.augmentation)  # unknown names fail before any work
        unknown = sorted(set(self.degraded_dimensions) - set(DIMENSIONS))
        if unknown or not self.degraded_dimensions:
            raise ValueError(
                f"degraded_dimensions must be a non-empty subset of {list(DIMENSIONS)}, "
                f"got {list(self.degraded_dimensions)}"
            )


@dataclass(frozen=True)
class BenchmarkEntry:
    performance_id: str
    piece_id: str
    split: str
    audio: str
    midi: str
    score_midi: str
    labels: dict[str, float] = field(default_factory=dict)


def benchmark_pieces(config: SyntheticBenchmarkConfig) -> list[PianoScore]:
    """The scores a benchmark of ``config`` plays, in build order (regenerated, not read from the folder)."""
    pieces = [
        generate_piece(f"gen-{i:03d}", config.seed * 100_003 + i, bars=config.bars)
        for i in range(config.generated_pieces)
    ]
    pieces += [corpus_piece(path, max_beats=4.0 * config.bars) for path in config.corpus]
    return pieces


def split_pieces(piece_ids: Sequence[str], fractions: Sequence[float], seed: int) -> dict[str, str]:
    """Piece → split, piece-disjoint by construction; every split gets at least one piece."""
    order = sorted(piece_ids)
    np.random.default_rng(seed).shuffle(order)
    n = len(order)
    n_val = max(1, round(fractions[1] * n))
    n_test = max(1, round(fractions[2] * n))
    n_train = n - n_val - n_test
    if n_train < 1:
        raise ValueError(f"{n} pieces cannot fill three splits")
    names = ["train"] * n_train + ["val"] * n_val + ["test"] * n_test
    return dict(zip(order, names, strict=True))


def _atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    with atomic_output(path) as tmp:
        write(tmp)


def deadpan_performance(score: PianoScore, seed: int) -> Performance:
    """The score played without expression or degradation: the benchmark's ``scores/<piece>.mid``."""
    style = ExpressiveStyle(
        rubato=0.0, final_ritardando=0.0, dynamic_arch=0.0, melody_emphasis=0.0, legato=1.0
    )
    return perform(score, style, Degradation(), seed)


def build_benchmark(
    out_dir: str | Path, config: SyntheticBenchmarkConfig, *, progress: bool = True
) -> list[BenchmarkEntry]:
    """Build (or finish building) the benchmark in ``out_dir``; returns its entries in ratings.csv order."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta_path = out / "benchmark.json"
    meta = {
        "config": asdict(config),
        "dimensions": list(DIMENSIONS),
        "label_scale": "0-1, 1 = no degradation",
    }
    if meta_path.exists():
        existing = json.loads(meta_path.read_text())
        # a folder written before a config field existed was built with that field's default
        defaults = json.loads(json.dumps(asdict(SyntheticBenchmarkConfig())))
        if {**defaults, **existing.get("config", {})} != json.loads(json.dumps(asdict(config))):
            raise ValueError(f"{out} holds a benchmark built with a different config; use another directory")
    else:
        _atomic_write(meta_path, lambda p: p.write_text(json.dumps(meta, indent=2)))
    pieces = benchmark_pieces(config)
    splits = split_pieces([p.piece_id for p in pieces], config.split_fractions, config.seed)
    augmentor = AudioAugmentor(get_preset(config.augmentation)) if config.augmentation else None
    entries: list[BenchmarkEntry] = []
    total = len(pieces) * config.performances_per_piece
    bar = tqdm(total=total, desc="synthetic benchmark", unit="perf", disable=not progress)
    for p_index, piece in enumerate(pieces):
        score_midi = out / "scores" / f"{piece.piece_id}.mid"
        if not score_midi.exists():
            _atomic_write(
                score_midi, lambda p, piece=piece: deadpan_performance(piece, 0).to_score().dump_midi(str(p))
            )
        for k in range(config.performances_per_piece):
            perf_id = f"{piece.piece_id}-p{k:02d}"
            seed = (config.seed * 1_000_003 + p_index) * 1000 + k
            rng = np.random.default_rng(seed)
            style = ExpressiveStyle.sample(rng)
            degradation = Degradation.sample(rng, config.clean_probability, config.degraded_dimensions)
            midi_path = out / "midi" / piece.piece_id / f"{perf_id}.mid"
            audio_path = out / "audio" / piece.piece_id / f"{perf_id}.flac"
            truth_path = out / "truth" / piece.piece_id / f"{perf_id}.json"
            if not truth_path.exists():
                performance = perform(piece, style, degradation, seed)
                midi = performance.to_score()
                audio = render_midi(midi, config.soundfont, config.sample_rate)
                if augmentor is not None:
                    audio = augmentor(audio, config.sample_rate, seed=seed).audio
                audio = peak_normalize(audio, -1.0)
                _atomic_write(midi_path, lambda p, midi=midi: midi.dump_midi(str(p)))
                _atomic_write(
                    audio_path, lambda p, a=audio: sf.write(str(p), a, config.sample_rate, format="FLAC")
                )
                truth = {
                    "style": asdict(style),
                    "severity": asdict(degradation),
                    "alignment": [[i, n.score_index] for i, n in enumerate(performance.notes)],
                }
                _atomic_write(truth_path, lambda p, t=truth: p.write_text(json.dumps(t)))
            entries.append(
                BenchmarkEntry(
                    perf_id,
                    piece.piece_id,
                    splits[piece.piece_id],
                    str(audio_path.relative_to(out)),
                    str(midi_path.relative_to(out)),
                    str(score_midi.relative_to(out)),
                    degradation.labels(),
                )
            )
            bar.update(1)
    bar.close()
    header = ["performance_id", "piece_id", "split", "audio", "midi", "score_midi", *DIMENSIONS]
    rows = [
        [
            e.performance_id,
            e.piece_id,
            e.split,
            e.audio,
            e.midi,
            e.score_midi,
            *(f"{e.labels[d]:.4f}" for d in DIMENSIONS),
        ]
        for e in entries
    ]

    def write_csv(path: Path) -> None:
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)

    _atomic_write(out / "ratings.csv", write_csv)
    return entries
