"""Exact integer and rational linear algebra for dimension matrices.

Dimension matrices are small integer matrices, so everything here uses Python integers and
:class:`fractions.Fraction` (no floating point): the integer kernel lattice by column Hermite reduction, lattice
reduction (LLL) for short basis vectors, exact rational solves, and readable names of monomials.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from itertools import combinations

__all__ = [
    "format_monomial",
    "format_units",
    "integer_kernel",
    "lll_reduce",
    "rank",
    "solve_rational",
    "sparsest_solution",
]

Vector = list[int]
Matrix = list[list[int]]

#: Subsets of columns tried by :func:`sparsest_solution` before it falls back to a reduced solution.
SUBSET_LIMIT = 20000


def _dot(u: Sequence[Fraction | int], v: Sequence[Fraction | int]) -> Fraction:
    return Fraction(sum(a * b for a, b in zip(u, v)))


def rank(matrix: Matrix) -> int:
    """Rank of an integer matrix by exact fraction-free elimination."""
    rows = [[Fraction(x) for x in row] for row in matrix]
    n_cols = len(rows[0]) if rows else 0
    r = 0
    for col in range(n_cols):
        pivot = next((i for i in range(r, len(rows)) if rows[i][col] != 0), None)
        if pivot is None:
            continue
        rows[r], rows[pivot] = rows[pivot], rows[r]
        for i in range(r + 1, len(rows)):
            if rows[i][col] != 0:
                factor = rows[i][col] / rows[r][col]
                rows[i] = [a - factor * b for a, b in zip(rows[i], rows[r])]
        r += 1
    return r


def integer_kernel(matrix: Matrix, n_columns: int) -> list[Vector]:
    r"""A basis of the lattice :math:`\ker A \cap \mathbb{Z}^n` (unreduced).

    Column operations with a unimodular ``U`` bring ``A`` to echelon form ``A U = [B | 0]``; the columns of ``U``
    behind the zero block span every integer solution of ``A v = 0`` (they form a basis because ``U`` is
    invertible over the integers). The lattice is saturated, so every basis vector has coprime entries.

    Parameters
    ----------
    matrix : list of list of int, shape (k, n)
    n_columns : int
        ``n`` (needed when ``k = 0``).

    Returns
    -------
    list of list of int
        ``n - rank(A)`` vectors of length ``n``.
    """
    work = [list(map(int, row)) for row in matrix]
    unimodular = [[int(i == j) for j in range(n_columns)] for i in range(n_columns)]

    def swap(a: int, b: int) -> None:
        for rows in (work, unimodular):
            for row in rows:
                row[a], row[b] = row[b], row[a]

    def subtract(target: int, source: int, q: int) -> None:
        for rows in (work, unimodular):
            for row in rows:
                row[target] -= q * row[source]

    pivot = 0
    for i in range(len(work)):
        while pivot < n_columns:
            nonzero = [j for j in range(pivot, n_columns) if work[i][j] != 0]
            if not nonzero:
                break
            smallest = min(nonzero, key=lambda j: abs(work[i][j]))
            swap(pivot, smallest)
            done = True
            for j in range(pivot + 1, n_columns):
                if work[i][j] != 0:
                    subtract(j, pivot, work[i][j] // work[i][pivot])
                    done = done and work[i][j] == 0
            if done:
                break
        if pivot < n_columns and work[i][pivot] != 0:
            pivot += 1
    return [[unimodular[r][c] for r in range(n_columns)] for c in range(pivot, n_columns)]


def _gram_schmidt(basis: list[Vector]) -> tuple[list[list[Fraction]], list[list[Fraction]]]:
    orthogonal: list[list[Fraction]] = []
    mu = [[Fraction(0)] * len(basis) for _ in basis]
    for i, vector in enumerate(basis):
        current = [Fraction(x) for x in vector]
        for j in range(i):
            mu[i][j] = _dot(vector, orthogonal[j]) / _dot(orthogonal[j], orthogonal[j])
            current = [a - mu[i][j] * b for a, b in zip(current, orthogonal[j])]
        orthogonal.append(current)
    return orthogonal, mu


def lll_reduce(basis: list[Vector], *, delta: Fraction = Fraction(99, 100)) -> list[Vector]:
    r"""Lenstra-Lenstra-Lovász reduction of an integer lattice basis, in exact arithmetic.

    The returned basis spans the same lattice with short, nearly orthogonal vectors: it is size reduced
    (:math:`|\mu_{ij}| \le 1/2`) and satisfies the Lovász condition with parameter ``delta``.

    Parameters
    ----------
    basis : list of list of int
        Linearly independent vectors.
    delta : Fraction, default 99/100

    Returns
    -------
    list of list of int
    """
    b = [list(map(int, v)) for v in basis]
    k = len(b)
    i = 1
    while i < k:
        for j in range(i - 1, -1, -1):
            _, mu = _gram_schmidt(b)
            q = round(mu[i][j])
            if q:
                b[i] = [x - q * y for x, y in zip(b[i], b[j])]
        orthogonal, mu = _gram_schmidt(b)
        if _dot(orthogonal[i], orthogonal[i]) >= (delta - mu[i][i - 1] ** 2) * _dot(
            orthogonal[i - 1], orthogonal[i - 1]
        ):
            i += 1
        else:
            b[i], b[i - 1] = b[i - 1], b[i]
            i = max(i - 1, 1)
    return b


def solve_rational(matrix: Matrix, rhs: Sequence[int | Fraction]) -> list[Fraction] | None:
    """One exact solution of ``A v = b`` over the rationals, or ``None`` when ``b`` is outside the column span.

    Free variables are set to zero, so the solution is supported on pivot columns.
    """
    k = len(matrix)
    n = len(matrix[0]) if k else 0
    rows = [[Fraction(x) for x in row] + [Fraction(b)] for row, b in zip(matrix, rhs)]
    pivots: list[int] = []
    r = 0
    for col in range(n):
        pivot = next((i for i in range(r, k) if rows[i][col] != 0), None)
        if pivot is None:
            continue
        rows[r], rows[pivot] = rows[pivot], rows[r]
        rows[r] = [x / rows[r][col] for x in rows[r]]
        for i in range(k):
            if i != r and rows[i][col] != 0:
                factor = rows[i][col]
                rows[i] = [a - factor * b for a, b in zip(rows[i], rows[r])]
        pivots.append(col)
        r += 1
    if any(rows[i][n] != 0 for i in range(r, k)):
        return None
    solution = [Fraction(0)] * n
    for i, col in enumerate(pivots):
        solution[col] = rows[i][n]
    return solution


def _score(solution: Sequence[Fraction]) -> tuple[int, int, Fraction, Fraction]:
    support = sum(1 for x in solution if x != 0)
    fractional = sum(1 for x in solution if x.denominator != 1)
    total = sum((abs(x) for x in solution), Fraction(0))
    return support, fractional, max((abs(x) for x in solution), default=Fraction(0)), total


def sparsest_solution(
    matrix: Matrix, rhs: Sequence[int], allowed: Sequence[int], kernel: list[Vector], n_columns: int
) -> list[Fraction] | None:
    """The simplest rational solution of ``A v = b`` using only the ``allowed`` columns.

    Simplest means, in order: fewest non-zero entries, fewest non-integer entries, smallest largest entry,
    smallest sum of absolute entries, then earliest columns. Basic solutions (supported on independent columns)
    are enumerated exactly; with more than :data:`SUBSET_LIMIT` subsets one solution is size-reduced against the
    ``kernel`` lattice instead.

    Returns
    -------
    list of Fraction or None
        ``None`` when ``b`` is not in the span of the allowed columns.
    """
    n = n_columns
    if not matrix:  # no base units: everything is dimensionless
        return [Fraction(0)] * n
    sub = [[row[j] for j in allowed] for row in matrix]
    base = solve_rational(sub, rhs) if allowed else None
    if base is None:
        if not allowed and all(b == 0 for b in rhs):
            return [Fraction(0)] * n
        return None

    def lift(partial: Sequence[Fraction], columns: Sequence[int]) -> list[Fraction]:
        out = [Fraction(0)] * n
        for value, col in zip(partial, columns):
            out[allowed[col]] = value
        return out

    r = rank(sub) if sub else 0
    best = lift(base, range(len(allowed)))
    best_key = (_score(best), [i for i, x in enumerate(best) if x != 0])
    count = 0
    for size in range(0, r + 1):
        for subset in combinations(range(len(allowed)), size):
            count += 1
            if count > SUBSET_LIMIT:
                return reduce_against(best, kernel)
            columns = [[row[j] for j in subset] for row in sub]
            partial = solve_rational(columns, rhs) if subset else (None if any(rhs) else [])
            if partial is None:
                continue
            candidate = lift(partial, subset)
            key = (_score(candidate), [i for i, x in enumerate(candidate) if x != 0])
            if key < best_key:
                best, best_key = candidate, key
    return best


def reduce_against(solution: list[Fraction], kernel: list[Vector]) -> list[Fraction]:
    """Size-reduce a solution by integer multiples of kernel vectors (Babai rounding, exact)."""
    if not kernel:
        return solution
    orthogonal, _ = _gram_schmidt(kernel)
    out = list(solution)
    for j in range(len(kernel) - 1, -1, -1):
        q = round(_dot(out, orthogonal[j]) / _dot(orthogonal[j], orthogonal[j]))
        out = [a - q * b for a, b in zip(out, kernel[j])]
    return out


def _power(name: str, exponent: Fraction) -> str:
    if exponent == 1:
        return name
    if exponent.denominator == 1:
        return f"{name}^{exponent.numerator}"
    return f"{name}^({exponent.numerator}/{exponent.denominator})"


def format_monomial(exponents: Sequence[int | Fraction], names: Sequence[str]) -> str:
    """A product of powers as ``'tau^2 g / l'`` or ``'h c / (lambda k T)'``; ``'1'`` for the empty product."""
    values = [Fraction(e) for e in exponents]
    numerator = [_power(n, e) for n, e in zip(names, values) if e > 0]
    denominator = [_power(n, -e) for n, e in zip(names, values) if e < 0]
    top = " ".join(numerator) if numerator else "1"
    if not denominator:
        return top
    bottom = denominator[0] if len(denominator) == 1 else "(" + " ".join(denominator) + ")"
    return f"{top} / {bottom}"


def format_units(exponents: Sequence[int | Fraction], names: Sequence[str]) -> str:
    """Units with signed exponents, e.g. ``'kg m^2 s^-1'``; ``'dimensionless'`` for the empty product."""
    parts = []
    for name, e in zip(names, exponents):
        e = Fraction(e)
        if e == 0:
            continue
        if e == 1:
            parts.append(name)
        elif e.denominator == 1:
            parts.append(f"{name}^{e.numerator}")
        else:
            parts.append(f"{name}^({e.numerator}/{e.denominator})")
    return " ".join(parts) if parts else "dimensionless"
