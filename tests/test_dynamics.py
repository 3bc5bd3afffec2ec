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
def _noisy_rotating(noise: float, length: int, seed: int = 0):
    """Four trajectories of the rotating system, relative noise, Savitzky-Golay states and derivatives (as the
    benchmark: the end windows of the filter dropped)."""
    S = dyn.rotating()
    rng = np.random.default_rng(seed)
    states, derivs = [], []
    for _ in range(4):
        x0 = np.r_[rng.uniform(-1.5, 1.5, 2), rng.uniform(-2.0, 2.0)]
        _, X = dyn.simulate(S, length, x0=x0)
        Xn = X + noise * np.sqrt(np.mean(X**2)) * rng.standard_normal(X.shape)
        s, d = dyn.smoothed_derivative(Xn, S.dt)
        states.append(s[15:-15])  # the filter's end windows (31 samples) extrapolate
        derivs.append(d[15:-15])
    return S, np.concatenate(states), np.concatenate(derivs)


def _principal_angle(rows: np.ndarray, true: list[np.ndarray]) -> float:
    """Largest principal angle between span(rows) (coefficients in gl(3)'s basis) and span(true matrices)."""
    T = np.linalg.qr(np.array([m.reshape(-1) for m in true]).T)[0]
    G = np.linalg.qr(rows.T)[0]
    return float(np.arccos(min(np.linalg.svd(T.T @ G, compute_uv=False).min(), 1.0)))


def test_promote_then_enforce_finds_the_hopf_rotation_and_refits_exactly():
    S = dyn.hopf()
    X = np.concatenate([dyn.simulate(S, 150, x0=x0)[1] for x0 in ([0.2, 0.0], [1.5, 0.5], [-1.0, 1.2])])
    sel = dyn.promote_then_enforce(X, S(X), S.library, sl.gl(2))
    assert sel.dim == 1 and sel.confidence > 0.99 and sel.margin > 1
    J = sel.matrices[0] / np.linalg.norm(sel.matrices[0])
    assert np.isclose(abs(np.sum(J * J2)) / np.linalg.norm(J2), 1.0, atol=1e-8)
    assert np.abs(sel.coef - S.coef).max() < 1e-8 and sel.residual < 1e-10 and sel.closure < 1e-12
    assert len(sel.statistics) == len(sel.floors) == len(sel.p_values) == len(sel.codims) == 3  # d = 0, 1, 2
    assert sel.statistics[1] <= sel.floors[1] < sel.statistics[2]  # d = 1 accepted, d = 2 rejected
    whole = dyn.promote_then_enforce(X, S(X), S.library, S.symmetry)  # a one-generator candidate: d = q is tested
    assert whole.dim == 1 and whole.residual < 1e-12


@pytest.fixture(scope="module")
def rotating_selection():
    """Noisy rotating data (1% noise, 4 x 200 samples) and its promote-then-enforce selection, computed once."""
    S, X, Y = _noisy_rotating(1e-2, 200)
    return S, X, Y, dyn.promote_then_enforce(X, Y, S.library)


def test_promote_then_enforce_recovers_the_rotating_symmetry_dimension_from_noisy_data(rotating_selection):
    # true symmetry in gl(3): the rotation about z and the z-scaling (dimension 2), not told to the method
    S, X, Y, sel = rotating_selection
    Jz = np.zeros((3, 3))
    Jz[0, 1], Jz[1, 0] = -1.0, 1.0
    assert sel.dim == 2 and sel.generators.shape == (2, 9)
    assert _principal_angle(sel.generators, [Jz, np.diag([0.0, 0.0, 1.0])]) < 1e-2
    assert sel.residual < 1e-10  # the refit is exactly symmetric
    assert sel.statistics[3] > sel.floors[3]  # a third generator is rejected
    plain, _ = dyn.symmetric_stlsq(dyn.LeastSquaresData.from_data(S.library.evaluate(X), Y), threshold=0.1)
    err = [np.linalg.norm(W - S.coef) / np.linalg.norm(S.coef) for W in (plain, sel.coef)]
    assert err[1] < min(err[0], 0.02)  # the discovered symmetry improves on plain STLSQ


def test_promote_then_enforce_keeps_noisy_lorenz_unconstrained():
    S, Theta, Y = _noisy_lorenz(1e-2, 500)
    X = Theta[:, 1:4]  # the smoothed states (degree-1 monomials)
    sel = dyn.promote_then_enforce(X, Y, S.library, threshold=0.5)
    plain, _ = dyn.symmetric_stlsq(dyn.LeastSquaresData.from_data(Theta, Y), threshold=0.5)
    assert sel.dim == 0 and sel.generators.shape == (0, 9) and sel.confidence > 0.99
    assert sel.statistics[1] > 10 * sel.floors[1]  # one generator is rejected by far
    assert np.array_equal(sel.coef, plain)


@settings(max_examples=4, deadline=None)
@given(entries=st.lists(st.floats(-0.5, 0.5), min_size=4, max_size=4))
def test_promote_then_enforce_finds_the_conjugated_rotation(entries):
    # f'(x) = A f(A^-1 x) has the symmetry A J A^-1: exact data, any (well-conditioned) change of frame
    A = np.eye(2) + np.array(entries).reshape(2, 2)
    if abs(np.linalg.det(A)) < 0.3:
        return
    S, Ainv = dyn.hopf(), np.linalg.inv(A)

    def f(X):
        return S(X @ Ainv.T) @ A.T

    X = np.concatenate([dyn.simulate(f, 150, dt=0.01, x0=A @ x0)[1] for x0 in ([0.2, 0.0], [1.5, 0.5], [-1.0, 1.2])])
    sel = dyn.promote_then_enforce(X, f(X), S.library, sl.gl(2), threshold=0.0)
    expected = (A @ J2 @ Ainv).reshape(-1)
    found = sel.matrices.reshape(sel.dim, -1)
    assert sel.dim == 1
    assert np.isclose(abs(found[0] @ expected) / np.linalg.norm(found[0]) / np.linalg.norm(expected), 1.0, atol=1e-8)


def test_symmetric_sindy_promote_mode_uses_the_same_selection(rotating_selection):
    _, X, Y, sel = rotating_selection
    model = dyn.SymmetricSINDy(degree=3, mode="promote").fit(X, x_dot=Y)
    assert model.symmetry_.dim == 2 and model.symmetry_.selection is not None
    assert np.array_equal(model.coef_, sel.coef)
    with pytest.raises(sl.SymlieValueError, match="alpha must be"):
        dyn.SymmetricSINDy(degree=3, mode="promote", alpha="bad").fit(X, x_dot=Y)


def test_stlsq_restriction_is_relative_to_the_basis_scale():
    S, Theta, Y = _noisy_lorenz(1e-2, 500)
    data = dyn.LeastSquaresData.from_data(Theta, Y)
    basis = sl.enforce(S.library, Z2, output="vector_field").basis
    W, _ = dyn.symmetric_stlsq(data, basis, threshold=0.5)
    for scale in (1e-12, 1e6):  # the same subspace in other units: the same fit, still exactly symmetric
        Ws, _ = dyn.symmetric_stlsq(data, scale * basis, threshold=0.5)
        assert np.allclose(Ws, W, atol=1e-10 * np.abs(W).max())
        w = Ws.reshape(-1)
        assert np.linalg.norm(w - basis @ (basis.T @ w)) < 1e-10 * np.linalg.norm(w)


def test_promote_then_enforce_bad_inputs_name_the_argument():
    S = dyn.hopf()
    X = np.ones((40, 2))
    with pytest.raises(sl.ShapeError, match="Xdot"):
        dyn.promote_then_enforce(X, np.ones((39, 2)), S.library)
    with pytest.raises(sl.SymlieValueError, match="level"):
        dyn.promote_then_enforce(X, X, S.library, level=2.0)
    with pytest.raises(sl.SymlieValueError, match="alphas"):
        dyn.promote_then_enforce(X, X, S.library, alphas=[-1.0])
    with pytest.raises(sl.SymlieValueError, match="n_reweight"):
        dyn.promote_then_enforce(X, X, S.library, n_reweight=0)
    with pytest.raises(sl.SymlieValueError, match="n_bootstrap"):
        dyn.promote_then_enforce(X, X, S.library, n_bootstrap=5)
    with pytest.raises(sl.SymlieValueError, match="samples"):
        dyn.promote_then_enforce(X[:10], X[:10], S.library)


def test_pysindy_wrapper_promote_mode_uses_the_same_selection(rotating_selection):
    ps = pytest.importorskip("pysindy")
    S, X, Y, sel = rotating_selection
    opt = dyn.SymmetricOptimizer(base=ps.STLSQ(threshold=0.1), mode="promote")
    model = ps.SINDy(optimizer=opt, feature_library=ps.PolynomialLibrary(degree=3)).fit(X, t=S.dt, x_dot=Y)
    assert opt.symmetry_.dim == 2 and opt.symmetry_.selection.dim == 2
    assert np.allclose(model.coefficients(), sel.coef, atol=1e-10)


def test_profiled_floor_matches_chi2_quantiles():
    from scipy.stats import chi2

    from symlie.dynamics._noise_floor import profiled_floor

    null = 3.0 * chi2.rvs(40, size=20000, random_state=np.random.default_rng(0))  # g = 3, h = 40
    floor, p = profiled_floor(null, 40, 0, 3.0 * chi2.ppf(0.99, 40), 0.01)
    assert np.isclose(floor, 3.0 * chi2.ppf(0.99, 40), rtol=0.03) and np.isclose(p, 0.01, rtol=0.15)
    fitted, _ = profiled_floor(null, 40, 10, 0.0, 0.01)  # ten fitted directions: chi2 with 30 dof
    assert np.isclose(fitted, 3.0 * chi2.ppf(0.99, 30), rtol=0.03)
