"""Style classifier: multinomial logistic regression on bar-averaged onset grids.

It is the judge of the acceptance test ("does a generated pattern sound like the style it was asked
for?"), so it is trained only on corpus patterns and never sees model output. Features are, per GM drum
class, how often each position of the bar holds an onset (averaged over bars, so any bar count works),
on a grid of 24 positions per beat: fine enough to tell 16ths, 32nd rolls and 16th triplets apart.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from shared_audio_core.files import atomic_write_text

from drum_gen.gm import NUM_DRUM_CLASSES, pitch_to_class
from drum_gen.pattern import Pattern

FEATURE_POSITIONS_PER_BEAT = 24
FORMAT_VERSION = 1


class ClassifierError(ValueError):
    """Untrained/invalid classifier, bad training data, or an unreadable saved classifier."""


def style_features(pattern: Pattern, positions_per_beat: int = FEATURE_POSITIONS_PER_BEAT) -> np.ndarray:
    """Onset-frequency grid ``[drum class x bar position]`` flattened, plus per-class hits per bar.

    Positions are measured in the pattern's own beats; patterns of other meters get their own width, so
    compare only patterns of one time signature (the classifier checks the feature length).
    """
    bars = max(pattern.num_bars, 1)
    steps_per_bar = round(pattern.ticks_per_bar / pattern.ticks_per_beat * positions_per_beat)
    step_ticks = pattern.ticks_per_beat / positions_per_beat
    grid = np.zeros((NUM_DRUM_CLASSES, steps_per_bar), dtype=np.float64)
    for note in pattern.notes:
        position = round((note.time % pattern.ticks_per_bar) / step_ticks) % steps_per_bar
        grid[pitch_to_class(note.pitch), position] = grid[pitch_to_class(note.pitch), position] + 1.0
    grid /= bars
    hits_per_bar = grid.sum(axis=1)
    return np.concatenate([np.minimum(grid, 1.0).ravel(), hits_per_bar / 8.0]).astype(np.float32)


@dataclass
class ClassifierReport:
    accuracy: float
    per_style_accuracy: dict[str, float]
    confusion: list[list[int]]
    styles: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "per_style_accuracy": self.per_style_accuracy,
            "confusion": self.confusion,
            "styles": self.styles,
        }


class StyleClassifier:
    """Softmax regression with L2 penalty, fitted by full-batch L-BFGS (deterministic, < 1 s on a CPU)."""

    def __init__(
        self,
        styles: Sequence[str],
        weights: np.ndarray | None = None,
        bias: np.ndarray | None = None,
        l2: float = 1e-3,
    ) -> None:
        if len(styles) < 2:
            raise ClassifierError(f"a style classifier needs at least two styles, got {list(styles)}")
        self.styles = list(styles)
        self.weights = weights
        self.bias = bias
        self.l2 = l2

    @property
    def is_fitted(self) -> bool:
        return self.weights is not None and self.bias is not None

    def fit(self, patterns: Sequence[Pattern], labels: Sequence[str], max_iter: int = 200) -> StyleClassifier:
        if len(patterns) != len(labels) or not patterns:
            raise ClassifierError(
                f"need equally many patterns and labels (>0), got {len(patterns)} and {len(labels)}"
            )
        unknown = sorted(set(labels) - set(self.styles))
        if unknown:
            raise ClassifierError(f"labels {unknown} are not among the classifier's styles {self.styles}")
        features = torch.from_numpy(np.stack([style_features(p) for p in patterns]))
        targets = torch.tensor([self.styles.index(label) for label in labels])
        torch.manual_seed(0)
        weights = torch.zeros(features.shape[1], len(self.styles), requires_grad=True)
        bias = torch.zeros(len(self.styles), requires_grad=True)
        optimizer = torch.optim.LBFGS([weights, bias], max_iter=max_iter, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            logits = features @ weights + bias
            loss = torch.nn.functional.cross_entropy(logits, targets) + self.l2 * (weights**2).sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        self.weights = weights.detach().numpy().astype(np.float32)
        self.bias = bias.detach().numpy().astype(np.float32)
        return self

    def _check(self, features: np.ndarray) -> None:
        if not self.is_fitted:
            raise ClassifierError("the style classifier is not fitted; call fit() or load() first")
        assert self.weights is not None
        if features.shape[-1] != self.weights.shape[0]:
            raise ClassifierError(
                f"feature length {features.shape[-1]} != trained length {self.weights.shape[0]} "
                "(different time signature from the training corpus?)"
            )

    def predict_proba(self, patterns: Sequence[Pattern]) -> np.ndarray:
        features = np.stack([style_features(p) for p in patterns])
        self._check(features)
        logits = features @ self.weights + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        return probs / probs.sum(axis=1, keepdims=True)

    def predict(self, patterns: Sequence[Pattern]) -> list[str]:
        return [self.styles[i] for i in self.predict_proba(patterns).argmax(axis=1)]

    def score(self, patterns: Sequence[Pattern], labels: Sequence[str]) -> ClassifierReport:
        """Accuracy overall and per true style, and the confusion matrix (rows = true style)."""
        predictions = self.predict(patterns)
        index = {s: i for i, s in enumerate(self.styles)}
        confusion = np.zeros((len(self.styles), len(self.styles)), dtype=int)
        for truth, guess in zip(labels, predictions, strict=True):
            confusion[index[truth], index[guess]] += 1
        per_style = {
            s: float(confusion[i, i] / confusion[i].sum())
            for i, s in enumerate(self.styles)
            if confusion[i].sum()
        }
        accuracy = float(np.trace(confusion) / max(confusion.sum(), 1))
        return ClassifierReport(accuracy, per_style, confusion.tolist(), list(self.styles))

    def save(self, path: str | Path) -> Path:
        if not self.is_fitted:
            raise ClassifierError("cannot save an unfitted style classifier")
        assert self.weights is not None and self.bias is not None
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format_version": FORMAT_VERSION,
            "positions_per_beat": FEATURE_POSITIONS_PER_BEAT,
            "styles": self.styles,
            "l2": self.l2,
            "weights": self.weights.tolist(),
            "bias": self.bias.tolist(),
        }
        atomic_write_text(path, json.dumps(payload))
        return path

    @classmethod
    def load(cls, path: str | Path) -> StyleClassifier:
        path = Path(path)
        try:
            payload = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ClassifierError(f"cannot read style classifier {path}: {err}") from err
        if payload.get("format_version") != FORMAT_VERSION:
            raise ClassifierError(f"{path}: unsupported format_version {payload.get('format_version')!r}")
        if payload.get("positions_per_beat") != FEATURE_POSITIONS_PER_BEAT:
            raise ClassifierError(f"{path}: trained on a different feature grid")
        weights = np.asarray(payload["weights"], dtype=np.float32)
        bias = np.asarray(payload["bias"], dtype=np.float32)
        if (
            weights.ndim != 2
            or weights.shape[1] != len(payload["styles"])
            or bias.shape != (len(payload["styles"]),)
        ):
            raise ClassifierError(f"{path}: weight shapes do not match the {len(payload['styles'])} styles")
        return cls(payload["styles"], weights, bias, payload.get("l2", 1e-3))
