r"""Equivariance metrics: per-generator Lie-derivative norms, LieGG's symmetry variance / bias, discrete tests.

* :func:`lie_derivative_norms` — the "Lie derivative error" of Gruver et al. (ICLR 2023): for each basis generator
  of an algebra, the root-mean-square over points of :math:`\|(L_{\xi_k} F)(x)\|`, optionally divided by the RMS of
  :math:`\|DF(x)\|\,\|v_k(x)\|` (a scale-free number in [0, 1]-ish).
* :func:`symmetry_variance` and :func:`symmetry_bias` — LieGG (Moskalev et al., NeurIPS 2022): the normalised mean
  squared Lie derivative of each discovered generator on fresh points, and the distance of the discovered algebra
  from a reference one (:math:`1 - \cos^2` of the largest principal angle).
* :func:`discrete_candidates` and :func:`check_discrete` — finite candidates (coordinate reflections, signed
  permutations, rotations by :math:`2\pi/k` in coordinate planes) and the residual
  :math:`\|K_g F - F\| / \|F\|` with :math:`(K_g F)(x) = \rho_{out}(g)^{-1} F(g x)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations, product
from typing import Any

import numpy as np

from ._action import make_action
from ._derivatives import as_model, lie_matrix
from ._discovery_report import DiscoveryReport, _as_algebra
from ._errors import SymlieTypeError, SymlieValueError
from ._validation import as_float_array, check_positive_int

__all__ = [
    "DiscreteReport",
    "check_discrete",
    "discrete_candidates",
    "lie_derivative_norms",
    "symmetry_bias",
    "symmetry_variance",
]


def lie_derivative_norms(
    f: Any, algebra: Any, X: Any, output: Any = "invariant", *, relative: bool = True, derivative: str = "auto"
) -> np.ndarray:
    r"""Per-generator Lie-derivative norms (Gruver et al.'s Lie derivative error).

    .. math:: e_k = \Big(\tfrac1N \sum_x \|(L_{\xi_k}F)(x)\|^2\Big)^{1/2}
              \Big/ \Big(\tfrac1N \sum_x \|DF(x)\|_F^2 \|v_k(x)\|^2\Big)^{1/2}

    Parameters
    ----------
    f : model accepted by :func:`symlie.discover`
    algebra : LieAlgebra or Group
        Generators in the given basis (not orthonormalised).
    X : array_like of shape (n_samples, n)
    output : as in :func:`symlie.discover`
    relative : bool, default True
        Divide by the scale above; ``False`` returns the RMS norms alone.
    derivative : str, default "auto"

    Returns
    -------
    ndarray of shape (q,)

    Examples
    --------
    >>> import numpy as np, symlie as sl
    >>> X = np.random.default_rng(0).normal(size=(50, 2))
    >>> lie_derivative_norms(lambda x: x[:, 0] ** 2 + x[:, 1] ** 2, sl.so(2), X).round(12)
    array([0.])
    """
    alg = _as_algebra(algebra)
    X = as_float_array(X, "X", shape=(None, alg.n))
    model = as_model(f, alg.n, X, derivative=derivative)
    n_out = model.n_outputs if isinstance(output, str) and output == "invariant" else None
    action = make_action(alg, output, n_features=alg.n, n_outputs=n_out)
    M, _ = lie_matrix(model, action, X)
    norms = np.sqrt(np.mean(M.reshape(len(X), model.n_outputs, -1) ** 2, axis=0).sum(axis=0))
    if not relative:
        return norms
    J, _ = model.jacobian(X)
    scale = np.sqrt(np.mean(np.sum(J**2, axis=(1, 2))[None, :] * np.sum(action.vector_fields(X) ** 2, axis=2), axis=1))
    return np.divide(norms, scale, out=np.zeros_like(norms), where=scale > 0)


def symmetry_variance(report: DiscoveryReport) -> np.ndarray:
    r"""LieGG's symmetry variance of each discovered generator: :math:`\|M_{check} c_k\|^2 / \|M_{check}\|_2^2`.

    Parameters
    ----------
    report : DiscoveryReport

    Returns
    -------
    ndarray of shape (dim,)
        The squared certificates (0 for an exact symmetry).
    """
    if not isinstance(report, DiscoveryReport):
        raise SymlieTypeError(f"report must be a DiscoveryReport, got {type(report).__name__}")
    return np.asarray(report.residual) ** 2


def symmetry_bias(report: DiscoveryReport, reference: Any) -> float:
    r"""LieGG's symmetry bias: :math:`1 - \cos^2\theta_{\max}` between the discovered algebra and ``reference``.

    0 when the reference lies in the discovered span (or vice versa), 1 when some direction is orthogonal. If the
    dimensions differ, the smaller space is compared with its best match in the larger.

    Parameters
    ----------
    report : DiscoveryReport
    reference : LieAlgebra

    Returns
    -------
    float
    """
    if not isinstance(report, DiscoveryReport):
        raise SymlieTypeError(f"report must be a DiscoveryReport, got {type(report).__name__}")
    cosines = report.principal_cosines(reference)
    return 1.0 if len(cosines) == 0 else float(1.0 - cosines.min() ** 2)


def discrete_candidates(
    n: int, *, reflections: bool = True, signed_permutations: bool = True, rotations: tuple[int, ...] = (2, 3, 4, 6)
) -> dict[str, np.ndarray]:
    """Named finite candidates acting on :math:`\\mathbb{R}^n`.

    Parameters
    ----------
    n : int
    reflections : bool
        ``x_i -> -x_i`` for each ``i``.
    signed_permutations : bool
        All signed permutation matrices except the identity (only for ``n <= 4``: ``2^n n!`` of them).
    rotations : tuple of int
        Rotations by ``2 pi / k`` in each coordinate plane ``(i, j)``.

    Returns
    -------
    dict of str to ndarray of shape (n, n)

    Examples
    --------
    >>> sorted(discrete_candidates(2, signed_permutations=False, rotations=(4,)))
    ['reflect x0', 'reflect x1', 'rotate 2pi/4 in (0,1)']
    """
    n = check_positive_int(n, "n")
    out: dict[str, np.ndarray] = {}
    if reflections:
        for i in range(n):
            g = np.eye(n)
            g[i, i] = -1.0
            out[f"reflect x{i}"] = g
    if signed_permutations and n <= 4:
        for perm in permutations(range(n)):
            for signs in product((1.0, -1.0), repeat=n):
                g = np.zeros((n, n))
                g[np.arange(n), perm] = signs
                if not np.allclose(g, np.eye(n)):
                    out.setdefault(f"signed permutation {list(perm)} {[int(s) for s in signs]}", g)
    for k in rotations:
        check_positive_int(k, "rotations")
        c, s = np.cos(2 * np.pi / k), np.sin(2 * np.pi / k)
        for i in range(n):
            for j in range(i + 1, n):
                g = np.eye(n)
                g[[i, i, j, j], [i, j, i, j]] = [c, -s, s, c]
                out[f"rotate 2pi/{k} in ({i},{j})"] = g
    return out


@dataclass(frozen=True)
class DiscreteReport:
    """Which finite candidates are symmetries.

    Attributes
    ----------
    names : list of str
    residuals : ndarray of shape (n_candidates,)
        :math:`\\|K_g F - F\\| / \\|F\\|` over the points.
    holds : ndarray of bool, shape (n_candidates,)
    tolerance : float
    """

    names: list[str]
    residuals: np.ndarray
    holds: np.ndarray
    tolerance: float

    @property
    def symmetries(self) -> list[str]:
        """Names of the candidates that hold."""
        return [name for name, ok in zip(self.names, self.holds) if ok]


def check_discrete(
    f: Any, candidates: Any, X: Any, output: str = "invariant", *, rtol: float = 1e-8, derivative: str = "auto"
) -> DiscreteReport:
    r"""Test finite candidates: :math:`r_g = \|K_g F - F\|_X / \|F\|_X`, holds when :math:`r_g \le` ``rtol``.

    Parameters
    ----------
    f : model accepted by :func:`symlie.discover`
    candidates : dict of str to ndarray (n, n), or sequence of ndarray
    X : array_like of shape (n_samples, n)
    output : {"invariant", "vector_field"}
        ``"vector_field"`` uses :math:`(K_g F)(x) = g^{-1} F(g x)`.
    rtol : float, default 1e-8
        Use a larger value for trained models (e.g. the residual level of their continuous symmetries).
    derivative : str

    Returns
    -------
    DiscreteReport

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(40, 2))
    >>> rep = check_discrete(lambda x: x[:, 0] ** 2 + x[:, 1], discrete_candidates(2, signed_permutations=False), X)
    >>> rep.symmetries
    ['reflect x0']
    """
    if output not in ("invariant", "vector_field"):
        raise SymlieValueError(f"output must be 'invariant' or 'vector_field', got {output!r}")
    items = (
        list(candidates.items()) if isinstance(candidates, dict) else [(f"g{i}", g) for i, g in enumerate(candidates)]
    )
    if not items:
        raise SymlieValueError("candidates must not be empty")
    X = as_float_array(X, "X", ndim=2)
    model = as_model(f, X.shape[1], X, derivative=derivative)
    F = model.value(X)
    norm = float(np.linalg.norm(F)) or 1.0
    names, residuals = [], []
    for name, g in items:
        g = as_float_array(g, f"candidates[{name!r}]", shape=(X.shape[1], X.shape[1]))
        moved = model.value(X @ g.T)
        if output == "vector_field":
            moved = moved @ np.linalg.inv(g).T
        names.append(name)
        residuals.append(float(np.linalg.norm(moved - F)) / norm)
    r = np.array(residuals)
    return DiscreteReport(names, r, r <= rtol, float(rtol))
