"""Coordinate freedom: invariant scalars, equivariant heads, the covariant normaliser (symlie.units, issue 8)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

import symlie as sl
import symlie.units as su


def rotate(X: np.ndarray, g: np.ndarray, n_vectors: int) -> np.ndarray:
    """Apply ``g`` to every vector block of ``X`` (vectors first, row-major, then scalars)."""
    d = g.shape[0]
    out = X.copy()
    out[:, : n_vectors * d] = (X[:, : n_vectors * d].reshape(len(X), n_vectors, d) @ g.T).reshape(len(X), -1)
    return out


def inertia(X: np.ndarray, k: int) -> np.ndarray:
    r"""Inertia tensors :math:`\sum_p m_p (|r_p|^2 I - r_p r_p^T)`, shape (n, 3, 3)."""
    r, m = X[:, : 3 * k].reshape(len(X), k, 3), X[:, 3 * k :]
    return np.einsum("np,npa,npa->n", m, r, r)[:, None, None] * np.eye(3) - np.einsum("np,npa,npb->nab", m, r, r)


# ------------------------------------------------------------------------------------------ scalars
def test_o3_quadratic_invariants_of_two_vectors_are_the_three_gram_entries() -> None:
    sf = su.ScalarFeatures("O(3)", n_vectors=2).fit(np.zeros((1, 6)))
    assert sf.feature_names_ == ["v0·v0", "v0·v1", "v1·v1"]
    # each feature is z^T W z with z = (v0, v1); their symmetric W span the O(3)-invariant quadratic forms
    ours = []
    for i, j in [(0, 0), (0, 1), (1, 1)]:
        W = np.zeros((6, 6))
        W[3 * i : 3 * i + 3, 3 * j : 3 * j + 3] = np.eye(3)
        ours.append(((W + W.T) / 2).ravel())
    V = sl.V(sl.O(3))
    Q = sl.equivariant_basis((V + V) ** 2, sl.Scalar)  # invariant bilinear forms, (36, 4)
    sym = np.array([((q.reshape(6, 6) + q.reshape(6, 6).T) / 2).ravel() for q in Q.T])
    assert np.linalg.matrix_rank(sym, tol=1e-10) == 3
    assert np.linalg.matrix_rank(np.vstack([sym, ours]), tol=1e-10) == 3
    assert np.linalg.matrix_rank(np.array(ours), tol=1e-10) == 3


@pytest.mark.parametrize(
    "group, sampler, d",
    [("O(3)", sl.O(3), 3), ("SO(3)", sl.SO(3), 3), ("O(1,3)", sl.Lorentz(), 4), (sl.Lorentz(), sl.Lorentz(), 4)],
)
def test_scalar_features_are_invariant(group, sampler, d, rng: np.random.Generator) -> None:  # type: ignore[no-untyped-def]
    X = rng.normal(size=(10, 3 * d + 1))
    sf = su.ScalarFeatures(group, n_vectors=3, n_scalars=1).fit(X)
    for _ in range(3):
        g = sampler.sample(rng)
        np.testing.assert_allclose(sf.transform(rotate(X, g, 3)), sf.transform(X), rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(sf.transform(X)[:, -1], X[:, -1])


def test_determinants_separate_so3_from_o3(rng: np.random.Generator) -> None:
    X = rng.normal(size=(5, 9))
    sf = su.ScalarFeatures("SO(3)", n_vectors=3).fit(X)
    assert sf.feature_names_[-1] == "det(v0,v1,v2)"
    mirrored = rotate(X, np.diag([-1.0, 1, 1]), 3)
    np.testing.assert_allclose(sf.transform(mirrored)[:, -1], -sf.transform(X)[:, -1], rtol=1e-12)


def test_euclidean_features_ignore_translations(rng: np.random.Generator) -> None:
    X = rng.normal(size=(6, 12))
    sf = su.ScalarFeatures("E(3)", n_vectors=4).fit(X)
    shifted = X + np.tile(rng.normal(size=3), 4)[None, :]
    turned = rotate(X, sl.O(3).sample(rng), 4)
    np.testing.assert_allclose(sf.transform(shifted), sf.transform(X), atol=1e-12)
    np.testing.assert_allclose(sf.transform(turned), sf.transform(X), atol=1e-12)


def test_scalar_features_bad_input() -> None:
    with pytest.raises(sl.SymlieValueError, match="group must be"):
        su.ScalarFeatures("U(3)").fit(np.zeros((2, 6)))
    with pytest.raises(sl.ShapeError, match="X must have n_vectors \\* dim \\+ n_scalars = 6 columns"):
        su.ScalarFeatures("O(3)", n_vectors=2).fit(np.zeros((2, 5)))
    with pytest.raises(sl.SymlieValueError, match="n_vectors must be >= 1"):
        su.ScalarFeatures("O(3)", n_vectors=0).fit(np.zeros((2, 0)))


# -------------------------------------------------------------------------------------------- heads
def test_inertia_tensor_is_exactly_representable_by_the_matrix_head(rng: np.random.Generator) -> None:
    k = 3
    X = np.hstack([rng.normal(size=(150, 3 * k)), rng.uniform(0.5, 2.0, (150, k))])
    reg = su.EquivariantHeadRegressor("matrix", group="O(3)", n_vectors=k, n_scalars=k, degree=2)
    reg.fit(X, inertia(X, k).reshape(150, 9))
    assert reg.residual_ < 1e-10
    Xt = np.hstack([rng.normal(size=(20, 3 * k)), rng.uniform(0.5, 2.0, (20, k))])
    P = reg.predict(Xt).reshape(20, 3, 3)
    np.testing.assert_allclose(P, inertia(Xt, k), atol=1e-9)
    g = sl.O(3).sample(rng)
    Pg = reg.predict(rotate(Xt, g, k)).reshape(20, 3, 3)
    np.testing.assert_allclose(Pg, g @ P @ g.T, atol=1e-10)


def test_vector_head_is_equivariant_and_matches_the_helper(rng: np.random.Generator) -> None:
    X = rng.normal(size=(60, 6))
    u, v = X[:, :3], X[:, 3:]
    y = np.sum(u * v, axis=1, keepdims=True) * u - 2.0 * v
    reg = su.EquivariantHeadRegressor("vector", group="O(3)", n_vectors=2, degree=1).fit(X, y)
    assert reg.residual_ < 1e-12
    g = sl.O(3).sample(rng)
    np.testing.assert_allclose(reg.predict(rotate(X, g, 2)), reg.predict(X) @ g.T, atol=1e-10)
    coefficients = np.column_stack([np.sum(u * v, axis=1), np.full(60, -2.0)])
    np.testing.assert_allclose(su.vector_head(X.reshape(60, 2, 3), coefficients), y, atol=1e-12)
    M = su.matrix_head(X.reshape(60, 2, 3), np.ones((60, 2, 2)), np.ones(60))
    np.testing.assert_allclose(M, (u + v)[:, :, None] * (u + v)[:, None, :] + np.eye(3), atol=1e-12)


def test_lorentz_matrix_head_uses_the_metric(rng: np.random.Generator) -> None:
    X = rng.normal(size=(40, 8))
    eta = np.diag([1.0, -1, -1, -1])
    p, q = X[:, :4], X[:, 4:]
    Y = (np.einsum("na,ab,nb->n", p, eta, q)[:, None, None] * eta + p[:, :, None] * p[:, None, :]).reshape(40, 16)
    reg = su.EquivariantHeadRegressor("matrix", group="O(1,3)", n_vectors=2, degree=1).fit(X, Y)
    assert reg.residual_ < 1e-10
    g = sl.Lorentz().sample(rng)
    P, Pg = reg.predict(X).reshape(40, 4, 4), reg.predict(rotate(X, g, 2)).reshape(40, 4, 4)
    np.testing.assert_allclose(Pg, g @ P @ g.T, rtol=1e-8, atol=1e-8 * np.abs(P).max())


def test_head_bad_input(rng: np.random.Generator) -> None:
    X = rng.normal(size=(10, 6))
    with pytest.raises(sl.SymlieValueError, match="head must be"):
        su.EquivariantHeadRegressor("tensor").fit(X, X[:, :3])
    with pytest.raises(sl.ShapeError, match="y must have 9 columns"):
        su.EquivariantHeadRegressor("matrix").fit(X, X[:, :3])


# --------------------------------------------------------------------------------------- normaliser
def test_covariant_scaler_is_invariant_under_units_and_commutes_with_rotations(rng: np.random.Generator) -> None:
    units = ["m", "m", "m", "m/s", "m/s", "m/s", "kg"]
    X = rng.normal(size=(30, 7))
    X[:, 6] = rng.uniform(1, 2, 30)
    scaler = su.CovariantScaler(units=units).fit(X)
    assert scaler.blocks_ == [[0, 1, 2], [3, 4, 5], [6]]
    s_m, s_s, s_kg = 1e3, 60.0, 1e-3  # to km, minutes, tonnes
    factors = np.array([1 / s_m] * 3 + [s_s / s_m] * 3 + [1 / s_kg])
    rescaled = su.CovariantScaler(units=units).fit_transform(X * factors)
    np.testing.assert_allclose(rescaled, scaler.transform(X), rtol=1e-12)
    g = np.kron(np.eye(2), sl.SO(3).sample(rng))
    turned = X.copy()
    turned[:, :6] = X[:, :6] @ g.T
    np.testing.assert_allclose(
        su.CovariantScaler(units=units).fit_transform(turned)[:, :6], scaler.transform(X)[:, :6] @ g.T, atol=1e-12
    )
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(X)), X, rtol=1e-14)


def test_covariant_scaler_blocks_and_errors() -> None:
    X = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0]])
    sc = su.CovariantScaler(blocks=[[0, 1], [2]]).fit(X)
    np.testing.assert_allclose(sc.scale_, [2.5, 2.5, 1.0])
    with pytest.raises(sl.SymlieValueError, match="blocks must cover each of the 3 columns exactly once"):
        su.CovariantScaler(blocks=[[0, 1]]).fit(X)
    with pytest.raises(sl.ShapeError, match="units describes 2 columns but X has 3"):
        su.CovariantScaler(units=["m", "s"]).fit(X)


def test_features_work_in_pipelines(rng: np.random.Generator) -> None:
    X = rng.normal(size=(40, 6))
    y = np.sum(X[:, :3] * X[:, 3:], axis=1)
    pipe = make_pipeline(su.ScalarFeatures("O(3)", n_vectors=2), LinearRegression()).fit(X, y)
    np.testing.assert_allclose(pipe.predict(X), y, atol=1e-10)
    assert clone(pipe).get_params()["scalarfeatures__group"] == "O(3)"


@parametrize_with_checks([su.CovariantScaler()], legacy=False)
def test_scikit_learn_api_checks(estimator: su.CovariantScaler, check) -> None:  # type: ignore[no-untyped-def]
    check(estimator)
