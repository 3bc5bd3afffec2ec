r"""The Lie-derivative tensor of models linear in their parameters, sampled at points or exact.

For a model :math:`F(x) = W \theta(x)` with ``W`` of shape ``(n_out, L)`` (flattened row-major to ``P = n_out * L``
parameters) and a symmetry whose generator :math:`\xi_k` moves inputs along :math:`v_k(x)` and acts on outputs
with :math:`B_k(x)`,

.. math:: (L_{\xi_k} F)(x) = W\, D\theta(x)\, v_k(x) - B_k(x)\, W \theta(x),

so :math:`T[(x, o'), k, (o, l)] = \delta_{o'o} (D\theta(x) v_k(x))_l - B_k(x)_{o'o} \theta_l(x)`. The *sampled*
form evaluates ``T`` at points; the *exact* form expands :math:`L_{\xi_k} F` in monomials, so its rows are
indexed by ``(output monomial, output)`` and no sampling is involved.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from math import comb
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._action import Action, make_action
from ._dictionaries import PolynomialLibrary
from ._errors import ShapeError, SymlieTypeError, SymlieValueError
from ._operator_exact import discrete_exact, exact_matrix
from ._validation import as_float_array, check_positive_int, make_rng

__all__ = ["LieDerivativeOperator", "lie_derivative_operator"]


def default_n_points(library: PolynomialLibrary, action: Action) -> int:
    """``C(m + deg, deg) + 1`` with ``deg`` the degree of :math:`L_\\xi F` (exactness rule of DESIGN.md)."""
    deg = library.degree + action.degree_increase
    return comb(library.n_features + deg, deg) + 1


# ------------------------------------------------------------------------------------------ sampled form
@dataclass(frozen=True)
class PointEvaluation:
    """Library and action evaluated once at a set of points (shared by the sampled computations).

    Attributes
    ----------
    theta : ndarray of shape (n_samples, L)
    dtheta : ndarray of shape (n_samples, L, m)
    fields : ndarray of shape (n_samples, m, q)
        :math:`v_k(x)` with the generator index last.
    outputs : ndarray of shape (q, n_samples, n_out, n_out) or None
        :math:`B_k(x)`; ``None`` for invariant models.
    """

    theta: np.ndarray
    dtheta: np.ndarray
    fields: np.ndarray
    outputs: np.ndarray | None

    @classmethod
    def at(cls, library: PolynomialLibrary, action: Action, X: np.ndarray) -> PointEvaluation:
        fields = action.vector_fields(X).transpose(1, 2, 0)
        return cls(library.evaluate(X), library.jacobian(X), fields, action.output_matrices(X))

    def transport(self) -> np.ndarray:
        """:math:`(D\\theta(x)\\, v_k(x))_l` as an array of shape (n_samples, q, L)."""
        return np.matmul(self.dtheta, self.fields).transpose(0, 2, 1)


def sampled_tensor(ev: PointEvaluation, n_out: int) -> np.ndarray:
    """``T`` at the evaluated points: ndarray of shape (n_samples * n_out, q, n_out * L), rows ordered (x, o')."""
    (n, L), q = ev.theta.shape, ev.fields.shape[2]
    transport = ev.transport()
    T = np.zeros((n, n_out, q, n_out, L))
    for o in range(n_out):
        T[:, o, :, o, :] = transport
    if ev.outputs is not None:
        T -= np.einsum("knab,nl->nakbl", ev.outputs, ev.theta)
    return T.reshape(n * n_out, q, n_out * L)


def lie_derivative_values(ev: PointEvaluation, W: np.ndarray) -> np.ndarray:
    r""":math:`(L_{\xi_k} F_s)(x)` for a batch of models at the evaluated points, without forming ``T``.

    Parameters
    ----------
    ev : PointEvaluation
        At ``n_samples`` points.
    W : ndarray of shape (s, n_out, L)

    Returns
    -------
    ndarray of shape (s, n_samples, n_out, q)
    """
    s, n_out, _ = W.shape
    n = len(ev.theta)
    DF = np.tensordot(W, ev.dtheta, axes=([2], [1]))  # (s, n_out, N, m)
    DF = DF.transpose(2, 0, 1, 3).reshape(n, s * n_out, -1)  # (N, s * n_out, m)
    out = np.matmul(DF, ev.fields).reshape(n, s, n_out, -1).transpose(1, 0, 2, 3)  # (s, N, n_out, q)
    if ev.outputs is not None:
        F = np.einsum("sol,nl->sno", W, ev.theta)
        out -= np.einsum("knab,snb->snak", ev.outputs, F)
    return out


def tensor_norm(ev: PointEvaluation, n_outputs: int, weights: np.ndarray | None = None) -> float:
    r"""Frobenius norm of ``T`` at the evaluated points, from small Gram matrices (``T`` is never formed).

    With :math:`G = D\theta\, v` (the transport term) and point weights :math:`\omega_x` (default 1),
    :math:`\|T\|^2 = \sum_x \omega_x \big(n_{out} \mathrm{tr}(D\theta^\top D\theta\; V V^\top)
    - 2 \sum_k \mathrm{tr} B_k\, \theta^\top G_k + \sum_k \|B_k\|^2 \|\theta\|^2\big)`.
    """
    jac_gram = np.matmul(ev.dtheta.transpose(0, 2, 1), ev.dtheta)  # (N, m, m)
    field_gram = np.matmul(ev.fields, ev.fields.transpose(0, 2, 1))  # (N, m, m)
    per_point = n_outputs * np.sum(jac_gram * field_gram, axis=(1, 2))
    if ev.outputs is not None:
        B, theta = ev.outputs, ev.theta
        trace = np.einsum("knaa->nk", B)
        along = np.einsum("nl,nli,nik->nk", theta, ev.dtheta, ev.fields, optimize=True)  # theta . G_k
        per_point -= 2.0 * np.sum(trace * along, axis=1)
        per_point += np.sum(B**2, axis=(0, 2, 3)) * np.sum(theta**2, axis=1)
    total = float(per_point.sum() if weights is None else per_point @ weights)
    return float(np.sqrt(max(total, 0.0)))


def discrete_sampled(library: PolynomialLibrary, action: Action, X: np.ndarray, generators: Any = None) -> np.ndarray:
    r"""Rows of :math:`K_g F - F` at the rows of ``X`` for the discrete generators (all, or the given indices).

    Returns
    -------
    ndarray of shape (n_generators * n_samples * n_out, n_out * L), rows ordered (generator, x, o').
    """
    n_out, L = action.n_outputs, len(library)
    theta = library.evaluate(X)
    eye = np.eye(n_out)
    blocks = []
    indices = range(len(action.discrete)) if generators is None else generators
    for index in indices:
        g_in, g_out = action.discrete[index]
        moved = library.evaluate(X @ g_in.T)
        block = np.einsum("ab,nl->nabl", np.linalg.inv(g_out), moved) - np.einsum("ab,nl->nabl", eye, theta)
        blocks.append(block.reshape(len(X) * n_out, n_out * L))
    return np.concatenate(blocks) if blocks else np.zeros((0, n_out * L))


# -------------------------------------------------------------------------------------------- the object
class LieDerivativeOperator:
    r"""The Lie-derivative tensor ``T`` of a linear-in-parameters model family under a symmetry.

    Build it with :func:`lie_derivative_operator`. ``T[r, k, j]`` is row ``r`` of :math:`L_{\xi_k}` applied to
    basis model ``j``; rows ``r`` are ``(point, output)`` pairs (sampled form) or ``(monomial, output)`` pairs
    (exact form).

    Attributes
    ----------
    library : PolynomialLibrary
    action : Action
    form : {"sampled", "exact"}
    points : ndarray of shape (n_samples, m) or None
        Sample points (``None`` for the exact form).
    weights : ndarray of shape (n_samples,) or None
        Quadrature weights (rows are scaled by their square roots).
    row_monomials : ndarray of shape (U, m) or None
        Exponents indexing the rows of the exact form.
    """

    def __init__(
        self,
        library: PolynomialLibrary,
        action: Action,
        *,
        points: np.ndarray | None,
        weights: np.ndarray | None,
        rng: np.random.Generator,
    ) -> None:
        self.library = library
        self.action = action
        self.points = points
        self.weights = weights
        self._rng = rng
        self.form = "exact" if points is None else "sampled"
        self.row_monomials: np.ndarray | None = None
        if points is None:
            self._sparse, self.row_monomials = exact_matrix(library, action)
            self._n_rows = len(self.row_monomials) * action.n_outputs
        else:
            self._n_rows = len(points) * action.n_outputs

    @cached_property
    def evaluation(self) -> PointEvaluation:
        """The library and the action at :attr:`points` (sampled form only): the factors of ``T``."""
        if self.points is None:
            raise SymlieValueError("the exact form has no point evaluation")
        return PointEvaluation.at(self.library, self.action, self.points)

    @cached_property
    def _tensor(self) -> np.ndarray:
        """The sampled ``T`` (R, q, P), formed on first use (solvers that need only its action never form it)."""
        T = sampled_tensor(self.evaluation, self.n_outputs)
        if self.weights is not None:
            T *= np.repeat(np.sqrt(self.weights), self.n_outputs)[:, None, None]
        T.setflags(write=False)
        return T

    # ------------------------------------------------------------------------------------------- sizes
    @property
    def n_generators(self) -> int:
        """Number ``q`` of generators."""
        return self.action.n_generators

    @property
    def n_outputs(self) -> int:
        return self.action.n_outputs

    @property
    def n_params(self) -> int:
        """Number ``P = n_outputs * len(library)`` of parameters."""
        return self.action.n_outputs * len(self.library)

    @property
    def n_rows(self) -> int:
        """Number ``R`` of rows of ``T`` (point-output or monomial-output pairs)."""
        return self._n_rows

    def __repr__(self) -> str:
        return (
            f"LieDerivativeOperator({self.form}, {self.action.name}, library={self.library!r}, "
            f"shape=(R={self.n_rows}, q={self.n_generators}, P={self.n_params}))"
        )

    # ------------------------------------------------------------------------------------------- views
    @property
    def tensor(self) -> np.ndarray:
        """Dense ``T`` of shape (R, q, P) (for the exact form this densifies the sparse matrix)."""
        if self.points is None:
            return self._sparse.toarray().reshape(self.n_rows, self.n_generators, self.n_params)
        return self._tensor

    @property
    def matrix(self) -> np.ndarray | sp.csr_matrix:
        """``T`` flattened to shape (R * q, P), rows ordered (r, k): dense (sampled) or CSR (exact)."""
        if self.points is None:
            return self._sparse
        return self._tensor.reshape(-1, self.n_params)

    def enforce_matrix(self) -> np.ndarray | sp.csr_matrix:
        r""":math:`M_{enf}`: models ``w`` with :math:`M_{enf} w = 0` are symmetric (shape (R * q, P))."""
        return self.matrix

    def discover_matrix(self, w: Any) -> np.ndarray:
        r""":math:`M_{dis}(w) = \sum_j w_j T[:, :, j]`; its kernel is the symmetry algebra of :math:`F_w`.

        Parameters
        ----------
        w : array_like of shape (P,) or (n_outputs, L)

        Returns
        -------
        ndarray of shape (R, q)
        """
        w = as_float_array(w, "w")
        if w.shape not in ((self.n_params,), (self.n_outputs, len(self.library))):
            raise ShapeError(
                f"w must have shape ({self.n_params},) or ({self.n_outputs}, {len(self.library)}), got {w.shape}"
            )
        w = w.reshape(-1)
        if self.points is None:
            return np.asarray(self._sparse @ w).reshape(self.n_rows, self.n_generators)
        values = lie_derivative_values(self.evaluation, w.reshape(1, self.n_outputs, -1))[0]  # (n, n_out, q)
        if self.weights is not None:
            values *= np.sqrt(self.weights)[:, None, None]
        return values.reshape(self.n_rows, self.n_generators)

    @cached_property
    def _discrete(self) -> tuple[np.ndarray | sp.csr_matrix, np.ndarray | None]:
        if self.points is None:
            # Generators that are not signed permutations: C(m + d, d) + 1 random points determine the same kernel,
            # because K_g F - F is a polynomial of the library's degree d.
            block, others = discrete_exact(self.library, self.action)
            if not others:
                return block, None
            m, d = self.library.n_features, self.library.degree
            points = self._rng.uniform(-1.0, 1.0, size=(comb(m + d, d) + 1, m))
            sampled = sp.csr_matrix(discrete_sampled(self.library, self.action, points, others))
            return sp.vstack([block, sampled], format="csr"), points
        block = discrete_sampled(self.library, self.action, self.points)
        if self.weights is not None:
            scale = np.tile(np.repeat(np.sqrt(self.weights), self.n_outputs), len(self.action.discrete))
            block *= scale[:, None]
        return block, self.points

    def discrete_matrix(self) -> np.ndarray | sp.csr_matrix:
        r"""Rows of :math:`(K_g F)(x) - F(x)` with :math:`(K_g F)(x) = g_{out}^{-1} F(g_{in} x)`, shape (R_d, P).

        Sampled form: dense, at :attr:`points` (rows ordered (generator, point, output)). Exact form: CSR with
        monomial-coefficient rows for signed permutations, other generators sampled at random points.
        """
        return self._discrete[0]

    def values(self, w: Any, X: Any) -> np.ndarray:
        r""":math:`(L_{\xi_k} F_w)(x)` at arbitrary points, without forming ``T``.

        Parameters
        ----------
        w : array_like of shape (P,), (n_outputs, L) or (s, P)
        X : array_like of shape (n_samples, m)

        Returns
        -------
        ndarray of shape (n_samples, n_outputs, q), or (s, n_samples, n_outputs, q) for a batch
        """
        X = as_float_array(X, "X", shape=(None, self.library.n_features))
        w = as_float_array(w, "w")
        batch = w.ndim == 2 and w.shape != (self.n_outputs, len(self.library))
        W = w.reshape(-1, self.n_outputs, len(self.library))
        out = lie_derivative_values(PointEvaluation.at(self.library, self.action, X), W)
        return out if batch else out[0]


def lie_derivative_operator(
    library: PolynomialLibrary,
    symmetry: Any,
    output: Any = "invariant",
    *,
    points: Any = "exact",
    weights: Any = None,
    n_outputs: int | None = None,
    rng: int | np.random.Generator | None = 0,
) -> LieDerivativeOperator:
    r"""Build the Lie-derivative tensor of the models :math:`F(x) = W \theta(x)` under a symmetry.

    .. math:: T[(x, o'), k, (o, l)] = \delta_{o'o}\, (D\theta(x)\, v_k(x))_l - B_k(x)_{o'o}\, \theta_l(x)

    Parameters
    ----------
    library : PolynomialLibrary
        The monomials :math:`\theta` (``L`` terms, ``m`` features).
    symmetry : LieAlgebra, Group or Rep
        See :func:`symlie._action.make_action`.
    output : {"invariant", "vector_field"}, Rep or LieAlgebra, default "invariant"
        How generators act on the outputs.
    points : "exact", None, int or array_like of shape (n_samples, m), default "exact"
        ``"exact"``: monomial coefficients, no sampling (rows ``(monomial, output)``). ``None``: the exactness
        rule ``C(m + deg, deg) + 1`` uniform points in :math:`[-1, 1]^m` with ``deg`` the degree of
        :math:`L_\xi F`; an int: that many uniform points; an array: those points.
    weights : array_like of shape (n_samples,), optional
        Non-negative quadrature weights for the sampled form (rows scaled by :math:`\sqrt{w}`).
    n_outputs : int, optional
        Number of outputs of invariant models (default 1); fixed by the other output actions.
    rng : int, numpy.random.Generator or None, default 0
        Seed for the sample points.

    Returns
    -------
    LieDerivativeOperator

    Raises
    ------
    SymlieTypeError, ShapeError, SymlieValueError, GroupMismatchError
        For a wrong library type, mismatched dimensions, NaN points or an unusable output action.

    Examples
    --------
    >>> import symlie as sl
    >>> op = sl.lie_derivative_operator(sl.PolynomialLibrary(2, 2), sl.so(2))
    >>> op.matrix.shape, op.n_params
    ((6, 6), 6)
    >>> float(abs(op.discover_matrix([0, 0, 0, 1, 0, 1])).max())   # x0^2 + x1^2 is rotation invariant
    0.0
    """
    if not isinstance(library, PolynomialLibrary):
        raise SymlieTypeError(f"library must be a symlie PolynomialLibrary, got {type(library).__name__}")
    action = make_action(symmetry, output, n_features=library.n_features, n_outputs=n_outputs)
    generator = make_rng(rng)
    m = library.n_features
    if isinstance(points, str):
        if points != "exact":
            raise SymlieValueError(f"points must be 'exact', None, an int or an array, got {points!r}")
        if weights is not None:
            raise SymlieValueError("weights apply to sampled points; pass points=None or an array with them")
        return LieDerivativeOperator(library, action, points=None, weights=None, rng=generator)
    if points is None or (isinstance(points, int | np.integer) and not isinstance(points, bool)):
        count = default_n_points(library, action) if points is None else check_positive_int(points, "points")
        X = generator.uniform(-1.0, 1.0, size=(count, m))
    else:
        X = as_float_array(points, "points", shape=(None, m))
        if len(X) == 0:
            raise ShapeError("points must contain at least one point")
    w = None
    if weights is not None:
        w = as_float_array(weights, "weights", shape=(len(X),))
        if np.any(w < 0):
            raise SymlieValueError("weights must be non-negative")
    return LieDerivativeOperator(library, action, points=X, weights=w, rng=generator)
