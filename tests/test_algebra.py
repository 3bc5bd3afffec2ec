"""Lie algebras of vector fields: constructors, brackets, structure constants, closure, constructions."""

from __future__ import annotations

from itertools import permutations
from math import comb

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import subspace_angles

import symlie as sl
from symlie import LieAlgebra, PolynomialLibrary

# ------------------------------------------------------------------------------------ constructors

DIMENSIONS = [
    (sl.so, lambda n: n * (n - 1) // 2),
    (sl.se, lambda n: n * (n + 1) // 2),
    (sl.t, lambda n: n),
    (sl.gl, lambda n: n * n),
    (sl.sl, lambda n: n * n - 1),
    (sl.aff, lambda n: n * n + n),
    (sl.scaling, lambda n: n),
]


@pytest.mark.parametrize(("make", "dim"), DIMENSIONS, ids=[m.__name__ for m, _ in DIMENSIONS])
@pytest.mark.parametrize("n", [2, 3, 4])
def test_constructor_dimensions_and_closure(make, dim, n: int) -> None:
    alg = make(n)
    assert alg.dim == dim(n)
    assert alg.n == n
    assert alg.basis.dtype == np.float64
    assert alg.closure().closed
    assert alg.kind == ("affine" if make in (sl.se, sl.t, sl.aff) else "linear")
    expected_width = n + 1 if alg.kind == "affine" else n
    assert alg.basis.shape == (dim(n), n, expected_width)


@pytest.mark.parametrize(("p", "q"), [(1, 1), (1, 3), (2, 2), (3, 0)])
def test_so_pq_preserves_the_metric(p: int, q: int) -> None:
    alg = sl.so_pq(p, q)
    n = p + q
    eta = np.diag([1.0] * p + [-1.0] * q)
    assert alg.dim == n * (n - 1) // 2
    for A in alg.basis:
        np.testing.assert_array_equal(A.T @ eta + eta @ A, 0.0)
    assert alg.closure().closed


def test_so_pq_without_negative_part_is_so() -> None:
    np.testing.assert_array_equal(sl.so_pq(3, 0).basis, sl.so(3).basis)


def test_defining_properties_of_matrix_algebras() -> None:
    for A in sl.so(4).basis:
        np.testing.assert_array_equal(A, -A.T)
    np.testing.assert_array_equal(np.trace(sl.sl(3).basis, axis1=1, axis2=2), 0.0)
    np.testing.assert_array_equal(sl.scaling(3).basis, [np.diag(e) for e in np.eye(3)])


@pytest.mark.parametrize(("n", "degree"), [(1, 1), (2, 2), (3, 2), (2, 3)])
def test_polynomial_fields_dimension(n: int, degree: int) -> None:
    alg = sl.polynomial_fields(n, degree)
    assert alg.dim == n * comb(n + degree, degree)
    assert alg.kind == ("affine" if degree == 1 else "polynomial")
    assert alg.field_degree == degree


def test_polynomial_fields_of_degree_one_are_the_affine_algebra() -> None:
    fields, affine = sl.polynomial_fields(3, 1), sl.aff(3)
    assert fields.library == affine.library
    angles = subspace_angles(fields.basis.reshape(fields.dim, -1).T, affine.basis.reshape(affine.dim, -1).T)
    assert angles.max() < 1e-12


def test_polynomial_fields_of_degree_two_are_not_closed() -> None:
    report = sl.polynomial_fields(2, 2).closure()
    assert not report.closed
    assert report.failures and all(r > report.tolerance for _, _, r in report.failures)
    assert report.max_residual == pytest.approx(max(r for _, _, r in report.failures))


# -------------------------------------------------------------------------------- structure constants


def test_so3_structure_constants_are_minus_levi_civita() -> None:
    epsilon = np.zeros((3, 3, 3))
    for i, j, k in permutations(range(3)):
        epsilon[i, j, k] = np.linalg.det(np.eye(3)[[i, j, k]])
    # basis E01 - E10, E02 - E20, E12 - E21
    np.testing.assert_allclose(sl.so(3).structure_constants(), -epsilon, atol=1e-14)


def killing_form(alg: LieAlgebra) -> np.ndarray:
    c = alg.structure_constants()
    return np.einsum("ikl,jlk->ij", c, c)  # tr(ad_i ad_j), (ad_i)_{kl} = c_{ilk}


@pytest.mark.parametrize("n", [2, 3])
def test_killing_form_of_sl_n_is_2n_trace(n: int) -> None:
    alg = sl.sl(n)
    trace_form = np.einsum("iab,jba->ij", alg.basis, alg.basis)
    np.testing.assert_allclose(killing_form(alg), 2 * n * trace_form, atol=1e-12)


def test_killing_form_of_so3_is_minus_two() -> None:
    np.testing.assert_allclose(killing_form(sl.so(3)), -2 * np.eye(3), atol=1e-13)


def test_translations_are_an_abelian_ideal_of_se() -> None:
    alg = sl.se(3)
    c = alg.structure_constants()
    rotations, translations = slice(0, 3), slice(3, 6)
    np.testing.assert_allclose(c[translations, translations], 0.0, atol=1e-14)
    np.testing.assert_allclose(c[rotations, translations, rotations], 0.0, atol=1e-14)  # [so, t] lies in t


STRUCTURED = [sl.so(3), sl.so(4), sl.se(2), sl.se(3), sl.gl(2), sl.sl(3), sl.aff(2), sl.so_pq(1, 3), sl.t(3)]


@settings(max_examples=30)
@given(alg=st.sampled_from(STRUCTURED), seed=st.integers(0, 2**32 - 1))
def test_structure_constants_reproduce_brackets(alg: LieAlgebra, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(2, alg.dim))
    X, Y = np.tensordot(a, alg.basis, axes=1), np.tensordot(b, alg.basis, axes=1)
    from_constants = np.einsum("i,j,ijk,kab->ab", a, b, alg.structure_constants(), alg.basis)
    np.testing.assert_allclose(alg.bracket(X, Y), from_constants, atol=1e-12)


# ------------------------------------------------------------------------------------------ brackets


def random_element(alg: LieAlgebra, rng: np.random.Generator) -> np.ndarray:
    return np.tensordot(rng.normal(size=alg.dim), alg.basis, axes=1)


def lifted(alg: LieAlgebra) -> LieAlgebra:
    """An empty algebra over the bracket library, used to bracket brackets (Jacobi for polynomial fields)."""
    library = alg.bracket_library
    return LieAlgebra(np.zeros((0, alg.n, len(library))), library=library)


def embed(coefficients: np.ndarray, source: PolynomialLibrary, target: PolynomialLibrary) -> np.ndarray:
    out = np.zeros(coefficients.shape[:-1] + (len(target),))
    out[..., target.index(source.exponents)] = coefficients
    return out


ALGEBRAS = {
    "so(3)": sl.so(3),
    "so(4)": sl.so(4),
    "se(2)": sl.se(2),
    "se(3)": sl.se(3),
    "gl(3)": sl.gl(3),
    "poly(2,2)": sl.polynomial_fields(2, 2),
    "poly(1,3)": sl.polynomial_fields(1, 3),
}


@settings(max_examples=30)
@given(name=st.sampled_from(sorted(ALGEBRAS)), seed=st.integers(0, 2**32 - 1))
def test_bracket_is_antisymmetric_bilinear_and_satisfies_jacobi(name: str, seed: int) -> None:
    alg = ALGEBRAS[name]
    rng = np.random.default_rng(seed)
    X, Y, Z = (random_element(alg, rng) for _ in range(3))
    a, b = rng.normal(size=2)
    np.testing.assert_allclose(alg.bracket(X, Y), -alg.bracket(Y, X), atol=1e-12)
    np.testing.assert_allclose(alg.bracket(X, X), 0.0, atol=1e-12)
    np.testing.assert_allclose(alg.bracket(a * X + b * Y, Z), a * alg.bracket(X, Z) + b * alg.bracket(Y, Z), atol=1e-11)
    outer = lifted(alg)
    small, big = alg.library, alg.bracket_library

    def double(P: np.ndarray, Q: np.ndarray, R: np.ndarray) -> np.ndarray:  # [P, [Q, R]]
        return outer.bracket(embed(P, small, big), alg.bracket(Q, R))

    jacobi = double(X, Y, Z) + double(Y, Z, X) + double(Z, X, Y)
    scale = np.linalg.norm(X) * np.linalg.norm(Y) * np.linalg.norm(Z)
    assert np.abs(jacobi).max() <= 1e-12 * scale


def test_linear_bracket_is_the_matrix_commutator(rng: np.random.Generator) -> None:
    alg = sl.gl(3)
    X, Y = rng.normal(size=(2, 3, 3))
    np.testing.assert_allclose(alg.bracket(X, Y), X @ Y - Y @ X, atol=1e-13)


def test_affine_bracket_is_the_commutator_of_augmented_matrices(rng: np.random.Generator) -> None:
    alg = sl.aff(2)
    X, Y = rng.normal(size=(2, 2, 3))  # [b | A]

    def augmented(C: np.ndarray) -> np.ndarray:
        out = np.zeros((3, 3))
        out[:2, :2], out[:2, 2] = C[:, 1:], C[:, 0]
        return out

    commutator = augmented(X) @ augmented(Y) - augmented(Y) @ augmented(X)
    expected = np.concatenate([commutator[:2, 2:], commutator[:2, :2]], axis=1)
    np.testing.assert_allclose(alg.bracket(X, Y), expected, atol=1e-13)


def test_polynomial_bracket_equals_pointwise_field_bracket(rng: np.random.Generator) -> None:
    alg = sl.polynomial_fields(2, 3)
    X, Y = random_element(alg, rng), random_element(alg, rng)
    points = rng.normal(size=(6, 2))
    lib = alg.library
    values = lib.evaluate(points)  # (N, L)
    jac = lib.jacobian(points)  # (N, L, n)
    vx, vy = values @ X.T, values @ Y.T
    dx, dy = np.einsum("il,nlj->nij", X, jac), np.einsum("il,nlj->nij", Y, jac)
    pointwise = np.einsum("nij,nj->ni", dx, vy) - np.einsum("nij,nj->ni", dy, vx)
    from_coefficients = alg.bracket_library.evaluate(points) @ alg.bracket(X, Y).T
    np.testing.assert_allclose(from_coefficients, pointwise, rtol=1e-12, atol=1e-12)


def test_bracket_broadcasts_over_leading_axes() -> None:
    alg = sl.so(3)
    table = alg.bracket(alg.basis[:, None], alg.basis[None, :])
    assert table.shape == (3, 3, 3, 3)
    np.testing.assert_allclose(table[0, 1], alg.bracket(alg.basis[0], alg.basis[1]))


# ------------------------------------------------------------------------------------- vector fields


def test_vector_fields_and_jacobians_of_linear_and_affine_algebras(rng: np.random.Generator) -> None:
    X = rng.normal(size=(5, 3))
    lin = sl.gl(3)
    np.testing.assert_allclose(lin.vector_fields(X), np.einsum("kij,nj->kni", lin.basis, X), atol=1e-14)
    np.testing.assert_allclose(lin.field_jacobians(X), np.broadcast_to(lin.basis[:, None], (9, 5, 3, 3)))
    aff = sl.se(3)
    A, b = aff.matrices, aff.basis[:, :, 0]
    expected = np.einsum("kij,nj->kni", A, X) + b[:, None, :]
    np.testing.assert_allclose(aff.vector_fields(X), expected, atol=1e-14)
    np.testing.assert_allclose(aff.field_jacobians(X), np.broadcast_to(A[:, None], (6, 5, 3, 3)))


def test_matrices_of_polynomial_fields_raise() -> None:
    with pytest.raises(sl.SymlieTypeError, match="no matrix form"):
        _ = sl.polynomial_fields(2, 2).matrices


# ------------------------------------------------------------------------------------- constructions


def test_orthonormalize_keeps_the_span_and_closure() -> None:
    alg = sl.sl(3)
    ortho = alg.orthonormalize()
    flat = ortho.basis.reshape(ortho.dim, -1)
    np.testing.assert_allclose(flat @ flat.T, np.eye(alg.dim), atol=1e-14)
    assert subspace_angles(flat.T, alg.basis.reshape(alg.dim, -1).T).max() < 1e-12
    assert ortho.closure().closed


def test_subalgebra_of_a_rotation_plane() -> None:
    sub = sl.so(3).subalgebra(sl.so(3).basis[:1], name="so(2)")
    assert sub.dim == 1 and repr(sub) == "so(2)"


def test_subalgebra_rejects_elements_that_do_not_close() -> None:
    with pytest.raises(sl.ClosureError, match=r"\[0,1\]"):
        sl.so(3).subalgebra(sl.so(3).basis[:2])


def test_direct_sum_acts_blockwise(rng: np.random.Generator) -> None:
    a, b = sl.so(2), sl.se(3)
    total = a.direct_sum(b)
    assert total.dim == a.dim + b.dim and total.n == 5 and total.kind == "affine"
    assert total.closure().closed
    X = rng.normal(size=(4, 5))
    fields = total.vector_fields(X)
    np.testing.assert_allclose(fields[: a.dim, :, :2], a.vector_fields(X[:, :2]), atol=1e-14)
    np.testing.assert_allclose(fields[: a.dim, :, 2:], 0.0)
    np.testing.assert_allclose(fields[a.dim :, :, 2:], b.vector_fields(X[:, 2:]), atol=1e-14)
    np.testing.assert_allclose(fields[a.dim :, :, :2], 0.0)
    c = total.structure_constants()
    np.testing.assert_allclose(c[: a.dim, a.dim :], 0.0, atol=1e-14)  # the two parts commute


def test_copies_move_every_vector_alike(rng: np.random.Generator) -> None:
    alg = sl.so(3)
    triple = alg.copies(3)
    assert triple.dim == 3 and triple.n == 9 and triple.kind == "linear"
    np.testing.assert_allclose(triple.structure_constants(), alg.structure_constants(), atol=1e-14)
    X = rng.normal(size=(4, 9))
    fields = triple.vector_fields(X)
    for c in range(3):
        block = slice(3 * c, 3 * c + 3)
        np.testing.assert_allclose(fields[:, :, block], alg.vector_fields(X[:, block]), atol=1e-14)


def test_value_semantics_and_repr() -> None:
    assert sl.so(3) == sl.so(3) and hash(sl.so(3)) == hash(sl.so(3))
    assert sl.so(3) != sl.sl(3) and sl.so(3) != "so(3)"
    assert repr(sl.so(3)) == "so(3)"
    assert repr(LieAlgebra(sl.so(3).basis)) == "LieAlgebra(dim=3, n=3, kind='linear')"
    with pytest.raises(ValueError):
        sl.so(3).basis[0, 0, 0] = 1.0


def test_user_matrices_with_a_closed_span() -> None:
    rotation = [[0.0, -1.0], [1.0, 0.0]]
    alg = LieAlgebra([rotation, np.eye(2)], name="conformal(2)")
    assert alg.dim == 2 and alg.closure().closed


def test_non_closed_set_may_be_kept_on_request() -> None:
    alg = LieAlgebra(sl.so(3).basis[:2], require_closure=False)
    report = alg.closure()
    assert not report.closed
    assert [(i, j) for i, j, _ in report.failures] == [(0, 1)]
    with pytest.raises(sl.ClosureError):
        alg.structure_constants()


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("basis", "kwargs", "error", "message"),
    [
        (np.eye(3), {}, sl.ShapeError, "basis must have 3 dimensions"),
        (np.zeros((1, 2, 4)), {}, sl.ShapeError, r"basis must have shape \(q, n, n\)"),
        (np.zeros((1, 3, 2)), {}, sl.ShapeError, "basis must have shape"),
        (np.full((1, 2, 2), np.nan), {}, sl.SymlieValueError, "basis contains NaN"),
        (np.full((1, 2, 2), np.inf), {}, sl.SymlieValueError, "basis contains NaN or infinite"),
        ([[["a"]]], {}, sl.SymlieTypeError, "basis must be a real numeric array"),
        (np.stack([np.eye(2), 2 * np.eye(2)]), {}, sl.SymlieValueError, "linearly dependent"),
        (np.zeros((2, 2, 2)), {}, sl.SymlieValueError, "linearly dependent"),
        (np.zeros((1, 2, 2)), {"library": "x"}, sl.SymlieTypeError, "library must be a PolynomialLibrary"),
        (np.zeros((1, 2, 5)), {"library": PolynomialLibrary(2, 2)}, sl.ShapeError, "does not match"),
        (sl.so(3).basis[:2], {}, sl.ClosureError, r"\[0,1\]"),
    ],
    ids=[
        "2-D",
        "non-square",
        "too-narrow",
        "nan",
        "inf",
        "strings",
        "dependent",
        "zero-generators",
        "library-type",
        "library-shape",
        "not-closed",
    ],
)
def test_constructor_rejects_bad_bases(basis: object, kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        LieAlgebra(basis, **kwargs)


@pytest.mark.parametrize(
    ("make", "args", "error", "name"),
    [
        (sl.so, (0,), sl.SymlieValueError, "n must be >= 1"),
        (sl.gl, (2.0,), sl.SymlieTypeError, "n must be an integer"),
        (sl.se, ("3",), sl.SymlieTypeError, "n must be an integer"),
        (sl.so_pq, (-1, 2), sl.SymlieValueError, "p must be >= 0"),
        (sl.so_pq, (0, 0), sl.SymlieValueError, r"p \+ q must be >= 1"),
        (sl.polynomial_fields, (2, 0), sl.SymlieValueError, "degree must be >= 1"),
    ],
    ids=["so-zero", "gl-float", "se-str", "so_pq-negative", "so_pq-empty", "poly-degree"],
)
def test_constructors_reject_bad_sizes(make, args: tuple, error: type, name: str) -> None:
    with pytest.raises(error, match=name):
        make(*args)


def test_bracket_rejects_mismatched_shapes() -> None:
    alg = sl.so(3)
    with pytest.raises(sl.ShapeError, match="X must have trailing shape"):
        alg.bracket(np.eye(2), np.eye(3))
    with pytest.raises(sl.ShapeError, match="Y must have trailing shape"):
        alg.bracket(np.eye(3), np.zeros((3, 4)))
    with pytest.raises(sl.SymlieValueError, match="Y contains NaN"):
        alg.bracket(np.eye(3), np.full((3, 3), np.nan))


def test_constructions_reject_bad_arguments() -> None:
    with pytest.raises(sl.ShapeError, match="elements must have shape"):
        sl.so(3).subalgebra(np.zeros((1, 2, 2)))
    with pytest.raises(sl.SymlieTypeError, match="other must be a LieAlgebra"):
        sl.so(3).direct_sum(np.eye(3))
    with pytest.raises(sl.SymlieValueError, match="k must be >= 1"):
        sl.so(3).copies(0)
    with pytest.raises(sl.ShapeError, match=r"X must have shape \(\*, 3\)"):
        sl.so(3).vector_fields(np.zeros((2, 2)))
