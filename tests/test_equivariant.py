"""Equivariant maps: known dimensions with independent checks, a group x representation matrix, properties.

Independent references used here: closed-form tensors, set-partition counts (Stirling numbers), orbit counting
by brute force over all group elements (and Burnside's lemma), Weyl's integration formula on a maximal torus
with an exact trapezoid quadrature, Brauer's pairing count, and the dense stacked-SVD solver.
"""

from __future__ import annotations

from itertools import permutations, product
from math import prod

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import block_diag, subspace_angles

import symlie as sl
from symlie import Scalar, V
from symlie.testing import assert_equivariant, default_rtol

ETA = np.diag([1.0, -1.0, -1.0, -1.0])


def dim(rep_in: sl.Rep, rep_out: sl.Rep) -> int:
    return sl.equivariant_space(rep_in, rep_out, cache=None).dim


def same_span(A: np.ndarray, B: np.ndarray, atol: float = 1e-8) -> bool:
    if A.shape[1] != B.shape[1]:
        return False
    return A.shape[1] == 0 or float(np.sin(subspace_angles(A, B).max())) < atol


def levi_civita(n: int) -> np.ndarray:
    out = np.zeros((n,) * n)
    for p in permutations(range(n)):
        out[p] = np.linalg.det(np.eye(n)[list(p)])
    return out


# ------------------------------------------------------------------------------------ known answers
SO3, SO2, O3 = V(sl.SO(3)), V(sl.SO(2)), V(sl.O(3))
GL2, SL2 = V(sl.GL(2)), V(sl.SL(2))
KNOWN = [
    ("SO(3) V->V", SO3, SO3, 1),
    ("SO(3) VV->V", SO3**2, SO3, 1),
    ("SO(3) VV->R", SO3**2, Scalar, 1),
    ("SO(3) VV->VV", SO3**2, SO3**2, 3),
    ("SO(3) VVV->R", SO3**3, Scalar, 1),
    ("SO(2) V->V", SO2, SO2, 2),
    ("SO(2) VV->R", SO2**2, Scalar, 2),
    ("SO(2) VVV->R", SO2**3, Scalar, 0),
    ("O(3) V->VV", O3, O3**2, 0),
    ("O(3) VV->VV", O3**2, O3**2, 3),
    ("GL(2) V*->V", GL2.dual, GL2, 0),
    ("GL(2) VV->VV", GL2**2, GL2**2, 2),
    ("GL(2) VVV->VVV", GL2**3, GL2**3, 5),  # sum of (f^lambda)^2 over partitions of 3 with <= 2 rows
    ("SL(2) VV->R", SL2**2, Scalar, 1),  # the determinant form
    ("SL(2) V->V*", SL2, SL2.dual, 1),
]


@pytest.mark.parametrize(("rep_in", "rep_out", "expected"), [k[1:] for k in KNOWN], ids=[k[0] for k in KNOWN])
def test_known_dimensions(rep_in: sl.Rep, rep_out: sl.Rep, expected: int) -> None:
    space = sl.equivariant_space(rep_in, rep_out, cache=None)
    assert space.dim == expected
    assert space.residual <= 1e-10


def test_so3_closed_forms() -> None:
    identity = sl.equivariant_basis(SO3, SO3, cache=None)[:, 0]
    np.testing.assert_allclose(np.abs(identity), np.eye(3).reshape(-1) / np.sqrt(3), atol=1e-12)
    cross = sl.equivariant_basis(SO3**2, SO3, cache=None)[:, 0]
    epsilon = levi_civita(3).reshape(-1) / np.sqrt(6)
    assert abs(abs(cross @ epsilon) - 1) < 1e-12  # W[k, (i, j)] = eps_kij
    rotations = sl.equivariant_basis(SO2, SO2, cache=None)
    assert same_span(rotations, np.array([[1.0, 0, 0, 1], [0, -1, 1, 0]]).T)


# ------------------------------------------------------------------------------ permutation groups
def stirling2(k: int, j: int) -> int:
    table = [[1] + [0] * j] + [[0] * (j + 1) for _ in range(k)]
    for a in range(1, k + 1):
        for b in range(1, j + 1):
            table[a][b] = b * table[a - 1][b] + table[a - 1][b - 1]
    return table[k][j]


@pytest.mark.parametrize("n", [2, 3, 4, 5])
@pytest.mark.parametrize(("a", "b"), [(0, 1), (1, 1), (0, 3), (2, 1), (2, 2), (3, 1)])
def test_symmetric_group_counts_set_partitions(n: int, a: int, b: int) -> None:
    """dim Hom_{S_n}(V^a, V^b) = number of partitions of a+b points into at most n blocks."""
    v = V(sl.Sn(n))
    expected = sum(stirling2(a + b, j) for j in range(1, n + 1))
    assert dim(v**a, v**b) == expected


def group_permutations(group: sl.Group) -> list[tuple[int, ...]]:
    """Every element of a finite permutation group, by closing its generators under composition."""
    gens = [tuple(int(i) for i in np.argmax(h, axis=0)) for h in group.discrete]  # h e_c = e_{p[c]}
    identity = tuple(range(group.n))
    seen, frontier = {identity}, [identity]
    while frontier:
        frontier = [tuple(g[i] for i in p) for p in frontier for g in gens if tuple(g[i] for i in p) not in seen]
        seen.update(frontier)
    return sorted(seen)


def orbit_indicators(group: sl.Group, k: int) -> np.ndarray:
    """Indicator vectors of the orbits of the group on k-tuples of indices, by brute force."""
    elements, n = group_permutations(group), group.n
    labels = -np.ones(n**k, dtype=int)
    count = 0
    for start in product(range(n), repeat=k):
        if labels[np.ravel_multi_index(start, (n,) * k)] >= 0:
            continue
        for p in elements:
            labels[np.ravel_multi_index(tuple(p[i] for i in start), (n,) * k)] = count
        count += 1
    return np.eye(count)[labels]


@pytest.mark.parametrize(
    ("group", "order"), [(sl.Z(5), 5), (sl.Z(6), 6), (sl.D(4), 8), (sl.D(5), 10), (sl.Sn(4), 24)], ids=repr
)
@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_finite_groups_against_brute_force_orbits(group: sl.Group, order: int, k: int) -> None:
    elements = group_permutations(group)
    assert len(elements) == order
    indicators = orbit_indicators(group, k)
    burnside = sum(sum(p[i] == i for i in range(group.n)) ** k for p in elements) / order
    assert indicators.shape[1] == burnside
    v = V(group)
    for a in range(k + 1):  # Hom(V^a, V^(k-a)) is the invariants of V^(k-a) x V*^a, and V* = V here
        basis = sl.equivariant_basis(v**a if a else Scalar, v ** (k - a) if k - a else Scalar, cache=None)
        assert basis.shape[1] == indicators.shape[1]
    invariants = sl.equivariant_basis(Scalar, v**k, cache=None)
    assert same_span(invariants, indicators, atol=1e-12)


# ------------------------------------------------------------------------------ Weyl integration
def rotation(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s], [s, c]])


def character(rep: sl.Rep, t: np.ndarray) -> float:
    """Trace of rho(t) from the rep's tensor structure: sum over terms of products of factor traces."""
    group, total = rep.group, 0.0
    for factors, _ in rep.terms():
        traces = []
        for block, dual in factors:
            start = sum(group.blocks[:block])
            sub = t[start : start + group.blocks[block], start : start + group.blocks[block]]
            traces.append(np.trace(np.linalg.inv(sub) if dual else sub))
        total += prod(traces)
    return float(total)


# (torus of a compact form, Haar density on it relative to d(theta)/(2 pi), number of angles)
TORI = {
    "SO(2)": (lambda th: rotation(th[0]), lambda th: 1.0, 1),
    "SO(3)": (lambda th: block_diag(rotation(th[0]), 1.0), lambda th: 1 - np.cos(th[0]), 1),
    "SU(2)": (lambda th: rotation(th[0]), lambda th: 2 * np.sin(th[0]) ** 2, 1),
    "SO(4)": (
        lambda th: block_diag(rotation(th[0]), rotation(th[1])),
        lambda th: (2 - 2 * np.cos(th[0] - th[1])) * (2 - 2 * np.cos(th[0] + th[1])) / 4,
        2,
    ),
}


def weyl_dimension(rep: sl.Rep, compact: str, grid: int = 24) -> float:
    """dim of the invariants: the Haar average of the character, exact for trig polynomials of degree < grid."""
    torus, density, n_angles = TORI[compact]
    angles = 2 * np.pi * np.arange(grid) / grid
    values = [character(rep, torus(th)) * density(th) for th in product(angles, repeat=n_angles)]
    return float(np.mean(values))


@pytest.mark.parametrize("compact", sorted(TORI))
def test_weyl_density_is_normalised_and_character_matches_rho(compact: str) -> None:
    group = {"SO(2)": sl.SO(2), "SO(3)": sl.SO(3), "SU(2)": sl.SL(2), "SO(4)": sl.SO(4)}[compact]
    assert weyl_dimension(Scalar, compact) == pytest.approx(1.0, abs=1e-12)
    rep = (V(group) + V(group).dual) * V(group)
    t = TORI[compact][0](np.arange(1, 3) * 0.7)
    assert character(rep, t) == pytest.approx(np.trace(rep.rho(t)), abs=1e-12)


# The real groups and their compact forms have the same invariants in tensor representations (their
# complexifications agree up to conjugation): SL(2,R) ~ SU(2); SO+(1,3) ~ SO(4) via diag(1, i, i, i).
EXPRESSIONS = {
    "V**2": lambda v: v**2,
    "V**3": lambda v: v**3,
    "V**4": lambda v: v**4,
    "V**6": lambda v: v**6,
    "VxV*": lambda v: v * v.dual,
    "V**2xV***2": lambda v: v**2 * v.dual**2,
    "(V+R)**3": lambda v: (v + Scalar) ** 3,
    "(V+V*)**3": lambda v: (v + v.dual) ** 3,
}
WEYL_CASES = [
    (sl.SO(2), "SO(2)", ["VxV*", "V**4", "(V+R)**3", "V**2xV***2"]),
    (sl.SO(3), "SO(3)", ["V**3", "V**4", "(V+R)**3", "V**2xV***2"]),
    (sl.SL(2), "SU(2)", ["V**2", "V**4", "VxV*", "(V+V*)**3", "V**6"]),
    (sl.SO(4), "SO(4)", ["V**2", "V**4", "V**2xV***2", "V**6"]),
    (sl.SO13p(), "SO(4)", ["V**2", "V**4", "V**2xV***2", "V**6", "(V+R)**3"]),
]


@pytest.mark.parametrize(
    ("group", "compact", "expression"),
    [(g, c, e) for g, c, exprs in WEYL_CASES for e in exprs],
    ids=[f"{g!r}-{e}" for g, _, exprs in WEYL_CASES for e in exprs],
)
def test_invariant_dimension_equals_weyl_integral(group: sl.Group, compact: str, expression: str) -> None:
    rep = EXPRESSIONS[expression](V(group))
    expected = weyl_dimension(rep, compact)
    assert abs(expected - round(expected)) < 1e-9
    assert dim(Scalar, rep) == round(expected)


# ------------------------------------------------------------------------------------- Lorentz group
@pytest.mark.parametrize("k", [1, 2, 3, 4, 6])
def test_lorentz_invariants_are_brauer_pairings(k: int) -> None:
    """O(1,3) (Zariski dense in O(4, C) up to conjugation): (k-1)!! pairings for even k <= 8, none for odd k."""
    expected = 0 if k % 2 else prod(range(k - 1, 0, -2))
    assert dim(Scalar, V(sl.Lorentz()) ** k) == expected


def test_lorentz_invariant_tensors_in_closed_form() -> None:
    """eta pairings span the O(1,3) invariants of V^4; SO+(1,3) adds the Levi-Civita tensor."""
    pairings = [
        np.einsum("ab,cd->abcd", ETA, ETA),
        np.einsum("ac,bd->abcd", ETA, ETA),
        np.einsum("ad,bc->abcd", ETA, ETA),
    ]
    full = np.array([p.ravel() for p in pairings]).T
    assert same_span(sl.equivariant_basis(Scalar, V(sl.Lorentz()) ** 4, cache=None), full)
    proper = np.column_stack([full, levi_civita(4).ravel()])
    assert same_span(sl.equivariant_basis(Scalar, V(sl.SO13p()) ** 4, cache=None), proper)
    metric = sl.equivariant_basis(V(sl.Lorentz()), V(sl.Lorentz()).dual, cache=None)  # V -> V*: lowering
    assert same_span(metric, ETA.reshape(-1, 1))


# ----------------------------------------------------------------------------------- product groups
PRODUCTS = [(sl.SO(3), sl.Sn(4)), (sl.O(2), sl.Z(3)), (sl.SO(2), sl.SO(3))]


@pytest.mark.parametrize(("first", "second"), PRODUCTS, ids=lambda g: repr(g))
@pytest.mark.parametrize(("a", "b"), [(1, 1), (2, 0), (2, 2), (3, 1)])
def test_product_group_invariants_are_kronecker_products(first: sl.Group, second: sl.Group, a: int, b: int) -> None:
    G = first * second
    A, B = V(G, factor=0), V(G, factor=1)
    joint = sl.equivariant_basis(Scalar, (A**a if a else Scalar) * (B**b if b else Scalar), cache=None)
    left = sl.equivariant_basis(Scalar, V(first) ** a if a else Scalar, cache=None)
    right = sl.equivariant_basis(Scalar, V(second) ** b if b else Scalar, cache=None)
    assert joint.shape[1] == left.shape[1] * right.shape[1]
    assert same_span(joint, np.kron(left, right))


def test_product_group_defining_representation_splits() -> None:
    G = sl.SO(3) * sl.Sn(4)
    assert dim(V(G), V(G)) == 1 + 2  # no maps between the two blocks: SO(3) acts irreducibly on one
    assert dim(V(G, factor=0) * V(G, factor=1), V(G, factor=0) * V(G, factor=1)) == 1 * 2


# --------------------------------------------------------------------------------- the case matrix
GROUPS = {
    "SO(2)": sl.SO(2),
    "SO(3)": sl.SO(3),
    "O(3)": sl.O(3),
    "SO(4)": sl.SO(4),
    "O(5)": sl.O(5),
    "SL(2)": sl.SL(2),
    "GL(2)": sl.GL(2),
    "O(1,3)": sl.Lorentz(),
    "SO+(1,3)": sl.SO13p(),
    "S(4)": sl.Sn(4),
    "Z(5)": sl.Z(5),
    "D(4)": sl.D(4),
    "SO(3)xS(4)": sl.SO(3) * sl.Sn(4),
    "O(2)xZ(3)": sl.O(2) * sl.Z(3),
    "SO(2)xSO(3)": sl.SO(2) * sl.SO(3),
}
SPECS = {
    "V->V": lambda v: (v, v),
    "V*->V": lambda v: (v.dual, v),
    "R->VxV*": lambda v: (Scalar, v * v.dual),
    "V**3->R": lambda v: (v**3, Scalar),
    "V+R->V+R": lambda v: (v + Scalar, v + Scalar),
    "(V+V*)**2->R": lambda v: ((v + v.dual) ** 2, Scalar),
    "V**2->V": lambda v: (v**2, v),
}


@pytest.mark.parametrize("spec", sorted(SPECS))
@pytest.mark.parametrize("group", sorted(GROUPS))
def test_group_representation_matrix(group: str, spec: str) -> None:
    rep_in, rep_out = SPECS[spec](V(GROUPS[group]))
    space = sl.equivariant_space(rep_in, rep_out, cache=None)
    Q = space.basis
    assert Q.shape == (rep_out.size * rep_in.size, space.dim) and Q.dtype == np.float64
    np.testing.assert_allclose(Q.T @ Q, np.eye(space.dim), atol=1e-12)
    assert space.residual <= 1e-10
    assert assert_equivariant(Q, rep_in, rep_out, n_samples=2) <= 1e-10
    reference = sl.equivariant_space(rep_in, rep_out, method="dense", cache=None)
    assert reference.dim == space.dim
    assert same_span(Q, reference.basis)


# ------------------------------------------------------------------------------------ properties
BASIS_CASES = {
    "SO(3)": (sl.SO(3), lambda v: (v**2, v)),
    "O(3)": (sl.O(3), lambda v: (v**2, v**2)),
    "SO(4)": (sl.SO(4), lambda v: (Scalar, v**4)),
    "SO+(1,3)": (sl.SO13p(), lambda v: (v**2, v.dual**2)),
    "O(1,3)": (sl.Lorentz(), lambda v: (v, v**3)),
    "SL(2)": (sl.SL(2), lambda v: (v * v.dual, v**2)),
    "GL(2)": (sl.GL(2), lambda v: (v**2, v**2)),
}


@settings(max_examples=20)
@given(name=st.sampled_from(sorted(BASIS_CASES)), seed=st.integers(0, 2**32 - 1))
def test_solution_does_not_depend_on_the_algebra_basis(name: str, seed: int) -> None:
    G, spec = BASIS_CASES[name]
    rng = np.random.default_rng(seed)
    q = G.algebra.dim
    Q, _ = np.linalg.qr(rng.normal(size=(q, q)))
    mixed = sl.Group(sl.LieAlgebra(np.tensordot(Q, G.algebra.basis, axes=1)), G.discrete, n=G.n)
    before = sl.equivariant_space(*spec(V(G)), cache=None)
    after = sl.equivariant_space(*spec(V(mixed)), cache=None)
    assert after.residual <= 1e-10
    assert same_span(before.basis, after.basis)


def test_cache_returns_the_same_answer_and_is_bounded() -> None:
    cache = sl.BasisCache(maxsize=2)
    v = V(sl.SO(3))
    first = sl.equivariant_basis(v**2, v**2, cache=cache)
    assert len(cache) >= 1
    np.testing.assert_array_equal(sl.equivariant_basis(v**2, v**2, cache=cache), first)
    assert same_span(first, sl.equivariant_basis(v**2, v**2, cache=None))
    for k in range(1, 5):
        sl.equivariant_basis(Scalar, v**k, cache=cache)
    assert len(cache) == 2
    cache.clear()
    assert len(cache) == 0


def test_equivariant_space_result() -> None:
    v = V(sl.SO(3))
    space = sl.equivariant_space(v**2, v, cache=None)
    assert space.matrices().shape == (1, 3, 9)
    assert assert_equivariant(space.matrices(), v**2, v) <= 1e-10
    assert "dim=1" in repr(space) and space.rep_in == v**2 and space.rep_out == v


def test_bad_arguments_raise_errors_naming_them() -> None:
    v = V(sl.SO(3))
    with pytest.raises(sl.SymlieTypeError, match="rep_in must be a symlie Rep"):
        sl.equivariant_basis("V", v)
    with pytest.raises(sl.SymlieTypeError, match="rep_out must be a symlie Rep"):
        sl.equivariant_basis(v, np.eye(3))
    with pytest.raises(sl.SymlieValueError, match="method must be one of"):
        sl.equivariant_basis(v, v, method="fast")
    with pytest.raises(sl.GroupMismatchError, match="different groups"):
        sl.equivariant_basis(v, V(sl.SO(2)))


# ------------------------------------------------------------------------------- symlie.testing
def test_assert_equivariant_accepts_every_layout_and_returns_the_error() -> None:
    v = V(sl.O(3))
    space = sl.equivariant_space(v**2, v**2, cache=None)
    for maps in (space.basis, space.matrices(), space.matrices()[0]):
        error = assert_equivariant(maps, v**2, v**2, rng=np.random.default_rng(1))
        assert isinstance(error, float) and 0.0 <= error <= 1e-12


def test_assert_equivariant_checks_the_discrete_part() -> None:
    """The cross product commutes with rotations but is a pseudo-vector: reflections flip its sign."""
    cross = sl.equivariant_basis(SO3**2, SO3, cache=None)
    assert assert_equivariant(cross, SO3**2, SO3) <= 1e-12
    with pytest.raises(AssertionError, match=r"relative error 2\.000e\+00 > rtol 1\.0e-10"):
        assert_equivariant(cross, O3**2, O3)


def test_assert_equivariant_tolerance_follows_the_dtype() -> None:
    cross = sl.equivariant_basis(SO3**2, SO3, cache=None)
    assert default_rtol(np.float64) == 1e-10 and default_rtol(np.float32) == 1e-5
    assert 0.0 < assert_equivariant(cross.astype(np.float32), SO3**2, SO3) <= 1e-5
    noisy = cross + 1e-8 * np.random.default_rng(0).normal(size=cross.shape)
    with pytest.raises(AssertionError, match=r"rtol 1\.0e-10"):
        assert_equivariant(noisy, SO3**2, SO3)
    assert assert_equivariant(noisy, SO3**2, SO3, rtol=1e-6) <= 1e-6
    assert assert_equivariant(np.ones((1, 1)), Scalar, Scalar) == 0.0


def test_assert_equivariant_takes_torch_weights() -> None:
    torch = pytest.importorskip("torch")
    weight = torch.eye(3, dtype=torch.float32, requires_grad=True)
    assert assert_equivariant(weight, O3, O3) <= 1e-5
    with pytest.raises(AssertionError, match=r"rtol 1\.0e-05"):
        assert_equivariant(weight + torch.ones(3, 3), O3, O3)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        ((np.eye(2), SO3, SO3), {}, sl.ShapeError, "W_or_basis must be a map of shape"),
        ((np.full((3, 3), np.nan), SO3, SO3), {}, sl.SymlieValueError, "W_or_basis contains NaN"),
        ((np.array([["a"] * 3] * 3), SO3, SO3), {}, sl.SymlieTypeError, "W_or_basis must be a real"),
        ((np.eye(3), "V", SO3), {}, sl.SymlieTypeError, "rep_in must be a symlie Rep"),
        ((np.eye(3), SO3, V(sl.O(3))), {}, sl.GroupMismatchError, "rep_out"),
        ((np.eye(3), SO3, SO3), {"n_samples": 0}, sl.SymlieValueError, "n_samples must be >= 1"),
        ((np.eye(3), SO3, SO3), {"rtol": -1.0}, sl.SymlieValueError, "rtol must be"),
        ((np.eye(3), SO3, SO3), {"rng": "seed"}, sl.SymlieTypeError, "rng"),
    ],
    ids=["shape", "nan", "strings", "rep-type", "groups", "n_samples", "rtol", "rng"],
)
def test_assert_equivariant_rejects_bad_arguments(args: tuple, kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        assert_equivariant(*args, **kwargs)
