"""Run piano-eval tests single-threaded.

The tests train tiny models on tiny batches, where intra-op threads cost more than they save; on a
small machine shared with other jobs, OpenMP threads waiting for a busy core made single smoke tests
100x slower (e.g. 139 s instead of 1 s). The previous thread count is restored after each module so
other packages' tests run as configured.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(scope="module", autouse=True)
def single_intra_op_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
