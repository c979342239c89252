"""load_model: round trip through a real checkpoint dir, cache, device choice, OOM fallback, errors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from drum_gen import loader
from drum_gen.loader import ModelLoadError, clear_model_cache, load_model, resolve_device, save_checkpoint
from drum_gen.model import DrumPatternTransformer, DrumTransformerConfig
from drum_gen.tokenizer import DrumPatternTokenizer, DrumPatternTokenizerConfig


@pytest.fixture(scope="module")
def tokenizer() -> DrumPatternTokenizer:
    return DrumPatternTokenizer(DrumPatternTokenizerConfig(styles=("J Dilla", "Metro Boomin")))


@pytest.fixture
def checkpoint(tmp_path: Path, tokenizer: DrumPatternTokenizer) -> Path:
    torch.manual_seed(0)
    config = DrumTransformerConfig(
        vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id, d_model=16, n_layers=1, n_heads=2, d_ff=32
    )
    directory = tmp_path / "ckpt"
    save_checkpoint(directory, DrumPatternTransformer(config), tokenizer, {"training": {"bars": 4}})
    clear_model_cache()
    return directory


def test_round_trip_and_metadata(checkpoint: Path, tokenizer: DrumPatternTokenizer) -> None:
    loaded = load_model(checkpoint, device="cpu")
    assert loaded.device == "cpu" and loaded.source == str(checkpoint.resolve())
    assert loaded.metadata["styles"] == ["J Dilla", "Metro Boomin"]
    assert loaded.metadata["training"] == {"bars": 4}
    assert loaded.tokenizer.config == tokenizer.config
    assert not loaded.model.training
    assert loaded.classifier is None
    original = DrumPatternTransformer.from_pretrained(checkpoint).eval()
    ids = torch.tensor([tokenizer.prompt_ids("J Dilla", 90)])
    assert torch.allclose(loaded.model(ids)[0], original(ids)[0])


def test_cache_is_keyed_by_path_and_device(checkpoint: Path) -> None:
    first = load_model(checkpoint, device="cpu")
    assert load_model(str(checkpoint), device="cpu") is first
    assert load_model(checkpoint / ".." / "ckpt", device="cpu") is first  # same resolved path
    clear_model_cache()
    assert load_model(checkpoint, device="cpu") is not first


def test_device_auto_detection(monkeypatch: pytest.MonkeyPatch, checkpoint: Path) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device() == "cpu"
    assert load_model(checkpoint).device == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device() == "cuda"
    assert resolve_device("cpu") == "cpu"


def test_cuda_out_of_memory_retries_on_cpu(monkeypatch: pytest.MonkeyPatch, checkpoint: Path) -> None:
    real_to = DrumPatternTransformer.to

    def fake_to(self, *args, **kwargs):
        target = args[0] if args else kwargs.get("device")
        if str(target).startswith("cuda"):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return real_to(self, *args, **kwargs)

    monkeypatch.setattr(DrumPatternTransformer, "to", fake_to)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU that is too small
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    loaded = load_model(checkpoint, device="cuda")
    assert loaded.device == "cpu"
    assert next(loaded.model.parameters()).device.type == "cpu"
    assert any("out of memory" in w and "retrying on the CPU" in w for w in loaded.warnings)


@pytest.mark.parametrize(
    "error",
    [
        torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        RuntimeError("CUDA error: out of memory"),  # what some kernels raise instead
    ],
)
def test_cuda_out_of_memory_while_sampling_retries_on_cpu(
    monkeypatch: pytest.MonkeyPatch, checkpoint: Path, error: Exception
) -> None:
    """Simulated like the load-time test: a model flagged as on 'cuda' whose first forward runs out of memory."""
    from drum_gen.generator import DrumGenerator

    on_cpu = load_model(checkpoint, device="cpu")
    expected = DrumGenerator(on_cpu).generate("J Dilla", bars=2, seed=5, enforce_style_rules=False)
    real_generator = torch.Generator
    monkeypatch.setattr(torch, "Generator", lambda device="cpu": real_generator(device="cpu"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # no empty_cache on this machine
    calls = {"n": 0}

    def out_of_memory_once(module: torch.nn.Module, args: tuple) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise error

    on_gpu = dataclasses.replace(on_cpu, device="cuda", warnings=[])
    hook = on_gpu.model.register_forward_pre_hook(out_of_memory_once)
    try:
        generator = DrumGenerator(on_gpu)
        assert (
            generator.generate("J Dilla", bars=2, seed=5, enforce_style_rules=False) == expected
        )  # same as a CPU run from the start
        assert on_gpu.device == "cpu"
        assert len(on_gpu.warnings) == 1
        assert "CUDA out of memory while sampling on cuda" in on_gpu.warnings[0]
        assert "moved the model to the CPU" in on_gpu.warnings[0]
        generator.generate("J Dilla", bars=2, seed=6, enforce_style_rules=False)
        assert len(on_gpu.warnings) == 1  # warned once
    finally:
        hook.remove()


def test_other_sampling_errors_are_not_taken_for_out_of_memory(
    monkeypatch: pytest.MonkeyPatch, checkpoint: Path
) -> None:
    from drum_gen.generator import DrumGenerator

    real_generator = torch.Generator
    monkeypatch.setattr(torch, "Generator", lambda device="cpu": real_generator(device="cpu"))
    loaded = dataclasses.replace(load_model(checkpoint, device="cpu"), device="cuda", warnings=[])

    def broken(module: torch.nn.Module, args: tuple) -> None:
        raise RuntimeError("CUDA error: device-side assert triggered")

    hook = loaded.model.register_forward_pre_hook(broken)
    try:
        with pytest.raises(RuntimeError, match="device-side assert"):
            DrumGenerator(loaded).generate("J Dilla", bars=2, seed=5, enforce_style_rules=False)
        assert loaded.device == "cuda" and not loaded.warnings
    finally:
        hook.remove()


def test_corrupt_classifier_does_not_block_loading_and_is_named_when_needed(checkpoint: Path) -> None:
    (checkpoint / "style_classifier.json").write_text("{not json")
    loaded = load_model(checkpoint, device="cpu")  # generation does not need the classifier
    assert loaded.classifier_path == checkpoint.resolve() / "style_classifier.json"
    with pytest.raises(ModelLoadError, match=r"cannot load the style classifier .*style_classifier\.json"):
        _ = loaded.classifier


def test_bad_or_unavailable_device_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, checkpoint: Path
) -> None:
    with pytest.raises(ModelLoadError, match=r"invalid device 'gpu': use cpu, cuda or cuda:N"):
        load_model(checkpoint, device="gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ModelLoadError, match=r"'cuda' requested but CUDA is not available.*--device cpu"):
        load_model(checkpoint, device="cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ModelLoadError, match=r"'cuda:3' requested but only 1 CUDA device"):
        load_model(checkpoint, device="cuda:3")


def test_missing_directory_explains_how_to_get_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"not found.*drum-gen train"):
        load_model(tmp_path / "nope")
    with pytest.raises(ModelLoadError, match="is a file"):
        (tmp_path / "file.bin").write_text("x")
        load_model(tmp_path / "file.bin")


@pytest.mark.parametrize("missing", ["config.json", "model.safetensors", "drum_gen.json"])
def test_missing_file_is_named(checkpoint: Path, missing: str) -> None:
    (checkpoint / missing).unlink()
    with pytest.raises(ModelLoadError, match=f"missing {missing}"):
        load_model(checkpoint, device="cpu")


def test_missing_tokenizer_dir_is_named(checkpoint: Path) -> None:
    for path in sorted((checkpoint / "tokenizer").rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    (checkpoint / "tokenizer").rmdir()
    with pytest.raises(ModelLoadError, match="tokenizer/"):
        load_model(checkpoint, device="cpu")


def test_corrupt_metadata_and_config(checkpoint: Path) -> None:
    (checkpoint / "drum_gen.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match=r"bad metadata in .*drum_gen.json: invalid JSON"):
        load_model(checkpoint, device="cpu")
    (checkpoint / "drum_gen.json").write_text(json.dumps({"format_version": 99}))
    with pytest.raises(ModelLoadError, match="format_version 99"):
        load_model(checkpoint, device="cpu")
    (checkpoint / "drum_gen.json").write_text(json.dumps({"format_version": 1}))
    (checkpoint / "config.json").write_text(json.dumps({"d_model": 8}))
    with pytest.raises(ModelLoadError, match=r"bad model config in .*config.json"):
        load_model(checkpoint, device="cpu")


def test_vocabulary_mismatch_is_reported(checkpoint: Path) -> None:
    config = json.loads((checkpoint / "config.json").read_text())
    other = DrumPatternTransformer(DrumTransformerConfig(**{**config, "vocab_size": 50}))
    other.save_pretrained(checkpoint)
    with pytest.raises(ModelLoadError, match=r"tokenizer vocabulary .* does not match"):
        load_model(checkpoint, device="cpu")


def test_unreachable_hub_repo_is_a_model_load_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(repo_id: str) -> str:
        raise OSError("network disabled")

    monkeypatch.setattr("huggingface_hub.snapshot_download", offline)
    with pytest.raises(
        ModelLoadError, match=r"'someone/drum-model'.*could not be downloaded.*network disabled"
    ):
        loader.load_model("someone/drum-model")


def test_interrupted_resave_leaves_an_unloadable_checkpoint_not_stale_metadata(
    monkeypatch: pytest.MonkeyPatch, checkpoint: Path, tokenizer: DrumPatternTokenizer
) -> None:
    """drum_gen.json is written last: a save that dies half-way must not pair new weights with old metadata."""
    config = DrumTransformerConfig(
        vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id, d_model=16, n_layers=1, n_heads=2, d_ff=32
    )

    def crash(self, directory):
        raise KeyboardInterrupt

    monkeypatch.setattr(DrumPatternTokenizer, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(checkpoint, DrumPatternTransformer(config), tokenizer, {"training": {"bars": 8}})
    clear_model_cache()
    with pytest.raises(ModelLoadError, match=r"missing drum_gen\.json"):
        load_model(checkpoint, device="cpu")
    monkeypatch.undo()
    save_checkpoint(checkpoint, DrumPatternTransformer(config), tokenizer, {"training": {"bars": 8}})
    assert load_model(checkpoint, device="cpu").metadata["training"] == {"bars": 8}
    assert not [p.name for p in checkpoint.rglob(".*")]  # no temporaries left behind
