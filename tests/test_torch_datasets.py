"""The EMLP benchmark datasets: shapes, closed forms and the symmetry of their targets."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

import symlie as sl
from symlie.torch import Inertia, O5Synthetic, ParticleInteraction
from symlie.torch._datasets import inertia_target, o5_target, particle_target

TARGETS = {
    "O5Synthetic": (O5Synthetic, o5_target),
    "Inertia": (Inertia, lambda X: inertia_target(X, 5)),
    "ParticleInteraction": (ParticleInteraction, particle_target),
}


@pytest.mark.parametrize("name", list(TARGETS))
def test_targets_are_equivariant_and_stats_commute(name, rng):
    make, target = TARGETS[name]
    data = make(64, rng=1)
    assert data.X.shape == (64, data.rep_in.size) and data.Y.shape == (64, data.rep_out.size)
    np.testing.assert_allclose(target(data.X), data.Y)
    for _ in range(3):
        g = data.group.sample(rng)
        Xg = data.X @ data.rep_in.rho(g).T
        np.testing.assert_allclose(target(Xg), data.Y @ data.rep_out.rho(g).T, rtol=1e-9, atol=1e-9)
        # dividing by the input scale commutes with the action (the scale is constant on each copy of V)
        scale = np.diag(1 / data.stats.x_scale)
        np.testing.assert_allclose(data.rep_in.rho(g) @ scale, scale @ data.rep_in.rho(g), atol=1e-12)
    train, test = data.split(48)
    assert len(train) == 48 and len(test) == 16
    assert make(8, rng=3).X.tolist() == make(8, rng=3).X.tolist()


def test_closed_forms():
    x1, x2 = np.array([1.0, 0, 0, 0, 0]), np.array([0.0, 2.0, 0, 0, 0])
    assert o5_target(np.concatenate([x1, x2])[None])[0, 0] == pytest.approx(np.sin(1.0) - 4.0)
    X = np.zeros((1, 20))
    X[0, 0] = 2.0  # one mass of 2 at e_x, the rest massless
    X[0, 5:8] = [1.0, 0.0, 0.0]
    np.testing.assert_allclose(inertia_target(X, 5).reshape(3, 3), np.diag([0.0, 2.0, 2.0]))
    p = np.zeros((1, 16))
    p[0, 0] = p[0, 4] = p[0, 8] = p[0, 12] = 1.0  # four particles at rest with unit energy
    # L_e = e0 e0^T - (1 - 1) eta, L_mu = e0 e0^T - 0 => 4 * 1
    assert particle_target(p)[0, 0] == pytest.approx(4.0)


def test_dataset_bad_input():
    with pytest.raises(sl.SymlieValueError, match="n"):
        O5Synthetic(0)
    with pytest.raises(sl.SymlieValueError, match="n_train"):
        Inertia(10).split(10)
