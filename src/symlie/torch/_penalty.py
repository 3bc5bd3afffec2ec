r"""The Lie derivative of a network and the symmetry-promoting penalty built on it (Otto et al., arXiv 2311.00212).

For generators :math:`\xi_1..\xi_q` acting on inputs by vector fields :math:`v_k` and on outputs by matrices
:math:`B_k`, the Lie derivative of :math:`f` at :math:`x` is

.. math:: (L_k f)(x) = Df(x)\, v_k(x) - B_k(x)\, f(x).

Sampled at points :math:`x_1..x_N` this is a matrix :math:`M \in \mathbb{R}^{(N n) \times q}` (rows: point and output,
columns: generators) scaled by :math:`1/\sqrt{N}`. Its kernel is the symmetry algebra of :math:`f` on the points;
its nuclear norm :math:`\lVert M \rVert_*` is the *promotion* penalty: zero iff :math:`f` is symmetric under the
whole candidate algebra, and small when :math:`f` is symmetric under a large subalgebra (its rank is small), so
the subgroup is not fixed in advance. The Hilbert-Schmidt penalty :math:`\lVert M \rVert_F^2` is the baseline that
pulls towards every generator alike.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._algebra import LieAlgebra
from .._errors import ShapeError, SymlieTypeError, SymlieValueError
from .._reps import Rep
from .._validation import as_float_array, check_positive_int
from ._check import as_input, model_dtype

__all__ = ["SymmetryPenalty", "lie_derivative", "lie_derivative_matrix"]

_KINDS = ("nuclear", "hilbert_schmidt")
_COMBINE = ("stacked", "sum")


@dataclass
class _Actions:
    """Torch form of how the generators act: ``v_k(x) = A_k x + b_k`` and ``B_k`` (or NumPy callables)."""

    q: int
    A: np.ndarray | None  # (q, m, m)
    b: np.ndarray | None  # (q, m)
    fields: Callable[[np.ndarray], np.ndarray] | None  # polynomial fields: X (N, m) -> (q, N, m)
    B: np.ndarray | None  # (q, n, n)
    jacobians: Callable[[np.ndarray], np.ndarray] | None  # X -> (q, N, n, n)

    def vector_fields(self, X: torch.Tensor) -> torch.Tensor:
        """``v_k(x_i)``, shape (q, N, m)."""
        if self.fields is not None:
            return torch.as_tensor(self.fields(X.detach().cpu().numpy()), dtype=X.dtype, device=X.device)
        A = torch.as_tensor(self.A, dtype=X.dtype, device=X.device)
        out = torch.einsum("kij,nj->kni", A, X)
        if self.b is not None:
            out = out + torch.as_tensor(self.b, dtype=X.dtype, device=X.device)[:, None, :]
        return out

    def output_terms(self, X: torch.Tensor, F: torch.Tensor) -> torch.Tensor | None:
        """``B_k(x_i) f(x_i)``, shape (q, N, n), or None for invariant outputs."""
        if self.B is not None:
            return torch.einsum("kij,nj->kni", torch.as_tensor(self.B, dtype=F.dtype, device=F.device), F)
        if self.jacobians is not None:
            J = torch.as_tensor(self.jacobians(X.detach().cpu().numpy()), dtype=F.dtype, device=F.device)
            return torch.einsum("knij,nj->kni", J, F)
        return None


def _matrices(algebra: LieAlgebra, what: str) -> np.ndarray:
    if algebra.kind != "linear":
        raise SymlieValueError(
            f"{what} as a Rep needs a linear algebra (matrices acting on the group's defining space), got the "
            f"{algebra.kind} algebra {algebra!r}"
        )
    return algebra.basis


def _resolve(algebra: Any, input_action: Any, output_action: Any, m: int, n: int) -> _Actions:
    if not isinstance(algebra, LieAlgebra):
        raise SymlieTypeError(f"algebra must be a symlie LieAlgebra such as sl.so(3), got {type(algebra).__name__}")
    q = algebra.dim
    A = b = fields = None
    if input_action is None:
        if algebra.n != m:
            raise ShapeError(
                f"algebra {algebra!r} acts on R^{algebra.n} but the inputs have {m} features; pass input_action "
                "(e.g. a Rep such as 2 * sl.V(G)) saying how the generators move the inputs"
            )
        if algebra.kind == "polynomial":
            fields = algebra.vector_fields
        else:
            A = algebra.matrices
            b = algebra.basis[:, :, 0] if algebra.kind == "affine" else None
    elif isinstance(input_action, Rep):
        A = np.stack([input_action.drho(X) for X in _matrices(algebra, "input_action")])
    else:
        array = as_float_array(input_action, "input_action", ndim=3)
        if array.shape == (q, m, m):
            A = array
        elif array.shape == (q, m, m + 1):
            A, b = array[:, :, 1:], array[:, :, 0]
        else:
            raise ShapeError(f"input_action must have shape ({q}, {m}, {m}) or ({q}, {m}, {m + 1}), got {array.shape}")
    if A is not None and A.shape[1:] != (m, m):
        raise ShapeError(f"input_action acts on R^{A.shape[1]} but the inputs have {m} features")
    B = jacobians = None
    if isinstance(output_action, str):
        if output_action == "invariant":
            pass
        elif output_action == "vector_field":
            if n != m:
                raise ShapeError(f"output_action='vector_field' needs as many outputs as inputs, got {n} and {m}")
            if A is not None:
                B = A
            else:
                jacobians = algebra.field_jacobians
        else:
            raise SymlieValueError(
                f"output_action must be 'invariant', 'vector_field', a Rep or an array of shape ({q}, {n}, {n}), "
                f"got {output_action!r}"
            )
    elif output_action is None:
        pass
    elif isinstance(output_action, Rep):
        B = np.stack([output_action.drho(X) for X in _matrices(algebra, "output_action")])
    else:
        B = as_float_array(output_action, "output_action", shape=(q, n, n))
    if B is not None and B.shape[1:] != (n, n):
        raise ShapeError(f"output_action acts on R^{B.shape[1]} but the model has {n} outputs")

    def copy(array: np.ndarray | None) -> np.ndarray | None:
        return None if array is None else np.array(array, dtype=np.float64)  # writable, for torch

    return _Actions(q, copy(A), copy(b), fields, copy(B), jacobians)


_JVP_READY = False


def _prepare_forward_ad() -> None:
    """Run one tiny jvp with warnings silenced: torch loads its jvp decompositions on first use and that import
    emits a DeprecationWarning (torch.jit.script) that is not ours to fix."""
    global _JVP_READY
    if not _JVP_READY:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.func.jvp(torch.sin, (torch.zeros(1),), (torch.ones(1),))
        _JVP_READY = True


def _jvp_all(model: Callable, X: torch.Tensor, V: torch.Tensor, vectorize: bool) -> torch.Tensor:
    """``Df(x_i) v_k(x_i)`` for all generators, shape (q, N, n)."""
    _prepare_forward_ad()

    def push(v: torch.Tensor) -> torch.Tensor:
        return torch.func.jvp(model, (X,), (v,))[1]

    if vectorize:
        return torch.func.vmap(push)(V)
    return torch.stack([push(v) for v in V])


def lie_derivative(
    model: Callable[[torch.Tensor], torch.Tensor],
    algebra: LieAlgebra,
    points: Any,
    *,
    input_action: Any = None,
    output_action: Any = "invariant",
    chunk_size: int = 1024,
    vectorize: bool = True,
) -> torch.Tensor:
    r"""The Lie derivatives :math:`(L_k f)(x_i) = Df(x_i) v_k(x_i) - B_k(x_i) f(x_i)`, differentiable in the model.

    Parameters
    ----------
    model : callable
        Maps (N, m) tensors to (N, n) tensors, acting on each row independently (no batch statistics).
    algebra : LieAlgebra
        The candidate generators :math:`\xi_1..\xi_q` (use an orthonormal basis, e.g. ``algebra.orthonormalize()``,
        so that the penalty does not favour some directions).
    points : Tensor or array_like of shape (N, m)
    input_action : None, Rep or array_like, optional
        How :math:`\xi_k` moves inputs: ``None`` uses the algebra's own vector fields on :math:`\mathbb{R}^m`
        (linear, affine ``A x + b`` or polynomial); a Rep gives :math:`v_k(x) = d\rho(\xi_k) x`; an array of
        shape (q, m, m) or (q, m, m + 1) (``[b | A]``) gives the matrices directly.
    output_action : "invariant", "vector_field", Rep or array_like, default "invariant"
        :math:`B_k`: zero (invariant outputs), :math:`Dv_k` (tangent action on vector fields), :math:`d\rho(\xi_k)`
        for a Rep, or an array of shape (q, n, n).
    chunk_size : int, default 1024
        Points per forward-mode pass (memory is about ``q * chunk_size`` rows).
    vectorize : bool, default True
        Batch the ``q`` Jacobian-vector products with ``torch.func.vmap`` (set False for models vmap rejects).

    Returns
    -------
    Tensor of shape (q, N, n)

    Examples
    --------
    >>> import torch, symlie as sl
    >>> f = lambda x: (x**2).sum(dim=1, keepdim=True)
    >>> L = lie_derivative(f, sl.so(3), torch.randn(5, 3, dtype=torch.float64))
    >>> L.shape, bool(L.abs().max() < 1e-12)
    (torch.Size([3, 5, 1]), True)
    """
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    shape = tuple(points.shape) if isinstance(points, torch.Tensor) else np.shape(points)
    if len(shape) != 2:
        raise ShapeError(f"points must have shape (N, m), got {shape}")
    X = as_input(points, model, shape[1], "points")
    m = shape[1]
    with torch.no_grad():
        n = model(X[:1]).shape[-1]
    actions = _resolve(algebra, input_action, output_action, m, n)
    pieces = []
    for start in range(0, X.shape[0], chunk_size):
        Xc = X[start : start + chunk_size]
        L = _jvp_all(model, Xc, actions.vector_fields(Xc), vectorize)
        moved = actions.output_terms(Xc, model(Xc)) if actions.B is not None or actions.jacobians is not None else None
        if moved is not None:
            L = L - moved
        pieces.append(L)
    return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=1)


def lie_derivative_matrix(model: Callable, algebra: LieAlgebra, points: Any, **options: Any) -> torch.Tensor:
    r"""The Lie-derivative matrix :math:`M = [\mathrm{vec}\, L_1 f, \dots, \mathrm{vec}\, L_q f] / \sqrt{N}`.

    Parameters
    ----------
    model, algebra, points, **options
        As in :func:`lie_derivative`.

    Returns
    -------
    Tensor of shape (N * n, q)
        Its kernel holds the symmetries of the model on the points; its singular values measure how far each
        direction of the algebra is from being a symmetry.
    """
    L = lie_derivative(model, algebra, points, **options)
    q, N, n = L.shape
    return L.reshape(q, N * n).T / np.sqrt(N)


def _norm(M: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "nuclear":
        return torch.linalg.svdvals(M).sum()
    return M.square().sum()


class SymmetryPenalty:
    r"""Symmetry-promoting penalty :math:`R(\theta) = \lVert M(\theta) \rVert_*` of a network.

    :math:`M` is the Lie-derivative matrix (:func:`lie_derivative_matrix`) of the model, or of each block of it.
    The nuclear norm is zero iff the model is symmetric under the whole candidate algebra and otherwise favours
    symmetry under as large a subalgebra as the data allow. For a block that is linear in its parameters (an
    ``nn.Linear`` with linear actions) the per-block penalty is convex in those parameters.

    Parameters
    ----------
    model : callable
        The network (an ``nn.Module`` mapping (N, m) to (N, n)).
    algebra : LieAlgebra
        Candidate generators; use an orthonormal basis.
    points : Tensor or array_like of shape (N, m)
        Where the Lie derivative is sampled (may be replaced per call).
    input_action, output_action : optional
        As in :func:`lie_derivative`; used for the whole model when ``blocks`` is None.
    kind : {"nuclear", "hilbert_schmidt"}, default "nuclear"
        ``hilbert_schmidt`` is the baseline :math:`\lVert M \rVert_F^2`.
    blocks : sequence of (module, input_action, output_action), optional
        Layer-wise penalty: the model is the composition of these modules; each block's Lie-derivative matrix is
        taken at its own inputs (the points pushed through the previous blocks, detached).
    combine : {"stacked", "sum"}, default "stacked"
        With ``blocks``: the norm of all block matrices stacked (rows) — promotes a *common* subalgebra — or the
        sum of the blocks' norms.
    chunk_size : int, default 1024
    vectorize : bool, default True

    Examples
    --------
    >>> import torch, symlie as sl
    >>> from symlie.torch import EMLP
    >>> G = sl.O(3)
    >>> model = EMLP(sl.V(G), sl.Scalar, G, hidden=16, layers=1, dtype=torch.float64, seed=0)
    >>> penalty = SymmetryPenalty(model, sl.so(3), torch.randn(8, 3, dtype=torch.float64))
    >>> penalty().item() < 1e-12
    True
    """

    def __init__(
        self,
        model: Callable[[torch.Tensor], torch.Tensor],
        algebra: LieAlgebra,
        points: Any,
        *,
        input_action: Any = None,
        output_action: Any = "invariant",
        kind: str = "nuclear",
        blocks: Sequence[tuple[Callable, Any, Any]] | None = None,
        combine: str = "stacked",
        chunk_size: int = 1024,
        vectorize: bool = True,
    ) -> None:
        if not callable(model):
            raise SymlieTypeError(f"model must be callable (an nn.Module), got {type(model).__name__}")
        if not isinstance(algebra, LieAlgebra):
            raise SymlieTypeError(f"algebra must be a symlie LieAlgebra such as sl.so(3), got {type(algebra).__name__}")
        if kind not in _KINDS:
            raise SymlieValueError(f"kind must be one of {_KINDS}, got {kind!r}")
        if combine not in _COMBINE:
            raise SymlieValueError(f"combine must be one of {_COMBINE}, got {combine!r}")
        if blocks is not None:
            blocks = list(blocks)
            if not blocks or any(not (isinstance(b, tuple) and len(b) == 3 and callable(b[0])) for b in blocks):
                raise SymlieTypeError("blocks must be a non-empty sequence of (module, input_action, output_action)")
        self.model, self.algebra, self.kind, self.combine = model, algebra, kind, combine
        self.input_action, self.output_action = input_action, output_action
        self.blocks = blocks
        self.chunk_size, self.vectorize = check_positive_int(chunk_size, "chunk_size"), vectorize
        self.points = points
        if isinstance(points, torch.Tensor):
            if points.ndim != 2:
                raise ShapeError(f"points must have shape (N, m), got {tuple(points.shape)}")
        else:
            self.points = as_float_array(points, "points", ndim=2)

    def _options(self) -> dict[str, Any]:
        return {"chunk_size": self.chunk_size, "vectorize": self.vectorize}

    def matrices(self, points: Any = None) -> list[torch.Tensor]:
        """The Lie-derivative matrix of the model, or one per block, each of shape (N * n_block, q)."""
        X = self.points if points is None else points
        if self.blocks is None:
            return [
                lie_derivative_matrix(
                    self.model,
                    self.algebra,
                    X,
                    input_action=self.input_action,
                    output_action=self.output_action,
                    **self._options(),
                )
            ]
        out = []
        if not isinstance(X, torch.Tensor):
            dtype, device = model_dtype(self.blocks[0][0], torch.float64)
            X = torch.as_tensor(np.asarray(X, dtype=np.float64), dtype=dtype, device=device)
        for module, input_action, output_action in self.blocks:
            out.append(
                lie_derivative_matrix(
                    module, self.algebra, X, input_action=input_action, output_action=output_action, **self._options()
                )
            )
            with torch.no_grad():
                X = module(X)
        return out

    def matrix(self, points: Any = None) -> torch.Tensor:
        """All matrices stacked by rows, shape (rows, q): the operator whose kernel is the common symmetry."""
        mats = self.matrices(points)
        return mats[0] if len(mats) == 1 else torch.cat(mats, dim=0)

    def __call__(self, points: Any = None) -> torch.Tensor:
        """The penalty (a differentiable scalar), at the stored points or at new ``points``."""
        if self.blocks is not None and self.combine == "sum":
            return torch.stack([_norm(M, self.kind) for M in self.matrices(points)]).sum()
        return _norm(self.matrix(points), self.kind)

    def singular_values(self, points: Any = None) -> np.ndarray:
        """Singular values of :meth:`matrix` (descending, padded with zeros to ``q``), as a NumPy array."""
        with torch.no_grad():
            values = torch.linalg.svdvals(self.matrix(points)).cpu().double().numpy()
        return np.pad(values, (0, self.algebra.dim - len(values)))

    def __repr__(self) -> str:
        where = f"{len(self.blocks)} blocks, {self.combine}" if self.blocks is not None else "whole model"
        return f"SymmetryPenalty({self.kind}, algebra={self.algebra!r}, {where})"
