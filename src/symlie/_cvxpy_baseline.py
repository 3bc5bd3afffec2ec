r"""The promotion programs stated in cvxpy and solved by SCS: the baseline of the recovery experiment.

The same two programs as :func:`symlie.promote`,

.. math::
    \min_w \|\mathcal{M}(w)\|_* \;\text{s.t.}\; D w = y
    \qquad\text{or}\qquad
    \min_w \tfrac12\|D w - y\|^2 + \alpha \|\mathcal{M}(w)\|_* + \beta \|w\|_1 ,

written with ``cvxpy.normNuc`` (an SDP after cvxpy's reduction) and solved by SCS with ``max_iters=2500`` (the
settings of the reference code of Otto et al.). It exists only for side-by-side comparisons; cvxpy is imported
when :func:`promote_cvxpy` is called (the ``bench`` extra).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._errors import ConvergenceWarning, ShapeError, SymlieValueError
from ._promote import program_objective
from ._validation import as_float_array, check_positive_int

__all__ = ["BaselineResult", "promote_cvxpy"]

#: SCS iteration cap of the reference implementation.
SCS_MAX_ITERS = 2500


@dataclass(frozen=True)
class BaselineResult:
    """Outcome of a cvxpy solve (the fields shared with :class:`symlie.PromoteResult` have the same meaning).

    Attributes
    ----------
    coef : ndarray of shape (P,)
    penalty : float
        Nuclear norm of :math:`\\mathcal{M}(w)` at the solution.
    objective : float
    singular_values : ndarray
    data_residual : float
    iterations : int
        The solver's iteration count (``-1`` when it reports none).
    converged : bool
        Whether cvxpy's status is ``"optimal"``.
    seconds : float
        The solver's own solve time.
    wall_seconds : float
        Wall time of the call, cvxpy's compilation included.
    message : str
        cvxpy's status.
    solver : str
    """

    coef: np.ndarray
    penalty: float
    objective: float
    singular_values: np.ndarray
    data_residual: float
    iterations: int
    converged: bool
    seconds: float
    wall_seconds: float
    message: str
    solver: str


def promote_cvxpy(
    operator: Any,
    design: Any,
    targets: Any,
    *,
    alpha: float = 0.0,
    l1: float = 0.0,
    max_iters: int = SCS_MAX_ITERS,
    solver: str = "SCS",
    **solver_options: Any,
) -> BaselineResult:
    r"""Solve the promotion program with cvxpy (SCS by default); same arguments as :func:`promote`.

    Parameters
    ----------
    operator : LieDerivativeOperator
        Provides ``matrix`` of shape (rows * q, P) and ``n_generators`` q.
    design : array_like of shape (n_samples, P)
    targets : array_like of shape (n_samples,)
    alpha : float, default 0
        ``0``: the interpolation program; otherwise the weight of the nuclear norm in the penalised program.
    l1 : float, default 0
        Weight of the optional l1 term.
    max_iters : int, default 2500
        SCS iteration cap (passed as ``max_iters``; ignored by other solvers).
    solver : str, default "SCS"
        Any cvxpy solver that handles SDPs (e.g. ``"CLARABEL"`` for a high-accuracy reference).
    **solver_options
        Passed to ``cvxpy.Problem.solve``.

    Returns
    -------
    BaselineResult
        ``iterations`` and ``seconds`` are the solver's; ``converged`` is False when the status is not
        ``"optimal"`` (a :class:`~symlie.ConvergenceWarning` is issued).

    Raises
    ------
    ShapeError, SymlieValueError
        For mismatched shapes or negative weights.

    Examples
    --------
    >>> import numpy as np, symlie as sl
    >>> lib = sl.PolynomialLibrary(2, 2)
    >>> op = sl.lie_derivative_operator(lib, sl.so(2))
    >>> X = np.random.default_rng(0).uniform(-1, 1, (3, 2))
    >>> y = 1 + (X**2).sum(axis=1)                   # 1 + |x|^2, rotation invariant
    >>> res = promote_cvxpy(op, lib.evaluate(X), y, solver="CLARABEL")
    >>> np.round(res.coef, 4) + 0.0
    array([1., 0., 0., 1., 0., 1.])
    """
    import cvxpy as cp

    start = time.perf_counter()
    matrix = operator.matrix
    q = int(operator.n_generators)
    n_params = matrix.shape[1]
    D = as_float_array(design, "design", shape=(None, n_params))
    y = as_float_array(targets, "targets", shape=(D.shape[0],))
    if alpha < 0 or l1 < 0:
        raise SymlieValueError(f"alpha and l1 must be >= 0, got alpha={alpha}, l1={l1}")
    if matrix.shape[0] % q:
        raise ShapeError(f"operator.matrix has {matrix.shape[0]} rows, not a multiple of q={q}")
    max_iters = check_positive_int(max_iters, "max_iters")
    A = sp.csr_matrix(matrix) if sp.issparse(matrix) else np.asarray(matrix)

    w = cp.Variable(n_params)
    Mw = cp.reshape(A @ w, (matrix.shape[0] // q, q), order="C")
    penalty = cp.normNuc(Mw)
    if alpha == 0:
        objective = penalty + (l1 * cp.norm1(w) if l1 > 0 else 0)
        constraints = [D @ w == y]
    else:
        objective = 0.5 * cp.sum_squares(D @ w - y) + alpha * penalty + (l1 * cp.norm1(w) if l1 > 0 else 0)
        constraints = []
    problem = cp.Problem(cp.Minimize(objective), constraints)
    options = dict(solver_options)
    if solver.upper() == "SCS":
        options.setdefault("max_iters", max_iters)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cvxpy's "solution may be inaccurate" is reported through `converged`
        problem.solve(solver=solver, **options)
    wall = time.perf_counter() - start
    status = str(problem.status)
    value = w.value
    coef = np.zeros(n_params) if value is None else np.asarray(value, dtype=np.float64).reshape(-1)
    converged = status == cp.OPTIMAL
    stats = problem.solver_stats
    iterations = int(stats.num_iters) if stats is not None and stats.num_iters is not None else -1
    solve_seconds = float(stats.solve_time) if stats is not None and stats.solve_time is not None else wall
    singular = np.linalg.svd(np.asarray(A @ coef).reshape(-1, q), compute_uv=False)
    misfit = float(np.linalg.norm(D @ coef - y))
    nuclear = float(singular.sum())
    if not converged:
        warnings.warn(
            f"cvxpy/{solver} finished with status {status!r} after {iterations} iterations",
            ConvergenceWarning,
            stacklevel=2,
        )
    return BaselineResult(
        coef=coef,
        penalty=nuclear,
        objective=program_objective(nuclear, misfit, coef, alpha, l1),
        singular_values=singular,
        data_residual=misfit,
        iterations=iterations,
        converged=converged,
        seconds=solve_seconds,
        wall_seconds=wall,
        message=status,
        solver=solver,
    )
