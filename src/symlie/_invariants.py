"""Invariant vectors of a representation, solved with the structure of the problem.

The invariants of ``R = (+)_t T_t`` are the direct sum of the invariants of its terms, each term a tensor product
``T = F_1 (x) ... (x) F_k`` of base factors. For one term three exact solvers are used:

* ``orbits`` — a finite group acting by permutations: invariants are the indicator vectors of the orbits of
  the group on index tuples (union-find over the generators), no floating-point linear algebra at all.
* ``weights`` — a group with a continuous part: pick a generic algebra element ``H`` and diagonalise it on each
  factor, ``H_f = P_f diag(lambda_f) P_f^{-1}``. The kernel of ``drho_T(H)`` (a Kronecker sum) is spanned by
  the tensor products of eigenvectors whose eigenvalues add up to zero (the zero-weight space). In that basis
  every other generator acts *sparsely* (a Kronecker sum changes one index at a time), so the remaining
  constraints are a sparse matrix on the zero-weight space. Finite groups acting by non-permutation matrices use
  a generator's eigenvalues multiplicatively (products equal to one) instead.
  The discrete generators are then imposed on the small continuous solution.
* ``dense`` — the stacked constraint matrix of all generators and a dense SVD (the naive reference, and the
  fallback when no generic element is diagonalisable).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import reduce

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ._errors import SymlieValueError
from ._groups import Group
from ._linalg import null_space, null_space_hermitian
from ._reps import Factor, Rep, factor_matrix, kron_sum

__all__ = ["BasisCache", "InvariantSpace", "basis_cache", "invariant_space"]

_METHODS = ("auto", "dense")
#: Largest term size handled by the dense solver when the structured one cannot be used.
DENSE_LIMIT = 8192
_WEIGHT_ATOL = 1e-7  # relative: weights below this are zero
_WEIGHT_GAP = 1e-4  # relative: non-zero weights must be at least this far from zero
_MAX_EIGVEC_COND = 1e4


@dataclass(frozen=True)
class InvariantSpace:
    """Invariant subspace of a representation with its certificate.

    Attributes
    ----------
    basis : ndarray of shape (size, k)
        Orthonormal basis of the invariant vectors.
    residual : float
        Largest relative violation ``||(drho(A) B)|| / ||drho(A)||`` or ``||(rho(h) - I) B|| / ||rho(h)||`` over
        the algebra basis ``A`` and discrete generators ``h``, measured on the returned basis.
    methods : tuple of str
        Solver used for each term of the representation (``orbits``, ``weights``, ``dense``, ``trivial``).
    seconds : float
        Wall time of the solve.
    """

    basis: np.ndarray
    residual: float
    methods: tuple[str, ...]
    seconds: float

    @property
    def dim(self) -> int:
        return int(self.basis.shape[1])


class BasisCache:
    """A bounded least-recently-used cache of term bases, owned by whoever creates it.

    Parameters
    ----------
    maxsize : int, default 256
        Number of term bases kept.
    """

    def __init__(self, maxsize: int = 256) -> None:
        self.maxsize = maxsize
        self._store: OrderedDict[tuple, tuple[np.ndarray, str]] = OrderedDict()

    def get(self, key: tuple) -> tuple[np.ndarray, str] | None:
        if key in self._store:
            self._store.move_to_end(key)
            return self._store[key]
        return None

    def put(self, key: tuple, value: tuple[np.ndarray, str]) -> None:
        self._store[key] = value
        self._store.move_to_end(key)
        while len(self._store) > self.maxsize:
            self._store.popitem(last=False)

    def clear(self) -> None:
        """Forget every stored basis."""
        self._store.clear()

    def __len__(self) -> int:
        return len(self._store)


#: The cache used by :func:`~symlie.equivariant_basis` unless another is passed.
basis_cache = BasisCache()


# ------------------------------------------------------------------------------------ tensor helpers
def _apply_axis(tensor: np.ndarray, mat: np.ndarray, axis: int) -> np.ndarray:
    """Multiply ``mat`` into one axis of ``tensor`` (the trailing axis holds columns)."""
    return np.moveaxis(np.tensordot(mat, tensor, axes=(1, axis)), 0, axis)


def _apply_kron(mats: list[np.ndarray], columns: np.ndarray) -> np.ndarray:
    """``(mats[0] (x) ... (x) mats[-1]) @ columns`` without forming the product; columns (N, d)."""
    sizes = [m.shape[1] for m in mats]
    tensor = columns.reshape(*sizes, columns.shape[1])
    for p, mat in enumerate(mats):
        tensor = _apply_axis(tensor, mat, p)
    return tensor.reshape(int(np.prod(tensor.shape[:-1])), columns.shape[1])  # explicit rows: columns may be empty


def _apply_kron_sum(mats: list[np.ndarray], columns: np.ndarray) -> np.ndarray:
    """``(sum_p I (x) mats[p] (x) I) @ columns`` without forming it; columns (N, d)."""
    sizes = [m.shape[1] for m in mats]
    tensor = columns.reshape(*sizes, columns.shape[1])
    out = np.zeros_like(tensor)
    for p, mat in enumerate(mats):
        out += _apply_axis(tensor, mat, p)
    return out.reshape(int(np.prod(out.shape[:-1])), columns.shape[1])


def _orthonormal_columns(matrix: np.ndarray, rank: int) -> np.ndarray:
    u, _, _ = np.linalg.svd(matrix, full_matrices=False)
    return u[:, :rank]


# ---------------------------------------------------------------------------------------- certificate
def _term_residual(group: Group, factors: tuple[Factor, ...], basis: np.ndarray) -> float:
    if basis.shape[1] == 0 or not factors:
        return 0.0
    worst = 0.0
    for A in group.algebra.basis:
        mats = [factor_matrix(A, f, group, algebra=True) for f in factors]
        bound = sum(np.linalg.norm(m, 2) for m in mats)
        if bound > 0:
            worst = max(worst, np.linalg.norm(_apply_kron_sum(mats, basis)) / bound)
    for h in group.discrete:
        mats = [factor_matrix(h, f, group, algebra=False) for f in factors]
        moved = _apply_kron(mats, basis) - basis
        bound = float(np.prod([np.linalg.norm(m, 2) for m in mats])) + 1.0
        worst = max(worst, np.linalg.norm(moved) / bound)
    return float(worst)


# ---------------------------------------------------------------------------------------- the solvers
def _permutation(mat: np.ndarray) -> np.ndarray | None:
    """The permutation ``pi`` with ``mat e_c = e_{pi(c)}``, or None if ``mat`` is not a permutation matrix."""
    if not np.all((mat == 0) | (mat == 1)) or not np.all(mat.sum(axis=0) == 1) or not np.all(mat.sum(axis=1) == 1):
        return None
    return np.argmax(mat, axis=0)


def _orbit_basis(group: Group, factors: tuple[Factor, ...]) -> np.ndarray | None:
    """Orbit indicators for a finite permutation group; None when some generator is not a permutation."""
    if not group.is_finite:
        return None
    sizes = [factor_matrix(np.eye(group.n), f, group, algebra=False).shape[0] for f in factors]
    total = int(np.prod(sizes, dtype=np.int64))
    tuples = np.indices(sizes).reshape(len(sizes), -1)
    rows, cols = [], []
    for h in group.discrete:
        perms = [_permutation(factor_matrix(h, f, group, algebra=False)) for f in factors]
        if any(p is None for p in perms):
            return None
        image = np.ravel_multi_index(tuple(p[t] for p, t in zip(perms, tuples)), sizes)
        rows.append(np.arange(total))
        cols.append(image)
    graph = sp.coo_matrix(
        (np.ones(sum(len(r) for r in rows)), (np.concatenate(rows or [[]]), np.concatenate(cols or [[]]))),
        shape=(total, total),
    )
    n_orbits, labels = connected_components(graph, directed=True, connection="weak")
    counts = np.bincount(labels, minlength=n_orbits)
    basis = np.zeros((total, n_orbits))
    basis[np.arange(total), labels] = 1.0 / np.sqrt(counts[labels])
    return basis


@dataclass
class _EigenFactor:
    """Eigen-decomposition of one factor's matrix, eigenvectors in exact complex-conjugate pairs."""

    values: np.ndarray
    vectors: np.ndarray
    inverse: np.ndarray
    partner: np.ndarray  # partner[i] = j with vectors[:, j] == conj(vectors[:, i])


def _eigen_factors(
    group: Group, factors: tuple[Factor, ...], element: np.ndarray, additive: bool
) -> list[_EigenFactor] | None:
    out = []
    for f in factors:
        mat = factor_matrix(element, f, group, algebra=additive)
        values, vectors = np.linalg.eig(mat)  # LAPACK returns exact conjugate pairs for a real matrix
        if np.linalg.cond(vectors) > _MAX_EIGVEC_COND:
            return None
        mismatch = np.abs(vectors.conj()[:, :, None] - vectors[:, None, :]).max(axis=0)
        partner = np.argmin(mismatch, axis=1)
        if mismatch[np.arange(len(values)), partner].max() > 1e-12:
            return None
        out.append(_EigenFactor(values, vectors, np.linalg.inv(vectors), partner))
    return out


def _zero_weights(eigen: list[_EigenFactor], additive: bool) -> np.ndarray | None:
    """Flat indices of tuples whose eigenvalues sum to 0 (additive) or multiply to 1; None without a gap."""
    if additive:
        total = reduce(np.add.outer, [e.values for e in eigen]).reshape(-1)
        scale = sum(np.abs(e.values).max() for e in eigen) or 1.0
        distance = np.abs(total) / scale
    else:
        total = reduce(np.multiply.outer, [e.values for e in eigen]).reshape(-1)
        distance = np.abs(total - 1.0)
    zero = distance < _WEIGHT_ATOL
    nonzero = distance[~zero]
    if nonzero.size and nonzero.min() < _WEIGHT_GAP:
        return None
    return np.flatnonzero(zero)


def _real_coordinates(eigen: list[_EigenFactor], zero: np.ndarray) -> sp.csr_matrix:
    """Unitary ``U`` (K x K) such that real coordinates ``r`` give real vectors ``P^(x) U r``.

    Conjugation maps the eigen-tensor of tuple ``t`` to that of its partner tuple ``s``; the pair spans the
    same real space as ``(e_t + e_s)/sqrt(2)`` and ``i (e_t - e_s)/sqrt(2)``.
    """
    sizes = [len(e.values) for e in eigen]
    tuples = np.unravel_index(zero, sizes)
    partner = np.searchsorted(zero, np.ravel_multi_index([e.partner[t] for e, t in zip(eigen, tuples)], sizes))
    own = np.arange(len(zero))
    fixed = own[partner == own]
    first = own[partner > own]
    second = partner[first]
    h = 1 / np.sqrt(2)
    rows = np.concatenate([fixed, first, second, first, second])
    cols = np.concatenate([fixed, first, first, second, second])
    vals = np.concatenate(
        [
            np.ones(len(fixed)),
            np.full(2 * len(first), h),
            np.full(len(first), 1j * h),
            np.full(len(first), -1j * h),
        ]
    )
    return sp.csr_matrix((vals.astype(complex), (rows, cols)), shape=(len(zero), len(zero)))


def _sparse_constraints(
    group: Group, factors: tuple[Factor, ...], eigen: list[_EigenFactor], zero: np.ndarray
) -> tuple[sp.csr_matrix, float]:
    """Algebra constraints on the zero-weight space in the eigenbasis, shape (q * N, K), and a bound on its norm."""
    sizes = [len(e.values) for e in eigen]
    total = int(np.prod(sizes, dtype=np.int64))
    strides = np.array([int(np.prod(sizes[p + 1 :], dtype=np.int64)) for p in range(len(sizes))])
    tuples = np.array(np.unravel_index(zero, sizes))  # (k, K)
    columns = np.arange(len(zero))
    rows, cols, vals = [], [], []
    norm_squared = 0.0
    for j, A in enumerate(group.algebra.basis):
        norm = 0.0
        for p, (f, e) in enumerate(zip(factors, eigen)):
            rotated = e.inverse @ factor_matrix(A, f, group, algebra=True) @ e.vectors
            norm += np.linalg.norm(rotated, 2)
            entries = rotated[:, tuples[p]]  # (n_p, K): new index i' for each column
            shift = (np.arange(sizes[p])[:, None] - tuples[p][None, :]) * strides[p]
            rows.append((j * total + zero[None, :] + shift).reshape(-1))
            cols.append(np.broadcast_to(columns, entries.shape).reshape(-1))
            vals.append(entries.reshape(-1))
        norm_squared += norm**2
    q = group.algebra.dim
    matrix = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(q * total, len(zero))
    )
    return matrix, float(np.sqrt(norm_squared))


def _gram_null_space(gram: sp.csr_matrix, scale: float) -> np.ndarray:
    """Null space of a real sparse Gram matrix ``M^T M`` (with ``||M|| <= scale``), block by block."""
    n = gram.shape[0]
    n_blocks, labels = connected_components(gram != 0, directed=False)
    pieces = []
    for block in range(n_blocks):
        members = np.flatnonzero(labels == block)
        # Rank is decided against the whole operator's scale, not the block's.
        vectors = null_space_hermitian(gram[members][:, members].toarray(), scale=scale, what="invariants").basis
        if vectors.shape[1]:
            piece = np.zeros((n, vectors.shape[1]))
            piece[members] = vectors
            pieces.append(piece)
    return np.concatenate(pieces, axis=1) if pieces else np.zeros((n, 0))


def _weight_basis(group: Group, factors: tuple[Factor, ...], seed: int = 0) -> np.ndarray | None:
    """Structured solve through a zero-weight space; None when no diagonalisable generic element is found."""
    additive = group.algebra.dim > 0
    rng = np.random.default_rng(seed)
    for _ in range(5):
        if additive:
            element = np.tensordot(rng.normal(size=group.algebra.dim), group.algebra.basis, axes=1)
        else:
            element = reduce(np.matmul, [group.discrete[i] for i in rng.permutation(len(group.discrete))])
        eigen = _eigen_factors(group, factors, element, additive)
        zero = None if eigen is None else _zero_weights(eigen, additive)
        if zero is not None:
            break
    else:
        return None
    sizes = [len(e.values) for e in eigen]
    to_real = _real_coordinates(eigen, zero)
    if additive and len(zero):
        constraints, scale = _sparse_constraints(group, factors, eigen, zero)
        real_constraints = constraints @ to_real
        gram = (real_constraints.conj().T @ real_constraints).real.tocsr()  # real: see _real_coordinates
        coefficients = to_real @ _gram_null_space(gram, scale)
    else:
        coefficients = to_real.toarray()
    embedded = np.zeros((int(np.prod(sizes, dtype=np.int64)), coefficients.shape[1]), dtype=complex)
    embedded[zero] = coefficients
    vectors = _apply_kron([e.vectors for e in eigen], embedded).real
    basis = _orthonormal_columns(vectors, coefficients.shape[1])
    return _impose_discrete(group, factors, basis)


def _impose_discrete(group: Group, factors: tuple[Factor, ...], basis: np.ndarray) -> np.ndarray:
    """Restrict an orthonormal basis to the vectors fixed by every discrete generator."""
    if basis.shape[1] == 0 or not group.discrete:
        return basis
    blocks, scale = [], 0.0
    for h in group.discrete:
        mats = [factor_matrix(h, f, group, algebra=False) for f in factors]
        blocks.append(_apply_kron(mats, basis) - basis)
        scale += 1.0 + float(np.prod([np.linalg.norm(m, 2) for m in mats]))
    kernel = null_space(np.concatenate(blocks), scale=scale, what="invariants of the discrete generators")
    return basis @ kernel.basis


def _dense_basis(group: Group, factors: tuple[Factor, ...]) -> np.ndarray:
    """The naive reference: dense SVD of all constraints stacked."""
    blocks = [kron_sum([factor_matrix(A, f, group, algebra=True) for f in factors]) for A in group.algebra.basis]
    for h in group.discrete:
        moved = reduce(np.kron, [factor_matrix(h, f, group, algebra=False) for f in factors], np.ones((1, 1)))
        blocks.append(moved - np.eye(moved.shape[0]))
    size = int(np.prod([factor_matrix(np.eye(group.n), f, group, algebra=False).shape[0] for f in factors]))
    if not blocks:
        return np.eye(size)
    return null_space(np.concatenate(blocks), what="invariants").basis


def _term_basis(group: Group, factors: tuple[Factor, ...], method: str) -> tuple[np.ndarray, str]:
    sizes = [factor_matrix(np.eye(group.n), f, group, algebra=False).shape[0] for f in factors]
    if not factors:
        return np.ones((1, 1)), "trivial"
    if not group.algebra.dim and not group.discrete:
        return np.eye(int(np.prod(sizes))), "trivial"
    if method == "auto":
        basis = _orbit_basis(group, factors)
        if basis is not None:
            return basis, "orbits"
        basis = _weight_basis(group, factors)
        if basis is not None:
            return basis, "weights"
    if int(np.prod(sizes)) > DENSE_LIMIT and method == "auto":
        raise SymlieValueError(
            f"no diagonalisable generic element of {group.name} was found for a term of size {int(np.prod(sizes))}"
            f" > {DENSE_LIMIT}; the dense solver would not fit. Use smaller representations"
        )
    return _dense_basis(group, factors), "dense"


def _canonical_term_basis(
    group: Group, factors: tuple[Factor, ...], method: str, cache: BasisCache | None
) -> tuple[np.ndarray, str]:
    """Solve the term with its factors sorted (shared by all orderings) and transpose back."""
    order = sorted(range(len(factors)), key=factors.__getitem__)
    ordered = tuple(factors[i] for i in order)
    key = (group, ordered, method)
    hit = cache.get(key) if cache is not None else None
    if hit is None:
        hit = _term_basis(group, ordered, method)
        if cache is not None:
            cache.put(key, hit)
    basis, used = hit
    if order == sorted(order):
        return basis, used
    sizes = [factor_matrix(np.eye(group.n), f, group, algebra=False).shape[0] for f in ordered]
    tensor = basis.reshape(*sizes, basis.shape[1])
    inverse = list(np.argsort(order))
    return np.transpose(tensor, inverse + [len(order)]).reshape(basis.shape), used


def invariant_space(rep: Rep, *, method: str = "auto", cache: BasisCache | None = basis_cache) -> InvariantSpace:
    r"""Orthonormal basis of the vectors :math:`v` with :math:`\rho(g) v = v` for all :math:`g \in G`.

    Parameters
    ----------
    rep : Rep
    method : {"auto", "dense"}
        ``auto`` uses the structured solvers (orbits, weights), ``dense`` the naive stacked SVD.
    cache : BasisCache or None
        Where term bases are stored and looked up; ``None`` disables caching.

    Returns
    -------
    InvariantSpace
    """
    if method not in _METHODS:
        raise SymlieValueError(f"method must be one of {_METHODS}, got {method!r}")
    start = time.perf_counter()
    group = rep.group
    if group is None:
        return InvariantSpace(np.eye(rep.size), 0.0, ("trivial",), time.perf_counter() - start)
    pieces, methods, residual = [], [], 0.0
    for factors, positions in rep.terms():
        basis, used = _canonical_term_basis(group, factors, method, cache)
        residual = max(residual, _term_residual(group, factors, basis))
        placed = np.zeros((rep.size, basis.shape[1]))
        placed[positions] = basis
        pieces.append(placed)
        methods.append(used)
    full = np.concatenate(pieces, axis=1)
    return InvariantSpace(full, residual, tuple(methods), time.perf_counter() - start)
