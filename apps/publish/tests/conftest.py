"""Fixtures shared by the publish tests: one tiny SOUSA dataset (with audio) per session, Hub isolation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``sousa generate --preset tiny --with-audio`` (24 clips, about 10 s) with the default SoundFont only."""
    from shared_audio_core.synth import default_soundfont
    from sousa_rudiments.dataset import GenerateConfig, generate
    from sousa_rudiments.presets import get_preset

    out = tmp_path_factory.mktemp("sousa") / "tiny"
    generate(
        GenerateConfig(
            out,
            get_preset("tiny"),
            seed=0,
            with_audio=True,
            soundfonts=(default_soundfont(),),
            progress=False,
        )
    )
    return out


@pytest.fixture(autouse=True)
def _isolated_hf_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep `datasets`' Arrow cache out of the user's ~/.cache."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-datasets-cache")


@pytest.fixture
def offline_env(tmp_path: Path):
    """A factory of environments without a Hugging Face login: an empty HF_HOME and no token variables."""

    def make(**extra: str) -> dict[str, str]:
        drop = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE", "HF_TOKEN_PATH")
        env = {k: v for k, v in os.environ.items() if k not in drop}
        env["HF_HOME"] = str(tmp_path / "empty-hf-home")
        env.update(extra)
        return env

    return make


@pytest.fixture
def run_publish():
    """Run ``publish ARGS`` in a fresh interpreter, so variables read at import time (HF_HOME) apply."""

    def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "music_ml_publish", *args],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=300,
        )

    return run
