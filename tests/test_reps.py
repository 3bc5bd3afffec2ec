"""Representations: the algebra of reps, rho and drho in closed form, homomorphism properties, validation."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import block_diag, expm

import symlie as sl
from symlie import Rep, Scalar, V

Builder = Callable[[Rep], Rep]

# ------------------------------------------------------------------------------------------ the algebra


def test_sizes() -> None:
    v = V(sl.O(5))
    assert v.size == 5 and Scalar.size == 1
    assert (v**3).size == 125
    assert (2 * v + Scalar).size == 11
    assert ((v + v.dual) ** 2).size == 100
    assert (v * v.dual).size == 25
    G = sl.SO(3) * sl.Sn(4)
    assert V(G).size == 7 and V(G, factor=0).size == 3 and V(G, factor=1).size == 4
    assert (V(G, factor=0) * V(G, factor=1)).size == 12


def test_repr_reads_like_the_construction() -> None:
    v = V(sl.O(5))
    assert repr(v**2 + Scalar) == "V(O(5))**2 + Scalar"
    assert repr(2 * v + Scalar) == "2*V(O(5)) + Scalar"
    assert repr((v + v.dual) ** 2) == "(V(O(5)) + V(O(5)).dual)**2"
    assert repr(v * v.dual) == "V(O(5))*V(O(5)).dual"
    assert repr(Scalar) == "Scalar"
    G = sl.SO(3) * sl.Sn(4)
    assert repr(V(G)) == "V(SO(3)×S(4))"
    assert repr(V(G, factor=1) ** 2) == "V(SO(3)×S(4), factor=1)**2"


def test_value_semantics() -> None:
    v = V(sl.SO(3))
    equal_pairs = [
        (v**2, v * v),
        (2 * v, v + v),
        (3 * v, sum([v, v, v])),
        (v.dual.dual, v),
        (v.T, v.dual),
        ((v**2).dual, v.dual * v.dual),
        (v**0, Scalar),
        (Scalar.dual, Scalar),
        (v * Scalar, v),
        (v**1, v),
        (1 * v, v),
        (v + 0, v),
        (V(sl.SO(3)), v),
    ]
    for a, b in equal_pairs:
        assert a == b and hash(a) == hash(b), (a, b)
    assert v != v.dual and v != V(sl.O(3)) and v != v**2 and v != "V"


# ---------------------------------------------------------------------------------------- closed forms


def test_rho_in_closed_form(rng: np.random.Generator) -> None:
    G = sl.GL(3)
    v = V(G)
    g = G.sample(rng)
    inv_t = np.linalg.inv(g).T
    np.testing.assert_allclose(v.rho(g), g)
    np.testing.assert_allclose(v.dual.rho(g), inv_t, atol=1e-12)
    np.testing.assert_allclose((v**2).rho(g), np.kron(g, g), atol=1e-12)
    np.testing.assert_allclose((v * v.dual).rho(g), np.kron(g, inv_t), atol=1e-12)
    np.testing.assert_allclose((v + Scalar).rho(g), block_diag(g, 1.0), atol=1e-12)
    np.testing.assert_allclose((2 * v).rho(g), block_diag(g, g), atol=1e-12)
    np.testing.assert_array_equal(Scalar.rho(g), [[1.0]])


def test_drho_in_closed_form(rng: np.random.Generator) -> None:
    G = sl.GL(3)
    v = V(G)
    X = rng.normal(size=(3, 3))
    eye = np.eye(3)
    np.testing.assert_allclose(v.drho(X), X)
    np.testing.assert_allclose(v.dual.drho(X), -X.T)
    np.testing.assert_allclose((v**2).drho(X), np.kron(X, eye) + np.kron(eye, X), atol=1e-14)
    np.testing.assert_allclose((v * v.dual).drho(X), np.kron(X, eye) - np.kron(eye, X.T), atol=1e-14)
    np.testing.assert_allclose((v + Scalar).drho(X), block_diag(X, 0.0), atol=1e-14)
    np.testing.assert_array_equal(Scalar.drho(X), [[0.0]])


def test_product_group_factors_see_their_own_block(rng: np.random.Generator) -> None:
    G = sl.SO(3) * sl.Sn(4)
    g = G.sample(rng)
    np.testing.assert_allclose(V(G).rho(g), g)
    np.testing.assert_allclose(V(G, factor=0).rho(g), g[:3, :3])
    np.testing.assert_allclose(V(G, factor=1).rho(g), g[3:, 3:])
    np.testing.assert_allclose((V(G, factor=0) * V(G, factor=1)).rho(g), np.kron(g[:3, :3], g[3:, 3:]))


# --------------------------------------------------------------------------------- property tests

GROUPS = {
    "SO(3)": sl.SO(3),
    "O(3)": sl.O(3),
    "SL(2)": sl.SL(2),
    "GL(3)": sl.GL(3),
    "SO+(1,3)": sl.SO13p(),
    "O(1,3)": sl.Lorentz(),
    "S(4)": sl.Sn(4),
    "D(4)": sl.D(4),
    "SO(2)xS(3)": sl.SO(2) * sl.Sn(3),
}


def _leaf(kind: str) -> Builder:
    return {"V": lambda v: v, "V*": lambda v: v.dual, "S": lambda v: Scalar}[kind]


def _combine(parts: tuple[str, Builder, Builder]) -> Builder:
    op, a, b = parts
    if op == "+":
        return lambda v: a(v) + b(v)
    if op == "*":
        return lambda v: a(v) * b(v)
    return lambda v: a(v).dual


# Random representation expressions in V, V.dual and Scalar built with +, * and .dual.
REP_BUILDERS = st.recursive(
    st.sampled_from(["V", "V*", "S"]).map(_leaf),
    lambda inner: st.tuples(st.sampled_from(["+", "*", "dual"]), inner, inner).map(_combine),
    max_leaves=4,
)


def _algebra_element(G: sl.Group, rng: np.random.Generator) -> np.ndarray:
    return np.tensordot(rng.normal(size=G.algebra.dim) / np.sqrt(max(G.algebra.dim, 1)), G.algebra.basis, axes=1)


@settings(max_examples=40)
@given(name=st.sampled_from(sorted(GROUPS)), build=REP_BUILDERS, seed=st.integers(0, 2**32 - 1))
def test_rho_is_a_homomorphism_and_dual_is_inverse_transpose(name: str, build: Builder, seed: int) -> None:
    G = GROUPS[name]
    rep = build(V(G))
    if rep.size > 100:
        return
    rng = np.random.default_rng(seed)
    g, h = G.sample(rng), G.sample(rng)
    rho_g, rho_h = rep.rho(g), rep.rho(h)
    scale = np.linalg.norm(rho_g) * np.linalg.norm(rho_h)
    assert np.linalg.norm(rep.rho(g @ h) - rho_g @ rho_h) <= 1e-12 * scale
    np.testing.assert_allclose(rep.rho(np.eye(G.n)), np.eye(rep.size), atol=1e-14)
    dual = rep.dual.rho(g)
    assert np.linalg.norm(dual @ rho_g.T - np.eye(rep.size)) <= 1e-12 * np.linalg.norm(dual) * np.linalg.norm(rho_g)


@settings(max_examples=40)
@given(
    name=st.sampled_from([k for k, G in GROUPS.items() if G.algebra.dim]),
    build=REP_BUILDERS,
    seed=st.integers(0, 2**32 - 1),
)
def test_drho_is_a_lie_algebra_homomorphism_and_exponentiates_to_rho(name: str, build: Builder, seed: int) -> None:
    G = GROUPS[name]
    rep = build(V(G))
    if rep.size > 100:
        return
    rng = np.random.default_rng(seed)
    X, Y = _algebra_element(G, rng), _algebra_element(G, rng)
    dX, dY = rep.drho(X), rep.drho(Y)
    a, b = rng.normal(size=2)
    np.testing.assert_allclose(rep.drho(a * X + b * Y), a * dX + b * dY, atol=1e-12)
    np.testing.assert_allclose(rep.drho(X @ Y - Y @ X), dX @ dY - dY @ dX, atol=1e-11)
    np.testing.assert_allclose(rep.rho(expm(X)), expm(dX), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(rep.dual.drho(X), -dX.T, atol=1e-14)


def test_rho_of_an_infinitesimal_element_matches_drho(rng: np.random.Generator) -> None:
    """Finite differences of the group action reproduce the analytic Lie-algebra action."""
    G = sl.SO13p()
    rep = V(G) ** 2 + V(G).dual
    X = _algebra_element(G, rng)
    step = 1e-6
    numeric = (rep.rho(expm(step * X)) - rep.rho(expm(-step * X))) / (2 * step)
    np.testing.assert_allclose(numeric, rep.drho(X), atol=1e-8)


# ------------------------------------------------------------------------------------------ bad input

SO3 = V(sl.SO(3))


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: V(3), sl.SymlieTypeError, "group must be a symlie Group"),
        (lambda: SO3 + 3, sl.SymlieTypeError, r"use k \* rep"),
        (lambda: SO3 + True, sl.SymlieTypeError, "bool"),
        (lambda: SO3 * "a", sl.SymlieTypeError, "cannot combine a Rep with str"),
        (lambda: 0 * SO3, sl.SymlieValueError, "multiplicity must be >= 1"),
        (lambda: SO3**-1, sl.SymlieValueError, "exponent must be >= 0"),
        (lambda: SO3**1.5, sl.SymlieTypeError, "exponent must be an integer"),
        (lambda: SO3 + V(sl.SO(2)), sl.GroupMismatchError, r"SO\(2\), SO\(3\)"),
        (lambda: SO3 * V(sl.O(3)), sl.GroupMismatchError, "different groups"),
        (lambda: (SO3 + Scalar) * V(sl.Sn(3)) ** 2, sl.GroupMismatchError, "different groups"),
        (lambda: V(sl.SO(3) * sl.Sn(2), factor=2), sl.SymlieValueError, "factor must be an int in"),
        (lambda: V(sl.SO(3) * sl.Sn(2), factor=True), sl.SymlieValueError, "factor"),
        (lambda: SO3.rho(np.eye(2)), sl.ShapeError, r"g must have shape \(3, 3\)"),
        (lambda: SO3.rho(np.eye(3)[0]), sl.ShapeError, "g must have shape"),
        (lambda: SO3.drho(np.full((3, 3), np.nan)), sl.SymlieValueError, "X contains NaN"),
        (lambda: SO3.rho(np.full((3, 3), np.inf)), sl.SymlieValueError, "g contains NaN or infinite"),
        (lambda: SO3.rho([["a"] * 3] * 3), sl.SymlieTypeError, "g must be a real numeric array"),
    ],
    ids=[
        "V-of-int",
        "plus-int",
        "plus-bool",
        "times-str",
        "zero-multiple",
        "negative-power",
        "float-power",
        "sum-of-groups",
        "tensor-of-groups",
        "nested-groups",
        "factor-range",
        "factor-bool",
        "rho-shape",
        "rho-1-D",
        "drho-nan",
        "rho-inf",
        "rho-strings",
    ],
)
def test_bad_representations_raise_errors_naming_the_argument(make, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        make()
