r"""SINDy regressions inside a symmetric subspace (enforce) and with a nuclear-norm penalty (promote).

A SINDy model is :math:`\dot x = W \theta(x)` with ``W`` of shape ``(n, L)`` (PySINDy's ``Xi^T``), flattened
row-major to ``w`` of length ``P = n L``. With the data :math:`\Theta = \Theta(X)` of shape ``(N, L)`` and the
derivatives :math:`\dot X` of shape ``(N, n)``, the least-squares loss is

.. math:: \ell(W) = \tfrac{1}{2N}\|\Theta W^\top - \dot X\|_F^2
          = \tfrac{1}{2N}\|(I_n \otimes R)\, w - \mathrm{vec}(Q^\top \dot X)\|^2 + \mathrm{const},

with :math:`\Theta = Q R`; every solver here works with the small ``(P, P)`` factor ``I_n ⊗ R`` instead of the
``(N n, P)`` design.

* **enforce** (:func:`symmetric_stlsq`): ``w = B c`` with ``B`` an orthonormal basis of the symmetric models, and
  sequential thresholding *inside* the subspace: coefficients below the threshold are constrained to zero, which
  restricts ``B`` to :math:`\{w \in \mathrm{span} B : w_S = 0\}`, and the fit is repeated until the support is
  stable. Every iterate is exactly symmetric.
* **promote** (:func:`promoted_stlsq`): :math:`\min_w \ell(w) + \alpha \|\mathcal M(w)\|_* + \beta \|w\|_1` with
  :func:`symlie.promote`, thresholded the same way; ``alpha`` by blocked cross-validation
  (:func:`cross_validate_alpha`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .._errors import ConvergenceWarning, ShapeError, SymlieValueError
from .._promote import PromoteResult, promote
from .._validation import as_float_array, check_positive_int

__all__ = [
    "LeastSquaresData",
    "alpha_scale",
    "cross_validate_alpha",
    "promote_singular_values",
    "promoted_stlsq",
    "reweighted_promote",
    "symmetric_stlsq",
    "symmetry_dimension",
]

#: Relative size below which a singular value of the promoted model's Lie-derivative matrix counts as zero.
PROMOTED_RTOL = 1e-2


@dataclass(frozen=True)
class LeastSquaresData:
    r"""The compressed least-squares problem of a SINDy fit.

    Attributes
    ----------
    R : ndarray of shape (L, L)
        Triangular factor of :math:`\Theta / \sqrt{N}`.
    QtY : ndarray of shape (L, n)
        :math:`Q^\top \dot X / \sqrt{N}`.
    n_samples : int
    """

    R: np.ndarray
    QtY: np.ndarray
    n_samples: int

    @classmethod
    def from_data(cls, Theta: Any, Xdot: Any) -> LeastSquaresData:
        """Compress ``Theta`` (N, L) and ``Xdot`` (N, n) by a thin QR factorisation."""
        Theta = as_float_array(Theta, "Theta", ndim=2)
        Xdot = as_float_array(Xdot, "Xdot", shape=(Theta.shape[0], None))
        if Theta.shape[0] == 0:
            raise ShapeError("Theta must contain at least one sample")
        N, L = Theta.shape
        scale = 1.0 / np.sqrt(N)
        if N >= L:
            Q, R = np.linalg.qr(Theta * scale)
            return cls(R, Q.T @ (Xdot * scale), N)
        return cls(Theta * scale, Xdot * scale, N)  # fewer samples than terms: keep the rows as they are

    @property
    def n_terms(self) -> int:
        return int(self.R.shape[1])

    @property
    def n_outputs(self) -> int:
        return int(self.QtY.shape[1])

    def design(self) -> np.ndarray:
        """The design ``I_n ⊗ R`` of shape (n * rows, P) for row-major ``w``."""
        return np.kron(np.eye(self.n_outputs), self.R)

    def targets(self) -> np.ndarray:
        """``vec(QtY^T)``: the targets matching :meth:`design`, shape (n * rows,)."""
        return self.QtY.T.reshape(-1)

    def loss(self, W: np.ndarray) -> float:
        r""":math:`\tfrac12 \|R W^\top - Q^\top \dot X\|_F^2` (the data loss up to a constant)."""
        return 0.5 * float(np.sum((self.R @ W.T - self.QtY) ** 2))


def _solve_in(data: LeastSquaresData, basis: np.ndarray, ridge: float) -> np.ndarray:
    """Least squares (+ ridge) for ``w = basis @ c``; returns ``w`` (P,)."""
    if basis.shape[1] == 0:
        return np.zeros(basis.shape[0])
    A = data.design() @ basis
    b = data.targets()
    if ridge > 0:
        A = np.vstack([A, np.sqrt(ridge) * np.eye(basis.shape[1])])
        b = np.concatenate([b, np.zeros(basis.shape[1])])
    c, *_ = np.linalg.lstsq(A, b, rcond=None)
    return basis @ c


#: Relative size (to ``||basis||_2``) below which a constraint row of the restricted basis is rounding noise.
RESTRICT_RTOL = 1e-10


def _restrict(basis: np.ndarray, zero: np.ndarray, scale: float) -> np.ndarray:
    """Basis of ``{w in span(basis) : w[zero] = 0}``; ranks are cut at ``RESTRICT_RTOL * scale``.

    ``scale`` is the spectral norm of the full basis, so the cut follows the basis' own scale (a basis given in
    small units keeps its small but valid constraints, and rounding-level rows are ignored at any scale).
    """
    if not np.any(zero) or basis.shape[1] == 0:
        return basis
    _, singular, vh = np.linalg.svd(basis[zero], full_matrices=True)
    rank = int(np.sum(singular > RESTRICT_RTOL * scale))
    return basis @ vh[rank:].T


def symmetric_stlsq(
    data: LeastSquaresData,
    basis: Any = None,
    *,
    threshold: float = 0.1,
    ridge: float = 0.0,
    max_iter: int = 20,
    unbias: bool = True,
) -> tuple[np.ndarray, int]:
    r"""Sequentially thresholded least squares restricted to the span of ``basis``.

    .. math:: \min_{c} \tfrac12\|(I_n \otimes R) B c - \mathrm{vec}(Q^\top\dot X)\|^2 + \tfrac{\lambda}{2}\|c\|^2,
              \quad w = B c, \quad B \leftarrow \{w \in \mathrm{span}B : |w_j| < \tau \Rightarrow w_j = 0\}

    Parameters
    ----------
    data : LeastSquaresData
    basis : ndarray of shape (P, k), optional
        Orthonormal basis of the allowed models (``None``: all models, i.e. plain STLSQ).
    threshold : float, default 0.1
        The sparsity threshold :math:`\tau` on ``|W|``.
    ridge : float, default 0
        Ridge weight :math:`\lambda` (as PySINDy's ``alpha``, for the scaled loss).
    max_iter : int, default 20
    unbias : bool, default True
        Refit without ridge on the final support (inside the subspace, so the symmetry is kept).

    Returns
    -------
    (ndarray of shape (n, L), int)
        The coefficients ``W`` and the number of iterations.

    Raises
    ------
    ShapeError
        If ``basis`` does not have ``P = n L`` rows.
    """
    n, L = data.n_outputs, data.n_terms
    P = n * L
    B = np.eye(P) if basis is None else as_float_array(basis, "basis", ndim=2)
    if B.shape[0] != P:
        raise ShapeError(f"basis must have P = n * L = {P} rows, got shape {B.shape}")
    if threshold < 0 or ridge < 0:
        raise SymlieValueError(f"threshold and ridge must be >= 0, got threshold={threshold}, ridge={ridge}")
    max_iter = check_positive_int(max_iter, "max_iter")
    zero = np.zeros(P, dtype=bool)
    scale = float(np.linalg.norm(B, 2)) if B.size else 1.0
    current = B
    w = _solve_in(data, current, ridge)
    iterations = 1
    for iterations in range(1, max_iter + 1):  # noqa: B007
        small = (np.abs(w) < threshold) & ~zero
        if not np.any(small):
            break
        zero |= small
        current = _restrict(B, zero, scale)
        w = _solve_in(data, current, ridge)
    if unbias and ridge > 0:
        w = _solve_in(data, current, 0.0)
    w[zero] = 0.0
    return w.reshape(n, L), iterations


class _Restricted:
    """The columns ``active`` of an operator (what :func:`symlie.promote` reads: ``matrix`` and ``n_generators``)."""

    def __init__(self, operator: Any, active: np.ndarray) -> None:
        self.matrix = operator.matrix[:, np.flatnonzero(active)]
        self.n_generators = operator.n_generators


def symmetry_dimension(singular_values: Any, *, rtol: float = PROMOTED_RTOL) -> int:
    r"""Number of singular values of :math:`\mathcal M(w)` at or below ``rtol`` times the largest.

    Examples
    --------
    >>> symmetry_dimension([3.0, 1.0, 1e-9, 0.0])
    2
    """
    s = np.sort(np.asarray(singular_values, dtype=np.float64))[::-1]
    if len(s) == 0 or s[0] == 0:
        return len(s)
    return int(np.sum(s <= rtol * s[0]))


def promoted_stlsq(
    data: LeastSquaresData,
    operator: Any,
    *,
    alpha: float,
    l1: float = 0.0,
    threshold: float = 0.1,
    max_iter: int = 10,
    tol: float = 1e-6,
    max_admm: int = 5000,
    warm_start: PromoteResult | None = None,
) -> tuple[np.ndarray, PromoteResult]:
    r"""Promote symmetry with sequential thresholding: :func:`symlie.promote` on a shrinking support.

    .. math:: \min_{w:\ w_S = 0} \tfrac{1}{2N}\|\Theta W^\top - \dot X\|_F^2 + \alpha\|\mathcal M(w)\|_* +
              \beta\|w\|_1

    Parameters
    ----------
    data : LeastSquaresData
    operator : LieDerivativeOperator
        Of the library under the candidate algebra with ``output="vector_field"``.
    alpha : float
        Weight of the nuclear norm (``> 0``).
    l1 : float, default 0
        Weight :math:`\beta` of the l1 term.
    threshold : float, default 0.1
    max_iter : int, default 10
        Thresholding rounds.
    tol, max_admm : float, int
        Passed to :func:`symlie.promote` (``max_iter``).
    warm_start : PromoteResult, optional
        Starts the first solve (a previous solution on the full support).

    Returns
    -------
    (ndarray of shape (n, L), PromoteResult)
        The coefficients and the last solve (its ``singular_values`` are those of :math:`\mathcal M(w)`).
    """
    if not alpha > 0:
        raise SymlieValueError(f"alpha must be > 0 for the penalised program, got {alpha!r}")
    n, L = data.n_outputs, data.n_terms
    if operator.n_params != n * L:
        raise ShapeError(f"operator has P={operator.n_params} parameters but the data need n * L = {n * L}")
    design, targets = data.design(), data.targets()
    active = np.ones(n * L, dtype=bool)
    w = np.zeros(n * L)
    result: PromoteResult | None = None
    start = warm_start
    caught: list[Any] = []
    for _ in range(check_positive_int(max_iter, "max_iter")):
        with warnings.catch_warnings(record=True) as recorded:
            warnings.simplefilter("always", ConvergenceWarning)
            result = promote(
                _Restricted(operator, active),
                design[:, active],
                targets,
                alpha=float(alpha),
                l1=float(l1),
                tol=tol,
                max_iter=max_admm,
                warm_start=start,
            )
        caught = list(recorded)
        start = None  # the support changes between rounds
        w = np.zeros(n * L)
        w[active] = result.coef
        small = active & (np.abs(w) < threshold)
        if not np.any(small):
            break
        active &= ~small
        if not np.any(active):
            break
    if result is None:  # pragma: no cover (max_iter >= 1)
        raise SymlieValueError("max_iter must be >= 1")
    if not result.converged:
        for item in caught:
            warnings.warn(item.message, ConvergenceWarning, stacklevel=2)
    w[~active] = 0.0
    full = promote_singular_values(operator, w)
    final = replace(result, coef=w, singular_values=full)
    return w.reshape(n, L), final


def promote_singular_values(operator: Any, w: np.ndarray) -> np.ndarray:
    """Singular values (decreasing) of the Lie-derivative matrix :math:`\\mathcal M(w)` of shape (rows, q)."""
    M = np.asarray(operator.matrix @ np.asarray(w).reshape(-1)).reshape(-1, operator.n_generators)
    return np.linalg.svd(M, compute_uv=False)


def alpha_scale(data: LeastSquaresData, operator: Any) -> float:
    r"""A natural scale for ``alpha``: :math:`\|D^\top y\| / \|\mathcal M\|_2` (the penalty's pull at ``w = 0``)."""
    import scipy.sparse as sp

    matrix = operator.matrix
    dense = matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)
    norm = float(np.linalg.norm(dense, 2)) or 1.0
    return float(np.linalg.norm(data.design().T @ data.targets())) / norm


def cross_validate_alpha(
    Theta: Any,
    Xdot: Any,
    operator: Any,
    *,
    alphas: Any = None,
    n_folds: int = 3,
    threshold: float = 0.1,
    l1: float = 0.0,
    one_standard_error: bool = False,
    tol: float = 1e-6,
) -> tuple[float, dict[str, Any]]:
    r"""Choose ``alpha`` by blocked K-fold cross-validation of the derivative fit.

    The samples are split into ``n_folds`` contiguous blocks (time series: no shuffling). For each ``alpha`` the
    model is fit on the other blocks and scored by :math:`\|\Theta W^\top - \dot X\|_F^2 / \|\dot X\|_F^2` on the
    held-out block; the ``alpha`` with the smallest mean error is chosen. With ``one_standard_error`` the
    *largest* ``alpha`` whose mean error is within one standard
    error of the best is chosen (the most symmetric model the data do not reject).

    Parameters
    ----------
    Theta : array_like of shape (N, L)
    Xdot : array_like of shape (N, n)
    operator : LieDerivativeOperator
    alphas : array_like of float, optional
        Candidate values (default ``alpha_scale * logspace(-5, -3, 5)``, see :func:`alpha_scale`).
    n_folds : int, default 3
    threshold, l1, tol
        As in :func:`promoted_stlsq`.
    one_standard_error : bool, default False

    Returns
    -------
    (float, dict)
        The chosen ``alpha`` and a record with ``alphas``, ``mean_error``, ``standard_error``.
    """
    Theta = as_float_array(Theta, "Theta", ndim=2)
    Xdot = as_float_array(Xdot, "Xdot", shape=(Theta.shape[0], None))
    n_folds = check_positive_int(n_folds, "n_folds", minimum=2)
    if alphas is None:
        alphas = alpha_scale(LeastSquaresData.from_data(Theta, Xdot), operator) * np.logspace(-5, -3, 5)
    alphas = np.sort(as_float_array(alphas, "alphas", ndim=1))
    if len(alphas) == 0 or np.any(alphas <= 0):
        raise SymlieValueError("alphas must be a non-empty list of positive numbers")
    folds = np.array_split(np.arange(len(Theta)), n_folds)
    errors = np.zeros((len(alphas), n_folds))
    for f, held in enumerate(folds):
        train = np.setdiff1d(np.arange(len(Theta)), held)
        data = LeastSquaresData.from_data(Theta[train], Xdot[train])
        for a, alpha in enumerate(alphas):
            W, _ = promoted_stlsq(data, operator, alpha=alpha, l1=l1, threshold=threshold, tol=tol)
            residual = Theta[held] @ W.T - Xdot[held]
            errors[a, f] = float(np.sum(residual**2) / max(np.sum(Xdot[held] ** 2), 1e-300))
    mean = errors.mean(axis=1)
    se = errors.std(axis=1, ddof=1) / np.sqrt(n_folds)
    best = int(np.argmin(mean))
    chosen = best
    if one_standard_error:
        within = np.flatnonzero(mean <= mean[best] + se[best])
        chosen = int(within.max())
    record = {"alphas": alphas.tolist(), "mean_error": mean.tolist(), "standard_error": se.tolist(), "best": best}
    return float(alphas[chosen]), record


class _Weighted:
    """Operator with the generator basis changed by ``P`` (q, q): :math:`\\mathcal M(w) \\mapsto \\mathcal M(w) P`."""

    def __init__(self, tensor: np.ndarray, P: np.ndarray | None) -> None:
        T = tensor if P is None else np.einsum("rqp,qk->rkp", tensor, P)
        self.matrix = T.reshape(-1, T.shape[2])
        self.n_generators = T.shape[1]


def reweighted_promote(
    design: np.ndarray, targets: np.ndarray, tensor: np.ndarray, alpha: float, n_reweight: int, l1: float, tol: float
) -> np.ndarray:
    r"""Promotion with IRLS weights :math:`P_{k+1} = \sigma_1(\mathcal M_k^\top\mathcal M_k + \delta^2)^{-1/2}`."""
    P: np.ndarray | None = None
    result: PromoteResult | None = None
    for _ in range(n_reweight):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # an inexact solve only moves a starting point
            result = promote(_Weighted(tensor, P), design, targets, alpha=alpha, l1=l1, tol=tol, warm_start=result)
        _, s, vt = np.linalg.svd(np.einsum("rqp,p->rq", tensor, result.coef))
        delta = 1e-2 * s[0] if s[0] > 0 else 1.0
        P = (vt.T / np.sqrt(s**2 + delta**2)) @ vt * max(s[0], 1e-300)
    if result is None:  # pragma: no cover (n_reweight >= 1 is checked by the caller)
        raise SymlieValueError("n_reweight must be >= 1")
    return np.asarray(result.coef)
