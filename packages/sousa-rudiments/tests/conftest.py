"""Fixtures shared by the recognition tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from shared_audio_core.synth import default_soundfont
from sousa_rudiments.dataset import GenerateConfig, generate
from sousa_rudiments.presets import get_preset


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """The `tiny` preset with audio through the pip-shipped TimGM6mb (24 clips); tests only read it."""
    out = tmp_path_factory.mktemp("tiny") / "dataset"
    generate(
        GenerateConfig(
            output_dir=out,
            preset=get_preset("tiny"),
            seed=0,
            with_audio=True,
            soundfonts=(default_soundfont(),),
            workers=1,
            progress=False,
        )
    )
    return out
