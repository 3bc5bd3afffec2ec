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
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._action import make_action
from ._algebra import LieAlgebra
from ._calibrate import DEFAULT_FACTOR, Decision, bootstrap_frequency, decide, make_null_models, normalise, spectrum
from ._derivatives import Model, as_model, lie_matrix
from ._errors import ShapeError, SymlieTypeError, SymlieValueError
from ._groups import Group
from ._validation import as_float_array, check_positive_int, make_rng

__all__ = ["DiscoveryReport", "discover"]

#: Null spectra are computed on at most this many points (normalised spectra converge quickly in the count).
NULL_POINTS = 1024


def _as_algebra(algebra: Any, name: str = "algebra") -> LieAlgebra:
    if isinstance(algebra, Group):
        return algebra.algebra
    if not isinstance(algebra, LieAlgebra):
        raise SymlieTypeError(f"{name} must be a LieAlgebra (e.g. sl.gl(3)) or a Group, got {type(algebra).__name__}")
    if algebra.dim == 0:
        raise SymlieValueError(f"{name} {algebra!r} has no generators; pass a candidate algebra such as sl.gl(n)")
    return algebra


def _embed_in(reference: LieAlgebra, target: LieAlgebra) -> np.ndarray:
    """``reference``'s basis in ``target``'s layout (copies for block layouts), shape (k, n, len(target.library))."""
    if reference.n != target.n:
        if reference.kind == "linear" and target.n % reference.n == 0:
            reference = reference.copies(target.n // reference.n)
        else:
            raise ShapeError(f"reference acts on R^{reference.n} but the discovered algebra acts on R^{target.n}")
    index = target.library.index(reference.library.exponents)
    if np.any(index < 0):
        raise SymlieValueError(f"reference {reference!r} has fields outside the candidate layout {target.library!r}")
    out = np.zeros((reference.dim, target.n, len(target.library)))
    out[:, :, index] = reference.basis
    return out


def _closure(algebra: LieAlgebra) -> tuple[float, float, np.ndarray]:
    """Closure residual in the full bracket space, modulo field degree, and (least-squares) structure constants."""
    q = algebra.dim
    if q == 0:
        return 0.0, 0.0, np.zeros((0, 0, 0))
    basis = algebra.basis
    brackets = algebra.bracket(basis[:, None], basis[None, :]).reshape(q * q, algebra.n, -1)
    big = algebra.bracket_library
    index = big.index(algebra.library.exponents)
    span_full = np.zeros((q, algebra.n, len(big)))
    span_full[:, :, index] = basis
    norms = np.linalg.norm(basis.reshape(q, -1), axis=1)
    scale = np.outer(norms, norms).reshape(-1)

    def fit(target: np.ndarray, span: np.ndarray) -> tuple[float, np.ndarray]:
        coef, *_ = np.linalg.lstsq(span.reshape(q, -1).T, target.reshape(q * q, -1).T, rcond=None)
        residual = np.linalg.norm(target.reshape(q * q, -1) - coef.T @ span.reshape(q, -1), axis=1) / scale
        return float(residual.max()), coef.T.reshape(q, q, q)

    full, constants = fit(brackets, span_full)
    truncated, constants_mod = fit(brackets[:, :, index], basis)
    return full, truncated, (constants if full <= 1e-9 else constants_mod)


@dataclass(frozen=True, eq=False)
class DiscoveryReport:
    r"""What :func:`discover` found: the symmetry subalgebra with its spectrum, decision rule and certificates.

    Attributes
    ----------
    dim : int
        Dimension of the discovered symmetry algebra.
    generators : ndarray of shape (dim, n, n_terms)
        Frobenius-orthonormal generators in the layout of ``candidate.basis``.
    coordinates : ndarray of shape (dim, q)
        The generators in the orthonormalised candidate basis.
    singular_values : ndarray of shape (q,)
        Decreasing singular values of the Lie-derivative matrix, divided by the largest.
    threshold : float
        The bar at the decision boundary (see :class:`symlie._calibrate.Decision`).
    thresholds : ndarray of shape (q,)
        The bar of each singular value.
    threshold_rule : str
        How the bars were chosen.
    margin_decades : float
        Distance in decades of the closest singular value to its bar (larger is more confident).
    bootstrap_frequency : float
        Fraction of bootstrap resamples of the points that reproduce ``dim`` (NaN for exact polynomial models).
    null_spectra : ndarray of shape (n_null, q) or None
        Normalised spectra of the null models.
    algebra : LieAlgebra
        The discovered subalgebra (built with ``require_closure=False``; closure is reported below).
    candidate : LieAlgebra
        The orthonormalised candidate algebra.
    residual : ndarray of shape (dim,)
        Certificate: :math:`\|M_{check}\, c_k\| / \|M_{check}\|_2` for each generator on fresh points.
    closure_residual, closure_residual_mod_degree : float
        Largest relative residual of a bracket outside the span, in the full bracket space and after dropping
        monomials above the field degree (polynomial fields are closed only modulo degree).
    structure_constants : ndarray of shape (dim, dim, dim)
        :math:`[g_i, g_j] = \sum_k c_{ijk} g_k` (least squares; modulo degree when not closed).
    method : str
        How derivatives were computed.
    n_points, n_check : int
        Points used for the decision and for the certificate.
    seconds : float
        Wall time of the call.
    model : object
        The model examined (the fitted one for :func:`discover_from_data`).
    """

    dim: int
    generators: np.ndarray
    coordinates: np.ndarray
    singular_values: np.ndarray
    threshold: float
    thresholds: np.ndarray
    threshold_rule: str
    margin_decades: float
    bootstrap_frequency: float
    null_spectra: np.ndarray | None
    algebra: LieAlgebra
    candidate: LieAlgebra
    residual: np.ndarray
    closure_residual: float
    closure_residual_mod_degree: float
    structure_constants: np.ndarray
    method: str
    n_points: int
    n_check: int
    seconds: float
    model: Any = field(default=None, repr=False)

    @property
    def closed(self) -> bool:
        """Whether the discovered span is closed under the bracket (relative residual <= 1e-6)."""
        return self.closure_residual <= 1e-6

    @property
    def closed_modulo_degree(self) -> bool:
        """Whether brackets truncated to the field degree stay in the span."""
        return self.closure_residual_mod_degree <= 1e-6

    def __repr__(self) -> str:
        return (
            f"DiscoveryReport(dim={self.dim} of q={self.candidate.dim} in {self.candidate.name}, "
            f"threshold={self.threshold:.2e}, margin={self.margin_decades:.2f} decades, "
            f"max residual={float(self.residual.max(initial=0.0)):.1e})"
        )

    def principal_cosines(self, reference: LieAlgebra) -> np.ndarray:
        """Cosines of the principal angles between the discovered span and ``reference`` (decreasing).

        A linear reference acting on a factor of ``n`` is applied to every block (``reference.copies``).

        Parameters
        ----------
        reference : LieAlgebra

        Returns
        -------
        ndarray of shape (min(dim, reference.dim),)
        """
        ref = _embed_in(_as_algebra(reference, "reference"), self.candidate).reshape(-1, self.generators[0].size)
        if self.dim == 0:
            return np.zeros(0)
        q1 = np.linalg.qr(self.generators.reshape(self.dim, -1).T)[0]
        q2 = np.linalg.qr(ref.T)[0]
        return np.clip(np.linalg.svd(q1.T @ q2, compute_uv=False), 0.0, 1.0)

    def invariant_forms(self, *, rtol: float = 1e-6) -> np.ndarray:
        r"""Symmetric bilinear forms :math:`J` with :math:`A^\top J + J A = 0` for every discovered generator.

        E.g. the Minkowski metric for :math:`\mathfrak{so}(1,3)`, the identity for :math:`\mathfrak{so}(n)`.

        Parameters
        ----------
        rtol : float, default 1e-6
            Singular values of the constraint below ``rtol`` times the largest count as zero.

        Returns
        -------
        ndarray of shape (r, n, n)
            Orthonormal (Frobenius) basis of the forms, each signed so that its first nonzero diagonal entry is
            positive.
        """
        A = self.algebra.matrices
        n = self.candidate.n
        rows, cols = np.triu_indices(n)
        basis = np.zeros((len(rows), n, n))
        basis[np.arange(len(rows)), rows, cols] = 1.0
        basis[np.arange(len(rows)), cols, rows] = 1.0
        if len(A) == 0:
            constraint = np.zeros((0, len(rows)))
        else:
            images = np.einsum("kba,sbc->ksac", A, basis) + np.einsum("sab,kbc->ksac", basis, A)
            constraint = images.transpose(0, 2, 3, 1).reshape(-1, len(rows))
        s, vt = spectrum(constraint)
        rank = int(np.sum(s > rtol * s[0])) if len(s) and s[0] > 0 else 0
        forms = np.einsum("rs,sab->rab", vt[rank:], basis)
        forms /= np.linalg.norm(forms.reshape(len(forms), -1), axis=1)[:, None, None]
        for J in forms:
            diag = np.diag(J)
            nonzero = np.flatnonzero(np.abs(diag) > 1e-8)
            if len(nonzero) and diag[nonzero[0]] < 0:
                J *= -1.0
        return forms

    def plot_spectrum(self, ax: Any = None) -> Any:
        """Plot the normalised spectrum, the null spectra and the bars (matplotlib, imported lazily).

        Parameters
        ----------
        ax : matplotlib Axes, optional

        Returns
        -------
        matplotlib Axes
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        index = np.arange(1, len(self.singular_values) + 1)
        floor = 1e-18
        if self.null_spectra is not None:
            for i, null in enumerate(self.null_spectra):
                ax.semilogy(index, np.maximum(null, floor), color="0.7", lw=1, label="null models" if i == 0 else None)
        ax.semilogy(index, np.maximum(self.singular_values, floor), "o-", color="C0", label="model")
        ax.step(index, self.thresholds, where="mid", color="C3", ls="--", label="bar")
        if 0 < self.dim:
            ax.axvline(len(index) - self.dim + 0.5, color="C2", lw=1, label=f"dim = {self.dim}")
        ax.set_xlabel("index")
        ax.set_ylabel("singular value / largest")
        ax.set_title(f"discover in {self.candidate.name}")
        ax.legend(fontsize="small")
        return ax

    def summary(self) -> str:
        """A plain-text summary (the rich rendering shows the same lines)."""
        return "\n".join(f"{k}: {v}" for k, v in self._lines())

    def _lines(self) -> list[tuple[str, str]]:
        smallest = ", ".join(f"{v:.1e}" for v in self.singular_values[-min(len(self.singular_values), 12) :])
        return [
            ("dimension", f"{self.dim} of {self.candidate.dim} ({self.candidate.name})"),
            ("smallest singular values", smallest),
            ("threshold", f"{self.threshold:.2e}"),
            ("rule", self.threshold_rule),
            ("confidence", f"margin {self.margin_decades:.2f} decades; bootstrap {self.bootstrap_frequency:.2f}"),
            ("residual (fresh points)", f"max {float(self.residual.max(initial=0.0)):.1e} on {self.n_check} points"),
            (
                "closure",
                f"residual {self.closure_residual:.1e} (modulo degree {self.closure_residual_mod_degree:.1e})",
            ),
            ("derivatives", self.method),
            ("time", f"{self.seconds:.3f} s on {self.n_points} points"),
        ]

    def __rich__(self) -> Any:
        from rich.table import Table

        table = Table(title="symlie.discover", show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column()
        for key, value in self._lines():
            table.add_row(key, value)
        return table


def _is_module(f: Any) -> bool:
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(f, torch.nn.Module)


def _check_points(model: Model, action: Any, X: np.ndarray, chunk: int) -> tuple[np.ndarray, float]:
    M, _ = lie_matrix(model, action, X, chunk_size=chunk)
    return M, float(np.linalg.norm(M, 2)) if M.size else 0.0


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
        order = rng.permutation(len(X))
        n_check = min(int(holdout * len(X)), max_check) if len(X) >= 20 else 0
        X_check = X[order[:n_check]] if n_check else X
        X_fit = X if model.kind == "polynomial" else X[order[n_check:]]

        M, err = _matrix(model, action, candidate, output, X_fit, chunk_size)
        s, vt = spectrum(M)
        s_norm = normalise(s)
        noise = 10.0 * err / s[0] if s[0] > 0 else 0.0
        null_spectra = None
        if nulls:
            sub = X_fit[: min(len(X_fit), NULL_POINTS)]
            spectra = []
            for g in nulls:
                null_model = as_model(
                    g, candidate.n, sub, derivative=derivative, chunk_size=chunk_size, precision=attempt
                )
                spectra.append(
                    normalise(spectrum(_matrix(null_model, action, candidate, output, sub, chunk_size)[0])[0])
                )
            null_spectra = np.array(spectra)
        decision: Decision = decide(
            s_norm, noise_floor=noise, null_spectra=null_spectra, factor=factor, null_name=null_name
        )
        if attempt == "float64" or 10.0 * decision.noise_floor < float(np.min(decision.thresholds)):
            break
    frequency = (
        float("nan")
        if model.kind == "polynomial"
        else bootstrap_frequency(M, model.n_outputs, decision, rng, n_bootstrap=n_bootstrap)
    )
    q, dim = candidate.dim, decision.dim
    coords = vt[q - dim :]
    generators = (coords @ candidate.basis.reshape(q, -1)).reshape((dim, *candidate.basis.shape[1:]))
    M_check, scale = _check_points(model, action, X_check, chunk_size)
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


def _matrix(
    model: Model, action: Any, candidate: LieAlgebra, output: Any, X: np.ndarray, chunk: int
) -> tuple[np.ndarray, float]:
    """Exact monomial-coefficient matrix for polynomial models, sampled autodiff/FD matrix otherwise."""
    if model.kind == "polynomial" and model.library is not None:
        from ._operator import lie_derivative_operator

        n_out = model.n_outputs if isinstance(output, str) and output == "invariant" else None
        op = lie_derivative_operator(model.library, candidate, output, points="exact", n_outputs=n_out)
        M = op.discover_matrix(model.coef)
        return M, model.rel_error * float(np.linalg.norm(M))
    return lie_matrix(model, action, X, chunk_size=chunk)
