r"""Symmetries of point clouds: vanishing polynomials (level sets) and local-PCA tangent spaces.

A vector field :math:`v_\xi` is a symmetry of data lying on a submanifold :math:`\mathcal{M}` when it is tangent to
:math:`\mathcal{M}` at every data point. Two routes:

* **vanishing polynomials**: the polynomials :math:`p_j` of degree <= d with :math:`p_j(x_i) = 0` at every point
  (the null space of the library matrix :math:`\Theta(X)`) cut out :math:`\mathcal{M}`; :math:`v_\xi` is tangent
  iff :math:`\nabla p_j(x) \cdot v_\xi(x) = 0` on the data — the invariant-model Lie matrix of the model
  :math:`x \mapsto (p_1(x), ..., p_r(x))` at the data points.
* **tangent spaces**: local PCA over ``n_neighbors`` nearest neighbours gives a projector :math:`P_x` onto the
  estimated tangent space; the constraint is :math:`(I - P_x)\, v_\xi(x) = 0`, stacked over points.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ._action import make_action
from ._algebra import LieAlgebra
from ._calibrate import decide, normalise, spectrum
from ._dictionaries import PolynomialLibrary
from ._discover import DiscoveryReport, _as_algebra, _closure
from ._errors import SymlieValueError
from ._validation import as_float_array, check_positive_int

__all__ = ["discover_manifold", "vanishing_polynomials"]


def vanishing_polynomials(X: Any, degree: int, *, rtol: float = 1e-8) -> tuple[PolynomialLibrary, np.ndarray]:
    r"""Polynomials of degree <= ``degree`` that vanish on the points: the null space of :math:`\Theta(X)`.

    Parameters
    ----------
    X : array_like of shape (n_samples, m)
    degree : int
    rtol : float, default 1e-8
        Singular values of :math:`\Theta(X)` below ``rtol`` times the largest count as zero.

    Returns
    -------
    (PolynomialLibrary, ndarray of shape (r, L))
        The library and orthonormal coefficient rows of the ``r`` vanishing polynomials.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.linspace(0, 2 * np.pi, 30, endpoint=False)
    >>> lib, P = vanishing_polynomials(np.c_[np.cos(t), np.sin(t)], 2)
    >>> P.shape, (P / P[0, 0]).round(6).tolist() == [[1.0, 0.0, 0.0, -1.0, 0.0, -1.0]]  # 1 - x^2 - y^2
    ((1, 6), True)
    """
    X = as_float_array(X, "X", ndim=2)
    library = PolynomialLibrary(X.shape[1], check_positive_int(degree, "degree"))
    s, vt = spectrum(library.evaluate(X), fast=False)
    rank = int(np.sum(s > rtol * s[0])) if s[0] > 0 else 0
    return library, vt[rank:]


def _tangent_constraint(X: np.ndarray, fields: np.ndarray, d: int, k: int) -> np.ndarray:
    """Rows ``(I - P_x) V(x)`` of shape (n_samples * m, q) from local PCA over k nearest neighbours."""
    from scipy.spatial import cKDTree

    _, index = cKDTree(X).query(X, k=k)
    local = X[index] - X[index].mean(axis=1, keepdims=True)  # (N, k, m)
    _, _, vt = np.linalg.svd(local, full_matrices=False)
    tangent = vt[:, :d, :]  # (N, d, m)
    V = fields.transpose(1, 2, 0)  # (N, m, q)
    normal = V - np.einsum("ndi,ndj,njq->niq", tangent, tangent, V)
    return normal.reshape(-1, fields.shape[0])


def discover_manifold(
    X: Any,
    algebra: Any,
    *,
    method: str = "vanishing",
    degree: int = 2,
    rtol: float | None = None,
    intrinsic_dim: int | None = None,
    n_neighbors: int | None = None,
) -> DiscoveryReport:
    r"""Symmetries of a point cloud inside a candidate algebra (vector fields tangent to the data).

    Parameters
    ----------
    X : array_like of shape (n_samples, n)
    algebra : LieAlgebra or Group
    method : {"vanishing", "tangent"}, default "vanishing"
    degree : int, default 2
        Degree of the vanishing polynomials.
    rtol : float, optional
        Relative bar on the normalised singular values: default 1e-8 (vanishing; exact data) or 0.2 (tangent:
        the local-PCA error is of the order of the neighbourhood size times the curvature).
    intrinsic_dim : int, optional
        Tangent route: dimension of the manifold; default ``n - 1``.
    n_neighbors : int, optional
        Tangent route: neighbourhood size, default ``max(2 * n, 10)``.

    Returns
    -------
    DiscoveryReport
        ``residual`` is measured on the same points (there are no fresh points of a data set).

    Examples
    --------
    >>> import numpy as np, symlie as sl
    >>> t = np.random.default_rng(0).uniform(0, 2 * np.pi, 40)
    >>> discover_manifold(np.c_[np.cos(t), np.sin(t)], sl.gl(2)).dim
    1
    """
    from ._derivatives import _polynomial_model, lie_matrix

    start = time.perf_counter()
    candidate = _as_algebra(algebra).orthonormalize()
    X = as_float_array(X, "X", shape=(None, candidate.n))
    q = candidate.dim
    if method == "vanishing":
        library, P = vanishing_polynomials(X, degree, rtol=1e-8 if rtol is None else rtol)
        if len(P) == 0:
            raise SymlieValueError(
                f"no polynomial of degree <= {degree} vanishes on X; raise degree or use method='tangent'"
            )
        model = _polynomial_model(library, P)
        action = make_action(candidate, "invariant", n_features=candidate.n, n_outputs=len(P))
        M, _ = lie_matrix(model, action, X)
        bar = 1e-8 if rtol is None else rtol
        how = f"vanishing polynomials of degree <= {degree} ({len(P)})"
    elif method == "tangent":
        d = candidate.n - 1 if intrinsic_dim is None else check_positive_int(intrinsic_dim, "intrinsic_dim")
        k = max(2 * candidate.n, 10) if n_neighbors is None else check_positive_int(n_neighbors, "n_neighbors")
        if k > len(X):
            raise SymlieValueError(f"n_neighbors={k} exceeds the number of points {len(X)}")
        M = _tangent_constraint(X, candidate.vector_fields(X), d, k)
        bar = 0.2 if rtol is None else rtol
        how = f"local PCA tangent spaces (d={d}, {k} neighbours)"
    else:
        raise SymlieValueError(f"method must be 'vanishing' or 'tangent', got {method!r}")
    s, vt = spectrum(M)
    decision = decide(normalise(s), noise_floor=bar)
    dim = decision.dim
    coords = vt[q - dim :]
    generators = (coords @ candidate.basis.reshape(q, -1)).reshape((dim, *candidate.basis.shape[1:]))
    scale = float(np.linalg.norm(M, 2)) or 1.0
    found = LieAlgebra(
        generators, library=candidate.library, name=f"Sym(data) ⊂ {candidate.name}", require_closure=False
    )
    closure, closure_mod, constants = _closure(found)
    return DiscoveryReport(
        dim=dim,
        generators=generators,
        coordinates=coords,
        singular_values=normalise(s),
        threshold=decision.threshold,
        thresholds=decision.thresholds,
        threshold_rule=f"{how}; bar {bar:.1e} x the largest singular value",
        margin_decades=decision.margin_decades,
        bootstrap_frequency=float("nan"),
        null_spectra=None,
        algebra=found,
        candidate=candidate,
        residual=np.linalg.norm(M @ coords.T, axis=0) / scale,
        closure_residual=closure,
        closure_residual_mod_degree=closure_mod,
        structure_constants=constants,
        method=how,
        n_points=len(X),
        n_check=len(X),
        seconds=time.perf_counter() - start,
        model=None,
    )
