r"""Enforce a known symmetry: the subspace of symmetric models in a function library.

The symmetric models :math:`F(x) = W \theta(x)` are the kernel of the stacked constraints

.. math:: M_{enf}\, w = 0 \quad (L_{\xi_k} F = 0 \text{ for every generator}), \qquad
          (K_g F - F) = 0 \text{ for every discrete generator } g,

with ``w`` the row-major flattening of ``W``. Each block is scaled to unit Frobenius norm and the rank is decided
relative to the largest singular value of the stack.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse.csgraph import connected_components

from ._action import Action
from ._dictionaries import PolynomialLibrary
from ._errors import ShapeError, SymlieTypeError, SymlieValueError
from ._linalg import RTOL, NullSpace, _decide, null_space
from ._operator import (
    PointEvaluation,
    discrete_sampled,
    lie_derivative_operator,
    lie_derivative_values,
    tensor_norm,
)
from ._validation import as_float_array, make_rng

__all__ = ["SymmetricSubspace", "enforce"]

#: Fresh random points used for the certificate (a polynomial identity fails at generic points).
N_CHECK_POINTS = 32
#: Components with more dense entries than this are solved from their Gram matrix.
DENSE_LIMIT = 4_000_000
#: The Gram route resolves singular values only down to ~sqrt(eps) of the largest.
GRAM_RTOL_FLOOR = 1e-7


@dataclass(frozen=True, eq=False)
class SymmetricSubspace:
    r"""The symmetric models in a library, with a certificate (compare scipy's ``OptimizeResult``).

    Attributes
    ----------
    basis : ndarray of shape (P, dim)
        Orthonormal columns; column ``j`` reshaped row-major to ``(n_outputs, len(library))`` is the coefficient
        matrix ``W`` of a symmetric model :math:`F(x) = W \theta(x)`.
    singular_values : ndarray of shape (P,)
        Singular values of the stacked, block-normalised constraints, decreasing.
    threshold : float
        Singular values at or below it counted as zero.
    gap : float
        Smallest kept over largest dropped singular value (``inf`` when one side is empty).
    residual : float
        Certificate: ``max(residual_continuous, residual_discrete)``.
    residual_continuous : float
        :math:`\max_j \|T(X) b_j\| / \|T(X)\|_F` with ``T(X)`` the Lie-derivative tensor at fresh random points.
    residual_discrete : float
        :math:`\max_j \|D(X) b_j\| / \|D(X)\|_F` for the discrete constraints :math:`K_g F - F` at fresh points.
    library : PolynomialLibrary
    n_outputs : int
    action : Action
        The normalised symmetry (input fields, output action, discrete generators).
    method : str
        ``'exact'`` or ``'sampled'``.
    seconds : float
        Wall time of the solve, certificate included.
    """

    basis: np.ndarray
    singular_values: np.ndarray
    threshold: float
    gap: float
    residual: float
    residual_continuous: float
    residual_discrete: float
    library: PolynomialLibrary
    n_outputs: int
    action: Action
    method: str
    seconds: float

    @property
    def dim(self) -> int:
        """Dimension of the space of symmetric models."""
        return int(self.basis.shape[1])

    @property
    def n_params(self) -> int:
        return int(self.basis.shape[0])

    def coefficients(self, c: Any) -> np.ndarray:
        """Coefficient matrices ``W`` of the models with coordinates ``c`` in :attr:`basis`.

        Parameters
        ----------
        c : array_like of shape (dim,) or (n_models, dim)

        Returns
        -------
        ndarray of shape (n_outputs, len(library)) or (n_models, n_outputs, len(library))
        """
        c = as_float_array(c, "c", ndim=(1, 2))
        if c.shape[-1] != self.dim:
            raise ShapeError(f"c must have shape ({self.dim},) or (n_models, {self.dim}), got {c.shape}")
        W = c @ self.basis.T
        return W.reshape(c.shape[:-1] + (self.n_outputs, len(self.library)))

    def matrices(self) -> np.ndarray:
        """The basis as coefficient matrices, shape (dim, n_outputs, len(library))."""
        return self.basis.T.reshape(self.dim, self.n_outputs, len(self.library))

    def __repr__(self) -> str:
        return (
            f"SymmetricSubspace(dim={self.dim} of {self.n_params}, symmetry={self.action.name}, "
            f"library={self.library!r}, method={self.method!r}, residual={self.residual:.1e}, "
            f"gap={self.gap:.3g}, seconds={self.seconds:.3g})"
        )


# ------------------------------------------------------------------------------------------ null spaces
def _normalised(block: Any) -> Any:
    norm = spla.norm(block) if sp.issparse(block) else np.linalg.norm(block)
    return block / norm if norm > 0 else block


def _positions(labels: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """For items with group ``labels``: their index inside their group and the items of each group, in order."""
    order = np.argsort(labels, kind="stable")
    counts = np.bincount(labels, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    local = np.empty(len(labels), dtype=np.int64)
    local[order] = np.arange(len(labels)) - starts[labels[order]]
    return local, order


def _batched_spectra(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Singular values (n, c), padded with zeros, and right singular vectors as rows (n, c, c) of a stack."""
    _, r, c = stack.shape
    if r > 2 * c:  # tall: the R factor has the same singular values and right vectors
        stack = np.asarray(np.linalg.qr(stack, mode="r"))
    _, singular, vh = np.linalg.svd(stack, full_matrices=True)
    return np.pad(singular, ((0, 0), (0, c - singular.shape[1]))), vh


def sparse_null_space(matrix: Any, *, rtol: float = RTOL, what: str = "enforce") -> NullSpace:
    """Null space of a sparse matrix, solved per connected component of its column-interaction graph.

    Columns that never share a nonzero row are independent, so the kernel is the direct sum of the kernels of the
    diagonal blocks (e.g. the homogeneous degrees under linear generators, or the orbits of monomials). Blocks of
    equal shape are solved together by batched dense SVDs; a block with more than ``DENSE_LIMIT`` entries is
    solved from its Gram matrix (rank resolved down to ``max(rtol, 1e-7)``). The rank decision is global.
    """
    matrix = sp.csr_matrix(matrix)
    matrix.eliminate_zeros()
    matrix = matrix[np.flatnonzero(np.diff(matrix.indptr))]  # drop empty rows
    n_rows, n_cols = matrix.shape
    pattern = matrix.copy()
    pattern.data = np.ones_like(pattern.data)
    n_comp, labels = connected_components(sp.bmat([[None, pattern], [pattern.T, None]]), directed=False)
    row_labels, col_labels = labels[:n_rows], labels[n_rows:]
    local_row, _ = _positions(row_labels, n_comp)
    local_col, col_order = _positions(col_labels, n_comp)
    row_count = np.bincount(row_labels, minlength=n_comp)
    col_count = np.bincount(col_labels, minlength=n_comp)
    col_start = np.concatenate([[0], np.cumsum(col_count)[:-1]])
    coo = matrix.tocoo()
    entry_comp = col_labels[coo.col]

    shapes, group_of = np.unique(np.stack([row_count, col_count], axis=1), axis=0, return_inverse=True)
    group_of = group_of.reshape(-1)
    spectra: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (components, singular (n, c), vh (n, c, c))
    used_gram = False
    for g, (r, c) in enumerate(shapes):
        comps = np.flatnonzero(group_of == g)
        if c == 0:
            continue
        if r == 0:
            spectra.append((comps, np.zeros((len(comps), c)), np.broadcast_to(np.eye(c), (len(comps), c, c))))
            continue
        if r * c > DENSE_LIMIT:
            for comp in comps:
                cols = col_order[col_start[comp] : col_start[comp] + c]
                sub = matrix[:, cols][row_labels == comp]
                values, vectors = np.linalg.eigh((sub.T @ sub).toarray())
                singular = np.sqrt(np.clip(values[::-1], 0.0, None))
                spectra.append((np.array([comp]), singular[None, :], vectors[:, ::-1].T[None]))
            used_gram = True
            continue
        index_in_group = np.full(n_comp, -1)
        chunk = max(1, DENSE_LIMIT // (r * c))
        for lo in range(0, len(comps), chunk):
            part = comps[lo : lo + chunk]
            index_in_group[part] = np.arange(len(part))
            mask = np.isin(entry_comp, part)
            stack = np.zeros((len(part), r, c))
            stack[index_in_group[entry_comp[mask]], local_row[coo.row[mask]], local_col[coo.col[mask]]] = coo.data[mask]
            singular, vh = _batched_spectra(stack)
            spectra.append((part, singular, vh))

    ordered = np.sort(np.concatenate([s.reshape(-1) for _, s, _ in spectra]) if spectra else np.zeros(0))[::-1]
    rtol_used = max(rtol, GRAM_RTOL_FLOOR) if used_gram else rtol
    rank, threshold, gap = _decide(ordered, n_cols, rtol_used, what, None)
    basis = np.zeros((n_cols, n_cols - rank))
    filled = 0
    for comps, singular, vh in spectra:
        which, j = np.nonzero(singular <= threshold)
        if len(which) == 0:
            continue
        c = singular.shape[1]
        cols = col_order[col_start[comps[which]][:, None] + np.arange(c)[None, :]]  # (k, c) global columns
        targets = np.arange(filled, filled + len(which))
        basis[cols, targets[:, None]] = vh[which, j, :]
        filled += len(which)
    return NullSpace(basis, np.pad(ordered, (0, n_cols - len(ordered))), threshold, gap)


# ------------------------------------------------------------------------------------------ certificate
def certify(
    library: PolynomialLibrary, action: Action, basis: np.ndarray, rng: np.random.Generator
) -> tuple[float, float]:
    """Relative residuals (continuous, discrete) of the symmetry conditions on ``basis`` at fresh random points."""
    if basis.shape[1] == 0:
        return 0.0, 0.0
    X = rng.uniform(-1.0, 1.0, size=(N_CHECK_POINTS, library.n_features))
    W = basis.T.reshape(-1, action.n_outputs, len(library))
    continuous = 0.0
    if action.n_generators:
        ev = PointEvaluation.at(library, action, X)
        scale = tensor_norm(ev, action.n_outputs)
        values = lie_derivative_values(ev, W)  # (dim, N, n_out, q)
        worst = float(np.sqrt(np.max(np.sum(values**2, axis=(1, 2, 3)))))
        continuous = worst / scale if scale > 0 else worst
    discrete = 0.0
    if action.discrete:
        D = discrete_sampled(library, action, X)
        scale = float(np.linalg.norm(D))
        worst = float(np.max(np.linalg.norm(D @ basis, axis=0)))
        discrete = worst / scale if scale > 0 else worst
    return continuous, discrete


# ------------------------------------------------------------------------------------------------ enforce
def enforce(
    library: PolynomialLibrary,
    symmetry: Any,
    output: Any = "invariant",
    *,
    n_outputs: int | None = None,
    method: str = "exact",
    rtol: float = RTOL,
    rng: int | np.random.Generator | None = 0,
) -> SymmetricSubspace:
    r"""The subspace of models :math:`F(x) = W \theta(x)` in ``library`` that have the given symmetry.

    .. math:: L_{\xi_k} F = DF\, v_k - B_k F = 0 \;\; (k = 1..q), \qquad g_{out}^{-1} F(g_{in} x) = F(x)

    Parameters
    ----------
    library : PolynomialLibrary
        The monomials :math:`\theta` (``L`` terms).
    symmetry : LieAlgebra, Group or Rep
        Linear, affine or polynomial vector-field algebras; groups add their discrete generators (reflections,
        permutations); a Rep acts on the inputs through :math:`d\rho` and :math:`\rho`.
    output : {"invariant", "vector_field"}, Rep or LieAlgebra, default "invariant"
        Invariant functions, equivariant vector fields (tangent action), or equivariant maps into a
        representation.
    n_outputs : int, optional
        Number of outputs of invariant models (default 1).
    method : {"exact", "sampled"}, default "exact"
        ``exact``: monomial coefficients (sparse, solved per independent block); ``sampled``: the Lie derivative
        at ``C(m + deg, deg) + 1`` random points (dense SVD).
    rtol : float, default 1e-9
        Singular values at or below ``rtol`` times the largest count as zero (at least 1e-7 for blocks solved
        through their Gram matrix).
    rng : int, numpy.random.Generator or None, default 0
        Seed for sample points and for the certificate's fresh points.

    Returns
    -------
    SymmetricSubspace
        ``basis`` of shape (P, dim) with ``P = n_outputs * len(library)``, the spectrum, and the certificate
        ``residual`` measured at fresh random points.

    Raises
    ------
    SymlieTypeError, ShapeError, SymlieValueError, GroupMismatchError
        For bad arguments (see :func:`~symlie.lie_derivative_operator`).

    Warns
    -----
    SpectralGapWarning
        If the singular values have no clean gap at the rank decision.

    Examples
    --------
    >>> import symlie as sl
    >>> sub = sl.enforce(sl.PolynomialLibrary(2, 3), sl.so(2), output="vector_field")
    >>> sub.dim, sub.residual < 1e-12     # x, Jx, |x|^2 x, |x|^2 Jx
    (4, True)
    >>> sl.enforce(sl.PolynomialLibrary(3, 4), sl.O(3)).dim   # 1, |x|^2, |x|^4
    3
    """
    start = time.perf_counter()
    if method not in ("exact", "sampled"):
        raise SymlieValueError(f"method must be 'exact' or 'sampled', got {method!r}")
    if isinstance(rtol, bool) or not isinstance(rtol, float | int) or not 0 < rtol < 1:
        raise SymlieValueError(f"rtol must be a float in (0, 1), got {rtol!r}")
    if not isinstance(library, PolynomialLibrary):
        raise SymlieTypeError(f"library must be a symlie PolynomialLibrary, got {type(library).__name__}")
    solve_rng, check_rng = make_rng(rng).spawn(2)
    operator = lie_derivative_operator(
        library,
        symmetry,
        output,
        points="exact" if method == "exact" else None,
        n_outputs=n_outputs,
        rng=solve_rng,
    )
    action = operator.action
    blocks = [_normalised(operator.matrix), _normalised(operator.discrete_matrix())]
    what = f"enforce({action.name})"
    if method == "exact":
        solved = sparse_null_space(sp.vstack(blocks, format="csr"), rtol=float(rtol), what=what)
    else:
        stacked = np.concatenate([np.asarray(b.toarray() if sp.issparse(b) else b) for b in blocks])
        solved = null_space(stacked, rtol=float(rtol), what=what)
    continuous, discrete = certify(library, action, solved.basis, check_rng)
    basis = solved.basis
    basis.setflags(write=False)
    return SymmetricSubspace(
        basis=basis,
        singular_values=solved.singular_values,
        threshold=solved.threshold,
        gap=solved.gap,
        residual=max(continuous, discrete),
        residual_continuous=continuous,
        residual_discrete=discrete,
        library=library,
        n_outputs=action.n_outputs,
        action=action,
        method=method,
        seconds=time.perf_counter() - start,
    )
