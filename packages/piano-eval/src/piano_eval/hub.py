"""Hugging Face Hub integration shared by every piano-eval model.

Each model is a plain ``nn.Module`` that also inherits :class:`PianoEvalHubMixin`; the mixin records the
``__init__`` arguments as ``config.json``, writes ``model.safetensors`` and renders the model card below
(``save_pretrained``/``from_pretrained``/``push_to_hub``).
"""

from __future__ import annotations

from huggingface_hub import PyTorchModelHubMixin

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
