r"""Relaxed equivariance and symmetry breaking (Kaba and Ravanbakhsh, arXiv 2312.09016).

An equivariant :math:`f` maps an input :math:`x` with stabiliser :math:`G_x = \{s : \rho_{in}(s) x = x\}` into the
fixed subspace of :math:`G_x` (since :math:`f(x) = f(\rho_{in}(s) x) = \rho_{out}(s) f(x)`), so it cannot map a
symmetric input to a less symmetric output. A *relaxed* equivariant map only needs

.. math:: f(\rho_{in}(g) x) = \rho_{out}(g)\, \rho_{out}(s)\, f(x) \quad \text{for some } s \in G_x .

It is built by canonicalisation: pick an orbit representative :math:`c(x)` and a group element :math:`h(x)` with
:math:`x = \rho_{in}(h(x))\, c(x)`, and set :math:`f(x) = \rho_{out}(h(x))\, \varphi(c(x))` with any network
:math:`\varphi`. Since :math:`c(gx) = c(x)`, the element :math:`s = g^{-1} h(gx) h(x)^{-1}` fixes :math:`x`, which is
exactly relaxed equivariance; for inputs with a trivial stabiliser it is ordinary equivariance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .._errors import ShapeError, SymlieTypeError, SymlieValueError
from .._groups import Group
from .._linalg import null_space
from .._reps import Rep, V
from .._validation import as_float_array, check_positive_int
from ._canonical import PermutationCanonicalizer, gram_labelling, set_stabilizer
from ._linear import check_features

__all__ = [
    "FiniteCanonicalizer",
    "NoiseInjection",
    "OrthogonalCanonicalizer",
    "RelaxedEquivariant",
    "Stabilizer",
    "enumerate_group",
    "equivariant_floor",
    "fixed_subspace",
]


@dataclass(frozen=True)
class Stabilizer:
    """The stabiliser :math:`G_x` of an input, in the defining representation.

    Attributes
    ----------
    algebra : ndarray of shape (d, n, n)
        Basis of its Lie algebra (``d = 0`` for a finite stabiliser).
    elements : ndarray of shape (k, n, n)
        All elements (finite groups), generators (:class:`PermutationCanonicalizer`, sets of vectors) or one element
        per extra component (orthogonal groups); enough for :func:`fixed_subspace` in every case.
    order : int or None
        Number of elements of a finite stabiliser (None when continuous).
    """

    algebra: np.ndarray
    elements: np.ndarray
    order: int | None

    @property
    def dim(self) -> int:
        return int(self.algebra.shape[0])


def enumerate_group(group: Group, *, max_elements: int = 50_000) -> np.ndarray:
    """All elements of a finite group as matrices, the identity first (breadth-first over the generators).

    Parameters
    ----------
    group : Group
        A finite group (no continuous part), e.g. ``Sn(5)``, ``D(6)``, ``Z(4) * Sn(3)``.
    max_elements : int, default 50000

    Returns
    -------
    ndarray of shape (order, n, n)

    Examples
    --------
    >>> import symlie as sl
    >>> enumerate_group(sl.D(6)).shape
    (12, 6, 6)
    """
    if not isinstance(group, Group):
        raise SymlieTypeError(f"group must be a symlie Group, got {type(group).__name__}")
    if not group.is_finite:
        raise SymlieValueError(f"group {group.name} has a continuous part and cannot be enumerated")
    max_elements = check_positive_int(max_elements, "max_elements")
    identity = np.eye(group.n)
    seen = {np.round(identity, 8).tobytes()}
    elements, frontier = [identity], [identity]
    while frontier:
        new = []
        for element in frontier:
            for h in group.discrete:
                product = h @ element
                key = np.round(product, 8).tobytes()
                if key not in seen:
                    seen.add(key)
                    new.append(product)
                    elements.append(product)
                    if len(elements) > max_elements:
                        raise SymlieValueError(
                            f"group {group.name} has more than max_elements={max_elements} elements; raise the limit"
                        )
        frontier = new
    return np.stack(elements)


def fixed_subspace(stabilizer: Stabilizer, rep: Rep) -> np.ndarray:
    r"""Orthonormal basis of :math:`\{y : \rho(s) y = y \ \forall s \in G_x\}`, where an equivariant output must lie.

    Parameters
    ----------
    stabilizer : Stabilizer
    rep : Rep

    Returns
    -------
    ndarray of shape (rep.size, k)
    """
    rows = [rep.drho(A) for A in stabilizer.algebra] + [rep.rho(h) - np.eye(rep.size) for h in stabilizer.elements]
    if not rows:
        return np.eye(rep.size)
    return null_space(np.concatenate(rows), scale=1.0 + len(rows), what="fixed subspace").basis


class FiniteCanonicalizer:
    r"""Canonicalisation for a finite group: :math:`c(x) = \min_{lex} \{\rho_{in}(g) x\}` over all elements.

    Ties between elements (exactly the stabiliser) go to the first one in :func:`enumerate_group` order.

    Parameters
    ----------
    group : Group
        Finite (e.g. ``Sn(5)``, ``D(6)``).
    rep_in : Rep
        How the group acts on inputs.
    decimals : int, default 9
        Inputs are compared after rounding to this many decimals (so that rounding noise does not break ties).
    max_elements : int, default 50000

    Examples
    --------
    >>> import numpy as np, symlie as sl
    >>> canon = FiniteCanonicalizer(sl.Sn(3), sl.V(sl.Sn(3)))
    >>> c, h = canon.canonicalize(np.array([[3.0, 1.0, 2.0]]))
    >>> c.tolist(), bool(np.allclose(h[0] @ c[0], [3.0, 1.0, 2.0]))
    ([[1.0, 2.0, 3.0]], True)
    """

    def __init__(self, group: Group, rep_in: Rep, *, decimals: int = 9, max_elements: int = 50_000) -> None:
        if not isinstance(rep_in, Rep) or (rep_in.group is not None and rep_in.group != group):
            raise SymlieTypeError(f"rep_in must be a Rep of {getattr(group, 'name', group)}, got {rep_in!r}")
        self.group, self.rep_in, self.decimals = group, rep_in, decimals
        self.elements = enumerate_group(group, max_elements=max_elements)
        self._rho = np.stack([rep_in.rho(g) for g in self.elements])  # (|G|, d, d)

    def canonicalize(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Orbit representatives and elements with ``x = rho_in(h) c``.

        Parameters
        ----------
        X : array_like of shape (N, rep_in.size)

        Returns
        -------
        C : ndarray of shape (N, rep_in.size)
        H : ndarray of shape (N, n, n)
            The elements :math:`h(x)` in the defining representation.
        """
        X = as_float_array(X, "X", shape=(None, self.rep_in.size))
        candidates = np.einsum("gij,nj->ngi", self._rho, X)
        C = np.empty_like(X)
        H = np.empty((len(X), self.group.n, self.group.n))
        for i, cand in enumerate(candidates):
            keys = np.round(cand, self.decimals)
            best = int(np.lexsort(keys.T[::-1])[0])
            C[i] = cand[best]
            H[i] = np.linalg.inv(self.elements[best])
        return C, H

    def stabilizer(self, x: Any, *, atol: float = 1e-9) -> Stabilizer:
        """All elements ``s`` with ``rho_in(s) x = x`` (x of shape (rep_in.size,))."""
        x = as_float_array(x, "x", shape=(self.rep_in.size,))
        moved = np.einsum("gij,j->gi", self._rho, x)
        keep = np.linalg.norm(moved - x, axis=1) <= atol * max(1.0, float(np.abs(x).max()))
        n = self.group.n
        return Stabilizer(np.zeros((0, n, n)), self.elements[keep], int(keep.sum()))


class OrthogonalCanonicalizer:
    r"""Canonicalisation for O(n) or SO(n) acting on ``k`` vectors (rep ``k * V``) by a Gram-Schmidt frame.

    The frame :math:`h(x)` orthonormalises the vectors in order (skipping those dependent on earlier ones) and is
    completed by standard basis vectors; for SO(n) the last column is flipped to make :math:`\det h = 1`. The
    canonical input holds the vectors' coordinates in the frame, which are invariant. The completion is arbitrary
    exactly where the stabiliser acts (the orthogonal complement of the vectors' span).

    Parameters
    ----------
    group : Group
        ``sl.O(n)`` or ``sl.SO(n)``.
    k : int
        Number of vectors in each input.
    rtol : float, default 1e-9
        A vector whose part orthogonal to the earlier ones is below ``rtol`` times the largest norm is dependent.
    unordered : bool, default False
        The input is a *set* of vectors: they are first put in a canonical order by
        :func:`~symlie.torch._canonical.gram_labelling` (invariant under rotations and relabellings), and the
        stabiliser includes the orthogonal maps that permute the vectors. Then ``x = (I_k (x) H) c`` holds up to
        that relabelling (:meth:`order` gives it).
    decimals : int, default 9
        Rounding of the scaled Gram matrix when comparing labellings (``unordered`` only).

    Examples
    --------
    >>> import numpy as np, symlie as sl
    >>> canon = OrthogonalCanonicalizer(sl.O(3), 2)
    >>> canon.stabilizer(np.array([1.0, 0, 0, 0, 1, 0])).elements.shape   # the reflection z -> -z
    (1, 3, 3)
    >>> as_set = OrthogonalCanonicalizer(sl.O(3), 2, unordered=True)   # ... and the swap of e1 and e2
    >>> as_set.stabilizer(np.array([1.0, 0, 0, 0, 1, 0])).order
    4
    """

    def __init__(self, group: Group, k: int, *, rtol: float = 1e-9, unordered: bool = False, decimals: int = 9) -> None:
        if not isinstance(group, Group):
            raise SymlieTypeError(f"group must be a symlie Group, got {type(group).__name__}")
        n = group.n
        algebra = group.algebra.basis.reshape(group.algebra.dim, -1)
        expected = n * (n - 1) // 2
        antisymmetric = np.allclose(group.algebra.basis, -np.transpose(group.algebra.basis, (0, 2, 1)))
        orthogonal = all(np.allclose(h @ h.T, np.eye(n)) for h in group.discrete)
        if not (antisymmetric and orthogonal and np.linalg.matrix_rank(algebra) == expected):
            raise SymlieValueError(f"group must be O(n) or SO(n), got {group.name}")
        self.group, self.n, self.k, self.rtol = group, n, check_positive_int(k, "k"), rtol
        self.special = all(np.linalg.det(h) > 0 for h in group.discrete)
        self.rep_in = self.k * V(group)
        self.unordered, self.decimals = bool(unordered), decimals

    def order(self, x: Any) -> np.ndarray:
        """The canonical order of the ``k`` vectors of ``x`` (rep_in.size,): the identity unless ``unordered``."""
        x = as_float_array(x, "x", shape=(self.k * self.n,))
        if not self.unordered:
            return np.arange(self.k)
        return gram_labelling(x.reshape(self.k, self.n), decimals=self.decimals)[0]

    def _frame(self, vectors: np.ndarray) -> tuple[np.ndarray, int]:
        n = self.n
        scale = max(float(np.linalg.norm(vectors, axis=1).max(initial=0.0)), 1e-300)
        basis: list[np.ndarray] = []
        for v in vectors:
            w = v.copy()
            for _ in range(2):  # re-orthogonalise for stability
                for u in basis:
                    w -= (u @ w) * u
            if np.linalg.norm(w) > self.rtol * scale and len(basis) < n:
                basis.append(w / np.linalg.norm(w))
        rank = len(basis)
        while len(basis) < n:
            residual = np.eye(n) - sum((np.outer(u, u) for u in basis), np.zeros((n, n)))
            j = int(np.argmax(np.linalg.norm(residual, axis=0)))
            w = residual[:, j]
            basis.append(w / np.linalg.norm(w))
        frame = np.stack(basis, axis=1)
        if self.special and np.linalg.det(frame) < 0:
            frame[:, -1] *= -1
        return frame, rank

    def canonicalize(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Canonical coordinates ``C`` (N, k * n) and frames ``H`` (N, n, n) with ``x = (I_k (x) H) c``."""
        X = as_float_array(X, "X", shape=(None, self.k * self.n))
        C = np.empty_like(X)
        H = np.empty((len(X), self.n, self.n))
        for i, x in enumerate(X):
            vectors = x.reshape(self.k, self.n)[self.order(x)]
            frame, _ = self._frame(vectors)
            C[i] = (vectors @ frame).reshape(-1)
            H[i] = frame
        return C, H

    def stabilizer(self, x: Any) -> Stabilizer:
        r"""Stabiliser of ``k`` vectors spanning ``r`` dimensions: O(n - r) or SO(n - r) on the complement."""
        x = as_float_array(x, "x", shape=(self.k * self.n,))
        frame, rank = self._frame(x.reshape(self.k, self.n))
        complement = frame[:, rank:]
        d = self.n - rank
        if self.unordered:
            vectors = x.reshape(self.k, self.n)
            automorphisms = gram_labelling(vectors, decimals=self.decimals)[1]
            algebra_, elements_, order = set_stabilizer(vectors, complement, automorphisms, special=self.special)
            shape = (-1, self.n, self.n)
            return Stabilizer(np.array(algebra_).reshape(shape), np.array(elements_).reshape(shape), order)
        algebra = [
            complement[:, [i]] @ complement[:, [j]].T - complement[:, [j]] @ complement[:, [i]].T
            for i in range(d)
            for j in range(i + 1, d)
        ]
        elements = [] if self.special or d == 0 else [np.eye(self.n) - 2 * np.outer(complement[:, 0], complement[:, 0])]
        n = self.n
        return Stabilizer(
            np.array(algebra).reshape(-1, n, n),
            np.array(elements).reshape(-1, n, n),
            1 if d == 0 else (2 if (d == 1 and not self.special) else None),
        )


Canonicalizer = FiniteCanonicalizer | OrthogonalCanonicalizer | PermutationCanonicalizer


class RelaxedEquivariant(nn.Module):
    r"""Relaxed equivariant model :math:`f(x) = \rho_{out}(h(x))\, \varphi(c(x))` by canonicalisation.

    Parameters
    ----------
    canonicalizer : FiniteCanonicalizer, PermutationCanonicalizer or OrthogonalCanonicalizer
    rep_out : Rep
        Output representation of the canonicalizer's group.
    network : nn.Module
        Any map :math:`\varphi` from ``rep_in.size`` to ``rep_out.size`` features (not equivariant).

    Examples
    --------
    >>> import torch, symlie as sl
    >>> G = sl.D(6)
    >>> model = RelaxedEquivariant(FiniteCanonicalizer(G, sl.V(G)), sl.V(G), torch.nn.Linear(6, 6))
    >>> model(torch.ones(2, 6)).shape
    torch.Size([2, 6])
    """

    def __init__(self, canonicalizer: Canonicalizer, rep_out: Rep, network: nn.Module) -> None:
        super().__init__()
        if not isinstance(canonicalizer, FiniteCanonicalizer | OrthogonalCanonicalizer | PermutationCanonicalizer):
            raise SymlieTypeError(
                "canonicalizer must be a FiniteCanonicalizer, PermutationCanonicalizer or OrthogonalCanonicalizer, "
                f"got {type(canonicalizer).__name__}"
            )
        if not isinstance(rep_out, Rep) or (rep_out.group is not None and rep_out.group != canonicalizer.group):
            raise SymlieTypeError(f"rep_out must be a Rep of {canonicalizer.group.name}, got {rep_out!r}")
        self.canonicalizer, self.rep_out, self.network = canonicalizer, rep_out, network
        self._rho_cache: dict[bytes, np.ndarray] = {}

    def _rho_out(self, H: np.ndarray) -> np.ndarray:
        out = np.empty((len(H), self.rep_out.size, self.rep_out.size))
        for i, h in enumerate(H):
            key = np.round(h, 12).tobytes()
            if key not in self._rho_cache:
                if len(self._rho_cache) > 4096:
                    self._rho_cache.clear()
                self._rho_cache[key] = self.rep_out.rho(h)
            out[i] = self._rho_cache[key]
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Evaluate on ``x`` of shape (N, rep_in.size); returns (N, rep_out.size)."""
        check_features(x, self.canonicalizer.rep_in.size)
        if x.ndim != 2:
            raise ShapeError(f"x must have shape (N, {self.canonicalizer.rep_in.size}), got {tuple(x.shape)}")
        C, H = self.canonicalizer.canonicalize(x.detach().cpu().double().numpy())
        factory: dict[str, Any] = {"dtype": x.dtype, "device": x.device}
        out = self.network(torch.as_tensor(C, **factory))
        return torch.einsum("nij,nj->ni", torch.as_tensor(self._rho_out(H), **factory), out)


class NoiseInjection(nn.Module):
    r"""The noise-injection baseline: an equivariant model fed the input and random noise, :math:`f(x, z)`.

    ``model`` must be equivariant from ``rep_in + rep_noise`` to the output; the noise :math:`z \sim N(0, s^2 I)` has
    an invariant distribution, so the symmetry is broken only per sample: the mean output
    :math:`E_z f(x, z)` is still equivariant (and lies in the fixed subspace of the stabiliser of ``x``).

    Parameters
    ----------
    model : nn.Module
    rep_noise : Rep
    scale : float, default 1.0
    seed : int, optional
        Seed of the noise generator.
    """

    def __init__(self, model: nn.Module, rep_noise: Rep, *, scale: float = 1.0, seed: int | None = None) -> None:
        super().__init__()
        if not isinstance(rep_noise, Rep):
            raise SymlieTypeError(f"rep_noise must be a symlie Rep, got {type(rep_noise).__name__}")
        if not scale > 0:
            raise SymlieValueError(f"scale must be positive, got {scale!r}")
        self.model, self.rep_noise, self.scale = model, rep_noise, float(scale)
        self._generator = torch.Generator()
        if seed is not None:
            self._generator.manual_seed(seed)

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """``model(cat[x, z])`` for ``x`` (N, d) and fresh noise, or the given ``noise`` (N, rep_noise.size)."""
        if noise is None:
            noise = torch.randn(x.shape[0], self.rep_noise.size, generator=self._generator, dtype=x.dtype) * self.scale
            noise = noise.to(x.device)
        check_features(noise, self.rep_noise.size, "noise")
        return self.model(torch.cat([x, noise], dim=-1))


def equivariant_floor(canonicalizer: Canonicalizer, rep_out: Rep, X: Any, Y: Any) -> float:
    r"""Lowest mean squared error any equivariant model can reach on ``(X, Y)``.

    Each output must lie in the fixed subspace :math:`F_x` of the stabiliser of its input, so

    .. math:: \mathrm{floor} = \frac{1}{N d} \sum_i \lVert y_i - P_{F_{x_i}} y_i \rVert^2

    (``d = rep_out.size``; the mean over entries, like ``((pred - Y)**2).mean()``).

    Parameters
    ----------
    canonicalizer : FiniteCanonicalizer or OrthogonalCanonicalizer
        Supplies the stabilisers.
    rep_out : Rep
    X : array_like of shape (N, rep_in.size)
    Y : array_like of shape (N, rep_out.size)

    Returns
    -------
    float
    """
    X = as_float_array(X, "X", shape=(None, canonicalizer.rep_in.size))
    Y = as_float_array(Y, "Y", shape=(len(X), rep_out.size))
    total = 0.0
    for x, y in zip(X, Y):
        basis = fixed_subspace(canonicalizer.stabilizer(x), rep_out)
        total += float(np.sum((y - basis @ (basis.T @ y)) ** 2))
    return total / Y.size
