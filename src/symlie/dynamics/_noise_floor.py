r"""The noise floor of the symmetry test in :func:`symlie.dynamics.promote_then_enforce`.

The statistic is the loss increase :math:`\Delta = \|P^\perp_{D S} D \hat w\|^2` of the best fit inside a
symmetric subspace ``S``. Its null distribution comes from a block (pairs) bootstrap over contiguous blocks of
samples (the derivative filter correlates neighbours, and the errors depend on the state), re-centred at the
full fit and measured in each resample's own metric, then corrected for the generators fitted to the data.
"""

from __future__ import annotations

import numpy as np

__all__ = ["block_bootstrap", "bootstrap_null", "loss_increase", "profiled_floor"]


def loss_increase(D: np.ndarray, Dw: np.ndarray, basis: np.ndarray) -> float:
    """:math:`\\|P^\\perp_{D S} D\\hat w\\|^2`: the loss increase of the best fit inside ``basis``."""
    if basis.shape[1] == 0:
        return float(Dw @ Dw)
    Q = np.linalg.qr(D @ basis)[0]
    r = Dw - Q @ (Q.T @ Dw)
    return float(r @ r)


def block_bootstrap(
    Theta: np.ndarray, Xdot: np.ndarray, w_hat: np.ndarray, block: int, n_boot: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Block-bootstrap designs ``D_b`` (B, P, P) and re-centred deviations ``D_b (w_b - w_hat)`` (B, P)."""
    N, L = Theta.shape
    n = Xdot.shape[1]
    edges = np.arange(0, N, block)
    grams = np.array([Theta[a : a + block].T @ Theta[a : a + block] for a in edges]) / N
    cross = np.array([Theta[a : a + block].T @ Xdot[a : a + block] for a in edges]) / N
    designs, deviations = np.empty((n_boot, n * L, n * L)), np.empty((n_boot, n * L))
    eye = np.eye(n)
    for b in range(n_boot):
        pick = rng.integers(0, len(edges), len(edges))
        G, C = grams[pick].sum(axis=0), cross[pick].sum(axis=0)
        G = G + 1e-12 * np.trace(G) / L * np.eye(L)  # a resample may miss a direction entirely
        R = np.linalg.cholesky(G).T
        w_b = np.linalg.solve(G, C).T.reshape(-1)
        designs[b] = np.kron(eye, R)
        deviations[b] = designs[b] @ (w_b - w_hat)
    return designs, deviations


def bootstrap_null(designs: np.ndarray, deviations: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """The statistic of every bootstrap resample for the subspace ``basis``."""
    out = np.empty(len(designs))
    for b in range(len(designs)):
        out[b] = loss_increase(designs[b], deviations[b], basis)
    return out


def profiled_floor(null: np.ndarray, codim: int, fitted: int, value: float, level: float) -> tuple[float, float]:
    r"""Floor and p-value of the profiled statistic from the fixed-generator bootstrap ``null``.

    The bootstrap keeps the generators fixed, but :math:`\Delta_d` is minimised over them (``fitted`` =
    ``d (q - d)`` directions of the Grassmannian), which removes about that many of the ``codim`` constrained
    directions from the null (Wilks). The bootstrap is matched to :math:`g\,\chi^2_h` (Satterthwaite: mean and
    variance) and the floor is the ``1 - level`` quantile of :math:`g\,\chi^2_{h (c - m) / c}`.
    """
    from scipy.stats import chi2

    mean, var = float(np.mean(null)), float(np.var(null))
    if mean <= 0 or var <= 0:
        return 0.0, 1.0 if value <= 0 else 0.0
    g, h = var / (2 * mean), 2 * mean**2 / var
    dof = max(h * (codim - fitted) / codim, 0.5) if codim > 0 else 0.5
    return float(g * chi2.ppf(1 - level, dof)), float(chi2.sf(value / g, dof))
