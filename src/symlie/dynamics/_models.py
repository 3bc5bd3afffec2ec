"""Reading polynomial vector-field models from the objects users hold (PySINDy models, estimators, pairs)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg as sla

from .._dictionaries import PolynomialLibrary
from .._errors import ShapeError, SymlieTypeError
from .._validation import as_float_array

__all__ = ["intersect", "polynomial_model", "symmetric_basis"]


def polynomial_model(model: Any) -> tuple[PolynomialLibrary, np.ndarray]:
    """``(library, W)`` with ``W`` of shape (n, len(library)) for a polynomial vector field.

    Accepts a ``(PolynomialLibrary, coef)`` pair, a :class:`~symlie.dynamics.System`, a fitted
    :class:`~symlie.dynamics.SymmetricSINDy`, or a fitted ``pysindy.SINDy`` whose feature library is a
    ``pysindy.PolynomialLibrary`` (its order is kept: :meth:`PolynomialLibrary.from_pysindy`).
    """
    if isinstance(model, tuple) and len(model) == 2 and isinstance(model[0], PolynomialLibrary):
        library, coef = model
    elif hasattr(model, "library_") and hasattr(model, "coef_"):
        library, coef = model.library_, model.coef_
    elif isinstance(getattr(model, "library", None), PolynomialLibrary) and hasattr(model, "coef"):
        library, coef = model.library, model.coef
    elif hasattr(model, "feature_library") and hasattr(model, "optimizer"):
        library = PolynomialLibrary.from_pysindy(model.feature_library)
        coef = model.optimizer.coef_
    else:
        raise SymlieTypeError(
            "model must be (PolynomialLibrary, coef), a System, a fitted SymmetricSINDy or a fitted pysindy.SINDy "
            f"with a PolynomialLibrary, got {type(model).__name__}"
        )
    W = as_float_array(coef, "coef", ndim=2)
    if W.shape[1] != len(library) or W.shape[0] != library.n_features:
        raise ShapeError(
            f"coef must have shape ({library.n_features}, {len(library)}) for a vector field over {library!r}, "
            f"got {W.shape}"
        )
    return library, W


def intersect(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Orthonormal basis of ``span(a) ∩ span(b)`` for orthonormal ``a`` (P, k) and ``b`` (P, j)."""
    if a.shape[1] == 0 or b.shape[1] == 0:
        return np.zeros((a.shape[0], 0))
    # w = a x lies in span(b) iff (I - b b^T) a x = 0
    N = sla.null_space(a - b @ (b.T @ a), rcond=1e-9)
    return a @ N


def symmetric_basis(library: PolynomialLibrary, symmetry: Any) -> np.ndarray:
    """Orthonormal basis (P, k) of the allowed vector fields over ``library`` (row-major ``W``).

    ``symmetry`` may be a LieAlgebra, a Group (continuous and/or discrete), a Rep, a
    :class:`~symlie.SymmetricSubspace` or :class:`~symlie.dynamics.ConstraintSubspace` (anything with a
    ``basis`` of ``P`` rows), a (P, k) array, or a list of these (their intersection).
    """
    from .._enforce import SymmetricSubspace, enforce
    from ._structure import ConstraintSubspace

    P = library.n_features * len(library)
    if isinstance(symmetry, list | tuple):
        if not symmetry:
            raise SymlieTypeError("symmetry must not be an empty list")
        basis = symmetric_basis(library, symmetry[0])
        for item in symmetry[1:]:
            basis = intersect(basis, symmetric_basis(library, item))
        return basis
    if isinstance(symmetry, SymmetricSubspace | ConstraintSubspace):
        basis = np.asarray(symmetry.basis)
    elif isinstance(symmetry, np.ndarray):
        basis = as_float_array(symmetry, "symmetry", ndim=2)
        basis = np.linalg.qr(basis)[0] if basis.shape[1] else basis
    else:
        basis = np.asarray(enforce(library, symmetry, output="vector_field").basis)
    if basis.shape[0] != P:
        raise ShapeError(f"symmetry basis must have P = n * L = {P} rows for {library!r}, got {basis.shape}")
    return basis
