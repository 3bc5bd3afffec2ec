"""Discover the symmetries of fitted ODE models: exact for polynomial models, sampled for learned vector fields."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._classical import gl
from .._discover import DiscoveryReport, discover
from .._metrics import DiscreteReport, check_discrete, discrete_candidates
from .._validation import make_rng
from ._models import polynomial_model

__all__ = ["discover_discrete", "discover_symmetry"]


def _is_polynomial(model: Any) -> bool:
    try:
        polynomial_model(model)
    except Exception:
        return False
    return True


def discover_symmetry(model: Any, candidate: Any = None, X: Any = None, **options: Any) -> DiscoveryReport:
    r"""The symmetry algebra :math:`\{\xi : [v_\xi, f] = 0\}` of a fitted vector field inside ``candidate``.

    Polynomial models (a fitted ``pysindy.SINDy``, :class:`SymmetricSINDy`, a :class:`System` or a
    ``(PolynomialLibrary, coef)`` pair) are examined exactly from their coefficients; any other callable (a torch
    neural-ODE right-hand side, a numpy function) by :func:`symlie.discover` at the points ``X``.

    Parameters
    ----------
    model : polynomial model, torch module or callable
    candidate : LieAlgebra, optional
        ``gl(n)`` by default; also ``aff(n)``, ``polynomial_fields(n, d)``, ``so(n)``...
    X : array_like of shape (n_samples, n), optional
        Probe points (required for non-polynomial models; 64 uniform points in [-1, 1]^n otherwise).
    **options
        Passed to :func:`symlie.discover`.

    Returns
    -------
    DiscoveryReport

    Examples
    --------
    >>> from symlie.dynamics import hopf, oscillator
    >>> discover_symmetry(hopf()).dim, discover_symmetry(oscillator()).dim     # span{J}; span{I, J}
    (1, 2)
    """
    if _is_polynomial(model):
        library, W = polynomial_model(model)
        f: Any = (library, W)
        n = library.n_features
    else:
        f = model
        if X is None:
            from .._errors import SymlieValueError

            raise SymlieValueError("X (probe points) is required to discover the symmetry of a non-polynomial model")
        n = np.asarray(X).shape[1]
    if X is None:
        X = make_rng(options.get("seed", 0)).uniform(-1.0, 1.0, size=(64, n))
    return discover(f, candidate if candidate is not None else gl(n), X, output="vector_field", **options)


def discover_discrete(
    model: Any, candidates: Any = None, X: Any = None, *, rtol: float = 1e-8, rng: Any = 0
) -> DiscreteReport:
    r"""Which finite transformations :math:`g` satisfy :math:`g^{-1} f(g x) = f(x)`.

    Parameters
    ----------
    model : polynomial model or callable
    candidates : dict of str to ndarray (n, n), optional
        Default :func:`symlie.discrete_candidates` (sign flips, signed permutations for n <= 4, plane rotations).
    X : array_like of shape (n_samples, n), optional
        Default 64 uniform points in [-1, 1]^n.
    rtol : float, default 1e-8
        Relative tolerance (raise it for noisy fitted models).

    Examples
    --------
    >>> from symlie.dynamics import lorenz
    >>> discover_discrete(lorenz()).symmetries          # the same element, (x, y, z) -> (-x, -y, z), twice
    ['signed permutation [0, 1, 2] [-1, -1, 1]', 'rotate 2pi/2 in (0,1)']
    """
    if _is_polynomial(model):
        library, W = polynomial_model(model)
        f: Any = (library, W)
        n = library.n_features
    else:
        f, n = model, np.asarray(X).shape[1]
    if candidates is None:
        candidates = discrete_candidates(n)
    if X is None:
        X = make_rng(rng).uniform(-1.0, 1.0, size=(64, n))
    return check_discrete(f, candidates, X, output="vector_field", rtol=rtol)
