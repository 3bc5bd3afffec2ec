"""The Lie-derivative operator: shapes, exact vs sampled forms, finite differences of the group action, errors."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.linalg import expm, subspace_angles

import symlie as sl
from symlie._action import make_action
from symlie._linalg import null_space


def _dense(matrix):
    return matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)


def _kernel(matrix):
    return null_space(_dense(matrix)).basis


def _same_span(A, B, tol=1e-8):
    assert A.shape == B.shape
    if A.shape[1] == 0:
        return
    assert np.max(subspace_angles(A, B)) < tol


def _line_fields(*coefficients):
    """A LieAlgebra of polynomial vector fields on R^1 over the monomials 1, x, x^2."""
    basis = np.array(coefficients, dtype=float).reshape(len(coefficients), 1, 3)
    return sl.LieAlgebra(basis, library=sl.PolynomialLibrary(1, 2), require_closure=False)


# A matrix of (library, symmetry, output) cases with readable ids.
CASES = {
    "so2-invariant": (sl.PolynomialLibrary(2, 4), sl.so(2), "invariant"),
    "so2-vector_field": (sl.PolynomialLibrary(2, 3), sl.so(2), "vector_field"),
    "SO3-vector_field": (sl.PolynomialLibrary(3, 3), sl.SO(3), "vector_field"),
    "O2-vector_field": (sl.PolynomialLibrary(2, 3), sl.O(2), "vector_field"),
    "SO3-V": (sl.PolynomialLibrary(3, 2), sl.SO(3), sl.V(sl.SO(3))),
    "SO3-V+Scalar": (sl.PolynomialLibrary(3, 2), sl.SO(3), sl.V(sl.SO(3)) + sl.Scalar),
    "se2-invariant": (sl.PolynomialLibrary(2, 3), sl.se(2), "invariant"),
    "se3-vector_field": (sl.PolynomialLibrary(3, 2), sl.se(3), "vector_field"),
    "t3-invariant-2out": (sl.PolynomialLibrary(3, 2), sl.t(3), "invariant"),
    "gl2-vector_field": (sl.PolynomialLibrary(2, 2), sl.gl(2), "vector_field"),
    "Lorentz-invariant": (sl.PolynomialLibrary(4, 2), sl.Lorentz(), "invariant"),
    "S3-invariant": (sl.PolynomialLibrary(3, 3), sl.Sn(3), "invariant"),
    "rep-V2-in": (sl.PolynomialLibrary(4, 2), sl.V(sl.SO(2)) * sl.V(sl.SO(2)), "invariant"),
    "poly-fields-vector_field": (sl.PolynomialLibrary(2, 2), sl.polynomial_fields(2, 2), "vector_field"),
    "x2d-line-vector_field": (sl.PolynomialLibrary(1, 3), _line_fields([0, 0, 1]), "vector_field"),
    "sl2-line-invariant": (sl.PolynomialLibrary(1, 3), _line_fields([1, 0, 0], [0, 1, 0], [0, 0, 1]), "invariant"),
    "so2-matrices": (sl.PolynomialLibrary(2, 2), sl.so(2), sl.so(2)),
}
N_OUTPUTS = {"t3-invariant-2out": 2}


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_shapes_and_row_order(case):
    library, symmetry, output = CASES[case]
    for points in ("exact", None):
        op = sl.lie_derivative_operator(library, symmetry, output, points=points, n_outputs=N_OUTPUTS.get(case))
        R, q, P = op.n_rows, op.n_generators, op.n_params
        assert P == op.n_outputs * len(library)
        assert op.tensor.shape == (R, q, P)
        assert op.matrix.shape == (R * q, P)
        assert sp.issparse(op.matrix) == (points == "exact")
        np.testing.assert_array_equal(_dense(op.matrix), op.tensor.reshape(R * q, P))
        np.testing.assert_array_equal(_dense(op.enforce_matrix()), _dense(op.matrix))
        assert op.discrete_matrix().shape[1] == P
        assert repr(op).startswith("LieDerivativeOperator(")


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_exact_and_sampled_kernels_agree(case):
    library, symmetry, output = CASES[case]
    kernels = []
    for points in ("exact", None):
        op = sl.lie_derivative_operator(library, symmetry, output, points=points, n_outputs=N_OUTPUTS.get(case))
        blocks = [_dense(op.matrix), _dense(op.discrete_matrix())]
        blocks = [b / np.linalg.norm(b) for b in blocks if np.linalg.norm(b) > 0]
        kernels.append(_kernel(np.concatenate(blocks)))
    _same_span(*kernels)


def test_default_point_rule():
    op = sl.lie_derivative_operator(sl.PolynomialLibrary(3, 3), sl.so(3), points=None)
    assert op.points.shape == (comb(6, 3) + 1, 3)
    assert np.all(np.abs(op.points) <= 1)
    # polynomial fields of degree 2 raise the degree by one: deg(L F) = 3 + 1
    op = sl.lie_derivative_operator(sl.PolynomialLibrary(2, 3), sl.polynomial_fields(2, 2), points=None)
    assert op.points.shape == (comb(2 + 4, 4) + 1, 2)
    again = sl.lie_derivative_operator(sl.PolynomialLibrary(2, 3), sl.polynomial_fields(2, 2), points=None)
    np.testing.assert_array_equal(op.points, again.points)  # seeded


def test_exact_form_rows_are_monomial_coefficients(rng):
    """Row (u, o') * q + k holds the coefficient of monomial u in output o' of L_k F."""
    library = sl.PolynomialLibrary(2, 3)
    op = sl.lie_derivative_operator(library, sl.so(2), "vector_field")
    w = rng.normal(size=op.n_params)
    coefficients = op.discover_matrix(w).reshape(len(op.row_monomials), op.n_outputs, op.n_generators)
    X = rng.normal(size=(9, 2))
    monomials = np.prod(X[:, None, :] ** op.row_monomials[None, :, :], axis=2)  # (N, U)
    from_rows = np.einsum("nu,uok->nok", monomials, coefficients)
    np.testing.assert_allclose(from_rows, op.values(w, X), atol=1e-12)


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_sampled_tensor_matches_values(case, rng):
    library, symmetry, output = CASES[case]
    op = sl.lie_derivative_operator(library, symmetry, output, points=7, n_outputs=N_OUTPUTS.get(case), rng=rng)
    w = rng.normal(size=op.n_params)
    direct = op.values(w, op.points).reshape(op.n_rows, op.n_generators)
    np.testing.assert_allclose(op.discover_matrix(w), direct, atol=1e-12)


def _model(library, W):
    return lambda X: library.evaluate(np.atleast_2d(X)) @ W.T  # (N, n_out)


@pytest.mark.parametrize(
    ("symmetry", "output"),
    [
        (sl.so(3), "invariant"),
        (sl.so(3), "vector_field"),
        (sl.SO(3), sl.V(sl.SO(3)) ** 2),
        (sl.gl(3), "vector_field"),
        (sl.se(3), "invariant"),
        (sl.aff(3), "vector_field"),
    ],
    ids=["so3-inv", "so3-vf", "SO3-V2", "gl3-vf", "se3-inv", "aff3-vf"],
)
def test_tensor_matches_finite_differences_of_group_action(symmetry, output, rng):
    """T w at x equals d/dt [rho_out(exp(-tA)) F(exp(tA) x)] at t = 0 for linear and affine generators."""
    library = sl.PolynomialLibrary(3, 3)
    op = sl.lie_derivative_operator(library, symmetry, output, points=5, rng=rng)
    action = op.action
    W = rng.normal(size=(op.n_outputs, len(library)))
    F = _model(library, W)
    T = op.tensor.reshape(len(op.points), op.n_outputs, op.n_generators, op.n_params)
    predicted = np.einsum("nokp,p->nok", T, W.reshape(-1))
    h = 1e-5
    for k in range(op.n_generators):
        C = action.fields[k]
        if action.kind == "affine":  # [b | A] acts on homogeneous coordinates as [[A, b], [0, 0]]
            lifted = np.zeros((4, 4))
            lifted[:3, :3], lifted[:3, 3] = C[:, 1:], C[:, 0]
        else:
            lifted = C
        if action.output_kind == "matrix":
            B = action.output[k]
        elif action.output_kind == "vector_field":
            B = C[:, 1:] if action.kind == "affine" else C
        else:
            B = np.zeros((op.n_outputs, op.n_outputs))
        for n, x in enumerate(op.points):

            def moved(t, x=x, B=B, lifted=lifted):
                g = expm(t * lifted)
                gx = g[:3, :3] @ x + (g[:3, 3] if g.shape[0] == 4 else 0.0)
                return expm(-t * B) @ F(gx)[0]

            numeric = (moved(h) - moved(-h)) / (2 * h)
            np.testing.assert_allclose(predicted[n, :, k], numeric, rtol=1e-6, atol=1e-7)


def test_polynomial_fields_match_finite_differences(rng):
    """For a non-linear field v: d/dt [(I - t Dv) F(x + t v)] at 0 is DF v - Dv F (tangent action)."""
    library = sl.PolynomialLibrary(2, 3)
    algebra = sl.polynomial_fields(2, 2)
    op = sl.lie_derivative_operator(library, algebra, "vector_field", points=4, rng=rng)
    W = rng.normal(size=(2, len(library)))
    F = _model(library, W)
    values = op.values(W, op.points)  # (N, n_out, q)
    V = algebra.vector_fields(op.points)
    J = algebra.field_jacobians(op.points)
    h = 1e-5
    for k in range(0, algebra.dim, 5):
        for n, x in enumerate(op.points):

            def moved(t, n=n, x=x, k=k):
                return (np.eye(2) - t * J[k, n]) @ F(x + t * V[k, n])[0]

            numeric = (moved(h) - moved(-h)) / (2 * h)
            np.testing.assert_allclose(values[n, :, k], numeric, rtol=1e-6, atol=1e-7)


def test_weights_scale_rows():
    library = sl.PolynomialLibrary(2, 2)
    X = np.random.default_rng(0).uniform(-1, 1, size=(8, 2))
    w = np.linspace(0.5, 2.0, 8)
    plain = sl.lie_derivative_operator(library, sl.O(2), "vector_field", points=X)
    weighted = sl.lie_derivative_operator(library, sl.O(2), "vector_field", points=X, weights=w)
    factor = np.repeat(np.sqrt(w), 2)
    np.testing.assert_allclose(weighted.tensor, plain.tensor * factor[:, None, None])
    np.testing.assert_allclose(weighted.discrete_matrix(), plain.discrete_matrix() * factor[:, None])


def test_discrete_matrix_matches_group_action(rng):
    """Rows of K_g F - F with (K_g F)(x) = g_out^{-1} F(g_in x)."""
    library = sl.PolynomialLibrary(2, 3)
    op = sl.lie_derivative_operator(library, sl.O(2), "vector_field", points=6, rng=rng)
    W = rng.normal(size=(2, len(library)))
    F = _model(library, W)
    (g, g_out), *_ = op.action.discrete
    expected = F(op.points @ g.T) @ np.linalg.inv(g_out).T - F(op.points)
    np.testing.assert_allclose(op.discrete_matrix() @ W.reshape(-1), expected.reshape(-1), atol=1e-12)


@pytest.mark.parametrize("group", [sl.Sn(3), sl.Z(3), sl.O(3), sl.Lorentz()], ids=["S3", "Z3", "O3", "Lorentz"])
def test_exact_discrete_rows_match_sampled(group):
    library = sl.PolynomialLibrary(group.n, 3)
    exact = sl.lie_derivative_operator(library, group)
    sampled = sl.lie_derivative_operator(library, group, points=None)
    _same_span(_kernel(exact.discrete_matrix()), _kernel(sampled.discrete_matrix()))


def test_exact_discrete_with_general_matrix_is_sampled():
    """A discrete generator that is not a signed permutation is sampled (still the exact kernel)."""
    c, s = np.cos(2 * np.pi / 3), np.sin(2 * np.pi / 3)
    group = sl.Group(None, [[[c, -s], [s, c]]], name="C3")
    library = sl.PolynomialLibrary(2, 3)
    op = sl.lie_derivative_operator(library, group)
    assert sp.issparse(op.discrete_matrix())
    # invariants of the rotation by 120 degrees up to degree 3: 1, r^2, Re z^3, Im z^3
    assert _kernel(op.discrete_matrix()).shape[1] == 4


def test_discover_matrix_of_symmetric_model_vanishes():
    library = sl.PolynomialLibrary(3, 2)
    op = sl.lie_derivative_operator(library, sl.so(3))
    names = library.feature_names()
    w = np.zeros(len(library))
    w[names.index("x0^2")] = w[names.index("x1^2")] = w[names.index("x2^2")] = 1.0
    assert np.abs(op.discover_matrix(w)).max() == 0.0
    # x0^2 + x1^2 keeps only the rotation in the (x0, x1) plane: generator 0 of so(3) is E_01 - E_10
    w[names.index("x2^2")] = 0.0
    M = op.discover_matrix(w.reshape(1, -1))
    assert M.shape == (op.n_rows, 3)
    norms = np.linalg.norm(M, axis=0)
    assert norms[0] == 0.0 and np.all(norms[1:] > 0.1)
    # duality: xi in ker M_dis(w) <=> w in ker M_enf(span xi)
    sub = sl.lie_derivative_operator(library, sl.so(3).subalgebra(sl.so(3).basis[:1]))
    assert np.abs(sub.enforce_matrix() @ w).max() == 0.0


def test_exact_operator_is_fast_and_sparse():
    op = sl.lie_derivative_operator(sl.PolynomialLibrary(30, 2), sl.se(30))
    assert op.n_generators == 465 and op.n_params == 496
    assert op.matrix.nnz < 100_000


def test_make_action_normalises():
    a = make_action(sl.O(3), sl.V(sl.O(3)) ** 2)
    assert (a.n_generators, a.n_features, a.n_outputs, len(a.discrete)) == (3, 3, 9, 1)
    assert a.output.shape == (3, 9, 9) and a.kind == "linear"
    rep = make_action(sl.V(sl.SO(2)) + sl.Scalar, "invariant")  # input rep with a trivial part
    assert rep.fields.shape == (1, 3, 3) and rep.kind == "linear"
    assert make_action(sl.se(2), "vector_field").kind == "affine"
    assert make_action(sl.polynomial_fields(2, 2)).kind == "polynomial"
    assert make_action(sl.Sn(3)).n_generators == 0
    assert "Action(" in repr(a)


# ------------------------------------------------------------------------------------------ bad input
def test_bad_library():
    with pytest.raises(sl.SymlieTypeError, match="library"):
        sl.lie_derivative_operator(np.eye(3), sl.so(3))


def test_library_algebra_dimension_mismatch():
    with pytest.raises(sl.ShapeError, match="n_features=2"):
        sl.lie_derivative_operator(sl.PolynomialLibrary(2, 2), sl.so(3))


@pytest.mark.parametrize(
    ("output", "error", "text"),
    [
        ("bogus", sl.SymlieValueError, "output"),
        (3, sl.SymlieTypeError, "output"),
        (sl.so(2), sl.ShapeError, "generators"),
        (np.zeros((3, 2, 3)), sl.ShapeError, "output"),
        (sl.se(3), sl.SymlieValueError, "linear LieAlgebra"),
        (sl.V(sl.SO(3)), sl.SymlieTypeError, "Group or a Rep"),
    ],
    ids=["unknown-string", "int", "algebra-of-other-dim", "non-square", "affine-output", "rep-needs-group"],
)
def test_bad_output(output, error, text):
    with pytest.raises(error, match=text):
        sl.lie_derivative_operator(sl.PolynomialLibrary(3, 2), sl.so(3), output)


def test_rep_of_another_group():
    with pytest.raises(sl.GroupMismatchError, match="SO\\(3\\)"):
        sl.lie_derivative_operator(sl.PolynomialLibrary(3, 2), sl.SO(3), sl.V(sl.O(3)))


def test_output_algebra_with_discrete_generators():
    with pytest.raises(sl.SymlieValueError, match="Rep"):
        sl.lie_derivative_operator(sl.PolynomialLibrary(3, 2), sl.O(3), sl.so(3))


def test_trivial_rep_as_symmetry():
    with pytest.raises(sl.SymlieValueError, match="trivial"):
        sl.lie_derivative_operator(sl.PolynomialLibrary(1, 2), sl.Scalar)


def test_bad_symmetry_type():
    with pytest.raises(sl.SymlieTypeError, match="symmetry"):
        sl.lie_derivative_operator(sl.PolynomialLibrary(3, 2), np.eye(3))


def test_bad_n_outputs():
    with pytest.raises(sl.SymlieValueError, match="n_outputs"):
        sl.lie_derivative_operator(sl.PolynomialLibrary(3, 2), sl.so(3), "vector_field", n_outputs=2)
    with pytest.raises(sl.SymlieValueError, match="n_outputs"):
        sl.lie_derivative_operator(sl.PolynomialLibrary(3, 2), sl.so(3), n_outputs=0)


@pytest.mark.parametrize(
    ("kwargs", "error", "text"),
    [
        ({"points": np.full((5, 3), np.nan)}, sl.SymlieValueError, "points"),
        ({"points": np.zeros((5, 2))}, sl.ShapeError, "points"),
        ({"points": "random"}, sl.SymlieValueError, "points"),
        ({"points": None, "weights": -np.ones(21)}, sl.SymlieValueError, "weights"),
        ({"points": 4, "weights": np.ones(3)}, sl.ShapeError, "weights"),
        ({"weights": np.ones(3)}, sl.SymlieValueError, "weights"),
        ({"points": 0}, sl.SymlieValueError, "points"),
    ],
    ids=["nan-points", "points-shape", "points-string", "negative-weights", "weights-shape", "weights-exact", "zero"],
)
def test_bad_points_and_weights(kwargs, error, text):
    with pytest.raises(error, match=text):
        sl.lie_derivative_operator(sl.PolynomialLibrary(3, 3), sl.so(3), **kwargs)


def test_bad_w():
    op = sl.lie_derivative_operator(sl.PolynomialLibrary(3, 2), sl.so(3))
    with pytest.raises(sl.ShapeError, match="w"):
        op.discover_matrix(np.ones(5))
    with pytest.raises(sl.SymlieValueError, match="w"):
        op.discover_matrix(np.full(10, np.inf))
