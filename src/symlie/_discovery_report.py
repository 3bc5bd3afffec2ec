r"""The result of :func:`symlie.discover`: :class:`DiscoveryReport`, with closure and comparison helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._algebra import LieAlgebra
from ._calibrate import spectrum
from ._errors import ShapeError, SymlieTypeError, SymlieValueError
from ._groups import Group

__all__ = ["DiscoveryReport"]


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
    if algebra.kind == "linear":  # commutators of the matrices (the same as algebra.bracket, much cheaper)
        A = basis
        brackets = (np.matmul(A[:, None], A[None]) - np.matmul(A[None], A[:, None])).reshape(q * q, algebra.n, -1)
    else:
        brackets = algebra.bracket(basis[:, None], basis[None, :]).reshape(q * q, algebra.n, -1)
    big = algebra.bracket_library
    index = big.index(algebra.library.exponents)
    span_full = np.zeros((q, algebra.n, len(big)))
    span_full[:, :, index] = basis
    norms = np.linalg.norm(basis.reshape(q, -1), axis=1)
    scale = np.outer(norms, norms).reshape(-1)

    def fit(target: np.ndarray, span: np.ndarray) -> tuple[float, np.ndarray]:
        # least squares by QR (the generators are independent): far cheaper than the SVD-based lstsq
        Q, R = np.linalg.qr(span.reshape(q, -1).T)
        coef = np.linalg.solve(R, Q.T @ target.reshape(q * q, -1).T)
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
        Decreasing singular values of the Lie-derivative matrix, divided by the largest (for the tangent route of
        :func:`~symlie.discover_manifold`: the relative normal residuals of the candidate directions).
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
