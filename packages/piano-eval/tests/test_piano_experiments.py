"""The named experiments (seed-004 tracks, fusion, robustness; seed-001 ablations) on tiny synthetic data."""

from __future__ import annotations

import json
import math

import pytest
import torch
from piano_eval.benchmark.experiments import (
    EXPERIMENTS,
    ExperimentSize,
    experiment_config,
    get_experiment,
    run_experiment,
)
from piano_eval.benchmark.families import FusionFamily, fusion_family, get_family
from piano_eval.benchmark.runner import BenchmarkRunConfig, train_family
from piano_eval.cli import EXPERIMENT_HELP, build_parser, main
from piano_eval.data.folder import load_rating_folder
from piano_eval.data.fused_inputs import kind_collate, load_inputs
from piano_eval.data.synthetic import SyntheticBenchmarkConfig, build_benchmark
from piano_eval.symbolic.notes import NOTE_FEATURE_NAMES
from shared_audio_core.augment import list_presets

TINY_DATA = SyntheticBenchmarkConfig(generated_pieces=3, performances_per_piece=2, bars=1)
TINY = ExperimentSize(data=TINY_DATA, default_epochs=1, pretrain_epochs=1, batch_size=8)


@pytest.fixture(scope="module")
def shared_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("experiment-data")
    build_benchmark(root, TINY_DATA, progress=False)
    return root


@pytest.fixture
def root(tmp_path, shared_data):
    """An experiments folder whose data is the one built benchmark."""
    (tmp_path / "data").symlink_to(shared_data, target_is_directory=True)
    return tmp_path


@pytest.fixture(scope="module")
def train_split(shared_data):
    dims, performances = load_rating_folder(shared_data, scale="0-1")
    return dims, [p for p in performances if p.split == "train"]


def _run(name, root):
    return run_experiment(name, root, TINY, threads=1, progress=False, log=lambda _: None)


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_experiment_runs_end_to_end_and_reports_its_families(name, root):
    families = experiment_config(name, root, TINY).families
    report = _run(name, root)
    assert report == root / name / "report" / "report.md"
    text = report.read_text()
    assert f"# piano-eval experiment: {name}" in text
    for family in families:
        assert f"| {family} |" in text  # a row of the comparison table
    payload = json.loads((report.parent / "results.json").read_text())
    names = [r["name"] for r in payload["results"]]
    assert names == ["random", "train_mean", "linear_audio_features", *families]
    assert payload["winner"]["winner"] in families
    by_name = {r["name"]: r for r in payload["results"]}
    if name == "robustness":
        assert "## Robustness per augmentation preset" in text
        for preset in list_presets():
            assert f" {preset} |" in text.split("## Robustness per augmentation preset")[1].splitlines()[4]
        audio = [f for f in families if get_family(f).input_kind.startswith("waveform")]
        assert audio and all(set(by_name[f]["extra"]["robustness"]) == set(list_presets()) for f in audio)
        symbolic = [f for f in families if f not in audio]
        assert all("robustness" not in by_name[f]["extra"] for f in symbolic)
    if name == "ablations":
        section = text.split("## Ablations")[1]
        for label in ("audio-only vs fused", "pretraining", "uncertainty weighting", "augmentation"):
            assert label in section
        assert by_name["A-logmel+augment"]["extra"]["train_augmentation"] == "practice_room"
    if name == "fusion":
        assert [f for f in families if isinstance(get_family(f), FusionFamily)] == [
            "F1-cross-attention",
            "F2-concat",
            "F3-gated",
        ]


def test_fusion_resumes_with_the_saved_encoders(root):
    _run("fusion", root)
    redo = root / "fusion" / "results" / "F2-concat.json"
    before = json.loads(redo.read_text())["result"]["pairwise"]
    redo.unlink()
    _run("fusion", root)  # A-logmel and N-notes are loaded from their saved weights, F2 retrained
    after = json.loads(redo.read_text())["result"]
    assert math.isclose(after["pairwise"], before)


def test_fusion_fuses_the_track_winners_found_in_the_root(root):
    report = root / "audio-track" / "report"
    report.mkdir(parents=True)
    (report / "results.json").write_text(json.dumps({"results": [], "winner": {"winner": "A1-lora"}}))
    families = experiment_config("fusion", root, TINY).families
    assert families == (
        "N-notes",
        "A1-lora",
        "F1-cross-attention[A1-lora+N-notes]",
        "F2-concat[A1-lora+N-notes]",
        "F3-gated[A1-lora+N-notes]",
    )
    fused = get_family(families[-1])
    assert isinstance(fused, FusionFamily) and fused.fusion_type == "gated"
    assert fused.input_kind == "waveform+notes"


def test_pretraining_runs_the_pretrain_stage_then_finetunes(train_split):
    dims, train = train_split
    family = get_family("S3-continuous+pretrain")
    config = BenchmarkRunConfig(
        data=TINY_DATA,
        families=(family.name,),
        epochs={family.name: 1},
        pretrain_epochs={family.name: 1},
        batch_size=8,
        threads=1,
    )
    torch.manual_seed(0)
    untouched = family.build(len(dims), config.learning_rate)
    logged: dict[str, float] = {}
    model = train_family(
        family,
        train,
        load_inputs(family.input_kind, train),
        config,
        len(dims),
        progress=False,
        metrics=logged,
    )
    assert math.isfinite(logged["pretrain/total"]) and "pretrain/contrastive" in logged
    assert math.isfinite(logged["train/total"])  # then the pairwise objective
    assert model.stage == "finetune" and model.hparams["stage"] == "finetune"
    # the quantiser is trained only by the pretraining loss: it moved, so the pretrain stage ran
    fresh = untouched.quantizer.codevectors
    assert not torch.allclose(model.quantizer.codevectors, fresh)


def test_pretraining_a_family_without_a_pretrain_stage_is_refused(train_split):
    dims, train = train_split
    config = BenchmarkRunConfig(
        data=TINY_DATA, families=("N-notes",), epochs={"N-notes": 1}, pretrain_epochs={"N-notes": 1}
    )
    family = get_family("N-notes")
    with pytest.raises(ValueError, match="NoteSequenceModel has no self-supervised stage"):
        train_family(family, train, load_inputs("notes", train), config, len(dims), progress=False)


def test_a2_needs_augmented_audio_for_its_self_supervised_stage(train_split):
    dims, train = train_split
    config = BenchmarkRunConfig(
        data=TINY_DATA, families=("A2-staged",), epochs={"A2-staged": 1}, pretrain_epochs={"A2-staged": 1}
    )
    with pytest.raises(ValueError, match="set train_augmentation"):
        train_family(
            get_family("A2-staged"), train, load_inputs("waveform", train), config, len(dims), progress=False
        )


def test_fusion_family_reads_both_the_audio_and_the_notes(train_split):
    _, train = train_split
    items = load_inputs("waveform+notes", train[:2])
    assert set(items[0]) == {"audio_input", "symbolic_input"}
    assert items[0]["audio_input"]["sample_rate"] == 24000
    assert items[0]["symbolic_input"].shape[1] == len(NOTE_FEATURE_NAMES)
    batch = kind_collate("waveform+notes")(items)
    torch.manual_seed(0)
    audio, symbolic = get_family("A-logmel").build(5, 1e-3), get_family("N-notes").build(5, 1e-3)
    model = fusion_family("F2-concat").build_fused(5, 1e-3, audio, symbolic).eval()
    with torch.no_grad():
        scores = model(batch).scores
        louder = dict(
            batch, audio_input={**batch["audio_input"], "waveform": batch["audio_input"]["waveform"] * 0.1}
        )
        other_notes = dict(batch, symbolic_input={**batch["symbolic_input"]})
        other_notes["symbolic_input"]["features"] = batch["symbolic_input"]["features"].flip(0)
        assert scores.shape == (2, 5)
        assert not torch.allclose(model(louder).scores, scores)  # the audio stream is read
        assert not torch.allclose(model(other_notes).scores, scores)  # and the symbolic stream


def test_config_checks_fusion_order_and_augmentation_targets():
    with pytest.raises(ValueError, match=r"fuses the trained encoders of \['N-notes'\]"):
        BenchmarkRunConfig(
            families=("A-logmel", "F1-cross-attention"),
            epochs=dict.fromkeys(("A-logmel", "F1-cross-attention"), 1),
        )
    with pytest.raises(ValueError, match="N-notes reads no audio"):
        BenchmarkRunConfig(
            families=("N-notes",), epochs={"N-notes": 1}, train_augmentation={"N-notes": "gym"}
        )
    with pytest.raises(ValueError, match="not in families"):
        BenchmarkRunConfig(families=("N-notes",), epochs={"N-notes": 1}, pretrain_epochs={"S1-remi": 1})
    with pytest.raises(ValueError, match="fuses trained encoders"):
        get_family("F3-gated").build(5, 1e-3)


def test_experiment_sizes_look_up_base_family_epochs():
    size = ExperimentSize(data=TINY_DATA, epochs={"N-notes": 80, "F1-cross-attention": 8}, default_epochs=3)
    assert size.epochs_for("N-notes+uncertainty") == 80
    assert size.epochs_for("F1-cross-attention[A1-lora+S2-gnn+pretrain]") == 8
    assert size.epochs_for("S2-gnn") == 3


def test_unknown_experiment_is_a_clear_error(root, capsys):
    with pytest.raises(ValueError, match=r"unknown experiment 'nope'; choose from \['audio-track'"):
        get_experiment("nope")
    assert main(["experiment", "nope", "--out", str(root)]) == 2
    assert "piano-eval experiment: error: unknown experiment 'nope'" in capsys.readouterr().err
    assert not (root / "nope").exists()


def test_cli_help_lists_every_experiment_and_what_it_compares():
    assert list(EXPERIMENT_HELP) == list(EXPERIMENTS)
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    help_text = sub.choices["experiment"].format_help()
    for name, text in EXPERIMENT_HELP.items():
        assert name in help_text and text.split(",")[0] in help_text
