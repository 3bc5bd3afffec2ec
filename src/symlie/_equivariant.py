"""Equivariant linear maps between representations: ``rho_out(g) W = W rho_in(g)`` for all ``g``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._errors import SymlieTypeError
from ._invariants import BasisCache, basis_cache, invariant_space
from ._reps import Rep

__all__ = ["EquivariantSpace", "equivariant_basis", "equivariant_space"]


@dataclass(frozen=True)
class EquivariantSpace:
    """The space of equivariant maps ``Hom_G(rep_in, rep_out)`` with its certificate.

    Attributes
    ----------
    basis : ndarray of shape (rep_out.size * rep_in.size, k)
        Orthonormal columns; each reshaped row-major to ``(rep_out.size, rep_in.size)`` is an equivariant ``W``.
    residual : float
        Largest relative violation of the infinitesimal and discrete constraints on the basis.
    methods : tuple of str
        Solver used per term of ``rep_out * rep_in.dual``.
    seconds : float
        Wall time of the solve.
    """

    rep_in: Rep
    rep_out: Rep
    basis: np.ndarray
    residual: float
    methods: tuple[str, ...]
    seconds: float

    @property
    def dim(self) -> int:
        return int(self.basis.shape[1])

    def matrices(self) -> np.ndarray:
        """The basis as matrices, shape (k, rep_out.size, rep_in.size)."""
        return self.basis.T.reshape(self.dim, self.rep_out.size, self.rep_in.size)

    def __repr__(self) -> str:
        return (
            f"EquivariantSpace({self.rep_in!r} -> {self.rep_out!r}, dim={self.dim}, "
            f"residual={self.residual:.1e}, seconds={self.seconds:.3g})"
        )


def equivariant_space(
    rep_in: Rep, rep_out: Rep, *, method: str = "auto", cache: BasisCache | None = basis_cache
) -> EquivariantSpace:
    r"""Solve :math:`\rho_{out}(g) W = W \rho_{in}(g)` for all :math:`g` in the group, with a certificate.

    ``W`` is an invariant vector of :math:`\rho_{out} \otimes \rho_{in}^*`; see :func:`equivariant_basis`.

    Parameters
    ----------
    rep_in, rep_out : Rep
    method : {"auto", "dense"}, default "auto"
        ``auto``: exact structured solvers (orbit counting for permutation groups, a sparse zero-weight
        solve for continuous groups, direct sums split into blocks, repeated blocks shared through the cache);
        ``dense``: the naive SVD of all constraints stacked.
    cache : BasisCache or None, default :data:`symlie.basis_cache`

    Returns
    -------
    EquivariantSpace
    """
    for name, rep in (("rep_in", rep_in), ("rep_out", rep_out)):
        if not isinstance(rep, Rep):
            raise SymlieTypeError(f"{name} must be a symlie Rep such as V(G) or V(G)**2, got {type(rep).__name__}")
    solved = invariant_space(rep_out * rep_in.dual, method=method, cache=cache)
    return EquivariantSpace(rep_in, rep_out, solved.basis, solved.residual, solved.methods, solved.seconds)


def equivariant_basis(
    rep_in: Rep, rep_out: Rep, *, method: str = "auto", cache: BasisCache | None = basis_cache
) -> np.ndarray:
    r"""Orthonormal basis of the equivariant linear maps from ``rep_in`` to ``rep_out``.

    .. math:: \rho_{out}(g)\, W = W\, \rho_{in}(g) \quad \forall g \in G

    Parameters
    ----------
    rep_in, rep_out : Rep
        Representations of the same group (or :data:`~symlie.Scalar`).
    method : {"auto", "dense"}, default "auto"
        See :func:`equivariant_space`.
    cache : BasisCache or None, default :data:`symlie.basis_cache`

    Returns
    -------
    ndarray of float64, shape (rep_out.size * rep_in.size, k)
        Orthonormal columns; column ``j`` reshaped row-major to ``(rep_out.size, rep_in.size)`` is a map ``W``.

    Examples
    --------
    >>> import symlie as sl
    >>> G = sl.SO(3)
    >>> sl.equivariant_basis(sl.V(G) ** 2, sl.V(G)).shape   # the cross product
    (27, 1)
    >>> sl.equivariant_basis(sl.V(G) ** 2, sl.V(G) ** 2).shape[1]
    3
    """
    return equivariant_space(rep_in, rep_out, method=method, cache=cache).basis
