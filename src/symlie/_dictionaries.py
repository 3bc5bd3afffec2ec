"""Polynomial function libraries with exact derivatives.

A library is a finite list of monomials ``x^alpha = prod_i x_i^alpha_i`` given by an integer exponent matrix.
Models linear in their parameters are ``F(x) = W theta(x)`` with ``theta`` the vector of monomials.
"""

from __future__ import annotations

from itertools import combinations_with_replacement
from typing import Any

import numpy as np

from ._errors import ShapeError, SymlieTypeError, SymlieValueError
from ._validation import as_float_array, check_positive_int

__all__ = ["PolynomialLibrary"]


def _graded_exponents(n_features: int, degree: int, include_bias: bool) -> np.ndarray:
    """Exponents of all monomials of degree <= ``degree``, in PySINDy's order.

    The order is by total degree, then ``itertools.combinations_with_replacement`` of the variables, which is
    the order of ``pysindy.PolynomialLibrary`` and of ``sklearn.preprocessing.PolynomialFeatures``.
    """
    rows = []
    for total in range(0 if include_bias else 1, degree + 1):
        for combo in combinations_with_replacement(range(n_features), total):
            row = np.zeros(n_features, dtype=np.int64)
            np.add.at(row, list(combo), 1)
            rows.append(row)
    return np.array(rows, dtype=np.int64).reshape(-1, n_features)


class PolynomialLibrary:
    r"""A library of monomials :math:`\theta_l(x) = \prod_i x_i^{\alpha_{li}}` with exact derivatives.

    Parameters
    ----------
    n_features : int
        Number of input variables ``m``.
    degree : int
        Largest total degree ``d``.
    include_bias : bool, default True
        Whether the constant monomial is included.

    Attributes
    ----------
    exponents : ndarray of int64, shape (n_terms, n_features)
        One row of exponents per monomial. Read-only.

    Notes
    -----
    The default order (by degree, then combinations with replacement) equals ``pysindy.PolynomialLibrary`` and
    ``sklearn.preprocessing.PolynomialFeatures``; :meth:`from_pysindy` reads a fitted PySINDy library and
    :meth:`permutation_to` maps between any two orders of the same monomials.

    Examples
    --------
    >>> lib = PolynomialLibrary(n_features=2, degree=2)
    >>> lib.feature_names()
    ['1', 'x0', 'x1', 'x0^2', 'x0 x1', 'x1^2']
    >>> lib.evaluate([[2.0, 3.0]])
    array([[1., 2., 3., 4., 6., 9.]])
    """

    def __init__(self, n_features: int, degree: int, *, include_bias: bool = True) -> None:
        check_positive_int(n_features, "n_features")
        check_positive_int(degree, "degree", minimum=0)
        self._set_exponents(_graded_exponents(int(n_features), int(degree), bool(include_bias)))

    def _set_exponents(self, exponents: np.ndarray) -> None:
        exponents = np.array(exponents, dtype=np.int64)
        exponents.setflags(write=False)
        self._exponents = exponents
        self._index = {tuple(row): i for i, row in enumerate(exponents.tolist())}

    @classmethod
    def from_exponents(cls, exponents: Any) -> PolynomialLibrary:
        """Build a library from an explicit exponent matrix.

        Parameters
        ----------
        exponents : array_like of int, shape (n_terms, n_features)
            Non-negative, distinct rows.

        Returns
        -------
        PolynomialLibrary
        """
        array = np.asarray(exponents)
        if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
            raise ShapeError(f"exponents must be a non-empty 2-D array (n_terms, n_features), got {array.shape}")
        if not np.issubdtype(array.dtype, np.integer):
            if not np.all(np.mod(array, 1) == 0):
                raise SymlieTypeError("exponents must be integers")
        array = array.astype(np.int64)
        if np.any(array < 0):
            raise SymlieValueError("exponents must be non-negative")
        if len(np.unique(array, axis=0)) != len(array):
            raise SymlieValueError("exponents contain repeated monomials")
        library = cls.__new__(cls)
        library._set_exponents(array)
        return library

    @classmethod
    def from_pysindy(cls, library: Any) -> PolynomialLibrary:
        """Build the library matching a *fitted* ``pysindy.PolynomialLibrary`` (same monomials, same order).

        Parameters
        ----------
        library : pysindy.PolynomialLibrary
            A library on which ``fit`` has been called (it exposes ``powers_``).
        """
        powers = getattr(library, "powers_", None)
        if powers is None:
            raise SymlieTypeError(
                "library must be a fitted pysindy.PolynomialLibrary (call library.fit(x) first to set powers_)"
            )
        return cls.from_exponents(np.asarray(powers))

    @property
    def exponents(self) -> np.ndarray:
        return self._exponents

    @property
    def n_features(self) -> int:
        return int(self._exponents.shape[1])

    @property
    def degree(self) -> int:
        return int(self._exponents.sum(axis=1).max())

    def __len__(self) -> int:
        return int(self._exponents.shape[0])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PolynomialLibrary) and np.array_equal(self._exponents, other._exponents)

    def __hash__(self) -> int:
        return hash((self._exponents.shape, self._exponents.tobytes()))

    def __repr__(self) -> str:
        return f"PolynomialLibrary(n_terms={len(self)}, n_features={self.n_features}, degree={self.degree})"

    def index(self, exponents: Any) -> np.ndarray:
        """Positions of the given monomials in this library, ``-1`` where absent.

        Parameters
        ----------
        exponents : array_like of int, shape (k, n_features)

        Returns
        -------
        ndarray of int64, shape (k,)
        """
        rows = np.asarray(exponents, dtype=np.int64).reshape(-1, self.n_features)
        return np.array([self._index.get(tuple(r), -1) for r in rows.tolist()], dtype=np.int64)

    def permutation_to(self, other: PolynomialLibrary) -> np.ndarray:
        """Indices ``p`` with ``other.exponents[p] == self.exponents`` (the same monomials in another order)."""
        if len(other) != len(self) or other.n_features != self.n_features:
            raise SymlieValueError(f"{other!r} does not hold the same monomials as {self!r}")
        positions = other.index(self._exponents)
        if np.any(positions < 0):
            raise SymlieValueError(f"{other!r} does not hold the same monomials as {self!r}")
        return positions

    def feature_names(self, input_names: list[str] | None = None) -> list[str]:
        """Readable names such as ``'x0^2 x1'``; ``input_names`` replaces ``x0, x1, ...``."""
        names = input_names or [f"x{i}" for i in range(self.n_features)]
        if len(names) != self.n_features:
            raise SymlieValueError(f"input_names must have {self.n_features} entries, got {len(names)}")
        out = []
        for row in self._exponents:
            parts = [names[i] + (f"^{p}" if p > 1 else "") for i, p in enumerate(row) if p > 0]
            out.append(" ".join(parts) if parts else "1")
        return out

    def _check_points(self, X: Any) -> np.ndarray:
        return as_float_array(X, "X", shape=(None, self.n_features))

    def evaluate(self, X: Any) -> np.ndarray:
        r"""The library matrix :math:`\Theta(X)_{nl} = \prod_i X_{ni}^{\alpha_{li}}`.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_terms)
        """
        return _monomials(self._check_points(X), self._exponents)

    def jacobian(self, X: Any) -> np.ndarray:
        r"""Exact derivatives :math:`\partial_j \theta_l(x) = \alpha_{lj} x^{\alpha_l - e_j}`.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_terms, n_features)
        """
        X = self._check_points(X)
        n_terms, n_features = self._exponents.shape
        lowered = self._exponents[:, None, :] - np.eye(n_features, dtype=np.int64)[None, :, :]
        factor = self._exponents.astype(np.float64)  # alpha_lj, zero where the variable is absent
        lowered = np.maximum(lowered, 0).reshape(-1, n_features)
        unique, inverse = unique_exponents(lowered)
        values = _monomials(X, unique)[:, inverse]
        return values.reshape(len(X), n_terms, n_features) * factor[None, :, :]


def unique_exponents(exponents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct exponent rows and, for every input row, the index of its distinct row."""
    m = exponents.shape[1]
    if len(exponents) == 0:
        return exponents.reshape(0, m), np.zeros(0, dtype=np.int64)
    base = int(exponents.max()) + 1
    if m * np.log2(max(base, 2)) < 62:  # pack each row into one int64 key
        keys = exponents @ (base ** np.arange(m, dtype=np.int64))
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        return exponents[first], inverse.reshape(-1)
    unique, inverse = np.unique(exponents, axis=0, return_inverse=True)
    return unique, inverse.reshape(-1)


def _monomials(X: np.ndarray, exponents: np.ndarray) -> np.ndarray:
    """Evaluate monomials with the given exponents at the rows of X; shape (n_samples, n_terms)."""
    out = np.ones((X.shape[0], exponents.shape[0]))
    for i in range(exponents.shape[1]):
        powers = exponents[:, i]
        used = powers > 0
        if np.any(used):
            out[:, used] *= X[:, i : i + 1] ** powers[used][None, :]
    return out
