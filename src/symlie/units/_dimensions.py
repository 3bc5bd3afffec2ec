"""Dimension matrices: the integer exponents of each variable's units over a set of base units.

Variable ``i`` with units ``prod_j u_j^{A_ji}`` is column ``i`` of the dimension matrix ``A`` (rows are base units).
Changing the unit of base ``j`` by a factor ``s_j > 0`` rescales ``x_i -> x_i prod_j s_j^{A_ji}``: the units group is
a torus of diagonal scalings whose Lie algebra is spanned by ``diag(A[j, :])``.

Units can be given as pint units or quantities, pint strings (``"m/s^2"``, ``"J s"``), mappings of base units to
exponents (``{"m": 1, "s": -2}``) or integer vectors over explicit ``base_units``. pint is imported only when a
string or pint object is parsed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from functools import cache, cached_property
from numbers import Integral, Real
from typing import Any

import numpy as np

from .._algebra import LieAlgebra
from .._errors import ShapeError, SymlieTypeError, SymlieValueError
from ._lattice import format_units, rank

__all__ = ["DimensionMatrix", "dimension_matrix", "target_action", "units_algebra"]

#: pint's base dimensions and the SI symbol used for each, in the order rows are listed.
SI_SYMBOLS: dict[str, str] = {
    "[mass]": "kg",
    "[length]": "m",
    "[time]": "s",
    "[temperature]": "K",
    "[current]": "A",
    "[substance]": "mol",
    "[luminosity]": "cd",
}
_SI_ORDER = tuple(SI_SYMBOLS.values())

UnitsSpec = Any  # str | pint.Unit | pint.Quantity | Mapping[str, int] | Sequence[int] | None


@cache
def _pint_registry() -> Any:
    try:
        import pint
    except ImportError as exc:  # pragma: no cover - pint is part of the units extra
        raise SymlieTypeError(
            "parsing unit strings needs pint: install the units extra (pip install 'symlie[units]') or give "
            "units as mappings such as {'m': 1, 's': -2}"
        ) from exc
    return pint.get_application_registry()


def _integer(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise SymlieTypeError(f"{what} must be a number, got {type(value).__name__}")
    number = float(value)
    if not number.is_integer():
        raise SymlieValueError(f"{what} must be an integer exponent, got {value}")
    return int(number)


def _parse(spec: UnitsSpec, what: str, base_units: Sequence[str] | None) -> dict[str, int]:
    """Exponents of one units spec as ``{base unit: exponent}`` (zero exponents dropped)."""
    if spec is None:
        return {}
    if isinstance(spec, str):
        if spec.strip() in ("", "1", "dimensionless"):
            return {}
        try:
            spec = _pint_registry().Unit(spec)
        except Exception as exc:
            raise SymlieValueError(f"{what}: pint cannot parse the units {spec!r}: {exc}") from None
    if hasattr(spec, "dimensionality"):
        out = {}
        for dim, exponent in dict(spec.dimensionality).items():
            symbol = SI_SYMBOLS.get(dim, dim.strip("[]"))
            out[symbol] = _integer(exponent, f"{what}: the exponent of {dim}")
        return {k: v for k, v in out.items() if v != 0}
    if isinstance(spec, Mapping):
        out = {}
        for key, exponent in spec.items():
            if not isinstance(key, str):
                raise SymlieTypeError(f"{what}: base-unit names must be strings, got {key!r}")
            out[key] = _integer(exponent, f"{what}: the exponent of {key!r}")
        return {k: v for k, v in out.items() if v != 0}
    if isinstance(spec, Sequence | np.ndarray):
        if base_units is None:
            raise SymlieTypeError(
                f"{what}: an exponent vector {list(spec)!r} needs base_units=, e.g. base_units=['kg', 'm', 's']"
            )
        values = list(spec)
        if len(values) != len(base_units):
            raise ShapeError(f"{what}: expected {len(base_units)} exponents for {list(base_units)}, got {len(values)}")
        return {b: _integer(e, f"{what}: the exponent of {b!r}") for b, e in zip(base_units, values) if e != 0}
    raise SymlieTypeError(
        f"{what} must be a unit string, a pint unit or quantity, a mapping of base units to exponents, or an "
        f"exponent vector; got {type(spec).__name__}"
    )


def _order_bases(seen: Sequence[str]) -> list[str]:
    si = [b for b in _SI_ORDER if b in seen]
    return si + [b for b in dict.fromkeys(seen) if b not in si]


class DimensionMatrix:
    r"""The integer dimension matrix :math:`A` of a list of variables (rows: base units, columns: variables).

    Build it with :func:`dimension_matrix`. Immutable, hashable, compared by value.

    Parameters
    ----------
    matrix : array_like of int, shape (n_base_units, n_variables)
    variables : sequence of str
    base_units : sequence of str

    Attributes
    ----------
    matrix : ndarray of int64, shape (n_base_units, n_variables)
        Read-only.
    variables : tuple of str
    base_units : tuple of str

    Examples
    --------
    >>> A = dimension_matrix({"l": {"m": 1}, "g": {"m": 1, "s": -2}, "tau": {"s": 1}})
    >>> A
    DimensionMatrix(l: m, g: m s^-2, tau: s)
    >>> A.matrix
    array([[ 1,  1,  0],
           [ 0, -2,  1]])
    >>> A.rank
    2
    """

    def __init__(self, matrix: Any, *, variables: Sequence[str], base_units: Sequence[str]) -> None:
        array = np.asarray(matrix)
        if array.ndim != 2:
            raise ShapeError(f"matrix must be 2-D (n_base_units, n_variables), got shape {array.shape}")
        if array.size and not np.all(np.mod(array, 1) == 0):
            raise SymlieValueError("matrix must hold integer exponents")
        array = array.astype(np.int64)
        variables = tuple(str(v) for v in variables)
        base_units = tuple(str(b) for b in base_units)
        if array.shape != (len(base_units), len(variables)):
            raise ShapeError(
                f"matrix of shape {array.shape} does not match {len(base_units)} base units and "
                f"{len(variables)} variables"
            )
        for label, names in (("variables", variables), ("base_units", base_units)):
            if len(set(names)) != len(names):
                raise SymlieValueError(f"{label} must be distinct, got {list(names)}")
        array.setflags(write=False)
        self._matrix = array
        self._variables = variables
        self._base_units = base_units

    @property
    def matrix(self) -> np.ndarray:
        return self._matrix

    @property
    def variables(self) -> tuple[str, ...]:
        return self._variables

    @property
    def base_units(self) -> tuple[str, ...]:
        return self._base_units

    @property
    def n_variables(self) -> int:
        return len(self._variables)

    @cached_property
    def rank(self) -> int:
        """Exact rank of the dimension matrix (number of independent base units the variables carry)."""
        return rank(self._matrix.tolist()) if self._matrix.size else 0

    def as_lists(self) -> list[list[int]]:
        """The matrix as nested Python ints (for the exact lattice routines)."""
        return [list(map(int, row)) for row in self._matrix]

    def index(self, name: str | int) -> int:
        """Column of a variable given by name or position."""
        if isinstance(name, Integral) and not isinstance(name, bool):
            if not 0 <= int(name) < self.n_variables:
                raise SymlieValueError(f"variable index {name} out of range for {self.n_variables} variables")
            return int(name)
        if name not in self._variables:
            raise SymlieValueError(f"unknown variable {name!r}; the variables are {list(self._variables)}")
        return self._variables.index(name)

    def units(self, name: str | int) -> str:
        """Readable units of one variable, e.g. ``'m s^-2'``."""
        return format_units(self._matrix[:, self.index(name)].tolist(), self._base_units)

    def format(self, exponents: Sequence[int | Fraction]) -> str:
        """Readable units of an exponent vector over :attr:`base_units`."""
        return format_units(list(exponents), self._base_units)

    def vector(self, spec: UnitsSpec, *, what: str = "units") -> np.ndarray:
        """Exponents of a units spec over :attr:`base_units`, shape (n_base_units,).

        Raises
        ------
        SymlieValueError
            If the units use a base unit that none of the variables carries (use :meth:`with_base_units`).
        """
        parsed = _parse(spec, what, self._base_units)
        extra = sorted(set(parsed) - set(self._base_units))
        if extra:
            raise SymlieValueError(
                f"{what} uses base units {extra} that none of the variables carries (variables use "
                f"{list(self._base_units)})"
            )
        return np.array([parsed.get(b, 0) for b in self._base_units], dtype=np.int64)

    def with_base_units(self, spec: UnitsSpec) -> DimensionMatrix:
        """The same variables with zero rows added for base units that ``spec`` uses and the matrix lacks."""
        parsed = _parse(spec, "units", self._base_units)
        extra = [b for b in _order_bases(list(parsed)) if b not in self._base_units]
        if not extra:
            return self
        bases = list(self._base_units) + extra
        if list(self._base_units) == _order_bases(list(self._base_units)):
            bases = _order_bases(bases)  # keep the canonical SI order when the matrix already uses it
        rows = np.array(
            [
                self._matrix[self._base_units.index(b)]
                if b in self._base_units
                else np.zeros(self.n_variables, dtype=np.int64)
                for b in bases
            ],
            dtype=np.int64,
        )
        return DimensionMatrix(rows.reshape(len(bases), self.n_variables), variables=self._variables, base_units=bases)

    def with_variable(self, name: str, spec: UnitsSpec) -> DimensionMatrix:
        """A new dimension matrix with one more variable (base units extended as needed)."""
        extended = self.with_base_units(spec)
        column = extended.vector(spec, what=f"units of {name!r}")
        return DimensionMatrix(
            np.hstack([extended.matrix, column[:, None]]),
            variables=extended.variables + (name,),
            base_units=extended.base_units,
        )

    def select(self, names: Sequence[str | int]) -> DimensionMatrix:
        """The dimension matrix of a subset of the variables (rows of unused base units kept)."""
        columns = [self.index(n) for n in names]
        return DimensionMatrix(
            self._matrix[:, columns], variables=[self._variables[c] for c in columns], base_units=self._base_units
        )

    def __repr__(self) -> str:
        body = ", ".join(f"{v}: {self.units(i)}" for i, v in enumerate(self._variables))
        return f"DimensionMatrix({body})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, DimensionMatrix)
            and self._variables == other._variables
            and self._base_units == other._base_units
            and np.array_equal(self._matrix, other._matrix)
        )

    def __hash__(self) -> int:
        return hash((self._variables, self._base_units, self._matrix.tobytes()))


def dimension_matrix(
    units: Any, *, names: Sequence[str] | None = None, base_units: Sequence[str] | None = None
) -> DimensionMatrix:
    r"""Build the dimension matrix of a list of variables.

    Parameters
    ----------
    units : mapping, sequence, array or DimensionMatrix
        * a mapping ``{variable name: units spec}`` (its order is the column order);
        * a sequence of units specs (names from ``names`` or ``x0, x1, ...``);
        * an integer array of shape (n_base_units, n_variables) together with ``base_units``;
        * a :class:`DimensionMatrix` (returned unchanged).

        A units spec is a pint string (``"m/s^2"``, ``"J s"``, ``"dimensionless"``), a pint unit or quantity, a
        mapping ``{"m": 1, "s": -2}``, an exponent vector over ``base_units``, or ``None`` (dimensionless).
    names : sequence of str, optional
        Variable names when ``units`` is not a mapping.
    base_units : sequence of str, optional
        Row order. By default the SI base units that occur (``kg, m, s, K, A, mol, cd`` in this order, pint
        dimensions are mapped to these symbols) followed by any other base unit in order of appearance.

    Returns
    -------
    DimensionMatrix

    Raises
    ------
    SymlieValueError
        If an exponent is not an integer, a spec uses a base unit outside ``base_units``, or names repeat.

    Examples
    --------
    >>> A = dimension_matrix({"tau": "s", "l": "m", "m": "kg", "g": "m/s^2", "theta0": "radian"})
    >>> A.base_units
    ('kg', 'm', 's')
    >>> A.units("g")
    'm s^-2'
    """
    if isinstance(units, DimensionMatrix):
        return units
    if isinstance(units, np.ndarray) and units.ndim == 2:
        if base_units is None:
            raise SymlieTypeError("units given as a 2-D exponent array need base_units= (one name per row)")
        n = units.shape[1]
        return DimensionMatrix(units, variables=names or [f"x{i}" for i in range(n)], base_units=base_units)
    if isinstance(units, Mapping):
        variables = [str(k) for k in units]
        specs = list(units.values())
        if names is not None:
            raise SymlieTypeError("names must not be given when units is a mapping (its keys are the names)")
    elif isinstance(units, Sequence) and not isinstance(units, str):
        specs = list(units)
        variables = list(names) if names is not None else [f"x{i}" for i in range(len(specs))]
        if len(variables) != len(specs):
            raise ShapeError(f"names has {len(variables)} entries but units has {len(specs)}")
    else:
        raise SymlieTypeError(
            f"units must be a mapping of variable names to units, a sequence of units or a DimensionMatrix; got "
            f"{type(units).__name__}"
        )
    parsed = [_parse(spec, f"units of {name!r}", base_units) for name, spec in zip(variables, specs)]
    if base_units is None:
        bases = _order_bases([b for p in parsed for b in p])
    else:
        bases = list(base_units)
        for name, p in zip(variables, parsed):
            extra = sorted(set(p) - set(bases))
            if extra:
                raise SymlieValueError(f"units of {name!r} use base units {extra} outside base_units={bases}")
    matrix = np.array([[p.get(b, 0) for p in parsed] for b in bases], dtype=np.int64).reshape(len(bases), -1)
    return DimensionMatrix(matrix, variables=variables, base_units=bases)


def _independent_rows(rows: np.ndarray) -> list[int]:
    """Indices of rows that are not combinations of earlier rows (exact)."""
    kept: list[int] = []
    for j in range(rows.shape[0]):
        if rank(rows[kept + [j]].tolist()) == len(kept) + 1:
            kept.append(j)
    return kept


def units_algebra(units: Any, *, target_units: UnitsSpec = None) -> LieAlgebra:
    r"""The Lie algebra of unit changes acting on the variables (and the target).

    Base unit ``j`` rescales variable ``i`` by :math:`s_j^{A_{ji}}`; its generator is the diagonal matrix
    :math:`\mathrm{diag}(A_{j,:})` (with the target's exponent appended when ``target_units`` is given). Base
    units whose row is a combination of earlier rows are skipped, so the basis is independent.

    Parameters
    ----------
    units : DimensionMatrix or anything :func:`dimension_matrix` accepts
    target_units : units spec, optional

    Returns
    -------
    LieAlgebra
        Linear and abelian, acting on ``R^n`` (``R^(n+1)`` with a target), named after the base units kept.

    Examples
    --------
    >>> alg = units_algebra({"l": "m", "g": "m/s^2", "tau": "s"})
    >>> alg.dim, alg.n, alg.name
    (2, 3, 'units(m, s)')
    """
    dims = dimension_matrix(units)
    rows = dims.matrix
    if target_units is not None:
        dims = dims.with_base_units(target_units)
        target = dims.vector(target_units, what="target_units")
        rows = np.hstack([dims.matrix, target[:, None]])
    kept = _independent_rows(rows)
    n = rows.shape[1]
    basis = np.array([np.diag(rows[j].astype(np.float64)) for j in kept]).reshape(len(kept), n, n)
    name = "units(" + ", ".join(dims.base_units[j] for j in kept) + ")"
    return LieAlgebra(basis, name=name)


def target_action(units: Any, target_units: UnitsSpec) -> np.ndarray:
    r"""How the generators of :func:`units_algebra` (without target) act on a target: ``(q, 1, 1)`` exponents.

    Generator ``k`` of ``units_algebra(units)`` is base unit ``j_k``; a target with units ``a_y`` scales by
    :math:`s^{a_{y, j_k}}`, so its output matrix is ``[[a_y[j_k]]]``. Together they make the action used by
    :func:`symlie.enforce` to keep exactly the monomials with the target's units.

    Parameters
    ----------
    units : DimensionMatrix or anything :func:`dimension_matrix` accepts
    target_units : units spec

    Returns
    -------
    ndarray of shape (q, 1, 1)

    Raises
    ------
    SymlieValueError
        If the target uses a base unit that no input carries (no monomial can match it).

    Examples
    --------
    >>> target_action({"l": "m", "g": "m/s^2", "tau": "s"}, "m").ravel().tolist()
    [1.0, 0.0]
    """
    dims = dimension_matrix(units)
    target = dims.vector(target_units, what="target_units")
    kept = _independent_rows(dims.matrix)
    return target[kept].astype(np.float64).reshape(len(kept), 1, 1)
