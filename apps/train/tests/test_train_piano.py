"""`train fit` on every piano-eval config with a tiny synthetic rating folder: checkpoints and a finite monitored
metric per config, finetune runs starting from their pretrain run's encoder, fusion over the trained frozen
A1/S3 encoders, A2's two stages in one run, cached-embedding runs, and the configs' mutual consistency."""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml
from _checkpoints import best_score, load_checkpoint
from music_ml_train.cli import cli
from music_ml_train.configs import CONFIGS_DIR, configs_epilog

PIANO = CONFIGS_DIR / "piano-eval"
PIANO_CONFIGS = sorted(p.stem for p in PIANO.glob("*.yaml"))
# what a config reads from other runs: override key -> the run whose best.ckpt it names
NEEDS: dict[str, dict[str, str]] = {
    "s1_finetune": {"model.init_args.pretrained_encoder": "s1_pretrain"},
    "s2_finetune": {"model.init_args.pretrained_encoder": "s2_pretrain"},
    "s3_finetune": {"model.init_args.pretrained_encoder": "s3_pretrain"},
    "n_notes_expert_finetune": {"model.init_args.pretrained_encoder": "n_notes_pseudo_pretrain"},
    **{
        name: {
            "model.init_args.audio_encoder.init_args.checkpoint": "a1_lora",
            "model.init_args.symbolic_encoder.init_args.checkpoint": "s3_finetune",
        }
        for name in ("f1_cross_attention", "f2_concat", "f3_gated")
    },
}
EXTRA: dict[str, tuple[str, ...]] = {
    # both stages in 2 epochs: self-supervised in epoch 0, supervised from epoch 1
    "a2_staged": ("--trainer.max_epochs=2", "--model.init_args.supervised_start_epoch=1"),
    # the tiny folder has 2 training pieces (the recipe's expert subset is 25): all of them
    "n_notes_expert_finetune": ("--data.init_args.train_pieces=2",),
}
# reads a rating folder of pseudo-labels (six dimensions, 0-100), built from the synthetic one below
PSEUDO = {"n_notes_pseudo_pretrain"}
CACHED = {"embedding_head"}  # needs an embedding cache: its own test below
# over 10 s on their own: A2's augmentation (impulse responses) and 2 epochs; fusion trains A1 and S3 first
SLOW = {"a2_staged", "f1_cross_attention", "f2_concat", "f3_gated"}


def config(name: str) -> dict:
    return yaml.safe_load((PIANO / f"{name}.yaml").read_text())


def read_metrics(root: Path) -> list[dict[str, str]]:
    (path,) = sorted(root.glob("csv/version_*/metrics.csv"))[-1:]
    with path.open() as f:
        return list(csv.DictReader(f))


def values(rows: list[dict[str, str]], key: str) -> list[tuple[int, float]]:
    return [(int(r["epoch"]), float(r[key])) for r in rows if r.get(key)]


def build(args: list[str]):
    """The model, data and trainer a `train fit` with ``args`` would run, built but not run."""
    assert args[0] == "fit"
    return cli(args[1:], run=False)


def part(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


@pytest.fixture(scope="module")
def piano_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 pieces x 3 performances of 2 bars (train 2 pieces, val 1, test 1): about two seconds to build."""
    from piano_eval.data.synthetic import SyntheticBenchmarkConfig, build_benchmark

    root = tmp_path_factory.mktemp("piano") / "synthetic"
    build_benchmark(
        root, SyntheticBenchmarkConfig(generated_pieces=4, performances_per_piece=3, bars=2), progress=False
    )
    return root


@pytest.fixture(scope="module")
def pseudo_folder(piano_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic folder's whole-performance pseudo-labels as a rating folder, as the config's comment
    builds it."""
    from piano_eval.cli import main

    out = tmp_path_factory.mktemp("pseudo")
    labels = out / "pseudo-labels.jsonl"
    args = [str(piano_folder), "--whole-performances", "--out", str(labels), "--rating-folder", str(out)]
    assert main(["pseudo-label", *args, "--no-progress"]) == 0
    return out


@pytest.fixture(scope="module")
def piano_args(
    piano_folder: Path, pseudo_folder: Path, tiny_run: tuple[str, ...]
) -> Callable[..., list[str]]:
    """Arguments of a tiny run of a piano config into ``root``."""

    def make(subcommand: str, name: str, root: Path, *extra: str) -> list[str]:
        return [
            subcommand,
            "-c",
            str(PIANO / f"{name}.yaml"),
            f"--data.init_args.root={pseudo_folder if name in PSEUDO else piano_folder}",
            "--data.init_args.batch_size=4",
            "--data.init_args.progress=false",
            f"--trainer.default_root_dir={root}",
            *tiny_run,
            *extra,
        ]

    return make


@pytest.fixture(scope="module")
def fitted(
    piano_args: Callable[..., list[str]], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], Path]:
    """``fitted(name)``: the root of one finished tiny `train fit` of a config, run once per module (the runs
    it needs first, e.g. the pretraining run of a finetune config)."""
    done: dict[str, Path] = {}

    def run(name: str) -> Path:
        if name not in done:
            needs = [
                f"--{key}={run(dep) / 'checkpoints' / 'best.ckpt'}"
                for key, dep in NEEDS.get(name, {}).items()
            ]
            root = tmp_path_factory.mktemp(name)
            cli(piano_args("fit", name, root, *needs, *EXTRA.get(name, ())))
            done[name] = root
        return done[name]

    return run


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in PIANO_CONFIGS if n not in CACHED],
)
def test_fit_writes_checkpoints_and_a_finite_monitored_metric(
    name: str, fitted: Callable[[str], Path]
) -> None:
    root = fitted(name)
    monitor = config(name)["checkpoint"]["monitor"]
    assert (root / "checkpoints" / "last.ckpt").is_file()
    best = load_checkpoint(root / "checkpoints" / "best.ckpt")
    logged = values(read_metrics(root), monitor)
    assert logged and all(math.isfinite(v) for _, v in logged), (monitor, logged)
    assert best_score(best) == pytest.approx(
        max(v for _, v in logged)
        if config(name)["checkpoint"]["mode"] == "max"
        else min(v for _, v in logged)
    )
    epochs = 2 if name == "a2_staged" else 1
    assert (
        best["global_step"] <= 2 * epochs
        and load_checkpoint(root / "checkpoints" / "last.ckpt")["global_step"] == 2 * epochs
    )
    assert best["hyper_parameters"]["_class_path"] == config(name)["model"]["class_path"]


@pytest.mark.parametrize("family", ["s1", "s2", "s3"])
def test_finetune_starts_from_the_pretrain_runs_encoder(
    family: str, fitted: Callable[[str], Path], piano_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    pretrained = fitted(f"{family}_pretrain") / "checkpoints" / "best.ckpt"
    encoder = part(load_checkpoint(pretrained)["state_dict"], "encoder.")
    assert load_checkpoint(pretrained)["hyper_parameters"]["stage"] == "pretrain"
    built = build(
        piano_args(
            "fit", f"{family}_finetune", tmp_path, f"--model.init_args.pretrained_encoder={pretrained}"
        )
    )
    start = built.model.encoder.state_dict()
    assert start.keys() == encoder.keys() and all(torch.equal(start[k], encoder[k]) for k in encoder)
    assert built.model.stage == "finetune" and built.model.encoder.training
    fresh = build(
        piano_args("fit", f"{family}_finetune", tmp_path, "--model.init_args.pretrained_encoder=null")
    )
    assert not all(torch.equal(fresh.model.encoder.state_dict()[k], encoder[k]) for k in encoder)
    # the finetuned checkpoint owns its encoder weights: it reloads without the pretrain file
    finetuned = load_checkpoint(fitted(f"{family}_finetune") / "checkpoints" / "best.ckpt")
    assert finetuned["hyper_parameters"]["pretrained_encoder"] is None
    assert set(part(finetuned["state_dict"], "encoder.")) == set(encoder)


def test_expert_finetune_starts_from_the_pseudo_label_runs_encoder_with_a_new_head(
    fitted: Callable[[str], Path], piano_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    pretrained = fitted("n_notes_pseudo_pretrain") / "checkpoints" / "best.ckpt"
    state = load_checkpoint(pretrained)["state_dict"]
    encoder = part(state, "encoder.")
    assert state["scorer.head.regression.weight"].shape[0] == 6  # trained on the six pseudo-labels
    built = build(
        piano_args(
            "fit",
            "n_notes_expert_finetune",
            tmp_path,
            f"--model.init_args.pretrained_encoder={pretrained}",
            *EXTRA["n_notes_expert_finetune"],
        )
    )
    start = built.model.encoder.state_dict()
    assert start.keys() == encoder.keys() and all(torch.equal(start[k], encoder[k]) for k in encoder)
    assert built.model.num_dimensions == 5 and built.datamodule.train_pieces == 2
    finetuned = load_checkpoint(fitted("n_notes_expert_finetune") / "checkpoints" / "best.ckpt")
    assert finetuned["hyper_parameters"]["pretrained_encoder"] is None


@pytest.mark.slow
def test_fusion_trains_over_the_trained_frozen_a1_and_s3_encoders(
    fitted: Callable[[str], Path], piano_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    root = fitted("f2_concat")
    fused = load_checkpoint(root / "checkpoints" / "last.ckpt")["state_dict"]
    for prefix, source in (("audio_encoder.module.", "a1_lora"), ("symbolic_encoder.module.", "s3_finetune")):
        trained = load_checkpoint(fitted(source) / "checkpoints" / "best.ckpt")["state_dict"]
        frozen = part(fused, prefix)
        assert frozen.keys() == trained.keys() and all(torch.equal(frozen[k], trained[k]) for k in trained)
    a1 = fitted("a1_lora") / "checkpoints" / "best.ckpt"
    s3 = fitted("s3_finetune") / "checkpoints" / "best.ckpt"
    encoders = [
        f"--model.init_args.audio_encoder.init_args.checkpoint={a1}",
        f"--model.init_args.symbolic_encoder.init_args.checkpoint={s3}",
    ]
    best = root / "checkpoints" / "best.ckpt"
    result = cli(piano_args("validate", "f2_concat", tmp_path, *encoders, f"--ckpt_path={best}"))
    assert float(result.trainer.callback_metrics["val/pairwise_accuracy"]) == pytest.approx(
        best_score(load_checkpoint(best))
    )


@pytest.mark.slow
def test_a2_trains_self_supervised_then_supervised_in_one_run(fitted: Callable[[str], Path]) -> None:
    root = fitted("a2_staged")
    rows = read_metrics(root)
    assert {e for e, _ in values(rows, "train_ssl/total")} == {0}  # clean vs augmented views, no labels
    assert {e for e, _ in values(rows, "train_ssl/invariance")} == {0}
    assert {e for e, _ in values(rows, "train/total")} == {1}  # A1's objective from supervised_start_epoch
    assert load_checkpoint(root / "checkpoints" / "last.ckpt")["hyper_parameters"]["stage"] == "supervised"


def test_cached_embedding_runs_train_on_an_extracted_cache(
    piano_folder: Path, piano_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    """The head-only config and the hierarchical config switched to embeddings, as the README says."""
    from piano_eval.audio.extract import main as extract

    cache = tmp_path / "embeddings"
    options = ["--backbone", "logmel", "--layers", "4", "--device", "cpu", "--no-progress"]
    assert extract([str(piano_folder / "audio"), "--cache-dir", str(cache), *options]) == 0
    (width,) = {yaml.safe_load(p.read_text())["hidden_size"] for p in cache.glob("*/config.json")}
    data = [f"--data.init_args.embedding_cache={cache}"]
    cli(piano_args("fit", "embedding_head", tmp_path / "head", *data, f"--model.init_args.input_dim={width}"))
    switched = ["--data.init_args.input_kind=embeddings", f"--model.init_args.architecture.input_dim={width}"]
    cli(piano_args("fit", "hierarchical", tmp_path / "hierarchical", *data, *switched))
    for run, monitor in (("head", "val/pairwise_accuracy"), ("hierarchical", "val/r2")):
        logged = values(read_metrics(tmp_path / run), monitor)
        assert logged and math.isfinite(logged[-1][1])
        assert (tmp_path / run / "checkpoints" / "best.ckpt").is_file()


def test_finetune_without_its_pretrain_run_says_so(
    piano_args: Callable[..., list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere" / "best.ckpt"
    with pytest.raises(SystemExit) as exited:
        cli(piano_args("fit", "s1_finetune", tmp_path, f"--model.init_args.pretrained_encoder={missing}"))
    assert exited.value.code == 2
    assert (
        f"pretrained checkpoint not found: {missing} (run the pretraining config first)"
        in capsys.readouterr().err
    )


def test_fusion_without_its_trained_encoders_says_so(
    piano_args: Callable[..., list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "a1" / "best.ckpt"
    with pytest.raises(SystemExit) as exited:
        cli(
            piano_args(
                "fit",
                "f1_cross_attention",
                tmp_path,
                f"--model.init_args.audio_encoder.init_args.checkpoint={missing}",
            )
        )
    assert exited.value.code == 2
    assert (
        f"encoder checkpoint not found: {missing} (train LoRAMultitaskModel first)" in capsys.readouterr().err
    )


def test_a_model_scoring_other_dimensions_than_the_data_is_refused(
    piano_args: Callable[..., list[str]], tmp_path: Path
) -> None:
    with pytest.raises(
        ValueError, match=r"the model scores 19 dimensions but .*ratings.csv rates 5 \(timing, dynamics"
    ):
        cli(piano_args("fit", "s3_pretrain", tmp_path, "--model.init_args.head.num_dimensions=19"))


def test_s1_configs_use_the_benchmark_tokenizers_vocabulary() -> None:
    from piano_eval.data.inputs import benchmark_tokenizer

    tokenizer = benchmark_tokenizer()
    for name in ("s1_pretrain", "s1_finetune"):
        model = config(name)["model"]["init_args"]
        assert (model["vocab_size"], model["pad_id"], model["mask_id"]) == (
            tokenizer.vocab_size,
            tokenizer.pad_id,
            tokenizer.mask_id,
        )
        assert model["special_ids"] == sorted(tokenizer.special_ids)
        assert model["max_seq_len"] >= config(name)["data"]["init_args"]["max_tokens"]


def test_piano_configs_agree_with_the_data_and_with_the_runs_they_read() -> None:
    for name in PIANO_CONFIGS:
        c = config(name)
        assert c["trainer"]["default_root_dir"] == f"runs/piano-eval/{name}"
        data = c["data"]["init_args"]
        assert c["data"]["class_path"] == "piano_eval.data.datamodule.PerformancePairDataModule"
        model = c["model"]["init_args"]
        sizes = model.get("head") or model["architecture"]
        if name in PSEUDO:  # the six pseudo-labels, 0-100
            assert (data["root"], data["scale"], sizes["num_dimensions"]) == ("data/piano/pseudo", "0-100", 6)
        else:
            assert (data["root"], data["scale"]) == ("data/piano/synthetic", "0-1")
            assert sizes["num_dimensions"] == 5, name  # the synthetic benchmark's 5 rated dimensions
        assert c["checkpoint"]["monitor"] and c["checkpoint"]["mode"] in ("min", "max")
    for name, needs in NEEDS.items():
        model = config(name)["model"]["init_args"]
        for key, dep in needs.items():
            value = model
            for step in key.split(".")[2:]:
                value = value[step]
            assert value == f"runs/piano-eval/{dep}/checkpoints/best.ckpt", (name, key)
    for family, sizes in {
        "s1": ("d_model", "num_heads", "num_layers", "dim_feedforward", "max_seq_len", "vocab_size"),
        "s2": ("gnn_hidden_dim", "num_gnn_layers", "num_gat_heads"),
        "s3": ("encoder_dim", "num_layers", "num_heads"),
        "n_notes": ("encoder_dim", "num_layers"),
    }.items():
        stages = ("pseudo_pretrain", "expert_finetune") if family == "n_notes" else ("pretrain", "finetune")
        pre, fine = (config(f"{family}_{stage}")["model"]["init_args"] for stage in stages)
        assert {k: pre[k] for k in sizes} == {k: fine[k] for k in sizes}, family  # the encoder must fit
    a1 = config("a1_lora")["model"]["init_args"]
    s3 = config("s3_finetune")["model"]["init_args"]
    for name in ("f1_cross_attention", "f2_concat", "f3_gated"):
        model = config(name)["model"]["init_args"]
        assert model["audio_dim"] == a1["backbone"]["options"]["hidden_size"]  # mean of layers: one width
        assert model["symbolic_dim"] == s3["encoder_dim"]
        assert model["fusion_type"] == {"f1": "cross_attention", "f2": "concat", "f3": "gated"}[name[:2]]


def test_help_lists_every_piano_config_with_what_it_trains() -> None:
    epilog = configs_epilog()
    for name in PIANO_CONFIGS:
        assert f"apps/train/configs/piano-eval/{name}.yaml" in epilog
        first = (PIANO / f"{name}.yaml").read_text().splitlines()[0]
        assert first.startswith("# piano-eval ") and first[2:] in epilog


@pytest.mark.parametrize("name", ["a1_lora", "a3_unfreezing", "s1_finetune", "f3_gated", "hierarchical"])
def test_print_config_round_trips(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every option survives `--print_config` (one config per kind of nesting: backbone options, the A3
    schedule's integer keys, the fusion's encoders, the hierarchical architecture): it parses back the same."""
    configs = []
    for source in (PIANO / f"{name}.yaml", tmp_path / "printed.yaml"):
        with pytest.raises(SystemExit) as exited:
            cli(["fit", "-c", str(source), "--print_config"])
        assert exited.value.code in (0, None)
        printed = capsys.readouterr().out
        (tmp_path / "printed.yaml").write_text(printed)
        configs.append(yaml.safe_load(printed))
    first, again = configs
    assert first == again
    assert (
        first["model"]["init_args"].items()
        >= {k: v for k, v in config(name)["model"]["init_args"].items() if not isinstance(v, dict)}.items()
    )


@pytest.mark.parametrize("name", ["s3_finetune", "hierarchical"])
def test_test_and_predict_score_the_held_out_split(
    name: str, fitted: Callable[[str], Path], piano_args: Callable[..., list[str]], piano_folder: Path
) -> None:
    root = fitted(name)
    ckpt = f"--ckpt_path={root / 'checkpoints' / 'best.ckpt'}"
    needs = [
        f"--{key}={fitted(dep) / 'checkpoints' / 'best.ckpt'}" for key, dep in NEEDS.get(name, {}).items()
    ]
    cli(piano_args("test", name, root, *needs, ckpt))
    rows = read_metrics(root)
    key = "test/r2" if name == "hierarchical" else "test/pairwise_accuracy"
    assert any(math.isfinite(float(r[key])) for r in rows if r.get(key)), key
    cli(piano_args("predict", name, root, *needs, ckpt))
    (written,) = sorted(root.rglob("predictions.pt"))
    batches = torch.load(written, map_location="cpu", weights_only=False)["predictions"]
    with (piano_folder / "ratings.csv").open() as f:
        test_rows = [r for r in csv.DictReader(f) if r["split"] == "test"]
    if name == "hierarchical":  # one score vector per test performance, in [0, 1]
        scores = torch.cat([b["scores"] for b in batches])
        assert scores.shape == (len(test_rows), 5) and bool(((scores >= 0) & (scores <= 1)).all())
    else:  # one antisymmetric comparison per within-piece pair (each pair once)
        logits = torch.cat([b["logits"] for b in batches])
        per_piece = Counter(r["piece_id"] for r in test_rows).values()
        assert logits.shape == (sum(n * (n - 1) // 2 for n in per_piece), 5)
