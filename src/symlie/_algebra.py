"""Lie algebras of vector fields: linear, affine and polynomial generators.

Every generator is a polynomial vector field ``v(x) = C theta(x)`` with ``C`` an ``(n, n_terms)`` coefficient
matrix over a :class:`~symlie.PolynomialLibrary` (the *field library*). Linear generators ``v(x) = A x`` use the
degree-1 monomials ``(x_0, ..., x_{n-1})``, so their coefficients are the matrices ``A``; affine generators
``v(x) = A x + b`` use ``(1, x_0, ..., x_{n-1})``, so their coefficients are ``[b | A]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from ._dictionaries import PolynomialLibrary, unique_exponents
from ._errors import ClosureError, ShapeError, SymlieTypeError, SymlieValueError
from ._validation import as_float_array, check_positive_int

__all__ = [
    "ClosureReport",
    "LieAlgebra",
]

_INDEPENDENCE_RTOL = 1e-10
_CLOSURE_RTOL = 1e-9


def _linear_library(n: int) -> PolynomialLibrary:
    return PolynomialLibrary(n, 1, include_bias=False)


def _affine_library(n: int) -> PolynomialLibrary:
    return PolynomialLibrary(n, 1, include_bias=True)


def _graded_sort(exponents: np.ndarray) -> np.ndarray:
    """Sort exponent rows by degree, then in combinations-with-replacement order (PySINDy's order)."""
    keys = [(int(r.sum()), tuple(np.repeat(np.arange(len(r)), r).tolist())) for r in exponents]
    order = sorted(range(len(exponents)), key=keys.__getitem__)
    return exponents[order]


@dataclass(frozen=True)
class ClosureReport:
    """Which brackets of basis elements fall outside the span of the basis.

    Attributes
    ----------
    closed : bool
        True when every bracket lies in the span (relative residual below ``tolerance``).
    max_residual : float
        Largest relative residual ``||[e_i, e_j] - P [e_i, e_j]|| / (||e_i|| ||e_j||)``.
    failures : list of (int, int, float)
        Pairs ``(i, j)`` with their residual where closure fails.
    tolerance : float
        The relative tolerance used.
    """

    closed: bool
    max_residual: float
    failures: list[tuple[int, int, float]]
    tolerance: float


class LieAlgebra:
    r"""A finite-dimensional Lie algebra of vector fields on :math:`\mathbb{R}^n`.

    Parameters
    ----------
    basis : array_like of shape (q, n, n_terms)
        Generator ``k`` is the vector field :math:`v_k(x) = C_k \theta(x)`. With ``library=None`` the layout
        is inferred: ``(q, n, n)`` linear matrices ``A`` or ``(q, n, n + 1)`` affine ``[b | A]``.
    library : PolynomialLibrary, optional
        The field library :math:`\theta` for polynomial vector fields.
    name : str, optional
        Used in ``repr``.
    require_closure : bool, default True
        Raise :class:`~symlie.ClosureError` if a bracket of generators leaves their span.

    Attributes
    ----------
    basis : ndarray of float64, shape (q, n, n_terms)
        Read-only generator coefficients.
    library : PolynomialLibrary
        The field library.

    Raises
    ------
    ShapeError
        If ``basis`` is not 3-D or does not match ``library``.
    SymlieValueError
        If the generators are linearly dependent or contain NaN/inf.
    ClosureError
        If ``require_closure`` and the span is not closed under the bracket.

    Examples
    --------
    >>> alg = LieAlgebra([[[0.0, -1.0], [1.0, 0.0]]], name="rotations")
    >>> alg.dim, alg.kind
    (1, 'linear')
    """

    def __init__(
        self,
        basis: Any,
        *,
        library: PolynomialLibrary | None = None,
        name: str | None = None,
        require_closure: bool = True,
    ) -> None:
        array = as_float_array(basis, "basis", ndim=3)
        q, n, n_terms = array.shape
        if library is None:
            if n_terms == n:
                library = _linear_library(n)
            elif n_terms == n + 1:
                library = _affine_library(n)
            else:
                raise ShapeError(
                    "basis must have shape (q, n, n) for linear generators or (q, n, n + 1) for affine "
                    f"[b | A] generators (or pass library= for polynomial fields), got {array.shape}"
                )
        elif not isinstance(library, PolynomialLibrary):
            raise SymlieTypeError(f"library must be a PolynomialLibrary, got {type(library).__name__}")
        if library.n_features != n or len(library) != n_terms:
            raise ShapeError(
                f"basis of shape {array.shape} does not match {library!r}: expected (q, {library.n_features}, "
                f"{len(library)})"
            )
        if q > 0:
            singular = np.linalg.svd(array.reshape(q, -1), compute_uv=False)
            if singular[-1] <= _INDEPENDENCE_RTOL * singular[0]:
                raise SymlieValueError(
                    f"the {q} generators in basis are linearly dependent (smallest singular value "
                    f"{singular[-1]:.2e} vs largest {singular[0]:.2e}); pass an independent set, e.g. "
                    "from LieAlgebra.subalgebra"
                )
        array.setflags(write=False)
        self._basis = array
        self._library = library
        self._name = name
        if require_closure:
            report = self.closure()
            if not report.closed:
                pairs = ", ".join(f"[{i},{j}] (residual {r:.1e})" for i, j, r in report.failures[:5])
                raise ClosureError(
                    f"the generators are not closed under the bracket: {pairs}"
                    f"{' ...' if len(report.failures) > 5 else ''}. Add the missing brackets, or pass "
                    "require_closure=False for a subspace that is not a subalgebra"
                )

    # ----------------------------------------------------------------------------------------------- data
    @property
    def basis(self) -> np.ndarray:
        return self._basis

    @property
    def library(self) -> PolynomialLibrary:
        return self._library

    @property
    def dim(self) -> int:
        return int(self._basis.shape[0])

    @property
    def n(self) -> int:
        """Dimension of the space the vector fields act on."""
        return int(self._basis.shape[1])

    @property
    def name(self) -> str:
        return self._name or f"LieAlgebra(dim={self.dim}, n={self.n}, kind={self.kind!r})"

    @property
    def kind(self) -> str:
        """``'linear'``, ``'affine'`` or ``'polynomial'``."""
        if self._library == _linear_library(self.n):
            return "linear"
        if self._library == _affine_library(self.n):
            return "affine"
        return "polynomial"

    @property
    def field_degree(self) -> int:
        """Largest degree of the generators' vector fields."""
        return self._library.degree

    @property
    def matrices(self) -> np.ndarray:
        """The linear parts ``A`` as an array of shape (q, n, n); raises for polynomial fields."""
        if self.kind == "linear":
            return self._basis
        if self.kind == "affine":
            return self._basis[:, :, 1:]
        raise SymlieTypeError(f"{self.name} has polynomial vector fields, which have no matrix form")

    def __repr__(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, LieAlgebra)
            and self._library == other._library
            and np.array_equal(self._basis, other._basis)
        )

    def __hash__(self) -> int:
        return hash((self._basis.shape, self._basis.tobytes(), hash(self._library)))

    # ------------------------------------------------------------------------------------ vector fields
    def vector_fields(self, X: Any) -> np.ndarray:
        r"""Evaluate every generator :math:`v_k(x_i)`.

        Parameters
        ----------
        X : array_like of shape (n_samples, n)

        Returns
        -------
        ndarray of shape (q, n_samples, n)
        """
        theta = self._library.evaluate(X)
        return np.einsum("kil,nl->kni", self._basis, theta)

    def field_jacobians(self, X: Any) -> np.ndarray:
        r"""Jacobians :math:`Dv_k(x_i)` of every generator.

        Parameters
        ----------
        X : array_like of shape (n_samples, n)

        Returns
        -------
        ndarray of shape (q, n_samples, n, n)
        """
        dtheta = self._library.jacobian(X)
        return np.einsum("kil,nlj->knij", self._basis, dtheta)

    # ------------------------------------------------------------------------------------------ bracket
    @cached_property
    def bracket_library(self) -> PolynomialLibrary:
        """Library holding every bracket of two fields of this algebra (degree ``2 d - 1``)."""
        table = _bracket_table(self._library)
        return table[1]

    def bracket(self, X: Any, Y: Any) -> np.ndarray:
        r"""Bracket of two elements given as coefficient arrays in the layout of :attr:`basis`.

        .. math:: [X, Y] = DX\,Y - DY\,X,

        which for linear fields is the matrix commutator ``X Y - Y X`` and for affine ``[b | A]`` fields the
        commutator of ``[[A, b], [0, 0]]``.

        Parameters
        ----------
        X, Y : array_like of shape (..., n, n_terms)
            Broadcast against each other.

        Returns
        -------
        ndarray of shape (..., n, len(bracket_library))
            Coefficients over :attr:`bracket_library`, which equals :attr:`library` for linear and affine
            algebras.
        """
        layout = (self.n, len(self._library))
        X = as_float_array(X, "X")
        Y = as_float_array(Y, "Y")
        for name, value in (("X", X), ("Y", Y)):
            if value.shape[-2:] != layout:
                raise ShapeError(f"{name} must have trailing shape {layout}, got {value.shape}")
        entries, library = _bracket_table(self._library)
        a, j, b, c, coef = entries
        # (DX Y)_i = sum_{a,j,b} X[i,a] alpha_aj Y[j,b] x^{alpha_a - e_j + alpha_b}
        forward = coef * X[..., :, a] * Y[..., j, b][..., None, :]
        backward = coef * Y[..., :, a] * X[..., j, b][..., None, :]
        shape = np.broadcast_shapes(X.shape[:-2], Y.shape[:-2]) + (self.n, len(library))
        out = np.zeros(shape)
        np.add.at(out, (..., c), np.broadcast_to(forward - backward, shape[:-1] + (len(c),)))
        return out

    def _in_bracket_library(self) -> np.ndarray:
        """The basis re-expressed over :attr:`bracket_library`, shape (q, n, len(bracket_library))."""
        library = self.bracket_library
        out = np.zeros((self.dim, self.n, len(library)))
        out[:, :, library.index(self._library.exponents)] = self._basis
        return out

    def structure_constants(self) -> np.ndarray:
        r"""Structure constants :math:`c_{ijk}` with :math:`[e_i, e_j] = \sum_k c_{ijk} e_k`.

        Returns
        -------
        ndarray of shape (q, q, q)

        Raises
        ------
        ClosureError
            If a bracket leaves the span (the constants would not exist).
        """
        report = self.closure()
        if not report.closed:
            raise ClosureError(f"{self.name} is not closed under the bracket; failures {report.failures[:5]}")
        coeffs, _ = self._bracket_coordinates()
        return coeffs

    def _bracket_coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """Least-squares coordinates of all brackets in the basis and the relative residual per pair."""
        q = self.dim
        brackets = self.bracket(self._basis[:, None], self._basis[None, :]).reshape(q * q, -1)
        span = self._in_bracket_library().reshape(q, -1)
        coeffs, *_ = np.linalg.lstsq(span.T, brackets.T, rcond=None)
        residual = np.linalg.norm(brackets - coeffs.T @ span, axis=1)
        norms = np.linalg.norm(span, axis=1)
        relative = residual / np.outer(norms, norms).reshape(-1)
        return coeffs.T.reshape(q, q, q), relative.reshape(q, q)

    def closure(self, *, rtol: float = _CLOSURE_RTOL) -> ClosureReport:
        """Check that brackets of basis elements stay in the span.

        Parameters
        ----------
        rtol : float, default 1e-9
            Relative tolerance on ``||[e_i, e_j] - proj||``.

        Returns
        -------
        ClosureReport
        """
        if self.dim == 0:
            return ClosureReport(True, 0.0, [], rtol)
        _, relative = self._bracket_coordinates()
        failures = [(int(i), int(j), float(relative[i, j])) for i, j in zip(*np.nonzero(relative > rtol)) if i < j]
        return ClosureReport(not failures, float(relative.max()), failures, rtol)

    # ------------------------------------------------------------------------------------- constructions
    def orthonormalize(self) -> LieAlgebra:
        """The same algebra with a Frobenius-orthonormal basis (Gram-Schmidt in the given order)."""
        q = self.dim
        if q == 0:
            return self
        flat = self._basis.reshape(q, -1)
        ortho, upper = np.linalg.qr(flat.T)
        ortho = ortho * np.sign(np.diag(upper))[None, :]
        return LieAlgebra(
            ortho.T.reshape(self._basis.shape), library=self._library, name=self._name, require_closure=False
        )

    def subalgebra(self, elements: Any, *, name: str | None = None) -> LieAlgebra:
        """The subalgebra spanned by ``elements`` (validated: independent and closed).

        Parameters
        ----------
        elements : array_like of shape (k, n, n_terms)
            Elements in the layout of :attr:`basis`.
        """
        array = as_float_array(elements, "elements", ndim=3)
        if array.shape[1:] != self._basis.shape[1:]:
            raise ShapeError(f"elements must have shape (k, {self.n}, {len(self._library)}), got {array.shape}")
        return LieAlgebra(array, library=self._library, name=name)

    def direct_sum(self, other: LieAlgebra) -> LieAlgebra:
        r"""The algebra :math:`\mathfrak{g}_1 \oplus \mathfrak{g}_2` acting on :math:`\mathbb{R}^{n_1+n_2}`.

        Generators of ``self`` move the first ``n_1`` coordinates and those of ``other`` the rest.
        """
        if not isinstance(other, LieAlgebra):
            raise SymlieTypeError(f"other must be a LieAlgebra, got {type(other).__name__}")
        n = self.n + other.n
        library = _joint_library([(self._library, 0), (other._library, self.n)], n)
        basis = np.concatenate(
            [_embed(self, [0], library, n), _embed(other, [self.n], library, n)],
            axis=0,
        )
        return LieAlgebra(basis, library=library, name=f"{self.name} ⊕ {other.name}", require_closure=False)

    def copies(self, k: int) -> LieAlgebra:
        """The same generator acting on ``k`` vectors at once: ``v(x_1, ..., x_k) = (v(x_1), ..., v(x_k))``."""
        k = check_positive_int(k, "k")
        n = k * self.n
        offsets = [c * self.n for c in range(k)]
        library = _joint_library([(self._library, o) for o in offsets], n)
        basis = _embed(self, offsets, library, n)
        return LieAlgebra(basis, library=library, name=f"{k}×{self.name}", require_closure=False)


def _joint_library(parts: list[tuple[PolynomialLibrary, int]], n: int) -> PolynomialLibrary:
    rows = []
    for library, offset in parts:
        shifted = np.zeros((len(library), n), dtype=np.int64)
        shifted[:, offset : offset + library.n_features] = library.exponents
        rows.append(shifted)
    return PolynomialLibrary.from_exponents(_graded_sort(unique_exponents(np.concatenate(rows))[0]))


def _embed(algebra: LieAlgebra, offsets: list[int], library: PolynomialLibrary, n: int) -> np.ndarray:
    """Generators acting identically on each block starting at ``offsets``; shape (q, n, len(library))."""
    out = np.zeros((algebra.dim, n, len(library)))
    width = algebra.n
    for offset in offsets:
        shifted = np.zeros((len(algebra.library), n), dtype=np.int64)
        shifted[:, offset : offset + width] = algebra.library.exponents
        out[:, offset : offset + width, library.index(shifted)] += algebra.basis
    return out


_BRACKET_TABLES: dict[PolynomialLibrary, tuple[tuple[np.ndarray, ...], PolynomialLibrary]] = {}


def _bracket_table(library: PolynomialLibrary) -> tuple[tuple[np.ndarray, ...], PolynomialLibrary]:
    """Sparse table of ``alpha_aj x^{alpha_a - e_j + alpha_b}`` for the bracket of fields over ``library``.

    Returns ``((a, j, b, c, coef), out_library)`` where monomial ``c`` of ``out_library`` receives
    ``coef * X[i, a] * Y[j, b]`` in ``(DX Y)_i``. Cached per library (libraries are immutable values).
    """
    if library in _BRACKET_TABLES:
        return _BRACKET_TABLES[library]
    exps = library.exponents
    n_terms, n = exps.shape
    a, j = np.nonzero(exps > 0)
    lowered = exps[a] - np.eye(n, dtype=np.int64)[j]
    products = lowered[:, None, :] + exps[None, :, :]  # (pairs, n_terms(b), n)
    a_all = np.repeat(a, n_terms)
    j_all = np.repeat(j, n_terms)
    b_all = np.tile(np.arange(n_terms), len(a))
    flat = products.reshape(-1, n)
    unique, _ = unique_exponents(np.concatenate([exps, flat]))
    out_library = PolynomialLibrary.from_exponents(_graded_sort(unique))
    c = out_library.index(flat)
    coef = exps[a_all, j_all].astype(np.float64)
    entry = ((a_all, j_all, b_all, c, coef), out_library)
    _BRACKET_TABLES[library] = entry
    return entry
