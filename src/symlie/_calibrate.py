r"""Calibrated dimension decisions: null models, noise floors, margins and bootstrap confidence.

A trained model is never exactly symmetric, so "small singular value" is judged against a *null model* — a model
of the same kind that has no reason to be symmetric (the same architecture at initialisation, a refit on shuffled
targets, or any user-supplied factory) — and never below the *noise floor* of the derivatives.

The rule, with normalised singular values :math:`\hat s = s / s_{\max}` sorted ascending
(:math:`\hat s_{(1)} \le \hat s_{(2)} \le \dots`) and null spectra :math:`\hat s^{(j)}` of null models
:math:`j = 1..J` on the same points:

.. math::

    \tau_i = \max\Big(\tau_{noise},\; \min_j \hat s^{(j)}_{(i)} / c\Big), \qquad
    \dim = \max\{k : \hat s_{(i)} \le \tau_i \text{ for all } i \le k\},

i.e. the ``i``-th smallest singular value counts as a symmetry when it lies a factor ``c`` (default
:math:`10^{1/2}`, half a decade) below the ``i``-th smallest singular value of *every* null model. Without null
models :math:`\tau_i = \tau_{noise} = \max(10\,\|E\|_F / s_{\max}, 10^{-12})`, where ``E`` bounds the error of the
Lie-derivative matrix from the derivative error estimates (Weyl: singular values move by at most
:math:`\|E\|_2 \le \|E\|_F`). The confidence is reported as the margin in decades of the closest singular value
to its bar, and as the frequency with which a bootstrap over points reproduces the dimension.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._errors import SymlieTypeError, SymlieValueError

__all__ = ["DEFAULT_FACTOR", "Decision", "bootstrap_frequency", "decide", "make_null_models", "spectrum"]

#: Default factor between a symmetry's singular value and the null's (half a decade).
DEFAULT_FACTOR = 10**0.5
#: Smallest relative noise floor (rounding of the SVD itself).
NOISE_FLOOR_MIN = 1e-12
#: The Gram matrix resolves singular values down to about sqrt(eps) of the largest; below this, QR is used.
GRAM_RESOLUTION = 1e-5


@dataclass(frozen=True)
class Decision:
    """A dimension decision.

    Attributes
    ----------
    dim : int
    thresholds : ndarray of shape (q,)
        The bar of each normalised singular value, aligned with the decreasing spectrum.
    threshold : float
        The bar at the decision boundary: that of the first rejected singular value (of the last one if all are
        accepted).
    rule : str
        How the bars were chosen.
    noise_floor : float
    margin_decades : float
        ``min`` over singular values of ``|log10(s / bar)|`` for the accepted ones and the first rejected one
        (``inf`` when there is nothing to compare).
    """

    dim: int
    thresholds: np.ndarray
    threshold: float
    rule: str
    noise_floor: float
    margin_decades: float


def spectrum(M: np.ndarray, *, fast: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Singular values (decreasing, padded with zeros to ``q``) and right singular vectors of ``M`` (R, q).

    Tall matrices use the Gram matrix :math:`M^\\top M` when every singular value is resolved by it (relative size
    above :data:`GRAM_RESOLUTION`, its accuracy being :math:`\\sqrt{\\epsilon}`), and otherwise a QR factorisation
    (same singular values and right vectors to rounding level).

    Parameters
    ----------
    M : ndarray of shape (R, q)
    fast : bool, default True
        Allow the Gram route.

    Returns
    -------
    (ndarray of shape (q,), ndarray of shape (q, q))
        ``s`` and ``Vt`` (rows are right singular vectors).
    """
    q = M.shape[1]
    if q == 0:
        return np.zeros(0), np.zeros((0, 0))
    if M.shape[0] > 2 * q:
        if fast:
            values, vectors = np.linalg.eigh(M.T @ M)
            s = np.sqrt(np.clip(values[::-1], 0.0, None))
            if s[0] > 0 and s[-1] > GRAM_RESOLUTION * s[0]:
                return s, vectors[:, ::-1].T.copy()
        M = np.linalg.qr(M, mode="r")
    if M.shape[0] == 0:
        return np.zeros(q), np.eye(q)
    _, s, vt = np.linalg.svd(M, full_matrices=True)
    return np.pad(s, (0, q - len(s))), vt


def normalise(s: np.ndarray) -> np.ndarray:
    """``s / s[0]`` (all zeros stay zeros)."""
    return s / s[0] if len(s) and s[0] > 0 else np.zeros_like(s)


def decide(
    s_norm: np.ndarray,
    *,
    noise_floor: float,
    null_spectra: np.ndarray | None = None,
    factor: float = DEFAULT_FACTOR,
    null_name: str = "",
) -> Decision:
    """Decide the dimension from normalised singular values (decreasing), see the module notes.

    Parameters
    ----------
    s_norm : ndarray of shape (q,)
    noise_floor : float
        Relative noise level of the matrix.
    null_spectra : ndarray of shape (n_null, q), optional
        Normalised decreasing spectra of null models.
    factor : float
    null_name : str
        Description of the null models for the rule text.

    Returns
    -------
    Decision
    """
    q = len(s_norm)
    floor = max(float(noise_floor), NOISE_FLOOR_MIN)
    ascending = s_norm[::-1]
    bars = np.full(q, floor)
    if null_spectra is not None and len(null_spectra):
        null_min = np.min(np.asarray(null_spectra)[:, ::-1], axis=0)
        bars = np.maximum(bars, null_min / factor)
        rule = (
            f"index-wise null rule: the i-th smallest singular value must lie a factor {factor:.3g} below the i-th "
            f"smallest of every one of {len(null_spectra)} null models ({null_name}); bars never below "
            f"the noise floor {floor:.1e}"
        )
    else:
        rule = (
            f"noise-floor rule: singular values <= {floor:.1e} x the largest (10 x the derivative error bound "
            "||E||_F / s_max, at least 1e-12); no null model"
        )
    ok = ascending <= bars
    dim = int(np.argmin(ok)) if not np.all(ok) else q
    margins = [np.log10(bars[i] / max(ascending[i], 1e-300)) for i in range(dim)]
    if dim < q:
        margins.append(np.log10(max(ascending[dim], 1e-300) / bars[dim]))
    margin = float(min(margins)) if margins else float("inf")
    threshold = float(bars[dim] if dim < q else bars[q - 1]) if q else floor
    return Decision(dim, bars[::-1].copy(), threshold, rule, floor, margin)


def dims_under(s_norm_batch: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The dimension each decreasing spectrum in ``s_norm_batch`` (B, q) gets under fixed bars (q,)."""
    ok = s_norm_batch[:, ::-1] <= thresholds[::-1][None, :]
    return np.where(ok.all(axis=1), ok.shape[1], np.argmin(ok, axis=1))


def bootstrap_frequency(
    M: np.ndarray,
    n_outputs: int,
    decision: Decision,
    rng: np.random.Generator,
    *,
    n_bootstrap: int = 20,
    max_points: int = 2000,
) -> float:
    """Fraction of bootstrap resamples of the points (rows grouped per point) that reproduce ``decision.dim``.

    Parameters
    ----------
    M : ndarray of shape (n_points * n_outputs, q)
    n_outputs : int
    decision : Decision
    rng : numpy.random.Generator
    n_bootstrap : int
    max_points : int
        Points are subsampled to at most this many first.

    Returns
    -------
    float
    """
    n_points = M.shape[0] // max(n_outputs, 1)
    if n_points < 2 or M.shape[1] == 0 or n_bootstrap <= 0:
        return float("nan")
    blocks = M.reshape(n_points, n_outputs, -1)
    if n_points > max_points:
        blocks = blocks[rng.choice(n_points, size=max_points, replace=False)]
    n = len(blocks)
    spectra = []
    for _ in range(n_bootstrap):
        counts = rng.multinomial(n, np.full(n, 1.0 / n))
        keep = counts > 0
        weighted = blocks[keep] * np.sqrt(counts[keep])[:, None, None]
        spectra.append(normalise(spectrum(weighted.reshape(-1, M.shape[1]))[0]))
    dims = dims_under(np.array(spectra), decision.thresholds)
    return float(np.mean(dims == decision.dim))


# ------------------------------------------------------------------------------------------ null models
def _reinitialised(module: Any, seed: int) -> Any:
    """A copy of a torch module with every ``reset_parameters`` re-run under a seeded, forked torch RNG."""
    import torch

    clone = copy.deepcopy(module)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        with torch.no_grad():
            for sub in clone.modules():
                reset = getattr(sub, "reset_parameters", None)
                if callable(reset):
                    reset()
    return clone


def make_null_models(f: Any, null: Any, *, n_null: int, seed: int) -> tuple[list[Any], str]:
    """Null models for ``f`` and a readable name.

    Parameters
    ----------
    f : model
    null : "auto", "init", None, "none", callable or sequence of models
        ``"init"``: ``n_null`` copies of the torch module ``f`` re-initialised with seeds ``seed + 1 ...``.
        ``"auto"``: ``"init"`` for torch modules, none otherwise. A callable is a factory ``null(seed) -> model``
        called with ``n_null`` seeds; a sequence is used as is.
    n_null : int
    seed : int

    Returns
    -------
    (list of models, str)
    """
    import sys

    torch = sys.modules.get("torch")
    is_module = torch is not None and isinstance(f, torch.nn.Module)
    if null is None or (isinstance(null, str) and null in ("none", "auto") and not (null == "auto" and is_module)):
        return [], ""
    if isinstance(null, str):
        if null not in ("init", "auto"):
            raise SymlieValueError(f"null must be 'auto', 'init', 'none', a callable or a list of models, got {null!r}")
        if not is_module:
            raise SymlieTypeError(
                "null='init' re-initialises a torch.nn.Module, but f is a "
                f"{type(f).__name__}; pass null=<factory seed -> model> or a list of null models"
            )
        seeds = [seed + 1 + i for i in range(n_null)]
        return [_reinitialised(f, s) for s in seeds], f"{type(f).__name__} re-initialised, seeds {seeds}"
    if isinstance(null, list | tuple):
        if not null:
            raise SymlieValueError("null must not be an empty list; pass null=None for the noise-floor rule")
        return list(null), f"{len(null)} user-supplied models"
    if callable(null):
        factory: Callable[[int], Any] = null
        seeds = [seed + 1 + i for i in range(n_null)]
        return [factory(s) for s in seeds], f"user factory, seeds {seeds}"
    raise SymlieTypeError(
        f"null must be 'auto', 'init', 'none', a callable or a list of models, got {type(null).__name__}"
    )
