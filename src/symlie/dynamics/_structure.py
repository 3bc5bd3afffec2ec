r"""Structure of polynomial vector fields: conserved quantities, divergence-free and Hamiltonian fields.

Each structure is a linear condition on the coefficients ``W`` of :math:`f(x) = W\theta(x)`, so it can be
**enforced** (the subspace of fields that have it, a basis of row-major ``W`` usable wherever a symmetry is) or
**discovered** (tested or extracted from a fitted model):

* conserved quantity ``H``: :math:`\nabla H \cdot f = 0` (the Lie derivative of the scalar ``H`` along ``f``);
  discovering them is a null space over the coefficients of ``H`` (:func:`conserved_quantities`);
* divergence-free: :math:`\nabla\cdot f = \sum_i \partial_i f_i = 0` (volume preserving);
* Hamiltonian: :math:`f = J\nabla H` for the canonical :math:`J = \begin{pmatrix}0 & I\\ -I & 0\end{pmatrix}`,
  equivalently :math:`\mathcal L_f \omega = 0` for :math:`\omega = dq\wedge dp`, i.e. the Jacobian of
  :math:`g = J^{-1} f` is symmetric (:math:`g` is a gradient).

Polynomial identities of degree ``D`` are imposed at ``2 C(n + D, D)`` generic points, which determines them
exactly; every result carries a certificate on fresh points.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import comb
from typing import Any

import numpy as np

from .._algebra import LieAlgebra
from .._dictionaries import PolynomialLibrary
from .._errors import ShapeError, SymlieTypeError, SymlieValueError
from .._linalg import RTOL, null_space
from .._validation import check_positive_int, make_rng
from ._models import polynomial_model

__all__ = [
    "ConservedQuantities",
    "ConstraintSubspace",
    "canonical_J",
    "conserved_quantities",
    "conserving_subspace",
    "divergence",
    "divergence_free_subspace",
    "hamiltonian",
    "hamiltonian_subspace",
]


@dataclass(frozen=True, eq=False)
class ConstraintSubspace:
    """Vector fields over ``library`` satisfying a linear structural condition.

    Attributes
    ----------
    basis : ndarray of shape (P, dim)
        Orthonormal; columns reshaped row-major to ``(n, len(library))`` are coefficient matrices ``W``.
    singular_values : ndarray
        Of the sampled constraint matrix, decreasing.
    threshold : float
    residual : float
        Certificate: largest relative constraint value of a basis field at fresh points.
    library : PolynomialLibrary
    name : str
    """

    basis: np.ndarray
    singular_values: np.ndarray
    threshold: float
    residual: float
    library: PolynomialLibrary
    name: str

    @property
    def dim(self) -> int:
        return int(self.basis.shape[1])

    def matrices(self) -> np.ndarray:
        """The basis as coefficient matrices, shape (dim, n, len(library))."""
        return self.basis.T.reshape(self.dim, self.library.n_features, len(self.library))

    def __repr__(self) -> str:
        return f"ConstraintSubspace({self.name}, dim={self.dim} of {self.basis.shape[0]}, residual={self.residual:.1e})"


def canonical_J(n: int) -> np.ndarray:
    r"""The canonical symplectic matrix :math:`J = [[0, I], [-I, 0]]` on :math:`\mathbb{R}^{n}` (``n`` even)."""
    n = check_positive_int(n, "n")
    if n % 2:
        raise SymlieValueError(f"a Hamiltonian structure needs an even dimension n, got n={n}")
    k = n // 2
    J = np.zeros((n, n))
    J[:k, k:] = np.eye(k)
    J[k:, :k] = -np.eye(k)
    return J


def _points(n: int, degree: int, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, size=(2 * comb(n + degree, degree), n))


def _subspace(
    library: PolynomialLibrary, rows: Callable[[np.ndarray], np.ndarray], degree: int, name: str, rng: Any, rtol: float
) -> ConstraintSubspace:
    gen = make_rng(rng)
    n = library.n_features
    M = rows(_points(n, degree, gen))
    solved = null_space(M, rtol=rtol, what=name)
    check = rows(_points(n, degree, gen))
    scale = float(np.linalg.norm(check, 2)) or 1.0
    residual = float(np.max(np.linalg.norm(check @ solved.basis, axis=0))) / scale if solved.dim else 0.0
    basis = solved.basis
    basis.setflags(write=False)
    return ConstraintSubspace(basis, solved.singular_values, solved.threshold, residual, library, name)


def _check_library(library: Any) -> PolynomialLibrary:
    if not isinstance(library, PolynomialLibrary):
        raise SymlieTypeError(f"library must be a symlie PolynomialLibrary, got {type(library).__name__}")
    return library


def divergence_free_subspace(library: PolynomialLibrary, *, rtol: float = RTOL, rng: Any = 0) -> ConstraintSubspace:
    r"""Enforce: the divergence-free vector fields :math:`\sum_i \partial_i f_i = 0` over ``library``.

    Examples
    --------
    >>> import symlie as sl
    >>> divergence_free_subspace(sl.PolynomialLibrary(2, 1)).dim   # 6 affine fields, trace A = 0
    5
    """
    library = _check_library(library)
    n, L = library.n_features, len(library)

    def rows(X: np.ndarray) -> np.ndarray:
        return library.jacobian(X).transpose(0, 2, 1).reshape(len(X), n * L)  # d_o theta_l at (o, l)

    return _subspace(library, rows, max(library.degree - 1, 0), "divergence-free", rng, rtol)


def divergence(model: Any, X: Any = None, *, rng: Any = 0) -> float:
    r"""Discover: relative size :math:`\|\nabla\cdot f\|_X / (\|W\|_F \|D\theta\|_X)` of the divergence.

    Zero (to rounding) exactly for volume-preserving fields; the scale bounds :math:`\|Df\|_X`.

    ``X`` defaults to 64 random points in :math:`[-1, 1]^n`.
    """
    library, W = polynomial_model(model)
    points = make_rng(rng).uniform(-1, 1, (64, library.n_features)) if X is None else np.asarray(X, dtype=float)
    jac = library.jacobian(points)
    Jf = np.einsum("ol,nlj->noj", W, jac)
    scale = float(np.linalg.norm(W) * np.linalg.norm(jac)) or 1.0
    return float(np.linalg.norm(np.trace(Jf, axis1=1, axis2=2))) / scale


def _gradient_rows(library: PolynomialLibrary, J: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Rows of :math:`\\partial_j g_i - \\partial_i g_j` (i < j) with :math:`g = J^{-1} f`, over row-major ``W``."""
    n, L = library.n_features, len(library)
    Jinv = np.linalg.inv(J)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]

    def rows(X: np.ndarray) -> np.ndarray:
        D = library.jacobian(X)  # (N, L, n): d_j theta_l
        out = np.empty((len(X), len(pairs), n, L))
        for p, (i, j) in enumerate(pairs):
            out[:, p] = Jinv[i][None, :, None] * D[:, None, :, j] - Jinv[j][None, :, None] * D[:, None, :, i]
        return out.reshape(len(X) * len(pairs), n * L)

    return rows


def hamiltonian_subspace(library: PolynomialLibrary, *, rtol: float = RTOL, rng: Any = 0) -> ConstraintSubspace:
    r"""Enforce: the Hamiltonian vector fields :math:`f = J\nabla H` over ``library`` (canonical ``J``).

    Examples
    --------
    >>> import symlie as sl
    >>> hamiltonian_subspace(sl.PolynomialLibrary(2, 1)).dim   # H of degree <= 2 without constant: 5
    5
    """
    library = _check_library(library)
    J = canonical_J(library.n_features)
    return _subspace(library, _gradient_rows(library, J), max(library.degree - 1, 0), "Hamiltonian", rng, rtol)


def hamiltonian(model: Any, *, rng: Any = 0) -> tuple[PolynomialLibrary, np.ndarray, float]:
    r"""Discover: the Hamiltonian ``H`` with :math:`f \approx J\nabla H`, by least squares, and the misfit.

    Returns
    -------
    (PolynomialLibrary, ndarray of shape (n_terms,), float)
        The library of ``H`` (degree one above ``f``, no constant), its coefficients, and the relative
        residual :math:`\|f - J\nabla H\| / \|f\|` at random points (0 for a Hamiltonian field).

    Examples
    --------
    >>> import symlie as sl
    >>> from symlie.dynamics import oscillator
    >>> lib, h, r = hamiltonian(oscillator())
    >>> lib.feature_names(), (np.round(h, 12) + 0.0).tolist(), r < 1e-12   # H = -(x^2 + y^2) / 2
    (['x0', 'x1', 'x0^2', 'x0 x1', 'x1^2'], [0.0, 0.0, -0.5, 0.0, -0.5], True)
    """
    library, W = polynomial_model(model)
    n = library.n_features
    J = canonical_J(n)
    H_lib = PolynomialLibrary(n, library.degree + 1, include_bias=False)
    X = _points(n, library.degree + 1, make_rng(rng))
    grads = H_lib.jacobian(X)  # (N, K, n)
    A = np.einsum("ij,nkj->nik", J, grads).reshape(len(X) * n, len(H_lib))
    f = (library.evaluate(X) @ W.T).reshape(-1)
    h, *_ = np.linalg.lstsq(A, f, rcond=None)
    residual = float(np.linalg.norm(A @ h - f)) / (float(np.linalg.norm(f)) or 1.0)
    return H_lib, h, residual


def conserving_subspace(
    library: PolynomialLibrary, H: tuple[PolynomialLibrary, Any], *, rtol: float = RTOL, rng: Any = 0
) -> ConstraintSubspace:
    r"""Enforce: the vector fields over ``library`` that conserve ``H``: :math:`\nabla H \cdot f = 0`.

    Parameters
    ----------
    library : PolynomialLibrary
    H : (PolynomialLibrary, array_like of shape (n_terms,))
        The conserved polynomial.

    Examples
    --------
    >>> import symlie as sl
    >>> lib = sl.PolynomialLibrary(2, 1)
    >>> H = (sl.PolynomialLibrary(2, 2), [0, 0, 0, 1, 0, 1])   # x^2 + y^2
    >>> conserving_subspace(lib, H).dim                       # only the rotation J x
    1
    """
    library = _check_library(library)
    H_lib, h = H
    H_lib = _check_library(H_lib)
    h = np.asarray(h, dtype=np.float64).reshape(-1)
    if H_lib.n_features != library.n_features or len(h) != len(H_lib):
        raise ShapeError(f"H must be (library on R^{library.n_features}, coefficients of its {len(H_lib)} terms)")
    n, L = library.n_features, len(library)

    def rows(X: np.ndarray) -> np.ndarray:
        grad = np.einsum("k,nkj->nj", h, H_lib.jacobian(X))  # (N, n)
        return (grad[:, :, None] * library.evaluate(X)[:, None, :]).reshape(len(X), n * L)

    degree = max(H_lib.degree - 1, 0) + library.degree
    return _subspace(library, rows, degree, "conserves H", rng, rtol)


@dataclass(frozen=True, eq=False)
class ConservedQuantities:
    """Polynomial conserved quantities of a vector field (no constant term).

    Attributes
    ----------
    library : PolynomialLibrary
        Monomials of ``H`` (degree 1..``degree``).
    coefficients : ndarray of shape (dim, n_terms)
        Orthonormal coefficient vectors; every combination is conserved.
    singular_values : ndarray
        Of the Lie-derivative (enforce) matrix, decreasing: the evidence for the dimension.
    residual : float
        Certificate at fresh random points.
    """

    library: PolynomialLibrary
    coefficients: np.ndarray
    singular_values: np.ndarray
    residual: float

    @property
    def dim(self) -> int:
        return int(self.coefficients.shape[0])

    def expressions(self, *, precision: int = 6) -> list[str]:
        """Readable polynomials, normalised so that the largest coefficient is 1."""
        names = self.library.feature_names()
        out = []
        for c in self.coefficients:
            c = c / c[np.argmax(np.abs(c))]
            terms = [f"{v:.{precision}g} {t}" for v, t in zip(c, names) if abs(v) > 1e-12]
            out.append(" + ".join(terms).replace("+ -", "- "))
        return out

    def __repr__(self) -> str:
        return f"ConservedQuantities(dim={self.dim}, {self.expressions()}, residual={self.residual:.1e})"


def conserved_quantities(model: Any, degree: int, *, rtol: float = RTOL, rng: Any = 0) -> ConservedQuantities:
    r"""Discover: every polynomial ``H`` of degree ``1..degree`` with :math:`\nabla H \cdot f = 0`.

    This is :func:`symlie.enforce` of invariant scalars under the one-generator algebra spanned by ``f`` itself:
    the kernel of :math:`H \mapsto \nabla H \cdot f`, exact for polynomial ``f``. An empty result means no
    polynomial invariant of that degree exists (e.g. Lotka-Volterra, whose invariant has logarithms).

    Parameters
    ----------
    model : (PolynomialLibrary, coef), System, fitted SymmetricSINDy or pysindy.SINDy
    degree : int
    rtol : float, default 1e-9
        Relative singular-value tolerance (raise it for noisy fitted models to find approximate invariants).
    rng : seed

    Examples
    --------
    >>> from symlie.dynamics import oscillator, lotka_volterra
    >>> conserved_quantities(oscillator(), 2).expressions()
    ['1 x0^2 + 1 x1^2']
    >>> conserved_quantities(lotka_volterra(), 6).dim
    0
    """
    from .._enforce import enforce

    library, W = polynomial_model(model)
    degree = check_positive_int(degree, "degree")
    H_lib = PolynomialLibrary(library.n_features, degree, include_bias=False)
    field = LieAlgebra(W[None], library=library, name="f", require_closure=False)
    sub = enforce(H_lib, field, output="invariant", rtol=rtol, rng=rng)
    return ConservedQuantities(H_lib, np.asarray(sub.basis).T.copy(), sub.singular_values, sub.residual)
