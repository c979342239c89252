"""Command line: extract frozen backbone embeddings into the resumable cache of :mod:`piano_eval.audio.cache`.

``python -m piano_eval.audio.extract recordings/ --cache-dir cache/ --backbone muq --layers 9-12``
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from piano_eval.audio.backbones import BackboneConfig, BackboneError, build_backbone
from piano_eval.audio.cache import extract_embeddings
from piano_eval.audio.chunking import ChunkingConfig
from piano_eval.audio.encoder import AudioEncoder
from piano_eval.audio.layers import LayerSelection
from piano_eval.audio.models import default_layers

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".aiff", ".aif")


def parse_layers(spec: str) -> LayerSelection:
    """``"12"`` -> single layer, ``"9-12"`` -> mean of 9..12, ``"6,12"`` -> concatenation of 6 and 12."""
    spec = spec.strip()
    try:
        if "-" in spec:
            first, last = (int(part) for part in spec.split("-", 1))
            return LayerSelection.mean_range(first, last)
        if "," in spec:
            return LayerSelection.concat([int(part) for part in spec.split(",")])
        return LayerSelection.single(int(spec))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"bad layer spec {spec!r}: {error}") from error


def expand_audio_paths(paths: Sequence[str | Path]) -> list[Path]:
    """Files as given; directories contribute their audio files (recursively, sorted)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES))
        else:
            found.append(path)
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m piano_eval.audio.extract",
        description="Extract frozen backbone embeddings for audio files into a resumable safetensors cache.",
    )
    parser.add_argument("paths", nargs="+", help="audio files or directories (searched recursively)")
    parser.add_argument("--cache-dir", required=True, type=Path, help="cache root directory")
    parser.add_argument(
        "--backbone", default="muq", help="registry name (muq, mert, mert-330m, logmel) or HF id / dir"
    )
    parser.add_argument("--model-id", default=None, help="checkpoint overriding the registry default")
    parser.add_argument("--revision", default=None, help="Hub revision of the checkpoint")
    parser.add_argument(
        "--trust-remote-code", action="store_true", help="allow remote modeling code (HF ids)"
    )
    parser.add_argument("--sample-rate", type=int, default=None, help="override the checkpoint's sample rate")
    parser.add_argument(
        "--layers",
        type=parse_layers,
        default=None,
        help="'12' single, '9-12' mean (default: top four), '6,12' concat",
    )
    parser.add_argument("--chunk-seconds", type=float, default=30.0, help="chunk length for long audio")
    parser.add_argument("--max-chunks", type=int, default=8, help="chunks per backbone call (bounds memory)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--overwrite", action="store_true", help="recompute entries that already exist")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    paths = expand_audio_paths(args.paths)
    if not paths:
        print("no audio files found in " + ", ".join(args.paths), file=sys.stderr)
        return 1
    try:
        backbone = build_backbone(
            BackboneConfig(
                name=args.backbone,
                model_id=args.model_id,
                sample_rate=args.sample_rate,
                revision=args.revision,
                trust_remote_code=args.trust_remote_code,
            )
        )
    except BackboneError as error:  # missing optional package, incompatible checkpoint, missing rate
        print(f"error: {error}", file=sys.stderr)
        return 2
    layers = args.layers or default_layers(backbone.num_layers)
    encoder = AudioEncoder(backbone, layers, ChunkingConfig(args.chunk_seconds, args.max_chunks)).to(
        args.device
    )
    entries = extract_embeddings(
        paths, encoder, args.cache_dir, overwrite=args.overwrite, progress=not args.no_progress
    )
    print(f"{len(entries)} files cached in {entries[0].path.parent}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
