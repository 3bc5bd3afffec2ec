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
solved by a second-order path-following method written for this structure: the nuclear norm is replaced by its
smoothing :math:`\sum_i \sqrt{\sigma_i^2 + \mu^2}` (and :math:`|w_i|` by :math:`\sqrt{w_i^2 + \mu_w^2}`), which
is convex, twice differentiable and within :math:`q\mu` of the nuclear norm; each :math:`\mu` is minimised by
damped Newton steps whose exact Hessian comes from one SVD of :math:`\mathcal{M}(w)` (the second derivative of a
spectral function), and :math:`\mu` shrinks geometrically to ``tol`` times the problem's scale. A Newton step
costs :math:`O(p\,R\,q^2 + p^2 R q)` for ``p`` free parameters, an ``(R, q)`` Lie-derivative matrix, and a solve
needs a few dozen of them, versus thousands of first-order (ADMM/SCS) iterations.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from ._errors import ConvergenceWarning, ShapeError, SymlieValueError
from ._validation import as_float_array

__all__ = ["PromoteResult", "nuclear_norm_penalty", "promote"]

_SHRINK = 0.01  # smoothing reduction per stage
_WARM_SMOOTHING = 1e-4  # relative smoothing a warm start begins at
_CENTRING = 1e-3  # relative Newton decrement that ends an intermediate smoothing stage
_SMALL = 0.03  # singular values below _SMALL * mu are treated as zero in the Hessian


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
    converged: bool
    smoothing: float
    decrement: float
    seconds: float
    message: str


def _smoothed_singular(matrix: np.ndarray, mu: float) -> float:
    return float(np.sqrt(np.linalg.svd(matrix, compute_uv=False) ** 2 + mu**2).sum())


class _Program:
    """The smoothed objective in the free coordinates ``v`` (w = w0 + N v) with its gradient and Hessian."""

    def __init__(
        self,
        A3: np.ndarray,
        C: np.ndarray,
        D: np.ndarray,
        y: np.ndarray,
        w0: np.ndarray,
        N: np.ndarray,
        weight: float,
        l1: float,
    ) -> None:
        self.A3, self.C, self.w0, self.N = A3, C, w0, N
        self.weight, self.l1 = weight, l1
        DN = D @ N
        self.data_hessian = DN.T @ DN
        self.data_gradient0 = DN.T @ (D @ w0 - y)
        self.data_residual0 = D @ w0 - y
        self.DN = DN
        p, R, q = A3.shape
        self.A3_flat = A3.reshape(p, R * q)
        self.gram = self.A3_flat @ self.A3_flat.T

    def matrix(self, v: np.ndarray) -> np.ndarray:
        return self.C + (v @ self.A3_flat).reshape(self.C.shape)

    def value(self, v: np.ndarray, mu: float, mu_w: float) -> float:
        out = 0.5 * float(np.sum((self.data_residual0 + self.DN @ v) ** 2))
        out += self.weight * _smoothed_singular(self.matrix(v), mu)
        if self.l1:
            out += self.l1 * float(np.sqrt((self.w0 + self.N @ v) ** 2 + mu_w**2).sum())
        return out

    def newton_step(self, v: np.ndarray, mu: float, mu_w: float) -> tuple[float, np.ndarray, np.ndarray]:
        r"""Value, gradient and (nearly exact) Newton direction of the smoothed objective at ``v``.

        The gradient is exact. The Hessian of :math:`\sum_i \sqrt{\sigma_i^2 + \mu^2}` along ``H``, with
        ``K = U_full^T H V``, is :math:`\sum_{rj} K_{rj}^2 / s_j - \sum_{ij} (\sigma_i^2 K_{ij}^2 + \sigma_i
        \sigma_j K_{ij} K_{ji}) / (s_i s_j (s_i + s_j))`. Singular values below ``_SMALL * mu`` are treated as
        zero in it (their ``s_j`` equal ``mu`` to 0.05%, their cross terms are below 3%), so only the ``r`` large
        singular directions are projected: a step costs :math:`O(p R q r)` instead of :math:`O(p R q^2)`.
        """
        A3 = self.A3
        p = A3.shape[0]
        M = self.matrix(v)
        U, sig, Vt = np.linalg.svd(M, full_matrices=False)
        s = np.sqrt(sig**2 + mu**2)
        residual = self.data_residual0 + self.DN @ v
        value = 0.5 * float(residual @ residual) + self.weight * float(s.sum())
        grad = self.weight * (self.A3_flat @ ((U * (sig / s)) @ Vt).reshape(-1))
        big = sig > _SMALL * mu
        Ub, sb, sigb = U[:, big], s[big], sig[big]
        R, q = A3.shape[1:]
        AV = (A3.reshape(p * R, q) @ Vt.T).reshape(p, R, q)  # A_k V for all k, one GEMM
        AVb = np.ascontiguousarray(AV[:, :, big])  # A_k v_j for the large directions
        # sum_j (1/s_j) |A_k v_j|^2 with s_j = mu on the small directions: Gram / mu + corrections on the large.
        hessian = self.gram / mu + (AVb * (1.0 / sb - 1.0 / mu)).reshape(p, -1) @ AVb.reshape(p, -1).T
        K = np.matmul(Ub.T, AV)  # (p, r, q): U_big^T A_k V
        denominator = sb[:, None] * s[None, :] * (sb[:, None] + s[None, :])
        # Both cross terms in one product: sum_ij K_ij (a_ij K'_ij + b_ij K'_ji), b only on large x large.
        weighted = K * ((sigb**2)[:, None] / denominator)
        weighted[:, :, big] += K[:, :, big].transpose(0, 2, 1) * (np.outer(sigb, sigb) / denominator[:, big])
        hessian -= K.reshape(p, -1) @ weighted.reshape(p, -1).T
        hessian = self.weight * hessian + self.data_hessian
        grad = grad + self.data_gradient0 + self.data_hessian @ v
        if self.l1:
            w = self.w0 + self.N @ v
            root = np.sqrt(w**2 + mu_w**2)
            value += self.l1 * float(root.sum())
            grad = grad + self.l1 * (self.N.T @ (w / root))
            hessian = hessian + self.l1 * (self.N.T * (mu_w**2 / root**3)) @ self.N
        hessian = 0.5 * (hessian + hessian.T)
        hessian[np.diag_indices(p)] += 1e-13 * max(float(np.trace(hessian)) / max(p, 1), 1e-300)
        try:
            step = -np.linalg.solve(hessian, grad)
        except np.linalg.LinAlgError:
            step = -np.linalg.lstsq(hessian, grad, rcond=None)[0]
        return value, grad, step


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
        Final smoothing relative to the problem's scale, and the relative Newton-decrement tolerance. The
        minimiser moves by about ``10 * tol`` relative to its size at the end (``1e-6`` leaves a wide margin to
        the ``5e-3`` recovery criterion of the paper's experiment).
    max_iter : int, default 300
        Largest number of Newton steps over all smoothing stages.
    warm_start : PromoteResult, optional
        A previous solution of a related problem with the same operator (e.g. more data, as in a bisection over
        nested training sets). Its coefficients, projected onto the new constraints, start the iteration at a
        small smoothing, which skips most stages when they are (nearly) optimal.

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
    matrix, q = _operator_parts(operator)
    n_params = matrix.shape[1]
    D = as_float_array(design, "design", shape=(None, n_params))
    y = as_float_array(targets, "targets", shape=(D.shape[0],))
    if alpha < 0 or l1 < 0:
        raise SymlieValueError(f"alpha and l1 must be >= 0, got alpha={alpha}, l1={l1}")
    if not 0 < tol < 1:
        raise SymlieValueError(f"tol must be in (0, 1), got {tol}")
    interpolate = alpha == 0
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
    dense = matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)
    rows = dense.shape[0] // q
    A3 = (dense @ N).reshape(rows, q, p).transpose(2, 0, 1)
    C = (dense @ w0).reshape(rows, q)
    if rows < q:  # work with the tall orientation (R >= q); singular values are unchanged
        A3, C = A3.transpose(0, 2, 1), C.T
    program = _Program(np.ascontiguousarray(A3), C, D, y, w0, N, 1.0 if interpolate else float(alpha), float(l1))

    scale = max(np.linalg.norm(C), np.linalg.norm(A3) / np.sqrt(max(p, 1)), 1e-300)
    mu_final = tol * scale
    w_scale = scale / max(np.linalg.norm(dense) / np.sqrt(q), 1e-300)  # converts smoothing to w units
    v = np.zeros(p)
    mu = max(float(np.linalg.norm(C, 2)), scale)
    if warm_start is not None:
        guess = np.asarray(warm_start.coef, dtype=float).reshape(-1)
        if guess.shape != (n_params,):
            raise ShapeError(f"warm_start.coef must have {n_params} entries, got {guess.shape}")
        v = N.T @ (guess - w0)
        mu = max(_WARM_SMOOTHING * scale, mu_final)

    steps, decrement, converged = 0, np.inf, False
    while p and steps < max_iter:
        mu_w = mu / scale * w_scale
        for _ in range(max_iter - steps):
            value, grad, step = program.newton_step(v, mu, mu_w)
            steps += 1
            decrement = float(max(-grad @ step, 0.0)) / max(value, 1e-300)
            t = 1.0
            while t > 1e-12 and program.value(v + t * step, mu, mu_w) > value - 0.25 * t * decrement * value:
                t *= 0.5
            v = v + t * step
            # Intermediate smoothings only need rough centring; the last one is solved to ``tol``.
            if decrement < (tol if mu <= mu_final else max(tol, _CENTRING)):
                break
        if mu <= mu_final and decrement < tol:
            converged = True
            break
        mu = max(mu * _SHRINK, mu_final)
    if not p:
        converged, decrement = True, 0.0

    w = w0 + N @ v
    singular = np.linalg.svd(program.matrix(v), compute_uv=False)
    penalty = float(singular.sum())
    misfit = float(np.linalg.norm(D @ w - y))
    sparsity = l1 * float(np.abs(w).sum())
    objective = penalty + sparsity if interpolate else 0.5 * misfit**2 + alpha * penalty + sparsity
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
        objective=float(objective),
        singular_values=singular,
        data_residual=misfit,
        iterations=steps,
        converged=converged,
        smoothing=float(mu),
        decrement=float(decrement),
        seconds=time.perf_counter() - start,
        message=message,
    )
