"""UnitsCovariantRegressor: exact units covariance, pendulum extrapolation, scikit-learn compatibility."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import ellipk
from sklearn.base import clone
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import SplineTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

import symlie as sl
import symlie.units as su

PENDULUM_INPUTS = {"l": "m", "m": "kg", "g": "m/s^2", "theta0": "radian"}


def period(X: np.ndarray) -> np.ndarray:
    """Exact pendulum period ``4 sqrt(l/g) K(sin^2(theta0/2))`` (scipy's ellipk takes the parameter m = k^2)."""
    return 4 * np.sqrt(X[:, 0] / X[:, 2]) * ellipk(np.sin(X[:, 3] / 2) ** 2)


@pytest.fixture(scope="module")
def pendulum() -> tuple[np.ndarray, np.ndarray]:
    """Training data at one (l, m, g): only the amplitude varies."""
    theta = np.linspace(0.05, 2.9, 40)
    X = np.column_stack([np.full(40, 1.3), np.full(40, 0.7), np.full(40, 9.81), theta])
    return X, period(X)


@pytest.mark.parametrize("l, m, g", [(100.0, 1.0, 9.81), (1.0, 5e3, 1.62), (0.01, 1e-3, 24.79), (7e3, 80.0, 3.71)])
def test_pendulum_extrapolates_exactly_to_rescaled_l_g_m(
    pendulum: tuple[np.ndarray, np.ndarray], l: float, m: float, g: float
) -> None:
    X, y = pendulum
    reg = su.UnitsCovariantRegressor(KNeighborsRegressor(n_neighbors=1), units=PENDULUM_INPUTS, target_units="s")
    reg.fit(X, y)
    assert reg.prefactor_.name == "l^(1/2) / g^(1/2)"
    assert reg.pi_groups_.names == ("theta0",)  # the mass drops out
    Xt = X.copy()
    Xt[:, :3] = l, m, g
    assert np.max(np.abs(reg.predict(Xt) / period(Xt) - 1)) < 1e-10


def test_rayleigh_jeans_is_a_constant_times_the_prefactor() -> None:
    c, k = 299792458.0, 1.380649e-23
    rng = np.random.default_rng(3)
    lam, T = 10 ** rng.uniform(-5, -3, 30), rng.uniform(300, 3000, 30)
    X = np.column_stack([lam, T, np.full(30, c), np.full(30, k)])
    y = 2 * c * k * T / lam**4
    reg = su.UnitsCovariantRegressor(units={"lambda": "m", "T": "K", "c": "m/s", "k": "J/K"}, target_units="W/m^3")
    reg.fit(X, y)
    assert reg.estimator_ is None and reg.feature_names_ == []
    assert reg.constant_ == pytest.approx(np.log(2.0), abs=1e-12)
    np.testing.assert_allclose(reg.predict(X), y, rtol=1e-12)


@given(st.lists(st.floats(-3, 3), min_size=3, max_size=3))
def test_predictions_transform_exactly_like_the_target_units(log_scales: list[float]) -> None:
    rng = np.random.default_rng(0)
    dims = su.dimension_matrix({"v": "m/s", "r": "m", "mu": "kg/(m s)", "rho": "kg/m^3", "F": "N"})
    X = rng.uniform(0.5, 2.0, (30, 5))
    y = rng.uniform(1.0, 2.0, 30)
    base = make_pipeline(SplineTransformer(n_knots=4), LinearRegression())
    reg = su.UnitsCovariantRegressor(base, units=dims, target_units="N").fit(X, y)
    s = np.exp(np.asarray(log_scales))  # factors of kg, m, s
    X_scaled = X * np.prod(s[:, None] ** dims.matrix, axis=0)[None, :]
    factor = np.prod(s ** dims.vector("N"))
    np.testing.assert_allclose(reg.predict(X_scaled), factor * reg.predict(X), rtol=1e-9)


def test_signs_and_identity_transform() -> None:
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.uniform(-2, 2, 60), rng.uniform(0.5, 2, 60)])  # signed velocity, length
    y = X[:, 0] * X[:, 1]  # mixed signs: identity transform
    reg = su.UnitsCovariantRegressor(units={"v": "m/s", "L": "m"}, target_units="m^2/s").fit(X, y)
    assert reg.target_transform_ == "identity"
    assert reg.feature_names_ == ["sign(v)"]
    np.testing.assert_allclose(reg.predict(X), y, rtol=1e-10)
    pos = su.UnitsCovariantRegressor(units={"v": "m/s", "L": "m"}, target_units="m^2/s").fit(np.abs(X), -np.abs(y))
    assert pos.target_transform_ == "log" and pos.target_sign_ == -1.0
    np.testing.assert_allclose(pos.predict(np.abs(X)), -np.abs(y), rtol=1e-10)


def test_dimensionless_features_and_pipeline(pendulum: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = pendulum
    reg = su.UnitsCovariantRegressor(units=PENDULUM_INPUTS, target_units="s", log_dimensionless=True).fit(X, y)
    np.testing.assert_allclose(reg.dimensionless_features(X)[:, 0], np.log(X[:, 3]))
    assert reg.feature_names_ == ["log|theta0|"]
    params = reg.get_params()
    assert params["units"] is PENDULUM_INPUTS and params["target_units"] == "s"
    twin = clone(reg)
    assert not hasattr(twin, "estimator_") and twin.get_params()["log_dimensionless"] is True
    scores = cross_val_score(make_pipeline(su.UnitsCovariantRegressor(units=PENDULUM_INPUTS, target_units="s")), X, y)
    assert scores.shape == (5,)


def test_bad_input_names_the_argument(pendulum: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = pendulum
    with pytest.raises(sl.ShapeError, match=r"units describes 4 variables.*X has 3 columns"):
        su.UnitsCovariantRegressor(units=PENDULUM_INPUTS, target_units="s").fit(X[:, :3], y)
    with pytest.raises(su.MissingDimensionalConstant, match="target_units"):
        su.UnitsCovariantRegressor(units={"l": "m", "theta0": "rad"}, target_units="s").fit(X[:, [0, 3]], y)
    with pytest.raises(sl.SymlieValueError, match="target_transform must be one of"):
        su.UnitsCovariantRegressor(units=PENDULUM_INPUTS, target_transform="sqrt").fit(X, y)
    with pytest.raises(sl.SymlieValueError, match="target_transform='log'"):
        su.UnitsCovariantRegressor(target_transform="log").fit(X, y - y.mean())
    reg = su.UnitsCovariantRegressor(units=PENDULUM_INPUTS, target_units="s").fit(X, y)
    bad = X.copy()
    bad[0, 2] = 0.0
    with pytest.raises(sl.SymlieValueError, match=r"X\[0, 2\] is zero"):
        reg.predict(bad)


@parametrize_with_checks([su.UnitsCovariantRegressor()], legacy=False)
def test_scikit_learn_api_checks(estimator: su.UnitsCovariantRegressor, check) -> None:  # type: ignore[no-untyped-def]
    check(estimator)
