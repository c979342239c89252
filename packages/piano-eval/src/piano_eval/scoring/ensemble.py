"""Several independently trained models of one recipe (different seeds) scoring as one model.

On the FULL synthetic benchmark the seed of one N-notes recipe moves validation pairwise accuracy by about
±0.005 (0.898–0.909 over three seeds); the mean of the three scored 0.914, above every one of them
(``scripts/select_n_notes.py``, docs/benchmark-results.md). An ensemble averages its members' scores and
their comparators' ranking logits; it is saved and loaded like any model folder
(:func:`~piano_eval.scoring.model_files.save_model_folder`), its members recorded by class path and
constructor arguments and their weights in the one ``module.safetensors``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from piano_eval.heads import HeadOutput
from piano_eval.hub import HubComponentsMixin
from piano_eval.training import PerformanceModule


def member_spec(model: PerformanceModule) -> dict[str, Any]:
    """How to rebuild ``model``: its class path and JSON-able constructor arguments."""
    from piano_eval.scoring.model_files import _jsonable

    cls = type(model)
    return {
        "class_path": f"{cls.__module__}.{cls.__qualname__}",
        "init_args": _jsonable(dict(model.hparams), "init_args"),
    }


def _build_member(spec: Mapping[str, Any], index: int) -> PerformanceModule:
    from piano_eval.scoring.model_files import ModelFolderError, import_module_class

    if not isinstance(spec, Mapping) or set(spec) != {"class_path", "init_args"}:
        raise ValueError(f"ensemble member {index} must be {{'class_path', 'init_args'}}, got {spec!r}")
    cls = import_module_class(spec["class_path"], f"ensemble member {index}")
    if cls is PerformanceEnsemble:
        raise ModelFolderError(f"ensemble member {index} is itself an ensemble")
    return cls(**spec["init_args"])


def combine_outputs(outputs: Sequence[HeadOutput]) -> HeadOutput:
    """Members' head outputs as one: ``z`` and ``projection`` side by side (each member's comparator reads
    its own slice), ``scores`` and ``attention`` averaged. One output is returned as it is."""
    if len(outputs) == 1:
        return outputs[0]
    return HeadOutput(
        z=torch.cat([o.z for o in outputs], dim=-1),
        projection=torch.cat([o.projection for o in outputs], dim=-1),
        scores=torch.stack([o.scores for o in outputs]).mean(0),
        attention=torch.stack([o.attention for o in outputs]).mean(0),
    )


class PerformanceEnsemble(HubComponentsMixin, nn.Module):
    """Mean scores and mean ranking logits of ``members`` (each ``{"class_path", "init_args"}``).

    Build one from trained models with :meth:`of`. The members must score the same number of dimensions;
    the input kind is the model folder's (they all read it). A plain ``nn.Module``, not a LightningModule:
    it is not trained as a whole; train the members.
    """

    def __init__(self, members: Sequence[Mapping[str, Any]]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least 2 members, got {len(members)}")
        self._members_spec = [dict(spec) for spec in members]
        self.members = nn.ModuleList(_build_member(spec, k) for k, spec in enumerate(members))
        dims = sorted({int(m.num_dimensions) for m in self.members})
        if len(dims) != 1:
            raise ValueError(f"ensemble members score different numbers of dimensions: {dims}")
        self.num_dimensions = dims[0]
        self._z_sizes = [int(m.head_config.hidden_dim) for m in self.members]

    @property
    def hparams(self) -> dict[str, Any]:
        """The constructor arguments, as a model folder's sidecar records them."""
        return {"members": self._members_spec}

    @classmethod
    def of(cls, models: Sequence[PerformanceModule]) -> PerformanceEnsemble:
        """An ensemble holding copies of the trained ``models``' weights."""
        ensemble = cls([member_spec(m) for m in models])
        for target, source in zip(ensemble.members, models, strict=True):
            target.load_state_dict(source.state_dict(), strict=True)
        return ensemble.eval()

    def hub_components(self) -> dict[str, nn.Module]:
        return {
            f"member-{k}/{name}": part
            for k, member in enumerate(self.members)
            for name, part in member.hub_components().items()
        }

    def forward(self, part: Any) -> HeadOutput:
        return combine_outputs([member(part) for member in self.members])

    def predict_scores(self, part: Any) -> torch.Tensor:
        return self(part).scores

    def ranking_logits(self, out_a: HeadOutput, out_b: HeadOutput) -> torch.Tensor:
        """The mean of the members' comparator logits, each on its own slice of ``z``."""
        if out_a.z.shape[-1] != sum(self._z_sizes):
            raise ValueError(
                f"ensemble outputs have z of width {out_a.z.shape[-1]}, expected {sum(self._z_sizes)}"
            )
        za, zb = out_a.z.split(self._z_sizes, dim=-1), out_b.z.split(self._z_sizes, dim=-1)
        logits = [
            member.ranking_logits(out_a._replace(z=a, tokens=None), out_b._replace(z=b, tokens=None))
            for member, a, b in zip(self.members, za, zb, strict=True)
        ]
        return torch.stack(logits).mean(0)

    def compare(self, part_a: Any, part_b: Any) -> torch.Tensor:
        return self.ranking_logits(self(part_a), self(part_b))
