r"""Discover the scaling symmetries of a model or of data.

A diagonal generator :math:`(\alpha, \beta)` rescales :math:`x_i \to s^{\alpha_i} x_i` and the output by
:math:`s^\beta`. A function ``F`` is symmetric under it iff

.. math:: \sum_i \alpha_i\, x_i\, \partial_i F(x) = \beta\, F(x) \quad\text{for all } x,

the Lie derivative of ``F`` along the diagonal field. Sampling this at points gives a matrix whose null space is
the algebra of scaling symmetries. Unit changes are such scalings (:func:`units_algebra`); each independent
dimensional constant hidden in ``F`` breaks at most one of them, so the number of unit scalings that are *not*
symmetries is a lower bound on the number of hidden constants.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from .._algebra import LieAlgebra
from .._dictionaries import PolynomialLibrary
from .._errors import SpectralGapWarning, SymlieTypeError, SymlieValueError
from .._linalg import null_space
from .._validation import as_float_array, check_positive_int, make_rng
from ._dimensions import UnitsSpec, dimension_matrix
from ._lattice import format_units

__all__ = ["ScalingSymmetries", "discover_scaling", "discover_scaling_from_data"]

_RTOL = 1e-7


@dataclass(frozen=True)
class ScalingSymmetries:
    r"""The scaling symmetries :math:`(\alpha, \beta)` found, with their certificate.

    Attributes
    ----------
    generators : ndarray of shape (dim, n_features + 1)
        Orthonormal rows :math:`(\alpha_1, ..., \alpha_m, \beta)`.
    echelon : ndarray of shape (dim, n_features + 1)
        The same space in reduced row echelon form (readable exponents).
    rational : tuple of tuple of Fraction, or None
        :attr:`echelon` with small rational entries, when it is that close to them.
    singular_values : ndarray of shape (n_features + 1,)
        Spectrum of the sampled Lie-derivative matrix (rows normalised per point), decreasing.
    threshold : float
        Singular values at or below it count as symmetries.
    reason : str
        Why that threshold (relative tolerance, or the noise level of the data).
    variables : tuple of str
        Names of the inputs followed by the output.
    units_rank : int or None
        With ``units``: the number of independent unit scalings acting on (inputs, output).
    n_hidden : int or None
        With ``units``: unit scalings that are not symmetries, a lower bound on the number of independent
        dimensional constants hidden in the model.
    """

    generators: np.ndarray
    echelon: np.ndarray
    rational: tuple[tuple[Fraction, ...], ...] | None
    singular_values: np.ndarray
    threshold: float
    reason: str
    variables: tuple[str, ...]
    units_rank: int | None = None
    n_hidden: int | None = None

    @property
    def dim(self) -> int:
        return int(self.generators.shape[0])

    def algebra(self) -> LieAlgebra:
        """The symmetries as an abelian :class:`~symlie.LieAlgebra` of diagonal matrices on (inputs, output)."""
        k = self.generators.shape[1]
        return LieAlgebra(np.array([np.diag(g) for g in self.generators]).reshape(self.dim, k, k), name="scalings")

    def describe(self) -> list[str]:
        """Each echelon generator as exponents, e.g. ``'lambda T^-1 y^-5'`` (3 significant digits if not rational)."""
        if self.rational is not None:
            return [format_units(row, self.variables) for row in self.rational]
        return [" ".join(f"{v}^{x:.3g}" for v, x in zip(self.variables, row) if abs(x) > 1e-12) for row in self.echelon]


def _echelon(
    generators: np.ndarray, *, max_denominator: int = 12, tol: float = 1e-6
) -> tuple[np.ndarray, tuple | None]:
    """Reduced row echelon form of the row space, and the same with small-fraction entries (None if not close)."""
    rows = generators.copy()
    k, n = rows.shape
    pivot_row = 0
    for col in range(n):
        if pivot_row == k:
            break
        best = pivot_row + int(np.argmax(np.abs(rows[pivot_row:, col])))
        if abs(rows[best, col]) < 1e-9:
            continue
        rows[[pivot_row, best]] = rows[[best, pivot_row]]
        rows[pivot_row] /= rows[pivot_row, col]
        for r in range(k):
            if r != pivot_row:
                rows[r] -= rows[r, col] * rows[pivot_row]
        pivot_row += 1
    fractions = tuple(tuple(Fraction(float(x)).limit_denominator(max_denominator) for x in row) for row in rows)
    exact = np.array([[float(x) for x in row] for row in fractions]).reshape(rows.shape)
    return rows, (fractions if k == 0 or np.max(np.abs(exact - rows)) <= tol else None)


def _units_diagnosis(units: Any, target_units: UnitsSpec, generators: np.ndarray) -> tuple[int, int]:
    dims = dimension_matrix(units).with_base_units(target_units)
    target = dims.vector(target_units, what="target_units")
    scalings = np.hstack([dims.matrix, target[:, None]]).astype(np.float64)
    if scalings.shape[1] != generators.shape[1]:
        raise SymlieValueError(
            f"units describes {dims.n_variables} inputs but the model has {generators.shape[1] - 1} inputs"
        )
    u, s, _ = np.linalg.svd(scalings.T, full_matrices=False)
    rank = int(np.sum(s > 1e-9 * max(1.0, s[0] if len(s) else 0.0)))
    if rank == 0 or generators.shape[0] == 0:
        return rank, rank
    cosines = np.linalg.svd(u[:, :rank].T @ generators.T, compute_uv=False)
    shared = int(np.sum(cosines > 1 - 1e-6))
    return rank, rank - shared


def _result(
    rows: np.ndarray, threshold: float | None, reason: str, names: Sequence[str], units: Any, target_units: Any
) -> ScalingSymmetries:
    """Null space of the sampled rows: relative rule of :func:`~symlie.null_space`, or an absolute threshold."""
    rows = rows[np.linalg.norm(rows, axis=1) > 0]
    if threshold is None:
        space = null_space(rows, rtol=_RTOL, what="scaling symmetries")
        basis, singular, threshold = space.basis, space.singular_values, space.threshold
    else:
        _, singular, vh = np.linalg.svd(rows, full_matrices=True)
        singular = np.pad(singular, (0, rows.shape[1] - len(singular)))
        near = (singular > threshold / 3) & (singular < 3 * threshold)
        if np.any(near):
            warnings.warn(
                f"scaling symmetries: singular values {singular[near]} lie within a factor 3 of the noise threshold "
                f"{threshold:.3g}; the dimension is uncertain (more data or less noise would settle it)",
                SpectralGapWarning,
                stacklevel=3,
            )
        basis = vh[int(np.sum(singular > threshold)) :].T
    generators = basis.T.copy()
    units_rank = n_hidden = None
    if units is not None:
        units_rank, n_hidden = _units_diagnosis(units, target_units, generators)
    echelon, rational = _echelon(generators)
    return ScalingSymmetries(
        generators, echelon, rational, singular, float(threshold), reason, tuple(names), units_rank, n_hidden
    )


def _names(names: Sequence[str] | None, units: Any, m: int) -> list[str]:
    if names is None and units is not None:
        names = list(dimension_matrix(units).variables)
    names = list(names) if names is not None else [f"x{i}" for i in range(m)]
    if len(names) != m:
        raise SymlieValueError(f"names must have {m} entries, got {len(names)}")
    return [*names, "y"]


def discover_scaling(
    model: Callable[[np.ndarray], Any] | Any,
    X: Any,
    *,
    units: Any = None,
    target_units: UnitsSpec = None,
    names: Sequence[str] | None = None,
    step: float = 1e-3,
    rtol: float = _RTOL,
) -> ScalingSymmetries:
    r"""Scaling symmetries of a model: the kernel of :math:`(\alpha, \beta) \mapsto \alpha \cdot x\nabla F - \beta F`.

    The derivatives :math:`x_i \partial_i F = \frac{d}{dt} F(\ldots, e^t x_i, \ldots)|_{t=0}` are taken by a
    five-point stencil in ``t`` (error :math:`O(\text{step}^4)`); each sampled row is normalised so that points
    where ``F`` is huge or tiny weigh alike.

    Parameters
    ----------
    model : callable or fitted estimator
        ``model(X) -> (n_samples,)`` or an object with ``predict``.
    X : array_like of shape (n_samples, n_features)
        Generic points (more than ``n_features + 1`` of them).
    units, target_units : optional
        The inputs' and output's units; adds the hidden-constant diagnosis (``units_rank``, ``n_hidden``).
    names : sequence of str, optional
    step : float, default 1e-3
    rtol : float, default 1e-7
        Singular values at or below ``rtol`` (rows are unit vectors) count as symmetries.

    Returns
    -------
    ScalingSymmetries

    Examples
    --------
    >>> import numpy as np
    >>> rj = lambda X: X[:, 1] / X[:, 0] ** 4  # Rayleigh-Jeans up to constants: B ~ T / lambda^4
    >>> X = np.random.default_rng(0).uniform(1, 2, (20, 2))
    >>> found = discover_scaling(rj, X, names=["lambda", "T"])
    >>> found.dim, found.describe()
    (2, ['lambda y^-4', 'T y'])
    """
    predict = model.predict if hasattr(model, "predict") else model
    if not callable(predict):
        raise SymlieTypeError(f"model must be callable or have predict, got {type(model).__name__}")
    X = as_float_array(X, "X", ndim=2)
    n, m = X.shape
    if not step > 0:
        raise SymlieValueError(f"step must be positive, got {step}")

    def evaluate(points: np.ndarray) -> np.ndarray:
        values = np.asarray(predict(points), dtype=np.float64).reshape(-1)
        if values.shape != (len(points),):
            raise SymlieValueError(f"model must return one value per row of X, got shape {values.shape}")
        return values

    offsets = np.array([2.0, 1.0, -1.0, -2.0]) * step
    weights = np.array([-1.0, 8.0, -8.0, 1.0]) / (12 * step)
    factors = np.exp(offsets)
    stack = np.repeat(X[None, None], 4, axis=0).repeat(m, axis=1)  # (4, m, n, m)
    for i in range(m):
        stack[:, i, :, i] *= factors[:, None]
    values = evaluate(stack.reshape(-1, m)).reshape(4, m, n)
    center = evaluate(X)
    if (np.all(values > 0) and np.all(center > 0)) or (np.all(values < 0) and np.all(center < 0)):
        # divide the condition by F: x_i d_i log|F| = beta, far better conditioned when F spans many decades
        rows = np.hstack([np.einsum("s,sin->ni", weights, np.log(np.abs(values))), -np.ones((n, 1))])
    else:
        rows = np.hstack([np.einsum("s,sin->ni", weights, values), -center[:, None]])
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    rows = np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)
    if rtol != _RTOL:
        return _result(rows, rtol * float(np.linalg.norm(rows, 2)), f"relative tolerance {rtol:g}",
                       _names(names, units, m), units, target_units)  # fmt: skip
    return _result(rows, None, f"relative tolerance {rtol:g}", _names(names, units, m), units, target_units)


def discover_scaling_from_data(
    X: Any,
    y: Any,
    *,
    degree: int = 2,
    units: Any = None,
    target_units: UnitsSpec = None,
    names: Sequence[str] | None = None,
    n_draws: int = 50,
    seed: int | np.random.Generator | None = 0,
) -> ScalingSymmetries:
    r"""Scaling symmetries of data, through a polynomial surrogate in log coordinates.

    With :math:`u = \log|x|`, fit :math:`\log|y| \approx P(u)` (polynomial of ``degree``) by least squares.
    Then :math:`x_i \partial_i F / F = \partial_{u_i} P`, and the symmetry condition is
    :math:`\alpha \cdot \nabla_u P(u_n) = \beta` at every sample. The threshold is calibrated against noise: the
    largest spectral norm of the same matrix built from coefficient errors drawn from the least-squares
    covariance (``n_draws`` draws), so singular values that noise alone could produce count as symmetries.
    Surrogate bias (a law that is not a polynomial of this degree in ``u``) is not covered.

    Parameters
    ----------
    X : array_like of shape (n_samples, n_features)
        Non-zero.
    y : array_like of shape (n_samples,)
        Non-zero.
    degree : int, default 2
    units, target_units, names : optional
        As in :func:`discover_scaling`.
    n_draws : int, default 50
    seed : int, Generator or None, default 0

    Returns
    -------
    ScalingSymmetries
    """
    X = as_float_array(X, "X", ndim=2)
    y = as_float_array(y, "y", shape=(X.shape[0],))
    degree = check_positive_int(degree, "degree")
    n_draws = check_positive_int(n_draws, "n_draws")
    if np.any(X == 0) or np.any(y == 0):
        raise SymlieValueError("X and y must be non-zero: the surrogate is fitted in log coordinates")
    n, m = X.shape
    u = np.log(np.abs(X))
    center, spread = u.mean(axis=0), u.std(axis=0)
    spread[spread == 0] = 1.0
    library = PolynomialLibrary(m, degree)
    design = library.evaluate((u - center) / spread)
    if n <= len(library):
        raise SymlieValueError(f"need more than {len(library)} samples for a degree-{degree} surrogate, got {n}")
    coef, *_ = np.linalg.lstsq(design, np.log(np.abs(y)), rcond=None)
    residual = np.log(np.abs(y)) - design @ coef
    sigma2 = float(residual @ residual) / (n - len(library))
    jac = library.jacobian((u - center) / spread) / spread[None, None, :]  # (n, L, m): d theta_l / d u_i

    def matrix(c: np.ndarray, offset: float) -> np.ndarray:
        return np.hstack([np.einsum("nli,l->ni", jac, c), np.full((n, 1), -offset)])

    rows = matrix(coef, 1.0)
    rng = make_rng(seed)
    cov = sigma2 * np.linalg.pinv(design.T @ design)
    eigenvalues, eigenvectors = np.linalg.eigh(cov)
    chol = eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))[None, :]
    noise = max(float(np.linalg.norm(matrix(chol @ rng.standard_normal(len(coef)), 0.0), 2)) for _ in range(n_draws))
    threshold = max(noise, 1e-10 * float(np.linalg.norm(rows, 2)))
    reason = f"noise level: largest spectral norm of {n_draws} noise-only draws"
    return _result(rows, threshold, reason, _names(names, units, m), units, target_units)
