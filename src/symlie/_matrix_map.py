r"""The Lie-derivative matrices of an affine family of models, as a linear map the promotion solver can apply.

For models :math:`w = w_0 + N v` (``N`` of shape (P, p)) the Lie-derivative matrix is affine in ``v``,

.. math:: \mathcal{M}(w_0 + N v) = C + \sum_k v_k A_k, \qquad C = \mathcal{M}(w_0),\; A_k = \mathcal{M}(N e_k),

each of shape (R, q). The solver needs ``v -> sum_k v_k A_k`` (:meth:`forward`), its adjoint
``Z -> (<A_k, Z>)_k`` (:meth:`adjoint`) many times, and all ``A_k`` (:meth:`blocks`, :meth:`gram`) rarely. Two
representations provide them:

* :class:`FlatMap` from any operator's flat matrix ``T`` of shape (R q, P), dense or sparse: a product costs one
  pass over ``T`` (``nnz`` for the sparse exact form);
* :class:`PointwiseMap` from the factors of a sampled operator, :math:`A_k(x) = D F_k(x)\, V(x) - B(x) F_k(x)` with
  ``F_k`` the model ``N e_k``: the library's Jacobian at the points is contracted with ``N`` once, after which a
  product costs :math:`O(R\,m\,p + R\,m\,q)` instead of :math:`O(R\,q\,p)`. For ``se(16)`` and cubics (``q = 136``,
  ``m = 16``) that is about 8x fewer operations, and ``T`` (1 GB there) is never formed.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import norm as sparse_norm

from ._errors import ShapeError
from ._operator import LieDerivativeOperator, PointEvaluation, lie_derivative_values, tensor_norm

_BLOCK = 32  # models per block when a pointwise map forms its matrices

__all__ = ["FlatMap", "MatrixMap", "PointwiseMap", "Transposed", "operator_shape", "restricted_map"]


class MatrixMap(Protocol):
    """``v -> C + sum_k v_k A_k`` with ``A_k`` of shape (R, q): what :class:`~symlie._nuclear_newton.SmoothedProgram`
    needs."""

    shape: tuple[int, int, int]  # (p, R, q)
    offset: np.ndarray  # C, shape (R, q)
    operator_norm: float  # Frobenius norm of the whole operator T (R q, P)
    product_flops: float  # cost of one forward plus one adjoint product

    def forward(self, v: np.ndarray) -> np.ndarray: ...

    def adjoint(self, Z: np.ndarray) -> np.ndarray: ...

    def blocks(self) -> Iterator[tuple[slice, np.ndarray]]: ...

    def gram(self) -> np.ndarray: ...


class FlatMap:
    """:class:`MatrixMap` from a flat operator matrix ``T`` (R q, P), rows ordered (row, generator).

    Parameters
    ----------
    matrix : ndarray or scipy sparse matrix of shape (R * q, P)
    q : int
    w0 : ndarray of shape (P,)
    N : ndarray of shape (P, p)
    """

    def __init__(self, matrix: Any, q: int, w0: np.ndarray, N: np.ndarray) -> None:
        self.matrix, self.N = matrix, N
        R = matrix.shape[0] // q
        self.shape = (N.shape[1], R, q)
        self.offset = np.asarray(matrix @ w0).reshape(R, q)
        sparse = sp.issparse(matrix)
        self.operator_norm = float(sparse_norm(matrix) if sparse else np.linalg.norm(matrix))
        entries = matrix.nnz if sparse else matrix.size
        self.product_flops = 4.0 * (entries + N.size)

    def forward(self, v: np.ndarray) -> np.ndarray:
        """:math:`\\sum_k v_k A_k` of shape (R, q) for ``v`` of shape (p,)."""
        return np.asarray(self.matrix @ (self.N @ v)).reshape(self.shape[1:])

    def adjoint(self, Z: np.ndarray) -> np.ndarray:
        """:math:`(\\langle A_k, Z\\rangle)_k` of shape (p,) for ``Z`` of shape (R, q)."""
        return self.N.T @ np.asarray(self.matrix.T @ Z.reshape(-1))

    @cached_property
    def _flat_stack(self) -> np.ndarray:
        """Every ``A_k`` flattened: ndarray of shape (p, R q), formed once (one pass over ``T``)."""
        return np.ascontiguousarray(np.asarray(self.matrix @ self.N).T)

    def blocks(self) -> Iterator[tuple[slice, np.ndarray]]:
        """``(slice, A[slice])``: here all ``A_k`` (p, R, q) in one block."""
        yield slice(None), self._flat_stack.reshape(self.shape)

    def gram(self) -> np.ndarray:
        """:math:`\\langle A_k, A_l\\rangle`, shape (p, p)."""
        return self._flat_stack @ self._flat_stack.T


class PointwiseMap:
    r""":class:`MatrixMap` of a sampled operator from its point evaluation (``T`` is never formed).

    With ``F_k`` the model of coefficients ``N e_k`` (rows of ``N`` ordered (output, term)), row ``(x, o)`` of
    ``A_k`` is :math:`s_x \big(\sum_a \partial_a F_{k,o}(x)\, v_a(x) - \sum_b B(x)_{ob} F_{k,b}(x)\big)` with
    :math:`s_x` the square root of the point's quadrature weight.

    Parameters
    ----------
    ev : PointEvaluation
        At ``n`` points; ``R = n * n_out`` rows.
    n_out : int
    row_scale : ndarray of shape (n,) or None
    w0 : ndarray of shape (P,)
    N : ndarray of shape (P, p)
    """

    def __init__(
        self, ev: PointEvaluation, n_out: int, row_scale: np.ndarray | None, w0: np.ndarray, N: np.ndarray
    ) -> None:
        n, L, m = ev.dtheta.shape
        p, q = N.shape[1], ev.fields.shape[2]
        self.ev, self.n_out, self.row_scale = ev, n_out, row_scale
        self.shape = (p, n * n_out, q)
        basis = N.reshape(n_out, L, p).transpose(1, 0, 2).reshape(L, n_out * p)
        # The Jacobian of every model F_k at every point: (n, m, n_out, p).
        self.jacobian = (ev.dtheta.transpose(0, 2, 1).reshape(n * m, L) @ basis).reshape(n, m, n_out, p)
        self.values = None if ev.outputs is None else (ev.theta @ basis).reshape(n, n_out, p)
        offset = lie_derivative_values(ev, w0.reshape(1, n_out, L))[0]  # (n, n_out, q)
        self.offset = self._scaled(offset).reshape(n * n_out, q)
        self.operator_norm = tensor_norm(ev, n_out, None if row_scale is None else row_scale**2)
        self.product_flops = 4.0 * (self.jacobian.size + n * m * q * n_out) * (1 + (ev.outputs is not None))

    def _scaled(self, rows: np.ndarray) -> np.ndarray:
        """Rows (leading axis: points) times their quadrature scale."""
        return rows if self.row_scale is None else rows * self.row_scale.reshape(-1, *(1,) * (rows.ndim - 1))

    def forward(self, v: np.ndarray) -> np.ndarray:
        """:math:`\\sum_k v_k A_k` of shape (R, q) for ``v`` of shape (p,)."""
        gradient = self.jacobian @ v  # (n, m, n_out)
        out = np.matmul(gradient.transpose(0, 2, 1), self.ev.fields)  # (n, n_out, q)
        if self.values is not None:
            out -= np.einsum("knab,nb->nak", self.ev.outputs, self.values @ v)
        return self._scaled(out).reshape(self.shape[1:])

    def adjoint(self, Z: np.ndarray) -> np.ndarray:
        """:math:`(\\langle A_k, Z\\rangle)_k` of shape (p,) for ``Z`` of shape (R, q)."""
        n, _, n_out, p = self.jacobian.shape
        Z = self._scaled(Z.reshape(n, n_out, -1))
        along = np.matmul(self.ev.fields, Z.transpose(0, 2, 1))  # (n, m, n_out)
        out = along.reshape(-1) @ self.jacobian.reshape(-1, p)
        if self.values is not None:
            out -= np.einsum("knab,nak->nb", self.ev.outputs, Z).reshape(-1) @ self.values.reshape(-1, p)
        return out

    def blocks(self) -> Iterator[tuple[slice, np.ndarray]]:
        """``(slice, A[slice])`` for blocks of :data:`_BLOCK` models; all ``A_k`` are never held at once."""
        n, m, n_out, p = self.jacobian.shape
        q = self.shape[2]
        for start in range(0, p, _BLOCK):
            block = slice(start, min(start + _BLOCK, p))
            moved = self.jacobian[..., block].transpose(0, 2, 3, 1).reshape(n, -1, m)  # (n, n_out * c, m)
            A = np.matmul(moved, self.ev.fields).reshape(n, n_out, -1, q)  # (n, n_out, c, q)
            if self.values is not None:
                A -= np.einsum("knab,nbp->napk", self.ev.outputs, self.values[..., block])
            A = self._scaled(A)
            out = np.empty((A.shape[2], n, n_out, q))
            for o in range(n_out):  # 3-d copies: NumPy orders a 4-d transposing copy badly (4x slower)
                out[:, :, o] = A[:, o].transpose(1, 0, 2)
            yield block, out.reshape(-1, n * n_out, q)

    def gram(self) -> np.ndarray:
        r""":math:`\langle A_k, A_l\rangle`, shape (p, p).

        Without an output action, :math:`\sum_x s_x^2 J_x^\top V_x V_x^\top J_x` over the points, with
        :math:`J_x` the models' Jacobians (m, n_out p) and :math:`V_x` the fields (m, q): :math:`O(R m p^2)`
        instead of :math:`O(R q p^2)`. With one, from all the matrices (held at once only here).
        """
        if self.values is not None:
            flat = np.concatenate([A.reshape(len(A), -1) for _, A in self.blocks()])
            return flat @ flat.T
        n, m, n_out, p = self.jacobian.shape
        fields = self.ev.fields if self.row_scale is None else self._scaled(self.ev.fields)
        metric = np.matmul(fields, fields.transpose(0, 2, 1))  # (n, m, m), weights included
        jac = self.jacobian.reshape(n, m, n_out * p)
        weighted = np.matmul(metric, jac).reshape(n, m, n_out, p).transpose(0, 2, 1, 3).reshape(-1, p)
        return jac.reshape(n, m, n_out, p).transpose(0, 2, 1, 3).reshape(-1, p).T @ weighted


class Transposed:
    """A :class:`MatrixMap` with every matrix transposed (the solver works with ``R >= q``)."""

    def __init__(self, inner: MatrixMap) -> None:
        p, R, q = inner.shape
        self.inner, self.shape = inner, (p, q, R)
        self.offset = inner.offset.T
        self.operator_norm, self.product_flops = inner.operator_norm, inner.product_flops

    def forward(self, v: np.ndarray) -> np.ndarray:
        return self.inner.forward(v).T

    def adjoint(self, Z: np.ndarray) -> np.ndarray:
        return self.inner.adjoint(Z.T)

    def blocks(self) -> Iterator[tuple[slice, np.ndarray]]:
        for block, A in self.inner.blocks():
            yield block, np.ascontiguousarray(A.transpose(0, 2, 1))

    def gram(self) -> np.ndarray:
        return self.inner.gram()


def operator_shape(operator: Any) -> tuple[int, int]:
    """``(P, q)``: parameters and generators of an operator (a sampled one need not form its matrix for this).

    Raises
    ------
    ShapeError
        If the operator's flat matrix does not have a multiple of ``q`` rows.
    """
    q = int(operator.n_generators)
    if isinstance(operator, LieDerivativeOperator):
        return operator.n_params, q
    matrix = operator.matrix
    if matrix.shape[0] % q:
        raise ShapeError(f"operator.matrix has {matrix.shape[0]} rows, not a multiple of q={q}")
    return matrix.shape[1], q


def restricted_map(operator: Any, w0: np.ndarray, N: np.ndarray) -> MatrixMap:
    """The Lie-derivative matrices of the models ``w0 + N v`` as a :class:`MatrixMap` with ``R >= q``.

    A sampled :class:`~symlie.LieDerivativeOperator` gives a :class:`PointwiseMap`; any other operator (anything
    with ``matrix`` of shape (R q, P) and ``n_generators``) a :class:`FlatMap`.
    """
    if isinstance(operator, LieDerivativeOperator) and operator.form == "sampled":
        scale = None if operator.weights is None else np.sqrt(operator.weights)
        out: MatrixMap = PointwiseMap(operator.evaluation, operator.n_outputs, scale, w0, N)
    else:
        out = FlatMap(operator.matrix, int(operator.n_generators), w0, N)
    _, R, q = out.shape
    return Transposed(out) if R < q else out
