"""The ``symlie bench units`` program: registration and its data (the full run takes ~30 s and is not a test)."""

from __future__ import annotations

import argparse

import numpy as np

import symlie.bench as bench
from symlie.bench import _units


def test_units_program_is_registered_with_its_options() -> None:
    module = bench.load("units")
    assert module is _units and "Planck" in module.SUMMARY
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    args = parser.parse_args([])
    assert args.seed == 0 and args.max_exponent == 2 and str(args.out) == "benchmarks/units.json"


def test_blackbody_data_follows_the_protocol() -> None:
    X, y = _units.blackbody_data(_units.TRAIN_T, np.random.default_rng(0))
    assert X.shape[1] == 4 and np.all(y > _units.MIN_INTENSITY)
    assert set(np.unique(X[:, 1])) <= set(_units.TRAIN_T)
    lam = np.unique(X[:, 0])
    np.testing.assert_allclose(np.diff(np.log10(lam)), 0.1, rtol=1e-9)  # 0.1 dex steps
    assert lam.min() >= 1e-8 * (1 - 1e-12) and lam.max() <= 1e-4 * (1 + 1e-12)
    np.testing.assert_allclose(X[:, 2:], np.broadcast_to([_units.C, _units.K_B], (len(X), 2)))
    # Wien peak of Planck's law at lambda T = 2.898e-3 m K
    lam_grid = np.linspace(2.5e-7, 3.3e-7, 2001)
    peak = lam_grid[np.argmax(_units.planck(lam_grid, np.full_like(lam_grid, 1e4)))]
    assert abs(peak * 1e4 - 2.897771955e-3) < 4e-7  # grid step 4e-11 m
