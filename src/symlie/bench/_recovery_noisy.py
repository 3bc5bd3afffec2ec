r"""Noisy variant of the recovery experiment (beyond the paper, which is noise-free).

Same targets and operator as :mod:`._recovery`; the training values get additive Gaussian noise of standard
deviation ``sigma`` times the RMS of the target, and ``W`` is fitted by

* **promote**: the penalised program :math:`\min \tfrac12\|\Theta W - y\|^2 + \alpha \|\mathcal{M}(W)\|_*`, with
  ``alpha`` chosen on a 25 % hold-out from a log grid;
* **least squares**: minimum-norm :math:`\Theta^+ y`;
* **Lasso**: scikit-learn's ``LassoCV`` (3 folds) on the monomials.

Reported: the relative coefficient error :math:`\|W - W_{true}\|_2 / \|W_{true}\|_2` against the number of samples
``n`` (multiples of ``n_lib``). Noise and the extra training points come from a generator seeded with
``(seed, 1)``, so the noise-free protocol's draws are unchanged.
"""

from __future__ import annotations

import argparse
import datetime
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ._recovery_targets import make_problem

__all__ = ["main", "run"]

FRACTIONS = (0.5, 1.0, 1.5, 2.0)
ALPHAS = tuple(10.0 ** np.arange(-4, 1))


def _promote_holdout(op: Any, D: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    from .._promote import promote

    order = rng.permutation(len(y))
    cut = max(1, len(y) // 4)
    test, train = order[:cut], order[cut:]
    errors = []
    for alpha in ALPHAS:
        w = promote(op, D[train], y[train], alpha=alpha).coef
        errors.append(float(np.mean((D[test] @ w - y[test]) ** 2)))
    best = ALPHAS[int(np.argmin(errors))]
    return promote(op, D, y, alpha=best).coef, float(best)


def run(
    target: str = "ortho",
    group: str = "se",
    m: int = 5,
    r: int = 1,
    d: int = 2,
    seeds: tuple[int, ...] = (0, 1, 2),
    sigmas: tuple[float, ...] = (1e-3, 1e-2, 1e-1),
    fractions: tuple[float, ...] = FRACTIONS,
) -> dict[str, Any]:
    """Coefficient error vs ``n`` for promote, least squares and Lasso; JSON-serialisable.

    Returns
    -------
    dict
        ``{"settings", "rows"}`` with one row per ``(sigma, seed, n)``: ``error_promote``, ``error_lstsq``,
        ``error_lasso``, ``alpha``.
    """
    from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
    from sklearn.linear_model import LassoCV

    from .._errors import ConvergenceWarning
    from ._recovery import build_operator

    rows = []
    for seed in seeds:
        problem = make_problem(target, group, m=m, r=r, d=d, seed=seed)
        op = build_operator(problem)
        n_max = int(np.ceil(max(fractions) * problem.n_lib))
        rng = np.random.default_rng((seed, 1))
        X = rng.uniform(-1.0, 1.0, (n_max, m))
        clean = problem.evaluate(X)
        D_all = problem.library.evaluate(X)
        scale = float(np.sqrt(np.mean(clean**2)))
        norm = float(np.linalg.norm(problem.coef))
        for sigma in sigmas:
            noisy = clean + sigma * scale * rng.standard_normal(n_max)
            for fraction in fractions:
                n = max(2, round(fraction * problem.n_lib))
                D, y = D_all[:n], noisy[:n]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    warnings.simplefilter("ignore", SklearnConvergenceWarning)
                    w_p, alpha = _promote_holdout(op, D, y, np.random.default_rng((seed, 2, n)))
                    lasso = LassoCV(cv=3, fit_intercept=False, max_iter=20000).fit(D, y)
                w_ls = np.linalg.lstsq(D, y, rcond=None)[0]
                rows.append(
                    {
                        "sigma": sigma,
                        "seed": seed,
                        "n": n,
                        "n_lib": problem.n_lib,
                        "alpha": alpha,
                        "error_promote": float(np.linalg.norm(w_p - problem.coef) / norm),
                        "error_lstsq": float(np.linalg.norm(w_ls - problem.coef) / norm),
                        "error_lasso": float(np.linalg.norm(lasso.coef_ - problem.coef) / norm),
                    }
                )
    settings = {"target": target, "group": group, "m": m, "r": r, "d": d, "seeds": list(seeds)}
    return {"settings": {**settings, "sigmas": list(sigmas), "fractions": list(fractions)}, "rows": rows}


def plot(document: dict[str, Any], path: Path) -> None:
    """Median coefficient error vs n, one panel per sigma."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sigmas = document["settings"]["sigmas"]
    fig, axes = plt.subplots(1, len(sigmas), figsize=(4 * len(sigmas), 3.4), sharey=True, squeeze=False)
    for ax, sigma in zip(axes[0], sigmas):
        rows = [r for r in document["rows"] if r["sigma"] == sigma]
        ns = sorted({r["n"] for r in rows})
        for key, label in (("error_promote", "promote"), ("error_lstsq", "least squares"), ("error_lasso", "Lasso")):
            ax.semilogy(ns, [np.median([r[key] for r in rows if r["n"] == n]) for n in ns], "o-", label=label)
        ax.axvline(rows[0]["n_lib"], color="0.6", ls=":")
        ax.set_title(f"sigma = {sigma:g}")
        ax.set_xlabel("n samples")
    axes[0][0].set_ylabel("||W - W_true|| / ||W_true||")
    axes[0][0].legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(args: argparse.Namespace) -> int:
    """``symlie bench recovery --noisy``: first ``--m``, ``--r``, ``--d``; all ``--seeds``; ``--sigmas``."""
    from rich.console import Console
    from rich.table import Table

    from . import machine_info, versions

    console = Console()
    with console.status("noisy recovery"):
        document = run(args.target, args.group, args.m[0], args.r[0], args.d[0], tuple(args.seeds), tuple(args.sigmas))
    document["date"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    document["machine"], document["versions"] = machine_info(), versions()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = args.tag or f"recovery_noisy_{args.target}_{args.group}"
    (out / f"{stem}.json").write_text(json.dumps(document, indent=1))
    if not args.no_plot:
        plot(document, out / f"{stem}.png")
    table = Table(title="noisy recovery: median relative coefficient error", title_justify="left")
    for column in ("sigma", "n", "promote", "least squares", "Lasso"):
        table.add_column(column, justify="right")
    for sigma in document["settings"]["sigmas"]:
        rows = [r for r in document["rows"] if r["sigma"] == sigma]
        for n in sorted({r["n"] for r in rows}):
            sel = [r for r in rows if r["n"] == n]
            cells = [f"{np.median([r[k] for r in sel]):.2e}" for k in ("error_promote", "error_lstsq", "error_lasso")]
            table.add_row(f"{sigma:g}", str(n), *cells)
    console.print(table)
    return 0
