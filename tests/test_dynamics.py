"""symlie.dynamics: known symmetries and structure of ODEs, enforced/promoted SINDy, the PySINDy wrapper."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symlie as sl
import symlie.dynamics as dyn

Z2 = sl.Group(None, [np.diag([-1.0, -1.0, 1.0])])


# ------------------------------------------------------------------------------------- known symmetries
@pytest.mark.parametrize("candidate", [sl.gl(3), sl.aff(3)], ids=["gl3", "aff3"])
def test_lorenz_has_no_continuous_symmetry(candidate):
    assert dyn.discover_symmetry(dyn.lorenz(), candidate).dim == 0


def test_lorenz_has_the_z2():
    sub = sl.enforce(dyn.lorenz().library, Z2, output="vector_field")
    w = dyn.lorenz().coef.reshape(-1)
    assert np.linalg.norm(w - sub.basis @ (sub.basis.T @ w)) < 1e-12
    assert "signed permutation [0, 1, 2] [-1, -1, 1]" in dyn.discover_discrete(dyn.lorenz()).symmetries
    others = dyn.discover_discrete(dyn.lorenz(), {"flip z": np.diag([1.0, 1.0, -1.0]), "swap": np.eye(3)[[1, 0, 2]]})
    assert others.symmetries == []


@pytest.mark.parametrize("degree", [1, 2, 3])
def test_z2_symmetric_fields_counted_by_parity(degree):
    # (x, y, z) -> (-x, -y, z): f_x, f_y need monomials odd in (x, y); f_z needs them even.
    lib = sl.PolynomialLibrary(3, degree)
    parity = (lib.exponents[:, 0] + lib.exponents[:, 1]) % 2
    expected = 2 * int(np.sum(parity == 1)) + int(np.sum(parity == 0))
    assert sl.enforce(lib, Z2, output="vector_field").dim == expected
    if degree == 2:
        assert expected == 14


def _span_equal(report, reference: np.ndarray) -> bool:
    g = report.generators.reshape(report.dim, -1)
    r = np.asarray(reference).reshape(len(reference), -1)
    q1, q2 = np.linalg.qr(g.T)[0], np.linalg.qr(r.T)[0]
    return len(g) == len(r) and np.allclose(np.linalg.svd(q1.T @ q2, compute_uv=False), 1.0, atol=1e-8)


J2 = np.array([[0.0, -1.0], [1.0, 0.0]])


def test_hopf_symmetry_is_rotation():
    rep = dyn.discover_symmetry(dyn.hopf())
    assert rep.dim == 1 and _span_equal(rep, [J2])


def test_oscillator_symmetry_is_span_I_J():
    rep = dyn.discover_symmetry(dyn.oscillator())
    assert rep.dim == 2 and _span_equal(rep, [np.eye(2), J2])


def test_rotating_system_rotates_about_z():
    Jz = np.zeros((3, 3))
    Jz[0, 1], Jz[1, 0] = -1.0, 1.0
    Ezz = np.diag([0.0, 0.0, 1.0])
    rep = dyn.discover_symmetry(dyn.rotating(), sl.so(3))
    assert rep.dim == 1 and _span_equal(rep, [Jz])
    assert _span_equal(dyn.discover_symmetry(dyn.rotating()), [Jz, Ezz])  # gl(3) also holds the z-scaling


def test_discover_torch_vector_field():
    torch = pytest.importorskip("torch")

    class Hopf(torch.nn.Module):
        def forward(self, x):
            r2 = (x**2).sum(dim=1, keepdim=True)
            return x + torch.stack([-x[:, 1], x[:, 0]], dim=1) - r2 * x

    X = np.random.default_rng(0).uniform(-1, 1, (200, 2))
    rep = dyn.discover_symmetry(Hopf().double(), sl.gl(2), X, null=None)
    assert rep.dim == 1 and _span_equal(rep, [J2])


# ---------------------------------------------------------------------------------------------- structure
def test_oscillator_conserves_r2_and_lotka_volterra_has_no_polynomial_invariant():
    found = dyn.conserved_quantities(dyn.oscillator(), 2)
    assert found.dim == 1 and found.residual < 1e-12
    assert np.allclose(found.coefficients[0] / found.coefficients[0][2], [0, 0, 1, 0, 1], atol=1e-12)
    assert dyn.conserved_quantities(dyn.lotka_volterra(), 6).dim == 0  # its invariant has logarithms
    assert dyn.conserved_quantities(dyn.lorenz(), 4).dim == 0


def test_divergence_and_hamiltonian_structure():
    assert dyn.divergence(dyn.oscillator()) < 1e-14
    assert dyn.divergence(dyn.hopf()) > 1e-2
    _, _, r = dyn.hamiltonian(dyn.oscillator())
    assert r < 1e-12
    assert dyn.hamiltonian(dyn.hopf())[2] > 0.1
    # enforce: affine Hamiltonian fields on R^2 come from H of degree <= 2 (5 monomials), all divergence-free
    lib = sl.PolynomialLibrary(2, 1)
    ham = dyn.hamiltonian_subspace(lib)
    div = dyn.divergence_free_subspace(lib)
    assert ham.dim == 5 and div.dim == 5 and ham.residual < 1e-12
    for W in ham.matrices():
        assert dyn.divergence((lib, W)) < 1e-12
    with pytest.raises(sl.SymlieValueError, match="even dimension"):
        dyn.hamiltonian_subspace(sl.PolynomialLibrary(3, 1))


@settings(max_examples=10, deadline=None)
@given(degree=st.integers(1, 3))
def test_hamiltonian_subspace_dimension_counts_H(degree):
    # f = J grad H is injective on H without constant: dim = C(2 + d + 1, d + 1) - 1
    from math import comb

    assert dyn.hamiltonian_subspace(sl.PolynomialLibrary(2, degree)).dim == comb(3 + degree, degree + 1) - 1


def test_conserving_subspace_then_fit():
    lib = sl.PolynomialLibrary(2, 1)
    sub = dyn.conserving_subspace(lib, (sl.PolynomialLibrary(2, 2), [0, 0, 0, 1, 0, 1]))
    t, X = dyn.simulate(dyn.oscillator(), 300)
    model = dyn.SymmetricSINDy(degree=1, mode="enforce", symmetry=sub).fit(X, t=t)
    assert np.abs(model.coef_ - dyn.oscillator().coef).max() < 1e-3
    assert dyn.conserved_quantities(model, 2).dim == 1


# ------------------------------------------------------------------------------------------------- fitting
def _noisy_lorenz(noise: float, n: int, seed: int = 0):
    S = dyn.lorenz()
    rng = np.random.default_rng(seed)
    _, X = dyn.simulate(S, n)
    Xn = X + noise * np.sqrt(np.mean(X**2)) * rng.standard_normal(X.shape)
    s, d = dyn.smoothed_derivative(Xn, S.dt)
    return S, S.library.evaluate(s), d


def test_enforced_stlsq_is_exactly_symmetric_and_not_worse():
    S, Theta, Y = _noisy_lorenz(5e-2, 800)
    data = dyn.LeastSquaresData.from_data(Theta, Y)
    basis = sl.enforce(S.library, Z2, output="vector_field").basis
    plain, _ = dyn.symmetric_stlsq(data, None, threshold=0.5)
    enforced, _ = dyn.symmetric_stlsq(data, basis, threshold=0.5)
    w = enforced.reshape(-1)
    assert np.linalg.norm(w - basis @ (basis.T @ w)) < 1e-10 * np.linalg.norm(w)
    err = [np.linalg.norm(W - S.coef) for W in (plain, enforced)]
    assert err[1] <= err[0] * 1.0001


def test_promoted_fit_recovers_lorenz_and_its_symmetry_dimension():
    S, Theta, Y = _noisy_lorenz(1e-2, 1500)
    data = dyn.LeastSquaresData.from_data(Theta, Y)
    op = sl.lie_derivative_operator(S.library, sl.gl(3), "vector_field")
    W, result = dyn.promoted_stlsq(data, op, alpha=1e-5 * 10, threshold=0.5)
    assert np.linalg.norm(W - S.coef) / np.linalg.norm(S.coef) < 0.05
    assert dyn.symmetry_dimension(result.singular_values) == 0


def test_symmetric_sindy_estimator_modes():
    t, X = dyn.simulate(dyn.lorenz(), 1500)
    for mode, kw in [("none", {}), ("enforce", {"symmetry": Z2}), ("promote", {"alpha": 1e-4})]:
        model = dyn.SymmetricSINDy(degree=2, mode=mode, threshold=0.5, **kw).fit(X, t=t)
        assert np.abs(model.coef_ - dyn.lorenz().coef).max() < 0.05, mode
        assert model.symmetry_.dim == 0
        assert model.predict(X[:5]).shape == (5, 3)
    with pytest.raises(sl.SymlieValueError, match="mode must be one of"):
        dyn.SymmetricSINDy(mode="bad").fit(X, t=t)
    with pytest.raises(sl.SymlieValueError, match="needs symmetry="):
        dyn.SymmetricSINDy(mode="enforce").fit(X, t=t)
    with pytest.raises(sl.SymlieValueError, match="pass t"):
        dyn.SymmetricSINDy().fit(X)
    with pytest.raises(sl.SymlieValueError, match="not fitted"):
        dyn.SymmetricSINDy().predict(X)


def test_cross_validation_returns_a_grid_value():
    S, Theta, Y = _noisy_lorenz(1e-2, 600)
    op = sl.lie_derivative_operator(S.library, sl.gl(3), "vector_field")
    alphas = [1e-5, 1e-4]
    alpha, record = dyn.cross_validate_alpha(Theta, Y, op, alphas=alphas, threshold=0.5)
    assert alpha in alphas and len(record["mean_error"]) == 2
    with pytest.raises(sl.SymlieValueError, match="alphas"):
        dyn.cross_validate_alpha(Theta, Y, op, alphas=[-1.0])


def test_bad_inputs_name_the_argument():
    data = dyn.LeastSquaresData.from_data(np.ones((5, 3)), np.ones((5, 2)))
    with pytest.raises(sl.ShapeError, match="basis"):
        dyn.symmetric_stlsq(data, np.eye(5))
    with pytest.raises(sl.SymlieValueError, match="threshold"):
        dyn.symmetric_stlsq(data, threshold=-1.0)
    with pytest.raises(sl.ShapeError, match="Xdot"):
        dyn.LeastSquaresData.from_data(np.ones((5, 3)), np.ones((4, 2)))
    with pytest.raises(sl.SymlieTypeError, match="model must be"):
        dyn.conserved_quantities(object(), 2)
    with pytest.raises(sl.SymlieValueError, match="dt"):
        dyn.simulate(dyn.lorenz(), 10, dt=-1.0)
    with pytest.raises(sl.SymlieValueError, match=r"X \(probe points\)"):
        dyn.discover_symmetry(lambda x: x)


# -------------------------------------------------------------------------------------------- PySINDy
def test_pysindy_wrapper_enforce_and_promote():
    ps = pytest.importorskip("pysindy")
    S = dyn.lorenz()
    t, X = dyn.simulate(S, 1500)
    for opt in (
        dyn.SymmetricOptimizer(base=ps.STLSQ(threshold=0.5), symmetry=Z2),
        dyn.SymmetricOptimizer(
            base=ps.STLSQ(threshold=0.5), symmetry=Z2, feature_library=ps.PolynomialLibrary(degree=2)
        ),
        dyn.SymmetricOptimizer(base=ps.STLSQ(threshold=0.5), mode="promote", alpha=1e-4),
    ):
        if opt.feature_library is not None:
            lib = opt.feature_library
        else:
            lib = ps.PolynomialLibrary(degree=2)
        model = ps.SINDy(optimizer=opt, feature_library=lib).fit(X, t=t)
        W = model.coefficients()
        assert np.abs(W - S.coef).max() < 0.05
        assert dyn.discover_symmetry(model).dim == 0
    # normalised columns: thresholds in normalised units, coefficients back in original units, still symmetric
    opt = dyn.SymmetricOptimizer(base=ps.STLSQ(threshold=1e-3), symmetry=Z2, normalize_columns=True)
    model = ps.SINDy(optimizer=opt, feature_library=ps.PolynomialLibrary(degree=2)).fit(X, t=t)
    basis = sl.enforce(S.library, Z2, output="vector_field").basis
    w = model.coefficients().reshape(-1)
    assert np.linalg.norm(w - basis @ (basis.T @ w)) < 1e-10 * np.linalg.norm(w)


def test_pysindy_wrapper_other_base_and_bad_library():
    ps = pytest.importorskip("pysindy")
    t, X = dyn.simulate(dyn.lorenz(), 1000)
    opt = dyn.SymmetricOptimizer(base=ps.SR3(reg_weight_lam=0.01, max_iter=200), symmetry=Z2)
    model = ps.SINDy(optimizer=opt, feature_library=ps.PolynomialLibrary(degree=2)).fit(X, t=t)
    assert model.coefficients().shape == (3, 10)
    bad = dyn.SymmetricOptimizer(symmetry=Z2)
    with pytest.raises(sl.SymlieValueError, match="feature_library"):
        ps.SINDy(optimizer=bad, feature_library=ps.FourierLibrary()).fit(X, t=t)


# ------------------------------------------------------------------------------------ promote, then enforce
def test_promote_then_enforce_finds_the_hopf_rotation_and_refits_exactly():
    S = dyn.hopf()
    X = np.concatenate([dyn.simulate(S, 150, x0=x0)[1] for x0 in ([0.2, 0.0], [1.5, 0.5], [-1.0, 1.2])])
    sel = dyn.promote_then_enforce(X, S(X), S.library, sl.gl(2), n_folds=3)
    assert sel.dim == 1 and sel.confidence == 1.0
    J = sel.matrices[0] / np.linalg.norm(sel.matrices[0])
    assert np.isclose(abs(np.sum(J * J2)) / np.linalg.norm(J2), 1.0, atol=1e-8)
    assert np.abs(sel.coef - S.coef).max() < 1e-8
    assert sel.cv["dims"][0] == 0 and len(sel.cv["mean_error"]) == len(sel.cv["dims"])


def test_promote_then_enforce_keeps_lorenz_unconstrained():
    S, _, _ = _noisy_lorenz(0.0, 10)
    _, X = dyn.simulate(S, 500)
    sel = dyn.promote_then_enforce(X, S(X), S.library, threshold=0.5)
    plain, _ = dyn.symmetric_stlsq(dyn.LeastSquaresData.from_data(S.library.evaluate(X), S(X)), threshold=0.5)
    assert sel.dim == 0 and sel.generators.shape == (0, 9)
    assert np.array_equal(sel.coef, plain)


def test_promote_then_enforce_bad_inputs_name_the_argument():
    S = dyn.hopf()
    X = np.ones((20, 2))
    with pytest.raises(sl.ShapeError, match="Xdot"):
        dyn.promote_then_enforce(X, np.ones((19, 2)), S.library)
    with pytest.raises(sl.SymlieValueError, match="snap_rtols"):
        dyn.promote_then_enforce(X, X, S.library, snap_rtols=[2.0])
    with pytest.raises(sl.SymlieValueError, match="alphas"):
        dyn.promote_then_enforce(X, X, S.library, alphas=[-1.0])
    with pytest.raises(sl.SymlieValueError, match="n_reweight"):
        dyn.promote_then_enforce(X, X, S.library, n_reweight=0)
