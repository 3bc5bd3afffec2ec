r"""Promote, then enforce: decide the symmetry dimension of noisy ODE data by a calibrated test, refit inside it.

For a SINDy model :math:`\dot x = W\theta(x)` (``w = vec(W)``, ``P`` coefficients) and a candidate algebra with
generators :math:`\xi_1..\xi_q`, the bracket matrix :math:`\mathcal M(w) \in \mathbb R^{\text{rows}\times q}`
(:math:`\mathcal M(w) c = \mathrm{vec}[\sum_i c_i v_{\xi_i}, f_w]`) has a ``d``-dimensional kernel exactly when the
model has a ``d``-dimensional symmetry inside the candidate. :func:`promote_then_enforce` asks, for
``d = 1, 2, ...``, whether the data are compatible with *some* ``d``-dimensional symmetry:

1. **Fit under the hypothesis** (maximum likelihood over the symmetry and the model): with the compressed data
   :math:`\ell(w) = \|D w - b\|^2` (``D = I_n ⊗ R``, :math:`\Theta = QR`),

   .. math:: \Delta_d = \min_{w,\ V^\top V = I_d} \ell(w) - \ell(\hat w)
             \quad\text{s.t.}\quad \mathcal M(w) V = 0,

   with :math:`\hat w` the least-squares fit. It is solved by penalty continuation,
   :math:`\min_{w, V} \ell(w) + \rho\|\mathcal M(w)V\|_F^2` for increasing :math:`\rho`, alternating the linear
   solve in ``w`` with ``V`` = the ``d`` smallest right singular vectors of :math:`\mathcal M(w)`, from several
   starts: the smallest singular vectors of the least-squares fit, of the (reweighted) nuclear-norm **promoted**
   fits (:func:`symlie.promote`), and the ``d - 1`` solution plus one direction. The limit lands on an exact
   symmetry (a point of the determinantal variety), i.e. on the *conjugate* of a generator that best fits the
   data, so the final symmetric subspace is the exact one, :math:`S_d = \{w : \mathcal M(w)V = 0\}`. Its
   generators span a Lie subalgebra up to ``closure`` (the fields commuting with ``V`` are those commuting with
   the subalgebra ``V`` generates, by the Jacobi identity).
2. **Noise floor** by a block (pairs) bootstrap over contiguous blocks of samples, which keeps the correlation
   the derivative filter puts between neighbouring samples and the state dependence of the errors: for each
   resample ``b``, :math:`\Delta^*_{d,b} = \|P^\perp_{D_b S_d} D_b(\hat w_b - \hat w)\|^2`, the same statistic
   for the re-centred null (each resample measured in its own metric ``D_b``). The bootstrap keeps the
   generators fixed while :math:`\Delta_d` is minimised over them, so the floor removes the ``d (q - d)`` fitted
   directions from the null's degrees of freedom (Wilks; a scaled :math:`\chi^2` matched to the bootstrap).
3. **Decide**: ``d`` is accepted when :math:`\Delta_d` is at most that floor (the ``1 - level`` quantile); among
   the accepted subalgebras found for one ``d`` the most restrictive (most constraints) is kept; the dimension is
   the last ``d`` accepted in the sequence ``1, 2, ...`` (the first rejection stops it). Reported: every
   :math:`\Delta_d`, floor and p-value, the ``margin`` (the factor by which the floor would have to change to flip
   the decision) and ``confidence = 1 - p`` of the first rejected ``d``.
4. **Enforce**: sequential thresholding inside the exact commuting fields, with the generators re-fitted on each
   support (a generator that noise tilted slightly has non-sparse commuting fields; on the support it settles on
   the conjugate the sparse model has); ``d = 0`` is plain STLSQ (:func:`symmetric_stlsq`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._classical import gl
from .._dictionaries import PolynomialLibrary
from .._errors import SymlieValueError
from .._operator import lie_derivative_operator
from .._validation import as_float_array, check_positive_int, make_rng
from ._fit import LeastSquaresData, reweighted_promote, symmetric_stlsq
from ._noise_floor import block_bootstrap, bootstrap_null, loss_increase, profiled_floor

__all__ = ["SymmetrySelection", "bracket_tensor", "promote_then_enforce", "select_symmetry", "vector_field_tensor"]

_EXACT_RTOL = 1e-7  # relative singular value of [M_xi1; ...] below which a field commutes (the limit is exact)
_PENALTIES = np.logspace(-4, 10, 15)  # continuation of the relative penalty weight rho
_ALTERNATIONS = 30


@dataclass(frozen=True)
class SymmetrySelection:
    r"""Outcome of :func:`promote_then_enforce`.

    Attributes
    ----------
    coef : ndarray of shape (n, L)
        The final fit: STLSQ inside the fields commuting with ``generators`` (exactly symmetric).
    dim : int
        Discovered symmetry dimension inside the candidate algebra (the last ``d`` the test accepted).
    generators : ndarray of shape (dim, q)
        Coefficients of the discovered generators in the candidate's basis (orthonormal rows).
    matrices : ndarray of shape (dim, ...)
        The generators as elements (``generators @ candidate.basis``).
    singular_values : ndarray of shape (q,)
        Spectrum of :math:`\mathcal M(\hat w)` of the least-squares fit (normalised by its largest, decreasing).
    statistics, floors, p_values : ndarray of shape (n_tested + 1,)
        For ``d = 0, 1, ...``: the loss increase :math:`\Delta_d` of the best ``d``-symmetric fit, its noise
        floor (the ``1 - level`` quantile of the bootstrap null, corrected for the fitted generators) and
        p-value; ``statistics`` and ``floors`` relative to :math:`\|b\|^2` (``d = 0``: zeros, p-value 1). The
        test stops at the first rejection.
    margin : float
        ``min(floor_d / Δ_d for accepted d, Δ_{dim+1} / floor_{dim+1})``: how far the closest decision is from
        its floor (``> 1``; ``inf`` when nothing was tested either way).
    confidence : float
        ``1 - p`` of the first rejected dimension (``1`` when none was rejected).
    residual : float
        Certificate: :math:`\|\mathcal M(w) V\|_F / (\|T\|_2 \|w\|)` of ``coef`` for the generators ``V``
        (:math:`\|T\|_2` the norm of :math:`w \mapsto \mathcal M(w)`, so ``1`` is the largest possible bracket).
    closure : float
        Largest relative part of a bracket of two generators outside their span (``0``: a subalgebra; ``nan``
        when the candidate's brackets leave its library).
    alpha : float
        The first promotion weight (its promoted fit is ``promoted_coef``).
    promoted_coef : ndarray of shape (n, L)
    level : float
        Test level (the floors are ``1 - level`` quantiles).
    codims : list of int
        Number of constraints (``P - dim S_d``) of each tested ``d``.
    """

    coef: np.ndarray
    dim: int
    generators: np.ndarray
    matrices: np.ndarray
    singular_values: np.ndarray
    statistics: np.ndarray
    floors: np.ndarray
    p_values: np.ndarray
    margin: float
    confidence: float
    residual: float
    closure: float
    alpha: float
    promoted_coef: np.ndarray = field(repr=False)
    level: float = 0.01
    codims: list = field(default_factory=list)


def bracket_tensor(operator: Any) -> np.ndarray:
    """An operator's matrix as the bracket tensor ``T`` of shape (rows, q, P): :math:`\\mathcal M(w) = T w`."""
    raw: Any = operator.matrix
    matrix = raw.toarray() if sp.issparse(raw) else np.asarray(raw)
    return matrix.reshape(-1, int(operator.n_generators), matrix.shape[1])


def vector_field_tensor(library: PolynomialLibrary, candidate: Any) -> np.ndarray:
    """The exact bracket tensor (rows, q, P) of vector fields over ``library`` under ``candidate``."""
    return bracket_tensor(lie_derivative_operator(library, candidate, "vector_field", points="exact"))


def _right_vectors(tensor: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Singular values (decreasing) and right singular vectors as columns in *increasing* order of σ."""
    _, s, vt = np.linalg.svd(np.einsum("rqp,p->rq", tensor, w))
    return s, vt[::-1].T


def _constraints(tensor: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Rows ``[M_{xi_1}; ...]`` (rows * d, P): ``A w = 0`` iff ``w`` commutes with every column of ``V``."""
    return np.einsum("rqp,qd->rdp", tensor, V).reshape(-1, tensor.shape[2])


def _profiled(
    gram: np.ndarray, rhs: np.ndarray, tensor: np.ndarray, V: np.ndarray, penalties: np.ndarray = _PENALTIES
) -> np.ndarray:
    r"""Penalty continuation for :math:`\min_{w,V} \|Dw-b\|^2 + \rho\|\mathcal M(w)V\|^2`; returns ``V`` (q, d)."""
    d = V.shape[1]
    scale = np.trace(gram) / len(gram)
    reference = float(np.sum(tensor**2)) / tensor.shape[2] * V.shape[1]  # the size of AtA for a typical V
    for rho in penalties:
        for _ in range(_ALTERNATIONS):
            A = _constraints(tensor, V)
            AtA = A.T @ A
            size = np.trace(AtA) / len(AtA)
            weight = rho * scale / size if size > 1e-20 * reference else 0.0  # no constraint on this support
            w = np.linalg.solve(gram + weight * AtA, rhs)
            new = _right_vectors(tensor, w)[1][:, :d]
            change = np.linalg.norm(new - V @ (V.T @ new))
            V = new
            if change < 1e-12:
                break
    return V


def _sparse_symmetric_fit(
    data: LeastSquaresData, tensor: np.ndarray, V: np.ndarray, basis: np.ndarray, threshold: float, max_iter: int = 20
) -> tuple[np.ndarray, np.ndarray]:
    r"""Sequential thresholding with the symmetry re-fitted on each support: ``(w (P,), V (q, d))``.

    The first fit is least squares inside the tested fields ``basis``. On each smaller support ``A`` the pair
    :math:`\min \|D_A w_A - b\|^2` s.t. :math:`\mathcal M(w_A) V = 0` is re-fitted (the best of keeping ``V``,
    polishing it, and the penalty continuation from scratch on ``A``), then ``w`` is the least-squares fit inside
    the exact commuting fields on ``A``; coefficients below ``threshold`` leave the support. Re-fitting lets a
    generator that noise tilted slightly (whose commuting fields are not sparse) settle on the conjugate that the
    sparse model has.
    """
    D, b = data.design(), data.targets()
    P = D.shape[1]
    active = np.ones(P, dtype=bool)
    w = basis @ np.linalg.lstsq(D @ basis, b, rcond=None)[0]
    for _ in range(max_iter):
        small = active & (np.abs(w) < threshold)
        if not np.any(small):
            break
        active &= ~small
        DA, TA = D[:, active], tensor[:, :, active]
        gram, rhs = DA.T @ DA, DA.T @ b
        best: tuple[float, np.ndarray, np.ndarray] | None = None
        for V_new in (V, _profiled(gram, rhs, TA, V, _PENALTIES[-4:]), _profiled(gram, rhs, TA, V)):
            sub = _commuting(TA, V_new)
            if sub.shape[1] == 0:
                continue
            fit = sub @ np.linalg.lstsq(DA @ sub, b, rcond=None)[0]
            loss = float(np.sum((DA @ fit - b) ** 2))
            if best is None or loss < best[0]:
                best = (loss, V_new, fit)
        if best is None:
            active |= small  # nothing symmetric is left on this support: keep the previous fit
            break
        _, V, fit = best
        w = np.zeros(P)
        w[active] = fit
    w[~active] = 0.0
    return w, V


def _commuting(tensor: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Orthonormal basis (P, k) of the fields commuting with the columns of ``V`` (relative cut ``_EXACT_RTOL``)."""
    _, s, vt = np.linalg.svd(_constraints(tensor, V))
    rank = int(np.sum(s > _EXACT_RTOL * s[0])) if len(s) and s[0] > 0 else 0
    return vt[rank:].T


def _closure(candidate: Any, matrices: np.ndarray) -> float:
    if len(matrices) < 2:
        return 0.0
    try:
        brackets = candidate.bracket(matrices[:, None], matrices[None, :])
    except Exception:  # pragma: no cover (candidates whose brackets are not elements)
        return float("nan")
    if brackets.shape[-1] != matrices.shape[-1]:
        return float("nan")
    flat, span = brackets.reshape(-1, matrices[0].size), matrices.reshape(len(matrices), -1)
    Q = np.linalg.qr(span.T)[0]
    outside = np.linalg.norm(flat - (flat @ Q) @ Q.T, axis=1)
    norms = np.linalg.norm(span, axis=1)
    return float(outside.max() / max(norms.max() ** 2, 1e-300))


def select_symmetry(
    Theta: Any,
    Xdot: Any,
    tensor: np.ndarray,
    candidate: Any,
    *,
    threshold: float = 0.1,
    alphas: Any = None,
    n_reweight: int = 2,
    l1: float = 0.0,
    level: float = 0.01,
    n_bootstrap: int = 200,
    block: int = 40,
    derivative_rtol: float = 1e-4,
    max_dim: int | None = None,
    tol: float = 1e-6,
    seed: Any = 0,
) -> SymmetrySelection:
    """The test and refit of :func:`promote_then_enforce` on a library matrix ``Theta`` (N, L).

    ``tensor`` (rows, q, P) is :func:`vector_field_tensor` of the library under ``candidate``, possibly in
    rescaled coefficients (the PySINDy wrapper passes it for normalised columns). Options as in
    :func:`promote_then_enforce`; ``l1`` is passed to the promotion. Returns a :class:`SymmetrySelection`.
    """
    Theta = as_float_array(Theta, "Theta", ndim=2)
    Xdot = as_float_array(Xdot, "Xdot", shape=(Theta.shape[0], None))
    n_reweight = check_positive_int(n_reweight, "n_reweight")
    n_bootstrap = check_positive_int(n_bootstrap, "n_bootstrap", minimum=20)
    block = check_positive_int(block, "block")
    if not 0 < level < 1:
        raise SymlieValueError(f"level must be in (0, 1), got {level!r}")
    if not 0 <= derivative_rtol < 1:
        raise SymlieValueError(f"derivative_rtol must be in [0, 1), got {derivative_rtol!r}")
    N, L = Theta.shape
    n = Xdot.shape[1]
    if N < 2 * L:
        raise SymlieValueError(f"need at least 2 * L = {2 * L} samples for the test, got {N}")
    q, P = tensor.shape[1], tensor.shape[2]
    max_dim = q if max_dim is None else min(check_positive_int(max_dim, "max_dim"), q)
    data = LeastSquaresData.from_data(Theta, Xdot)
    D, b = data.design(), data.targets()
    gram, rhs = D.T @ D, D.T @ b
    w_hat = np.linalg.solve(gram + 1e-14 * np.trace(gram) / P * np.eye(P), rhs)
    spectrum, V_hat = _right_vectors(tensor, w_hat)
    if alphas is None:
        alphas = 0.5 * float(b @ b) / max(float(spectrum.sum()), 1e-300) * np.array([3e-3, 3e-2])
    alphas = as_float_array(alphas, "alphas", ndim=1)
    if len(alphas) == 0 or np.any(alphas <= 0):
        raise SymlieValueError("alphas must be a non-empty list of positive numbers")
    promoted = [reweighted_promote(D, b, tensor, float(a), n_reweight, l1, tol) for a in alphas]
    starts_from = [V_hat] + [_right_vectors(tensor, w)[1] for w in promoted]
    block = max(min(block, N // 10), 1)
    designs, deviations = block_bootstrap(Theta, Xdot, w_hat, block, n_bootstrap, make_rng(seed))

    total = max(float(b @ b), 1e-300)
    accuracy = max(float(derivative_rtol) ** 2, 1e-16) * total  # a misfit the derivative estimates cannot resolve
    Dw = D @ w_hat
    stats, floors, pvals, codims = [0.0], [0.0], [1.0], [0]
    V_prev, basis_prev = np.zeros((q, 0)), np.eye(P)
    dim = 0
    for d in range(1, max_dim + 1):
        # starts: the d least-broken directions of each fit; for d = 1 each of the three least broken on its own
        initial = (
            [S[:, :d] for S in starts_from] if d > 1 else [S[:, [k]] for S in starts_from for k in range(min(3, q))]
        )
        found = [_profiled(gram, rhs, tensor, np.linalg.qr(S)[0]) for S in initial]
        if d > 1:  # nested: keep the accepted V_prev exactly, fit one more generator inside its symmetric fields
            complement = np.linalg.svd(V_prev.T)[2][d - 1 :].T
            DB = D @ basis_prev
            inner = np.einsum("rqp,qj,pk->rjk", tensor, complement, basis_prev)
            fit_prev = np.linalg.lstsq(DB, b, rcond=None)[0]
            v = _profiled(DB.T @ DB, DB.T @ b, inner, _right_vectors(inner, fit_prev)[1][:, :1])
            nested = np.column_stack([V_prev, complement @ v])
            found += [nested, _profiled(gram, rhs, tensor, nested, _PENALTIES[-4:])]  # and jointly polished
        best: tuple[tuple[bool, int, float], float, float, float, np.ndarray, np.ndarray] | None = None
        for V in found:
            basis = _commuting(tensor, V)
            if basis.shape[1] >= P:
                continue  # the candidate acts trivially on every field: no constraint to test
            value = loss_increase(D, Dw, basis)
            floor, pvalue = profiled_floor(
                bootstrap_null(designs, deviations, basis), P - basis.shape[1], d * (q - d), value, level
            )
            floor = max(floor, accuracy)
            pvalue = pvalue if value > accuracy else 1.0
            # Occam: among the subalgebras the data accept, the most restrictive (most constraints) wins
            key = (value <= floor, P - basis.shape[1] if value <= floor else 0, -value / floor)
            if best is None or key > best[0]:
                best = (key, value, floor, pvalue, V, basis)
        if best is None:
            break
        _, value, floor, pvalue, V, basis = best
        stats.append(value / total)
        floors.append(floor / total)
        pvals.append(pvalue)
        codims.append(P - basis.shape[1])
        if value > floor:
            break
        dim, V_prev, basis_prev = d, V, basis
    if dim:
        w_final, V_prev = _sparse_symmetric_fit(data, tensor, V_prev, basis_prev, threshold)
        W = w_final.reshape(n, L)
    else:
        W, _ = symmetric_stlsq(data, None, threshold=threshold)
    ratios = [floors[d] / max(stats[d], 1e-300) for d in range(1, dim + 1)]
    rejected = len(stats) > dim + 1
    if rejected:
        ratios.append(stats[dim + 1] / floors[dim + 1])
    record = {
        "singular_values": spectrum / spectrum[0] if spectrum[0] > 0 else spectrum,
        "statistics": np.array(stats),
        "floors": np.array(floors),
        "p_values": np.array(pvals),
        "margin": float(min(ratios)) if ratios else float("inf"),
        "confidence": 1.0 - pvals[dim + 1] if rejected else 1.0,
        "alpha": float(alphas[0]),
        "promoted_coef": promoted[0].reshape(n, L),
        "level": float(level),
        "codims": codims,
    }
    return _selection(candidate, tensor, dim, V_prev, W, record)


def promote_then_enforce(
    X: Any,
    Xdot: Any,
    library: PolynomialLibrary,
    candidate: Any = None,
    *,
    threshold: float = 0.1,
    alphas: Any = None,
    n_reweight: int = 2,
    level: float = 0.01,
    n_bootstrap: int = 200,
    block: int = 40,
    derivative_rtol: float = 1e-4,
    max_dim: int | None = None,
    tol: float = 1e-6,
    seed: Any = 0,
) -> SymmetrySelection:
    r"""Discover the symmetry dimension from noisy data by a calibrated test, then refit with it enforced.

    See the module notes: maximum-likelihood fits under "there is a ``d``-dimensional symmetry" (started from
    the promoted fits), a block-bootstrap noise floor of the loss increase, the sequential decision, and
    STLSQ inside the discovered symmetry.

    Parameters
    ----------
    X : array_like of shape (N, n)
        States (smoothed), stacked over trajectories.
    Xdot : array_like of shape (N, n)
    library : PolynomialLibrary
    candidate : LieAlgebra, optional
        Default ``gl(n)``.
    threshold : float, default 0.1
        STLSQ threshold of the final fit.
    alphas : array_like of float, optional
        Promotion weights whose promoted fits start the symmetric fits (default ``[3e-3, 3e-2]`` times the loss
        at ``w = 0`` over the nuclear norm of the least-squares fit).
    n_reweight : int, default 2
        Promotion solves per ``alpha`` (1: the plain nuclear norm).
    level : float, default 0.01
        Test level: a dimension is rejected when its loss increase exceeds the ``1 - level`` bootstrap quantile.
    n_bootstrap : int, default 200
    block : int, default 40
        Bootstrap block length in samples (at least the derivative filter's window; capped at ``N // 10``).
    derivative_rtol : float, default 1e-4
        Relative accuracy of the derivative estimates: a relative misfit below it (a loss increase below
        ``derivative_rtol**2 * ||b||^2``) is not evidence against a symmetry. It matters only for (nearly)
        noise-free data, where the bootstrap floor vanishes but the derivative filter still has a systematic error.
    max_dim : int, optional
        Largest dimension tested (default ``q``: the whole candidate).
    tol : float, default 1e-6
        Passed to :func:`symlie.promote`.
    seed : int or Generator, default 0
        For the bootstrap.

    Returns
    -------
    SymmetrySelection

    Raises
    ------
    ShapeError
        If ``X`` and ``Xdot`` disagree with each other or with ``library``.
    SymlieValueError
        For out-of-range options, or fewer than ``2 L`` samples.

    Examples
    --------
    >>> import numpy as np, symlie as sl
    >>> from symlie.dynamics import hopf, simulate, promote_then_enforce
    >>> S = hopf()
    >>> X = np.concatenate([simulate(S, 150, x0=x0)[1] for x0 in ([0.2, 0.0], [1.5, 0.5], [-1.0, 1.2])])
    >>> sel = promote_then_enforce(X, S(X), S.library, sl.gl(2))
    >>> sel.dim, bool(np.abs(sel.coef - S.coef).max() < 1e-8), bool(sel.residual < 1e-10)   # span{J}, exactly
    (1, True, True)
    """
    X = as_float_array(X, "X", shape=(None, library.n_features))
    Xdot = as_float_array(Xdot, "Xdot", shape=X.shape)
    candidate = candidate if candidate is not None else gl(library.n_features)
    tensor = vector_field_tensor(library, candidate)
    return select_symmetry(
        library.evaluate(X),
        Xdot,
        tensor,
        candidate,
        threshold=threshold,
        alphas=alphas,
        n_reweight=n_reweight,
        level=level,
        n_bootstrap=n_bootstrap,
        block=block,
        derivative_rtol=derivative_rtol,
        max_dim=max_dim,
        tol=tol,
        seed=seed,
    )


def _selection(
    candidate: Any, tensor: np.ndarray, dim: int, V: np.ndarray, W: np.ndarray, record: dict
) -> SymmetrySelection:
    """Assemble a :class:`SymmetrySelection` (generators as elements, certificate, closure)."""
    basis = np.asarray(candidate.basis)
    q = basis.shape[0]
    matrices = (V.T @ basis.reshape(q, -1)).reshape((dim, *basis.shape[1:]))
    M = np.einsum("rqp,p->rq", tensor, W.reshape(-1))
    scale = float(np.linalg.norm(tensor.reshape(-1, tensor.shape[2]), 2)) * float(np.linalg.norm(W))
    residual = float(np.linalg.norm(M @ V) / max(scale, 1e-300)) if dim else 0.0
    return SymmetrySelection(
        coef=W,
        dim=dim,
        generators=V.T.copy(),
        matrices=matrices,
        residual=residual,
        closure=_closure(candidate, matrices),
        **record,
    )
