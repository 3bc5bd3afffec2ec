"""Polynomial libraries: sizes, order, exact values and derivatives, validation."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symlie as sl
from symlie import PolynomialLibrary

# --------------------------------------------------------------------------------------- known answers


@pytest.mark.parametrize("n_features", [1, 2, 3, 5])
@pytest.mark.parametrize("degree", [0, 1, 2, 4])
def test_number_of_terms_is_binomial(n_features: int, degree: int) -> None:
    with_bias = PolynomialLibrary(n_features, degree)
    assert len(with_bias) == comb(n_features + degree, degree)
    if degree > 0:
        assert len(PolynomialLibrary(n_features, degree, include_bias=False)) == comb(n_features + degree, degree) - 1
    assert with_bias.n_features == n_features
    assert with_bias.degree == degree


def test_exponents_are_distinct_graded_and_read_only() -> None:
    lib = PolynomialLibrary(3, 3)
    exps = lib.exponents
    assert exps.dtype == np.int64
    assert len(np.unique(exps, axis=0)) == len(exps)
    assert np.all(np.diff(exps.sum(axis=1)) >= 0)  # graded by total degree
    with pytest.raises(ValueError):
        exps[0, 0] = 5


@pytest.mark.parametrize(("n_features", "degree"), [(1, 3), (2, 3), (3, 2), (4, 3)])
@pytest.mark.parametrize("include_bias", [True, False])
def test_order_matches_scikit_learn_polynomial_features(n_features: int, degree: int, include_bias: bool) -> None:
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    reference = preprocessing.PolynomialFeatures(degree, include_bias=include_bias).fit(np.zeros((1, n_features)))
    lib = PolynomialLibrary(n_features, degree, include_bias=include_bias)
    np.testing.assert_array_equal(lib.exponents, reference.powers_)


def test_from_pysindy_reads_the_same_monomials_in_the_same_order() -> None:
    ps = pytest.importorskip("pysindy")
    fitted = ps.PolynomialLibrary(degree=3).fit(np.random.default_rng(0).normal(size=(10, 2)))
    lib = PolynomialLibrary.from_pysindy(fitted)
    assert lib == PolynomialLibrary(2, 3)
    assert lib.feature_names() == fitted.get_feature_names()


def test_feature_names_with_custom_inputs() -> None:
    lib = PolynomialLibrary(2, 2, include_bias=False)
    assert lib.feature_names(["u", "v"]) == ["u", "v", "u^2", "u v", "v^2"]


def test_evaluate_equals_direct_products(rng: np.random.Generator) -> None:
    lib = PolynomialLibrary(3, 4)
    X = rng.normal(size=(7, 3))
    direct = np.array([[np.prod(x**alpha) for alpha in lib.exponents] for x in X])
    np.testing.assert_allclose(lib.evaluate(X), direct, rtol=1e-14, atol=1e-14)


def test_jacobian_closed_form_of_one_monomial() -> None:
    lib = PolynomialLibrary.from_exponents([[2, 1, 0]])  # x0^2 x1
    x = np.array([[1.5, -2.0, 0.7]])
    expected = np.array([2 * 1.5 * -2.0, 1.5**2, 0.0])
    np.testing.assert_allclose(lib.jacobian(x)[0, 0], expected, rtol=1e-15)


def test_jacobian_at_the_origin() -> None:
    lib = PolynomialLibrary(3, 2)
    jac = lib.jacobian(np.zeros((1, 3)))[0]  # (n_terms, n_features)
    linear = lib.index(np.eye(3, dtype=np.int64))
    np.testing.assert_array_equal(jac[linear], np.eye(3))  # d x_i / d x_j = delta_ij, also at 0
    others = np.setdiff1d(np.arange(len(lib)), linear)
    np.testing.assert_array_equal(jac[others], 0.0)


@settings(max_examples=25)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_features=st.integers(1, 4),
    degree=st.integers(0, 4),
    include_bias=st.booleans(),
)
def test_jacobian_matches_central_differences(seed: int, n_features: int, degree: int, include_bias: bool) -> None:
    if degree == 0 and not include_bias:
        return
    lib = PolynomialLibrary(n_features, degree, include_bias=include_bias)
    X = np.random.default_rng(seed).uniform(-1.5, 1.5, size=(5, n_features))
    step = 1e-5
    numeric = np.stack(
        [(lib.evaluate(X + step * e) - lib.evaluate(X - step * e)) / (2 * step) for e in np.eye(n_features)],
        axis=-1,
    )
    exact = lib.jacobian(X)
    assert exact.shape == (5, len(lib), n_features)
    # central differences: truncation error ~ step^2 * third derivative
    np.testing.assert_allclose(exact, numeric, rtol=1e-7, atol=1e-7)


# ------------------------------------------------------------------------------------ values and maps


def test_permutation_to_maps_between_orders(rng: np.random.Generator) -> None:
    lib = PolynomialLibrary(3, 3)
    shuffled = PolynomialLibrary.from_exponents(lib.exponents[rng.permutation(len(lib))])
    p = lib.permutation_to(shuffled)
    np.testing.assert_array_equal(shuffled.exponents[p], lib.exponents)
    X = rng.normal(size=(4, 3))
    np.testing.assert_allclose(shuffled.evaluate(X)[:, p], lib.evaluate(X))


def test_permutation_to_rejects_other_monomials() -> None:
    with pytest.raises(sl.SymlieValueError, match="same monomials"):
        PolynomialLibrary(2, 2).permutation_to(PolynomialLibrary(2, 3))
    other = PolynomialLibrary.from_exponents([[0, 0], [1, 0], [0, 1], [3, 0], [1, 1], [0, 2]])
    with pytest.raises(sl.SymlieValueError, match="same monomials"):
        PolynomialLibrary(2, 2).permutation_to(other)


def test_index_marks_absent_monomials() -> None:
    lib = PolynomialLibrary(2, 2)
    np.testing.assert_array_equal(lib.index([[1, 1], [3, 0], [0, 0]]), [4, -1, 0])


def test_value_semantics() -> None:
    a, b = PolynomialLibrary(3, 2), PolynomialLibrary(3, 2)
    assert a == b and hash(a) == hash(b)
    assert a != PolynomialLibrary(3, 2, include_bias=False)
    assert a != "not a library"
    assert repr(a) == "PolynomialLibrary(n_terms=10, n_features=3, degree=2)"
    assert PolynomialLibrary.from_exponents([[1.0, 0.0], [0.0, 2.0]]).degree == 2  # integral floats are fine


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("args", "error", "name"),
    [
        ((0, 2), sl.SymlieValueError, "n_features"),
        ((2.5, 2), sl.SymlieTypeError, "n_features"),
        ((True, 2), sl.SymlieTypeError, "n_features"),
        ((2, -1), sl.SymlieValueError, "degree"),
        ((2, "3"), sl.SymlieTypeError, "degree"),
    ],
    ids=["zero-features", "float-features", "bool-features", "negative-degree", "str-degree"],
)
def test_constructor_rejects_bad_sizes(args: tuple, error: type, name: str) -> None:
    with pytest.raises(error, match=name):
        PolynomialLibrary(*args)


@pytest.mark.parametrize(
    ("exponents", "error", "message"),
    [
        ([1, 2], sl.ShapeError, "exponents"),
        (np.zeros((0, 2), dtype=int), sl.ShapeError, "exponents"),
        ([[1, 0], [1, 0]], sl.SymlieValueError, "repeated"),
        ([[1, -1]], sl.SymlieValueError, "non-negative"),
        ([[0.5, 1.0]], sl.SymlieTypeError, "integers"),
    ],
    ids=["1-D", "empty", "repeated", "negative", "fractional"],
)
def test_from_exponents_validates(exponents: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        PolynomialLibrary.from_exponents(exponents)


def test_from_pysindy_needs_a_fitted_library() -> None:
    with pytest.raises(sl.SymlieTypeError, match="fitted"):
        PolynomialLibrary.from_pysindy(object())


@pytest.mark.parametrize("method", ["evaluate", "jacobian"])
@pytest.mark.parametrize(
    ("X", "error", "message"),
    [
        (np.zeros((4, 2)), sl.ShapeError, r"X must have shape \(\*, 3\)"),
        (np.zeros(3), sl.ShapeError, "X must have shape"),
        (np.array([[0.0, np.nan, 1.0]]), sl.SymlieValueError, "X contains NaN"),
        (np.array([[0.0, np.inf, 1.0]]), sl.SymlieValueError, "X contains NaN or infinite"),
        ([["a", "b", "c"]], sl.SymlieTypeError, "X must be a real numeric array"),
    ],
    ids=["wrong-width", "1-D", "nan", "inf", "strings"],
)
def test_points_are_validated(method: str, X: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        getattr(PolynomialLibrary(3, 2), method)(X)


def test_feature_names_length_is_checked() -> None:
    with pytest.raises(sl.SymlieValueError, match="input_names"):
        PolynomialLibrary(2, 1).feature_names(["a"])
