"""Tiny data for the `train` tests: a SOUSA `tiny` dataset (12 performances, ~10 s) generated once per session.

Its feature cache is left unbuilt: the first `train fit` builds it through ``RudimentDataModule.prepare_data``,
as a user's first run does. drum-gen needs no files (its procedural corpus is built in ``setup``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from music_ml_train.cli import cli
from music_ml_train.configs import CONFIGS_DIR

torch.set_num_threads(1)

FEATURE_MODEL = CONFIGS_DIR / "sousa-rudiments" / "feature_model.yaml"

# one epoch of two batches, every step logged, no summary table: seconds per run
TINY_RUN = (
    "--trainer.max_epochs=1",
    "--trainer.limit_train_batches=2",
    "--trainer.limit_val_batches=2",
    "--trainer.log_every_n_steps=1",
    "--trainer.enable_model_summary=false",
    "--num_threads=1",
)


@pytest.fixture(scope="session")
def tiny_run() -> tuple[str, ...]:
    return TINY_RUN


@pytest.fixture(scope="session")
def sousa_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(dataset dir, cache dir) of a tiny generated SOUSA dataset with audio."""
    from shared_audio_core.synth import default_soundfont
    from sousa_rudiments.dataset import GenerateConfig, generate
    from sousa_rudiments.presets import get_preset

    root = tmp_path_factory.mktemp("sousa")
    generate(
        GenerateConfig(
            output_dir=root / "tiny",
            preset=get_preset("tiny"),
            seed=0,
            with_audio=True,
            soundfonts=(default_soundfont(),),
            progress=False,
        )
    )
    return root / "tiny", root / "cache" / "tiny"


@pytest.fixture(scope="session")
def sousa_args(sousa_data: tuple[Path, Path]) -> Callable[..., list[str]]:
    """Arguments of a tiny run of a SOUSA config into ``root``."""
    dataset, cache = sousa_data

    def make(subcommand: str, config: Path, root: Path, *extra: str) -> list[str]:
        return [
            subcommand,
            "-c",
            str(config),
            f"--data.init_args.dataset_dir={dataset}",
            f"--data.init_args.cache_dir={cache}",
            "--data.init_args.batch_size=4",
            f"--trainer.default_root_dir={root}",
            *TINY_RUN,
            *extra,
        ]

    return make


@pytest.fixture(scope="session")
def feature_run(sousa_args: Callable[..., list[str]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Root of one finished tiny `train fit` of the stroke-feature model (its checkpoints feed other tests)."""
    root = tmp_path_factory.mktemp("feature_model")
    cli(sousa_args("fit", FEATURE_MODEL, root))
    return root


@pytest.fixture(scope="session", autouse=True)
def _argv_is_train() -> Iterator[None]:
    """In-process runs parse their own args; pytest's argv would trigger LightningCLI's mixed-args warning."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.argv", ["train"])
        yield
