r"""``SymmetricOptimizer``: symmetry for PySINDy 2.x models, as an optimizer wrapper.

.. code-block:: python

    model = ps.SINDy(
        optimizer=SymmetricOptimizer(base=ps.STLSQ(threshold=0.5), symmetry=Z2, mode="enforce"),
        feature_library=ps.PolynomialLibrary(degree=2),
    )

PySINDy hands an optimizer only the library matrix :math:`\Theta`, so the wrapper reads the monomials from the
fitted ``feature_library`` when it is given (:meth:`symlie.PolynomialLibrary.from_pysindy`, same order), and
otherwise recognises a full polynomial library from :math:`\Theta` itself (checked column by column).
PySINDy's own unbiasing would refit each equation separately and break the symmetry, so the wrapper does its
unbiasing inside the symmetric subspace and turns PySINDy's off. Importing this module imports PySINDy.
"""

from __future__ import annotations

from math import comb
from typing import Any

import numpy as np
import pysindy as ps
from pysindy.optimizers import BaseOptimizer

from .._classical import gl
from .._dictionaries import PolynomialLibrary
from .._errors import SymlieTypeError, SymlieValueError
from .._operator import lie_derivative_operator
from ._estimator import PromotedSymmetry, promote_alphas
from ._fit import (
    LeastSquaresData,
    symmetric_stlsq,
)
from ._models import symmetric_basis
from ._select import bracket_tensor, select_symmetry

__all__ = ["SymmetricOptimizer"]


def _infer_library(Theta: np.ndarray, n: int) -> PolynomialLibrary:
    """The full polynomial library (PySINDy order) whose matrix is ``Theta``, checked on the data."""
    L = Theta.shape[1]
    for degree in range(1, 12):
        for bias in (True, False):
            if comb(n + degree, degree) - (0 if bias else 1) == L:
                library = PolynomialLibrary(n, degree, include_bias=bias)
                X = Theta[:, library.index(np.eye(n, dtype=np.int64))]
                if np.allclose(library.evaluate(X), Theta, rtol=1e-8, atol=1e-10 * np.abs(Theta).max()):
                    return library
    raise SymlieValueError(
        f"could not recognise the {L} library columns as a polynomial library in {n} variables; pass "
        "feature_library= (the pysindy.PolynomialLibrary given to ps.SINDy) to SymmetricOptimizer"
    )


class SymmetricOptimizer(BaseOptimizer):
    r"""A PySINDy optimizer that enforces or promotes a symmetry of the identified vector field.

    Parameters
    ----------
    base : pysindy optimizer, optional
        Supplies the sparsity: ``ps.STLSQ`` (default ``STLSQ(threshold=0.1)``) gives sequential thresholding
        (``threshold``, ridge ``alpha``, ``max_iter``) inside the symmetric subspace; any other optimizer is fit on
        the symmetric coordinates ``c`` (``w = B c``, sparsity in ``c``), enforce mode only.
    symmetry : LieAlgebra, Group, subspace, array or list, optional
        Imposed by ``mode="enforce"``.
    mode : {"enforce", "promote"}, default "enforce"
        ``"promote"``: not told the symmetry, the same selection as
        :func:`~symlie.dynamics.promote_then_enforce` (a calibrated test decides the symmetry dimension inside
        ``candidate``, then STLSQ with the discovered symmetry enforced); its record is ``symmetry_.selection``.
    candidate : LieAlgebra, optional
        For ``mode="promote"`` and for ``symmetry_`` (default ``gl(n)``).
    feature_library : pysindy.PolynomialLibrary or PolynomialLibrary, optional
        The library given to ``ps.SINDy`` (read after PySINDy fits it); inferred from the data when omitted.
    alpha : float, "auto" or "cv", default "auto"
        Nuclear-norm weight of the promoted fits that start ``mode="promote"`` (see
        :class:`~symlie.dynamics.SymmetricSINDy`).
    l1 : float, default 0
        l1 weight of the promoted fits.
    normalize_columns : bool, default False
        As in PySINDy (thresholds apply to the normalised coefficients).

    Attributes
    ----------
    coef_ : ndarray of shape (n, n_terms)
    library_ : PolynomialLibrary
    symmetry_ : PromotedSymmetry

    Examples
    --------
    >>> import pysindy as ps, symlie as sl
    >>> from symlie.dynamics import lorenz, simulate
    >>> t, X = simulate(lorenz(), 2000)
    >>> Z2 = sl.Group(None, [np.diag([-1.0, -1.0, 1.0])])
    >>> opt = SymmetricOptimizer(base=ps.STLSQ(threshold=0.5), symmetry=Z2)
    >>> model = ps.SINDy(optimizer=opt, feature_library=ps.PolynomialLibrary(degree=2)).fit(X, t=t)
    >>> int(np.count_nonzero(model.coefficients())), opt.symmetry_.dim
    (7, 0)
    """

    def __init__(
        self,
        base: Any = None,
        symmetry: Any = None,
        mode: str = "enforce",
        *,
        candidate: Any = None,
        feature_library: Any = None,
        alpha: Any = "auto",
        l1: float = 0.0,
        normalize_columns: bool = False,
    ) -> None:
        super().__init__(max_iter=int(getattr(base, "max_iter", 20)), normalize_columns=normalize_columns, unbias=False)
        self.base = base
        self.symmetry = symmetry
        self.mode = mode
        self.candidate = candidate
        self.feature_library = feature_library
        self.alpha = alpha
        self.l1 = l1

    def _library(self, n: int) -> PolynomialLibrary:
        lib = self.feature_library
        if lib is None:
            return _infer_library(np.asarray(self.Theta_), n)
        if isinstance(lib, PolynomialLibrary):
            return lib
        return PolynomialLibrary.from_pysindy(lib)

    def _reduce(self, x: np.ndarray, y: np.ndarray, **_: Any) -> None:
        if self.mode not in ("enforce", "promote"):
            raise SymlieValueError(f"mode must be 'enforce' or 'promote', got {self.mode!r}")
        base = self.base if self.base is not None else ps.STLSQ(threshold=0.1)
        x = np.asarray(x, dtype=np.float64)
        n = y.shape[1]
        library = self._library(n)
        if len(library) != x.shape[1]:
            raise SymlieValueError(f"feature_library has {len(library)} terms but the optimizer got {x.shape[1]}")
        raw = np.asarray(self.Theta_, dtype=np.float64)
        col = np.linalg.norm(raw, axis=0) / np.maximum(np.linalg.norm(x, axis=0), 1e-300)  # 1 unless normalised
        scale = np.tile(col, n)  # w_normalised = scale * w
        data = LeastSquaresData.from_data(x, y)
        candidate = self.candidate if self.candidate is not None else gl(n)
        operator = lie_derivative_operator(library, candidate, "vector_field", points="exact")
        threshold = float(getattr(base, "threshold", 0.0))
        alpha_used, cv, selection = None, None, None
        if self.mode == "enforce":
            if self.symmetry is None:
                raise SymlieValueError("mode='enforce' needs symmetry= (a LieAlgebra, Group or subspace)")
            B = symmetric_basis(library, self.symmetry)
            B = np.linalg.qr(scale[:, None] * B)[0] if B.shape[1] else B
            if isinstance(base, ps.STLSQ):
                ridge = float(base.alpha) / len(x)
                W = symmetric_stlsq(data, B, threshold=threshold, ridge=ridge, max_iter=base.max_iter)[0]
            else:
                if not hasattr(base, "fit"):
                    raise SymlieTypeError(f"base must be a pysindy optimizer, got {type(base).__name__}")
                A = np.kron(np.eye(n), x) @ B
                base.fit(A, y.T.reshape(-1, 1))
                W = (B @ np.asarray(base.coef_).reshape(-1)).reshape(n, -1)
        else:  # the same promote-then-enforce selection as SymmetricSINDy, in normalised coefficients
            scaled = _Scaled(operator, scale)
            alphas, cv = promote_alphas(self.alpha, x, y, scaled, threshold, self.l1)
            selection = select_symmetry(
                x, y, bracket_tensor(scaled), candidate, threshold=threshold, alphas=alphas, l1=self.l1
            )
            W, alpha_used = selection.coef, selection.alpha
        self.coef_ = W
        self.history_.append(W)
        self.library_ = library
        unscaled = (W / scale.reshape(n, -1)).reshape(-1)
        self.symmetry_ = PromotedSymmetry.of(operator, unscaled, candidate, alpha_used, cv, selection)


class _Scaled:
    """An operator in normalised coordinates: ``M(w) = M(w_normalised / scale)``."""

    def __init__(self, operator: Any, scale: np.ndarray) -> None:
        import scipy.sparse as sp

        self.matrix = sp.csr_matrix(operator.matrix) @ sp.diags(1.0 / scale)
        self.n_generators = operator.n_generators
        self.n_params = operator.n_params
