"""The Lie-derivative matrices of an affine model family (symlie._matrix_map): the factored map of a sampled
operator equals the flat one built from the operator's matrix, in every product the promotion solver takes."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symlie as sl
from symlie._matrix_map import FlatMap, PointwiseMap, Transposed, operator_shape, restricted_map


def _stack(lie) -> np.ndarray:
    """Every A_k (p, R, q), from the map's blocks (checking that they tile 0..p in order)."""
    blocks = list(lie.blocks())
    covered = np.concatenate([np.arange(lie.shape[0])[block] for block, _ in blocks])
    np.testing.assert_array_equal(covered, np.arange(lie.shape[0]))
    return np.concatenate([A for _, A in blocks])


def _operator(case: str, seed: int) -> sl.LieDerivativeOperator:
    rng = np.random.default_rng(seed)
    if case == "invariant, two outputs":
        return sl.lie_derivative_operator(sl.PolynomialLibrary(3, 2), sl.se(3), n_outputs=2, points=None, rng=seed)
    if case == "vector field, weighted":
        points = rng.uniform(-1, 1, size=(15, 2))
        return sl.lie_derivative_operator(
            sl.PolynomialLibrary(2, 3), sl.so(2), "vector_field", points=points, weights=rng.uniform(0.1, 2, 15)
        )
    if case == "few points":  # R = 4 rows < q = 6 generators: the solver works with transposes
        return sl.lie_derivative_operator(sl.PolynomialLibrary(3, 2), sl.se(3), points=4, rng=seed)
    raise AssertionError(case)


CASES = ["invariant, two outputs", "vector field, weighted", "few points"]


@settings(max_examples=15, deadline=None)
@given(case=st.sampled_from(CASES), seed=st.integers(0, 2**16), p=st.integers(1, 70))
def test_pointwise_map_equals_the_flat_map_of_the_operator_matrix(case, seed, p):
    op = _operator(case, seed)
    rng = np.random.default_rng(seed)
    w0, N = rng.normal(size=op.n_params), rng.normal(size=(op.n_params, p))
    fast, flat = restricted_map(op, w0, N), FlatMap(op.matrix, op.n_generators, w0, N)
    if case == "few points":
        assert isinstance(fast, Transposed) and isinstance(fast.inner, PointwiseMap)
        flat = Transposed(flat)
    else:
        assert isinstance(fast, PointwiseMap)
    v, Z = rng.normal(size=p), rng.normal(size=fast.shape[1:])
    scale = np.abs(_stack(flat)).max()
    np.testing.assert_allclose(fast.offset, flat.offset, atol=1e-12 * np.abs(flat.offset).max())
    np.testing.assert_allclose(_stack(fast), _stack(flat), atol=1e-12 * scale)
    np.testing.assert_allclose(fast.forward(v), flat.forward(v), atol=1e-12 * scale * np.abs(v).sum())
    np.testing.assert_allclose(fast.adjoint(Z), flat.adjoint(Z), atol=1e-11 * scale * np.abs(Z).sum())
    np.testing.assert_allclose(fast.gram(), flat.gram(), atol=1e-11 * np.abs(flat.gram()).max())
    assert fast.operator_norm == pytest.approx(float(np.linalg.norm(op.matrix)), rel=1e-10)
    # forward and adjoint are adjoint to each other, and the stack holds the forward images of the unit vectors
    assert float(np.sum(fast.forward(v) * Z)) == pytest.approx(float(v @ fast.adjoint(Z)), rel=1e-10, abs=1e-12)
    np.testing.assert_allclose(np.tensordot(v, _stack(fast), axes=1), fast.forward(v), atol=1e-12 * scale * p)


def test_exact_operators_use_their_sparse_matrix():
    op = sl.lie_derivative_operator(sl.PolynomialLibrary(3, 3), sl.so(3), points="exact")
    rng = np.random.default_rng(0)
    w0, N = rng.normal(size=op.n_params), rng.normal(size=(op.n_params, 4))
    lie = restricted_map(op, w0, N)
    assert isinstance(lie, FlatMap)
    np.testing.assert_allclose(lie.offset, op.discover_matrix(w0), atol=1e-12)
    np.testing.assert_allclose(_stack(lie)[2], op.discover_matrix(N[:, 2]), atol=1e-12)


def test_a_sampled_operator_used_by_promote_never_forms_its_tensor():
    problem_lib = sl.PolynomialLibrary(3, 2)
    op = sl.lie_derivative_operator(problem_lib, sl.se(3), points=None)
    X = np.random.default_rng(1).uniform(-1, 1, size=(6, 3))
    result = sl.promote(op, problem_lib.evaluate(X), 1 + (X**2).sum(axis=1))
    assert result.converged and "_tensor" not in vars(op)
    assert sl.nuclear_norm_penalty(op, result.coef) == pytest.approx(result.penalty, abs=1e-9)
    assert "_tensor" not in vars(op)


def test_operator_shape_checks_flat_matrices():
    class Odd:
        matrix = np.zeros((7, 3))
        n_generators = 2

    with pytest.raises(sl.ShapeError, match="not a multiple of q=2"):
        operator_shape(Odd())


def test_promote_gives_the_same_solution_through_either_map():
    """A sampled operator (pointwise map) and the same operator seen only through its flat matrix (flat map)."""

    class FlatOnly:
        def __init__(self, op):
            self.matrix, self.n_generators = op.matrix, op.n_generators

    lib = sl.PolynomialLibrary(3, 2)
    op = sl.lie_derivative_operator(lib, sl.se(3), points=None, rng=2)
    X = np.random.default_rng(4).uniform(-1, 1, size=(7, 3))
    y = 0.5 + ((X - 0.2) ** 2).sum(axis=1)
    fast, flat = sl.promote(op, lib.evaluate(X), y), sl.promote(FlatOnly(op), lib.evaluate(X), y)
    assert fast.converged and flat.converged
    assert fast.penalty == pytest.approx(flat.penalty, rel=1e-9)
    np.testing.assert_allclose(fast.coef, flat.coef, atol=1e-7)
