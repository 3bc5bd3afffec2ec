"""sl.enforce: known dimensions of symmetric polynomial models, certificates, agreement of the two methods."""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import subspace_angles

import symlie as sl
from symlie._linalg import null_space


def _same_span(A, B, tol=1e-8):
    assert A.shape == B.shape
    if A.shape[1]:
        assert np.max(subspace_angles(A, B)) < tol


def _check(sub, expected_dim):
    assert sub.dim == expected_dim, sub
    assert sub.residual <= 1e-10, sub
    np.testing.assert_allclose(sub.basis.T @ sub.basis, np.eye(sub.dim), atol=1e-12)
    assert sub.basis.shape == (sub.n_outputs * len(sub.library), sub.dim)


@cache
def _partitions(total: int, parts: int, largest: int | None = None) -> int:
    """Partitions of ``total`` into at most ``parts`` parts (each <= largest)."""
    largest = total if largest is None else largest
    if total == 0:
        return 1
    if parts == 0:
        return 0
    return sum(_partitions(total - k, parts - 1, k) for k in range(1, min(total, largest) + 1))


# ------------------------------------------------------------------------------------ known answers
@pytest.mark.parametrize("method", ["exact", "sampled"])
@pytest.mark.parametrize("n", [2, 3, 4])
@pytest.mark.parametrize("degree", [0, 1, 2, 3, 4])
def test_son_invariant_polynomials(n, degree, method):
    """Polynomials in |x|^2 only: floor(d/2) + 1 of degree <= d."""
    library = sl.PolynomialLibrary(n, degree)
    _check(sl.enforce(library, sl.so(n), method=method), degree // 2 + 1)
    _check(sl.enforce(library, sl.SO(n), method=method), degree // 2 + 1)


@pytest.mark.parametrize("method", ["exact", "sampled"])
@pytest.mark.parametrize(
    ("symmetry", "n", "expected"),
    [(sl.so(2), 2, 4), (sl.SO(2), 2, 4), (sl.O(2), 2, 2), (sl.so(3), 3, 2), (sl.SO(3), 3, 2), (sl.O(3), 3, 2)],
    ids=["so2", "SO2", "O2", "so3", "SO3", "O3"],
)
def test_equivariant_vector_fields(symmetry, n, expected, method):
    """Degree <= 3: x, Jx, |x|^2 x, |x|^2 Jx on R^2 (the reflection removes the J terms); x, |x|^2 x on R^3."""
    _check(sl.enforce(sl.PolynomialLibrary(n, 3), symmetry, "vector_field", method=method), expected)


def test_so2_vector_fields_are_the_known_ones():
    sub = sl.enforce(sl.PolynomialLibrary(2, 3), sl.so(2), "vector_field")
    X = np.random.default_rng(0).normal(size=(10, 2))
    J = np.array([[0.0, -1.0], [1.0, 0.0]])
    r2 = np.sum(X**2, axis=1, keepdims=True)
    known = np.stack([X, X @ J.T, r2 * X, r2 * (X @ J.T)])  # (4, N, 2)
    fitted = np.einsum("kol,nl->kno", sub.matrices(), sub.library.evaluate(X))
    _same_span(known.reshape(4, -1).T, fitted.reshape(sub.dim, -1).T)


def test_so3_vector_fields_degree_6():
    _check(sl.enforce(sl.PolynomialLibrary(3, 6), sl.so(3), "vector_field"), 3)  # x, |x|^2 x, |x|^4 x


@pytest.mark.parametrize("method", ["exact", "sampled"])
@pytest.mark.parametrize("n", [2, 3])
def test_euclidean_and_translation_invariants_are_constants(n, method):
    library = sl.PolynomialLibrary(n, 3)
    for symmetry in (sl.se(n), sl.t(n)):
        sub = sl.enforce(library, symmetry, method=method)
        _check(sub, 1)
        constant = np.zeros(len(library))
        constant[0] = 1.0
        _same_span(sub.basis, constant[:, None])


def test_translations_and_euclidean_vector_fields():
    """Translation-invariant vector fields are the constants; se(n) leaves none (rotations move constants)."""
    _check(sl.enforce(sl.PolynomialLibrary(3, 2), sl.t(3), "vector_field"), 3)
    _check(sl.enforce(sl.PolynomialLibrary(3, 2), sl.se(3), "vector_field"), 0)


@pytest.mark.parametrize("method", ["exact", "sampled"])
def test_equivariant_polynomial_maps_into_a_rep(method):
    """SO(3): equivariant polynomial maps R^3 -> V of degree <= 2 are multiples of x (x cross x = 0)."""
    G = sl.SO(3)
    library = sl.PolynomialLibrary(3, 2)
    sub = sl.enforce(library, G, sl.V(G), method=method)
    _check(sub, 1)
    identity = np.zeros((3, len(library)))
    for i, name in enumerate(("x0", "x1", "x2")):
        identity[i, library.feature_names().index(name)] = 1.0
    _same_span(sub.basis, identity.reshape(-1, 1))
    # for a linear action the tangent action on vector fields is the defining representation
    _same_span(sub.basis, sl.enforce(library, G, "vector_field", method=method).basis)
    # degree <= 3 adds |x|^2 x; an output V + Scalar adds the invariants 1, |x|^2
    _check(sl.enforce(sl.PolynomialLibrary(3, 3), G, sl.V(G), method=method), 2)
    _check(sl.enforce(library, G, sl.V(G) + sl.Scalar, method=method), 3)


@pytest.mark.parametrize(
    ("group", "rep_in", "rep_out"),
    [
        (sl.SO(3), lambda G: sl.V(G) ** 2, lambda G: sl.V(G)),
        (sl.SO(3), lambda G: sl.V(G), lambda G: sl.V(G)),
        (sl.SO(2), lambda G: sl.V(G), lambda G: sl.V(G)),
        (sl.O(3), lambda G: sl.V(G), lambda G: sl.V(G) ** 2),
        (sl.O(2), lambda G: sl.V(G) ** 2, lambda G: sl.Scalar),
        (sl.Sn(3), lambda G: sl.V(G), lambda G: sl.V(G)),
    ],
    ids=["SO3-V2-V", "SO3-V-V", "SO2-V-V", "O3-V-V2", "O2-V2-R", "S3-V-V"],
)
def test_linear_equivariant_maps_match_equivariant_basis(group, rep_in, rep_out):
    """Linear models W x on an input rep: the enforced space is Hom_G(rep_in, rep_out)."""
    rep_in, rep_out = rep_in(group), rep_out(group)
    library = sl.PolynomialLibrary(rep_in.size, 1, include_bias=False)
    sub = sl.enforce(library, rep_in, rep_out)
    reference = sl.equivariant_basis(rep_in, rep_out)
    _check(sub, reference.shape[1])
    _same_span(sub.basis, reference)


@pytest.mark.parametrize("method", ["exact", "sampled"])
@pytest.mark.parametrize("n", [2, 3, 4])
def test_symmetric_group_invariants_count_partitions(n, method):
    """S(n)-invariant polynomials of degree <= 3: partitions of d with at most n parts."""
    expected = sum(_partitions(d, n) for d in range(4))
    _check(sl.enforce(sl.PolynomialLibrary(n, 3), sl.Sn(n), method=method), expected)


def test_cyclic_and_dihedral_invariants():
    """Z(3) on R^3 (degree <= 2): 1, e1, and the invariant quadratics (Burnside: (6 + 0 + 0) / 3 + ...)."""
    library = sl.PolynomialLibrary(3, 2)
    # quadratics: orbits of monomials under the 3-cycle: {x0^2, x1^2, x2^2}, {x0x1, x1x2, x0x2} -> 2
    _check(sl.enforce(library, sl.Z(3)), 1 + 1 + 2)
    _check(sl.enforce(library, sl.D(3)), 1 + 1 + 2)


@pytest.mark.parametrize("group", [sl.Lorentz(), sl.SO13p()], ids=["O(1,3)", "SO+(1,3)"])
def test_lorentz_invariants(group):
    """Polynomials in the Minkowski norm: 1, eta(x, x), eta(x, x)^2 up to degree 4."""
    _check(sl.enforce(sl.PolynomialLibrary(4, 4), group), 3)


def test_product_group_invariants():
    """SO(2) x SO(2) on R^2 + R^2, degree <= 4: 1, r1^2, r2^2, r1^4, r1^2 r2^2, r2^4."""
    _check(sl.enforce(sl.PolynomialLibrary(4, 4), sl.SO(2) * sl.SO(2)), 6)


def test_nonlinear_vector_field_algebra():
    """On the line, the fields commuting with x^2 d/dx among polynomials of degree <= 3 are c x^2 d/dx."""
    field = sl.LieAlgebra(np.array([[[0.0, 0.0, 1.0]]]), library=sl.PolynomialLibrary(1, 2))
    for method in ("exact", "sampled"):
        sub = sl.enforce(sl.PolynomialLibrary(1, 3), field, "vector_field", method=method)
        _check(sub, 1)
        np.testing.assert_allclose(np.abs(sub.basis[:, 0]), [0, 0, 1, 0], atol=1e-12)
    # the projective sl(2) action (d/dx, x d/dx, x^2 d/dx) leaves only constant functions
    sl2 = sl.LieAlgebra(np.eye(3).reshape(3, 1, 3), library=sl.PolynomialLibrary(1, 2))
    _check(sl.enforce(sl.PolynomialLibrary(1, 4), sl2), 1)


def test_several_invariant_outputs():
    sub = sl.enforce(sl.PolynomialLibrary(3, 2), sl.so(3), n_outputs=2)
    _check(sub, 4)
    assert sub.coefficients(np.ones(4)).shape == (2, 10)
    assert sub.coefficients(np.ones((5, 4))).shape == (5, 2, 10)
    assert sub.matrices().shape == (4, 2, 10)


# ------------------------------------------------------------------------------------------ properties
CASES = {
    "so3-inv-d4": (sl.PolynomialLibrary(3, 4), sl.so(3), "invariant"),
    "so3-vf-d3": (sl.PolynomialLibrary(3, 3), sl.so(3), "vector_field"),
    "O2-vf-d3": (sl.PolynomialLibrary(2, 3), sl.O(2), "vector_field"),
    "se2-vf-d2": (sl.PolynomialLibrary(2, 2), sl.se(2), "vector_field"),
    "SO3-V-d3": (sl.PolynomialLibrary(3, 3), sl.SO(3), sl.V(sl.SO(3))),
    "Lorentz-d2": (sl.PolynomialLibrary(4, 2), sl.Lorentz(), "invariant"),
    "sl2-vf-d2": (sl.PolynomialLibrary(2, 2), sl.sl(2), "vector_field"),
    "scaling-inv-d3": (sl.PolynomialLibrary(3, 3), sl.scaling(3), "invariant"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_exact_equals_sampled(case):
    library, symmetry, output = CASES[case]
    exact = sl.enforce(library, symmetry, output, method="exact")
    sampled = sl.enforce(library, symmetry, output, method="sampled")
    assert exact.residual <= 1e-10 and sampled.residual <= 1e-10
    _same_span(exact.basis, sampled.basis)


ALGEBRA_CASES = [name for name, case in CASES.items() if isinstance(case[1], sl.LieAlgebra)]


@pytest.mark.parametrize("case", ALGEBRA_CASES, ids=ALGEBRA_CASES)
def test_invariant_to_orthogonal_change_of_algebra_basis(case):
    library, symmetry, output = CASES[case]
    q = symmetry.dim
    Q, _ = np.linalg.qr(np.random.default_rng(q).normal(size=(q, q)))
    mixed = sl.LieAlgebra(np.tensordot(Q, symmetry.basis, axes=1), library=symmetry.library)
    _same_span(sl.enforce(library, symmetry, output).basis, sl.enforce(library, mixed, output).basis)


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_invariant_to_oversampling(case):
    library, symmetry, output = CASES[case]
    spaces = []
    for factor in (1, 3):
        op = sl.lie_derivative_operator(library, symmetry, output, points=None, rng=factor)
        op = sl.lie_derivative_operator(library, symmetry, output, points=factor * len(op.points), rng=factor)
        blocks = [op.matrix / np.linalg.norm(op.matrix)]
        if op.action.discrete:
            blocks.append(op.discrete_matrix() / np.linalg.norm(op.discrete_matrix()))
        spaces.append(null_space(np.concatenate(blocks)).basis)
    _same_span(*spaces)


GROUP_CASES = {
    "O3-invariant": (sl.O(3), lambda G: "invariant", 4),
    "O2-vector_field": (sl.O(2), lambda G: "vector_field", 3),
    "SO3-V2": (sl.SO(3), lambda G: sl.V(G) ** 2, 2),
    "O3-V+Scalar": (sl.O(3), lambda G: sl.V(G) + sl.Scalar, 3),
    "Lorentz-invariant": (sl.Lorentz(), lambda G: "invariant", 2),
    "S4-V": (sl.Sn(4), lambda G: sl.V(G), 2),
    "SO2xS3-invariant": (sl.SO(2) * sl.Sn(3), lambda G: "invariant", 2),
}


@pytest.mark.parametrize("case", list(GROUP_CASES), ids=list(GROUP_CASES))
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_enforced_models_are_equivariant_under_group_elements(case, seed):
    """Finite transformations, continuous and discrete parts: F(g x) = rho_out(g) F(x) for random g in G."""
    group, output_of, degree = GROUP_CASES[case]
    output = output_of(group)
    library = sl.PolynomialLibrary(group.n, degree)
    sub = sl.enforce(library, group, output)
    assert sub.dim > 0
    rng = np.random.default_rng(seed)
    g = group.sample(rng)
    g_out = {"invariant": np.eye(1), "vector_field": g}.get(output) if isinstance(output, str) else output.rho(g)
    X = rng.uniform(-1, 1, size=(6, group.n))
    W = sub.matrices()  # (dim, n_out, L)
    moved = np.einsum("kol,nl->kno", W, library.evaluate(X @ g.T))
    expected = np.einsum("ab,knb->kna", g_out, np.einsum("kol,nl->kno", W, library.evaluate(X)))
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(moved, expected, atol=1e-9 * scale)


def test_discover_matrix_of_enforced_models_vanishes():
    library = sl.PolynomialLibrary(3, 3)
    sub = sl.enforce(library, sl.so(3), "vector_field")
    op = sl.lie_derivative_operator(library, sl.so(3), "vector_field")
    for j in range(sub.dim):
        assert np.abs(op.discover_matrix(sub.basis[:, j])).max() < 1e-12
        assert np.abs(op.discover_matrix(sub.coefficients(np.eye(sub.dim)[j]))).max() < 1e-12


def test_certificate_detects_a_wrong_basis():
    from symlie._enforce import certify

    sub = sl.enforce(sl.PolynomialLibrary(2, 3), sl.O(2), "vector_field")
    assert sub.residual_continuous <= 1e-12 and sub.residual_discrete <= 1e-12
    rotation = sl.enforce(sl.PolynomialLibrary(2, 3), sl.so(2), "vector_field").basis  # includes J x
    continuous, discrete = certify(sub.library, sub.action, rotation, np.random.default_rng(5))
    assert continuous <= 1e-12 and discrete > 1e-3


def test_large_exact_problem_is_block_solved():
    sub = sl.enforce(sl.PolynomialLibrary(30, 2), sl.se(30))
    _check(sub, 1)
    _check(sl.enforce(sl.PolynomialLibrary(30, 2), sl.so(30)), 2)


def test_result_fields_and_repr():
    sub = sl.enforce(sl.PolynomialLibrary(2, 3), sl.so(2), "vector_field")
    assert sub.n_params == 20 and sub.n_outputs == 2 and sub.method == "exact"
    assert sub.singular_values.shape == (20,)
    assert np.all(np.diff(sub.singular_values) <= 0)
    assert np.sum(sub.singular_values > sub.threshold) == 20 - sub.dim
    assert sub.gap > 1e3 and sub.seconds >= 0
    text = repr(sub)
    assert text.startswith("SymmetricSubspace(dim=4 of 20") and "so(2) -> vector_field" in text
    with pytest.raises(ValueError, match="read-only"):
        sub.basis[0, 0] = 1.0


def test_deterministic():
    a = sl.enforce(sl.PolynomialLibrary(3, 3), sl.O(3), "vector_field", method="sampled", rng=7)
    b = sl.enforce(sl.PolynomialLibrary(3, 3), sl.O(3), "vector_field", method="sampled", rng=7)
    np.testing.assert_array_equal(a.basis, b.basis)
    assert a.residual == b.residual


def test_spectral_gap_warning():
    """A tolerance that cuts through the non-zero singular values has no clean gap and says so."""
    sub = sl.enforce(sl.PolynomialLibrary(2, 3), sl.so(2))
    kept = sub.singular_values[sub.singular_values > sub.threshold]
    i = int(np.flatnonzero(kept[:-1] > 1.01 * kept[1:])[0])  # two distinct neighbouring singular values
    rtol = float(np.sqrt(kept[i] * kept[i + 1]) / kept[0])
    with pytest.warns(sl.SpectralGapWarning, match="gap"):
        sl.enforce(sl.PolynomialLibrary(2, 3), sl.so(2), rtol=rtol)


def test_no_warning_for_clean_problems():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for case in CASES.values():
            sl.enforce(*case)


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"method": "svd"}, sl.SymlieValueError, "method"),
        ({"rtol": 0.0}, sl.SymlieValueError, "rtol"),
        ({"rtol": "tiny"}, sl.SymlieValueError, "rtol"),
        ({"n_outputs": 2.5}, sl.SymlieTypeError, "n_outputs"),
        ({"output": "equivariant"}, sl.SymlieValueError, "output"),
        ({"rng": "seed"}, sl.SymlieTypeError, "rng"),
    ],
    ids=["method", "rtol-zero", "rtol-type", "n_outputs", "output", "rng"],
)
def test_bad_arguments(kwargs, error, text):
    with pytest.raises(error, match=text):
        sl.enforce(sl.PolynomialLibrary(3, 2), sl.so(3), **kwargs)


def test_bad_library_and_symmetry():
    with pytest.raises(sl.SymlieTypeError, match="library"):
        sl.enforce([[1, 0], [0, 1]], sl.so(2))
    with pytest.raises(sl.ShapeError, match="n_features"):
        sl.enforce(sl.PolynomialLibrary(2, 2), sl.SO(3))
    with pytest.raises(sl.GroupMismatchError):
        sl.enforce(sl.PolynomialLibrary(3, 2), sl.V(sl.SO(3)), sl.V(sl.O(3)))
    with pytest.raises(sl.SymlieTypeError, match="symmetry"):
        sl.enforce(sl.PolynomialLibrary(3, 2), "so3")


def test_bad_coefficients():
    sub = sl.enforce(sl.PolynomialLibrary(3, 2), sl.so(3))
    with pytest.raises(sl.ShapeError, match="c must"):
        sub.coefficients(np.ones(3))
    with pytest.raises(sl.SymlieValueError, match="NaN"):
        sub.coefficients([np.nan, 0.0])
