"""Null spaces with rank decisions made relative to the operator's scale, and their spectral gaps."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ._errors import SpectralGapWarning

__all__ = ["NullSpace", "null_space", "null_space_hermitian"]

#: Default relative tolerance: singular values below ``RTOL * largest`` count as zero.
RTOL = 1e-9
#: A gap (smallest kept / largest dropped singular value) below this is reported as not clean.
CLEAN_GAP = 1e3


@dataclass(frozen=True)
class NullSpace:
    """Result of a null-space computation.

    Attributes
    ----------
    basis : ndarray of shape (n_columns, k)
        Orthonormal basis of the (numerical) null space.
    singular_values : ndarray of shape (n_columns,)
        All singular values, decreasing.
    threshold : float
        Absolute cut: singular values at or below it count as zero.
    gap : float
        Ratio of the smallest singular value kept in the range to the largest one declared zero
        (``inf`` when nothing or everything is zero).
    """

    basis: np.ndarray
    singular_values: np.ndarray
    threshold: float
    gap: float

    @property
    def dim(self) -> int:
        return int(self.basis.shape[1])


def _decide(
    singular: np.ndarray, n_columns: int, rtol: float, what: str, scale: float | None
) -> tuple[int, float, float]:
    """Rank, absolute threshold and gap for decreasing singular values (padded with zeros to n_columns)."""
    padded = np.zeros(n_columns)
    padded[: len(singular)] = singular
    reference = scale if scale is not None else (padded[0] if n_columns else 0.0)
    threshold = rtol * reference
    rank = int(np.sum(padded > threshold))
    kept = padded[rank - 1] if rank > 0 else np.inf
    dropped = padded[rank] if rank < n_columns else 0.0
    gap = float(kept / dropped) if dropped > 0 else np.inf
    if rank not in (0, n_columns) and gap < CLEAN_GAP:
        warnings.warn(
            f"{what}: no clean spectral gap at the rank decision (kept {kept:.3e}, dropped {dropped:.3e}, "
            f"ratio {gap:.1f} < {CLEAN_GAP:.0f}); the dimension may be unreliable. Check the conditioning or "
            "pass a different rtol.",
            SpectralGapWarning,
            stacklevel=3,
        )
    return rank, float(threshold), gap


def null_space(
    matrix: np.ndarray, *, rtol: float = RTOL, scale: float | None = None, what: str = "null space"
) -> NullSpace:
    r"""Orthonormal basis of :math:`\ker M` from a dense SVD, with a relative rank tolerance.

    Parameters
    ----------
    matrix : ndarray of shape (n_rows, n_columns)
    rtol : float, default 1e-9
        Singular values :math:`\le \mathrm{rtol}\,\sigma_{\max}` count as zero.
    scale : float, optional
        Norm of the operator the rows come from, used in place of :math:`\sigma_{\max}` (needed when the
        matrix may be numerically zero, e.g. a constraint applied to vectors that already satisfy it).
    what : str
        Names the computation in the warning issued when the gap is not clean.

    Returns
    -------
    NullSpace
    """
    n_columns = matrix.shape[1]
    if matrix.shape[0] == 0 or n_columns == 0:
        return NullSpace(np.eye(n_columns), np.zeros(n_columns), 0.0, np.inf)
    if matrix.shape[0] > 2 * n_columns:  # tall: the R factor has the same singular values and right vectors
        matrix = np.linalg.qr(matrix, mode="r")
    _, singular, vh = np.linalg.svd(matrix, full_matrices=True)
    rank, threshold, gap = _decide(singular, n_columns, rtol, what, scale)
    return NullSpace(vh[rank:].conj().T, np.pad(singular, (0, n_columns - len(singular))), threshold, gap)


def null_space_hermitian(
    gram: np.ndarray, *, rtol: float = RTOL, scale: float | None = None, what: str = "null space"
) -> NullSpace:
    r"""Null space of :math:`M` from its Gram matrix :math:`G = M^H M` (cheaper when M is tall).

    The eigenvalues of ``G`` are squared singular values; ``rtol`` applies to the singular values.

    Parameters
    ----------
    gram : ndarray of shape (n, n)
        Hermitian positive semi-definite.
    rtol : float, default 1e-9
    scale : float, optional
        Norm of the whole operator ``M`` (e.g. when ``gram`` is one diagonal block of it); the rank is decided
        against it. Defaults to the largest singular value found.
    what : str

    Returns
    -------
    NullSpace
    """
    n = gram.shape[0]
    if n == 0:
        return NullSpace(np.zeros((0, 0)), np.zeros(0), 0.0, np.inf)
    values, vectors = np.linalg.eigh(gram)
    singular = np.sqrt(np.clip(values[::-1], 0.0, None))
    # Eigenvalues of G carry absolute error ~eps*||G||, so singular values below sqrt(eps) are unresolved:
    # the tolerance cannot go below that.
    rank, threshold, gap = _decide(singular, n, max(rtol, 1e-7), what, scale)
    return NullSpace(vectors[:, : n - rank], singular, threshold, gap)
