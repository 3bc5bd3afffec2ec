"""Representations built from a group's defining representation by sums, tensor products and duals.

A representation is a value: ``V(G)``, ``Scalar``, ``a + b``, ``a * b`` (tensor product), ``a ** k``,
``k * a`` and ``a.dual`` (also ``a.T``). Internally every representation expands into a direct sum of *terms*,
each a tensor product of base factors ``(block, dual)``; the solvers work term by term.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import cached_property, reduce
from typing import Any

import numpy as np

from ._errors import GroupMismatchError, SymlieTypeError, SymlieValueError
from ._groups import Group
from ._validation import as_float_array, check_positive_int

__all__ = ["Rep", "Scalar", "V"]

Factor = tuple[int, bool]  # (block index of the group's defining space, dual?)
Term = tuple[tuple[Factor, ...], np.ndarray]  # factors and the flat positions of the term's entries


class Rep(ABC):
    """A finite-dimensional representation of a :class:`~symlie.Group`.

    Build representations with :func:`V`, :data:`Scalar` and the operators ``+``, ``*``, ``**``, ``.dual``;
    do not instantiate this class directly.
    """

    group: Group | None

    # ------------------------------------------------------------------------------------ structure hooks
    @property
    @abstractmethod
    def size(self) -> int:
        """Dimension of the representation space."""

    @abstractmethod
    def terms(self) -> list[Term]:
        """Expansion into a direct sum of tensor products of base factors.

        Returns
        -------
        list of (factors, positions)
            ``factors`` is a tuple of ``(block, dual)`` pairs; ``positions`` (ndarray of int) gives, for the
            term's row-major entries, their positions in this representation's coordinates.
        """

    @abstractmethod
    def _key(self) -> tuple:
        """A hashable description used for equality."""

    # ------------------------------------------------------------------------------------------ matrices
    def _check_element(self, X: Any, name: str) -> np.ndarray:
        if self.group is None:
            return as_float_array(X, name, ndim=2)
        n = self.group.n
        return as_float_array(X, name, shape=(n, n))

    def drho(self, X: Any) -> np.ndarray:
        r"""The Lie-algebra action :math:`d\rho(X)` of an algebra element given in the defining representation.

        Parameters
        ----------
        X : array_like of shape (n, n)

        Returns
        -------
        ndarray of shape (size, size)
        """
        X = self._check_element(X, "X")
        out = np.zeros((self.size, self.size))
        for factors, positions in self.terms():
            out[np.ix_(positions, positions)] = kron_sum(
                [factor_matrix(X, f, self.group, algebra=True) for f in factors]
            )
        return out

    def rho(self, g: Any) -> np.ndarray:
        r"""The group action :math:`\rho(g)` of a group element given in the defining representation.

        Parameters
        ----------
        g : array_like of shape (n, n)

        Returns
        -------
        ndarray of shape (size, size)
        """
        g = self._check_element(g, "g")
        out = np.zeros((self.size, self.size))
        for factors, positions in self.terms():
            mats = [factor_matrix(g, f, self.group, algebra=False) for f in factors]
            out[np.ix_(positions, positions)] = reduce(np.kron, mats, np.ones((1, 1)))
        return out

    # ----------------------------------------------------------------------------------------- algebra
    @property
    def dual(self) -> Rep:
        """The dual (contragredient) representation, ``rho(g)^{-T}``."""
        return _dualize(self)

    @property
    def T(self) -> Rep:
        """Alias of :attr:`dual`."""
        return self.dual

    def __add__(self, other: object) -> Rep:
        if isinstance(other, int) and other == 0:
            return self
        return _Sum((self, _as_rep(other, "+")))

    def __radd__(self, other: object) -> Rep:
        if isinstance(other, int) and other == 0:  # so that sum([...]) works
            return self
        return _Sum((_as_rep(other, "+"), self))

    def __mul__(self, other: object) -> Rep:
        if isinstance(other, int | np.integer) and not isinstance(other, bool):
            return _multiple(self, int(other))
        return _tensor((self, _as_rep(other, "*")))

    def __rmul__(self, other: object) -> Rep:
        if isinstance(other, int | np.integer) and not isinstance(other, bool):
            return _multiple(self, int(other))
        return _tensor((_as_rep(other, "*"), self))

    def __pow__(self, k: int) -> Rep:
        k = check_positive_int(k, "exponent", minimum=0)
        return _tensor((self,) * k)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rep) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


def _as_rep(value: object, op: str) -> Rep:
    if isinstance(value, Rep):
        return value
    hint = " (use k * rep for an integer multiple)" if op == "+" else ""
    raise SymlieTypeError(f"cannot combine a Rep with {type(value).__name__} using '{op}'{hint}")


def _multiple(rep: Rep, k: int) -> Rep:
    k = check_positive_int(k, "multiplicity")
    return rep if k == 1 else _Sum((rep,) * k)


def _common_group(parts: tuple[Rep, ...]) -> Group | None:
    groups = {p.group for p in parts if p.group is not None}
    if len(groups) > 1:
        names = ", ".join(sorted(g.name for g in groups))
        raise GroupMismatchError(
            f"cannot combine representations of different groups ({names}); build a product group "
            "G = G1 * G2 and use V(G, factor=i) for its factors"
        )
    return groups.pop() if groups else None


class _Trivial(Rep):
    group = None

    @property
    def size(self) -> int:
        return 1

    def terms(self) -> list[Term]:
        return [((), np.zeros(1, dtype=np.int64))]

    def _key(self) -> tuple:
        return ("Scalar",)

    def __repr__(self) -> str:
        return "Scalar"


Scalar: Rep = _Trivial()
"""The trivial one-dimensional representation."""


class _Base(Rep):
    def __init__(self, group: Group, block: int | None, dual: bool) -> None:
        self.group = group
        self.block = block  # None: the whole defining space of a group with one block
        self.is_dual = dual

    @property
    def size(self) -> int:
        return self.group.blocks[self.block] if self.block is not None else self.group.n

    def terms(self) -> list[Term]:
        if self.block is None:
            return _Sum(tuple(_Base(self.group, b, self.is_dual) for b in range(len(self.group.blocks)))).terms()
        return [(((self.block, self.is_dual),), np.arange(self.size))]

    def _key(self) -> tuple:
        return ("V", self.group, self.block, self.is_dual)

    def __repr__(self) -> str:
        whole = self.block is None or len(self.group.blocks) == 1
        text = f"V({self.group.name})" if whole else f"V({self.group.name}, factor={self.block})"
        return text + (".dual" if self.is_dual else "")


class _Sum(Rep):
    def __init__(self, parts: tuple[Rep, ...]) -> None:
        flat: list[Rep] = []
        for part in parts:
            flat.extend(part.parts if isinstance(part, _Sum) else (part,))
        self.parts = tuple(flat)
        self.group = _common_group(self.parts)

    @cached_property
    def size(self) -> int:  # type: ignore[override]
        return sum(p.size for p in self.parts)

    def terms(self) -> list[Term]:
        out, offset = [], 0
        for part in self.parts:
            out.extend((factors, positions + offset) for factors, positions in part.terms())
            offset += part.size
        return out

    def _key(self) -> tuple:
        return ("+",) + tuple(p._key() for p in self.parts)

    def __repr__(self) -> str:
        return " + ".join(_grouped(self.parts, "*"))


class _Tensor(Rep):
    def __init__(self, parts: tuple[Rep, ...]) -> None:
        flat: list[Rep] = []
        for part in parts:
            if isinstance(part, _Trivial):
                continue
            flat.extend(part.parts if isinstance(part, _Tensor) else (part,))
        self.parts = tuple(flat)
        self.group = _common_group(self.parts)

    @cached_property
    def size(self) -> int:  # type: ignore[override]
        return int(np.prod([p.size for p in self.parts], dtype=np.int64))

    def terms(self) -> list[Term]:
        out: list[Term] = [((), np.zeros(1, dtype=np.int64))]
        for part in self.parts:
            size = part.size
            out = [
                (f1 + f2, (p1[:, None] * size + p2[None, :]).reshape(-1)) for f1, p1 in out for f2, p2 in part.terms()
            ]
        return out

    def _key(self) -> tuple:
        return ("*",) + tuple(p._key() for p in self.parts)

    def __repr__(self) -> str:
        return "*".join(_grouped(self.parts, "**"))


def _tensor(parts: tuple[Rep, ...]) -> Rep:
    """Tensor product of ``parts``, collapsing to the single factor (``V * Scalar is V``) or to Scalar."""
    product = _Tensor(parts)
    if not product.parts:
        return Scalar
    return product.parts[0] if len(product.parts) == 1 else product


def _grouped(parts: tuple[Rep, ...], op: str) -> list[str]:
    """Render runs of equal parts as ``k*rep`` (in sums, ``op='*'``) or ``rep**k`` (in tensors, ``op='**'``)."""
    out: list[str] = []
    i = 0
    while i < len(parts):
        j = i
        while j < len(parts) and parts[j] == parts[i]:
            j += 1
        text = repr(parts[i])
        if isinstance(parts[i], _Sum):
            text = f"({text})"
        if j - i > 1:
            text = f"{j - i}*{text}" if op == "*" else f"{text}**{j - i}"
        out.append(text)
        i = j
    return out


def _dualize(rep: Rep) -> Rep:
    if isinstance(rep, _Trivial):
        return rep
    if isinstance(rep, _Base):
        return _Base(rep.group, rep.block, not rep.is_dual)
    if isinstance(rep, _Sum):
        return _Sum(tuple(_dualize(p) for p in rep.parts))
    if isinstance(rep, _Tensor):
        return _tensor(tuple(_dualize(p) for p in rep.parts))
    raise SymlieTypeError(f"cannot take the dual of {type(rep).__name__}")


def V(group: Group, *, factor: int | None = None) -> Rep:
    """The defining representation of ``group`` (or of one factor of a product group).

    Parameters
    ----------
    group : Group
    factor : int, optional
        For a product group ``G1 * G2 * ...``, the factor whose defining space is wanted (as a representation
        of the whole product, trivial on the other factors). By default the whole direct sum.

    Examples
    --------
    >>> from symlie import SO, Sn
    >>> V(SO(3)).size
    3
    >>> G = SO(3) * Sn(4)
    >>> (V(G, factor=0) * V(G, factor=1)).size
    12
    """
    if not isinstance(group, Group):
        raise SymlieTypeError(f"group must be a symlie Group, got {type(group).__name__}")
    if factor is None:
        return _Base(group, None if len(group.blocks) > 1 else 0, False)
    if isinstance(factor, bool) or not isinstance(factor, int) or not 0 <= factor < len(group.blocks):
        raise SymlieValueError(f"factor must be an int in [0, {len(group.blocks)}) for {group.name}, got {factor}")
    return _Base(group, factor, False)


# --------------------------------------------------------------------------------------- term helpers
def block_slice(group: Group, block: int) -> slice:
    """Rows/columns of the defining space belonging to ``block``."""
    start = sum(group.blocks[:block])
    return slice(start, start + group.blocks[block])


def factor_matrix(M: np.ndarray, factor: Factor, group: Group, *, algebra: bool) -> np.ndarray:
    """Matrix of the base factor ``(block, dual)`` for an algebra element (``algebra=True``) or group element.

    ``M`` is given on the whole defining space (block-diagonal for product groups).
    """
    block, dual = factor
    part = block_slice(group, block)
    sub = M[part, part]
    if not dual:
        return sub
    return -sub.T if algebra else np.linalg.inv(sub).T


def kron_sum(mats: list[np.ndarray]) -> np.ndarray:
    r"""Kronecker sum :math:`\sum_p I \otimes \cdots \otimes A_p \otimes \cdots \otimes I` (1x1 zero if empty)."""
    sizes = [m.shape[0] for m in mats]
    total = int(np.prod(sizes, dtype=np.int64))
    out = np.zeros((total, total))
    for p, mat in enumerate(mats):
        left = int(np.prod(sizes[:p], dtype=np.int64))
        right = int(np.prod(sizes[p + 1 :], dtype=np.int64))
        out += np.kron(np.kron(np.eye(left), mat), np.eye(right))
    return out
