"""Fixtures shared by the demo's tests: the shipped model (loaded once) and the committed example clips.

Imports of torch and the pipeline happen inside the fixture: the browser test needs neither in the
test process (the server loads them), and on a busy 2-core machine they cost tens of seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from rudiment_demo.examples import DemoExample, load_examples

if TYPE_CHECKING:
    from sousa_rudiments.recognition.pipeline import RudimentPipeline


@pytest.fixture(scope="session")
def pipeline() -> RudimentPipeline:
    """The shipped model, warmed up as the app does at start (numba compiles librosa's kernels once)."""
    import torch
    from rudiment_demo.analysis import warm_up
    from sousa_rudiments.recognition.pipeline import RudimentPipeline

    torch.set_num_threads(1)
    pipeline = RudimentPipeline.from_pretrained(None)
    warm_up(pipeline)
    return pipeline


@pytest.fixture(scope="session")
def examples() -> list[DemoExample]:
    found = load_examples()
    assert found, "apps/rudiment-demo/examples/examples.json is missing: run scripts/render_examples.py"
    return found
