"""Test-session settings: one BLAS thread.

The tests use tiny matrices, where BLAS threads only add synchronisation (and,
on a busy machine, spinning threads that fight for the cores). Subprocesses
started by tests (examples, the CLI) inherit the environment variables.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

try:
    from threadpoolctl import threadpool_limits

    _LIMITS = threadpool_limits(1)  # kept alive for the whole session
except ImportError:  # pragma: no cover
    _LIMITS = None
