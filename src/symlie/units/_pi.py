r"""Buckingham Pi groups, prefactors for a target's units, and the missing-dimensional-constant diagnosis.

A monomial :math:`x^e = \prod_i x_i^{e_i}` has units :math:`A e`; it is dimensionless iff :math:`A e = 0`. The
dimensionless monomials with integer exponents form the lattice :math:`\ker A \cap \mathbb{Z}^n` of rank
:math:`n - \mathrm{rank}\,A` (Buckingham's theorem); its reduced basis gives the Pi groups. A target with units
:math:`a_y` is units-covariant iff :math:`y = x^v g(\pi(x))` with :math:`A v = a_y`; when :math:`a_y` is not in
the column span of ``A`` no such model exists and a dimensional constant is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import product
from typing import Any

import numpy as np

from .._errors import SymlieValueError
from .._validation import as_float_array
from ._dimensions import DimensionMatrix, UnitsSpec, dimension_matrix
from ._lattice import format_monomial, integer_kernel, lll_reduce, solve_rational, sparsest_solution

__all__ = ["MissingDimensionalConstant", "PiGroups", "Prefactor", "consistent_monomials", "pi_groups", "prefactor"]


class MissingDimensionalConstant(SymlieValueError):
    """The target's units cannot be made from the inputs' units: a dimensional constant is missing.

    Attributes
    ----------
    target_units : ndarray of int64, shape (n_base_units,)
        The target's exponents over :attr:`base_units`.
    deficit : ndarray of int64, shape (n_base_units,)
        Units of a constant that would close the gap (any product of input units times it works as well).
    base_units : tuple of str
    """

    def __init__(self, message: str, *, target_units: np.ndarray, deficit: np.ndarray, base_units: Sequence[str]):
        super().__init__(message)
        self.target_units = target_units
        self.deficit = deficit
        self.base_units = tuple(base_units)


def _canonical_sign(vector: list[int]) -> list[int]:
    """Flip a lattice vector so that its last non-zero entry is positive."""
    last = next((x for x in reversed(vector) if x != 0), 0)
    return [-x for x in vector] if last < 0 else vector


def reduced_kernel(dims: DimensionMatrix) -> list[list[int]]:
    """LLL-reduced, sorted, sign-normalised integer basis of ``ker A`` (the Pi lattice)."""
    kernel = integer_kernel(dims.as_lists(), dims.n_variables)
    if len(kernel) > 1:
        kernel = lll_reduce(kernel)
    kernel = [_canonical_sign(v) for v in kernel]
    kernel.sort(key=lambda v: (sum(1 for x in v if x), sum(map(abs, v)), max(map(abs, v), default=0), v[::-1]))
    return kernel


@dataclass(frozen=True)
class PiGroups:
    r"""A basis of the dimensionless products :math:`\pi_k(x) = \prod_i x_i^{E_{ki}}` of some variables.

    Attributes
    ----------
    exponents : ndarray of int64, shape (n_groups, n_variables)
        Integer basis of the lattice :math:`\ker A \cap \mathbb{Z}^n`: each row has coprime entries, and every
        dimensionless monomial with integer exponents is a product of integer powers of these groups.
    names : tuple of str
        Readable products such as ``'tau^2 g / l'``.
    dimensions : DimensionMatrix
        The variables' dimension matrix.
    """

    exponents: np.ndarray
    names: tuple[str, ...]
    dimensions: DimensionMatrix

    @property
    def n_groups(self) -> int:
        return int(self.exponents.shape[0])

    @property
    def rank(self) -> int:
        """Rank of the dimension matrix: ``n_variables - n_groups``."""
        return self.dimensions.rank

    def log_abs(self, X: Any) -> np.ndarray:
        r""":math:`\log|\pi_k(x_n)| = \sum_i E_{ki} \log|x_{ni}|`.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_variables)
            Non-zero wherever a group uses the variable.

        Returns
        -------
        ndarray of shape (n_samples, n_groups)
        """
        X = as_float_array(X, "X", shape=(None, self.dimensions.n_variables))
        return log_monomials(X, self.exponents.astype(np.float64), "X")

    def evaluate(self, X: Any) -> np.ndarray:
        """Values of the groups (signs included), shape (n_samples, n_groups)."""
        X = as_float_array(X, "X", shape=(None, self.dimensions.n_variables))
        E = self.exponents
        magnitude = np.exp(log_monomials(X, E.astype(np.float64), "X"))
        negative = (X < 0).astype(np.int64) @ (np.abs(E.T) % 2)
        return magnitude * np.where(negative % 2 == 1, -1.0, 1.0)

    def __repr__(self) -> str:
        return f"PiGroups({list(self.names)}, rank={self.rank})"


def log_monomials(X: np.ndarray, exponents: np.ndarray, name: str) -> np.ndarray:
    """``log|X| @ exponents.T`` with a clear error where a used variable is zero."""
    used = np.any(exponents != 0, axis=0)
    zero = (X == 0) & used[None, :]
    if np.any(zero):
        rows, cols = np.nonzero(zero)
        raise SymlieValueError(
            f"{name}[{rows[0]}, {cols[0]}] is zero, but that variable enters a product with a non-zero exponent "
            f"({int(zero.sum())} zero entries in total); the products need non-zero inputs"
        )
    logs = np.zeros_like(X)
    logs[:, used] = np.log(np.abs(X[:, used]))
    return logs @ exponents.T


def pi_groups(units: Any, *, names: Sequence[str] | None = None) -> PiGroups:
    r"""An integer basis of the dimensionless products of the variables (Buckingham Pi groups).

    The lattice :math:`\ker A \cap \mathbb{Z}^n` is computed exactly by column Hermite reduction, then LLL-reduced
    so that the exponents are small; groups are sorted by the number of variables they use and signed so that
    their last variable has a positive exponent.

    Parameters
    ----------
    units : DimensionMatrix or anything :func:`dimension_matrix` accepts
    names : sequence of str, optional
        Variable names when ``units`` is a sequence.

    Returns
    -------
    PiGroups
        ``n_variables - rank(A)`` groups.

    Examples
    --------
    >>> pg = pi_groups({"tau": "s", "l": "m", "m": "kg", "g": "m/s^2", "theta0": "radian"})
    >>> pg.names
    ('theta0', 'tau^2 g / l')
    >>> pg.rank, pg.n_groups
    (3, 2)
    """
    dims = dimension_matrix(units, names=names)
    kernel = reduced_kernel(dims)
    exponents = np.array(kernel, dtype=np.int64).reshape(len(kernel), dims.n_variables)
    exponents.setflags(write=False)
    labels = tuple(format_monomial(row, dims.variables) for row in kernel)
    return PiGroups(exponents, labels, dims)


@dataclass(frozen=True)
class Prefactor:
    r"""A monomial :math:`x^v` with the target's units: :math:`A v = a_y`.

    Attributes
    ----------
    exponents : tuple of Fraction
        Exact exponents ``v`` (rational: e.g. ``l^(1/2) / g^(1/2)``).
    name : str
        Readable monomial.
    target_units : ndarray of int64, shape (n_base_units,)
    dimensions : DimensionMatrix
    """

    exponents: tuple[Fraction, ...]
    name: str
    target_units: np.ndarray
    dimensions: DimensionMatrix

    @property
    def vector(self) -> np.ndarray:
        """The exponents as float64, shape (n_variables,)."""
        return np.array([float(e) for e in self.exponents])

    def log_abs(self, X: Any) -> np.ndarray:
        r""":math:`\sum_i v_i \log|x_{ni}|`, shape (n_samples,)."""
        X = as_float_array(X, "X", shape=(None, self.dimensions.n_variables))
        return log_monomials(X, self.vector[None, :], "X")[:, 0]

    def evaluate(self, X: Any) -> np.ndarray:
        r""":math:`\prod_i |x_{ni}|^{v_i}`, shape (n_samples,)."""
        return np.exp(self.log_abs(X))

    def __repr__(self) -> str:
        return f"Prefactor({self.name!r}, units={self.dimensions.format(self.target_units.tolist())!r})"


def _deficit(dims: DimensionMatrix, target: np.ndarray) -> np.ndarray:
    """Small integer units ``d`` with ``target - d`` in the lattice of input units (closest-vector search)."""
    A = dims.matrix.astype(np.float64)
    guess, *_ = np.linalg.lstsq(A, target.astype(np.float64), rcond=None) if A.size else (np.zeros(0),)
    base = np.round(guess).astype(np.int64)
    best = target - dims.matrix @ base if A.size else target.copy()
    if dims.n_variables <= 8:
        for step in product((-1, 0, 1), repeat=dims.n_variables):
            candidate = target - dims.matrix @ (base + np.array(step, dtype=np.int64))
            if (np.abs(candidate).sum(), np.count_nonzero(candidate)) < (np.abs(best).sum(), np.count_nonzero(best)):
                best = candidate
    return best


def prefactor(units: Any, target_units: UnitsSpec, *, using: Sequence[str | int] | None = None) -> Prefactor:
    r"""The simplest monomial of the variables with the target's units.

    Solves :math:`A v = a_y` exactly over the rationals. Among the solutions (they differ by Pi groups) the one
    with the fewest variables is returned, then the one with integer exponents, then the smallest ones.

    Parameters
    ----------
    units : DimensionMatrix or anything :func:`dimension_matrix` accepts
    target_units : units spec
        The target's units (a pint string, pint unit, mapping, exponent vector or None).
    using : sequence of str or int, optional
        Only these variables may appear (e.g. to keep a constant out of the prefactor).

    Returns
    -------
    Prefactor

    Raises
    ------
    MissingDimensionalConstant
        If :math:`a_y` is not in the column span of ``A`` (restricted to ``using``): no product of powers of the
        inputs has the target's units. The message and the ``deficit`` attribute give the units of a constant
        that would close the gap.

    Examples
    --------
    >>> prefactor({"l": "m", "m": "kg", "g": "m/s^2", "theta0": "radian"}, "s").name
    'l^(1/2) / g^(1/2)'
    >>> bb = {"lambda": "m", "T": "K", "c": "m/s", "k": "J/K", "h": "J s"}
    >>> prefactor(bb, "W/m^3").name
    'c^2 h / lambda^5'
    >>> prefactor(bb, "W/m^3", using=["lambda", "T", "c", "k"]).name
    'T c k / lambda^4'
    """
    dims = dimension_matrix(units).with_base_units(target_units)
    target = dims.vector(target_units, what="target_units")
    allowed = list(range(dims.n_variables)) if using is None else sorted({dims.index(u) for u in using})
    kernel = reduced_kernel(dims)
    solution = sparsest_solution(dims.as_lists(), target.tolist(), allowed, kernel, dims.n_variables)
    if solution is None:
        sub = dims.select(allowed)
        deficit = _deficit(sub, target)
        in_span = solve_rational(dims.as_lists(), target.tolist()) is not None
        hint = (
            f" (the excluded variables {[dims.variables[i] for i in range(dims.n_variables) if i not in allowed]} "
            "could supply it)"
            if in_span and using is not None
            else ""
        )
        raise MissingDimensionalConstant(
            f"target_units {dims.format(target.tolist())} cannot be made from the inputs' units: the inputs "
            f"{list(sub.variables)} span only rank {sub.rank} of the {len(dims.base_units)} base units "
            f"{list(dims.base_units)} needed. A dimensional constant is missing: one with units "
            f"{dims.format(deficit.tolist())} (or that times any product of the inputs' units) closes the gap"
            f"{hint}. Add it as an input, or search for it with find_dimensional_constant.",
            target_units=target,
            deficit=deficit,
            base_units=dims.base_units,
        )
    exponents = tuple(Fraction(x) for x in solution)
    return Prefactor(exponents, format_monomial(exponents, dims.variables), target, dims)


def consistent_monomials(units: Any, degree: int, *, target_units: UnitsSpec = None) -> np.ndarray:
    r"""Exponents of the polynomial monomials (degree <= ``degree``) whose units equal the target's.

    These are exactly the monomials kept when the units algebra is enforced on a polynomial library
    (monomials are eigenfunctions of the diagonal generators with eigenvalue :math:`A\alpha`); each ratio of
    two of them is a product of Pi groups.

    Parameters
    ----------
    units : DimensionMatrix or anything :func:`dimension_matrix` accepts
    degree : int
    target_units : units spec, optional
        Default dimensionless.

    Returns
    -------
    ndarray of int64, shape (n_monomials, n_variables)
        In :class:`~symlie.PolynomialLibrary` order.

    Examples
    --------
    >>> consistent_monomials({"tau": "s", "l": "m", "g": "m/s^2"}, 3, target_units="m")
    array([[0, 1, 0],
           [2, 0, 1]])
    """
    from .._dictionaries import PolynomialLibrary

    dims = dimension_matrix(units).with_base_units(target_units)
    target = dims.vector(target_units, what="target_units")
    library = PolynomialLibrary(dims.n_variables, degree)
    exponents = library.exponents
    keep = np.all(exponents @ dims.matrix.T == target[None, :], axis=1)
    return np.array(exponents[keep])
