"""Audio backbones behind one interface, and a registry that builds them by name.

``build_backbone("muq")``, ``build_backbone("mert")`` / ``"mert-330m"``, ``build_backbone("logmel")`` or
``build_backbone("some-org/some-audio-model")`` / ``build_backbone("/path/to/saved/model")`` all return a
:class:`Backbone`: ``forward(waveform [B, N], attention_mask [B, N]) -> BackboneOutput`` with every hidden
state (index 0 = embeddings, ``k`` = transformer layer ``k``) and a frame mask. The backbone records the
sample rate it expects; :class:`piano_eval.audio.encoder.AudioEncoder` refuses audio at any other rate.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from piano_eval.audio.chunking import check_waveform_batch, frames_from_samples
from piano_eval.hub import DictConfig

MUQ_DEFAULT_MODEL_ID = "OpenMuQ/MuQ-large-msd-iter"
MERT_MODEL_IDS = {
    "mert": "m-a-p/MERT-v1-95M",
    "mert-95m": "m-a-p/MERT-v1-95M",
    "mert-330m": "m-a-p/MERT-v1-330M",
}
MUQ_INSTALL_HINT = "pip install 'piano-eval[muq]'"


class BackboneError(RuntimeError):
    """Base class for backbone construction and input errors."""


class BackboneNotInstalledError(BackboneError, ImportError):
    """An optional package a backbone needs is missing; the message says what to install."""


class BackboneLoadError(BackboneError):
    """A checkpoint exists but cannot be loaded with the installed libraries."""


@dataclass
class BackboneOutput:
    """``hidden_states``: ``num_layers + 1`` tensors ``[B, T, H]``; ``frame_mask``: ``[B, T]`` True = valid."""

    hidden_states: tuple[torch.Tensor, ...]
    frame_mask: torch.Tensor


class Backbone(nn.Module):
    """A waveform encoder exposing its sample rate, depth, width and transformer layer list.

    Subclasses implement :meth:`encode`; :meth:`forward` validates input and zeroes padding first.
    ``layers_path`` is the dotted module path of the transformer layer ``ModuleList`` (LoRA and
    gradual unfreezing address layers through it).
    """

    sample_rate: int
    num_layers: int
    hidden_size: int
    layers_path: str
    frame_rate: float | None = None

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    @property
    def transformer_layers(self) -> nn.ModuleList:
        layers = self.get_submodule(self.layers_path)
        if not isinstance(layers, nn.ModuleList):
            raise BackboneError(f"{self.layers_path!r} is not a ModuleList in backbone {self.name!r}")
        return layers

    def encode(self, waveform: torch.Tensor, attention_mask: torch.Tensor) -> BackboneOutput:
        raise BackboneError(f"{type(self).__name__} does not define encode()")

    def enable_gradient_checkpointing(self) -> str:
        """Recompute each transformer layer's activations in the backward pass instead of storing them
        (less memory for a fully unfrozen large backbone, about one extra forward pass of compute).

        Returns how: ``"transformers"`` through the model's own switch where it has one, otherwise
        ``"layers"`` via :func:`checkpoint_layers` on :attr:`transformer_layers`.
        """
        checkpoint_layers(self.transformer_layers)
        return "layers"

    def forward(self, waveform: torch.Tensor, attention_mask: torch.Tensor | None = None) -> BackboneOutput:
        mask = check_waveform_batch(waveform, attention_mask)
        waveform = waveform.masked_fill(~mask, 0.0)
        return self.encode(waveform, mask)


def _checkpointed_forward(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
    forward = type(self).forward
    if self.training and torch.is_grad_enabled():
        from torch.utils.checkpoint import checkpoint

        return checkpoint(forward, self, *args, use_reentrant=False, **kwargs)
    return forward(self, *args, **kwargs)


def checkpoint_layers(layers: nn.ModuleList) -> int:
    """Run every layer's class ``forward`` under ``torch.utils.checkpoint`` (non-reentrant, so frozen layers
    under LoRA still pass gradients; dropout replays the same RNG state). Only in train mode with grad
    enabled, so inference is unchanged. Returns how many layers were newly wrapped.

    The wrapper is a bound method set on the instance, like :func:`record_encoder_hidden_states`: module
    names, state-dict keys and hooks stay as they were, and ``copy.deepcopy`` rebinds it to the copy.
    """
    wrapped = 0
    for layer in layers:
        current = layer.__dict__.get("forward")
        if getattr(current, "__func__", None) is _checkpointed_forward:
            continue
        if current is not None:
            raise BackboneError(
                f"{type(layer).__name__} already has an instance-level forward; cannot wrap it"
            )
        layer.forward = types.MethodType(_checkpointed_forward, layer)
        wrapped += 1
    return wrapped


def find_layer_list(model: nn.Module, num_layers: int) -> str:
    """Dotted path of the ``ModuleList`` named ``layers`` holding ``num_layers`` blocks (shortest path wins)."""
    candidates = [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.ModuleList) and name.split(".")[-1] == "layers" and len(module) == num_layers
    ]
    if not candidates:
        raise BackboneError(
            f"no ModuleList named 'layers' with {num_layers} blocks in {type(model).__name__}"
        )
    return min(candidates, key=len)


def disable_layerdrop(model: nn.Module) -> int:
    """Switch LayerDrop off everywhere in ``model``; return how many settings were changed.

    wav2vec2/HuBERT/WavLM/Wav2Vec2-Conformer configs default to ``layerdrop=0.1``: in train mode each layer
    is skipped with that probability. transformers >= 5 records ``hidden_states`` with hooks on the layers,
    so a skipped layer records nothing — later indices shift onto the next layer, or run out — and older
    code repeats the previous state under the skipped layer's index. Layer selection, LoRA on chosen layers
    and gradual unfreezing all address layers by index, so every layer must run on every forward.
    Covers ``PretrainedConfig`` objects, plain-dict configs (MuQ) and modules keeping their own copy.
    """
    from transformers import PretrainedConfig

    changed = 0
    seen: set[int] = set()
    for module in model.modules():
        config = getattr(module, "config", None)
        if config is not None and id(config) not in seen:
            seen.add(id(config))
            if isinstance(config, PretrainedConfig) and float(getattr(config, "layerdrop", 0.0) or 0.0) > 0:
                config.layerdrop = 0.0
                changed += 1
            elif isinstance(config, dict) and float(config.get("layerdrop", 0.0) or 0.0) > 0:
                config["layerdrop"] = 0.0
                if getattr(config, "layerdrop", 0.0) != 0.0:  # attribute-style dicts (EasyDict)
                    object.__setattr__(config, "layerdrop", 0.0)
                changed += 1
        own = getattr(module, "layerdrop", None)
        if isinstance(own, float | int) and not isinstance(own, bool) and own > 0:
            module.layerdrop = 0.0
            changed += 1
    return changed


def check_hidden_states(hidden_states: tuple[torch.Tensor, ...], num_layers: int, name: str) -> None:
    """Raise unless the model returned one state per layer plus the embeddings (``num_layers + 1``)."""
    if len(hidden_states) != num_layers + 1:
        raise BackboneError(
            f"backbone {name!r} returned {len(hidden_states)} hidden states for {num_layers} layers "
            f"(expected {num_layers + 1}); a layer was skipped (LayerDrop?) or the model's output changed"
        )


def normalize_waveforms(waveform: torch.Tensor, mask: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Zero-mean unit-variance per item over valid samples, like ``Wav2Vec2FeatureExtractor(do_normalize)``."""
    weights = mask.to(waveform.dtype)
    count = weights.sum(dim=-1, keepdim=True).clamp(min=1.0)
    mean = (waveform * weights).sum(dim=-1, keepdim=True) / count
    var = (((waveform - mean) * weights) ** 2).sum(dim=-1, keepdim=True) / count
    return ((waveform - mean) / torch.sqrt(var + eps)) * weights


class HFBackbone(Backbone):
    """Any ``transformers`` audio model returning ``hidden_states`` (wav2vec2, HuBERT, MERT, WavLM, ...)."""

    def __init__(
        self,
        model: nn.Module,
        *,
        name: str,
        sample_rate: int,
        normalize: bool = True,
        pass_attention_mask: bool = True,
    ) -> None:
        super().__init__(name)
        # from_pretrained returns eval mode; like any fresh nn.Module, start in train mode and let the
        # caller (Lightning, AudioEncoder.embed_audio, model.eval()) decide.
        self.model = model.train()
        disable_layerdrop(model)
        config = model.config
        self.sample_rate = int(sample_rate)
        self.num_layers = int(config.num_hidden_layers)
        self.hidden_size = int(config.hidden_size)
        self.layers_path = "model." + find_layer_list(model, self.num_layers)
        self.normalize = normalize
        accepts_mask = "attention_mask" in inspect.signature(model.forward).parameters
        self.pass_attention_mask = pass_attention_mask and accepts_mask

    def enable_gradient_checkpointing(self) -> str:
        """The model's own ``activation_checkpointing_enable`` (``gradient_checkpointing_enable`` before
        transformers 5.x) where it supports it, non-reentrant; other models get the generic layer wrapper."""
        if not getattr(self.model, "supports_gradient_checkpointing", False):
            return super().enable_gradient_checkpointing()
        enable = getattr(self.model, "activation_checkpointing_enable", None)
        if enable is not None:
            enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            self.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        return "transformers"

    def _frame_mask(self, mask: torch.Tensor, num_frames: int) -> torch.Tensor:
        lengths = mask.sum(dim=-1)
        length_fn = getattr(self.model, "_get_feat_extract_output_lengths", None)
        if length_fn is None:
            return frames_from_samples(lengths, mask.shape[-1], num_frames)
        counts = torch.as_tensor(length_fn(lengths), device=mask.device).long().clamp(0, num_frames)
        return torch.arange(num_frames, device=mask.device).unsqueeze(0) < counts.unsqueeze(1)

    def encode(self, waveform: torch.Tensor, attention_mask: torch.Tensor) -> BackboneOutput:
        dtype = next(self.model.parameters()).dtype
        inputs = normalize_waveforms(waveform, attention_mask) if self.normalize else waveform
        kwargs: dict[str, Any] = {"output_hidden_states": True}
        if self.pass_attention_mask:
            kwargs["attention_mask"] = attention_mask.long()
        out = self.model(inputs.to(dtype), **kwargs)
        hidden_states = tuple(out.hidden_states)
        check_hidden_states(hidden_states, self.num_layers, self.name)
        return BackboneOutput(hidden_states, self._frame_mask(attention_mask, hidden_states[-1].shape[1]))


class MuQBackbone(Backbone):
    """MuQ (Conformer over mel features, 24 kHz, ~25 Hz frames); its layers live at ``model.conformer.layers``."""

    frame_rate = 25.0

    def __init__(self, muq_model: nn.Module, *, name: str = "muq") -> None:
        super().__init__(name)
        self.muq = muq_model.train()
        disable_layerdrop(muq_model)
        config = muq_model.config
        self.sample_rate = 24_000
        self.num_layers = int(getattr(config, "encoder_depth", 12))
        self.hidden_size = int(getattr(config, "encoder_dim", 1024))
        self.layers_path = "muq." + find_layer_list(muq_model, self.num_layers)

    def encode(self, waveform: torch.Tensor, attention_mask: torch.Tensor) -> BackboneOutput:
        dtype = next(self.muq.parameters()).dtype
        # MuQ subsamples the sample mask to frames itself; only pass it when something is padded.
        mask = None if bool(attention_mask.all()) else attention_mask
        out = self.muq(waveform.to(dtype), attention_mask=mask, output_hidden_states=True)
        hidden_states = tuple(out.hidden_states)
        check_hidden_states(hidden_states, self.num_layers, self.name)
        frames = hidden_states[-1].shape[1]
        return BackboneOutput(
            hidden_states, frames_from_samples(attention_mask.sum(-1), attention_mask.shape[-1], frames)
        )


# --------------------------------------------------------------------------------------------- registry


@dataclass
class BackboneConfig(DictConfig):
    """Everything needed to rebuild a backbone: a registry name or an HF model id / local directory.

    ``model_id`` overrides the registry's default checkpoint; ``sample_rate`` overrides the rate read
    from the checkpoint's feature-extractor config; ``options`` go to the builder (e.g. log-mel sizes).
    """

    name: str = "logmel"
    model_id: str | None = None
    sample_rate: int | None = None
    revision: str | None = None
    trust_remote_code: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    gradient_checkpointing: bool = False

    def build(self) -> Backbone:
        return build_backbone(self)

    def tag(self) -> str:
        """Stable text identifying the weights, used in cache keys."""
        base = self.model_id or self.name
        return base + (f"@{self.revision}" if self.revision else "")


BackboneBuilder = Callable[[BackboneConfig], Backbone]
_REGISTRY: dict[str, BackboneBuilder] = {}


def register_backbone(*names: str) -> Callable[[BackboneBuilder], BackboneBuilder]:
    """Decorator registering a builder ``(BackboneConfig) -> Backbone`` under one or more names."""

    def decorator(builder: BackboneBuilder) -> BackboneBuilder:
        for name in names:
            _REGISTRY[name.lower()] = builder
        return builder

    return decorator


def list_backbones() -> list[str]:
    return sorted(_REGISTRY)


def build_backbone(config: BackboneConfig | str, **overrides: Any) -> Backbone:
    """Build from a registry name, an HF model id or a local directory (anything not registered)."""
    if isinstance(config, str):
        config = BackboneConfig(name=config, **overrides)
    elif overrides:
        config = BackboneConfig.from_dict({**config.to_dict(), **overrides})
    builder = _REGISTRY.get(config.name.lower(), build_hf_backbone)
    backbone = builder(config)
    if config.gradient_checkpointing:
        backbone.enable_gradient_checkpointing()
    return backbone


def _read_feature_extractor(source: str, config: BackboneConfig) -> Any | None:
    from transformers import AutoFeatureExtractor

    try:
        return AutoFeatureExtractor.from_pretrained(
            source, revision=config.revision, trust_remote_code=config.trust_remote_code
        )
    except (OSError, ValueError, KeyError):
        return None  # checkpoints without preprocessor_config.json: rate must come from the config


@register_backbone("hf")
def build_hf_backbone(config: BackboneConfig) -> Backbone:
    """Load any HF audio model through ``AutoModel.from_pretrained`` (hub id or local directory)."""
    from transformers import AutoConfig, AutoModel

    source = config.model_id or config.name
    if config.name.lower() == "hf" and config.model_id is None:
        raise BackboneError("backbone 'hf' needs model_id (a Hugging Face model id or a local directory)")
    if Path(source).expanduser().exists():
        source = str(Path(source).expanduser())
    hf_config = AutoConfig.from_pretrained(
        source, revision=config.revision, trust_remote_code=config.trust_remote_code
    )
    # MERT's remote code reads conv_pos_batch_norm, which its config predates on newer transformers.
    if config.trust_remote_code and not hasattr(hf_config, "conv_pos_batch_norm"):
        hf_config.conv_pos_batch_norm = False
    try:
        model = AutoModel.from_pretrained(
            source, config=hf_config, revision=config.revision, trust_remote_code=config.trust_remote_code
        )
    except AttributeError as error:
        if "conv_pos_batch_norm" in str(error):
            import transformers

            raise BackboneLoadError(
                f"{source}: its remote modeling code is incompatible with transformers "
                f"{transformers.__version__} (conv_pos_batch_norm). Install transformers<4.48 or a "
                "revision of the checkpoint with updated code."
            ) from error
        raise
    extractor = _read_feature_extractor(source, config)
    sample_rate = config.sample_rate or getattr(extractor, "sampling_rate", None)
    if sample_rate is None:
        raise BackboneError(
            f"{source} has no feature-extractor config with a sampling_rate; pass "
            "BackboneConfig(sample_rate=...) with the rate the model was trained on"
        )
    normalize = bool(config.options.get("normalize", getattr(extractor, "do_normalize", True)))
    pass_mask = bool(config.options.get("attention_mask", getattr(extractor, "return_attention_mask", True)))
    return HFBackbone(
        model, name=source, sample_rate=int(sample_rate), normalize=normalize, pass_attention_mask=pass_mask
    )


@register_backbone(*MERT_MODEL_IDS)
def build_mert_backbone(config: BackboneConfig) -> Backbone:
    """MERT v1 (95M: 12 x 768, 330M: 24 x 1024; 24 kHz, 75 Hz frames) via ``trust_remote_code``."""
    model_id = config.model_id or MERT_MODEL_IDS[config.name.lower()]
    resolved = BackboneConfig(
        name="hf",
        model_id=model_id,
        sample_rate=config.sample_rate or 24_000,
        revision=config.revision,
        trust_remote_code=True,
        options=config.options,
    )
    backbone = build_hf_backbone(resolved)
    backbone.frame_rate = 75.0
    return backbone


@register_backbone("muq")
def build_muq_backbone(config: BackboneConfig) -> Backbone:
    """MuQ from the optional ``muq`` package (weights CC-BY-NC): ``MuQ.from_pretrained(model_id)``."""
    try:
        from muq import MuQ
    except ImportError as error:
        raise BackboneNotInstalledError(
            f"the 'muq' backbone needs the muq package: {MUQ_INSTALL_HINT}"
        ) from error
    model_id = config.model_id or MUQ_DEFAULT_MODEL_ID
    source = str(Path(model_id).expanduser()) if Path(model_id).expanduser().exists() else model_id
    kwargs = {"revision": config.revision} if config.revision else {}
    muq = MuQ.from_pretrained(source, **kwargs)
    patch_muq_for_transformers(muq)
    return MuQBackbone(muq, name="muq")


def patch_muq_for_transformers(muq: nn.Module) -> None:
    """Make MuQ 0.1 (written against transformers 4.x) run on the installed transformers.

    Two breaks in transformers >= 5, both fixed in place without changing weights or module names:
    plain-dict encoder configs lack ``_attn_implementation`` (:func:`patch_plain_dict_configs`), and
    ``Wav2Vec2ConformerEncoder`` no longer returns ``hidden_states`` itself
    (:func:`record_encoder_hidden_states`).
    """
    patch_plain_dict_configs(muq)
    for module in muq.modules():
        if type(module).__name__ == "Wav2Vec2ConformerEncoder":
            record_encoder_hidden_states(module)


def record_encoder_hidden_states(encoder: nn.Module) -> bool:
    """Restore transformers-4 ``output_hidden_states`` on an encoder whose forward no longer takes it.

    The 4.x contract: the input of every layer, then the final (layer-normed) output — ``num_layers + 1``
    tensors. Layer inputs are captured with forward pre-hooks during the call. Returns False when the
    encoder still handles ``output_hidden_states`` itself (nothing to do).
    """
    from transformers.modeling_outputs import BaseModelOutput

    if "output_hidden_states" in inspect.signature(encoder.forward).parameters:
        return False
    original = encoder.forward
    layers = encoder.get_submodule("layers")

    def forward(
        hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs: Any
    ) -> Any:
        wanted = bool(kwargs.pop("output_hidden_states", False))
        kwargs.pop("output_attentions", None)
        kwargs.pop("return_dict", None)
        captured: list[torch.Tensor] = []
        handles = [
            layer.register_forward_pre_hook(lambda _m, args: captured.append(args[0])) for layer in layers
        ]
        try:
            out = original(hidden_states, attention_mask=attention_mask, **kwargs)
        finally:
            for handle in handles:
                handle.remove()
        if not wanted:
            return out
        return BaseModelOutput(
            last_hidden_state=out.last_hidden_state, hidden_states=(*captured, out.last_hidden_state)
        )

    encoder.forward = forward  # instance attribute: module tree and state-dict keys stay unchanged
    return True


def patch_plain_dict_configs(model: nn.Module) -> int:
    """Give transformers layers built from plain dict configs the attributes newer transformers read.

    MuQ 0.1 builds its ``Wav2Vec2ConformerEncoder`` from an ``EasyDict``; transformers >= 5 reads
    ``config._attn_implementation`` (normally set by ``PretrainedConfig``) in the forward pass and fails
    with an AttributeError. Returns how many configs were patched.
    """
    from transformers import PretrainedConfig

    patched = 0
    for module in model.modules():
        module_config = getattr(module, "config", None)
        if module_config is None or isinstance(module_config, PretrainedConfig):
            continue
        if isinstance(module_config, dict) and "_attn_implementation" not in module_config:
            module_config["_attn_implementation"] = "eager"
            if not hasattr(module_config, "_attn_implementation"):
                object.__setattr__(module_config, "_attn_implementation", "eager")
            patched += 1
    return patched


@register_backbone("logmel")
def build_logmel_backbone(config: BackboneConfig) -> Backbone:
    """Small trainable log-mel CNN + Transformer for CPU-only work (see :mod:`piano_eval.audio.logmel`)."""
    from piano_eval.audio.logmel import LogMelBackbone

    options = dict(config.options)
    if config.sample_rate is not None:
        options["sample_rate"] = config.sample_rate
    if config.model_id is not None:
        # from_pretrained returns eval mode; start in train mode like the other backbones (see HFBackbone).
        return LogMelBackbone.from_pretrained(config.model_id, revision=config.revision, **options).train()
    return LogMelBackbone(**options)
