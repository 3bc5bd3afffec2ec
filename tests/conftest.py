"""Shared test setup: one BLAS thread, seeded randomness and a deterministic hypothesis profile."""

from __future__ import annotations

import os

# The test machines have two cores shared by several processes. Two BLAS threads on a busy machine make small
# QR/SVD calls ~100x slower (threads wait for each other), so the suite uses one. Set before NumPy loads.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

try:  # NumPy may already be loaded (e.g. by a plugin); limit its pool at run time as well
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
    pass
else:
    threadpool_limits(int(os.environ["OPENBLAS_NUM_THREADS"]), user_api="blas")

# Deterministic property tests without per-example deadlines: the machines running the suite are shared and
# slow, and a failing example must reproduce. Override with --hypothesis-profile=... when exploring.
settings.register_profile(
    "symlie",
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("symlie")


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh generator with a fixed seed, so each test is reproducible on its own."""
    return np.random.default_rng(20240611)
