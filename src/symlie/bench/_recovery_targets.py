r"""Targets of the recovery experiment, expanded exactly in monomials.

A target is :math:`F(x) = \phi_d(y_1(x), \dots, y_r(x))` where :math:`\phi_d` has every monomial of degree
:math:`\le d` in ``r`` variables (constant included) with coefficients i.i.d. uniform on :math:`[0, 1)`, and the
features are

* ``ortho``: :math:`y_k = u_k \cdot x` with :math:`u_1..u_r` the first ``r`` left-singular vectors of an
  ``m x r`` standard Gaussian matrix (orthonormal); ``F`` has degree ``d``;
* ``quad``: :math:`y_k = \|x - c_k\|^2` with :math:`c_k \sim U[-1, 1]^m`; ``F`` has degree ``2 d``.

``F`` is expanded *exactly* in the monomial basis by polynomial arithmetic on exponent arrays (products of linear
or quadratic forms), not by fitting, so the true coefficient vector ``W_true`` is known to rounding.

Random draws, in this order, from ``numpy.random.default_rng(seed)``: the coefficients of :math:`\phi_d`, the
features (the Gaussian matrix or the centres), the operator points, the training points.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np

from .._algebra import LieAlgebra
from .._classical import se, t
from .._dictionaries import PolynomialLibrary, unique_exponents
from .._errors import SymlieValueError
from .._validation import check_positive_int

__all__ = ["GROUPS", "TARGETS", "Polynomial", "RecoveryProblem", "expected_symmetry_dim", "make_problem"]

TARGETS = ("ortho", "quad")
GROUPS = ("se", "t")


@dataclass(frozen=True)
class Polynomial:
    """A polynomial in ``m`` variables: ``sum_k coef[k] * x ** exponents[k]`` (exact arithmetic on exponents).

    Examples
    --------
    >>> p = Polynomial.linear([1.0, -1.0])           # x0 - x1
    >>> q = p * p                                    # x0^2 - 2 x0 x1 + x1^2
    >>> sorted(zip(map(tuple, q.exponents.tolist()), q.coef.tolist()))
    [((0, 2), 1.0), ((1, 1), -2.0), ((2, 0), 1.0)]
    """

    exponents: np.ndarray
    coef: np.ndarray

    @property
    def n_features(self) -> int:
        return int(self.exponents.shape[1])

    @classmethod
    def constant(cls, value: float, m: int) -> Polynomial:
        return cls(np.zeros((1, m), dtype=np.int64), np.array([float(value)]))

    @classmethod
    def linear(cls, u: np.ndarray | list[float]) -> Polynomial:
        """The linear form :math:`u \\cdot x`."""
        u = np.asarray(u, dtype=np.float64)
        return cls(np.eye(len(u), dtype=np.int64), u.copy())

    @classmethod
    def squared_distance(cls, c: np.ndarray) -> Polynomial:
        r""":math:`\|x - c\|^2 = \sum_i x_i^2 - 2 c_i x_i + \|c\|^2`."""
        c = np.asarray(c, dtype=np.float64)
        m = len(c)
        eye = np.eye(m, dtype=np.int64)
        exps = np.concatenate([2 * eye, eye, np.zeros((1, m), dtype=np.int64)])
        return cls(exps, np.concatenate([np.ones(m), -2.0 * c, [float(c @ c)]]))._collect()

    def _collect(self) -> Polynomial:
        unique, index = unique_exponents(self.exponents)
        return Polynomial(unique, np.bincount(index, weights=self.coef, minlength=len(unique)))

    def __add__(self, other: Polynomial) -> Polynomial:
        return Polynomial(
            np.concatenate([self.exponents, other.exponents]), np.concatenate([self.coef, other.coef])
        )._collect()

    def __mul__(self, other: Polynomial) -> Polynomial:
        exps = (self.exponents[:, None, :] + other.exponents[None, :, :]).reshape(-1, self.n_features)
        return Polynomial(exps, np.outer(self.coef, other.coef).reshape(-1))._collect()

    def scaled(self, factor: float) -> Polynomial:
        return Polynomial(self.exponents, self.coef * float(factor))

    def coefficients(self, library: PolynomialLibrary) -> np.ndarray:
        """The coefficient vector in ``library``'s order, shape (len(library),).

        Raises
        ------
        SymlieValueError
            If a monomial with a nonzero coefficient is not in the library.
        """
        index = library.index(self.exponents)
        outside = (index < 0) & (self.coef != 0)
        if np.any(outside):
            raise SymlieValueError(f"the polynomial has monomials outside {library!r}")
        out = np.zeros(len(library))
        np.add.at(out, index[index >= 0], self.coef[index >= 0])
        return out


def compose(phi_exponents: np.ndarray, phi_coef: np.ndarray, features: list[Polynomial]) -> Polynomial:
    r""":math:`\sum_\beta c_\beta \prod_k y_k^{\beta_k}` exactly, reusing the powers of each feature."""
    m = features[0].n_features
    powers: list[list[Polynomial]] = []
    top = int(phi_exponents.max(initial=0))
    for y in features:
        row = [Polynomial.constant(1.0, m)]
        for _ in range(top):
            row.append(row[-1] * y)
        powers.append(row)
    total = Polynomial(np.zeros((0, m), dtype=np.int64), np.zeros(0))
    for beta, c in zip(phi_exponents, phi_coef):
        term = Polynomial.constant(float(c), m)
        for k, b in enumerate(beta):
            if b:
                term = term * powers[k][int(b)]
        total = total + term
    return total


def expected_symmetry_dim(target: str, group: str, m: int, r: int, d: int) -> int:
    """Dimension of the symmetry algebra of a generic target inside the candidate algebra.

    ``ortho`` with ``d >= 2``: rotations and translations of the orthogonal complement of ``span(u_k)``,
    :math:`(m-r)(m-r+1)/2` in se(m) and :math:`m-r` in t(m). ``quad`` in se(m): rotations about the affine span
    of the centres, :math:`(m-r+1)(m-r)/2` (for ``r <= m``).
    """
    if target == "ortho":
        return (m - r) * (m - r + 1) // 2 if group == "se" else m - r
    return (m - r + 1) * (m - r) // 2 if group == "se" else 0


@dataclass(frozen=True, eq=False)
class RecoveryProblem:
    """One cell of the recovery experiment (one target, group, m, r, d and seed).

    Attributes
    ----------
    library : PolynomialLibrary
        Monomials of degree ``d`` (ortho) or ``2 d`` (quad) in ``m`` variables; ``n_lib = len(library)``.
    coef : ndarray of shape (n_lib,)
        ``W_true``, the exact expansion of the target.
    algebra : LieAlgebra
        ``se(m)`` or ``t(m)``, Frobenius-orthonormalised.
    operator_points : ndarray of shape (n_op, m)
        ``C(m+D, D) + 1`` (se) or ``C(m+D-1, D-1) + 1`` (t) points uniform in :math:`[-1, 1]^m`, ``D`` the degree.
    train_points : ndarray of shape (n_lib + 1, m)
        The nested training inputs (the first ``n`` are used for ``n`` samples).
    train_values : ndarray of shape (n_lib + 1,)
        The target at the training inputs (noise-free).
    features : ndarray
        ``(m, r)`` directions ``u_k`` as columns (ortho) or ``(r, m)`` centres (quad).
    """

    target: str
    group: str
    m: int
    r: int
    d: int
    seed: int
    library: PolynomialLibrary
    coef: np.ndarray
    algebra: LieAlgebra
    operator_points: np.ndarray
    train_points: np.ndarray
    train_values: np.ndarray
    features: np.ndarray
    phi_coef: np.ndarray

    @property
    def n_lib(self) -> int:
        return len(self.library)

    @property
    def expected_symmetry_dim(self) -> int:
        return expected_symmetry_dim(self.target, self.group, self.m, self.r, self.d)

    def evaluate(self, X: np.ndarray) -> np.ndarray:
        """The target :math:`\\phi_d(y(X))` evaluated directly, shape (n_samples,)."""
        X = np.asarray(X, dtype=np.float64)
        if self.target == "ortho":
            Y = X @ self.features
        else:
            Y = ((X[:, None, :] - self.features[None, :, :]) ** 2).sum(axis=2)
        return PolynomialLibrary(self.r, self.d).evaluate(Y) @ self.phi_coef

    def relative_error(self, coef: np.ndarray) -> float:
        """:math:`\\max|W - W_{true}| / \\max|W_{true}|` (success when below 5e-3)."""
        return float(np.max(np.abs(np.asarray(coef) - self.coef)) / np.max(np.abs(self.coef)))


def _check_choice(value: str, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise SymlieValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def make_problem(
    target: str = "ortho", group: str = "se", m: int = 5, r: int = 1, d: int = 2, seed: int = 0
) -> RecoveryProblem:
    """Build one recovery problem with the seeded protocol of the module docstring.

    Parameters
    ----------
    target : {"ortho", "quad"}
    group : {"se", "t"}
    m, r, d : int
        Input dimension, number of features (``1 <= r <= m``) and degree of :math:`\\phi_d` (``d >= 1``).
    seed : int

    Returns
    -------
    RecoveryProblem

    Raises
    ------
    SymlieValueError
        For an unknown ``target``/``group`` or ``r > m``.

    Examples
    --------
    >>> p = make_problem("ortho", "se", m=4, r=1, d=2, seed=0)
    >>> p.n_lib, p.algebra.dim, len(p.operator_points), p.expected_symmetry_dim
    (15, 10, 16, 6)
    >>> bool(np.allclose(p.library.evaluate(p.train_points) @ p.coef, p.train_values, atol=1e-12))
    True
    """
    _check_choice(target, "target", TARGETS)
    _check_choice(group, "group", GROUPS)
    m = check_positive_int(m, "m")
    r = check_positive_int(r, "r")
    d = check_positive_int(d, "d")
    seed = check_positive_int(seed, "seed", minimum=0)
    if r > m:
        raise SymlieValueError(f"r must be at most m={m}, got r={r}")
    rng = np.random.default_rng(seed)
    phi_exps = PolynomialLibrary(r, d).exponents
    phi_coef = rng.uniform(0.0, 1.0, len(phi_exps))
    if target == "ortho":
        features = np.linalg.svd(rng.standard_normal((m, r)), full_matrices=False)[0]
        ys = [Polynomial.linear(features[:, k]) for k in range(r)]
        degree = d
    else:
        features = rng.uniform(-1.0, 1.0, (r, m))
        ys = [Polynomial.squared_distance(c) for c in features]
        degree = 2 * d
    library = PolynomialLibrary(m, degree)
    coef = compose(phi_exps, phi_coef, ys).coefficients(library)
    algebra = (se(m) if group == "se" else t(m)).orthonormalize()
    n_op = comb(m + degree, degree) + 1 if group == "se" else comb(m + degree - 1, degree - 1) + 1
    operator_points = rng.uniform(-1.0, 1.0, (n_op, m))
    train_points = rng.uniform(-1.0, 1.0, (len(library) + 1, m))
    problem = RecoveryProblem(
        target=target,
        group=group,
        m=m,
        r=r,
        d=d,
        seed=seed,
        library=library,
        coef=coef,
        algebra=algebra,
        operator_points=operator_points,
        train_points=train_points,
        train_values=np.zeros(0),
        features=features,
        phi_coef=phi_coef,
    )
    object.__setattr__(problem, "train_values", problem.evaluate(train_points))
    return problem
