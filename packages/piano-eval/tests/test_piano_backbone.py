"""Backbone registry and loaders: real transformers families built tiny, saved, loaded via from_pretrained."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from piano_eval.audio import (
    AudioEncoder,
    BackboneConfig,
    BackboneError,
    BackboneLoadError,
    BackboneNotInstalledError,
    HFBackbone,
    LayerSelection,
    LogMelBackbone,
    build_backbone,
    list_backbones,
)
from piano_eval.audio.testing import save_tiny_audio_model
from safetensors.torch import load_file


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory):
    return save_tiny_audio_model(tmp_path_factory.mktemp("w2v2"), "wav2vec2", num_layers=3, hidden_size=32)


def test_registry_names_every_family() -> None:
    assert {"muq", "mert", "mert-95m", "mert-330m", "hf", "logmel"} <= set(list_backbones())


def test_local_directory_loads_saved_weights_through_from_pretrained(tiny_dir) -> None:
    backbone = build_backbone(str(tiny_dir))
    assert isinstance(backbone, HFBackbone)
    assert (backbone.sample_rate, backbone.num_layers, backbone.hidden_size) == (24_000, 3, 32)
    saved = load_file(str(tiny_dir / "model.safetensors"))
    key = next(k for k in saved if k.endswith("encoder.layers.1.attention.q_proj.weight"))
    loaded = dict(backbone.model.named_parameters())["encoder.layers.1.attention.q_proj.weight"]
    assert torch.equal(saved[key], loaded.detach())
    same = build_backbone(BackboneConfig(name="hf", model_id=str(tiny_dir)))
    assert torch.equal(
        dict(same.model.named_parameters())["encoder.layers.1.attention.q_proj.weight"], loaded
    )


def test_hidden_states_and_frame_mask_follow_the_conv_front_end(tiny_dir) -> None:
    backbone = build_backbone(str(tiny_dir)).eval()
    mask = torch.ones(2, 4800, dtype=torch.bool)
    mask[1, 2400:] = False
    out = backbone(torch.randn(2, 4800), mask)
    assert len(out.hidden_states) == backbone.num_layers + 1
    expected = backbone.model._get_feat_extract_output_lengths(torch.tensor([4800, 2400]))
    assert out.frame_mask.sum(1).tolist() == expected.tolist()


def test_padding_content_and_batching_do_not_change_valid_frames(tiny_dir) -> None:
    backbone = build_backbone(str(tiny_dir)).eval()
    clip = torch.randn(1, 3000)
    alone = backbone(clip).hidden_states[-1][0]
    batch = torch.randn(2, 4800) * 5  # garbage after the clip's end must be ignored
    batch[0, :3000] = clip[0]
    mask = torch.ones(2, 4800, dtype=torch.bool)
    mask[0, 3000:] = False
    padded = backbone(batch, mask)
    valid = padded.frame_mask[0]
    assert int(valid.sum()) == alone.shape[0]
    torch.testing.assert_close(padded.hidden_states[-1][0, valid], alone, atol=1e-4, rtol=1e-4)


def test_checkpoint_without_feature_extractor_needs_an_explicit_rate(tmp_path) -> None:
    directory = save_tiny_audio_model(tmp_path / "bare", "hubert", sample_rate=None)
    with pytest.raises(BackboneError, match="sample_rate"):
        build_backbone(str(directory))
    backbone = build_backbone(str(directory), sample_rate=16_000)
    assert backbone.sample_rate == 16_000


def test_hf_name_without_model_id_is_rejected() -> None:
    with pytest.raises(BackboneError, match="model_id"):
        build_backbone("hf")


def test_mert_builder_uses_remote_code_path_and_24khz(tiny_dir) -> None:
    backbone = build_backbone("mert", model_id=str(tiny_dir))
    assert backbone.sample_rate == 24_000
    assert backbone.frame_rate == 75.0
    assert backbone.num_layers == 3
    # MERT's remote code reads config.conv_pos_batch_norm, which older configs lack: it is filled in
    # (False, the behaviour those checkpoints were trained with) before the model is built.
    assert backbone.model.config.conv_pos_batch_norm is False


def test_mert_conv_pos_batch_norm_incompatibility_gives_a_clear_error(tiny_dir, monkeypatch) -> None:
    import transformers

    def broken(*args, **kwargs):
        raise AttributeError("'MERTConfig' object has no attribute 'conv_pos_batch_norm'")

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", broken)
    with pytest.raises(BackboneLoadError, match="conv_pos_batch_norm") as error:
        build_backbone("mert", model_id=str(tiny_dir))
    message = str(error.value)
    assert f"transformers {transformers.__version__}" in message and "Install transformers<4.48" in message
    assert str(tiny_dir) in message  # which checkpoint failed

    def other(*args, **kwargs):
        raise AttributeError("something unrelated")

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", other)
    with pytest.raises(AttributeError, match="unrelated"):  # not disguised as the MERT incompatibility
        build_backbone("mert", model_id=str(tiny_dir))


def test_missing_muq_package_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "muq", None)  # makes `from muq import MuQ` raise ImportError
    with pytest.raises(BackboneNotInstalledError, match=r"pip install 'piano-eval\[muq\]'"):
        build_backbone("muq")


def test_logmel_backbone_saves_and_reloads_through_the_registry(tmp_path) -> None:
    backbone = build_backbone(
        "logmel", options={"hidden_size": 32, "num_layers": 2, "num_heads": 2, "n_mels": 32}
    )
    assert isinstance(backbone, LogMelBackbone)
    backbone.eval().save_pretrained(tmp_path / "logmel")
    assert json.loads((tmp_path / "logmel" / "config.json").read_text())["hidden_size"] == 32
    reloaded = build_backbone("logmel", model_id=str(tmp_path / "logmel"))
    assert reloaded.training  # like a fresh module: from_pretrained's eval mode would fine-tune dropout-free
    reloaded.eval()
    audio = torch.randn(1, 6000)
    torch.testing.assert_close(reloaded(audio).hidden_states[-1], backbone(audio).hidden_states[-1])


def test_logmel_frames_are_padding_invariant() -> None:
    torch.manual_seed(0)
    backbone = LogMelBackbone(hidden_size=32, num_layers=2, num_heads=2, n_mels=32).eval()
    clip = torch.randn(1, 5000)
    alone = backbone(clip)
    batch = torch.randn(2, 9000)
    batch[0, :5000] = clip[0]
    mask = torch.ones_like(batch, dtype=torch.bool)
    mask[0, 5000:] = False
    padded = backbone(batch, mask)
    assert int(padded.frame_mask[0].sum()) == alone.hidden_states[-1].shape[1] == 11  # ceil(5000 / 480)
    for a, b in zip(alone.hidden_states, padded.hidden_states, strict=True):
        torch.testing.assert_close(b[0, padded.frame_mask[0]], a[0], atol=1e-5, rtol=1e-5)


class AttrDict(dict):
    """A plain dict config with attribute access, as MuQ builds its Conformer from (EasyDict)."""

    __getattr__ = dict.__getitem__
    __setattr__ = dict.__setitem__


def _dict_config_conformer(layerdrop: float) -> torch.nn.Module:
    """A 3-layer ``Wav2Vec2ConformerEncoder`` built from an attribute dict (as MuQ builds its Conformer),
    without dropout, patched like MuQ; returned inside a holder module at ``holder.conformer``."""
    from piano_eval.audio.backbones import patch_muq_for_transformers
    from transformers import Wav2Vec2ConformerConfig
    from transformers.models.wav2vec2_conformer.modeling_wav2vec2_conformer import Wav2Vec2ConformerEncoder

    settings = Wav2Vec2ConformerConfig(
        hidden_size=16,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=32,
        conv_depthwise_kernel_size=3,
        position_embeddings_type="relative",
        hidden_dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        conformer_conv_dropout=0.0,
        layerdrop=layerdrop,
    ).to_dict()
    config = AttrDict(
        {k: v for k, v in settings.items() if k not in ("id2label", "label2id", "_attn_implementation")}
    )
    holder = torch.nn.Module()
    holder.conformer = Wav2Vec2ConformerEncoder(config)
    patch_muq_for_transformers(holder)
    return holder


def test_muq_compat_patches_make_a_dict_config_conformer_return_hidden_states() -> None:
    holder = _dict_config_conformer(layerdrop=0.0).eval()
    x = torch.randn(2, 7, 16)
    out = holder.conformer(x.clone(), output_hidden_states=True)
    assert len(out.hidden_states) == 4  # inputs of the 3 layers + final output, the transformers-4 contract
    torch.testing.assert_close(out.hidden_states[0], x)
    torch.testing.assert_close(out.hidden_states[-1], out.last_hidden_state)
    assert not torch.allclose(out.hidden_states[1], out.hidden_states[2])
    assert "conformer.layers.0.self_attn.linear_q.weight" in holder.state_dict()  # module tree unchanged


@pytest.mark.parametrize("family", ["wav2vec2", "hubert"])
def test_layer_selection_is_exact_in_train_mode_under_the_default_layerdrop(tmp_path, family) -> None:
    """wav2vec2/HuBERT configs default to LayerDrop 0.1. In train mode (A1/A3 fine-tuning) a dropped layer
    recorded no hidden state, so selections ran out of states or silently read the next layer. Every
    selected state must equal the one computed with LayerDrop off (eval mode; the tiny model has no dropout).
    """
    directory = save_tiny_audio_model(tmp_path / family, family, num_layers=3, hidden_size=32)
    assert json.loads((directory / "config.json").read_text())["layerdrop"] == pytest.approx(0.1)
    torch.manual_seed(0)
    wave = torch.randn(2, 4800)
    for selection in (LayerSelection.concat([0, 1, 2, 3]), LayerSelection.single(1)):
        encoder = AudioEncoder(build_backbone(str(directory)), selection)
        expected, _ = encoder.eval()(wave, sample_rate=24_000)
        encoder.train()
        for _ in range(60):
            features, _ = encoder(wave, sample_rate=24_000)
            torch.testing.assert_close(features, expected)


def _broadband_clip(seed: int, seconds: float = 0.5, rate: int = 24_000) -> torch.Tensor:
    """A tone over noise: every mel band well above the log floor at both levels the tests use."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * rate)) / rate
    pitch = 110.0 * 2 ** (float(torch.randint(0, 24, (1,), generator=gen)) / 12)
    tone = sum(torch.sin(2 * torch.pi * pitch * h * t) / h for h in range(1, 5))
    noise = torch.randn(t.shape, generator=gen) * (0.2 + 0.3 * torch.rand(1, generator=gen))
    clip = tone + noise
    return 0.5 * clip / clip.abs().max()


def test_logmel_features_keep_the_level_of_the_audio() -> None:
    """Per-frame LayerNorm of the log-mel removed each frame's mean log-energy, so the same clip 20 dB
    quieter gave the same embedding and dynamics could not be learnt."""
    torch.manual_seed(0)
    backbone = LogMelBackbone(hidden_size=32, num_layers=2, num_heads=2, n_mels=32).eval()
    clip = _broadband_clip(0)[None]
    with torch.no_grad():
        loud, quiet = backbone(clip).hidden_states[-1], backbone(0.1 * clip).hidden_states[-1]  # -20 dB
        level_drop = backbone.front_end(0.1 * clip)[..., -1] - backbone.front_end(clip)[..., -1]
    # The level channel moves by exactly -20 dB / level_scale_db; the mel channels stay gain-invariant.
    torch.testing.assert_close(level_drop, torch.full_like(level_drop, -20.0 / backbone.level_scale_db))
    # Before, the two embeddings differed by ~1e-4 (only through the log floor).
    assert float((loud - quiet).norm() / loud.norm()) > 0.01


def test_a_linear_probe_on_logmel_features_separates_loud_from_quiet() -> None:
    """The same clips at two levels (0 and -20 dB re. their peak): a logistic probe on the frozen random
    front end's pooled features must tell them apart on clips it has not seen."""
    torch.manual_seed(0)
    backbone = LogMelBackbone(hidden_size=32, num_layers=2, num_heads=2, n_mels=32).eval()
    clips = torch.stack([_broadband_clip(seed) for seed in range(24)])
    with torch.no_grad():
        pooled = [backbone(gain * clips).hidden_states[1].mean(dim=1) for gain in (1.0, 0.1)]
    features = torch.cat(pooled)
    features = (features - features.mean(0)) / (features.std(0) + 1e-6)
    labels = torch.cat([torch.ones(24), torch.zeros(24)])
    train = torch.cat([torch.arange(16), 24 + torch.arange(16)])  # clips 0-15 at both levels
    test = torch.cat([torch.arange(16, 24), 24 + torch.arange(16, 24)])  # unseen clips 16-23
    probe = torch.nn.Linear(features.shape[1], 1)
    optimizer = torch.optim.Adam(probe.parameters(), lr=0.05)
    for _ in range(200):
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            probe(features[train]).squeeze(1), labels[train]
        )
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        accuracy = ((probe(features[test]).squeeze(1) > 0).float() == labels[test]).float().mean()
    assert float(accuracy) >= 0.9


def test_layerdrop_in_a_dict_config_conformer_is_switched_off() -> None:
    """MuQ builds its Conformer from a plain-dict config whose LayerDrop also skips layers in train mode."""
    from piano_eval.audio.backbones import disable_layerdrop

    holder = _dict_config_conformer(layerdrop=0.5)
    config = holder.conformer.config
    assert disable_layerdrop(holder) == 1 and config["layerdrop"] == 0.0
    torch.manual_seed(0)
    x = torch.randn(2, 7, 16)
    holder.conformer.train()  # (its BatchNorm uses batch statistics: compare train-mode runs with each other)
    expected = holder.conformer(x.clone(), output_hidden_states=True).hidden_states
    for _ in range(20):
        states = holder.conformer(x.clone(), output_hidden_states=True).hidden_states
        assert len(states) == 4
        for state, reference in zip(states, expected, strict=True):
            torch.testing.assert_close(state, reference)
