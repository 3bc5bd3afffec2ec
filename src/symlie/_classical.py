"""The classical Lie algebras as ready-made :class:`~symlie.LieAlgebra` values (natural, unnormalised bases)."""

from __future__ import annotations

import numpy as np

from ._algebra import LieAlgebra
from ._dictionaries import PolynomialLibrary
from ._validation import check_positive_int

__all__ = ["aff", "gl", "polynomial_fields", "scaling", "se", "sl", "so", "so_pq", "t"]


def _unit(n: int, i: int, j: int) -> np.ndarray:
    e = np.zeros((n, n))
    e[i, j] = 1.0
    return e


def so(n: int) -> LieAlgebra:
    r"""Rotations :math:`\mathfrak{so}(n)`: the ``n(n-1)/2`` matrices :math:`E_{ij} - E_{ji}`, ``i < j``."""
    n = check_positive_int(n, "n")
    mats = [_unit(n, i, j) - _unit(n, j, i) for i in range(n) for j in range(i + 1, n)]
    return LieAlgebra(np.array(mats).reshape(-1, n, n), name=f"so({n})", require_closure=False)


def so_pq(p: int, q: int) -> LieAlgebra:
    r"""Pseudo-rotations :math:`\mathfrak{so}(p, q)` preserving :math:`\eta = \mathrm{diag}(1_p, -1_q)`.

    Rotations :math:`E_{ij} - E_{ji}` within each block and boosts :math:`E_{ij} + E_{ji}` across them.
    ``so_pq(1, 3)`` is the Lorentz algebra.
    """
    p = check_positive_int(p, "p", minimum=0)
    q = check_positive_int(q, "q", minimum=0)
    n = check_positive_int(p + q, "p + q")
    mats = []
    for i in range(n):
        for j in range(i + 1, n):
            sign = 1.0 if (i < p) == (j < p) else -1.0
            mats.append(_unit(n, i, j) - sign * _unit(n, j, i))
    return LieAlgebra(np.array(mats).reshape(-1, n, n), name=f"so({p},{q})", require_closure=False)


def gl(n: int) -> LieAlgebra:
    r"""All linear vector fields :math:`\mathfrak{gl}(n)`: the ``n^2`` matrix units :math:`E_{ij}`."""
    n = check_positive_int(n, "n")
    mats = [_unit(n, i, j) for i in range(n) for j in range(n)]
    return LieAlgebra(np.array(mats), name=f"gl({n})", require_closure=False)


def sl(n: int) -> LieAlgebra:
    r"""Traceless matrices :math:`\mathfrak{sl}(n)`: :math:`E_{ij}` (i != j) and :math:`E_{ii} - E_{i+1,i+1}`."""
    n = check_positive_int(n, "n")
    mats = [_unit(n, i, j) for i in range(n) for j in range(n) if i != j]
    mats += [_unit(n, i, i) - _unit(n, i + 1, i + 1) for i in range(n - 1)]
    return LieAlgebra(np.array(mats).reshape(-1, n, n), name=f"sl({n})", require_closure=False)


def scaling(n: int) -> LieAlgebra:
    r"""Independent scalings of each coordinate: the ``n`` diagonal units :math:`E_{ii}`."""
    n = check_positive_int(n, "n")
    return LieAlgebra(np.array([_unit(n, i, i) for i in range(n)]), name=f"scaling({n})", require_closure=False)


def _affine(linear: np.ndarray, n: int, name: str) -> LieAlgebra:
    translations = np.zeros((n, n, n + 1))
    translations[np.arange(n), np.arange(n), 0] = 1.0
    lifted = np.zeros((len(linear), n, n + 1))
    lifted[:, :, 1:] = linear
    return LieAlgebra(np.concatenate([lifted, translations]), name=name, require_closure=False)


def t(n: int) -> LieAlgebra:
    r"""Translations :math:`\mathfrak{t}(n)`: affine fields :math:`v(x) = e_i` (layout ``[b | A]``)."""
    n = check_positive_int(n, "n")
    return _affine(np.zeros((0, n, n)), n, f"t({n})")


def se(n: int) -> LieAlgebra:
    r"""Euclidean motions :math:`\mathfrak{se}(n) = \mathfrak{so}(n) \ltimes \mathfrak{t}(n)`, affine layout.

    Rotations first, then translations; ``dim = n(n+1)/2``.
    """
    return _affine(so(n).basis, n, f"se({n})")


def aff(n: int) -> LieAlgebra:
    r"""All affine vector fields :math:`\mathfrak{aff}(n) = \mathfrak{gl}(n) \ltimes \mathfrak{t}(n)`."""
    return _affine(gl(n).basis, n, f"aff({n})")


def polynomial_fields(n: int, degree: int) -> LieAlgebra:
    r"""All polynomial vector fields of degree <= ``degree`` on :math:`\mathbb{R}^n` (``q = n * C(n+d, d)``).

    Brackets raise the degree to ``2 d - 1``, so for ``degree >= 2`` this is a Lie algebra only modulo
    degree; :meth:`LieAlgebra.closure` reports it as not closed.
    """
    n = check_positive_int(n, "n")
    degree = check_positive_int(degree, "degree")
    library = PolynomialLibrary(n, degree)
    basis = np.zeros((n * len(library), n, len(library)))
    for i in range(n):
        for l in range(len(library)):
            basis[i * len(library) + l, i, l] = 1.0
    return LieAlgebra(basis, library=library, name=f"polynomial_fields({n}, {degree})", require_closure=False)
