r"""Independent dense products inside an equivariant weight, and invariant contractions of its inputs.

An equivariant weight :math:`W : \bigoplus_a m_a T_a \to \bigoplus_b m_b T_b` vanishes between term types with
:math:`\mathrm{Hom}_G(T_a, T_b) = 0` (odd and even tensor orders of O(n), for example). Linking output and input
types that have maps between them splits the coordinates into connected *components*, and ``x W^T`` is one dense
product per component instead of a product with a mostly-zero matrix.

Within a component, the invariant (scalar) outputs see a non-scalar input type :math:`T_a` only through its
:math:`k_a = \dim \mathrm{Hom}_G(T_a, \mathbb{R})` invariant functionals :math:`f_j` (the trace of a
:math:`V \otimes V` copy for O(n)):

.. math:: y_s = \sum_{m, j} C_{j s m}\, f_j(x_{a, m}),

so when :math:`k_a \ll \dim T_a` the scalar outputs are computed from the contracted features
:math:`f_j(x_{a,m})` (one small product) rather than from the raw coordinates. Each component then becomes at most
two *products*: its scalar outputs (raw scalar inputs plus contracted features) and its other outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .._equivariant import equivariant_basis
from .._groups import Group
from .._reps import Rep
from ._structure import Factors, linear_plan, term_rep

__all__ = ["CONTRACT_MIN", "ROUNDING", "Component", "Components", "Entries", "linear_components", "type_components"]

Entries = tuple[np.ndarray, np.ndarray, np.ndarray]

#: Entries of a term basis below this fraction of its largest entry are rounding noise of the solver (exact zeros
#: of the true basis; about 1e-16 relative, at most 1e-13 seen) and are left out of the sparse weight entries.
ROUNDING = 1e-12
#: Contract an input type for the scalar outputs when it saves at least this many multiply-adds per sample.
CONTRACT_MIN = 16384


@dataclass(frozen=True)
class Component:
    """One dense product ``y[:, outputs] = [x[:, inputs], features] W_p^T + b_p`` of an equivariant layer.

    Attributes
    ----------
    outputs : ndarray of int, shape (o,)
        Coordinates of ``rep_out`` (ascending): the rows of ``W_p``.
    inputs : ndarray of int, shape (i,)
        Coordinates of ``rep_in`` (ascending) read as they are: the first ``i`` columns of ``W_p``.
    runs : tuple of (start, length, column)
        Maximal runs ``start .. start + length - 1`` of consecutive ``inputs``; ``column`` is the first column of
        ``W_p`` they fill.
    contractions : tuple of (start, copies, functional, column)
        Runs of ``copies`` consecutive copies of one input type starting at coordinate ``start``, contracted with
        ``functionals[functional]`` (shape (k, d)); their ``copies * k`` features fill the columns from ``column``.
    width : int
        Number of columns of ``W_p``.
    weight : (flat, coefficient, value)
        ``W_p.reshape(-1)[flat] += value * c[coefficient]`` (arrays of shape (nnz,), sorted by ``flat``).
    bias : (row, coefficient, value)
        ``b_p[row] += value * c_bias[coefficient]``.
    """

    outputs: np.ndarray
    inputs: np.ndarray
    runs: tuple[tuple[int, int, int], ...]
    contractions: tuple[tuple[int, int, int, int], ...]
    width: int
    weight: Entries
    bias: Entries


@dataclass(frozen=True)
class Components:
    """The equivariant maps ``rep_in -> rep_out`` as independent dense products (see :func:`linear_components`).

    Attributes
    ----------
    parts : tuple of Component
        Every output coordinate lies in exactly one.
    pieces : tuple of (part, row, length)
        The output coordinates in order, as maximal runs of consecutive rows of one part.
    functionals : tuple of ndarray of shape (k, d)
        Invariant functionals used by the contractions.
    weight : (flat, coefficient, value)
        Entries of the whole weight, ``flat = out * rep_in.size + in``.
    bias : (row, coefficient, value)
        Entries of the whole bias.
    cost : int
        Multiply-adds per sample of the products and contractions.
    """

    parts: tuple[Component, ...]
    pieces: tuple[tuple[int, int, int], ...]
    functionals: tuple[np.ndarray, ...]
    weight: Entries
    bias: Entries
    cost: int


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def _frozen(*arrays: np.ndarray) -> Entries:
    for a in arrays:
        a.setflags(write=False)
    return arrays[0], arrays[1], arrays[2]


def _concat(arrays: list[np.ndarray], *, float_: bool) -> np.ndarray:
    if arrays:
        return np.concatenate(arrays)
    return np.zeros(0, dtype=np.float64 if float_ else np.int64)


def _runs(inputs: np.ndarray) -> tuple[tuple[int, int, int], ...]:
    if not len(inputs):
        return ()
    breaks = np.flatnonzero(np.diff(inputs) != 1) + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [len(inputs)]])
    return tuple((int(inputs[s]), int(e - s), int(s)) for s, e in zip(starts, stops))


@lru_cache(maxsize=128)
def linear_components(rep_in: Rep, rep_out: Rep, *, contract: bool = True) -> Components:
    """Split ``Hom_G(rep_in, rep_out)`` into independent dense products (cached); see the module docstring.

    The coefficient layout is that of :func:`~symlie.torch._structure.linear_plan`: block ``(b, a)`` owns ``C``
    of shape (k, m_b, m_a) at its offset, and the weight between copy ``n`` of ``T_b`` and copy ``m`` of ``T_a``
    is ``sum_k C[k, n, m] B_k``. ``contract=False`` never contracts inputs.
    """
    plan = linear_plan(rep_in, rep_out)
    lin, lout = plan.layout_in, plan.layout_out
    n_out = len(lout.types)
    parent = list(range(n_out + len(lin.types)))
    blocks: dict[tuple[int, int], tuple[int, np.ndarray]] = {}
    offset = 0
    for b, a, mats in plan.blocks:
        parent[_find(parent, b)] = _find(parent, n_out + a)
        blocks[(b, a)] = (offset, mats)
        offset += mats.shape[0] * lout.positions[b].shape[0] * lin.positions[a].shape[0]
    roots = [_find(parent, b) for b in range(n_out)]
    first = {r: int(min(lout.positions[b].min() for b in range(n_out) if roots[b] == r)) for r in set(roots)}
    order = sorted(set(roots), key=first.__getitem__)
    trivial = lout.types.index(()) if () in lout.types else -1
    runs_of = {a: [r for r in lin.runs if r[2] == a] for a in range(len(lin.types))}
    functionals: list[np.ndarray] = []
    products = []  # (output types, raw input types, contracted input types)
    for root in order:
        outs = [b for b in range(n_out) if roots[b] == root]
        ins = sorted({a for b, a in blocks if b in outs})
        contracted = []
        if contract and trivial in outs:
            m_s = lout.positions[trivial].shape[0]
            for a in ins:
                m_a, d_a = lin.positions[a].shape
                if (trivial, a) not in blocks:
                    continue
                k = blocks[(trivial, a)][1].shape[0]
                if d_a == 1 or k >= d_a or m_s * m_a * (d_a - k) < CONTRACT_MIN:
                    continue
                if all(start_off % d_a == 0 and length % d_a == 0 for _, length, _, start_off in runs_of[a]):
                    contracted.append(a)
        if contracted and len(outs) > 1:
            rest = [b for b in outs if b != trivial]
            raw_s = [a for a in ins if (trivial, a) in blocks and a not in contracted]
            products.append(([trivial], raw_s, contracted))
            products.append((rest, sorted({a for b, a in blocks if b in rest}), []))
        elif contracted:
            products.append((outs, [a for a in ins if a not in contracted], contracted))
        else:
            products.append((outs, ins, []))
    parts, cost = [], 0
    bias_offsets = {}
    running = 0
    for b, vectors in plan.bias_blocks:
        bias_offsets[b] = (running, vectors)
        running += vectors.shape[0] * lout.positions[b].shape[0]
    local_out = np.empty(rep_out.size, dtype=np.int64)
    part_of = np.empty(rep_out.size, dtype=np.int64)
    for p, (outs, raw, contracted) in enumerate(products):
        outputs = np.sort(np.concatenate([lout.positions[b].reshape(-1) for b in outs]))
        inputs = np.sort(np.concatenate([lin.positions[a].reshape(-1) for a in raw])) if raw else np.zeros(0, int)
        local_out[outputs] = np.arange(len(outputs))
        part_of[outputs] = p
        local_in = np.zeros(rep_in.size, dtype=np.int64)
        local_in[inputs] = np.arange(len(inputs))
        width, contractions, feature = len(inputs), [], {}
        for a in contracted:
            mats = blocks[(trivial, a)][1]
            functionals.append(np.ascontiguousarray(mats[:, 0, :]))
            k, d_a = mats.shape[0], mats.shape[2]
            column = np.empty(lin.positions[a].shape[0], dtype=np.int64)
            for start, length, _, start_off in runs_of[a]:
                copies = length // d_a
                contractions.append((start, copies, len(functionals) - 1, width))
                column[start_off // d_a : start_off // d_a + copies] = width + k * np.arange(copies)
                width += copies * k
                cost += copies * d_a * k
            feature[a] = column
        entries = []
        for b in outs:
            pos_b = lout.positions[b]
            for a in raw:
                if (b, a) in blocks:
                    entries.append(_block_entries(blocks[(b, a)], pos_b, lin.positions[a], local_in))
            for a in contracted:
                entries.append(_contracted_entries(blocks[(b, a)], pos_b, feature[a]))
        rows, cols, coef, value = (_concat([e[i] for e in entries], float_=i == 3) for i in range(4))
        flat = local_out[rows] * width + cols
        sort = np.argsort(flat, kind="stable")
        b_entries = [_bias_entries(*bias_offsets[b], lout.positions[b]) for b in outs if b in bias_offsets]
        b_rows, b_coef, b_value = (_concat([e[i] for e in b_entries], float_=i == 2) for i in range(3))
        outputs.setflags(write=False)
        inputs.setflags(write=False)
        parts.append(
            Component(
                outputs,
                inputs,
                _runs(inputs),
                tuple(contractions),
                width,
                _frozen(flat[sort], coef[sort], np.ascontiguousarray(value[sort], dtype=np.float64)),
                _frozen(local_out[b_rows], b_coef, np.ascontiguousarray(b_value, dtype=np.float64)),
            )
        )
        cost += len(outputs) * width
    whole = [_block_entries(blocks[key], lout.positions[key[0]], lin.positions[key[1]]) for key in blocks]
    rows, cols, coef, value = (_concat([e[i] for e in whole], float_=i == 3) for i in range(4))
    weight = _frozen(rows * rep_in.size + cols, coef, np.ascontiguousarray(value, dtype=np.float64))
    b_entries = [_bias_entries(*bias_offsets[b], lout.positions[b]) for b in sorted(bias_offsets)]
    bias = _frozen(*(_concat([e[i] for e in b_entries], float_=i == 2) for i in range(3)))
    cuts = np.flatnonzero((np.diff(part_of) != 0) | (np.diff(local_out) != 1)) + 1
    starts, stops = np.concatenate([[0], cuts]), np.concatenate([cuts, [rep_out.size]])
    pieces = tuple((int(part_of[s]), int(local_out[s]), int(e - s)) for s, e in zip(starts, stops) if e > s)
    return Components(tuple(parts), pieces, tuple(functionals), weight, bias, cost)


def _block_entries(
    block: tuple[int, np.ndarray],
    pos_b: np.ndarray,
    pos_a: np.ndarray,
    local_in: np.ndarray | None = None,
) -> tuple[np.ndarray, ...]:
    """(output coordinate, column, coefficient, value) of the non-zero entries of block ``(b, a)``.

    Columns are input coordinates, or their positions in ``local_in`` when given.
    """
    offset, mats = block
    m_b, m_a = pos_b.shape[0], pos_a.shape[0]
    K, J, I = np.nonzero(np.abs(mats) > ROUNDING * np.abs(mats).max())
    rows = pos_b[:, None, J]  # (m_b, 1, nz)
    cols = pos_a[None, :, I]  # (1, m_a, nz)
    coef = offset + (K[None, None, :] * m_b + np.arange(m_b)[:, None, None]) * m_a + np.arange(m_a)[None, :, None]
    rows, cols, coef = np.broadcast_arrays(rows, cols, coef)
    value = np.broadcast_to(mats[K, J, I], rows.shape)
    if local_in is not None:
        cols = local_in[cols]
    return tuple(np.ascontiguousarray(x).reshape(-1) for x in (rows, cols, coef, value))


def _contracted_entries(block: tuple[int, np.ndarray], pos_b: np.ndarray, column: np.ndarray) -> tuple[np.ndarray, ...]:
    """Entries of a block from a contracted input type to the trivial type: ``C[j, n, m]`` at feature ``(m, j)``."""
    offset, mats = block
    k, m_b, m_a = mats.shape[0], pos_b.shape[0], len(column)
    K, N, M = np.meshgrid(np.arange(k), np.arange(m_b), np.arange(m_a), indexing="ij")
    rows = pos_b[N, 0]
    cols = column[M] + K
    coef = offset + (K * m_b + N) * m_a + M
    return tuple(x.reshape(-1) for x in (rows, cols, coef, np.ones(rows.shape)))


def _bias_entries(offset: int, vectors: np.ndarray, pos_b: np.ndarray) -> tuple[np.ndarray, ...]:
    """(output coordinate, bias coefficient, value) of the invariant vectors of one output type."""
    m_b, k0 = pos_b.shape[0], vectors.shape[0]
    K, J = np.nonzero(np.abs(vectors) > ROUNDING * np.abs(vectors).max())
    rows = pos_b[:, J]  # (m_b, nz)
    coef = offset + np.arange(m_b)[:, None] * k0 + K[None, :]
    value = np.broadcast_to(vectors[K, J], rows.shape)
    return tuple(np.ascontiguousarray(x).reshape(-1) for x in (rows, coef, value))


@lru_cache(maxsize=128)
def type_components(group: Group | None, types: tuple[Factors, ...]) -> tuple[int, ...]:
    """Component label of each term type: ``T_a`` and ``T_b`` are linked when ``Hom_G(T_a, T_b) != 0``.

    Labels count components in order of first appearance, except that the component of the trivial type ``()``
    (when present) comes last. Laying coordinates out component by component makes every equivariant weight
    between such layouts block diagonal with contiguous blocks (e.g. odd and even tensor orders of O(n)).

    Examples
    --------
    >>> import symlie as sl
    >>> type_components(sl.O(5), ((), ((0, False),), ((0, False), (0, False))))
    (1, 0, 1)
    """
    reps = [term_rep(group, t) for t in types]
    parent = list(range(len(types)))
    for a, ra in enumerate(reps):
        for b in range(a + 1, len(reps)):
            if equivariant_basis(ra, reps[b]).shape[1] or equivariant_basis(reps[b], ra).shape[1]:
                parent[_find(parent, a)] = _find(parent, b)
    roots = [_find(parent, a) for a in range(len(types))]
    order = list(dict.fromkeys(roots))
    if () in types:
        trivial = roots[types.index(())]
        order.remove(trivial)
        order.append(trivial)
    return tuple(order.index(r) for r in roots)
