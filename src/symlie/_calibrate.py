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
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._errors import SymlieTypeError, SymlieValueError

__all__ = [
    "DEFAULT_FACTOR",
    "Decision",
    "block_grams",
    "bootstrap_frequency",
    "decide",
    "gram_spectrum",
    "make_null_models",
    "sampled_spectrum",
    "spectrum",
    "stack_rows",
]

#: Default factor between a symmetry's singular value and the null's (half a decade).
DEFAULT_FACTOR = 10**0.5
#: Smallest relative noise floor (rounding of the SVD itself).
NOISE_FLOOR_MIN = 1e-12
#: The Gram matrix resolves singular values down to about sqrt(eps) of the largest; below this, QR is used.
GRAM_RESOLUTION = 1e-5
#: The same for a float32 Gram matrix (float32 Lie matrices of float32 models): below, it is redone in float64.
GRAM_RESOLUTION_FLOAT32 = 1e-2


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


def gram_spectrum(G: np.ndarray, *, resolution: float = GRAM_RESOLUTION) -> tuple[np.ndarray, np.ndarray] | None:
    r"""Singular values and right singular vectors from the Gram matrix :math:`G = M^\top M` (q, q).

    ``None`` when the Gram matrix does not resolve every singular value (the smallest below ``resolution`` times
    the largest: its accuracy is :math:`\sqrt{\epsilon}`).

    Parameters
    ----------
    G : ndarray of shape (q, q)
    resolution : float, default GRAM_RESOLUTION
        :data:`GRAM_RESOLUTION_FLOAT32` for a Gram matrix accumulated from float32 products.

    Returns
    -------
    (ndarray of shape (q,), ndarray of shape (q, q)) or None
    """
    values, vectors = np.linalg.eigh(np.asarray(G, dtype=np.float64))
    s = np.sqrt(np.clip(values[::-1], 0.0, None))
    if len(s) and s[0] > 0 and s[-1] > resolution * s[0]:
        return s, vectors[:, ::-1].T.copy()
    return None


def block_grams(M: np.ndarray, n_outputs: int, n_blocks: int = 32) -> np.ndarray:
    r"""Gram matrices of ``n_blocks`` consecutive blocks of points: their sum is :math:`M^\top M`.

    Parameters
    ----------
    M : ndarray of shape (n_points * n_outputs, q)
        Rows ordered (point, output). Column-major storage (as :func:`symlie._derivatives.lie_matrix` returns)
        makes every block product a symmetric rank-k update. Products are formed in ``M``'s dtype (blocks of a
        few thousand rows keep float32 accumulation error near :math:`10^{-6}`) and returned in float64.
    n_outputs : int
    n_blocks : int, default 32

    Returns
    -------
    ndarray of shape (min(n_blocks, n_points), q, q)
    """
    n_points = M.shape[0] // max(n_outputs, 1)
    edges = np.linspace(0, n_points, min(n_blocks, n_points) + 1).astype(int) * n_outputs
    M_t = M.T
    grams = []
    for a, b in itertools.pairwise(edges):
        part = M_t[:, a:b]
        grams.append(part @ part.T)
    return np.array(grams, dtype=np.float64) if grams else np.zeros((0, M.shape[1], M.shape[1]))


def spectrum(M: np.ndarray, *, fast: bool = True) -> tuple[np.ndarray, np.ndarray]:
    r"""Singular values (decreasing, padded with zeros to ``q``) and right singular vectors of ``M`` (R, q).

    Tall matrices use the Gram matrix :math:`M^\top M` when every singular value is resolved by it (relative size
    above :data:`GRAM_RESOLUTION`, its accuracy being :math:`\sqrt{\epsilon}`), and otherwise a QR factorisation
    (same singular values and right vectors to rounding level).

    Parameters
    ----------
    M : ndarray of shape (R, q)
    fast : bool, default True
        Allow the Gram route (float32 matrices: a float32 Gram matrix when it resolves the spectrum to
        :data:`GRAM_RESOLUTION_FLOAT32`, otherwise the float64 routes).

    Returns
    -------
    (ndarray of shape (q,), ndarray of shape (q, q))
        ``s`` and ``Vt`` (rows are right singular vectors).
    """
    q = M.shape[1]
    if q == 0:
        return np.zeros(0), np.zeros((0, 0))
    if M.dtype == np.float32:
        if fast and M.shape[0] > 2 * q:
            found = gram_spectrum((M.T @ M).astype(np.float64), resolution=GRAM_RESOLUTION_FLOAT32)
            if found is not None:
                return found
        M = M.astype(np.float64)
    if M.shape[0] > 2 * q:
        if fast:
            found = gram_spectrum(M.T @ M)
            if found is not None:
                return found
        M = np.linalg.qr(M, mode="r")
    if M.shape[0] == 0:
        return np.zeros(q), np.eye(q)
    _, s, vt = np.linalg.svd(M, full_matrices=True)
    return np.pad(s, (0, q - len(s))), vt


def sampled_spectrum(M: np.ndarray, n_outputs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """Spectrum of a sampled Lie matrix, with the block Gram matrices that make the bootstrap cheap.

    Gram matrices of blocks of (randomly ordered) points give the spectrum; a float32 matrix whose float32 Gram
    matrix does not resolve it is promoted to float64, and the QR route takes over when even the float64 Gram
    matrix cannot resolve the smallest singular values (then no block Gram matrices are returned).

    Parameters
    ----------
    M : ndarray of shape (n_points * n_outputs, q)
    n_outputs : int

    Returns
    -------
    (ndarray of shape (q,), ndarray of shape (q, q), ndarray of shape (n_blocks, q, q) or None, ndarray)
        ``s``, ``Vt``, the block Gram matrices and ``M`` (promoted to float64 when that was needed).
    """
    if M.shape[0] > 2 * M.shape[1]:
        grams = block_grams(M, n_outputs)
        resolution = GRAM_RESOLUTION_FLOAT32 if M.dtype == np.float32 else GRAM_RESOLUTION
        found = gram_spectrum(grams.sum(axis=0), resolution=resolution)
        if found is None and M.dtype == np.float32:
            M = M.astype(np.float64)
            grams = block_grams(M, n_outputs)
            found = gram_spectrum(grams.sum(axis=0))
        if found is not None:
            return found[0], found[1], grams, M
    s, vt = spectrum(M.astype(np.float64, copy=False), fast=False)
    return s, vt, None, M


def stack_rows(modules: list[Any]) -> Any:
    """One torch module that evaluates ``modules[j]`` on the ``j``-th of ``len(modules)`` row blocks of its input.

    Rows stay independent, so one backward pass gives every module's gradients (null models in one call). An input
    whose rows do not split into equal blocks (a shape probe) is passed to the first module only.
    """
    import torch

    class _RowBlocks(torch.nn.Module):
        def __init__(self, parts: list[Any]) -> None:
            super().__init__()
            self.parts = torch.nn.ModuleList(parts)

        def forward(self, x: Any) -> Any:
            if len(x) % len(self.parts):  # not a stack of equal blocks (a shape probe): the first module
                return self.parts[0](x)
            blocks = torch.tensor_split(x, len(self.parts))
            return torch.cat([part(block) for part, block in zip(self.parts, blocks, strict=True)])

    return _RowBlocks(modules)


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
    grams: np.ndarray | None = None,
) -> float:
    """Fraction of bootstrap resamples of the points (rows grouped per point) that reproduce ``decision.dim``.

    With ``grams`` (Gram matrices of blocks of randomly ordered points, see :func:`block_grams`) a resample draws
    blocks with replacement and its spectrum comes from the summed Gram matrix (``eigvalsh`` of q x q): the same
    variance as a point bootstrap for exchangeable points, at no cost per point. Otherwise points are resampled
    (at most ``max_points``) and each resample is factorised (QR when the Gram matrix cannot resolve it).

    Parameters
    ----------
    M : ndarray of shape (n_points * n_outputs, q)
    n_outputs : int
    decision : Decision
    rng : numpy.random.Generator
    n_bootstrap : int
    max_points : int
        Points are subsampled to at most this many first (point bootstrap).
    grams : ndarray of shape (n_blocks, q, q), optional
        Block Gram matrices; use them only when the Gram matrix resolves the spectrum.

    Returns
    -------
    float
    """
    n_points = M.shape[0] // max(n_outputs, 1)
    if n_points < 2 or M.shape[1] == 0 or n_bootstrap <= 0:
        return float("nan")
    if grams is not None and len(grams) >= 2:
        n = len(grams)
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=n_bootstrap).astype(np.float64)
        values = np.linalg.eigvalsh(np.tensordot(weights, grams, axes=1))[:, ::-1]
        s = np.sqrt(np.clip(values, 0.0, None))
        resampled = s / np.where(s[:, :1] > 0, s[:, :1], 1.0)
        return float(np.mean(dims_under(resampled, decision.thresholds) == decision.dim))
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
    return float(np.mean(dims_under(np.array(spectra), decision.thresholds) == decision.dim))


# ------------------------------------------------------------------------------------------ null models
def _reinitialised(module: Any, seed: int, count: int) -> list[Any]:
    """``count`` re-initialisations of a torch module from one seeded, forked torch RNG stream.

    One copy of the module is made; every ``reset_parameters`` is re-run ``count`` times and each resulting set of
    parameters and buffers is kept. Each null model is a small module that calls the copy with its own tensors
    (``torch.func.functional_call``), so nothing is deep-copied per null model and the global RNG is untouched.
    """
    import torch
    from torch.func import functional_call

    class _Reinitialised(torch.nn.Module):
        def __init__(self, base: Any, state: dict[str, Any]) -> None:
            super().__init__()
            object.__setattr__(self, "_base", base)  # shared and hidden: only this module's buffers are its state
            self._names = list(state)
            for k, tensor in enumerate(state.values()):
                self.register_buffer(f"t{k}", tensor)

        def forward(self, x: Any) -> Any:
            tensors = {name: getattr(self, f"t{k}") for k, name in enumerate(self._names)}
            base: Any = self._base
            return functional_call(base, tensors, (x,))

    base = copy.deepcopy(module)
    nulls = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        with torch.no_grad():
            for _ in range(count):
                for sub in base.modules():
                    reset = getattr(sub, "reset_parameters", None)
                    if callable(reset):
                        reset()
                state = {name: t.detach().clone() for name, t in (*base.named_parameters(), *base.named_buffers())}
                nulls.append(_Reinitialised(base, state))
    return nulls


def make_null_models(f: Any, null: Any, *, n_null: int, seed: int) -> tuple[list[Any], str]:
    """Null models for ``f`` and a readable name.

    Parameters
    ----------
    f : model
    null : "auto", "init", None, "none", callable or sequence of models
        ``"init"``: ``n_null`` copies of the torch module ``f`` re-initialised in turn from one torch RNG stream
        seeded with ``seed + 1``.
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
        return _reinitialised(f, seed + 1, n_null), f"{type(f).__name__} re-initialised {n_null}x from seed {seed + 1}"
    if isinstance(null, list | tuple):
        if not null:
            raise SymlieValueError("null must not be an empty list; pass null=None for the noise-floor rule")
        return list(null), getattr(null, "label", f"{len(null)} user-supplied models")
    if callable(null):
        factory: Callable[[int], Any] = null
        seeds = [seed + 1 + i for i in range(n_null)]
        return [factory(s) for s in seeds], f"user factory, seeds {seeds}"
    raise SymlieTypeError(
        f"null must be 'auto', 'init', 'none', a callable or a list of models, got {type(null).__name__}"
    )
