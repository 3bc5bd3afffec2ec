r"""Promote-then-enforce: read the symmetry off a trained network and rebuild it exactly equivariant.

The discovery step here is deliberately small (an SVD of the Lie-derivative matrix, a largest-gap rank decision
and a snap of the kernel to exact generators) so that it can be swapped for the library's ``discover`` verb.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.linalg import qr

from .._algebra import LieAlgebra
from .._errors import ClosureError, SymlieValueError
from .._groups import Group
from .._reps import Rep
from ._emlp import EMLP
from ._penalty import lie_derivative_matrix

__all__ = ["Discovery", "enforce_discovered"]

_SNAP_DENOMINATORS = (1, 2, 3, 4, 6, 8, 12)
_SNAP_TOL = 0.15


@dataclass(frozen=True)
class Discovery:
    """Symmetry generators found in a model.

    Attributes
    ----------
    algebra : LieAlgebra or None
        The discovered subalgebra with snapped (exact) generators, or None when the kernel is empty.
    generators : ndarray of shape (k, n, n)
        The raw kernel directions (combinations of the candidate basis) before snapping.
    singular_values : ndarray of shape (q,)
        Spectrum of the Lie-derivative matrix, decreasing.
    threshold : float
        Singular values at or below it were declared zero: the geometric mean across the largest gap.
    gap : float
        Ratio of the singular values on either side of the threshold.
    snap_error : float
        Largest change of a coordinate (in echelon form) when snapping the kernel to simple fractions.
    """

    algebra: LieAlgebra | None
    generators: np.ndarray
    singular_values: np.ndarray
    threshold: float
    gap: float
    snap_error: float

    @property
    def dim(self) -> int:
        return int(self.generators.shape[0])


def _echelon(kernel: np.ndarray) -> np.ndarray:
    """A basis of the row space of ``kernel`` (k, q) that is the identity on ``k`` well-conditioned columns.

    The columns come from a column-pivoted QR, so noise in a nearly-zero column never becomes a pivot (as it would in
    a plain row reduction); for exact generators this is the reduced row echelon form up to the choice of pivots.
    """
    k = kernel.shape[0]
    pivots = np.sort(qr(kernel, pivoting=True, mode="economic")[2][:k])
    return np.linalg.solve(kernel[:, pivots], kernel)


def _rref(matrix: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Reduced row echelon form with leftmost pivots, for exact (snapped) rows: the canonical basis of their span."""
    A = matrix.astype(float).copy()
    rows, r = A.shape[0], 0
    for c in range(A.shape[1]):
        if r == rows:
            break
        pivot = r + int(np.argmax(np.abs(A[r:, c])))
        if abs(A[pivot, c]) <= tol:
            continue
        A[[r, pivot]] = A[[pivot, r]]
        A[r] /= A[r, c]
        others = np.arange(rows) != r
        A[others] -= np.outer(A[others, c], A[r])
        r += 1
    return np.round(A[:r], 12) + 0.0


def _snap(values: np.ndarray, tol: float) -> tuple[np.ndarray, float]:
    """Round to multiples of ``1/d`` for the smallest ``d`` in (1, 2, 3, 4, 6, 8, 12) that moves no entry by more
    than ``tol``; returns the snapped array and the largest change (``inf`` when no denominator fits)."""
    for d in _SNAP_DENOMINATORS:
        snapped = np.round(values * d) / d
        change = float(np.abs(snapped - values).max(initial=0.0))
        if change <= tol:
            return snapped, change
    return values, float("inf")


def discover_subalgebra(matrix: np.ndarray, algebra: LieAlgebra, *, threshold: float | None = None) -> Discovery:
    r"""Kernel of a Lie-derivative matrix ``(rows, q)`` as a subalgebra of ``algebra``.

    Without ``threshold`` the rank is decided at the largest ratio between consecutive singular values (the
    kernel is empty when no ratio exceeds 10). The kernel basis is brought to echelon form (identity on pivot
    columns chosen by a column-pivoted QR) in the coordinates of ``algebra.basis`` and snapped to multiples of
    ``1/d`` for the smallest ``d <= 12`` that moves no coordinate by more than 0.15; the snapped generators must
    close under the bracket.
    """
    singular, vh = np.linalg.svd(np.asarray(matrix, dtype=np.float64), full_matrices=True)[1:]
    q = algebra.dim
    values = np.zeros(q)
    values[: len(singular)] = singular
    if threshold is None:
        ratios = values[:-1] / np.maximum(values[1:], 1e-300)
        cut = int(np.argmax(ratios)) if q > 1 else 0
        if q > 1 and ratios[cut] > 10:
            rank = cut + 1
            threshold = float(np.sqrt(values[cut] * max(values[cut + 1], 1e-300)))
        else:
            rank, threshold = q, 0.0
        gap = float(ratios[cut]) if q > 1 else float("inf")
    else:
        rank = int(np.sum(values > threshold))
        gap = float(values[rank - 1] / max(values[rank], 1e-300)) if 0 < rank < q else float("inf")
    kernel = vh[rank:]  # (k, q) coordinates
    basis = algebra.basis
    raw = np.tensordot(kernel, basis, axes=1)
    if kernel.shape[0] == 0:
        return Discovery(None, raw, values, threshold, gap, 0.0)
    snapped, error = _snap(_echelon(kernel), _SNAP_TOL)
    snapped = _rref(snapped) if error <= _SNAP_TOL else snapped  # canonical, whichever pivots the QR chose
    if not error <= _SNAP_TOL:
        raise SymlieValueError(
            f"the {kernel.shape[0]}-dimensional kernel does not snap to simple generators (change {error:.2g}); "
            "train longer with the penalty, or pass threshold"
        )
    try:
        found = algebra.subalgebra(np.tensordot(snapped, basis, axes=1), name=f"discovered in {algebra.name}")
    except ClosureError as exc:
        raise SymlieValueError(f"the snapped kernel is not a subalgebra: {exc}") from None
    return Discovery(found, raw, values, threshold, gap, error)


@dataclass(frozen=True)
class Enforced:
    """A freshly built exactly equivariant model for the discovered group.

    Attributes
    ----------
    model : EMLP
    group : Group
        The connected group generated by the discovered algebra.
    discovery : Discovery
    rep_in, rep_out : Rep
    """

    model: EMLP
    group: Group
    discovery: Discovery
    rep_in: Rep
    rep_out: Rep


def enforce_discovered(
    model: Callable[[torch.Tensor], torch.Tensor],
    algebra: LieAlgebra,
    points: Any,
    reps: Callable[[Group], tuple[Rep, Rep]],
    *,
    input_action: Any = None,
    output_action: Any = "invariant",
    threshold: float | None = None,
    **emlp_options: Any,
) -> Enforced:
    r"""Promote-then-enforce, second half: discover the symmetry of a (penalised) model and rebuild it exactly.

    The Lie-derivative matrix of ``model`` over the candidate ``algebra`` is sampled at ``points``; its kernel
    (see :class:`Discovery`) generates a connected group ``H``, and a new :class:`EMLP` equivariant to ``H`` is
    returned (untrained).

    Parameters
    ----------
    model : callable
        Typically trained with :class:`SymmetryPenalty` over ``algebra``.
    algebra : LieAlgebra
        The candidate algebra (linear, orthonormal basis), e.g. ``sl.gl(n)``.
    points : Tensor or array_like of shape (N, m)
    reps : callable
        ``reps(H) -> (rep_in, rep_out)``: the model's representations over a group ``H`` (e.g.
        ``lambda H: (2 * sl.V(H), sl.Scalar)``).
    input_action, output_action : optional
        As in :func:`lie_derivative`.
    threshold : float, optional
        Rank threshold on the singular values (default: the largest gap).
    **emlp_options
        Passed to :class:`EMLP` (``hidden``, ``layers``, ``dtype``, ``seed``, ...).

    Returns
    -------
    Enforced

    Raises
    ------
    SymlieValueError
        If no symmetry is found, or the kernel does not snap to a subalgebra.

    Examples
    --------
    >>> import torch, symlie as sl
    >>> f = lambda x: (x**2).sum(dim=1, keepdim=True)       # O(2)-invariant
    >>> points = torch.randn(20, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    >>> out = enforce_discovered(f, sl.gl(2), points,
    ...                          lambda H: (sl.V(H), sl.Scalar), hidden=16, layers=1)
    >>> out.discovery.dim, out.discovery.algebra.basis[0].tolist()
    (1, [[0.0, 1.0], [-1.0, 0.0]])
    """
    with torch.no_grad():
        M = lie_derivative_matrix(model, algebra, points, input_action=input_action, output_action=output_action)
    found = discover_subalgebra(M.detach().cpu().double().numpy(), algebra, threshold=threshold)
    if found.algebra is None:
        spectrum = np.array2string(found.singular_values, precision=2)
        raise SymlieValueError(f"no symmetry found in {algebra.name} (singular values {spectrum})")
    group = Group(found.algebra, name=f"exp({found.algebra.name})")
    rep_in, rep_out = reps(group)
    return Enforced(EMLP(rep_in, rep_out, group, **emlp_options), group, found, rep_in, rep_out)
