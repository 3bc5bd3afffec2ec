r"""``sl.discover``: the symmetry algebra of a model, with a calibrated dimension and certificates.

For a model :math:`F` and a candidate algebra with (Frobenius-orthonormalised) generators :math:`\xi_1..\xi_q`,
the Lie-derivative matrix has rows ``(point, output)`` and columns ``k``:

.. math:: M[(x, o), k] = \big(DF(x)\, v_k(x) - B_k(x)\, F(x)\big)_o .

The infinitesimal symmetries are its (numerical) kernel: right singular vectors for the smallest singular values,
mapped back to the algebra's layout. How small is small is decided in :mod:`symlie._calibrate` against null models
and the derivative noise floor; the report carries the spectrum, the bars, the rule, a margin and a bootstrap
frequency, and certificates on fresh points.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ._action import make_action
from ._algebra import LieAlgebra
from ._calibrate import (
    DEFAULT_FACTOR,
    GRAM_RESOLUTION,
    GRAM_RESOLUTION_FLOAT32,
    Decision,
    block_grams,
    bootstrap_frequency,
    decide,
    gram_spectrum,
    make_null_models,
    normalise,
    sampled_spectrum,
    spectrum,
    stack_rows,
)
from ._derivatives import FieldPlan, Model, as_model, field_plan, lie_matrix
from ._discovery_report import DiscoveryReport, _as_algebra, _closure
from ._errors import ShapeError, SymlieValueError
from ._validation import as_float_array, check_positive_int, make_rng

__all__ = ["DiscoveryReport", "discover"]

#: Null spectra are computed on at most this many points (normalised spectra converge quickly in the count).
NULL_POINTS = 512


def _is_module(f: Any) -> bool:
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(f, torch.nn.Module)


def _norm2(M: np.ndarray) -> float:
    """Spectral norm (through the small Gram matrix for tall matrices)."""
    if not M.size:
        return 0.0
    if M.shape[0] > M.shape[1]:
        return float(np.sqrt(max(np.linalg.eigvalsh((M.T @ M).astype(np.float64))[-1], 0.0)))
    return float(np.linalg.norm(M, 2))


def discover(
    f: Any,
    algebra: Any,
    X: Any,
    output: Any = "invariant",
    *,
    null: Any = "auto",
    n_null: int = 5,
    factor: float = DEFAULT_FACTOR,
    derivative: str = "auto",
    holdout: float = 0.2,
    max_check: int = 2000,
    n_bootstrap: int = 20,
    chunk_size: int = 65536,
    precision: str = "auto",
    seed: int | np.random.Generator | None = 0,
) -> DiscoveryReport:
    r"""Find the symmetries of a model inside a candidate Lie algebra.

    .. math:: \mathrm{Sym}(F) = \{\xi : DF(x)\, v_\xi(x) - B_\xi(x) F(x) = 0 \ \forall x\}

    Parameters
    ----------
    f : torch.nn.Module, callable, or polynomial model
        A torch module or function (``torch.func`` derivatives, float64), a numpy function of ``X``
        (complex step or Richardson finite differences), or ``(PolynomialLibrary, coef)`` (exact).
        Outputs of shape (n_samples,) or (n_samples, n_outputs).
    algebra : LieAlgebra or Group
        The candidate: ``gl(n)``, ``gl(5).copies(2)``, ``aff(n)``, ``polynomial_fields(n, d)``, a subspace...
    X : array_like of shape (n_samples, n)
        Points at which the model is probed (a random ``holdout`` fraction, at most ``max_check``, is kept apart
        for the certificate).
    output : {"invariant", "vector_field"}, Rep or LieAlgebra, default "invariant"
        How generators act on the outputs (see :func:`symlie._action.make_action`).
    null : "auto", "init", None, callable or list of models, default "auto"
        Null models for the calibrated decision (see :mod:`symlie._calibrate`); ``"auto"`` uses re-initialised
        copies for torch modules and only the noise floor otherwise.
    n_null : int, default 5
    factor : float, default 10 ** 0.5
        How far below the null spectra a symmetry must lie.
    derivative : {"auto", "autodiff", "complex_step", "finite_difference", "exact"}
    holdout : float, default 0.2
    max_check : int, default 2000
    n_bootstrap : int, default 20
    chunk_size : int, default 65536
        Points per autodiff batch.
    precision : {"auto", "float64", "model"}, default "auto"
        Torch modules: ``"float64"`` casts the parameters for the call; ``"model"`` keeps the module's dtype;
        ``"auto"`` uses the module's dtype when null models set the bars and switches to float64 if its noise floor
        comes within a factor 10 of a bar (float64 for everything else).
    seed : int, Generator or None, default 0

    Returns
    -------
    DiscoveryReport

    Raises
    ------
    SymlieTypeError, ShapeError, SymlieValueError
        For an unusable model, algebra, points or output action.

    Examples
    --------
    >>> import numpy as np, symlie as sl
    >>> X = np.random.default_rng(0).normal(size=(60, 3))
    >>> rep = sl.discover(lambda x: (x**2).sum(axis=1), sl.gl(3), X)
    >>> rep.dim, bool(rep.residual.max() < 1e-12), round(float(rep.principal_cosines(sl.so(3)).min()), 6)
    (3, True, 1.0)
    """
    start = time.perf_counter()
    candidate = _as_algebra(algebra).orthonormalize()
    X = as_float_array(X, "X", shape=(None, candidate.n))
    if len(X) == 0:
        raise ShapeError("X must contain at least one point")
    n_null = check_positive_int(n_null, "n_null")
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    if not (isinstance(factor, int | float) and factor >= 1):
        raise SymlieValueError(f"factor must be a number >= 1, got {factor!r}")
    if not (isinstance(holdout, int | float) and 0 <= holdout < 1):
        raise SymlieValueError(f"holdout must be in [0, 1), got {holdout!r}")
    if precision not in ("auto", "float64", "model"):
        raise SymlieValueError(f"precision must be 'auto', 'float64' or 'model', got {precision!r}")
    rng = make_rng(seed)
    nulls, null_name = make_null_models(f, null, n_null=n_null, seed=int(rng.integers(2**31)))
    # Torch modules judged against null models run in their own dtype first: the null bars are far above its
    # noise floor. If the floor comes within a factor 10 of a bar, everything is redone in float64.
    first = (
        "model"
        if precision == "auto" and nulls and _is_module(f)
        else ("float64" if precision == "auto" else precision)
    )
    for attempt in dict.fromkeys([first, "float64"]):
        model = as_model(f, candidate.n, X, derivative=derivative, chunk_size=chunk_size, precision=attempt)
        n_out = model.n_outputs if isinstance(output, str) and output == "invariant" else None
        action = make_action(candidate, output, n_features=candidate.n, n_outputs=n_out)
        if action.n_outputs != model.n_outputs:
            raise ShapeError(f"f has {model.n_outputs} outputs but output={output!r} acts on {action.n_outputs}")
        n_check = min(int(holdout * len(X)), max_check) if len(X) >= 20 else 0
        X_perm = np.take(X, rng.permutation(len(X)), axis=0)  # random order (np.take: a fast row gather)
        plan = field_plan(action)
        if model.kind == "polynomial":  # exact coefficient matrix: no points, no bootstrap
            X_fit = X
            M, err = _matrix(model, action, candidate, output, X_fit, chunk_size, plan)
            s, vt = spectrum(M)
            grams = None
        else:  # one pass over all points; the first n_check (random) ones are held out for the certificate
            X_fit = X_perm[n_check:]
            M_all, err = lie_matrix(model, action, X_perm, chunk_size=chunk_size, plan=plan)
            M = M_all[n_check * model.n_outputs :]
            s, vt, grams, M = sampled_spectrum(M, model.n_outputs)
        s_norm = normalise(s)
        noise = 10.0 * err / s[0] if s[0] > 0 else 0.0
        null_spectra = None
        if nulls:
            sub = X_fit[: min(len(X_fit), NULL_POINTS)]
            null_spectra = _null_spectra(nulls, action, candidate, output, sub, plan, derivative, chunk_size, attempt)
        decision: Decision = decide(
            s_norm, noise_floor=noise, null_spectra=null_spectra, factor=factor, null_name=null_name
        )
        if attempt == "float64" or 10.0 * decision.noise_floor < float(np.min(decision.thresholds)):
            break
    frequency = (
        float("nan")
        if model.kind == "polynomial"
        else bootstrap_frequency(M, model.n_outputs, decision, rng, n_bootstrap=n_bootstrap, grams=grams)
    )
    q, dim = candidate.dim, decision.dim
    coords = vt[q - dim :]
    generators = (coords @ candidate.basis.reshape(q, -1)).reshape((dim, *candidate.basis.shape[1:]))
    X_check = X_perm[:n_check] if n_check else X
    if model.kind == "polynomial" or not n_check:
        M_check, _ = lie_matrix(model, action, X_check, chunk_size=chunk_size, plan=plan)
    else:
        M_check = M_all[: n_check * model.n_outputs]
    scale = _norm2(M_check)
    residual = np.linalg.norm(M_check @ coords.T, axis=0) / scale if scale > 0 else np.zeros(dim)
    found = LieAlgebra(
        generators, library=candidate.library, name=f"Sym ⊂ {candidate.name} (dim {dim})", require_closure=False
    )
    closure, closure_mod, constants = _closure(found)
    return DiscoveryReport(
        dim=dim,
        generators=generators,
        coordinates=coords,
        singular_values=s_norm,
        threshold=decision.threshold,
        thresholds=decision.thresholds,
        threshold_rule=decision.rule,
        margin_decades=decision.margin_decades,
        bootstrap_frequency=frequency,
        null_spectra=null_spectra,
        algebra=found,
        candidate=candidate,
        residual=residual,
        closure_residual=closure,
        closure_residual_mod_degree=closure_mod,
        structure_constants=constants,
        method=model.method,
        n_points=len(X_fit),
        n_check=len(X_check),
        seconds=time.perf_counter() - start,
        model=f,
    )


def _null_spectra(
    nulls: list[Any],
    action: Any,
    candidate: LieAlgebra,
    output: Any,
    X: np.ndarray,
    plan: FieldPlan,
    derivative: str,
    chunk_size: int,
    precision: str,
) -> np.ndarray:
    """Normalised spectra (n_null, q) of the null models on the points ``X``.

    Torch modules are evaluated together (``stack_rows``: module ``j`` on the ``j``-th copy of the points, one
    backward pass) and split into per-model Gram matrices; anything else one model at a time.
    """
    n = candidate.n
    if len(nulls) > 1 and all(_is_module(g) for g in nulls) and len(X) > 2 * candidate.dim:
        model = as_model(stack_rows(nulls), n, X, chunk_size=len(X) * len(nulls), precision=precision)
        M, _ = lie_matrix(model, action, np.tile(X, (len(nulls), 1)), chunk_size=len(X) * len(nulls), plan=plan)
        grams = block_grams(M, model.n_outputs, n_blocks=len(nulls))
        rows = len(X) * model.n_outputs
        spectra = []
        for j, G in enumerate(grams):
            found = gram_spectrum(G, resolution=GRAM_RESOLUTION_FLOAT32 if M.dtype == np.float32 else GRAM_RESOLUTION)
            spectra.append(normalise(found[0] if found else spectrum(M[j * rows : (j + 1) * rows], fast=False)[0]))
        return np.array(spectra)
    spectra = []
    for g in nulls:
        null_model = as_model(g, n, X, derivative=derivative, chunk_size=chunk_size, precision=precision)
        spectra.append(normalise(spectrum(_matrix(null_model, action, candidate, output, X, chunk_size, plan)[0])[0]))
    return np.array(spectra)


def _matrix(
    model: Model, action: Any, candidate: LieAlgebra, output: Any, X: np.ndarray, chunk: int, plan: FieldPlan
) -> tuple[np.ndarray, float]:
    """Exact monomial-coefficient matrix for polynomial models, sampled autodiff/FD matrix otherwise."""
    if model.kind == "polynomial" and model.library is not None:
        from ._operator import lie_derivative_operator

        n_out = model.n_outputs if isinstance(output, str) and output == "invariant" else None
        op = lie_derivative_operator(model.library, candidate, output, points="exact", n_outputs=n_out)
        M = op.discover_matrix(model.coef)
        return M, model.rel_error * float(np.linalg.norm(M))
    return lie_matrix(model, action, X, chunk_size=chunk, plan=plan)
