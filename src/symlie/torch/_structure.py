r"""How a representation splits into term types, and the equivariant blocks between term types.

A representation ``R = (+)_t T_t`` is a direct sum of terms, each a tensor product of base factors
(``rep.terms()``). Terms with the same factors are copies of one *type* ``T_a``, so
``R ~ (+)_a m_a T_a`` and every equivariant map splits into blocks

.. math:: \mathrm{Hom}_G(m_a T_a,\ m_b T_b) = \mathbb{R}^{m_b \times m_a} \otimes \mathrm{Hom}_G(T_a, T_b),

so only the small bases of ``Hom_G(T_a, T_b)`` are ever solved (by :func:`symlie.equivariant_basis`, which caches
them), and a weight is assembled as ``sum_k C_k (x) B_k`` per block. The plans below are plain NumPy, cached per
``(rep_in, rep_out)`` (bounded, clearable with :func:`clear_plan_cache`) and shared by every layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .._equivariant import equivariant_basis
from .._errors import GroupMismatchError, SymlieTypeError
from .._groups import Group
from .._reps import Rep, Scalar, V

Factors = tuple[tuple[int, bool], ...]

__all__ = ["LinearPlan", "RepLayout", "clear_plan_cache", "common_group", "linear_plan", "rep_layout", "term_rep"]


@dataclass(frozen=True)
class RepLayout:
    """Coordinates of a representation grouped by term type.

    Attributes
    ----------
    types : tuple of Factors
        Distinct factor tuples, in order of first appearance (``()`` is the trivial type).
    positions : tuple of ndarray of int, each of shape (m_a, d_a)
        Row ``c`` lists the coordinates (in the representation) of copy ``c`` of type ``a``, row-major.
    order : ndarray of int, shape (size,)
        All positions concatenated type by type: the *grouped* ordering of the coordinates.
    runs : tuple of (start, length, type, offset)
        Maximal runs of consecutive coordinates ``start .. start + length - 1`` that are also consecutive in the
        grouped coordinates of one type (starting at ``offset`` there), in coordinate order.
    """

    types: tuple[Factors, ...]
    positions: tuple[np.ndarray, ...]
    order: np.ndarray
    runs: tuple[tuple[int, int, int, int], ...]

    @property
    def is_grouped(self) -> bool:
        """True when the grouped ordering is the identity (no permutation needed)."""
        return bool(np.array_equal(self.order, np.arange(len(self.order))))


@dataclass(frozen=True)
class LinearPlan:
    """Precomputed structure of the equivariant maps ``rep_in -> rep_out``.

    Attributes
    ----------
    layout_in, layout_out : RepLayout
    blocks : tuple of (int, int, ndarray of shape (k, d_b, d_a))
        ``(b, a, basis)`` for each pair of output type ``b`` and input type ``a`` with ``k > 0`` maps.
    bias_blocks : tuple of (int, ndarray of shape (k0, d_b))
        Invariant vectors of output type ``b`` (``k0 > 0``).
    n_weights : int
        ``sum m_b m_a k`` over the blocks: the dimension of ``Hom_G(rep_in, rep_out)``.
    n_bias : int
        Dimension of the invariant subspace of ``rep_out``.
    """

    rep_in: Rep
    rep_out: Rep
    layout_in: RepLayout
    layout_out: RepLayout
    blocks: tuple[tuple[int, int, np.ndarray], ...]
    bias_blocks: tuple[tuple[int, np.ndarray], ...]
    n_weights: int
    n_bias: int


def common_group(*reps: Rep) -> Group | None:
    """The group shared by ``reps`` (``None`` when all are trivial); raises when they disagree."""
    groups = {r.group for r in reps if r.group is not None}
    if len(groups) > 1:
        names = ", ".join(sorted(g.name for g in groups))
        raise GroupMismatchError(f"the representations belong to different groups ({names})")
    return groups.pop() if groups else None


def term_rep(group: Group | None, factors: Factors) -> Rep:
    """The representation ``F_1 (x) ... (x) F_k`` of one term type (``Scalar`` for ``()``)."""
    rep: Rep = Scalar
    for block, dual in factors:
        if group is None:  # pragma: no cover - a non-trivial factor always has a group
            raise SymlieTypeError("a non-trivial term needs a group")
        base = V(group, factor=block)
        rep = rep * (base.dual if dual else base)
    return rep


@lru_cache(maxsize=256)
def rep_layout(rep: Rep) -> RepLayout:
    """Group the coordinates of ``rep`` by term type; see :class:`RepLayout`."""
    if not isinstance(rep, Rep):
        raise SymlieTypeError(f"rep must be a symlie Rep, got {type(rep).__name__}")
    found: dict[Factors, list[np.ndarray]] = {}
    for factors, where in rep.terms():
        found.setdefault(tuple(factors), []).append(np.asarray(where, dtype=np.int64))
    types = tuple(found)
    positions = tuple(np.stack(found[t]) for t in types)
    for p in positions:
        p.setflags(write=False)
    order = np.concatenate([p.reshape(-1) for p in positions]) if positions else np.zeros(0, dtype=np.int64)
    order.setflags(write=False)
    return RepLayout(types, positions, order, _runs(positions, len(order)))


def _runs(positions: tuple[np.ndarray, ...], size: int) -> tuple[tuple[int, int, int, int], ...]:
    kind = np.empty(size, dtype=np.int64)
    offset = np.empty(size, dtype=np.int64)
    for a, p in enumerate(positions):
        flat = p.reshape(-1)
        kind[flat] = a
        offset[flat] = np.arange(len(flat))
    breaks = np.flatnonzero((np.diff(kind) != 0) | (np.diff(offset) != 1)) + 1
    starts = np.concatenate([[0], breaks]) if size else np.zeros(0, dtype=np.int64)
    stops = np.concatenate([breaks, [size]]) if size else np.zeros(0, dtype=np.int64)
    return tuple((int(a), int(b - a), int(kind[a]), int(offset[a])) for a, b in zip(starts, stops))


@lru_cache(maxsize=128)
def linear_plan(rep_in: Rep, rep_out: Rep) -> LinearPlan:
    """Structure of the equivariant maps between two representations (cached); see :class:`LinearPlan`."""
    for name, rep in (("rep_in", rep_in), ("rep_out", rep_out)):
        if not isinstance(rep, Rep):
            raise SymlieTypeError(
                f"{name} must be a symlie Rep such as V(G) or 2*V(G)+Scalar, got {type(rep).__name__}"
            )
    group = common_group(rep_in, rep_out)
    lin, lout = rep_layout(rep_in), rep_layout(rep_out)
    blocks, n_weights = [], 0
    for b, fb in enumerate(lout.types):
        rb = term_rep(group, fb)
        for a, fa in enumerate(lin.types):
            ra = term_rep(group, fa)
            basis = equivariant_basis(ra, rb)  # (d_b * d_a, k), row-major W of shape (d_b, d_a)
            k = basis.shape[1]
            if k == 0:
                continue
            mats = np.ascontiguousarray(basis.T.reshape(k, rb.size, ra.size))
            mats.setflags(write=False)
            blocks.append((b, a, mats))
            n_weights += k * lout.positions[b].shape[0] * lin.positions[a].shape[0]
    bias_blocks, n_bias = [], 0
    for b, fb in enumerate(lout.types):
        invariant = equivariant_basis(Scalar, term_rep(group, fb))  # (d_b, k0)
        if invariant.shape[1]:
            vectors = np.ascontiguousarray(invariant.T)
            vectors.setflags(write=False)
            bias_blocks.append((b, vectors))
            n_bias += vectors.shape[0] * lout.positions[b].shape[0]
    return LinearPlan(rep_in, rep_out, lin, lout, tuple(blocks), tuple(bias_blocks), n_weights, n_bias)


def clear_plan_cache() -> None:
    """Forget every cached layout and plan (the term bases stay in :data:`symlie.basis_cache`)."""
    rep_layout.cache_clear()
    linear_plan.cache_clear()
    from ._components import linear_components, type_components

    linear_components.cache_clear()
    type_components.cache_clear()
