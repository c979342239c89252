"""The example clips offered on the page, as ``scripts/render_examples.py`` recorded them in ``examples.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

#: ``apps/rudiment-demo/examples``: next to ``src/`` in the source tree and in the Space. A wheel
#: installed elsewhere has no examples, and the page then shows none.
EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
MANIFEST = "examples.json"


@dataclass(frozen=True)
class DemoExample:
    """One rendered clip and the rudiment it plays."""

    path: Path
    rudiment: str  # slug
    name: str
    player: str
    skill_tier: str
    augmentation: str
    tempo_bpm: float

    @property
    def caption(self) -> str:
        room = self.augmentation.replace("_", " ")
        return f"{self.name} — {self.skill_tier} player, {room}, {self.tempo_bpm:g} BPM"


def load_examples(directory: str | Path = EXAMPLES_DIR) -> list[DemoExample]:
    """The clips listed in ``directory/examples.json``; none when the folder or its manifest is absent.

    A manifest that names a missing file raises ``FileNotFoundError``: a broken example must fail
    at start-up, not when a visitor clicks it.
    """
    manifest = Path(directory) / MANIFEST
    if not manifest.is_file():
        return []
    examples = []
    for entry in json.loads(manifest.read_text()):
        path = manifest.parent / entry["file"]
        if not path.is_file():
            raise FileNotFoundError(f"{manifest} lists {entry['file']}, which is not in {manifest.parent}")
        examples.append(
            DemoExample(
                path=path,
                rudiment=entry["rudiment"],
                name=entry["name"],
                player=entry["player"],
                skill_tier=entry["skill_tier"],
                augmentation=entry["augmentation"],
                tempo_bpm=float(entry["tempo_bpm"]),
            )
        )
    return examples
