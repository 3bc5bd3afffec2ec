r"""Path-following Newton method for a Huber-smoothed nuclear norm of an affine matrix function.

The solver behind :func:`symlie.promote`. In free coordinates ``v`` (``w = w0 + N v``) it minimises

.. math::
    f_\mu(v) = \tfrac12\|D w - y\|^2 + \lambda \sum_i h_\mu(\sigma_i(C + \textstyle\sum_k v_k A_k))
    + \beta \sum_j \sqrt{w_j^2 + \mu_w^2},
    \qquad h_\mu(s) = \begin{cases} s^2 / (2\mu) & s \le \mu \\ s - \mu/2 & s > \mu \end{cases}

for a decreasing sequence of smoothings :math:`\mu`. The Huber function :math:`h_\mu` is convex, has a Lipschitz
derivative and is within :math:`\mu/2` of :math:`|s|`, so :math:`f_\mu` is within :math:`q\mu/2` of the nuclear-norm
objective. Its Hessian is cheap where it matters: every second-derivative weight of the singular values below
:math:`\mu` equals exactly :math:`1/\mu`, so the Hessian is a constant Gram matrix over :math:`\mu` plus corrections
that involve only the ``r`` singular values above :math:`\mu` (the rank that emerges). Each smoothing is minimised
by damped Newton steps; a Hessian is reused for the next step while the Newton decrement keeps shrinking fast (a
chord step costs one SVD), and the line search's trial point, when accepted, is where the next step starts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PathResult", "SmoothedProgram", "follow_path", "huber"]

_SHRINK = 0.01  # smoothing reduction per stage
_CENTRING = 1e-3  # relative Newton decrement that ends an intermediate smoothing stage
_ARMIJO = 0.25  # sufficient-decrease fraction of the line search


def huber(sig: np.ndarray, mu: float) -> np.ndarray:
    """The Huber smoothing of each singular value: ``s^2 / (2 mu)`` up to ``mu``, ``s - mu / 2`` above."""
    return np.where(sig <= mu, sig**2 / (2 * mu), sig - mu / 2)


def _huber_weights(sig: np.ndarray, mu: float, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Second-derivative weights of :math:`\sum_i h_\mu(\sigma_i)`, minus their common value ``1/mu``.

    In singular coordinates ``K = [U, U_perp]^T H V`` of a direction ``H`` the second derivative is

    .. math::
        \sum_i h''_i K_{ii}^2 + \sum_{i<j} \Big[a_{ij} \frac{(K_{ij} + K_{ji})^2}{2}
        + b_{ij} \frac{(K_{ij} - K_{ji})^2}{2}\Big] + \sum_{r > q, j} c_j K_{rj}^2

    with :math:`a_{ij} = (h'_i - h'_j)/(\sigma_i - \sigma_j)`, :math:`b_{ij} = (h'_i + h'_j)/(\sigma_i + \sigma_j)`
    and :math:`c_j = h'_j/\sigma_j`, all equal to ``1/mu`` when both singular values are at most ``mu``.

    Returns
    -------
    E, F : ndarray of shape (q, q)
        Coefficients of :math:`K_{ij} K'_{ij}` and :math:`K_{ij} K'_{ji}` on the top (q, q) block.
    bottom : ndarray of shape (r,)
        Coefficient of :math:`(A v_j) \cdot (A' v_j)` for the ``r`` large singular values: the rows beyond ``q``
        are written as the whole column minus the top block, whose share ``E`` already subtracts.
    """
    q = sig.size
    inv = 1.0 / mu
    slope = np.minimum(sig / mu, 1.0)  # h'
    total = sig[:, None] + sig[None, :]
    b = np.divide(slope[:, None] + slope[None, :], total, out=np.full((q, q), inv), where=total > 0)
    a = np.full((q, q), inv)
    a[:r, :r] = 0.0  # h' = 1 on both
    cross = (1.0 - slope[r:])[None, :] / (sig[:r, None] - sig[None, r:])  # large i, small j
    a[:r, r:], a[r:, :r] = cross, cross.T
    E = 0.5 * (a + b) - inv
    F = 0.5 * (a - b)
    np.fill_diagonal(E, np.where(np.arange(q) < r, -inv, 0.0))  # h'' - 1/mu
    np.fill_diagonal(F, 0.0)
    bottom = 1.0 / sig[:r] - inv
    E[:, :r] -= bottom
    return E, F, bottom


@dataclass(frozen=True)
class _Point:
    """An iterate with its objective value, gradient and the SVD of its Lie-derivative matrix."""

    v: np.ndarray
    value: float
    grad: np.ndarray
    svd: tuple[np.ndarray, np.ndarray, np.ndarray]


class SmoothedProgram:
    r"""The smoothed objective :math:`f_\mu` in free coordinates, with its gradient and Hessian.

    Parameters
    ----------
    A3 : ndarray of shape (p, R, q)
        The Lie-derivative matrix of each free direction, ``R >= q``.
    C : ndarray of shape (R, q)
        The Lie-derivative matrix at ``v = 0``.
    D, y : ndarray of shape (n, P) and (n,)
        Data term (empty for interpolation).
    w0, N : ndarray of shape (P,) and (P, p)
        ``w = w0 + N v``.
    weight, l1 : float
        :math:`\lambda` and :math:`\beta`.
    """

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
        p, R, q = A3.shape
        self.A3, self.C, self.w0, self.N = A3, C, w0, N
        self.weight, self.l1 = weight, l1
        self.DN = D @ N
        self.data_residual0 = D @ w0 - y
        self.data_hessian = self.DN.T @ self.DN
        self.data_gradient0 = self.DN.T @ self.data_residual0
        self.A3_flat = A3.reshape(p, R * q)
        self.gram = self.A3_flat @ self.A3_flat.T
        self.hessian = np.eye(p)

    def matrix(self, v: np.ndarray) -> np.ndarray:
        """The Lie-derivative matrix ``C + sum_k v_k A_k`` of shape (R, q)."""
        return self.C + (v @ self.A3_flat).reshape(self.C.shape)

    def evaluate(self, v: np.ndarray, mu: float, mu_w: float, svd: tuple | None = None) -> _Point:
        """Value and gradient at ``v`` (``svd``: that of ``matrix(v)`` when already known)."""
        U, sig, Vt = np.linalg.svd(self.matrix(v), full_matrices=False) if svd is None else svd
        residual = self.data_residual0 + self.DN @ v
        value = 0.5 * float(residual @ residual) + self.weight * float(huber(sig, mu).sum())
        grad = self.weight * (self.A3_flat @ ((U * np.minimum(sig / mu, 1.0)) @ Vt).reshape(-1))
        grad += self.data_gradient0 + self.data_hessian @ v
        if self.l1:
            w = self.w0 + self.N @ v
            root = np.sqrt(w**2 + mu_w**2)
            value += self.l1 * float(root.sum())
            grad += self.l1 * (self.N.T @ (w / root))
        return _Point(v, value, grad, (U, sig, Vt))

    def update_hessian(self, point: _Point, mu: float, mu_w: float) -> None:
        """Form the Hessian at ``point``: ``Gram / mu`` plus the corrections of the singular values above ``mu``.

        A new Hessian costs :math:`O(p R q r + p^2 (R + q) r)` for ``r`` singular values above ``mu``.
        """
        p, R, q = self.A3.shape
        U, sig, Vt = point.svd
        r = int(np.count_nonzero(sig > mu))  # sorted: the first r
        hessian = self.gram / mu
        if r:
            E, F, bottom = _huber_weights(sig, mu, r)
            V = Vt.T
            P = (self.A3.reshape(p * R, q) @ V[:, :r]).reshape(p, R, r)  # A_k V_big
            T = np.matmul(U.T, P)  # K[:, big] of shape (p, q, r)
            big_big, Kc = T[:, :r], T[:, r:]  # K[big, big], K[small, big]

            def gram(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
                return X.reshape(p, -1) @ Y.reshape(p, -1).T

            hessian = hessian + gram(P, P * bottom)
            hessian += gram(big_big, E[:r, :r] * big_big + F[:r, :r] * big_big.transpose(0, 2, 1))
            if r < q:
                Kd = np.matmul(np.matmul(U[:, :r].T, self.A3), V[:, r:])  # K[big, small]
                hessian += gram(Kd, E[:r, r:] * Kd + F[:r, r:] * Kc.transpose(0, 2, 1))
                hessian += gram(Kc, E[r:, :r] * Kc + F[r:, :r] * Kd.transpose(0, 2, 1))
        hessian = self.weight * hessian + self.data_hessian
        if self.l1:
            w = self.w0 + self.N @ point.v
            hessian += self.l1 * (self.N.T * (mu_w**2 / np.sqrt(w**2 + mu_w**2) ** 3)) @ self.N
        hessian = 0.5 * (hessian + hessian.T)
        hessian[np.diag_indices(p)] += 1e-13 * max(float(np.trace(hessian)) / max(p, 1), 1e-300)
        self.hessian = hessian

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """``H^{-1} rhs`` with the last Hessian formed (least squares if it is singular)."""
        try:
            return np.linalg.solve(self.hessian, rhs)
        except np.linalg.LinAlgError:
            return np.linalg.lstsq(self.hessian, rhs, rcond=None)[0]


@dataclass(frozen=True)
class PathResult:
    """Where :func:`follow_path` stopped."""

    v: np.ndarray
    steps: int
    converged: bool
    smoothing: float
    decrement: float


def follow_path(
    program: SmoothedProgram,
    v: np.ndarray,
    *,
    mu: float,
    mu_final: float,
    tol: float,
    max_iter: int,
    l1_ratio: float,
) -> PathResult:
    r"""Minimise :math:`f_\mu` for :math:`\mu` shrinking 100x per stage from ``mu`` to ``mu_final``.

    Intermediate stages stop at a relative Newton decrement of ``1e-3``, the last one at ``tol``.
    ``mu_w = l1_ratio * mu`` smooths the l1 term.
    """
    steps, decrement = 0, np.inf
    point = program.evaluate(v, mu, l1_ratio * mu)
    while steps < max_iter:
        mu_w = l1_ratio * mu
        fresh, decrement = True, np.inf
        while steps < max_iter:
            if fresh:
                program.update_hessian(point, mu, mu_w)
            step = -program.solve(point.grad)
            steps += 1
            slope = float(max(-point.grad @ step, 0.0))
            # Relative to the objective or, where that vanishes (an exact symmetry), to the smoothing.
            previous, decrement = decrement, slope / max(point.value, program.weight * mu, 1e-300)
            # Reuse the Hessian for the next step, and again while that still converges fast.
            fresh = not fresh and decrement > 0.25 * previous
            t, trial = 1.0, program.evaluate(point.v + step, mu, mu_w)
            while t > 1e-12 and trial.value > point.value - _ARMIJO * t * slope:
                t *= 0.5
                trial = program.evaluate(point.v + t * step, mu, mu_w)
            point = trial
            if decrement < (tol if mu <= mu_final else max(tol, _CENTRING)):
                break
        if mu <= mu_final and decrement < tol:
            return PathResult(point.v, steps, True, mu, decrement)
        mu = max(mu * _SHRINK, mu_final)
        point = program.evaluate(point.v, mu, l1_ratio * mu, svd=point.svd)
    return PathResult(point.v, steps, False, mu, decrement)
