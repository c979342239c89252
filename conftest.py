"""Settings for every test session in the workspace (this file sits above all test folders).

The tests train tiny models on tiny batches, where intra-op threads cost more than they save: on a
2-core machine with another busy process, OpenMP threads waiting for a core made single smoke tests
100x slower (139 s instead of 1 s). The variables are set before any test module imports torch, and
subprocesses the tests start inherit them. An explicit setting in the environment wins.
"""

import os

for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
