"""Hugging Face Hub integration shared by every piano-eval model.

Each model is a plain ``nn.Module`` that also inherits :class:`PianoEvalHubMixin`; the mixin records the
``__init__`` arguments as ``config.json``, writes ``model.safetensors`` and renders the model card below
(``save_pretrained``/``from_pretrained``/``push_to_hub``). Lightning modules made of several such models
save them one folder each through :class:`HubComponentsMixin`.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from huggingface_hub import PyTorchModelHubMixin
from torch import nn

T = TypeVar("T")

MODEL_CARD_TEMPLATE = """
---
# For reference on model card metadata, see the spec: https://github.com/huggingface/hub-docs/blob/main/modelcard.md?plain=1
{{ card_data }}
---

# {{ model_name | default("piano-eval model", true) }}

{{ model_description | default("A piano performance evaluation model from the piano-eval library.", true) }}

Scores piano performances on perceptual dimensions (PercePiano's 19 by default: timing, articulation,
pedalling, timbre, dynamics, tempo, space, balance, drama, mood, sophistication, interpretation) and compares
two performances of the same piece dimension by dimension.

## Usage

```python
from {{ module_name | default("piano_eval", true) }} import {{ class_name | default("Model", true) }}

model = {{ class_name | default("Model", true) }}.from_pretrained("<repo-or-directory>")
```

## Training data and limitations

The architecture hyper-parameters are in `config.json`; record the training data and folds alongside.
PercePiano (Park et al., Sci. Rep. 2024) labels are means of 5–12 annotators on a 1–7 scale divided by 7.
Scores are perceptual estimates, not grades. Evaluate on piece-disjoint folds.

- Library: piano-eval{% if repo_url %} ({{ repo_url }}){% endif %}
"""


class PianoEvalHubMixin(
    PyTorchModelHubMixin,
    library_name="piano-eval",
    license="apache-2.0",
    tags=["piano", "music-performance-evaluation", "percepiano"],
    model_card_template=MODEL_CARD_TEMPLATE,
):
    """Hub mixin with piano-eval model card defaults; subclasses add their own tags."""

    model_description: str = "A piano performance evaluation model from the piano-eval library."

    def generate_model_card(self, *args, **kwargs):  # type: ignore[override]
        """Fill the template's model name/description from the concrete class."""
        kwargs.setdefault("model_name", type(self).__name__)
        kwargs.setdefault("class_name", type(self).__name__)
        kwargs.setdefault("module_name", type(self).__module__)
        kwargs.setdefault("model_description", self.model_description)
        return super().generate_model_card(*args, **kwargs)


@dataclass
class DictConfig:
    """``to_dict``/``from_dict`` for the config dataclasses: the Hub's ``config.json`` and LightningCLI YAML
    carry them as dicts. Unknown keys are refused with the list of known ones (a typo is not a default).

    A (field-less) dataclass itself, so subclasses stay pure dataclasses: jsonargparse then reads and writes
    them as plain nested mappings rather than ``class_path``/``init_args`` objects.
    """

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} keys {unknown}; expected {sorted(known)}")
        return cls(**dict(data))


def coerce_config(cls: type[T], value: T | Mapping[str, Any] | None) -> T | None:
    """Accept a config dataclass or its dict form (``config.json`` from the Hub, a LightningCLI YAML).

    The Hub mixin hands dataclass arguments back as plain dicts (the modules use postponed annotations),
    so every constructor taking a config dataclass goes through this.
    """
    if value is None or isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        from_dict = getattr(cls, "from_dict", None)
        return from_dict(dict(value)) if from_dict is not None else cls(**dict(value))
    raise TypeError(f"expected {cls.__name__} or a dict, got {type(value).__name__}")


class HubComponentsMixin(abc.ABC):
    """Hub saving for Lightning modules built from plain Hub-saveable models.

    :meth:`hub_components` names the parts; :meth:`save_components` writes each with ``save_pretrained``
    (config, safetensors weights, model card) into its own folder and :meth:`load_components` restores them
    through ``from_pretrained``. Lightning checkpoints keep working as usual.
    """

    @abc.abstractmethod
    def hub_components(self) -> dict[str, nn.Module]:
        """The plain Hub-saveable models this module is made of, by folder name."""

    def save_components(self, directory: str | Path) -> Path:
        """``save_pretrained`` every Hub component into ``directory/<name>`` (config, weights, model card)."""
        directory = Path(directory)
        for name, model in self.hub_components().items():
            model.save_pretrained(directory / name)
        return directory

    def load_components(self, directory: str | Path) -> None:
        """Load weights saved by :meth:`save_components` through each component's ``from_pretrained``."""
        directory = Path(directory)
        for name, model in self.hub_components().items():
            if not (directory / name).is_dir():
                raise FileNotFoundError(f"no saved component {name!r} under {directory}")
            loaded = type(model).from_pretrained(directory / name, strict=True)
            model.load_state_dict(loaded.state_dict(), strict=True)
