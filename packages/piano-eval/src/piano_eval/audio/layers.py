"""Which backbone hidden states become features, and how they are combined.

Layer indices follow the Hugging Face ``output_hidden_states`` convention: index 0 is the
pre-transformer embedding, index ``k`` (1..num_layers) is the output of transformer layer ``k``.
MuQ "layers 9-12" therefore means ``LayerSelection(mode="mean", layers=(9, 10, 11, 12))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch

LayerMode = Literal["single", "mean", "concat"]


class LayerSelectionError(ValueError):
    """A layer selection that does not fit the backbone it is applied to."""


@dataclass(frozen=True)
class LayerSelection:
    """Select hidden states: one layer, the mean of several, or their concatenation along features."""

    mode: LayerMode = "mean"
    layers: tuple[int, ...] = (9, 10, 11, 12)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(int(i) for i in self.layers))
        if self.mode not in ("single", "mean", "concat"):
            raise LayerSelectionError(f"mode must be 'single', 'mean' or 'concat', got {self.mode!r}")
        if not self.layers:
            raise LayerSelectionError("at least one layer index is required")
        if self.mode == "single" and len(self.layers) != 1:
            raise LayerSelectionError(f"mode 'single' takes exactly one layer, got {self.layers}")
        if len(set(self.layers)) != len(self.layers):
            raise LayerSelectionError(f"duplicate layer indices in {self.layers}")
        if min(self.layers) < 0:
            raise LayerSelectionError(f"layer indices must be >= 0, got {self.layers}")

    @classmethod
    def single(cls, layer: int) -> LayerSelection:
        return cls(mode="single", layers=(layer,))

    @classmethod
    def mean_range(cls, first: int, last: int) -> LayerSelection:
        """Mean of layers ``first..last`` inclusive (the original averaged MuQ layers 9-12)."""
        if last < first:
            raise LayerSelectionError(f"empty layer range {first}..{last}")
        return cls(mode="mean", layers=tuple(range(first, last + 1)))

    @classmethod
    def concat(cls, layers: Sequence[int]) -> LayerSelection:
        return cls(mode="concat", layers=tuple(layers))

    def output_dim(self, hidden_size: int) -> int:
        return hidden_size * len(self.layers) if self.mode == "concat" else hidden_size

    def validate(self, num_hidden_states: int) -> None:
        """Raise unless every selected index exists among ``num_hidden_states`` (= num_layers + 1)."""
        bad = [i for i in self.layers if i >= num_hidden_states]
        if bad:
            raise LayerSelectionError(
                f"layers {bad} out of range: the backbone returns {num_hidden_states} hidden states "
                f"(valid indices 0..{num_hidden_states - 1})"
            )

    def apply(self, hidden_states: Sequence[torch.Tensor]) -> torch.Tensor:
        """Combine the selected ``[B, T, H]`` hidden states into ``[B, T, output_dim]``."""
        self.validate(len(hidden_states))
        chosen = [hidden_states[i] for i in self.layers]
        if self.mode == "single":
            return chosen[0]
        if self.mode == "mean":
            return torch.stack(chosen, dim=0).mean(dim=0)
        return torch.cat(chosen, dim=-1)

    def tag(self) -> str:
        """Short stable text used in cache keys, e.g. ``mean-9-10-11-12``."""
        return f"{self.mode}-" + "-".join(str(i) for i in self.layers)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["layers"] = list(self.layers)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerSelection:
        return cls(mode=data.get("mode", "mean"), layers=tuple(data.get("layers", (9, 10, 11, 12))))
