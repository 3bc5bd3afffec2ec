r"""Symmetries of point clouds: vanishing polynomials (level sets) and local-PCA tangent spaces.

A vector field :math:`v_\xi` is a symmetry of data lying on a submanifold :math:`\mathcal{M}` when it is tangent to
:math:`\mathcal{M}` at every data point. Two routes:

* **vanishing polynomials**: the polynomials :math:`p_j` of degree <= d with :math:`p_j(x_i) = 0` at every point
  (the null space of the library matrix :math:`\Theta(X)`) cut out :math:`\mathcal{M}`; :math:`v_\xi` is tangent
  iff :math:`\nabla p_j(x) \cdot v_\xi(x) = 0` on the data — the invariant-model Lie matrix of the model
  :math:`x \mapsto (p_1(x), ..., p_r(x))` at the data points.
* **tangent spaces**: local PCA over ``n_neighbors`` nearest neighbours gives a projector :math:`P_x` onto the
  estimated tangent space; the constraint is :math:`(I - P_x)\, v_\xi(x) = 0`, stacked over points. Local PCA is
  never exact, so the bar on the relative normal residual is calibrated between the PCA noise floor and the
  level of random candidate directions (see :func:`_tangent_route`).
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from ._action import make_action
from ._algebra import LieAlgebra
from ._calibrate import decide, normalise, spectrum
from ._dictionaries import PolynomialLibrary
from ._discovery_report import DiscoveryReport, _as_algebra, _closure
from ._errors import SpectralGapWarning, SymlieValueError
from ._validation import as_float_array, check_positive_int, make_rng

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


#: Random candidate directions whose relative normal residual sets the "not a symmetry" level.
N_RANDOM_DIRECTIONS = 64


def _tangent_route(
    X: np.ndarray, candidate: LieAlgebra, d: int, k: int, rng: np.random.Generator, rtol: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, str]:
    r"""Local-PCA tangent constraint with a calibrated bar.

    For a direction :math:`\xi` of the (orthonormal) candidate, the *relative normal residual*
    :math:`\rho(\xi)^2 = \sum_x \|(I - P_x) v_\xi(x)\|^2 / \sum_x \|v_\xi(x)\|^2` is the fraction of the field
    that leaves the estimated tangent spaces: the generalised eigenvalues of :math:`(G_N, G_V)`, the Gram matrices
    of the normal parts and of the fields. Two levels calibrate it:

    * the PCA noise floor :math:`\epsilon`: RMS over points of :math:`\sigma_{d+1}(x) / \sigma_d(x)`, the first
      normal over the last tangent local singular value (curvature and noise in a neighbourhood);
    * the random level :math:`\rho_{rand}`: the median of :math:`\rho` over random directions of the candidate.

    The bar is their geometric mean :math:`\sqrt{\epsilon\, \rho_{rand}}` (half-way in decades).

    Returns
    -------
    (rho ascending (q,), eigenvectors (q, q) as columns, normal-part matrix (N m, q), bar, rule text)
    """
    from scipy.linalg import eigh
    from scipy.spatial import cKDTree

    q = candidate.dim
    _, index = cKDTree(X).query(X, k=k)
    local = X[index] - X[index].mean(axis=1, keepdims=True)  # (N, k, m)
    _, sv, vt = np.linalg.svd(local, full_matrices=False)
    tangent = vt[:, :d, :]  # (N, d, m)
    V = candidate.vector_fields(X).transpose(1, 2, 0)  # (N, m, q)
    normal = (V - np.einsum("ndi,ndj,njq->niq", tangent, tangent, V)).reshape(-1, q)
    G_N, G_V = normal.T @ normal, V.reshape(-1, q).T @ V.reshape(-1, q)
    G_V = G_V + 1e-12 * max(float(np.trace(G_V)), 1e-300) * np.eye(q)  # fields vanishing on the data
    lam, W = eigh(G_N, G_V)
    rho = np.sqrt(np.clip(lam, 0.0, None))
    if rtol is not None:
        return rho, W, normal, float(rtol), f"fixed bar rtol={rtol:.2g} on the relative normal residual"
    floor = float(np.sqrt(np.mean((sv[:, d] / np.maximum(sv[:, d - 1], 1e-300)) ** 2))) if sv.shape[1] > d else 0.0
    xi = rng.standard_normal((N_RANDOM_DIRECTIONS, q))
    ratio = np.einsum("kq,qr,kr->k", xi, G_N, xi) / np.einsum("kq,qr,kr->k", xi, G_V, xi)
    random_level = float(np.median(np.sqrt(np.clip(ratio, 0.0, None))))
    bar = float(np.sqrt(max(floor, 1e-12) * random_level))
    if random_level < 1.5 * floor:
        warnings.warn(
            f"local-PCA noise floor {floor:.2f} is close to the random-direction level {random_level:.2f}: the "
            "tangent route cannot separate symmetries here; use more points, fewer neighbours or method='vanishing'",
            SpectralGapWarning,
            stacklevel=3,
        )
    rule = (
        f"calibrated bar {bar:.3f} = sqrt(PCA noise floor {floor:.3f} x random-direction level {random_level:.3f}) "
        f"on the relative normal residual rho = ||(I - P_x) v|| / ||v|| ({N_RANDOM_DIRECTIONS} random directions)"
    )
    return rho, W, normal, bar, rule


def discover_manifold(
    X: Any,
    algebra: Any,
    *,
    method: str = "vanishing",
    degree: int = 2,
    rtol: float | None = None,
    intrinsic_dim: int | None = None,
    n_neighbors: int | None = None,
    seed: int | np.random.Generator | None = 0,
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
        A fixed bar instead of the default one. Vanishing route: on the normalised singular values (default 1e-8,
        exact data). Tangent route: on the relative normal residual :math:`\rho` (default: calibrated, the
        geometric mean of the local-PCA noise floor and the level of random candidate directions; see
        :func:`_tangent_route`).
    intrinsic_dim : int, optional
        Tangent route: dimension of the manifold; default ``n - 1``.
    n_neighbors : int, optional
        Tangent route: neighbourhood size, default ``max(2 * n, 10)``.
    seed : int, Generator or None, default 0
        Tangent route: the random candidate directions.

    Returns
    -------
    DiscoveryReport
        ``residual`` is measured on the same points (there are no fresh points of a data set). Tangent route:
        ``singular_values`` are the relative normal residuals :math:`\rho` (decreasing) and ``residual`` is
        :math:`\rho` of each generator.

    Warns
    -----
    SpectralGapWarning
        Tangent route, when the noise floor is within a factor 1.5 of the random-direction level.

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
        rho, W, M, bar, rule = _tangent_route(X, candidate, d, k, make_rng(seed), rtol)
        decision = decide(rho[::-1].copy(), noise_floor=bar)
        dim = decision.dim
        coords = np.linalg.qr(W[:, :dim])[0].T if dim else np.zeros((0, q))  # orthonormal rows
        singular_values, threshold_rule = rho[::-1].copy(), f"local PCA tangent spaces (d={d}, {k} neighbours); {rule}"
        V = candidate.vector_fields(X).transpose(1, 2, 0).reshape(-1, q)
        norms = np.linalg.norm(V @ coords.T, axis=0)
        residual = np.linalg.norm(M @ coords.T, axis=0) / np.where(norms > 0, norms, 1.0)
        how = f"local PCA tangent spaces (d={d}, {k} neighbours)"
    else:
        raise SymlieValueError(f"method must be 'vanishing' or 'tangent', got {method!r}")
    if method == "vanishing":
        s, vt = spectrum(M)
        decision = decide(normalise(s), noise_floor=bar)
        dim = decision.dim
        coords = vt[q - dim :]
        singular_values, threshold_rule = normalise(s), f"{how}; bar {bar:.1e} x the largest singular value"
        residual = np.linalg.norm(M @ coords.T, axis=0) / (float(np.linalg.norm(M, 2)) or 1.0)
    generators = (coords @ candidate.basis.reshape(q, -1)).reshape((dim, *candidate.basis.shape[1:]))
    found = LieAlgebra(
        generators, library=candidate.library, name=f"Sym(data) ⊂ {candidate.name}", require_closure=False
    )
    closure, closure_mod, constants = _closure(found)
    return DiscoveryReport(
        dim=dim,
        generators=generators,
        coordinates=coords,
        singular_values=singular_values,
        threshold=decision.threshold,
        thresholds=decision.thresholds,
        threshold_rule=threshold_rule,
        margin_decades=decision.margin_decades,
        bootstrap_frequency=float("nan"),
        null_spectra=None,
        algebra=found,
        candidate=candidate,
        residual=residual,
        closure_residual=closure,
        closure_residual_mod_degree=closure_mod,
        structure_constants=constants,
        method=how,
        n_points=len(X),
        n_check=len(X),
        seconds=time.perf_counter() - start,
        model=None,
    )
