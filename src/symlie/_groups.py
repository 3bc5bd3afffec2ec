"""Matrix groups: a Lie algebra for the identity component plus finite generators for the other components."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.linalg import expm

from ._algebra import LieAlgebra
from ._classical import gl, sl, so, so_pq
from ._errors import ShapeError, SymlieTypeError, SymlieValueError
from ._validation import as_float_array, check_positive_int, make_rng

__all__ = ["GL", "SL", "SO", "D", "Group", "Lorentz", "O", "SO13p", "Sn", "Z"]


class Group:
    r"""A matrix group :math:`G \subset GL(n)` given by generators.

    The identity component is :math:`\exp(\mathfrak{g})` for a *linear* Lie algebra; the other components (and
    finite groups) come from a list of discrete generators :math:`h_1, \dots, h_r`. A matrix commutes with the
    action of :math:`G` iff it commutes with every algebra basis element and every :math:`h_j`.

    Parameters
    ----------
    algebra : LieAlgebra or None
        Linear algebra of the identity component, ``(q, n, n)``; ``None`` for a finite group.
    discrete : sequence of array_like of shape (n, n), optional
        Invertible generators of the component group (or of the finite group).
    n : int, optional
        Size of the defining representation; required when ``algebra`` is ``None`` and ``discrete`` is empty.
    name : str, optional
    blocks : sequence of int, optional
        Sizes of the diagonal blocks the group acts on independently (product groups); defaults to ``(n,)``.

    Examples
    --------
    >>> G = O(3)
    >>> G.n, G.algebra.dim, len(G.discrete)
    (3, 3, 1)
    >>> H = O(3) * Sn(4)
    >>> H.n, H.blocks
    (7, (3, 4))
    """

    def __init__(
        self,
        algebra: LieAlgebra | None = None,
        discrete: Sequence[Any] = (),
        *,
        n: int | None = None,
        name: str | None = None,
        blocks: Sequence[int] | None = None,
    ) -> None:
        if algebra is not None and not isinstance(algebra, LieAlgebra):
            raise SymlieTypeError(f"algebra must be a LieAlgebra or None, got {type(algebra).__name__}")
        if algebra is not None and algebra.kind != "linear":
            raise SymlieValueError(
                f"a Group needs a linear Lie algebra (matrices of shape (q, n, n)), got {algebra.kind} {algebra!r}"
            )
        sizes = [algebra.n] if algebra is not None else []
        mats = []
        for k, h in enumerate(discrete):
            mat = as_float_array(h, f"discrete[{k}]", ndim=2)
            if mat.shape[0] != mat.shape[1]:
                raise ShapeError(f"discrete[{k}] must be a square matrix, got shape {mat.shape}")
            if abs(np.linalg.det(mat)) < 1e-12 * max(1.0, np.abs(mat).max()) ** mat.shape[0]:
                raise SymlieValueError(f"discrete[{k}] is singular; group generators must be invertible")
            sizes.append(mat.shape[0])
            mats.append(mat)
        if n is not None:
            sizes.append(check_positive_int(n, "n"))
        if not sizes:
            raise SymlieValueError("a Group needs an algebra, discrete generators or n")
        if len(set(sizes)) != 1:
            raise ShapeError(f"algebra, discrete generators and n disagree on the matrix size: {sizes}")
        size = sizes[0]
        if algebra is None:
            algebra = LieAlgebra(np.zeros((0, size, size)), name="0")
        self._algebra = algebra
        self._discrete = tuple(mats)
        for mat in self._discrete:
            mat.setflags(write=False)
        self._n = size
        self._blocks = tuple(int(b) for b in (blocks if blocks is not None else (size,)))
        if sum(self._blocks) != size or any(b <= 0 for b in self._blocks):
            raise SymlieValueError(f"blocks {self._blocks} must be positive and add up to n={size}")
        self._name = name

    @property
    def algebra(self) -> LieAlgebra:
        return self._algebra

    @property
    def discrete(self) -> tuple[np.ndarray, ...]:
        return self._discrete

    @property
    def n(self) -> int:
        return self._n

    @property
    def blocks(self) -> tuple[int, ...]:
        return self._blocks

    @property
    def name(self) -> str:
        return self._name or f"Group(n={self.n}, dim={self.algebra.dim}, discrete={len(self.discrete)})"

    @property
    def is_finite(self) -> bool:
        return self._algebra.dim == 0

    def _key(self) -> tuple:
        return (self._blocks, self._algebra, tuple(h.tobytes() for h in self._discrete))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Group) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return self.name

    def __mul__(self, other: Group) -> Group:
        """Direct product acting block-diagonally on the direct sum of the defining spaces."""
        if not isinstance(other, Group):
            raise SymlieTypeError(f"can only multiply a Group by a Group, got {type(other).__name__}")
        n1, n2 = self.n, other.n

        def lift(h: np.ndarray, first: bool) -> np.ndarray:
            out = np.eye(n1 + n2)
            block = slice(0, n1) if first else slice(n1, n1 + n2)
            out[block, block] = h
            return out

        discrete = [lift(h, True) for h in self._discrete] + [lift(h, False) for h in other._discrete]
        return Group(
            self._algebra.direct_sum(other._algebra),
            discrete,
            n=n1 + n2,
            name=f"{self.name}×{other.name}",
            blocks=self._blocks + other._blocks,
        )

    def sample(self, rng: int | np.random.Generator | None = None) -> np.ndarray:
        r"""A random element :math:`\exp(\sum_k c_k A_k) \, h_{i_1} \cdots h_{i_s}` of the group.

        The coefficients are normal with the algebra element scaled to unit Frobenius norm on average; the word
        in the discrete generators has ``4 r + n`` random letters, each kept with probability 1/2 (long enough to
        reach every element of cyclic groups such as ``Z(n)``).

        Parameters
        ----------
        rng : int, numpy.random.Generator or None

        Returns
        -------
        ndarray of shape (n, n)
        """
        rng = make_rng(rng)
        element = np.eye(self._n)
        q = self._algebra.dim
        if q:
            basis = self._algebra.basis
            norms = np.linalg.norm(basis.reshape(q, -1), axis=1)
            coeffs = rng.normal(size=q) / (norms * np.sqrt(q))
            element = expm(np.tensordot(coeffs, basis, axes=1))
        for _ in range((4 * len(self._discrete) + self._n) if self._discrete else 0):
            if rng.random() < 0.5:
                element = element @ self._discrete[rng.integers(len(self._discrete))]
        return element


def _perm_matrix(perm: Sequence[int]) -> np.ndarray:
    n = len(perm)
    out = np.zeros((n, n))
    out[np.asarray(perm), np.arange(n)] = 1.0
    return out


def _reflection(n: int, index: int = 0) -> np.ndarray:
    out = np.eye(n)
    out[index, index] = -1.0
    return out


def SO(n: int) -> Group:
    """Special orthogonal group SO(n): the rotations of R^n."""
    return Group(so(n), n=n, name=f"SO({n})")


def O(n: int) -> Group:
    """Orthogonal group O(n) = SO(n) and a reflection."""
    return Group(so(n), [_reflection(n)], name=f"O({n})")


def SL(n: int) -> Group:
    """Special linear group SL(n) (connected)."""
    return Group(sl(n), n=n, name=f"SL({n})")


def GL(n: int) -> Group:
    """General linear group GL(n): its identity component and a reflection for det < 0."""
    return Group(gl(n), [_reflection(n)], name=f"GL({n})")


def SO13p() -> Group:
    """Proper orthochronous Lorentz group SO+(1, 3), metric diag(1, -1, -1, -1)."""
    return Group(so_pq(1, 3), n=4, name="SO+(1,3)")


def Lorentz() -> Group:
    """Full Lorentz group O(1, 3): SO+(1, 3) with parity and time reversal."""
    parity = np.diag([1.0, -1.0, -1.0, -1.0])
    time_reversal = np.diag([-1.0, 1.0, 1.0, 1.0])
    return Group(so_pq(1, 3), [parity, time_reversal], name="O(1,3)")


def Sn(n: int) -> Group:
    """Symmetric group S(n) permuting the n coordinates (a transposition and an n-cycle)."""
    n = check_positive_int(n, "n")
    if n == 1:
        return Group(n=1, name="S(1)")
    swap = list(range(n))
    swap[0], swap[1] = 1, 0
    cycle = [(i + 1) % n for i in range(n)]
    return Group(None, [_perm_matrix(swap), _perm_matrix(cycle)], name=f"S({n})")


def Z(n: int) -> Group:
    """Cyclic group Z(n) shifting the n coordinates cyclically."""
    n = check_positive_int(n, "n")
    return Group(None, [_perm_matrix([(i + 1) % n for i in range(n)])], name=f"Z({n})")


def D(n: int) -> Group:
    """Dihedral group D(n) acting on the n vertices of a regular polygon (rotation and reflection)."""
    n = check_positive_int(n, "n")
    rotation = _perm_matrix([(i + 1) % n for i in range(n)])
    reflection = _perm_matrix([(-i) % n for i in range(n)])
    return Group(None, [rotation, reflection], name=f"D({n})")
