"""Point clouds, fit-free helpers, equivariance metrics and discrete candidates."""

from __future__ import annotations

import numpy as np
import pytest

import symlie as sl
from symlie._discover import discover
from symlie._manifold import discover_manifold, vanishing_polynomials
from symlie._metrics import (
    check_discrete,
    discrete_candidates,
    lie_derivative_norms,
    symmetry_bias,
    symmetry_variance,
)


def _sphere(rng, n=300):
    Y = rng.normal(size=(n, 3))
    return Y / np.linalg.norm(Y, axis=1, keepdims=True)


@pytest.mark.parametrize("method", ["vanishing", "tangent"])
def test_sphere_point_cloud_has_so3(method, rng):
    rep = discover_manifold(_sphere(rng), sl.gl(3), method=method)
    assert rep.dim == 3 and rep.principal_cosines(sl.so(3)).min() > 0.99


def test_shifted_circle_needs_affine_fields(rng):
    t = rng.uniform(0, 2 * np.pi, 50)
    X = np.c_[np.cos(t) + 0.5, np.sin(t) - 1.0]
    assert discover_manifold(X, sl.gl(2)).dim == 0
    rep = discover_manifold(X, sl.aff(2))
    assert rep.dim == 1 and rep.residual.max() < 1e-10


def test_vanishing_polynomials_and_errors(rng):
    lib, P = vanishing_polynomials(_sphere(rng, 50), 2)
    assert P.shape == (1, len(lib))
    with pytest.raises(sl.SymlieValueError, match="method must be"):
        discover_manifold(_sphere(rng), sl.gl(3), method="magic")
    with pytest.raises(sl.SymlieValueError, match="no polynomial"):
        discover_manifold(rng.normal(size=(40, 2)), sl.gl(2))


def test_lie_derivative_norms_per_generator(rng):
    X = rng.normal(size=(100, 3))
    norms = lie_derivative_norms(lambda x: (x[:, :2] ** 2).sum(1) + x[:, 2], sl.so(3), X)
    assert norms.shape == (3,)
    assert np.sum(norms < 1e-12) == 1 and np.all(norms <= 1.0 + 1e-12)


def test_liegg_symmetry_variance_and_bias(rng):
    rep = discover(lambda x: (x**2).sum(1), sl.gl(3), rng.normal(size=(60, 3)))
    assert np.all(symmetry_variance(rep) < 1e-24)
    assert symmetry_bias(rep, sl.so(3)) < 1e-12
    assert symmetry_bias(rep, sl.scaling(3)) > 0.99
    with pytest.raises(sl.SymlieTypeError, match="report must be"):
        symmetry_variance("no")


def test_discrete_candidates_residuals(rng):
    X = rng.normal(size=(50, 3))
    cands = discrete_candidates(3, rotations=(4,))
    assert len(cands) == 3 + (2**3 * 6 - 1) + 3
    rep = check_discrete(lambda x: x[:, 0] ** 2 + x[:, 1] ** 2 + x[:, 2], cands, X)
    assert set(rep.symmetries) == {
        "reflect x0",
        "reflect x1",
        "rotate 2pi/4 in (0,1)",
        "signed permutation [0, 1, 2] [-1, -1, 1]",
        "signed permutation [0, 1, 2] [-1, 1, 1]",
        "signed permutation [0, 1, 2] [1, -1, 1]",
        "signed permutation [1, 0, 2] [-1, -1, 1]",
        "signed permutation [1, 0, 2] [-1, 1, 1]",
        "signed permutation [1, 0, 2] [1, -1, 1]",
        "signed permutation [1, 0, 2] [1, 1, 1]",
    }
    assert rep.residuals[rep.holds].max() < 1e-14 and rep.residuals[~rep.holds].min() > 1e-3
    field = check_discrete(lambda x: x @ np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, -1]]).T, cands, X, "vector_field")
    assert "rotate 2pi/4 in (0,1)" in field.symmetries and "reflect x0" not in field.symmetries
    with pytest.raises(sl.SymlieValueError, match="output must be"):
        check_discrete(lambda x: x[:, 0], cands, X, "sideways")
