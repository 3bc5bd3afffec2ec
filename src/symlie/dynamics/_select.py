r"""Promote, then enforce: discover the symmetry dimension of noisy ODE data and refit inside it.

The pipeline (:func:`promote_then_enforce`) has four steps.

1. **Promote** (reweighted): :math:`\min_w \tfrac{1}{2N}\|\Theta W^\top - \dot X\|_F^2 + \alpha\|\mathcal M(w)
   P_k\|_*` with :func:`symlie.promote`, repeated ``n_reweight`` times with
   :math:`P_{k+1} = \sigma_1 (\mathcal M_k^\top \mathcal M_k + \delta^2 I)^{-1/2}` (an IRLS / log-det heuristic):
   directions the data clearly break (e.g. the scaling ``I`` of ``gl(n)``, broken by any nonlinear term) stop
   being penalised, nearly-null ones are pushed to zero.
2. **Propose** nested subalgebras: the ``d`` smallest right singular vectors of :math:`\mathcal M(w)` for
   ``d = 1, 2, ...``. The space of fields commuting with a generator jumps in dimension at the true generators
   (a direction a few degrees off commutes with far fewer fields), so each proposal is **snapped**: fit inside the
   *approximate* commuting subspace (singular values of :math:`[\mathcal M_{:, \xi_1}; \dots]` below
   a tolerance ``snap_rtols`` of the largest), re-read the directions from that fit, and finish with the exact subspace.
3. **Decide the dimension** by blocked cross-validation of the enforced fits against the noise: the held-out
   derivative error of each proposal; the largest ``d`` within one standard error of the best is chosen (the
   data do not reject it), and the **confidence** is the fraction of fold-bootstrap resamples that choose the same
   ``d``. The equivalent cut in the promoted spectrum is reported as ``threshold``.
4. **Enforce**: :func:`symmetric_stlsq` inside the fields commuting with the chosen subalgebra (every iterate
   exactly symmetric); ``d = 0`` is plain STLSQ.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._classical import gl
from .._dictionaries import PolynomialLibrary
from .._errors import ConvergenceWarning, SymlieValueError
from .._operator import lie_derivative_operator
from .._promote import PromoteResult, promote
from .._validation import as_float_array, check_positive_int, make_rng
from ._fit import LeastSquaresData, symmetric_stlsq

__all__ = ["SymmetrySelection", "promote_then_enforce"]

_EXACT_RTOL = 1e-9  # relative singular value below which a commuting direction is exact
_ROUNDING = 1e-10  # relative held-out errors this close count as equal (noise-free data)


@dataclass(frozen=True)
class SymmetrySelection:
    r"""Outcome of :func:`promote_then_enforce`.

    Attributes
    ----------
    coef : ndarray of shape (n, L)
        The final fit, exactly symmetric under ``generators`` (STLSQ inside their commuting fields).
    dim : int
        Discovered symmetry dimension inside the candidate algebra.
    generators : ndarray of shape (dim, q)
        Coefficients of the discovered generators in the candidate's basis (orthonormal rows).
    matrices : ndarray of shape (dim, ...)
        The generators as elements (``generators @ candidate.basis``).
    singular_values : ndarray of shape (q,)
        Spectrum of :math:`\mathcal M(w)` of the promoted fit (normalised by its largest, decreasing).
    threshold : float
        The relative cut in ``singular_values`` equivalent to the chosen dimension (geometric mean of the two
        singular values around it).
    confidence : float
        Fraction of fold-bootstrap resamples of the cross-validation errors that choose the same ``dim``.
    alpha : float
        The promotion weight whose proposals won.
    promoted_coef : ndarray of shape (n, L)
    cv : dict
        ``dims``, ``alphas``, ``mean_error``, ``standard_error`` of every proposal (``dims[0] = 0`` is plain STLSQ).
    """

    coef: np.ndarray
    dim: int
    generators: np.ndarray
    matrices: np.ndarray
    singular_values: np.ndarray
    threshold: float
    confidence: float
    alpha: float
    promoted_coef: np.ndarray
    cv: dict = field(repr=False)


class _Weighted:
    """Operator with the generator basis changed by ``P`` (q, q): :math:`\\mathcal M(w) \\mapsto \\mathcal M(w) P`."""

    def __init__(self, tensor: np.ndarray, P: np.ndarray | None) -> None:
        T = tensor if P is None else np.einsum("rqp,qk->rkp", tensor, P)
        self.matrix = T.reshape(-1, T.shape[2])
        self.n_generators = T.shape[1]


def _spectrum(tensor: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Singular values (decreasing) and right singular vectors (rows) of :math:`\\mathcal M(w)`."""
    _, s, vt = np.linalg.svd(np.einsum("rqp,p->rq", tensor, w.reshape(-1)))
    return s, vt


def _commuting(tensor: np.ndarray, generators: np.ndarray, rtol: float) -> np.ndarray:
    """Orthonormal basis (P, k) of the fields whose brackets with ``generators`` (d, q) are below ``rtol``."""
    A = np.einsum("rqp,dq->rdp", tensor, generators).reshape(-1, tensor.shape[2])
    _, s, vt = np.linalg.svd(A)
    rank = int(np.sum(s > rtol * s[0])) if len(s) and s[0] > 0 else 0
    return vt[rank:].T


def _reweighted_promote(
    data: LeastSquaresData, tensor: np.ndarray, base: np.ndarray, alpha: float, n_reweight: int, tol: float
) -> np.ndarray:
    """Reweighted promotion over ``w = base @ c``; returns ``w`` (P,)."""
    restricted = np.einsum("rqp,pk->rqk", tensor, base)
    design, targets = data.design() @ base, data.targets()
    P: np.ndarray | None = None
    result: PromoteResult | None = None
    for _ in range(n_reweight):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # an inexact inner solve only moves the weights
            result = promote(_Weighted(restricted, P), design, targets, alpha=alpha, tol=tol, warm_start=result)
        s, vt = _spectrum(restricted, result.coef)
        delta = 1e-2 * s[0] if s[0] > 0 else 1.0
        P = (vt.T / np.sqrt(s**2 + delta**2)) @ vt * max(s[0], 1e-300)
    if result is None:  # pragma: no cover (n_reweight >= 1 is checked by the caller)
        raise SymlieValueError("n_reweight must be >= 1")
    return base @ result.coef


def _alpha_scale(data: LeastSquaresData, tensor: np.ndarray) -> float:
    r"""Data loss at ``w = 0`` over the nuclear norm of the least-squares fit: :math:`\alpha` in units of signal."""
    w, *_ = np.linalg.lstsq(data.design(), data.targets(), rcond=None)
    penalty = float(np.sum(_spectrum(tensor, w)[0]))
    return 0.5 * float(np.sum(data.targets() ** 2)) / max(penalty, 1e-300)


def _complement(generators: np.ndarray, q: int) -> np.ndarray:
    """Orthonormal basis (q, q - d) of the generator coefficients orthogonal to ``generators`` (d, q)."""
    if len(generators) == 0:
        return np.eye(q)
    _, s, vt = np.linalg.svd(generators)
    return vt[int(np.sum(s > 1e-12)) :].T


def _snap(
    data: LeastSquaresData,
    tensor: np.ndarray,
    fixed: np.ndarray,
    base: np.ndarray,
    direction: np.ndarray,
    threshold: float,
    snap_rtol: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Snap a new generator ``direction`` (q,) next to the exact ``fixed`` ones (commuting subspace ``base``).

    Fit inside the fields that *nearly* commute with ``direction`` (relative singular values below
    ``snap_rtol``), re-read the least-broken direction outside ``fixed`` from that fit, repeat, and finish with
    the exactly commuting fields.
    """
    complement = _complement(fixed, tensor.shape[1])
    restricted = np.einsum("rqp,pk->rqk", tensor, base)
    W = np.zeros(base.shape[0])
    basis, used = base, direction
    for rtol in (snap_rtol, snap_rtol, snap_rtol, _EXACT_RTOL):
        used = direction
        basis = base @ _commuting(restricted, used[None, :], rtol)
        W, _ = symmetric_stlsq(data, basis, threshold=threshold)
        M = np.einsum("rqp,p->rq", tensor, W.reshape(-1)) @ complement
        direction = complement @ np.linalg.svd(M)[2][-1]
    return np.vstack([fixed, used[None, :]]), basis, W.reshape(-1)


def _held_out(
    Theta: np.ndarray, Xdot: np.ndarray, basis: np.ndarray | None, folds: list[np.ndarray], threshold: float
) -> np.ndarray:
    """Relative held-out derivative error of STLSQ in ``basis``, one per fold."""
    errors = np.empty(len(folds))
    everything = np.arange(len(Theta))
    for f, held in enumerate(folds):
        train = np.setdiff1d(everything, held)
        W, _ = symmetric_stlsq(LeastSquaresData.from_data(Theta[train], Xdot[train]), basis, threshold=threshold)
        residual = Theta[held] @ W.T - Xdot[held]
        errors[f] = float(np.sum(residual**2) / max(np.sum(Xdot[held] ** 2), 1e-300))
    return errors


def _choose(dims: np.ndarray, errors: np.ndarray) -> int:
    """Index of the largest dimension whose mean error is within one standard error of the best proposal."""
    mean = errors.mean(axis=1)
    se = errors.std(axis=1, ddof=1) / np.sqrt(errors.shape[1])
    best = int(np.argmin(mean))
    within = np.flatnonzero(mean <= mean[best] + max(se[best], _ROUNDING))
    return int(max(within, key=lambda i: (dims[i], -mean[i])))


def promote_then_enforce(
    X: Any,
    Xdot: Any,
    library: PolynomialLibrary,
    candidate: Any = None,
    *,
    threshold: float = 0.1,
    alphas: Any = None,
    n_reweight: int = 3,
    n_folds: int = 5,
    blocks_per_fold: int = 4,
    n_candidates: int = 3,
    max_dim: int | None = None,
    snap_rtols: Any = (1e-1,),
    tol: float = 1e-6,
    seed: Any = 0,
) -> SymmetrySelection:
    r"""Discover the symmetry dimension from noisy data by promotion, then refit with the symmetry enforced.

    See the module notes for the four steps (reweighted promotion, snapped nested proposals, cross-validated
    dimension with a bootstrap confidence, enforced STLSQ).

    Parameters
    ----------
    X : array_like of shape (N, n)
        States (smoothed), stacked over trajectories.
    Xdot : array_like of shape (N, n)
    library : PolynomialLibrary
    candidate : LieAlgebra, optional
        Default ``gl(n)``.
    threshold : float, default 0.1
        STLSQ threshold.
    alphas : array_like of float, optional
        Promotion weights (default ``alpha_scale * [1e-2, 1e-1]``); each proposes its own subalgebras.
    n_reweight : int, default 3
        Promotion solves per ``alpha`` (1: the plain nuclear norm).
    n_folds : int, default 5
        Contiguous cross-validation blocks (use one per trajectory when samples are concatenated trajectories).
    max_dim : int, optional
        Largest dimension proposed (default ``q - 1``).
    snap_rtols : sequence of float, default (0.1,)
        Tolerances of the approximate commuting subspaces tried when snapping (each snapped proposal is scored).
    tol : float, default 1e-6
        Passed to :func:`symlie.promote`.
    seed : int or Generator, default 0
        For the fold bootstrap of the confidence.

    Returns
    -------
    SymmetrySelection

    Examples
    --------
    >>> import numpy as np, symlie as sl
    >>> from symlie.dynamics import hopf, simulate, promote_then_enforce
    >>> S = hopf()
    >>> X = np.concatenate([simulate(S, 150, x0=x0)[1] for x0 in ([0.2, 0.0], [1.5, 0.5], [-1.0, 1.2])])
    >>> sel = promote_then_enforce(X, S(X), S.library, sl.gl(2), n_folds=3)
    >>> sel.dim, bool(np.abs(sel.coef - S.coef).max() < 1e-8)      # span{J}, and the exact model
    (1, True)
    """
    X = as_float_array(X, "X", shape=(None, library.n_features))
    Xdot = as_float_array(Xdot, "Xdot", shape=X.shape)
    Theta = library.evaluate(X)
    n_reweight = check_positive_int(n_reweight, "n_reweight")
    n_folds = check_positive_int(n_folds, "n_folds", minimum=2)
    blocks_per_fold = check_positive_int(blocks_per_fold, "blocks_per_fold")
    n_candidates = check_positive_int(n_candidates, "n_candidates")
    snap_rtols = as_float_array(snap_rtols, "snap_rtols", ndim=1)
    if len(snap_rtols) == 0 or np.any(snap_rtols <= 0) or np.any(snap_rtols >= 1):
        raise SymlieValueError(f"snap_rtols must be numbers in (0, 1), got {snap_rtols.tolist()}")
    candidate = candidate if candidate is not None else gl(library.n_features)
    operator = lie_derivative_operator(library, candidate, "vector_field", points="exact")
    raw: Any = operator.matrix
    matrix = raw.toarray() if sp.issparse(raw) else np.asarray(raw)
    q = int(operator.n_generators)
    tensor = matrix.reshape(-1, q, matrix.shape[1])
    max_dim = q - 1 if max_dim is None else min(check_positive_int(max_dim, "max_dim"), q)
    data = LeastSquaresData.from_data(Theta, Xdot)
    if alphas is None:
        alphas = _alpha_scale(data, tensor) * np.array([3e-3, 3e-2])
    alphas = as_float_array(alphas, "alphas", ndim=1)
    if len(alphas) == 0 or np.any(alphas <= 0):
        raise SymlieValueError("alphas must be a non-empty list of positive numbers")
    blocks = np.array_split(np.arange(len(Theta)), n_folds * blocks_per_fold)
    folds = [np.concatenate(blocks[f::n_folds]) for f in range(n_folds)]  # interleaved contiguous blocks

    plain, _ = symmetric_stlsq(data, None, threshold=threshold)
    dims, owners, errors = [0], [-1], [_held_out(Theta, Xdot, None, folds, threshold)]
    proposals: list[tuple[np.ndarray, np.ndarray]] = [(np.zeros((0, q)), plain)]
    promoted, spectra = [], []
    P = tensor.shape[2]
    for a, alpha in enumerate(alphas):
        fixed, base = np.zeros((0, q)), np.eye(P)
        for d in range(1, max_dim + 1):
            w = _reweighted_promote(data, tensor, base, float(alpha), n_reweight, tol)
            if d == 1:
                promoted.append(w.reshape(plain.shape))
                s, _ = _spectrum(tensor, w)
                spectra.append(s / s[0] if s[0] > 0 else s)
            complement = _complement(fixed, q)
            directions: list[np.ndarray] = []
            for fit in (w, plain.reshape(-1)) if d == 1 else (w,):  # first generator: also the plain fit's
                vt = np.linalg.svd(np.einsum("rqp,p->rq", tensor, fit) @ complement)[2]
                directions.extend(vt[::-1][:n_candidates])
            best: tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
            for direction in directions:
                for rtol in snap_rtols:
                    generators, basis, W = _snap(data, tensor, fixed, base, complement @ direction, threshold, rtol)
                    if basis.shape[1] == 0 or basis.shape[1] >= base.shape[1]:
                        continue  # nothing left to fit, or no new constraint
                    held = _held_out(Theta, Xdot, basis, folds, threshold)
                    if best is None or held.mean() < best[0]:
                        best = (float(held.mean()), held, generators, basis, W)
            if best is None:
                break
            _, held, fixed, base, W = best
            dims.append(d)
            owners.append(a)
            errors.append(held)
            proposals.append((fixed, W.reshape(plain.shape)))
            so_far = np.array([e.mean() for e in errors])
            if held.mean() > 2 * so_far.min() + 3 * errors[int(np.argmin(so_far))].std(ddof=1):
                break  # clearly rejected by the data: larger subalgebras will not fit either
    dim_array, error_array = np.array(dims), np.array(errors)
    chosen = _choose(dim_array, error_array)
    rng = make_rng(seed)
    picks = [dim_array[_choose(dim_array, error_array[:, rng.integers(0, n_folds, n_folds)])] for _ in range(200)]
    dim = int(dim_array[chosen])
    owner = max(owners[chosen], 0)
    spectrum = spectra[owner]
    cut = float(np.sqrt(spectrum[q - dim - 1] * spectrum[q - dim])) if 0 < dim < q else float("nan")
    generators, W = proposals[chosen]
    basis_q = np.asarray(candidate.basis).reshape(q, -1)
    return SymmetrySelection(
        coef=W,
        dim=dim,
        generators=generators,
        matrices=(generators @ basis_q).reshape((dim, *np.asarray(candidate.basis).shape[1:])),
        singular_values=spectrum,
        threshold=cut,
        confidence=float(np.mean(np.array(picks) == dim)),
        alpha=float(alphas[owner]),
        promoted_coef=promoted[owner],
        cv={
            "dims": dims,
            "alphas": [None if o < 0 else float(alphas[o]) for o in owners],
            "mean_error": error_array.mean(axis=1).tolist(),
            "standard_error": (error_array.std(axis=1, ddof=1) / np.sqrt(n_folds)).tolist(),
        },
    )
