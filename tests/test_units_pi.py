"""Dimension matrices, Pi groups, prefactors and the missing-constant diagnosis (symlie.units, issue 8)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import symlie as sl
import symlie.units as su
from symlie.units._lattice import integer_kernel, lll_reduce, rank, solve_rational

PENDULUM = {"tau": "s", "l": "m", "m": "kg", "g": "m/s^2", "theta0": "radian"}
BLACKBODY = {"lambda": "m", "T": "K", "c": "m/s", "k": "J/K", "h": "J s"}
RADIANCE = "W/m^3"  # W sr^-1 m^-2 m^-1, sr dimensionless


def same_lattice(E: np.ndarray, F: np.ndarray) -> bool:
    """Whether the rows of two integer matrices generate the same lattice (exact)."""
    E, F = np.asarray(E, dtype=np.int64), np.asarray(F, dtype=np.int64)
    if E.shape != F.shape:
        return False
    coords = []
    for row in E:  # E = C F with C integer and |det C| = 1
        sol = solve_rational(F.T.tolist(), row.tolist())
        if sol is None or any(x.denominator != 1 for x in sol):
            return False
        coords.append([int(x) for x in sol])
    return abs(round(np.linalg.det(np.array(coords, dtype=float)))) == 1


# ------------------------------------------------------------------------------------------ dimensions
def test_dimension_matrix_from_pint_strings_maps_to_si_symbols() -> None:
    A = su.dimension_matrix(PENDULUM)
    assert A.base_units == ("kg", "m", "s")
    assert A.variables == ("tau", "l", "m", "g", "theta0")
    np.testing.assert_array_equal(A.matrix, [[0, 0, 1, 0, 0], [0, 1, 0, 1, 0], [1, 0, 0, -2, 0]])
    assert A.rank == 3
    assert A.units("g") == "m s^-2"
    assert repr(A).startswith("DimensionMatrix(tau: s, l: m, m: kg")


def test_dimension_matrix_from_pint_objects_tables_and_vectors() -> None:
    import pint

    ureg = pint.get_application_registry()
    from_pint = su.dimension_matrix({"E": ureg.joule, "v": ureg.Quantity(3.0, "km/h")})
    from_table = su.dimension_matrix({"E": {"kg": 1, "m": 2, "s": -2}, "v": {"m": 1, "s": -1}})
    from_vectors = su.dimension_matrix([[1, 2, -2], [0, 1, -1]], names=["E", "v"], base_units=["kg", "m", "s"])
    from_array = su.dimension_matrix(
        np.array([[1, 0], [2, 1], [-2, -1]]), names=["E", "v"], base_units=["kg", "m", "s"]
    )
    assert from_pint == from_table == from_vectors == from_array
    assert hash(from_pint) == hash(from_table)


def test_dimension_matrix_bad_input_names_the_argument() -> None:
    with pytest.raises(sl.SymlieValueError, match=r"units of 'x'.*integer exponent"):
        su.dimension_matrix({"x": {"m": 0.5}})
    with pytest.raises(sl.SymlieValueError, match=r"units of 'x'.*pint cannot parse"):
        su.dimension_matrix({"x": "furlongs per fortnightly wombat"})
    with pytest.raises(sl.SymlieTypeError, match="needs base_units"):
        su.dimension_matrix([[1, 0]])
    with pytest.raises(sl.ShapeError, match="names has 1 entries but units has 2"):
        su.dimension_matrix(["m", "s"], names=["a"])
    with pytest.raises(sl.SymlieValueError, match="outside base_units"):
        su.dimension_matrix({"x": "kg"}, base_units=["m"])
    with pytest.raises(sl.SymlieTypeError, match="units must be a mapping"):
        su.dimension_matrix(3)
    with pytest.raises(sl.SymlieValueError, match="unknown variable 'q'"):
        su.dimension_matrix(PENDULUM).index("q")


def test_units_algebra_is_the_diagonal_torus() -> None:
    alg = su.units_algebra(PENDULUM)
    assert alg.dim == 3 and alg.kind == "linear" and alg.name == "units(kg, m, s)"
    np.testing.assert_array_equal(alg.basis[1], np.diag([0.0, 1, 0, 1, 0]))
    assert alg.closure().closed
    # kg and s act on the black-body target only through W: with (lambda, T) alone, kg and s rows are parallel
    with_target = su.units_algebra({"lambda": "m", "T": "K"}, target_units=RADIANCE)
    assert with_target.dim == 3 and with_target.n == 3
    np.testing.assert_array_equal(su.target_action(PENDULUM, "m").ravel(), [0.0, 1.0, 0.0])


# --------------------------------------------------------------------------------------------- lattice
def test_integer_kernel_and_lll_on_a_known_lattice() -> None:
    A = [[1, 2, 3], [4, 5, 6]]
    kernel = integer_kernel(A, 3)
    assert kernel == [[1, -2, 1]] or kernel == [[-1, 2, -1]]
    reduced = lll_reduce([[1, 0, 0], [10, 1, 0], [7, 3, 1]])
    assert same_lattice(np.array(reduced), np.eye(3, dtype=int))
    assert max(abs(x) for row in reduced for x in row) == 1
    assert rank([[2, 4], [1, 2]]) == 1


@given(
    st.integers(1, 3).flatmap(
        lambda k: st.integers(k, 6).flatmap(
            lambda n: st.lists(st.lists(st.integers(-3, 3), min_size=n, max_size=n), min_size=k, max_size=k)
        )
    )
)
def test_pi_groups_are_a_primitive_basis_of_the_kernel_lattice(matrix: list[list[int]]) -> None:
    A = np.array(matrix, dtype=np.int64)
    dims = su.dimension_matrix(A, base_units=[f"u{j}" for j in range(A.shape[0])])
    pg = su.pi_groups(dims)
    assert pg.n_groups == A.shape[1] - rank(matrix)
    assert np.all(A @ pg.exponents.T == 0)
    for row in pg.exponents:
        assert np.gcd.reduce(np.abs(row)) == 1
    # the groups generate every integer kernel vector: compare with the unreduced Hermite basis
    assert pg.n_groups == 0 or same_lattice(pg.exponents, np.array(integer_kernel(matrix, A.shape[1])))


# ------------------------------------------------------------------------------------------- pi groups
def test_pendulum_rank_3_two_groups_tau2g_over_l_and_theta0_mass_drops_out() -> None:
    pg = su.pi_groups(PENDULUM)
    assert pg.rank == 3 and pg.n_groups == 2
    assert pg.names == ("theta0", "tau^2 g / l")
    expected = np.array([[2, -1, 0, 1, 0], [0, 0, 0, 0, 1]])
    assert same_lattice(pg.exponents, expected)
    assert np.all(pg.exponents[:, 2] == 0)  # no group uses the mass
    X = np.array([[2.0, 1.0, 3.0, 9.81, 0.3]])
    np.testing.assert_allclose(pg.evaluate(X), [[0.3, 4.0 * 9.81]], rtol=1e-14)
    np.testing.assert_allclose(pg.log_abs(X), np.log([[0.3, 4.0 * 9.81]]), rtol=1e-14)
    assert "tau^2 g / l" in repr(pg)


def test_pi_group_values_are_invariant_under_any_unit_change(rng: np.random.Generator) -> None:
    dims = su.dimension_matrix(PENDULUM)
    pg = su.pi_groups(dims)
    X = rng.uniform(0.5, 2.0, (20, 5))
    log_s = rng.normal(size=3)  # rescale kg, m, s
    scaled = X * np.exp(log_s @ dims.matrix)[None, :]
    np.testing.assert_allclose(pg.evaluate(scaled), pg.evaluate(X), rtol=1e-13)


def test_blackbody_without_h_has_no_group_and_with_h_one_group() -> None:
    without = su.pi_groups({k: v for k, v in BLACKBODY.items() if k != "h"})
    assert without.n_groups == 0 and without.rank == 4
    with_h = su.pi_groups(BLACKBODY)
    assert with_h.n_groups == 1
    assert with_h.names == ("c h / (lambda T k)",)  # x = h c / (lambda k T)
    np.testing.assert_array_equal(with_h.exponents, [[-1, -1, 1, -1, 1]])


def test_signed_inputs_give_signed_groups() -> None:
    pg = su.pi_groups({"a": "m", "b": "m"})
    assert pg.names == ("b / a",)
    np.testing.assert_allclose(pg.evaluate([[-2.0, 4.0], [2.0, 4.0]]), [[-2.0], [2.0]])
    with pytest.raises(sl.SymlieValueError, match=r"X\[0, 0\] is zero"):
        pg.log_abs([[0.0, 1.0]])


# ------------------------------------------------------------------------------------------- prefactor
def test_pendulum_prefactor_is_sqrt_l_over_g() -> None:
    pre = su.prefactor({k: v for k, v in PENDULUM.items() if k != "tau"}, "s")
    assert pre.exponents == (Fraction(1, 2), 0, Fraction(-1, 2), 0)
    assert pre.name == "l^(1/2) / g^(1/2)"
    np.testing.assert_allclose(pre.evaluate([[4.0, 1.0, 9.0, 0.1]]), [2.0 / 3.0], rtol=1e-15)


def test_rayleigh_jeans_is_the_only_covariant_model_without_h() -> None:
    pre = su.prefactor(BLACKBODY, RADIANCE, using=["lambda", "T", "c", "k"])
    assert pre.name == "T c k / lambda^4"
    assert pre.exponents == (-4, 1, 1, 1, 0)
    # with h the simplest prefactor is Wien's 2 h c^2 / lambda^5 form
    assert su.prefactor(BLACKBODY, RADIANCE).name == "c^2 h / lambda^5"


def test_blackbody_collapse_is_exact_with_h() -> None:
    h, c, k = 6.62607015e-34, 299792458.0, 1.380649e-23
    lam = 10.0 ** np.linspace(-7, -4, 31)
    T = np.array([300.0, 3e3, 3e4])
    L, TT = (a.ravel() for a in np.meshgrid(lam, T))
    X = np.column_stack([L, TT, np.full(L.size, c), np.full(L.size, k), np.full(L.size, h)])
    B = 2 * h * c**2 / L**5 / np.expm1(h * c / (L * k * TT))
    x = su.pi_groups(BLACKBODY).evaluate(X)[:, 0]
    ratio = B / su.prefactor(BLACKBODY, RADIANCE, using=["lambda", "T", "c", "k"]).evaluate(X)
    np.testing.assert_allclose(ratio, 2 * x / np.expm1(x), rtol=1e-10)  # exp(-x) for x up to 480: cond ~ x


def test_missing_constant_states_the_unit_deficit() -> None:
    with pytest.raises(su.MissingDimensionalConstant, match="kg s\\^-3") as info:
        su.prefactor({"lambda": "m", "T": "K"}, RADIANCE)
    err = info.value
    assert isinstance(err, sl.SymlieValueError)
    assert err.base_units == ("kg", "m", "s", "K")
    np.testing.assert_array_equal(err.deficit, [1, 0, -3, 0])
    np.testing.assert_array_equal(err.target_units, [1, -1, -3, 0])
    with pytest.raises(su.MissingDimensionalConstant, match="excluded variables"):
        su.prefactor(BLACKBODY, RADIANCE, using=["lambda", "T"])


# ------------------------------------------------------------------------------ monomials and enforcement
def test_consistent_monomials_are_those_with_the_target_units() -> None:
    exps = su.consistent_monomials({"tau": "s", "l": "m", "g": "m/s^2"}, 4, target_units="m")
    np.testing.assert_array_equal(exps, [[0, 1, 0], [2, 0, 1]])  # l and tau^2 g; their ratio is the Pi group
    dimensionless = su.consistent_monomials(PENDULUM, 3)
    np.testing.assert_array_equal(dimensionless, [[0, 0, 0, 0, p] for p in range(4)])


@pytest.mark.parametrize("target", [None, "m", "s^2"])
def test_enforcing_the_units_algebra_keeps_exactly_the_consistent_monomials(target: str | None) -> None:
    library = sl.PolynomialLibrary(5, 3)
    output = "invariant" if target is None else su.target_action(PENDULUM, target)
    sub = sl.enforce(library, su.units_algebra(PENDULUM), output=output)
    kept = library.index(su.consistent_monomials(PENDULUM, 3, target_units=target))
    indicator = np.zeros((len(library), len(kept)))
    indicator[kept, np.arange(len(kept))] = 1.0
    assert sub.dim == len(kept) and sub.residual <= 1e-10
    np.testing.assert_allclose(sub.basis @ sub.basis.T, indicator @ indicator.T, atol=1e-10)
    # every ratio of two kept monomials lies in the Pi lattice
    lattice = su.pi_groups(PENDULUM).exponents
    for row in library.exponents[kept] - library.exponents[kept[0]]:
        sol = solve_rational(lattice.T.tolist(), row.tolist())
        assert sol is not None and all(x.denominator == 1 for x in sol)
