r"""Convex symmetry promotion: the nuclear norm of the Lie-derivative matrix, and the programs that promote it.

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
solved by the second-order path-following method of :mod:`symlie._nuclear_newton`: the nuclear norm is replaced by
its Huber smoothing (within :math:`q\mu/2` of it), each smoothing is minimised by inexact Newton steps (conjugate
gradients on exact :math:`O(Rq^2 + pRq)` Hessian products, preconditioned by an occasional dense Hessian), and
:math:`\mu` shrinks geometrically to ``tol`` times the problem's scale: a few dozen Newton steps instead of thousands
of first-order (ADMM/SCS) iterations.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._errors import ConvergenceWarning, ShapeError, SymlieValueError
from ._matrix_map import operator_shape, restricted_map
from ._nuclear_newton import SmoothedProgram, follow_path
from ._validation import as_float_array

__all__ = ["PromoteResult", "nuclear_norm_penalty", "promote"]

# Relative smoothing a warm start begins at. Smaller starts (1e-3, 1e-4) can stop next to the warm start when the
# optimum moved only slightly in objective: the Huber quadratic zone is then too narrow for the Newton decrement to
# see the way out (tested against cold solves on the recovery grid).
_WARM_SMOOTHING = 1e-2


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
    n_params, _ = operator_shape(operator)
    w = as_float_array(coef, "coef").reshape(-1)
    if w.size != n_params:
        raise ShapeError(f"coef must have {n_params} entries, got {w.size}")
    matrix = restricted_map(operator, w, np.zeros((n_params, 0))).offset
    return float(np.linalg.svd(matrix, compute_uv=False).sum())


def program_objective(penalty: float, misfit: float, coef: np.ndarray, alpha: float, l1: float) -> float:
    r"""The objective of :func:`promote`'s program at ``coef`` from its penalty and data misfit.

    :math:`R + \beta\|w\|_1` for interpolation (``alpha=0``), else
    :math:`\tfrac12 \text{misfit}^2 + \alpha R + \beta\|w\|_1`.
    """
    sparsity = l1 * float(np.abs(coef).sum())
    return penalty + sparsity if alpha == 0 else 0.5 * misfit**2 + alpha * penalty + sparsity


def _minimum_norm_solution(D: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``w0 = D^+ y`` and an orthonormal basis ``N`` of ``ker D`` (rank at 1e-12 relative), from one SVD."""
    if not D.shape[0]:
        return np.zeros(D.shape[1]), np.eye(D.shape[1])
    U, s, Vt = np.linalg.svd(D, full_matrices=True)
    rank = int(np.count_nonzero(s > 1e-12 * s[0])) if s.size else 0
    return Vt[:rank].T @ ((U[:, :rank].T @ y) / s[:rank]), Vt[rank:].T


@dataclass(frozen=True)
class PromoteResult:
    r"""Outcome of a promotion solve (fields in the style of ``scipy.optimize.OptimizeResult``).

    Attributes
    ----------
    coef : ndarray of shape (P,)
        The minimiser ``w``.
    penalty : float
        :math:`\|\mathcal{M}(w)\|_*` at the solution.
    objective : float
        Value of the program's objective.
    singular_values : ndarray
        Singular values of :math:`\mathcal{M}(w)` (decreasing); small ones mark promoted symmetries.
    data_residual : float
        :math:`\|D w - y\|` (zero up to rounding for interpolation).
    iterations : int
        Newton steps over all smoothing stages.
    hessians, hessian_products : int
        Dense Hessians formed and Hessian-vector products taken by conjugate gradients (the solver's work).
    converged : bool
    smoothing : float
        Final smoothing parameter :math:`\mu` (absolute); the penalty is within ``q * smoothing`` of its optimum's.
    decrement : float
        Final Newton decrement (relative to the objective).
    seconds : float
    message : str
    """

    coef: np.ndarray
    penalty: float
    objective: float
    singular_values: np.ndarray
    data_residual: float
    iterations: int
    hessians: int
    hessian_products: int
    converged: bool
    smoothing: float
    decrement: float
    seconds: float
    message: str


def promote(
    operator: Any,
    design: Any,
    targets: Any,
    *,
    alpha: float = 0.0,
    l1: float = 0.0,
    tol: float = 1e-6,
    max_iter: int = 300,
    warm_start: PromoteResult | None = None,
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
        The data matrix ``D`` (e.g. the library matrix :math:`\Theta(X)` for a scalar model; for ``n_out``
        outputs with row-major ``W``, ``kron(eye(n_out), Theta)`` and targets ``Y.T.reshape(-1)``).
    targets : array_like of shape (n_samples,)
    alpha : float, default 0
        Weight of the nuclear norm; ``0`` solves the interpolation program.
    l1 : float, default 0
        Weight :math:`\beta` of an optional l1 term.
    tol : float, default 1e-6
        Final smoothing relative to the problem's scale, and the relative Newton-decrement tolerance. Where
        the optimum is sharp, the minimiser moves by about ``10 * tol`` relative to its size at the end (``1e-6``
        leaves a wide margin to the ``5e-3`` recovery criterion of the paper's experiment); where it is flat, the
        penalty can stop up to about ``1e-4`` (relative) above the optimum even so (docs/promote.md, "The
        solver").
    max_iter : int, default 300
        Largest number of Newton steps over all smoothing stages.
    warm_start : PromoteResult, optional
        A previous solution of a related problem with the same operator (e.g. more data, as in a bisection over
        nested training sets). Its coefficients, projected onto the new constraints, start the iteration at a
        smoothing of ``1e-2`` of the problem's scale, which skips the first stages of the path.

    Returns
    -------
    PromoteResult
        ``converged`` is False (with a :class:`~symlie.ConvergenceWarning`) when ``max_iter`` was reached.

    Raises
    ------
    ShapeError
        If the shapes of ``design``, ``targets`` and the operator disagree.
    SymlieValueError
        If ``alpha``/``l1``/``tol`` are out of range, or ``alpha=0`` and the data cannot be interpolated.

    Examples
    --------
    >>> import numpy as np, symlie as sl
    >>> lib = sl.PolynomialLibrary(2, 2)
    >>> op = sl.lie_derivative_operator(lib, sl.so(2), points="exact")
    >>> X = np.random.default_rng(0).uniform(-1, 1, size=(4, 2))
    >>> y = 1 + (X**2).sum(axis=1)                  # rotation invariant, 4 samples for 6 coefficients
    >>> res = sl.promote(op, lib.evaluate(X), y)
    >>> np.round(res.coef, 6) + 0.0                 # 1 + x0^2 + x1^2 is recovered
    array([1., 0., 0., 1., 0., 1.])
    """
    start = time.perf_counter()
    n_params, q = operator_shape(operator)
    D = as_float_array(design, "design", shape=(None, n_params))
    y = as_float_array(targets, "targets", shape=(D.shape[0],))
    if alpha < 0 or l1 < 0:
        raise SymlieValueError(f"alpha and l1 must be >= 0, got alpha={alpha}, l1={l1}")
    if not 0 < tol < 1:
        raise SymlieValueError(f"tol must be in (0, 1), got {tol}")
    interpolate = alpha == 0
    if interpolate:
        w0, N = _minimum_norm_solution(D, y)
        misfit = float(np.linalg.norm(D @ w0 - y))
        if misfit > 1e-8 * max(1.0, float(np.linalg.norm(y))):
            raise SymlieValueError(
                f"targets cannot be interpolated by the design (least-squares residual {misfit:.2e}); "
                "use alpha > 0 for the penalised program"
            )
    else:
        w0, N = np.zeros(n_params), np.eye(n_params)
    p = N.shape[1]
    lie = restricted_map(operator, w0, N)
    program = SmoothedProgram(lie, D, y, w0, N, 1.0 if interpolate else float(alpha), float(l1))

    C = lie.offset
    scale = max(np.linalg.norm(C), np.sqrt(np.trace(program.gram) / max(p, 1)), 1e-300)
    mu_final = tol * scale
    w_scale = scale / max(lie.operator_norm / np.sqrt(q), 1e-300)  # converts smoothing to w units
    if warm_start is None:  # the top of the path: every singular value in the quadratic zone
        v, mu = np.zeros(p), max(float(np.linalg.norm(C, 2)), scale)
    else:
        guess = np.asarray(warm_start.coef, dtype=float).reshape(-1)
        if guess.shape != (n_params,):
            raise ShapeError(f"warm_start.coef must have {n_params} entries, got {guess.shape}")
        v, mu = N.T @ (guess - w0), max(_WARM_SMOOTHING * scale, mu_final)

    if p:
        path = follow_path(program, v, mu=mu, mu_final=mu_final, tol=tol, max_iter=max_iter, l1_ratio=w_scale / scale)
        v, steps, converged, mu, decrement = path.v, path.steps, path.converged, path.smoothing, path.decrement
        hessians, products = path.hessians, path.products
    else:
        steps = hessians = products = 0
        converged, decrement = True, 0.0

    w = w0 + N @ v
    singular = np.linalg.svd(program.matrix(v), compute_uv=False)
    penalty = float(singular.sum())
    misfit = float(np.linalg.norm(D @ w - y))
    message = "converged" if converged else f"reached max_iter={max_iter} Newton steps before the tolerance {tol:g}"
    if not converged:
        warnings.warn(
            f"promote did not converge: smoothing {mu:.2e} (target {mu_final:.2e}), Newton decrement "
            f"{decrement:.2e} after {steps} steps; raise max_iter or loosen tol",
            ConvergenceWarning,
            stacklevel=2,
        )
    return PromoteResult(
        coef=w,
        penalty=penalty,
        objective=program_objective(penalty, misfit, w, alpha, l1),
        singular_values=singular,
        data_residual=misfit,
        iterations=steps,
        hessians=hessians,
        hessian_products=products,
        converged=converged,
        smoothing=float(mu),
        decrement=float(decrement),
        seconds=time.perf_counter() - start,
        message=message,
    )
