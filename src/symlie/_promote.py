r"""Convex symmetry promotion: the nuclear norm of the Lie-derivative matrix and its ADMM solvers.

For a model linear in its parameters, :math:`F_w = \sum_j w_j F_j`, the Lie derivative sampled at points (or
expanded exactly in monomials) is the matrix :math:`\mathcal{M}(w) = \sum_j w_j T_{:, :, j}` of shape
``(rows, q)``: one column per generator of the candidate algebra. Its nuclear norm

.. math:: R(w) = \|\mathcal{M}(w)\|_* = \sum_i \sigma_i(\mathcal{M}(w))

is convex in :math:`w`, zero exactly when :math:`F_w` is symmetric under the whole algebra, and its minimisers are
symmetric under as large a subalgebra as the data allow (the rank of :math:`\mathcal{M}(w)` is
``q - dim Sym(F_w)``). Two programs are solved:

* interpolation  :math:`\min R(w)` subject to :math:`D w = y` (``alpha=0``);
* penalised      :math:`\min \tfrac12\|D w - y\|^2 + \alpha R(w) + \beta\|w\|_1`.

Both are written as :math:`w = w_0 + N v` (for interpolation :math:`w_0` is the minimum-norm solution and the
columns of :math:`N` span :math:`\ker D`, which eliminates the constraint; otherwise :math:`w_0 = 0, N = I`) and
solved by over-relaxed ADMM on the splitting :math:`Z = \mathcal{M}(w)` (and :math:`s = w` for the l1 term):
the :math:`v`-step is one solve with a Cholesky factor of a small ``(p, p)`` matrix, the :math:`Z`-step is singular
value thresholding, the penalty parameter is balanced between primal and dual residuals, and the iteration stops
when both residuals meet absolute + relative tolerances (Boyd et al., 2011, §3.3).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from ._errors import ConvergenceWarning, ShapeError, SymlieValueError
from ._validation import as_float_array

__all__ = ["PromoteResult", "nuclear_norm_penalty", "promote"]

_RELAXATION = 1.6
_BALANCE = 10.0


def _operator_parts(operator: Any) -> tuple[Any, int]:
    """The stacked operator matrix ``(rows * q, P)`` (rows ordered (row, generator)) and q."""
    matrix = operator.matrix
    q = int(operator.n_generators)
    if matrix.shape[0] % q:
        raise ShapeError(f"operator.matrix has {matrix.shape[0]} rows, not a multiple of q={q}")
    return matrix, q


def nuclear_norm_penalty(operator: Any, coef: Any) -> float:
    r"""The promotion penalty :math:`R(w) = \|\mathcal{M}(w)\|_*`.

    Parameters
    ----------
    operator : LieDerivativeOperator
        Provides ``matrix`` of shape (rows * q, P) and ``n_generators`` q.
    coef : array_like of shape (P,) or (n_outputs, n_terms)
        Model parameters ``w`` (row-major ``W``).

    Returns
    -------
    float
    """
    matrix, q = _operator_parts(operator)
    w = as_float_array(coef, "coef").reshape(-1)
    if w.size != matrix.shape[1]:
        raise ShapeError(f"coef must have {matrix.shape[1]} entries, got {w.size}")
    return float(np.linalg.svd((matrix @ w).reshape(-1, q), compute_uv=False).sum())


@dataclass(frozen=True)
class PromoteResult:
    """Outcome of a promotion solve (fields in the style of ``scipy.optimize.OptimizeResult``).

    Attributes
    ----------
    coef : ndarray of shape (P,)
        The minimiser ``w``.
    penalty : float
        :math:`\\|\\mathcal{M}(w)\\|_*` at the solution.
    objective : float
        Value of the program's objective.
    singular_values : ndarray
        Singular values of :math:`\\mathcal{M}(w)` (decreasing); small ones mark promoted symmetries.
    data_residual : float
        :math:`\\|D w - y\\|` (zero up to rounding for interpolation).
    iterations : int
    converged : bool
    primal_residual, dual_residual : float
        Final ADMM residuals (absolute).
    rho : float
        Final penalty parameter (useful to warm-start a related problem).
    seconds : float
    message : str
    """

    coef: np.ndarray
    penalty: float
    objective: float
    singular_values: np.ndarray
    data_residual: float
    iterations: int
    converged: bool
    primal_residual: float
    dual_residual: float
    rho: float
    seconds: float
    message: str
    state: dict = field(default_factory=dict, repr=False)


def _svt(matrix: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Singular value thresholding: the prox of ``threshold * ||.||_*``; returns (result, singular values)."""
    u, s, vh = np.linalg.svd(matrix, full_matrices=False)
    shrunk = np.maximum(s - threshold, 0.0)
    keep = shrunk > 0
    return (u[:, keep] * shrunk[keep]) @ vh[keep], s


def _soft(x: np.ndarray, threshold: float) -> np.ndarray:
    return np.sign(x) * np.maximum(np.abs(x) - threshold, 0.0)


def promote(
    operator: Any,
    design: Any,
    targets: Any,
    *,
    alpha: float = 0.0,
    l1: float = 0.0,
    tol: float = 1e-7,
    max_iter: int = 20000,
    warm_start: PromoteResult | None = None,
    rho: float | None = None,
) -> PromoteResult:
    r"""Fit ``w`` by promoting symmetry: interpolation (``alpha=0``) or penalised least squares.

    .. math::
        \min_w \|\mathcal{M}(w)\|_* \;\text{s.t.}\; D w = y
        \qquad\text{or}\qquad
        \min_w \tfrac12\|D w - y\|^2 + \alpha \|\mathcal{M}(w)\|_* + \beta \|w\|_1

    Parameters
    ----------
    operator : LieDerivativeOperator
        Provides ``matrix`` (rows * q, P) and ``n_generators``; see :func:`symlie.lie_derivative_operator`.
    design : array_like of shape (n_samples, P)
        The data matrix ``D`` (e.g. the library matrix :math:`\Theta(X)` for a scalar model).
    targets : array_like of shape (n_samples,)
    alpha : float, default 0
        Weight of the nuclear norm; ``0`` solves the interpolation program.
    l1 : float, default 0
        Weight :math:`\beta` of an optional l1 term.
    tol : float, default 1e-7
        Relative tolerance on the ADMM primal and dual residuals.
    max_iter : int, default 20000
    warm_start : PromoteResult, optional
        A previous solution of a related problem (same operator, e.g. fewer data): its ``Z``, dual variables and
        ``rho`` start the iteration.
    rho : float, optional
        Initial ADMM penalty parameter (default: from the warm start or 1).

    Returns
    -------
    PromoteResult
        ``converged`` is False (with a :class:`~symlie.ConvergenceWarning`) when ``max_iter`` was reached.

    Raises
    ------
    ShapeError
        If the shapes of ``design``, ``targets`` and the operator disagree.
    SymlieValueError
        If ``alpha``/``l1`` are negative, or ``alpha=0`` and the data cannot be interpolated.
    """
    start = time.perf_counter()
    matrix, q = _operator_parts(operator)
    n_params = matrix.shape[1]
    D = as_float_array(design, "design", shape=(None, n_params))
    y = as_float_array(targets, "targets", shape=(D.shape[0],))
    if alpha < 0 or l1 < 0:
        raise SymlieValueError(f"alpha and l1 must be >= 0, got alpha={alpha}, l1={l1}")
    interpolate = alpha == 0
    weight = 1.0 if interpolate else float(alpha)

    if interpolate:
        w0, *_ = np.linalg.lstsq(D, y, rcond=None)
        misfit = np.linalg.norm(D @ w0 - y)
        if misfit > 1e-8 * max(1.0, np.linalg.norm(y)):
            raise SymlieValueError(
                f"targets cannot be interpolated by the design (least-squares residual {misfit:.2e}); "
                "use alpha > 0 for the penalised program"
            )
        N = sla.null_space(D, rcond=1e-12) if D.shape[0] else np.eye(n_params)
    else:
        w0, N = np.zeros(n_params), np.eye(n_params)
    p = N.shape[1]

    def apply(w: np.ndarray) -> np.ndarray:
        return np.asarray(matrix @ w).reshape(-1, q)

    def adjoint(Y: np.ndarray) -> np.ndarray:
        return np.asarray(matrix.T @ Y.reshape(-1))

    gram = matrix.T @ matrix
    gram = gram.toarray() if sp.issparse(gram) else np.asarray(gram)
    H_op = N.T @ gram @ N
    H_data = N.T @ (D.T @ D) @ N
    H_l1 = N.T @ N if l1 > 0 else np.zeros((p, p))
    rhs_data = N.T @ (D.T @ (y - D @ w0))
    C = apply(w0)
    ridge = 1e-12 * max(np.trace(H_op) / max(p, 1), 1.0)

    state = warm_start.state if warm_start is not None else {}
    rho_value = float(rho if rho is not None else state.get("rho", 1.0))
    Z = state.get("Z", C.copy())
    U = state.get("U", np.zeros_like(C))
    s = state.get("s", w0.copy())
    u_s = state.get("u_s", np.zeros(n_params))
    if Z.shape != C.shape:
        Z, U = C.copy(), np.zeros_like(C)

    factor = None
    factor_rho = None
    v = np.zeros(p)
    converged = False
    r_norm = s_norm = np.inf
    iteration = 0
    for iteration in range(1, max_iter + 1):  # noqa: B007 (reported after the loop)
        if factor_rho != rho_value:
            system = H_data + rho_value * (H_op + H_l1) + ridge * np.eye(p)
            factor = sla.cho_factor(system)
            factor_rho = rho_value
        rhs = rhs_data + rho_value * (N.T @ adjoint(Z - C + U))
        if l1 > 0:
            rhs = rhs + rho_value * (N.T @ (s - w0 - u_s))
        v = sla.cho_solve(factor, rhs) if p else v
        w = w0 + N @ v
        Mw = apply(w)
        relaxed = _RELAXATION * Mw + (1 - _RELAXATION) * Z
        Z_old = Z
        Z, _ = _svt(relaxed - U, weight / rho_value)
        U = U + Z - relaxed
        r_sq = np.linalg.norm(Z - Mw) ** 2
        dual = N.T @ adjoint(Z - Z_old)
        primal_scale = max(np.linalg.norm(Z), np.linalg.norm(Mw))
        dual_scale = np.linalg.norm(N.T @ adjoint(U))
        if l1 > 0:
            w_relaxed = _RELAXATION * w + (1 - _RELAXATION) * s
            s_old = s
            s = _soft(w_relaxed + u_s, l1 / rho_value)
            u_s = u_s + w_relaxed - s
            r_sq += np.linalg.norm(w - s) ** 2
            dual = dual + N.T @ (s - s_old)
            primal_scale = max(primal_scale, np.linalg.norm(w), np.linalg.norm(s))
            dual_scale = np.hypot(dual_scale, np.linalg.norm(N.T @ u_s))
        r_norm = float(np.sqrt(r_sq))
        s_norm = float(rho_value * np.linalg.norm(dual))
        eps_primal = tol * (np.sqrt(Z.size) * 1e-3 + primal_scale)
        eps_dual = tol * (np.sqrt(max(p, 1)) * 1e-3 + rho_value * dual_scale)
        if r_norm <= eps_primal and s_norm <= eps_dual:
            converged = True
            break
        # Residual balancing on the residuals measured against their tolerances.
        if r_norm / eps_primal > _BALANCE * s_norm / eps_dual:
            rho_value *= 2.0
            U, u_s = U / 2.0, u_s / 2.0
        elif s_norm / eps_dual > _BALANCE * r_norm / eps_primal:
            rho_value /= 2.0
            U, u_s = U * 2.0, u_s * 2.0

    w = w0 + N @ v
    singular = np.linalg.svd(apply(w), compute_uv=False)
    penalty = float(singular.sum())
    misfit = float(np.linalg.norm(D @ w - y))
    objective = penalty if interpolate else 0.5 * misfit**2 + alpha * penalty + l1 * float(np.abs(w).sum())
    message = "converged" if converged else f"reached max_iter={max_iter} before the tolerance {tol:g}"
    if not converged:
        warnings.warn(
            f"promote did not converge: primal residual {r_norm:.2e}, dual residual {s_norm:.2e} after "
            f"{max_iter} iterations; raise max_iter or loosen tol",
            ConvergenceWarning,
            stacklevel=2,
        )
    return PromoteResult(
        coef=w,
        penalty=penalty,
        objective=float(objective),
        singular_values=singular,
        data_residual=misfit,
        iterations=iteration,
        converged=converged,
        primal_residual=r_norm,
        dual_residual=s_norm,
        rho=rho_value,
        seconds=time.perf_counter() - start,
        message=message,
        state={"Z": Z, "U": U, "s": s, "u_s": u_s, "rho": rho_value},
    )
