"""find_dimensional_constant and the scaling-symmetry discovery (symlie.units, issue 8)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import symlie as sl
import symlie.units as su

H, C, K_B = 6.62607015e-34, 299792458.0, 1.380649e-23
BB_INPUTS = {"lambda": "m", "T": "K", "c": "m/s", "k": "J/K"}
RADIANCE = "W/m^3"


def planck_from(X: np.ndarray) -> np.ndarray:
    lam, T = X[:, 0], X[:, 1]
    with np.errstate(over="ignore"):
        return 2 * H * C**2 / lam**5 / np.expm1(H * C / (lam * K_B * T))


def rayleigh_jeans(X: np.ndarray) -> np.ndarray:
    return 2 * C * K_B * X[:, 1] / X[:, 0] ** 4


@pytest.fixture(scope="module")
def blackbody() -> tuple[np.ndarray, np.ndarray]:
    """Noisy Planck data on the benchmark's training grid (coarser: 0.2 dex), intensities below 1e6 dropped."""
    rng = np.random.default_rng(0)
    L, T = (a.ravel() for a in np.meshgrid(10.0 ** np.arange(-8, -3.9, 0.2), [300.0, 1e3, 3e3, 1e4, 3e4]))
    X = np.column_stack([L, T, np.full(L.size, C), np.full(L.size, K_B)])
    y = planck_from(X) * (1 + 0.1 * rng.normal(size=L.size))
    keep = y > 1e6
    return X[keep], y[keep]


# ----------------------------------------------------------------------------------- missing constant
def test_blackbody_search_finds_plancks_constant_class(blackbody: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = blackbody
    found = su.find_dimensional_constant(X, y, units=BB_INPUTS, target_units=RADIANCE, prefer="J s")
    assert found.n_candidates == 5**4 - 1
    assert found.units_name == "kg m^2 s^-1" and found.value / H == pytest.approx(1.0, rel=0.5)  # factor 2
    assert found.group == "c C / (lambda T k)"
    assert found.gain > 3 and found.score < 0.3  # Rayleigh-Jeans alone has RMSE ~ 6 in ln B
    # h, h/c and hc/k are indistinguishable with c and k among the inputs: one class, consistent values
    assert found.equivalent["m K"] == pytest.approx(found.value * C / K_B, rel=1e-9)
    assert found.ranking[0]["units"] == "m K" and found.ranking[0]["group"] == "C / (lambda T)"
    with pytest.warns(UserWarning, match="prefer='m' is not in the winning class"):
        other = su.find_dimensional_constant(X, y, units=BB_INPUTS, target_units=RADIANCE, prefer="m", max_exponent=1)
    assert other.units_name == "m K"
    reg = su.UnitsCovariantRegressor(
        su.default_search_estimator(),
        units=found.units_mapping(),
        target_units=RADIANCE,
        prefactor_using=list(BB_INPUTS),
    ).fit(found.augment(X), y)
    assert np.sqrt(np.mean((np.log(reg.predict(found.augment(X))) - np.log(y)) ** 2)) < 0.2


def test_a_constant_missing_from_the_prefactor_is_found() -> None:
    rng = np.random.default_rng(1)
    l = rng.uniform(0.5, 2.0, 40)
    tau = 2 * np.pi * np.sqrt(l / 9.81)  # g is hidden: no product of l alone has units of time
    with pytest.raises(su.MissingDimensionalConstant):
        su.prefactor({"l": "m"}, "s")
    found = su.find_dimensional_constant(l[:, None], tau, units={"l": "m"}, target_units="s", max_exponent=2)
    assert found.units_name == "m s^-2" and found.group is None
    assert found.value == pytest.approx(9.81 / (2 * np.pi) ** 2, rel=1e-12)  # g with the 2 pi absorbed
    assert found.score < 1e-10


def test_search_bad_input_names_the_argument(blackbody: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = blackbody
    with pytest.raises(sl.SymlieValueError, match="y must be non-zero with one sign"):
        su.find_dimensional_constant(X, y - np.median(y), units=BB_INPUTS, target_units=RADIANCE)
    with pytest.raises(sl.SymlieValueError, match="units describes 4 variables but X has 3"):
        su.find_dimensional_constant(X[:, :3], y, units=BB_INPUTS, target_units=RADIANCE)
    with pytest.raises(sl.SymlieValueError, match="name 'c' is already an input"):
        su.find_dimensional_constant(X, y, units=BB_INPUTS, target_units=RADIANCE, name="c")
    with pytest.raises(sl.SymlieValueError, match="max_exponent must be >= 1"):
        su.find_dimensional_constant(X, y, units=BB_INPUTS, target_units=RADIANCE, max_exponent=0)


# ---------------------------------------------------------------------------------- scaling symmetries
@pytest.fixture(scope="module")
def points() -> np.ndarray:
    rng = np.random.default_rng(2)
    return np.column_stack([10 ** rng.uniform(-7, -5, 40), 10 ** rng.uniform(2.5, 4, 40)])


def test_planck_has_one_scaling_symmetry_wien(points: np.ndarray) -> None:
    found = su.discover_scaling(planck_from, points, units={"lambda": "m", "T": "K"}, target_units=RADIANCE)
    assert found.dim == 1
    assert found.rational == ((Fraction(1), Fraction(-1), Fraction(-5)),)  # lambda -> s lambda, T -> T/s, B -> B/s^5
    assert found.describe() == ["lambda T^-1 y^-5"]
    assert found.singular_values[-1] <= 1e-10 * found.singular_values[0] < found.singular_values[-2]
    assert found.units_rank == 3 and found.n_hidden == 2  # the law needs two constants (2 h c^2 and h c / k)
    alg = found.algebra()
    assert alg.dim == 1 and alg.kind == "linear"
    np.testing.assert_allclose(np.diag(alg.basis[0]) / alg.basis[0][0, 0], [1, -1, -5], atol=1e-9)


def test_rayleigh_jeans_has_two_scaling_symmetries(points: np.ndarray) -> None:
    found = su.discover_scaling(rayleigh_jeans, points, units={"lambda": "m", "T": "K"}, target_units=RADIANCE)
    assert found.dim == 2
    assert found.rational == ((1, 0, -4), (0, 1, 1))
    assert found.n_hidden == 1  # only the product c k


def test_scaling_of_a_fitted_model_and_of_data(points: np.ndarray) -> None:
    rng = np.random.default_rng(5)
    y = rayleigh_jeans(points) * (1 + 0.05 * rng.normal(size=len(points)))
    reg = su.UnitsCovariantRegressor(units=BB_INPUTS, target_units=RADIANCE)
    X = np.column_stack([points, np.full(len(points), C), np.full(len(points), K_B)])
    reg.fit(X, y)
    model = su.discover_scaling(reg, X, units=BB_INPUTS, target_units=RADIANCE)
    # C T c k / lambda^4: one relation among 5 exponents, and every unit change is a symmetry of it
    assert model.dim == 4 and model.units_rank == 4 and model.n_hidden == 0
    data = su.discover_scaling_from_data(points, y, degree=2, names=["lambda", "T"])
    assert data.dim == 2 and "noise" in data.reason
    np.testing.assert_allclose(data.echelon, [[1, 0, -4], [0, 1, 1]], atol=0.05)


def test_scaling_bad_input() -> None:
    with pytest.raises(sl.SymlieTypeError, match="model must be callable"):
        su.discover_scaling(3, np.ones((4, 2)))
    with pytest.raises(sl.SymlieValueError, match="one value per row"):
        su.discover_scaling(lambda X: X, np.ones((4, 2)) + np.eye(4, 2))
    with pytest.raises(sl.SymlieValueError, match="non-zero"):
        su.discover_scaling_from_data(np.zeros((10, 2)), np.ones(10))
