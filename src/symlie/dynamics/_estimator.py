r"""``SymmetricSINDy``: a plain symlie estimator for sparse ODE identification with symmetry.

.. math:: \dot x = W \theta(x), \qquad \min_W \tfrac{1}{2N}\|\Theta(X) W^\top - \dot X\|_F^2
          \;\text{with}\; \begin{cases} \text{STLSQ} & \text{mode="none"}\\
          w \in \mathrm{span}\,B_{sym},\ \text{STLSQ inside} & \text{mode="enforce"}\\
          \text{promote, test, then enforce the discovered symmetry} & \text{mode="promote"}\end{cases}

``mode="promote"`` runs :func:`symlie.dynamics.promote_then_enforce` (not told the symmetry: promoted fits start
maximum-likelihood fits under "a d-dimensional symmetry", a block-bootstrap noise floor decides ``d``, STLSQ
inside the discovered symmetry gives ``coef_``). Derivatives are estimated by a Savitzky-Golay filter (the same
smoothed states are used in the library), or passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._classical import gl
from .._dictionaries import PolynomialLibrary
from .._errors import ShapeError, SymlieValueError
from .._operator import lie_derivative_operator
from .._validation import as_float_array, check_positive_int
from ._fit import (
    PROMOTED_RTOL,
    LeastSquaresData,
    cross_validate_alpha,
    promote_singular_values,
    symmetric_stlsq,
    symmetry_dimension,
)
from ._models import symmetric_basis
from ._select import SymmetrySelection, bracket_tensor, select_symmetry

__all__ = ["PromotedSymmetry", "SymmetricSINDy", "smoothed_derivative"]

_MODES = ("none", "enforce", "promote")


def smoothed_derivative(X: Any, dt: float, *, window: int = 31, polyorder: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Savitzky-Golay smoothed states and their time derivatives.

    Parameters
    ----------
    X : array_like of shape (n_samples, n)
        Uniformly sampled states.
    dt : float
        Sampling step.
    window : int, default 31
        Filter length (odd; shortened to the largest odd number <= n_samples).
    polyorder : int, default 3

    Returns
    -------
    (ndarray of shape (n_samples, n), ndarray of shape (n_samples, n))

    Examples
    --------
    >>> t = np.linspace(0, 1, 50)[:, None]
    >>> X_s, dX = smoothed_derivative(t**2, dt=t[1, 0], window=7)
    >>> bool(np.allclose(dX, 2 * t))
    True
    """
    from scipy.signal import savgol_filter

    X = as_float_array(X, "X", ndim=2)
    if not (isinstance(dt, int | float) and dt > 0):
        raise SymlieValueError(f"dt must be a positive number, got {dt!r}")
    window = min(check_positive_int(window, "window"), len(X) - (1 - len(X) % 2))
    if window <= polyorder:
        raise ShapeError(f"X needs more than polyorder={polyorder} samples for the derivative filter, got {len(X)}")
    smooth = savgol_filter(X, window, polyorder, axis=0)
    deriv = savgol_filter(X, window, polyorder, deriv=1, delta=float(dt), axis=0)
    return smooth, deriv


@dataclass(frozen=True)
class PromotedSymmetry:
    """The symmetry a promoted (or any) fitted model has inside the candidate algebra.

    Attributes
    ----------
    dim : int
        Number of singular values of :math:`\\mathcal M(w)` at or below ``rtol`` times the largest; for a
        promoted fit, the dimension its test decided (``selection.dim``).
    singular_values : ndarray of shape (q,)
        Normalised by the largest, decreasing.
    rtol : float
    candidate : str
    alpha : float or None
        The promotion weight used (``None`` when not promoted).
    cv : dict or None
        The cross-validation record of ``alpha="cv"``.
    selection : SymmetrySelection or None
        The full record of a promoted fit (test statistics, floors, margin, generators).
    """

    dim: int
    singular_values: np.ndarray
    rtol: float
    candidate: str
    alpha: float | None = None
    cv: dict | None = None
    selection: SymmetrySelection | None = None

    @classmethod
    def of(
        cls,
        operator: Any,
        w: np.ndarray,
        candidate: Any,
        alpha: float | None,
        cv: dict | None,
        selection: SymmetrySelection | None,
    ) -> PromotedSymmetry:
        """The record for coefficients ``w`` (flat, in the operator's parameter order) of a fitted model."""
        s = promote_singular_values(operator, w)
        s = s / s[0] if len(s) and s[0] > 0 else s
        dim = selection.dim if selection is not None else symmetry_dimension(s)
        return cls(dim, s, PROMOTED_RTOL, getattr(candidate, "name", str(candidate)), alpha, cv, selection)


def promote_alphas(
    alpha: Any, Theta: np.ndarray, Xdot: np.ndarray, operator: Any, threshold: float, l1: float
) -> tuple[Any, dict | None]:
    """Promotion weights for ``alpha`` = a number, ``"auto"`` (``None``: the default pair) or ``"cv"``."""
    if isinstance(alpha, str):
        if alpha == "auto":
            return None, None
        if alpha == "cv":
            chosen, cv = cross_validate_alpha(Theta, Xdot, operator, threshold=threshold, l1=l1)
            return [chosen], cv
        raise SymlieValueError(f"alpha must be a positive number, 'auto' or 'cv', got {alpha!r}")
    return [float(alpha)], None


class SymmetricSINDy:
    r"""Sparse identification of polynomial ODEs with symmetry enforced or promoted.

    Parameters
    ----------
    degree : int, default 2
        Degree of the polynomial library (PySINDy's order, with the constant).
    mode : {"none", "enforce", "promote"}, default "none"
        ``"promote"`` runs :func:`~symlie.dynamics.promote_then_enforce` (record in ``symmetry_.selection``).
    symmetry : LieAlgebra, Group, subspace, array or list, optional
        What ``mode="enforce"`` imposes (see :func:`symlie.dynamics._models.symmetric_basis`).
    candidate : LieAlgebra, optional
        The algebra used by ``mode="promote"`` and reported in ``symmetry_`` (default ``gl(n)``).
    threshold : float, default 0.1
        STLSQ threshold on ``|W|``.
    ridge : float, default 0
        Ridge weight of the (1/N-scaled) loss.
    alpha : float, "auto" or "cv", default "auto"
        Nuclear-norm weight of the promoted fits that start ``mode="promote"``'s symmetric fits: ``"auto"`` uses
        two weights on the problem's scale, ``"cv"`` one chosen by blocked cross-validation (slower).
    l1 : float, default 0
        l1 weight of the promoted fits.
    max_iter : int, default 20
    window : int, default 31
        Savitzky-Golay window for derivatives estimated in :meth:`fit`.
    drop_edges : bool, default True
        Drop the first and last ``window // 2`` samples of each trajectory when the derivatives are estimated
        here: there the filter extrapolates, and its errors are systematic (they mimic broken symmetry).

    Attributes
    ----------
    coef_ : ndarray of shape (n, n_terms)
        ``W`` (``Xi^T``).
    library_ : PolynomialLibrary
    symmetry_ : PromotedSymmetry
        Symmetry of the fitted model inside ``candidate``.
    n_iter_ : int

    Examples
    --------
    >>> import symlie as sl
    >>> from symlie.dynamics import SymmetricSINDy, lorenz, simulate
    >>> t, X = simulate(lorenz(), 2000)
    >>> Z2 = sl.Group(None, [np.diag([-1.0, -1.0, 1.0])])
    >>> model = SymmetricSINDy(degree=2, mode="enforce", symmetry=Z2, threshold=0.5).fit(X, t=t)
    >>> model.equations(precision=3)
    ['-10 x0 + 10 x1', '28 x0 - 1 x1 - 1 x0 x2', '-2.67 x2 + 1 x0 x1']
    """

    def __init__(
        self,
        degree: int = 2,
        *,
        mode: str = "none",
        symmetry: Any = None,
        candidate: Any = None,
        threshold: float = 0.1,
        ridge: float = 0.0,
        alpha: Any = "auto",
        l1: float = 0.0,
        max_iter: int = 20,
        window: int = 31,
        drop_edges: bool = True,
    ) -> None:
        self.degree = degree
        self.mode = mode
        self.symmetry = symmetry
        self.candidate = candidate
        self.threshold = threshold
        self.ridge = ridge
        self.alpha = alpha
        self.l1 = l1
        self.max_iter = max_iter
        self.window = window
        self.drop_edges = drop_edges

    def _data(self, X: Any, t: Any, x_dot: Any) -> tuple[np.ndarray, np.ndarray]:
        trajectories = X if isinstance(X, list) else [X]
        states, derivs = [], []
        for k, traj in enumerate(trajectories):
            traj = as_float_array(traj, f"X[{k}]" if isinstance(X, list) else "X", ndim=2)
            if x_dot is not None:
                d = x_dot[k] if isinstance(X, list) else x_dot
                states.append(traj)
                derivs.append(as_float_array(d, "x_dot", shape=traj.shape))
                continue
            if t is None:
                raise SymlieValueError("pass t (a time step or sample times) or x_dot to fit")
            dt = float(t) if np.ndim(t) == 0 else float(np.mean(np.diff(np.asarray(t, dtype=float))))
            s, d = smoothed_derivative(traj, dt, window=self.window)
            h = min(self.window, len(s)) // 2 if self.drop_edges else 0
            if len(s) <= 2 * h:
                raise ShapeError(f"a trajectory needs more than {2 * h} samples with drop_edges=True, got {len(s)}")
            states.append(s[h : len(s) - h])
            derivs.append(d[h : len(s) - h])
        return np.concatenate(states), np.concatenate(derivs)

    def fit(self, X: Any, t: Any = None, *, x_dot: Any = None) -> SymmetricSINDy:
        """Fit on one trajectory (n_samples, n) or a list of them.

        Parameters
        ----------
        X : array_like of shape (n_samples, n), or list of them
        t : float or array_like of shape (n_samples,), optional
            Time step or sample times (uniform), for the derivative filter.
        x_dot : array_like like X, optional
            Derivatives (then ``t`` is not used and ``X`` is not smoothed).

        Returns
        -------
        self
        """
        if self.mode not in _MODES:
            raise SymlieValueError(f"mode must be one of {_MODES}, got {self.mode!r}")
        if self.mode == "enforce" and self.symmetry is None:
            raise SymlieValueError("mode='enforce' needs symmetry= (a LieAlgebra, Group or subspace)")
        states, derivs = self._data(X, t, x_dot)
        n = states.shape[1]
        library = PolynomialLibrary(n, check_positive_int(self.degree, "degree", minimum=1))
        Theta = library.evaluate(states)
        data = LeastSquaresData.from_data(Theta, derivs)
        candidate = self.candidate if self.candidate is not None else gl(n)
        operator = lie_derivative_operator(library, candidate, "vector_field", points="exact")
        alpha_used, cv, selection = None, None, None
        if self.mode == "promote":
            alphas, cv = promote_alphas(self.alpha, Theta, derivs, operator, self.threshold, self.l1)
            selection = select_symmetry(
                Theta, derivs, bracket_tensor(operator), candidate, threshold=self.threshold, alphas=alphas, l1=self.l1
            )
            W, alpha_used = selection.coef, selection.alpha
            self.n_iter_ = len(selection.statistics) - 1  # hypotheses tested
        else:
            basis = symmetric_basis(library, self.symmetry) if self.mode == "enforce" else None
            W, self.n_iter_ = symmetric_stlsq(
                data, basis, threshold=self.threshold, ridge=self.ridge, max_iter=self.max_iter
            )
        self.coef_ = W
        self.library_ = library
        self.symmetry_ = PromotedSymmetry.of(operator, W, candidate, alpha_used, cv, selection)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise SymlieValueError("this SymmetricSINDy is not fitted yet; call fit first")

    def predict(self, X: Any) -> np.ndarray:
        r"""The fitted right-hand side :math:`\Theta(X) W^\top`, shape (n_samples, n)."""
        self._check_fitted()
        return self.library_.evaluate(X) @ self.coef_.T

    def simulate(self, x0: Any, n_steps: int, dt: float) -> tuple[np.ndarray, np.ndarray]:
        """Integrate the fitted model (see :func:`symlie.dynamics.simulate`)."""
        from ._systems import simulate

        self._check_fitted()
        return simulate(self.predict, n_steps, dt=dt, x0=x0)

    def equations(self, *, precision: int = 4) -> list[str]:
        """Readable right-hand sides."""
        self._check_fitted()
        names = self.library_.feature_names()
        rows = []
        for row in self.coef_:
            terms = [f"{c:.{precision}g} {t}" if t != "1" else f"{c:.{precision}g}" for c, t in zip(row, names) if c]
            rows.append(" + ".join(terms).replace("+ -", "- ") or "0")
        return rows
