r"""``SymmetricRegressor``: polynomial regression that enforces, promotes or ignores a Lie-group symmetry.

The model is :math:`F(x) = W \theta(x)` with :math:`\theta` the monomials of degree :math:`\le` ``degree`` and ``W``
of shape ``(n_outputs, L)``. Three modes:

* ``"none"``: least squares (minimum-norm when under-determined);
* ``"enforce"``: least squares inside the symmetric subspace :math:`W = B c` of :func:`symlie.enforce`;
* ``"promote"``: :func:`symlie.promote`, the nuclear norm :math:`R(W) = \|\mathcal{M}(W)\|_*` of the Lie-derivative
  matrix over the candidate algebra. ``alpha = 0`` minimises :math:`R` over the least-squares solutions (exact
  interpolation when the data are consistent, as in the recovery experiment); ``alpha > 0`` solves
  :math:`\min \tfrac12\|\Theta W - y\|^2 + \alpha R(W)`.

After ``fit``, ``symmetry_`` describes the symmetry of the fitted model (the kernel of
:math:`\xi \mapsto L_\xi F_W`, judged at ``symmetry_rtol``) and ``penalty_ratio_`` says how close to symmetric it
is. Needs scikit-learn (the ``sklearn`` extra); ``import symlie`` does not import this module until
``symlie.SymmetricRegressor`` is first used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ._algebra import LieAlgebra
from ._dictionaries import PolynomialLibrary
from ._errors import SymlieTypeError, SymlieValueError
from ._groups import Group

__all__ = ["FitSymmetry", "SymmetricRegressor"]

_MODES = ("promote", "enforce", "none")


@dataclass(frozen=True, eq=False)
class FitSymmetry:
    r"""The symmetry of a fitted polynomial model inside the candidate algebra.

    Attributes
    ----------
    dim : int
        Number of normalised singular values of :math:`\mathcal{M}(W)` at or below ``threshold``.
    singular_values : ndarray of shape (q,)
        Singular values of :math:`\mathcal{M}(W)` divided by :math:`\|T\|_2 \|W\|_F` (decreasing, in [0, 1]:
        :math:`\|T\|_2` is the spectral norm of the stacked operator, the largest :math:`\|\mathcal{M}(W)\|_2`
        over unit ``W``; all zero for ``W = 0``).
    threshold : float
        The relative threshold used (the regressor's ``symmetry_rtol``).
    generators : ndarray of shape (dim, n, n_terms)
        Frobenius-orthonormal generators of the symmetry, in the layout of ``candidate.basis``.
    candidate : LieAlgebra
        The Frobenius-orthonormalised candidate algebra.
    """

    dim: int
    singular_values: np.ndarray
    threshold: float
    generators: np.ndarray
    candidate: LieAlgebra

    def __repr__(self) -> str:
        return (
            f"FitSymmetry(dim={self.dim} of q={self.candidate.dim} in {self.candidate.name}, rtol={self.threshold:g})"
        )


def _operator_norm(matrix: Any) -> float:
    """Spectral norm of the stacked operator (rows * q, P): the largest :math:`\\|\\mathcal{M}(w)\\|_2 / \\|w\\|`."""
    import scipy.sparse as sp

    if sp.issparse(matrix):
        gram = (matrix.T @ matrix).toarray()
    else:
        gram = np.asarray(matrix).T @ np.asarray(matrix)
    return float(np.sqrt(max(np.linalg.eigvalsh(gram)[-1], 0.0))) if gram.size else 0.0


def _kron_design(theta: np.ndarray, n_out: int) -> np.ndarray:
    """Design of the row-major flattening of ``W`` (shape (n_out, L)): ``kron(eye(n_out), theta)``."""
    return np.kron(np.eye(n_out), theta) if n_out > 1 else theta


class SymmetricRegressor(RegressorMixin, BaseEstimator):
    r"""Polynomial regression with a Lie-group symmetry: enforced, promoted (nuclear norm) or ignored.

    .. math:: \min_W \tfrac12\|\Theta(X) W^\top - Y\|_F^2 + \alpha \|\mathcal{M}(W)\|_*

    Parameters
    ----------
    degree : int, default 2
        Largest total degree of the monomials.
    algebra : LieAlgebra or Group, optional
        Candidate symmetry (e.g. ``sl.se(m)``); default ``se(n_features)``. Promotion uses its
        Frobenius-orthonormalised basis.
    mode : {"promote", "enforce", "none"}, default "promote"
    alpha : float, default 0.0
        Weight of the nuclear norm (``"promote"`` only). ``0``: minimise the penalty over the least-squares
        solutions (exact interpolation of consistent data).
    output : {"invariant", "vector_field"}, Rep or LieAlgebra, default "invariant"
        How the generators act on the outputs (see :func:`symlie.lie_derivative_operator`).
    include_bias : bool, default True
        Whether the constant monomial is in the library.
    operator : {"exact", "sampled"}, default "exact"
        Monomial-coefficient Lie derivative, or sampled at ``C(m + deg, deg) + 1`` random points.
    l1 : float, default 0.0
        Optional l1 weight of the penalised program.
    tol : float, default 1e-7
        Tolerance of :func:`symlie.promote`.
    max_iter : int, default 300
        Iteration cap of :func:`symlie.promote`.
    symmetry_rtol : float, default 1e-4
        Normalised singular values of :math:`\mathcal{M}(W)` at or below it count as symmetries in ``symmetry_``.
    random_state : int, optional
        Seed of the sampled operator's points.

    Attributes
    ----------
    coef_ : ndarray of shape (n_terms,) or (n_outputs, n_terms)
        ``W`` (one row per output; 1-D for a 1-D target).
    intercept_ : float or ndarray
        Always 0: the constant monomial carries the intercept.
    library_ : PolynomialLibrary
    algebra_ : LieAlgebra
        The orthonormalised candidate.
    symmetry_ : FitSymmetry
        Symmetry of the fitted model (dimension, generators, spectrum).
    penalty_ : float
        :math:`R(W)` of the fit.
    penalty_ratio_ : float
        :math:`R(W) / R(W_{ls})` with :math:`W_{ls}` the (minimum-norm) least-squares fit on the same data: 0 for
        a fit symmetric under the whole candidate, about 1 when promotion did not make the fit more symmetric (NaN
        when :math:`R(W_{ls}) = 0`). Symmetry under a subalgebra shows in ``symmetry_``, not in this ratio.
    promote_result_ : PromoteResult or None
        The solver's result (``mode="promote"`` with a non-trivial program).
    subspace_ : SymmetricSubspace or None
        The symmetric subspace (``mode="enforce"``).
    n_iter_ : int
        Iterations of :func:`symlie.promote` (1 for the direct least-squares solves).
    n_features_in_ : int

    Raises
    ------
    SymlieValueError, SymlieTypeError
        At fit, for an unknown ``mode``/``operator``, a negative ``alpha``, or an ``algebra`` that is not a
        LieAlgebra or Group or does not act on ``n_features`` inputs.

    Examples
    --------
    >>> import numpy as np, symlie as sl
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, (8, 3))                 # 8 samples for 10 coefficients
    >>> y = 1 + ((X - 0.5) ** 2).sum(axis=1)          # invariant under rotations about (0.5, 0.5, 0.5)
    >>> reg = sl.SymmetricRegressor(degree=2, algebra=sl.se(3)).fit(X, y)
    >>> reg.symmetry_.dim, bool(np.allclose(reg.coef_, [1.75, -1, -1, -1, 1, 0, 0, 1, 0, 1], atol=1e-5))
    (3, True)
    >>> sl.SymmetricRegressor(algebra=sl.se(3), mode="enforce").fit(X, y).subspace_.dim
    1

    Choosing ``alpha`` on noisy data by cross-validation (a scikit-learn recipe):

    >>> from sklearn.model_selection import GridSearchCV
    >>> X = rng.uniform(-1, 1, (40, 2))
    >>> y = (X**2).sum(axis=1) + 0.01 * rng.normal(size=40)
    >>> search = GridSearchCV(sl.SymmetricRegressor(algebra=sl.so(2)), {"alpha": [1e-3, 1e-2, 1e-1]}, cv=3)
    >>> best = search.fit(X, y).best_estimator_
    >>> best.symmetry_.dim, bool(best.penalty_ratio_ < 0.5)
    (1, True)
    """

    def __init__(
        self,
        degree: int = 2,
        algebra: Any = None,
        *,
        mode: str = "promote",
        alpha: float = 0.0,
        output: Any = "invariant",
        include_bias: bool = True,
        operator: str = "exact",
        l1: float = 0.0,
        tol: float = 1e-7,
        max_iter: int = 300,
        symmetry_rtol: float = 1e-4,
        random_state: int | None = None,
    ) -> None:
        self.degree = degree
        self.algebra = algebra
        self.mode = mode
        self.alpha = alpha
        self.output = output
        self.include_bias = include_bias
        self.operator = operator
        self.l1 = l1
        self.tol = tol
        self.max_iter = max_iter
        self.symmetry_rtol = symmetry_rtol
        self.random_state = random_state

    # ------------------------------------------------------------------------------------------ helpers
    def _check_params(self, n_features: int) -> LieAlgebra:
        from ._classical import se

        if self.mode not in _MODES:
            raise SymlieValueError(f"mode must be one of {_MODES}, got {self.mode!r}")
        if self.operator not in ("exact", "sampled"):
            raise SymlieValueError(f"operator must be 'exact' or 'sampled', got {self.operator!r}")
        for name in ("alpha", "l1", "symmetry_rtol"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise SymlieValueError(f"{name} must be a number >= 0, got {value!r}")
        algebra = self.algebra
        if algebra is None:
            algebra = se(n_features)
        elif isinstance(algebra, Group):
            algebra = algebra.algebra
        elif not isinstance(algebra, LieAlgebra):
            raise SymlieTypeError(
                f"algebra must be a LieAlgebra (e.g. sl.se({n_features})) or a Group, got {type(algebra).__name__}"
            )
        if algebra.n != n_features:
            raise SymlieValueError(f"algebra must act on R^{n_features} (the columns of X), got {algebra!r}")
        return algebra.orthonormalize()

    def _operator(self, library: PolynomialLibrary, algebra: LieAlgebra, n_out: int) -> Any:
        from ._operator import lie_derivative_operator

        n_outputs = n_out if isinstance(self.output, str) and self.output == "invariant" else None
        points = "exact" if self.operator == "exact" else None
        seed = 0 if self.random_state is None else self.random_state
        return lie_derivative_operator(library, algebra, self.output, points=points, n_outputs=n_outputs, rng=seed)

    def _promote(self, op: Any, D: np.ndarray, y: np.ndarray, w_ls: np.ndarray) -> np.ndarray:
        from ._promote import promote

        self.promote_result_ = None
        if self.alpha == 0:
            if np.linalg.matrix_rank(D) >= D.shape[1]:  # a unique least-squares solution: nothing to promote
                return w_ls
            target = D @ w_ls  # the consistent part of y: minimise R over the least-squares solutions
        else:
            target = y
        result = promote(
            op, D, target, alpha=float(self.alpha), l1=float(self.l1), tol=self.tol, max_iter=self.max_iter
        )
        self.promote_result_ = result
        return np.asarray(result.coef, dtype=np.float64)

    def _symmetry(self, op: Any, w: np.ndarray, algebra: LieAlgebra) -> FitSymmetry:
        M = op.discover_matrix(w)
        q = algebra.dim
        scale = _operator_norm(op.matrix) * float(np.linalg.norm(w))
        if M.size == 0 or scale == 0:
            s, vt = np.zeros(q), np.eye(q)
        else:
            _, s, vt = np.linalg.svd(M, full_matrices=True)
            s = np.concatenate([s, np.zeros(q - len(s))]) / scale
        dim = int(np.sum(s <= self.symmetry_rtol))
        coords = vt[q - dim :]
        generators = (coords @ algebra.basis.reshape(q, -1)).reshape((dim, *algebra.basis.shape[1:]))
        return FitSymmetry(dim, s, float(self.symmetry_rtol), generators, algebra)

    # ---------------------------------------------------------------------------------------------- API
    def fit(self, X: Any, y: Any) -> SymmetricRegressor:
        """Fit ``W`` with the chosen mode.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        y : array_like of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        self
        """
        from ._enforce import enforce
        from ._promote import nuclear_norm_penalty
        from ._validation import check_positive_int

        X, y = validate_data(self, X, y, y_numeric=True, multi_output=True)
        X = np.asarray(X, dtype=np.float64)
        Y = np.asarray(y, dtype=np.float64)
        one_d = Y.ndim == 1
        Y = Y.reshape(len(Y), -1)
        n_out = Y.shape[1]
        degree = check_positive_int(self.degree, "degree", minimum=0)
        algebra = self._check_params(X.shape[1])
        library = PolynomialLibrary(X.shape[1], degree, include_bias=bool(self.include_bias))
        D = _kron_design(library.evaluate(X), n_out)
        target = Y.T.reshape(-1)
        w_ls = np.linalg.lstsq(D, target, rcond=None)[0]
        op = self._operator(library, algebra, n_out)
        self.subspace_ = None
        self.promote_result_ = None
        if self.mode == "none":
            w = w_ls
        elif self.mode == "enforce":
            n_outputs = n_out if isinstance(self.output, str) and self.output == "invariant" else None
            sub = enforce(library, algebra, self.output, n_outputs=n_outputs)
            self.subspace_ = sub
            B = sub.basis
            w = B @ np.linalg.lstsq(D @ B, target, rcond=None)[0] if sub.dim else np.zeros(D.shape[1])
        else:
            w = self._promote(op, D, target, w_ls)
        self.n_iter_ = max(1, int(self.promote_result_.iterations)) if self.promote_result_ is not None else 1
        self.library_ = library
        self.algebra_ = algebra
        self.n_outputs_ = n_out
        W = w.reshape(n_out, len(library))
        self.coef_ = W[0] if one_d else W
        self.intercept_ = 0.0 if one_d else np.zeros(n_out)
        self.penalty_ = nuclear_norm_penalty(op, w)
        reference = nuclear_norm_penalty(op, w_ls)
        self.penalty_ratio_ = self.penalty_ / reference if reference > 0 else float("nan")
        self.symmetry_ = self._symmetry(op, w, algebra)
        return self

    def predict(self, X: Any) -> np.ndarray:
        r""":math:`W \theta(x)`, shape (n_samples,) or (n_samples, n_outputs)."""
        check_is_fitted(self, "coef_")
        X = np.asarray(validate_data(self, X, reset=False), dtype=np.float64)
        theta = self.library_.evaluate(X)
        return theta @ np.asarray(self.coef_).T

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
