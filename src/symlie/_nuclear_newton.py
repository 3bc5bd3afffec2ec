r"""Path-following inexact Newton method for a Huber-smoothed nuclear norm of an affine matrix function.

The solver behind :func:`symlie.promote`. In free coordinates ``v`` (``w = w0 + N v``) it minimises

.. math::
    f_\mu(v) = \tfrac12\|D w - y\|^2 + \lambda \sum_i h_\mu(\sigma_i(C + \textstyle\sum_k v_k A_k))
    + \beta \sum_j \sqrt{w_j^2 + \mu_w^2},
    \qquad h_\mu(s) = \begin{cases} s^2 / (2\mu) & s \le \mu \\ s - \mu/2 & s > \mu \end{cases}

for a decreasing sequence of smoothings :math:`\mu`. The Huber function :math:`h_\mu` is convex, has a Lipschitz
derivative and is within :math:`\mu/2` of :math:`|s|`, so :math:`f_\mu` is within :math:`q\mu/2` of the nuclear-norm
objective. Each smoothing is minimised by damped Newton steps:

* **Directions** come from preconditioned conjugate gradients on exact Hessian-vector products, which cost
  :math:`O(Rq^2 + pRq)` each (rotate the direction into the singular bases, weight, rotate back). The preconditioner
  is the last dense Hessian formed. A dense Hessian is formed at the start and again only when conjugate gradients
  would cost more than forming one (a flop model decides), so most steps take a handful of products.
* **Dense Hessians** are cheap where it matters: every second-derivative weight of the singular values below
  :math:`\mu` equals exactly :math:`1/\mu`, so the Hessian is a constant Gram matrix over :math:`\mu` plus
  corrections that involve only the ``r`` singular values above :math:`\mu` (the rank that emerges).
* **Smoothing changes** take a tangent predictor step: the derivative of the minimiser along the path,
  :math:`dv/d\mu = -H^{-1}\,\partial_\mu \nabla f_\mu`, extrapolated to the next :math:`\mu`. On the path the
  singular values inside the Huber zone are about :math:`\mu` times their dual values, so the step shrinks them with
  :math:`\mu`; without it they leave the zone at the change and come back one or two per Newton step (4x more
  time on ``t(40)`` recovery problems). The step is kept when it lowers the new objective.
* **Step lengths** start from the minimiser of the Newton model in which each singular value's term is replaced by
  its exact Huber function along its first-order path. This catches the typical overshoot, a singular value driven
  through zero along a direction of zero curvature, before any trial evaluation; Armijo backtracking follows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, partial

import numpy as np
import scipy.linalg as sla

from ._matrix_map import MatrixMap

__all__ = ["PathResult", "SmoothedProgram", "follow_path", "huber"]

_SHRINK = 0.01  # smoothing reduction per stage
_CENTRING = 1e-3  # relative Newton decrement that ends an intermediate smoothing stage
_ARMIJO = 0.25  # sufficient-decrease fraction of the line search
_FORCING = 0.1  # relative preconditioned residual at which conjugate gradients stop (inexact Newton)
_PREDICTOR_FORCING = 1e-3  # the same for the tangent predictor (0.1 and 0.01 predict worse; measured)
_CALL_FLOPS = 5e4  # the flop model's price of one NumPy call (its fixed overhead, ~2 us)
_STEP_GRID = 2.0 ** -np.arange(0.0, 30.0, 0.5)  # candidate first step lengths, 1 down to 2^-29.5


def huber(sig: np.ndarray, mu: float) -> np.ndarray:
    """The Huber smoothing of each singular value: ``s^2 / (2 mu)`` up to ``mu``, ``s - mu / 2`` above."""
    return np.where(sig <= mu, sig**2 / (2 * mu), sig - mu / 2)


def _second_derivative_weights(sig: np.ndarray, mu: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Weights of the second derivative of :math:`\sum_i h_\mu(\sigma_i(X))` in the singular bases of ``X``.

    For a direction ``H`` (R, q), with ``X = U diag(sig) V^T`` (thin ``U``), ``K = U^T H V`` and the rest
    ``B = H V - U K`` (rows outside the range of ``U``), the second derivative applied to ``H`` is

    .. math:: \big[U (S \circ K + T \circ K^T) + B \operatorname{diag}(c)\big] V^T

    with :math:`S_{ij} = (a_{ij} + b_{ij})/2`, :math:`T_{ij} = (a_{ij} - b_{ij})/2` off the diagonal,
    :math:`S_{ii} = h''_i`, :math:`T_{ii} = 0`, :math:`a_{ij} = (h'_i - h'_j)/(\sigma_i - \sigma_j)`,
    :math:`b_{ij} = (h'_i + h'_j)/(\sigma_i + \sigma_j)` and :math:`c_j = h'_j / \sigma_j`. Every weight between
    singular values at most ``mu`` equals ``1/mu``.

    Returns
    -------
    S, T : ndarray of shape (q, q)
    c : ndarray of shape (q,)
    """
    inv = 1.0 / mu
    small = sig <= mu
    slope = np.minimum(sig / mu, 1.0)  # h'
    both_small = small[:, None] & small[None, :]
    total = sig[:, None] + sig[None, :]
    b = np.divide(slope[:, None] + slope[None, :], total, out=np.full(total.shape, inv), where=total > 0)
    # a is 1/mu between two small singular values, 0 between two large ones, a divided difference across mu.
    a = np.divide(
        slope[:, None] - slope[None, :],
        sig[:, None] - sig[None, :],
        out=np.where(both_small, inv, 0.0),
        where=small[:, None] != small[None, :],
    )
    S, T = 0.5 * (a + b), 0.5 * (a - b)
    np.fill_diagonal(S, np.where(small, inv, 0.0))
    np.fill_diagonal(T, 0.0)
    c = np.divide(slope, sig, out=np.full(sig.shape, inv), where=sig > 0)
    return S, T, c


@dataclass(frozen=True)
class _Point:
    """An iterate with its objective value, gradient and the SVD of its Lie-derivative matrix."""

    v: np.ndarray
    value: float
    grad: np.ndarray
    svd: tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class _Curvature:
    """The second-derivative weights at a point (:func:`_second_derivative_weights`) and of the l1 term."""

    U: np.ndarray
    sig: np.ndarray
    Vt: np.ndarray
    S: np.ndarray
    T: np.ndarray
    c: np.ndarray
    l1_diagonal: np.ndarray | None  # second derivative of the smoothed l1 term in each w_j
    mu: float

    @property
    def large(self) -> int:
        """How many singular values lie above ``mu`` (they are sorted: the first ones)."""
        return int(np.count_nonzero(self.sig > self.mu))


class SmoothedProgram:
    r"""The smoothed objective :math:`f_\mu` in free coordinates: value, gradient, Hessian products and Hessian.

    Parameters
    ----------
    lie : MatrixMap
        ``v -> C + sum_k v_k A_k`` with ``A_k`` of shape (R, q), ``R >= q`` (:mod:`symlie._matrix_map`).
    D, y : ndarray of shape (n, P) and (n,)
        Data term (empty for interpolation).
    w0, N : ndarray of shape (P,) and (P, p)
        ``w = w0 + N v``.
    weight, l1 : float
        :math:`\lambda` and :math:`\beta`.
    """

    def __init__(
        self,
        lie: MatrixMap,
        D: np.ndarray,
        y: np.ndarray,
        w0: np.ndarray,
        N: np.ndarray,
        weight: float,
        l1: float,
    ) -> None:
        self.lie, self.C, self.w0, self.N = lie, lie.offset, w0, N
        self.weight, self.l1 = weight, l1
        self.DN = D @ N
        self.data_residual0 = D @ w0 - y
        self.data_hessian = self.DN.T @ self.DN
        self.data_gradient0 = self.DN.T @ self.data_residual0

    @cached_property
    def gram(self) -> np.ndarray:
        r""":math:`\langle A_k, A_l\rangle`, shape (p, p)."""
        return self.lie.gram()

    def matrix(self, v: np.ndarray) -> np.ndarray:
        """The Lie-derivative matrix ``C + sum_k v_k A_k`` of shape (R, q)."""
        return self.C + self.lie.forward(v)

    def evaluate(self, v: np.ndarray, mu: float, mu_w: float, svd: tuple | None = None) -> _Point:
        """Value and gradient at ``v`` (``svd``: that of ``matrix(v)`` when already known)."""
        U, sig, Vt = np.linalg.svd(self.matrix(v), full_matrices=False) if svd is None else svd
        residual = self.data_residual0 + self.DN @ v
        value = 0.5 * float(residual @ residual) + self.weight * float(huber(sig, mu).sum())
        grad = self.weight * self.lie.adjoint((U * np.minimum(sig / mu, 1.0)) @ Vt)
        grad += self.data_gradient0 + self.data_hessian @ v
        if self.l1:
            w = self.w0 + self.N @ v
            root = np.sqrt(w**2 + mu_w**2)
            value += self.l1 * float(root.sum())
            grad += self.l1 * (self.N.T @ (w / root))
        return _Point(v, value, grad, (U, sig, Vt))

    def curvature(self, point: _Point, mu: float, mu_w: float) -> _Curvature:
        """The second-derivative weights at ``point``, for :meth:`hessian_product` and :meth:`hessian`."""
        U, sig, Vt = point.svd
        l1_diagonal = None
        if self.l1:
            w = self.w0 + self.N @ point.v
            l1_diagonal = self.l1 * mu_w**2 / np.sqrt(w**2 + mu_w**2) ** 3
        return _Curvature(U, sig, Vt, *_second_derivative_weights(sig, mu), l1_diagonal, mu)

    def smoothing_derivative(self, point: _Point, mu: float, mu_w: float, l1_ratio: float) -> np.ndarray:
        r""":math:`\partial_\mu \nabla f_\mu` at ``point``, with ``mu_w = l1_ratio * mu`` moving along.

        Only the Huber zone depends on :math:`\mu` (:math:`h'_\mu(s) = s/\mu` there) and the smoothed l1 term.
        """
        U, sig, Vt = point.svd
        zone = np.where(sig <= mu, sig / mu**2, 0.0)  # -d h'/d mu
        out = -self.weight * self.lie.adjoint((U * zone) @ Vt)
        if self.l1:
            w = self.w0 + self.N @ point.v
            out -= self.l1 * l1_ratio * (self.N.T @ (w * mu_w / (w**2 + mu_w**2) ** 1.5))
        return out

    def hessian_product(self, curv: _Curvature, d: np.ndarray) -> np.ndarray:
        """The Hessian at the point of ``curv`` times ``d``, in :math:`O(Rq^2 + pRq)`."""
        HV = self.lie.forward(d) @ curv.Vt.T
        K = curv.U.T @ HV
        Z = curv.U @ (curv.S * K + curv.T * K.T - K * curv.c) + HV * curv.c
        out = self.weight * self.lie.adjoint(Z @ curv.Vt) + self.data_hessian @ d
        if curv.l1_diagonal is not None:
            out += self.N.T @ (curv.l1_diagonal * (self.N @ d))
        return out

    def hessian(self, curv: _Curvature) -> np.ndarray:
        """The dense Hessian: ``Gram / mu`` plus the corrections of the ``r`` singular values above ``mu``.

        Costs :math:`O(p R q r + p^2 (R + q) r)`.
        """
        p, R, q = self.lie.shape
        U, mu, r = curv.U, curv.mu, curv.large
        inv = 1.0 / mu
        hessian = self.gram * inv
        if r:
            # Relative to Gram / mu: the rows outside U carry c - 1/mu, which the top block must not count twice.
            bottom = curv.c[:r] - inv
            E, F = curv.S - inv, curv.T
            E[:, :r] -= bottom
            V = curv.Vt.T
            P, Kd = np.empty((p, R, r)), np.empty((p, r, q - r))  # A_k V_big and K[big, small]
            for block, A in self.lie.blocks():
                P[block] = (A.reshape(-1, q) @ V[:, :r]).reshape(-1, R, r)
                Kd[block] = np.matmul(np.matmul(U[:, :r].T, A), V[:, r:])
            Kr = np.matmul(U.T, P)  # K[:, big] of shape (p, q, r)
            big_big, Kc = Kr[:, :r], Kr[:, r:]  # K[big, big], K[small, big]

            def gram(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
                return X.reshape(p, -1) @ Y.reshape(p, -1).T

            hessian = hessian + gram(P, P * bottom)
            hessian += gram(big_big, E[:r, :r] * big_big + F[:r, :r] * big_big.transpose(0, 2, 1))
            if r < q:
                hessian += gram(Kd, E[:r, r:] * Kd + F[:r, r:] * Kc.transpose(0, 2, 1))
                hessian += gram(Kc, E[r:, :r] * Kc + F[r:, :r] * Kd.transpose(0, 2, 1))
        hessian = self.weight * hessian + self.data_hessian
        if curv.l1_diagonal is not None:
            hessian += (self.N.T * curv.l1_diagonal) @ self.N
        hessian = 0.5 * (hessian + hessian.T)
        hessian[np.diag_indices(p)] += 1e-13 * max(float(np.trace(hessian)) / max(p, 1), 1e-300)
        return hessian

    def conjugate_gradient_budget(self, curv: _Curvature) -> int:
        """Hessian products that cost as much as one dense :meth:`hessian` (a flop model, NumPy calls priced in)."""
        p, R, q = self.lie.shape
        r = curv.large
        dense = p * r * (4 * R * q + 2 * p * (R + q)) + 25 * _CALL_FLOPS
        product = 10 * R * q * q + self.lie.product_flops + 2 * p * p + 12 * _CALL_FLOPS
        return max(1, int(dense / product))

    def first_step_length(self, point: _Point, step: np.ndarray, slope: float, mu: float) -> float:
        r"""Minimiser over :data:`_STEP_GRID` of the Newton model with each singular value's term made exact.

        Along ``t * step`` the singular values move to first order as :math:`\sigma_i + t\,\delta_i` with
        :math:`\delta_i = u_i^T (\sum_k \text{step}_k A_k) v_i`. The model :math:`-t\,s + t^2 s / 2` (``s`` the
        Newton decrement ``slope``) keeps its rotation and data parts but replaces the quadratic of each
        :math:`h_\mu(\sigma_i)` by :math:`h_\mu(|\sigma_i + t\,\delta_i|)`.
        """
        U, sig, Vt = point.svd
        delta = np.einsum("ij,ij->j", U, self.lie.forward(step) @ Vt.T)
        small = sig <= mu
        # The quadratic each singular value contributes to the Newton model, summed: c0 + c1 t + c2 t^2.
        c0 = float(huber(sig, mu).sum())
        c1 = float(np.minimum(sig / mu, 1.0) @ delta)
        c2 = 0.5 * float(delta[small] @ delta[small]) / mu
        exact = huber(np.abs(sig + _STEP_GRID[:, None] * delta), mu).sum(axis=1)
        t = _STEP_GRID
        model = slope * (0.5 * t**2 - t) + self.weight * (exact - c0 - c1 * t - c2 * t**2)
        return float(_STEP_GRID[np.argmin(model)])


def _inverse(hessian: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive definite Hessian (pseudo-inverse if rounding made it indefinite)."""
    try:
        return sla.cho_solve(sla.cho_factor(hessian, check_finite=False), np.eye(len(hessian)), check_finite=False)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(hessian, hermitian=True)


def _conjugate_gradient(
    product: Callable[[np.ndarray], np.ndarray],
    preconditioner: np.ndarray,
    rhs: np.ndarray,
    budget: int,
    forcing: float = _FORCING,
) -> tuple[np.ndarray | None, int]:
    """Preconditioned CG for ``H x = rhs`` to a relative residual of ``forcing``.

    Returns the solution (None if ``budget`` products did not reach it) and the number of products taken.
    """
    x = np.zeros_like(rhs)
    residual = rhs.copy()
    z = preconditioner @ residual
    direction, rz = z.copy(), float(residual @ z)
    target = forcing**2 * rz
    for used in range(1, budget + 1):
        Hd = product(direction)
        curvature = float(direction @ Hd)
        if curvature <= 0:
            return None, used
        alpha = rz / curvature
        x += alpha * direction
        residual -= alpha * Hd
        z = preconditioner @ residual
        rz, previous = float(residual @ z), rz
        if rz <= target:
            return x, used
        direction = z + (rz / previous) * direction
    return None, budget


def _solve(
    program: SmoothedProgram, curv: _Curvature, rhs: np.ndarray, inverse: np.ndarray | None, forcing: float
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """``H x = rhs`` at ``curv``: CG preconditioned by ``inverse`` within its budget, else a dense Hessian.

    Returns ``x``, the preconditioner to keep (the new dense Hessian's inverse if one was formed), the Hessian
    products taken and the dense Hessians formed (0 or 1).
    """
    used = 0
    if inverse is not None:
        budget = program.conjugate_gradient_budget(curv)
        x, used = _conjugate_gradient(partial(program.hessian_product, curv), inverse, rhs, budget, forcing)
        if x is not None:
            return x, inverse, used, 0
    inverse = _inverse(program.hessian(curv))
    return inverse @ rhs, inverse, used, 1


@dataclass(frozen=True)
class PathResult:
    """Where :func:`follow_path` stopped, with its work: Newton steps, dense Hessians and Hessian products."""

    v: np.ndarray
    steps: int
    converged: bool
    smoothing: float
    decrement: float
    hessians: int
    products: int


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
    steps = hessians = products = 0
    decrement = np.inf
    inverse = None  # inverse of the last dense Hessian: the preconditioner
    point = program.evaluate(v, mu, l1_ratio * mu)
    while steps < max_iter:
        mu_w = l1_ratio * mu
        final = mu <= mu_final
        while steps < max_iter:
            curv = program.curvature(point, mu, mu_w)
            step, inverse, used, formed = _solve(program, curv, -point.grad, inverse, _FORCING)
            products, hessians = products + used, hessians + formed
            steps += 1
            slope = float(max(-point.grad @ step, 0.0))
            # Relative to the objective or, where that vanishes (an exact symmetry), to the smoothing.
            decrement = slope / max(point.value, program.weight * mu, 1e-300)
            t = program.first_step_length(point, step, slope, mu)
            trial = program.evaluate(point.v + t * step, mu, mu_w)
            while t > 1e-12 and trial.value > point.value - _ARMIJO * t * slope:
                t *= 0.5
                trial = program.evaluate(point.v + t * step, mu, mu_w)
            point = trial
            if decrement < (tol if final else max(tol, _CENTRING)):
                break
        if final and decrement < tol:
            return PathResult(point.v, steps, True, mu, decrement, hessians, products)
        # The last stage is exactly mu_final (a rounding excess of mu * _SHRINK must not add a stage).
        new_mu = mu * _SHRINK if mu * _SHRINK > mu_final * (1 + 1e-9) else mu_final
        here = program.evaluate(point.v, new_mu, l1_ratio * new_mu, svd=point.svd)
        # Tangent predictor: v(new_mu) ~ v + (new_mu - mu) dv/dmu with dv/dmu = -H^{-1} d(grad)/dmu.
        rate = program.smoothing_derivative(point, mu, mu_w, l1_ratio)
        tangent, inverse, used, formed = _solve(
            program, program.curvature(point, mu, mu_w), rate, inverse, _PREDICTOR_FORCING
        )
        products, hessians = products + used, hessians + formed
        predicted = program.evaluate(point.v + (mu - new_mu) * tangent, new_mu, l1_ratio * new_mu)
        point, mu = (predicted if predicted.value < here.value else here), new_mu
    return PathResult(point.v, steps, False, mu, decrement, hessians, products)
