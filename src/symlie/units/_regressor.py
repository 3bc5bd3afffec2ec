r"""A scikit-learn meta-estimator that is exactly covariant under changes of units.

It fits :math:`y = \pm x^v g(\pi(x))`: the prefactor :math:`x^v` carries the target's units (:func:`prefactor`),
the Pi groups :math:`\pi(x)` are dimensionless (:func:`pi_groups`) and ``g`` is any regressor fitted on their
logarithms. Rescaling the base units multiplies every prediction by exactly the target's unit factor, whatever
``g`` is. Needs the ``units`` extra (scikit-learn and pint).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.linear_model import LinearRegression
from sklearn.utils.validation import check_is_fitted, validate_data

from .._errors import ShapeError, SymlieValueError
from ._dimensions import DimensionMatrix, UnitsSpec, dimension_matrix
from ._pi import PiGroups, Prefactor, log_monomials, pi_groups, prefactor

__all__ = ["UnitsCovariantRegressor"]

_TRANSFORMS = ("auto", "log", "identity")


class UnitsCovariantRegressor(RegressorMixin, BaseEstimator):
    r"""Regression that respects units exactly: :math:`y = s\, |x|^{v}\, g(\log|\pi(x)|)`.

    The inputs' dimension matrix ``A`` gives the Pi groups :math:`\pi_k = x^{E_k}` (:math:`A E_k = 0`) and a
    prefactor :math:`x^v` with :math:`A v = a_y` (:func:`prefactor`). The base estimator ``g`` is fitted on the
    features :math:`\log|\pi_k(x)|` (a Pi group that is a single dimensionless input is passed as is), plus the
    sign of every input that enters them and takes both signs in the training data. The target is the
    dimensionless ratio :math:`r = y / |x|^v`, modelled as :math:`r = s\,e^{g}` (``target_transform="log"``) or
    :math:`r = g` (``"identity"``). Because every feature and the ratio are invariant under unit changes,
    predictions transform exactly like the target's units for any base estimator.

    Parameters
    ----------
    base_estimator : regressor, optional
        Any scikit-learn regressor; cloned at fit. Default :class:`~sklearn.linear_model.LinearRegression`
        (a power law in the Pi groups).
    units : mapping, sequence or DimensionMatrix, optional
        The inputs' units, one per column of ``X`` (anything :func:`dimension_matrix` accepts). Default: all
        inputs dimensionless.
    target_units : units spec, optional
        The target's units. Default dimensionless.
    prefactor_using : sequence of str or int, optional
        Restrict the prefactor to these inputs (see :func:`prefactor`).
    target_transform : {"auto", "log", "identity"}, default "auto"
        ``"auto"`` uses the log when the training ratios are non-zero with one sign.
    log_dimensionless : bool, default False
        Also take the log of Pi groups that are a single dimensionless input.

    Attributes
    ----------
    dimensions_ : DimensionMatrix
    pi_groups_ : PiGroups
    prefactor_ : Prefactor
    feature_names_ : list of str
        Names of the features passed to the base estimator.
    target_transform_ : str
        ``"log"`` or ``"identity"``.
    target_sign_ : float
        The sign ``s`` of the training ratios (``1.0`` with the identity transform).
    estimator_ : regressor or None
        The fitted clone of ``base_estimator`` (``None`` when there is no feature and ``g`` is a constant).
    constant_ : float or None
        The constant ``g`` when there is no feature (e.g. Rayleigh-Jeans from ``lambda, T, c, k``).
    n_features_in_ : int

    Raises
    ------
    MissingDimensionalConstant
        At fit, when no product of the inputs has the target's units.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([rng.uniform(0.5, 2, 50), rng.uniform(9, 10, 50)])  # length, gravity
    >>> y = 2 * np.pi * np.sqrt(X[:, 0] / X[:, 1])  # small-angle period
    >>> reg = UnitsCovariantRegressor(units={"l": "m", "g": "m/s^2"}, target_units="s").fit(X, y)
    >>> reg.prefactor_.name, reg.pi_groups_.n_groups, bool(np.isclose(reg.constant_, np.log(2 * np.pi)))
    ('l^(1/2) / g^(1/2)', 0, True)
    >>> bool(np.allclose(reg.predict([[100.0, 1.62]]), 2 * np.pi * np.sqrt(100 / 1.62)))
    True
    """

    def __init__(
        self,
        base_estimator: Any = None,
        *,
        units: Any = None,
        target_units: UnitsSpec = None,
        prefactor_using: Sequence[str | int] | None = None,
        target_transform: str = "auto",
        log_dimensionless: bool = False,
    ) -> None:
        self.base_estimator = base_estimator
        self.units = units
        self.target_units = target_units
        self.prefactor_using = prefactor_using
        self.target_transform = target_transform
        self.log_dimensionless = log_dimensionless

    # ------------------------------------------------------------------------------------------ helpers
    def _dimensions(self, n_features: int) -> DimensionMatrix:
        if self.units is None:
            return DimensionMatrix(
                np.zeros((0, n_features), dtype=np.int64), variables=[f"x{i}" for i in range(n_features)], base_units=[]
            )
        dims = dimension_matrix(self.units)
        if dims.n_variables != n_features:
            raise ShapeError(
                f"units describes {dims.n_variables} variables {list(dims.variables)} but X has {n_features} columns"
            )
        return dims

    def _raw_columns(self, groups: PiGroups, dims: DimensionMatrix) -> list[int | None]:
        """For each group, the input column passed as is (a lone dimensionless input), else ``None``."""
        out: list[int | None] = []
        for row in groups.exponents:
            used = np.flatnonzero(row)
            lone = len(used) == 1 and row[used[0]] == 1 and not np.any(dims.matrix[:, used[0]])
            out.append(int(used[0]) if lone and not self.log_dimensionless else None)
        return out

    def _features(self, X: np.ndarray) -> np.ndarray:
        columns = []
        logs = [k for k, c in enumerate(self._raw_) if c is None]
        if logs:
            columns.append(log_monomials(X, self.pi_groups_.exponents[logs].astype(np.float64), "X"))
        columns += [X[:, [c]] for c in self._raw_ if c is not None]
        columns += [np.sign(X[:, self._signed_])]
        return np.hstack(columns) if columns else np.zeros((len(X), 0))

    # ---------------------------------------------------------------------------------------------- API
    def fit(self, X: Any, y: Any) -> UnitsCovariantRegressor:
        """Fit the base estimator on the Pi features and the dimensionless target.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        y : array_like of shape (n_samples,)

        Returns
        -------
        self
        """
        if self.target_transform not in _TRANSFORMS:
            raise SymlieValueError(f"target_transform must be one of {_TRANSFORMS}, got {self.target_transform!r}")
        X, y = validate_data(self, X, y, y_numeric=True)
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        dims = self._dimensions(X.shape[1])
        if self.units is not None and hasattr(self, "feature_names_in_"):
            if list(self.feature_names_in_) != list(dims.variables):
                raise SymlieValueError(
                    f"the columns of X {list(self.feature_names_in_)} do not match the variables of units "
                    f"{list(dims.variables)}; reorder X or units"
                )
        self.dimensions_ = dims
        self.prefactor_: Prefactor = prefactor(dims, self.target_units, using=self.prefactor_using)
        self.pi_groups_: PiGroups = pi_groups(dims)
        self._raw_ = self._raw_columns(self.pi_groups_, dims)
        in_logs = np.any(self.pi_groups_.exponents[[k for k, c in enumerate(self._raw_) if c is None]] != 0, axis=0)
        in_logs |= self.prefactor_.vector != 0
        self._signed_ = [int(i) for i in np.flatnonzero(in_logs) if np.any(X[:, i] < 0) and np.any(X[:, i] > 0)]
        names = [f"log|{n}|" for n, c in zip(self.pi_groups_.names, self._raw_) if c is None]
        names += [n for n, c in zip(self.pi_groups_.names, self._raw_) if c is not None]
        self.feature_names_ = names + [f"sign({dims.variables[i]})" for i in self._signed_]
        log_scale = self.prefactor_.log_abs(X)
        ratio_sign = np.sign(y)
        use_log = self.target_transform == "log" or (
            self.target_transform == "auto" and np.all(y != 0) and np.all(ratio_sign == ratio_sign[0])
        )
        if use_log:
            if np.any(y == 0) or not np.all(ratio_sign == ratio_sign[0]):
                raise SymlieValueError(
                    "target_transform='log' needs a target that is non-zero with one sign; use 'identity'"
                )
            self.target_transform_ = "log"
            self.target_sign_ = float(ratio_sign[0])
            target = np.log(np.abs(y)) - log_scale
        else:
            self.target_transform_ = "identity"
            self.target_sign_ = 1.0
            target = y * np.exp(-log_scale)
        features = self._features(X)
        if features.shape[1] == 0:
            self.estimator_ = None
            self.constant_: float | None = float(np.mean(target))
        else:
            base = LinearRegression() if self.base_estimator is None else self.base_estimator
            self.estimator_ = clone(base).fit(features, target)
            self.constant_ = None
        return self

    def dimensionless_features(self, X: Any) -> np.ndarray:
        """The dimensionless features given to the base estimator, shape (n_samples, len(feature_names_))."""
        check_is_fitted(self, "target_transform_")
        X = np.asarray(validate_data(self, X, reset=False), dtype=np.float64)
        return self._features(X)

    def predict(self, X: Any) -> np.ndarray:
        r"""Predictions :math:`s\,|x|^v e^{g(\text{features})}` (or :math:`|x|^v g`), shape (n_samples,)."""
        check_is_fitted(self, "target_transform_")
        X = np.asarray(validate_data(self, X, reset=False), dtype=np.float64)
        features = self._features(X)
        if self.estimator_ is None:
            g = np.full(len(X), self.constant_)
        else:
            g = np.asarray(self.estimator_.predict(features), dtype=np.float64).reshape(len(X))
        log_scale = self.prefactor_.log_abs(X)
        if self.target_transform_ == "log":
            return self.target_sign_ * np.exp(g + log_scale)
        return g * np.exp(log_scale)
