"""Every LightningModule parses and instantiates through LightningCLI from a small YAML config.

The later training app is a ``LightningCLI``; these tests build each model exactly the way it will, from a
config file (nested dataclass configs included), and check that the parsed values reach the built model.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import piano_eval
import pytest
import torch
import yaml
from lightning.pytorch.cli import LightningCLI
from piano_eval.audio import (
    AudioPerformanceModule,
    GradualUnfreezingModel,
    LoRAMultitaskModel,
    StagedAdaptationModel,
    lora_module_names,
)
from piano_eval.fusion import FusedPerformanceModule
from piano_eval.heads import HeadConfig
from piano_eval.symbolic.continuous import ContinuousPerformanceModel
from piano_eval.symbolic.gnn import HeteroScoreGraphEncoder, ScoreGraphModule
from piano_eval.symbolic.notes import NoteSequenceModel
from piano_eval.symbolic.remi_transformer import RemiTransformerModule
from piano_eval.testing import lightning_cli_for
from piano_eval.training import EmbeddingPerformanceModule, HierarchicalMultiTaskModule

TINY_HEAD = {"head": {"hidden_dim": 16, "projection_dim": 8, "num_dimensions": 3, "dropout": 0.0}}


def _check_embedding(model: EmbeddingPerformanceModule) -> None:
    assert model.head_config == HeadConfig(hidden_dim=16, projection_dim=8, num_dimensions=3, dropout=0.0)
    assert model.scorer.head.regression.out_features == 3
    assert model.objective.config.lambda_ccc == 0.5 and model.objective.uncertainty is not None
    assert model.learning_rate == 3e-3


def _check_hierarchical(model: HierarchicalMultiTaskModule) -> None:
    lstm = next(m for m in model.modules() if isinstance(m, torch.nn.LSTM))
    assert (lstm.input_size, lstm.hidden_size, lstm.num_layers) == (8, 8, 1)
    assert model.forward(torch.randn(2, 5, 8)).shape == (2, 3)
    assert model.learning_rate == 2e-3


def _check_lora(model: LoRAMultitaskModel) -> None:
    assert model.lora_targets == ["layers.0.q_proj", "layers.0.v_proj", "layers.1.q_proj", "layers.1.v_proj"]
    assert sorted(lora_module_names(model.encoder.backbone)) == model.lora_targets
    lora_a = model.encoder.backbone.get_submodule("layers.0.q_proj").lora_A["default"]
    assert lora_a.out_features == 2  # rank from the YAML
    assert model.encoder.layers.mode == "single" and model.encoder.layers.layers == (2,)
    assert model.feature_dim == 16  # the log-mel backbone's hidden size from backbone.options


def _check_staged(model: StagedAdaptationModel) -> None:
    assert model.stage == "supervised" and model.self_supervised_learning_rate == 1e-2
    assert not model.has_backbone and model.feature_dim == 8


def _check_unfreezing(model: GradualUnfreezingModel) -> None:
    assert model.unfreeze_schedule == {0: [2], 3: [1]}
    assert model.get_unfrozen_layers() == [2]
    assert model.layer_learning_rate(1) == pytest.approx(model.learning_rate * 0.5)


def _check_audio_base(model: AudioPerformanceModule) -> None:
    assert model.feature_dim == 8 and model.objective.config.lambda_regression == 2.0


def _check_remi(model: RemiTransformerModule) -> None:
    assert (model.encoder.vocab_size, model.encoder.d_model) == (40, 16)
    assert model.special_ids == [0, 1, 2, 3] and model.stage == "pretrain"


def _check_graph(model: ScoreGraphModule) -> None:
    assert isinstance(model.encoder, HeteroScoreGraphEncoder) and model.encoder.hidden_dim == 16
    assert model.link_mask_ratio == 0.3


def _check_continuous(model: ContinuousPerformanceModel) -> None:
    assert [branch.kernel_size[0] for branch in model.encoder.conv.branches] == [3, 5]
    assert (model.gumbel_start, model.gumbel_end, model.gumbel_decay) == (2.0, 0.5, 0.99)
    assert model.stage == "pretrain"


def _check_notes(model: NoteSequenceModel) -> None:
    assert model.encoder.input_channels == 16 and len(model.encoder.transformer.layers) == 1
    assert model.scorer.head.with_stats and model.schedule.warmup_steps == 10


def _check_fused(model: FusedPerformanceModule) -> None:
    assert model.fusion.fusion_type == "gated" and model.fusion.conditioner is not None
    part = {
        "audio": torch.randn(2, 4, 8),
        "symbolic": torch.randn(2, 3, 6),
        "score": torch.randn(2, 5, 6),
    }
    assert model.gates(part).shape == (2, 3)


CASES: dict[type[L.LightningModule], tuple[dict[str, Any], Callable[[Any], None]]] = {
    EmbeddingPerformanceModule: (
        {
            "input_dim": 8,
            "learning_rate": 3e-3,
            "objective": {"lambda_ccc": 0.5, "use_uncertainty_weighting": True},
            **TINY_HEAD,
        },
        _check_embedding,
    ),
    HierarchicalMultiTaskModule: (
        {
            "architecture": {
                "input_dim": 8,
                "lstm_hidden_dim": 8,
                "num_lstm_layers": 1,
                "num_attention_heads": 2,
                "aggregated_dim": 16,
                "shared_dim": 8,
                "head_hidden_dim": 8,
                "num_dimensions": 3,
            },
            "learning_rate": 2e-3,
        },
        _check_hierarchical,
    ),
    AudioPerformanceModule: (
        {"input_dim": 8, "objective": {"lambda_regression": 2.0}, **TINY_HEAD},
        _check_audio_base,
    ),
    LoRAMultitaskModel: (
        {
            "backbone": {
                "name": "logmel",
                "options": {"hidden_size": 16, "num_layers": 2, "num_heads": 2, "n_mels": 16},
            },
            "layers": {"mode": "single", "layers": [2]},
            "chunking": {"chunk_seconds": 1.0},
            "lora": {"rank": 2, "alpha": 4, "layers": [1, 2]},
            **TINY_HEAD,
        },
        _check_lora,
    ),
    StagedAdaptationModel: (
        {"input_dim": 8, "stage": "supervised", "self_supervised_learning_rate": 1e-2, **TINY_HEAD},
        _check_staged,
    ),
    GradualUnfreezingModel: (
        {
            "input_dim": 8,
            "unfreeze_schedule": {0: [2], 3: [1]},
            "lr_decay": 0.5,
            "adapter_layers": 2,
            "adapter_heads": 2,
            **TINY_HEAD,
        },
        _check_unfreezing,
    ),
    RemiTransformerModule: (
        {
            "vocab_size": 40,
            "special_ids": [1, 2],
            "d_model": 16,
            "num_heads": 2,
            "num_layers": 1,
            "dim_feedforward": 32,
            "max_seq_len": 64,
            "stage": "pretrain",
            **TINY_HEAD,
        },
        _check_remi,
    ),
    ScoreGraphModule: (
        {
            "gnn_hidden_dim": 16,
            "num_gnn_layers": 2,
            "num_gat_heads": 2,
            "heterogeneous": True,
            "link_mask_ratio": 0.3,
            **TINY_HEAD,
        },
        _check_graph,
    ),
    ContinuousPerformanceModel: (
        {
            "encoder_dim": 16,
            "kernel_sizes": [3, 5],
            "num_layers": 1,
            "num_heads": 2,
            "max_frames": 64,
            "code_dim": 8,
            "codebook_entries": 4,
            "gumbel_temperature": [2.0, 0.5, 0.99],
            "stage": "pretrain",
            **TINY_HEAD,
        },
        _check_continuous,
    ),
    NoteSequenceModel: (
        {
            "encoder_dim": 16,
            "num_layers": 1,
            "num_heads": 2,
            "schedule": {"warmup_steps": 10, "min_lr_ratio": 0.1},
            "head": {
                "hidden_dim": 16,
                "projection_dim": 8,
                "num_dimensions": 3,
                "pooling": "attention_stats",
            },
        },
        _check_notes,
    ),
    FusedPerformanceModule: (
        {
            "audio_dim": 8,
            "symbolic_dim": 6,
            "fusion_type": "gated",
            "fused_dim": 16,
            "fusion_heads": 2,
            "use_score_conditioning": True,
            **TINY_HEAD,
        },
        _check_fused,
    ),
}


@pytest.fixture(autouse=True)
def _plain_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    """LightningCLI warns when pytest's own argv sits beside ``args``; look like a bare program."""
    monkeypatch.setattr(sys, "argv", ["train"])


def _build(model_class: type[L.LightningModule], config: dict[str, Any], tmp_path: Path) -> Any:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"model": config}))
    cli = LightningCLI(
        model_class,
        run=False,
        args=["--config", str(path)],
        save_config_callback=None,
        seed_everything_default=False,
        trainer_defaults={"logger": False, "enable_checkpointing": False, "enable_progress_bar": False},
    )
    return cli.model


def _package_lightning_modules() -> set[type]:
    found: set[type] = set()
    for info in pkgutil.walk_packages(piano_eval.__path__, "piano_eval."):
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(obj, L.LightningModule)
                and obj.__module__.startswith("piano_eval.")
                and not inspect.isabstract(obj)
            ):
                found.add(obj)
    return found


def test_every_concrete_lightning_module_has_a_cli_case() -> None:
    assert _package_lightning_modules() == set(CASES) == set(CLASS_PATHS)


# The import paths configs use (``class_path:``), as documented in the README.
CLASS_PATHS: dict[type[L.LightningModule], str] = {
    EmbeddingPerformanceModule: "piano_eval.training.EmbeddingPerformanceModule",
    HierarchicalMultiTaskModule: "piano_eval.training.HierarchicalMultiTaskModule",
    AudioPerformanceModule: "piano_eval.audio.AudioPerformanceModule",
    LoRAMultitaskModel: "piano_eval.audio.LoRAMultitaskModel",
    StagedAdaptationModel: "piano_eval.audio.StagedAdaptationModel",
    GradualUnfreezingModel: "piano_eval.audio.GradualUnfreezingModel",
    RemiTransformerModule: "piano_eval.symbolic.RemiTransformerModule",
    ScoreGraphModule: "piano_eval.symbolic.ScoreGraphModule",
    ContinuousPerformanceModel: "piano_eval.symbolic.ContinuousPerformanceModel",
    NoteSequenceModel: "piano_eval.symbolic.NoteSequenceModel",
    FusedPerformanceModule: "piano_eval.fusion.FusedPerformanceModule",
}


@pytest.mark.parametrize("model_class", list(CASES), ids=lambda c: c.__name__)
def test_lightning_cli_builds_each_module_from_its_class_path(model_class, tmp_path) -> None:
    """How the training configs name a model: ``class_path`` + ``init_args`` under a generic LightningModule."""
    config, check = CASES[model_class]
    cli = lightning_cli_for(CLASS_PATHS[model_class], config, tmp_path)
    assert type(cli.model) is model_class
    check(cli.model)
    # Nested settings (head, objective, backbone, lora, ...) are plain mappings in the saved run config.
    assert cli.parser.dump(cli.config).count("class_path") == 1


@pytest.mark.parametrize("model_class", list(CASES), ids=lambda c: c.__name__)
def test_lightning_cli_parses_and_instantiates_from_yaml(model_class, tmp_path) -> None:
    config, check = CASES[model_class]
    model = _build(model_class, config, tmp_path)
    assert type(model) is model_class
    check(model)


def test_lightning_cli_rejects_a_bad_value_with_the_argument_name(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit):
        _build(FusedPerformanceModule, {"audio_dim": 8, "symbolic_dim": 6, "fusion_type": "sum"}, tmp_path)
    assert "fusion_type" in capsys.readouterr().err


def test_lightning_cli_builds_a_frozen_encoder_from_class_path(tmp_path) -> None:
    """The fused model's frozen symbolic encoder can itself be a package module given by class_path."""
    config = {
        "audio_dim": 8,
        "symbolic_dim": 16,
        "fusion_type": "concat",
        "fused_dim": 16,
        "symbolic_encoder": {
            "class_path": "piano_eval.symbolic.RemiTransformerModule",
            "init_args": {
                "vocab_size": 24,
                "d_model": 16,
                "num_heads": 2,
                "num_layers": 1,
                "dim_feedforward": 16,
                "max_seq_len": 16,
                **TINY_HEAD,
            },
        },
        **TINY_HEAD,
    }
    model = _build(FusedPerformanceModule, config, tmp_path)
    assert isinstance(model.symbolic_encoder, RemiTransformerModule)
    assert not any(p.requires_grad for p in model.symbolic_encoder.parameters())
    ids = torch.tensor([[1, 5, 6, 2], [1, 7, 2, 0]])
    part = {"audio": torch.randn(2, 3, 8), "symbolic_input": {"input_ids": ids, "attention_mask": ids != 0}}
    scores = model.eval().predict_scores(part)
    assert scores.shape == (2, 3) and ((scores > 0) & (scores < 1)).all()


class SyntheticPairs(L.LightningDataModule):
    """Planted-signal embedding pairs (see :mod:`piano_eval.testing`) as a CLI-configurable data module."""

    def __init__(self, feature_dim: int = 8, num_dimensions: int = 3, batch_size: int = 8) -> None:
        super().__init__()
        self.feature_dim, self.num_dimensions, self.batch_size = feature_dim, num_dimensions, batch_size

    def train_dataloader(self):
        from piano_eval.testing import make_synthetic_pair_loader

        return make_synthetic_pair_loader(
            batch_size=self.batch_size, feature_dim=self.feature_dim, num_dimensions=self.num_dimensions
        )


def test_lightning_cli_fit_subcommand_trains_a_model_end_to_end(tmp_path) -> None:
    path = tmp_path / "config.yaml"
    config = {
        "trainer": {
            "max_steps": 3,
            "accelerator": "cpu",
            "logger": False,
            "enable_checkpointing": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
        },
        "model": {"input_dim": 8, "learning_rate": 1e-3, **TINY_HEAD},
        "data": {"feature_dim": 8, "num_dimensions": 3},
    }
    path.write_text(yaml.safe_dump(config))
    cli = LightningCLI(
        EmbeddingPerformanceModule,
        SyntheticPairs,
        args=["fit", "--config", str(path)],
        save_config_callback=None,
        seed_everything_default=0,
    )
    assert cli.trainer.global_step == 3
    assert {"train/total", "train/ranking"} <= set(cli.trainer.callback_metrics)


# --------------------------------------------------------------------------- piano-eval extract / evaluate / score


@pytest.fixture(scope="module")
def rated_folder(tmp_path_factory) -> Path:
    from piano_eval.data.synthetic import SyntheticBenchmarkConfig, build_benchmark

    root = tmp_path_factory.mktemp("rated")
    build_benchmark(
        root, SyntheticBenchmarkConfig(generated_pieces=3, performances_per_piece=2, bars=1), progress=False
    )
    return root


def _saved_s3(data: Path, out: Path) -> Path:
    from piano_eval.data.folder import load_rating_folder
    from piano_eval.scoring import save_model_folder

    dims, _ = load_rating_folder(data, scale="0-1")
    torch.manual_seed(0)
    model = ContinuousPerformanceModel(
        encoder_dim=16,
        num_layers=1,
        num_heads=2,
        max_frames=512,
        code_dim=8,
        codebook_entries=4,
        head={"hidden_dim": 16, "projection_dim": 8, "num_dimensions": len(dims), "dropout": 0.1},
    )
    return save_model_folder(model, out, "continuous", dims)


def _saved_audio(data: Path, out: Path) -> Path:
    from piano_eval.audio.backbones import BackboneConfig
    from piano_eval.data.folder import load_rating_folder
    from piano_eval.scoring import save_model_folder

    dims, _ = load_rating_folder(data, scale="0-1")
    torch.manual_seed(0)
    backbone = BackboneConfig(
        name="logmel", options={"hidden_size": 16, "num_layers": 1, "num_heads": 2, "n_mels": 16}
    )
    model = GradualUnfreezingModel(
        backbone,
        head={"hidden_dim": 16, "projection_dim": 8, "num_dimensions": len(dims), "dropout": 0.1},
        unfreeze_schedule={0: [1]},
        adapter_layers=1,
        adapter_heads=2,
    )
    return save_model_folder(model, out, "waveform", dims)


def _run(args: list[str], capsys) -> tuple[int, str, str]:
    from piano_eval.cli import main

    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("command", "phrases"),
    [
        ("extract", ["Resumable", "atomic", "performances.json", "--model", "logmel"]),
        ("evaluate", ["results.json", "compare", "comparator", "--split"]),
        ("score", ["Monte-Carlo", "aggregate", "--weight", "--plot", "exit code 2"]),
    ],
)
def test_piano_eval_help_explains_the_new_commands(command, phrases, capsys) -> None:
    from piano_eval.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for phrase in phrases:
        assert phrase in text, phrase


def test_piano_eval_extract_caches_every_performance_and_resumes(rated_folder, tmp_path, capsys) -> None:
    from piano_eval.audio.cache import EmbeddingCache

    model = _saved_audio(rated_folder, tmp_path / "audio-model")
    args = [
        "extract",
        str(rated_folder),
        "--model",
        str(model),
        "--out",
        str(tmp_path / "cache"),
        "--no-progress",
    ]
    code, out, _ = _run(args, capsys)
    assert code == 0 and out.startswith("6 performances cached in")
    (root,) = (tmp_path / "cache").iterdir()
    index = json.loads((root / "performances.json").read_text())
    assert sorted(index) == [f"gen-00{i}-p0{j}" for i in range(3) for j in range(2)]
    cache = EmbeddingCache.open(root)
    assert sorted(cache.keys()) == sorted(entry["key"] for entry in index.values())
    assert all(cache.read(entry["key"]).shape[1] == 16 for entry in index.values())
    cached = cache.keys()
    stamps = {key: cache.entry_path(key).stat().st_mtime_ns for key in cached}
    dropped = sorted(stamps)[0]
    cache.entry_path(dropped).unlink()  # as if the run had been killed before this entry
    assert _run(args, capsys)[0] == 0
    assert cache.entry_path(dropped).is_file()
    assert all(cache.entry_path(k).stat().st_mtime_ns == t for k, t in stamps.items() if k != dropped)
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no temporary files left behind


def test_piano_eval_evaluate_writes_results_that_compare_reads(rated_folder, tmp_path, capsys) -> None:
    from piano_eval.evaluate import EvaluationResult

    model = _saved_s3(rated_folder, tmp_path / "S3-tiny")
    code, out, err = _run(
        ["evaluate", str(model), str(rated_folder), "--out", str(tmp_path / "eval")], capsys
    )
    assert code == 0, err
    assert out.startswith("S3-tiny: pairwise")
    payload = json.loads((tmp_path / "eval" / "results.json").read_text())
    (result,) = [EvaluationResult.from_dict(item) for item in payload["results"]]
    assert result.name == "S3-tiny" and result.dimensions == (
        "timing",
        "dynamics",
        "articulation",
        "pedal",
        "notes",
    )
    assert sorted(payload["predictions"]) == ["gen-001-p00", "gen-001-p01"]  # the test split only
    assert all(0 < v < 1 for scores in payload["predictions"].values() for v in scores.values())
    assert 0.0 <= result.pairwise <= 1.0 and len(result.r2_per_dimension) == 5
    assert (tmp_path / "eval" / "report.md").is_file() and (
        tmp_path / "eval" / "r2_per_dimension.png"
    ).is_file()
    code, out, _ = _run(
        ["compare", str(tmp_path / "eval" / "results.json"), "--out", str(tmp_path / "cmp")], capsys
    )
    assert code == 0 and "S3-tiny" in out
    code, _, err = _run(
        ["evaluate", str(model), str(rated_folder), "--split", "val", "--out", str(tmp_path / "v")], capsys
    )
    assert code == 0, err


def test_piano_eval_score_prints_scores_json_and_a_plot(rated_folder, tmp_path, capsys) -> None:
    model = _saved_s3(rated_folder, tmp_path / "m")
    audio = rated_folder / "audio/gen-000/gen-000-p00.flac"
    midi = rated_folder / "midi/gen-000/gen-000-p00.mid"
    base = ["score", str(audio), "--midi", str(midi), "--model", str(model), "--samples", "8"]
    code, out, err = _run(
        [*base, "--weight", "timing=3", "--json", "--plot", str(tmp_path / "s.png")], capsys
    )
    assert code == 0, err
    result = json.loads(out)
    dims = result["dimensions"]
    assert list(dims) == ["timing", "dynamics", "articulation", "pedal", "notes"]
    assert dims["timing"]["weight"] == pytest.approx(3 / 7) and dims["pedal"]["weight"] == pytest.approx(
        1 / 7
    )
    assert result["aggregate"]["score"] == pytest.approx(sum(d["score"] * d["weight"] for d in dims.values()))
    assert all(d["std"] > 0 for d in dims.values()) and result["aggregate"]["std"] > 0
    assert sum(result["timeline"]["attention"]) == pytest.approx(1.0, abs=1e-5)
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, _ = _run(base, capsys)
    assert code == 0 and "aggregate" in out and "weak passage:" in out and "±" in out
    code, _, err = _run(["score", str(audio), "--model", str(model)], capsys)
    assert code == 2 and "--midi" in err
    code, _, err = _run([*base, "--weight", "tone=1"], capsys)
    assert code == 2 and "no dimension 'tone'" in err


def _bad_inputs(folder: Path, tmp: Path) -> dict[str, tuple[list[str], list[str]]]:
    import numpy as np
    import soundfile as sf
    import symusic

    audio = folder / "audio/gen-000/gen-000-p00.flac"
    midi = folder / "midi/gen-000/gen-000-p00.mid"
    symusic.Score().dump_midi(str(tmp / "empty.mid"))
    rng = np.random.default_rng(0)
    sf.write(tmp / "long.wav", 0.1 * rng.standard_normal(16000 * 10).astype(np.float32), 16000)
    sf.write(tmp / "silent.wav", np.zeros(16000 * 3, dtype=np.float32), 16000)
    (tmp / "corrupt.flac").write_bytes(b"fLaC" + bytes(200))
    return {
        "midi without notes": ([str(audio), "--midi", str(tmp / "empty.mid")], ["empty.mid", "no notes"]),
        "length mismatch": (
            [str(tmp / "long.wav"), "--midi", str(midi)],
            ["lasts 10.00 s", f"{midi} lasts 2."],
        ),
        "corrupt audio": ([str(tmp / "corrupt.flac"), "--midi", str(midi)], ["corrupt.flac", "cannot"]),
        "silent audio": ([str(tmp / "silent.wav"), "--midi", str(midi)], ["silent.wav", "silent"]),
    }


@pytest.mark.parametrize("case", ["midi without notes", "length mismatch", "corrupt audio", "silent audio"])
def test_piano_eval_score_bad_input_is_one_line_and_exit_code_2(case, rated_folder, tmp_path, capsys) -> None:
    model = _saved_s3(rated_folder, tmp_path / "m")
    files, phrases = _bad_inputs(rated_folder, tmp_path)[case]
    code, out, err = _run(["score", *files, "--model", str(model)], capsys)
    assert code == 2 and out == ""
    assert err.startswith("piano-eval score: error: ") and err.count("\n") == 1
    for phrase in phrases:
        assert phrase in err, (phrase, err)


def test_piano_eval_model_folder_without_sidecar_is_a_clear_error(rated_folder, tmp_path, capsys) -> None:
    torch.manual_seed(0)
    EmbeddingPerformanceModule(input_dim=8, **TINY_HEAD).save_components(tmp_path / "bare")
    code, _, err = _run(
        ["evaluate", str(tmp_path / "bare"), str(rated_folder), "--out", str(tmp_path / "e")], capsys
    )
    assert code == 2 and "piano_eval_model.json" in err and err.count("\n") == 1
