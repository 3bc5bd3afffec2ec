"""The promotion penalty R(w) = ||M(w)||_* and its solver: known facts, the cvxpy optimum, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symlie as sl
from symlie._cvxpy_baseline import promote_cvxpy


@pytest.fixture(scope="module")
def so3_quadratics():
    """Quadratics in 3 variables under so(3), exact operator, and the symmetric subspace (1, |x|^2)."""
    lib = sl.PolynomialLibrary(3, 2)
    op = sl.lie_derivative_operator(lib, sl.so(3))
    return lib, op, sl.enforce(lib, sl.so(3))


@pytest.fixture(scope="module")
def se2_cubic():
    lib = sl.PolynomialLibrary(2, 3)
    return lib, sl.lie_derivative_operator(lib, sl.se(2).orthonormalize(), points=None, rng=1)


def test_penalty_vanishes_exactly_on_symmetric_models(so3_quadratics):
    _, op, sub = so3_quadratics
    assert sub.dim == 2
    for c in np.random.default_rng(0).normal(size=(5, 2)):
        assert sl.nuclear_norm_penalty(op, sub.basis @ c) <= 1e-12


def test_penalty_positive_off_the_symmetric_subspace(so3_quadratics):
    lib, op, sub = so3_quadratics
    w = np.random.default_rng(1).normal(size=len(lib))
    w -= sub.basis @ (sub.basis.T @ w)
    assert sl.nuclear_norm_penalty(op, w) > 1e-3 * np.linalg.norm(w)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), scale=st.floats(-50, 50).filter(lambda s: abs(s) > 1e-3))
def test_penalty_is_absolutely_homogeneous(se2_cubic, seed, scale):
    lib, op = se2_cubic
    w = np.random.default_rng(seed).normal(size=len(lib))
    assert sl.nuclear_norm_penalty(op, scale * w) == pytest.approx(abs(scale) * sl.nuclear_norm_penalty(op, w))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), t=st.floats(0, 1))
def test_penalty_is_convex_on_random_segments(se2_cubic, seed, t):
    lib, op = se2_cubic
    a, b = np.random.default_rng(seed).normal(size=(2, len(lib)))
    R = lambda w: sl.nuclear_norm_penalty(op, w)  # noqa: E731
    assert R(t * a + (1 - t) * b) <= t * R(a) + (1 - t) * R(b) + 1e-10


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_penalty_invariant_under_an_orthogonal_change_of_algebra_basis(seed):
    rng = np.random.default_rng(seed)
    lib = sl.PolynomialLibrary(3, 2)
    alg = sl.se(3).orthonormalize()
    Q = np.linalg.qr(rng.normal(size=(alg.dim, alg.dim)))[0]
    rotated = sl.LieAlgebra(np.einsum("ij,jab->iab", Q, alg.basis), require_closure=False)
    X = rng.uniform(-1, 1, (12, 3))
    op1 = sl.lie_derivative_operator(lib, alg, points=X)
    op2 = sl.lie_derivative_operator(lib, rotated, points=X)
    w = rng.normal(size=len(lib))
    assert sl.nuclear_norm_penalty(op2, w) == pytest.approx(sl.nuclear_norm_penalty(op1, w), rel=1e-12)


def test_penalty_matches_singular_values_of_the_discover_matrix(se2_cubic):
    lib, op = se2_cubic
    w = np.random.default_rng(3).normal(size=len(lib))
    s = np.linalg.svd(op.discover_matrix(w), compute_uv=False)
    assert sl.nuclear_norm_penalty(op, w) == pytest.approx(s.sum(), rel=1e-12)


# ----------------------------------------------------------------------------------- solver vs cvxpy
def _cvxpy_reference(op, D, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return promote_cvxpy(op, D, y, solver="CLARABEL", **kw)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_interpolation_matches_the_cvxpy_optimum(se2_cubic, seed):
    lib, op = se2_cubic
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (5, 2))
    D, y = lib.evaluate(X), rng.normal(size=5)
    ours = sl.promote(op, D, y)
    ref = _cvxpy_reference(op, D, y)
    assert ours.converged
    assert ours.data_residual <= 1e-8
    assert ours.penalty == pytest.approx(ref.penalty, rel=1e-5)
    np.testing.assert_allclose(ours.coef, ref.coef, atol=1e-3 * np.abs(ref.coef).max())


@pytest.mark.parametrize("alpha", [1e-2, 1e-1])
def test_penalised_program_matches_the_cvxpy_optimum(se2_cubic, alpha):
    lib, op = se2_cubic
    rng = np.random.default_rng(7)
    X = rng.uniform(-1, 1, (15, 2))
    D = lib.evaluate(X)
    y = (X**2).sum(axis=1) + 0.3 * X[:, 0] ** 3 + 0.05 * rng.normal(size=15)
    ours = sl.promote(op, D, y, alpha=alpha)
    ref = _cvxpy_reference(op, D, y, alpha=alpha)
    assert ours.objective == pytest.approx(ref.objective, rel=1e-5)


def test_scs_baseline_reports_its_solve(se2_cubic):
    lib, op = se2_cubic
    X = np.random.default_rng(4).uniform(-1, 1, (6, 2))
    y = 1 + (X**2).sum(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = promote_cvxpy(op, lib.evaluate(X), y)
    assert res.solver == "SCS" and res.iterations > 0 and res.wall_seconds >= res.seconds > 0
    assert res.data_residual < 1e-3


# ------------------------------------------------------------------------------------------ bad input
def test_bad_input_names_the_argument(se2_cubic):
    lib, op = se2_cubic
    D = lib.evaluate(np.zeros((3, 2)))
    with pytest.raises(sl.ShapeError, match="coef"):
        sl.nuclear_norm_penalty(op, np.ones(3))
    with pytest.raises(sl.ShapeError, match="design"):
        sl.promote(op, np.ones((3, 4)), np.ones(3))
    with pytest.raises(sl.ShapeError, match="targets"):
        sl.promote(op, D, np.ones(4))
    with pytest.raises(sl.SymlieValueError, match="alpha"):
        sl.promote(op, D, np.ones(3), alpha=-1.0)
    with pytest.raises(sl.SymlieValueError, match="alpha"):
        promote_cvxpy(op, D, np.ones(3), alpha=-1.0)
    with pytest.raises(sl.SymlieValueError, match="max_iters"):
        promote_cvxpy(op, D, np.ones(3), max_iters=0)


def test_inconsistent_interpolation_is_refused(se2_cubic):
    lib, op = se2_cubic
    X = np.random.default_rng(0).uniform(-1, 1, (2, 2))
    D = lib.evaluate(np.vstack([X, X]))
    with pytest.raises(sl.SymlieValueError, match="cannot be interpolated"):
        sl.promote(op, D, np.array([0.0, 1.0, 1.0, 0.0]))


# ------------------------------------------------------------------------------------------- the Newton solver
@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    shape=st.sampled_from([(5, 9, 4), (6, 7, 7), (3, 12, 8), (8, 10, 6)]),
    where=st.floats(0.05, 3.0),
    l1=st.sampled_from([0.0, 0.3]),
)
def test_huber_hessian_and_its_products_match_finite_differences(seed, shape, where, l1):
    """The O(pRqr) dense Hessian (Gram/mu plus large-singular-value corrections) and the O(Rq^2 + pRq) Hessian
    products are both the exact second derivative."""
    from symlie._matrix_map import FlatMap
    from symlie._nuclear_newton import SmoothedProgram

    rng = np.random.default_rng(seed)
    p, R, q = shape
    D = rng.normal(size=(2, p + 1))
    w0, N = rng.normal(size=p + 1), rng.normal(size=(p + 1, p))
    lie = FlatMap(rng.normal(size=(R * q, p + 1)), q, w0, N)
    program = SmoothedProgram(lie, D, rng.normal(size=2), w0, N, 0.7, l1)
    v = 0.3 * rng.normal(size=p)
    sig = np.linalg.svd(program.matrix(v), compute_uv=False)
    mu = where * float(np.median(sig))
    if np.min(np.abs(sig - mu)) < 1e-3 * mu:  # h'' jumps at sigma = mu
        mu *= 1.01
    curv = program.curvature(program.evaluate(v, mu, 0.2), mu, 0.2)
    hessian = program.hessian(curv)
    eps = 1e-6 * max(1.0, float(np.abs(v).max()))
    numeric = np.column_stack(
        [
            (program.evaluate(v + eps * e, mu, 0.2).grad - program.evaluate(v - eps * e, mu, 0.2).grad) / (2 * eps)
            for e in np.eye(p)
        ]
    )
    assert np.abs(hessian - numeric).max() <= 1e-6 * np.abs(numeric).max()
    products = np.column_stack([program.hessian_product(curv, e) for e in np.eye(p)])
    assert np.abs(products - hessian).max() <= 1e-10 * np.abs(hessian).max()
    # The tangent predictor's right-hand side: the derivative of the gradient along mu (mu_w = 0.2 / mu * mu).
    rate = program.smoothing_derivative(program.evaluate(v, mu, 0.2), mu, 0.2, 0.2 / mu)
    h = 1e-6 * mu
    along = (
        program.evaluate(v, mu + h, 0.2 * (mu + h) / mu).grad - program.evaluate(v, mu - h, 0.2 * (mu - h) / mu).grad
    ) / (2 * h)
    assert np.abs(rate - along).max() <= 1e-5 * max(np.abs(along).max(), 1.0)


def test_conjugate_gradient_reaches_the_forcing_tolerance_or_reports_its_budget():
    from symlie._nuclear_newton import _FORCING, _conjugate_gradient

    rng = np.random.default_rng(3)
    G = rng.normal(size=(30, 30))
    H = G @ G.T + 1e-3 * np.eye(30)
    rhs = rng.normal(size=30)
    rough = np.diag(1.0 / np.diag(H))  # Jacobi: a poor preconditioner
    x, used = _conjugate_gradient(lambda d: H @ d, rough, rhs, budget=200)
    residual = rhs - H @ x
    assert used <= 200 and residual @ rough @ residual <= _FORCING**2 * (rhs @ rough @ rhs) * (1 + 1e-9)
    assert _conjugate_gradient(lambda d: H @ d, rough, rhs, budget=1) == (None, 1)
    exact, used = _conjugate_gradient(lambda d: H @ d, np.linalg.inv(H), rhs, budget=5)
    assert used == 1 and np.allclose(exact, np.linalg.solve(H, rhs))  # the exact preconditioner: one product


def test_promote_reports_its_work_and_mostly_uses_hessian_products():
    from symlie.bench._recovery_targets import make_problem

    problem = make_problem("ortho", "se", m=6, r=1, d=2, seed=0)
    op = sl.lie_derivative_operator(problem.library, problem.algebra, points=problem.operator_points)
    n = problem.n_lib // 2
    res = sl.promote(op, problem.library.evaluate(problem.train_points[:n]), problem.train_values[:n])
    assert res.converged and problem.relative_error(res.coef) < 1e-4
    assert 1 <= res.hessians < res.iterations and res.hessian_products > res.iterations


def test_a_tight_conjugate_gradient_budget_falls_back_to_dense_hessians(monkeypatch):
    """When CG may take only one product, most steps form a dense Hessian instead; the optimum is the same."""
    from symlie._nuclear_newton import SmoothedProgram
    from symlie.bench._recovery_targets import make_problem

    problem = make_problem("ortho", "se", m=7, r=1, d=2, seed=1)
    op = sl.lie_derivative_operator(problem.library, problem.algebra, points=problem.operator_points)
    D, y = problem.library.evaluate(problem.train_points[:25]), problem.train_values[:25]
    usual = sl.promote(op, D, y)
    monkeypatch.setattr(SmoothedProgram, "conjugate_gradient_budget", lambda self, curv: 1)
    dense = sl.promote(op, D, y)
    assert usual.converged and dense.converged and dense.hessians > usual.hessians
    assert dense.penalty == pytest.approx(usual.penalty, rel=1e-5)
    assert np.abs(dense.coef - usual.coef).max() <= 1e-4 * np.abs(usual.coef).max()


def test_warm_start_reaches_the_cold_optimum():
    lib = sl.PolynomialLibrary(3, 2)
    op = sl.lie_derivative_operator(lib, sl.se(3).orthonormalize(), points=None, rng=1)
    X = np.random.default_rng(0).uniform(-1, 1, (8, 3))
    y = 1 + ((X - 0.5) ** 2).sum(axis=1)
    larger = sl.promote(op, lib.evaluate(X), y)
    cold = sl.promote(op, lib.evaluate(X[:7]), y[:7])
    warm = sl.promote(op, lib.evaluate(X[:7]), y[:7], warm_start=larger)
    assert cold.converged and warm.converged and warm.iterations > 0
    assert warm.penalty == pytest.approx(cold.penalty, rel=1e-5)
    assert cold.smoothing < 1e-5 * cold.penalty and warm.data_residual < 1e-10


def test_warm_start_does_not_stop_next_to_a_barely_suboptimal_point():
    """Regression: from the recovered W_true of a larger set, a warm solve at a smaller set where W_true is only
    4e-4 (relative) above the optimum must still reach the optimum, as the cold solve does."""
    from symlie.bench._recovery import build_operator
    from symlie.bench._recovery_targets import make_problem

    problem = make_problem("ortho", "t", m=10, r=1, d=2, seed=3)
    op = build_operator(problem)
    theta, values = problem.library.evaluate(problem.train_points), problem.train_values
    larger = sl.promote(op, theta[:43], values[:43])
    cold = sl.promote(op, theta[:37], values[:37])
    warm = sl.promote(op, theta[:37], values[:37], warm_start=larger)
    assert problem.relative_error(larger.coef) < 1e-4  # W_true, feasible for the smaller set
    assert sl.nuclear_norm_penalty(op, problem.coef) > cold.penalty * (1 + 1e-4)  # ... but not its optimum
    assert warm.penalty == pytest.approx(cold.penalty, rel=1e-5)
    assert problem.relative_error(warm.coef) > 1e-2
