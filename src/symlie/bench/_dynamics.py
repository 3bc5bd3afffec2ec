"""Benchmark ``symlie bench dynamics``: plain, enforced and promoted SINDy on Lorenz and a rotating R^3 system.

For each system, measurement-noise level (relative to the RMS of the signal) and training length, trajectories
are simulated with ``solve_ivp`` (DOP853), noise is added, derivatives come from one Savitzky-Golay filter shared by
all methods, and three fits are compared on the same data:

* ``plain``: STLSQ (sequential thresholding, unbiased);
* ``enforce``: STLSQ inside the known symmetric subspace (Lorenz: the Z2 (x, y, z) -> (-x, -y, z); rotating:
  the rotation about z), :func:`symlie.dynamics.symmetric_stlsq`;
* ``promote``: nuclear-norm promotion over ``gl(3)`` with alpha by blocked cross-validation,
  :func:`symlie.dynamics.promoted_stlsq` (dimension: relative singular values below 1e-2), not told the symmetry;
* ``promote_enforce``: promote-then-enforce over the candidate ``gl(3)``, not told the symmetry
  (:func:`symlie.dynamics.promote_then_enforce`): reweighted nuclear-norm promotion proposes nested subalgebras
  (snapped to exact ones), interleaved blocked cross-validation of the enforced fits decides the dimension (with
  a fold-bootstrap confidence), and STLSQ inside the discovered symmetry gives the final coefficients.

Measured: relative coefficient error ``||W - W_true||_F / ||W_true||_F``, wrong terms (support mismatches), the
forecast error (relative RMS over a held-out horizon from a fresh initial condition, capped at 1), and the
symmetry dimension of each fitted model inside gl(3) (true: Lorenz 0, rotating 2 = rotation about z + z-scaling).
Targets: enforce no worse than plain at every noise level and clearly better at the two highest or the shortest
data; promote recovers the true dimension from noisy data.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

SUMMARY = "SINDy on Lorenz and a rotating R^3 system: plain STLSQ vs symmetry enforced vs promoted, with noise"

NOISES = (0.0, 1e-3, 1e-2, 5e-2)
#: Per system: threshold, training lengths (samples per trajectory), trajectories, forecast horizon (samples).
SETUPS: dict[str, dict[str, Any]] = {
    "lorenz": {"threshold": 0.5, "lengths": (500, 1500, 4000), "n_traj": 1, "horizon": 250, "true_dim": 0},
    "rotating": {"threshold": 0.1, "lengths": (200, 400, 800), "n_traj": 4, "horizon": 300, "true_dim": 2},
}


def _initial(name: str, rng: np.random.Generator) -> np.ndarray:
    if name == "lorenz":
        return np.array([-8.0, 8.0, 27.0]) + rng.normal(scale=2.0, size=3)
    return np.r_[rng.uniform(-1.5, 1.5, 2), rng.uniform(-2.0, 2.0)]


def _forecast_error(system: Any, W: np.ndarray, x0: np.ndarray, horizon: int) -> float:
    import warnings

    from symlie.dynamics import simulate

    _, truth = simulate(system, horizon, x0=x0)

    def rhs(X: np.ndarray) -> np.ndarray:
        return system.library.evaluate(X) @ W.T

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, pred = simulate(rhs, horizon, dt=system.dt, x0=x0, rtol=1e-8, atol=1e-8)
    except Exception:
        return 1.0
    err = float(np.sqrt(np.mean((pred - truth) ** 2)) / np.sqrt(np.mean(truth**2)))
    return min(err, 1.0) if np.isfinite(err) else 1.0


def run_case(name: str, noise: float, length: int, seed: int = 0) -> dict[str, Any]:
    """One (system, noise, length) cell: the three fits and their metrics."""
    import symlie as sl
    from symlie import dynamics as dyn
    from symlie.dynamics._fit import promote_singular_values

    setup = SETUPS[name]
    system = dyn.lorenz() if name == "lorenz" else dyn.rotating()
    rng = np.random.default_rng(seed)
    states, derivs = [], []
    for _ in range(setup["n_traj"]):
        _, X = dyn.simulate(system, length, x0=_initial(name, rng))
        Xn = X + noise * np.sqrt(np.mean(X**2)) * rng.standard_normal(X.shape)
        s, d = dyn.smoothed_derivative(Xn, system.dt, window=31)
        states.append(s)
        derivs.append(d)
    Theta = system.library.evaluate(np.concatenate(states))
    Y = np.concatenate(derivs)
    data = dyn.LeastSquaresData.from_data(Theta, Y)
    operator = sl.lie_derivative_operator(system.library, sl.gl(3), "vector_field", points="exact")
    basis = sl.enforce(system.library, system.symmetry, output="vector_field").basis
    thr = setup["threshold"]
    x_test = _initial(name, rng)
    out: dict[str, Any] = {"system": name, "noise": noise, "length": length, "n_samples": len(Theta)}
    fits: dict[str, tuple[np.ndarray, float]] = {}
    start = time.perf_counter()
    fits["plain"] = (dyn.symmetric_stlsq(data, None, threshold=thr)[0], time.perf_counter() - start)
    start = time.perf_counter()
    fits["enforce"] = (dyn.symmetric_stlsq(data, basis, threshold=thr)[0], time.perf_counter() - start)
    start = time.perf_counter()
    alpha, _ = dyn.cross_validate_alpha(Theta, Y, operator, threshold=thr)
    W_prom, _ = dyn.promoted_stlsq(data, operator, alpha=alpha, threshold=thr)
    fits["promote"] = (W_prom, time.perf_counter() - start)
    start = time.perf_counter()
    selection = dyn.promote_then_enforce(np.concatenate(states), Y, system.library, sl.gl(3), threshold=thr)
    fits["promote_enforce"] = (selection.coef, time.perf_counter() - start)
    norm = float(np.linalg.norm(system.coef))
    out["alpha_cv"] = alpha
    out["alpha"] = selection.alpha
    out["discovery"] = {
        "dim": selection.dim,
        "confidence": selection.confidence,
        "threshold": selection.threshold,
        "promoted_spectrum": [float(v) for v in selection.singular_values],
        "promoted_coef_error": float(np.linalg.norm(selection.promoted_coef - system.coef) / norm),
        "cv_dims": selection.cv["dims"],
        "cv_mean_error": selection.cv["mean_error"],
    }
    for method, (W, seconds) in fits.items():
        s = promote_singular_values(operator, W)
        s = s / s[0] if s[0] > 0 else s
        out[method] = {
            "coef_error": float(np.linalg.norm(W - system.coef) / norm),
            "wrong_terms": int(np.sum((W != 0) != (system.coef != 0))),
            "forecast_error": _forecast_error(system, W, x_test, setup["horizon"]),
            "symmetry_dim": selection.dim if method == "promote_enforce" else dyn.symmetry_dimension(s),
            "smallest_singular_values": [float(v) for v in s[-3:]],
            "seconds": round(seconds, 3),
        }
    return out


def _targets(cases: list[dict[str, Any]]) -> dict[str, Any]:
    no_worse = all(c["enforce"]["coef_error"] <= c["plain"]["coef_error"] * 1.05 + 1e-4 for c in cases)
    hard = [c for c in cases if c["noise"] >= 1e-2 or c["length"] == SETUPS[c["system"]]["lengths"][0]]
    better = sum(c["enforce"]["coef_error"] < 0.5 * c["plain"]["coef_error"] for c in hard)
    noisy = [c for c in cases if c["noise"] > 0]
    top = sorted({c["noise"] for c in cases})[-2:]
    high = [c for c in cases if c["noise"] in top]
    out: dict[str, Any] = {
        "enforce_no_worse_everywhere (within 5%)": no_worse,
        "enforce_2x_better_in_hard_cells": f"{better}/{len(hard)}",
    }
    for method in ("promote", "promote_enforce"):
        missed = [c for c in noisy if c[method]["symmetry_dim"] != SETUPS[c["system"]]["true_dim"]]
        worse = [c for c in high if c[method]["coef_error"] > c["plain"]["coef_error"] * 1.05 + 1e-4]
        out[f"{method}_true_dim_from_noisy_data"] = f"{len(noisy) - len(missed)}/{len(noisy)}"
        out[f"{method}_dim_missed"] = [
            f"{c['system']} noise={c['noise']:g} length={c['length']}: found {c[method]['symmetry_dim']}"
            for c in missed
        ]
        out[f"{method}_no_worse_than_plain_at_two_highest_noises"] = f"{len(high) - len(worse)}/{len(high)}"
        out[f"{method}_worse_cells"] = [f"{c['system']} noise={c['noise']:g} length={c['length']}" for c in worse]
    return out


def run(
    *,
    systems: tuple[str, ...] = ("lorenz", "rotating"),
    noises: tuple[float, ...] = NOISES,
    seed: int = 0,
    lengths: dict[str, tuple[int, ...]] | None = None,
) -> dict[str, Any]:
    """Run every cell; returns the JSON document (machine, versions, cases, targets)."""
    from symlie.bench import machine_info, versions

    start = time.perf_counter()
    cases = []
    for name in systems:
        for length in (lengths or {}).get(name, SETUPS[name]["lengths"]):
            for noise in noises:
                cases.append(run_case(name, noise, length, seed))
    return {
        "benchmark": "dynamics",
        "machine": machine_info(),
        "versions": versions(),
        "setups": {k: {**v, "lengths": list(v["lengths"])} for k, v in SETUPS.items()},
        "cases": cases,
        "targets": _targets(cases),
        "seconds": round(time.perf_counter() - start, 1),
    }


def plot(document: dict[str, Any], path: Path) -> None:
    """Coefficient error and forecast error vs noise (one panel per system and metric), per training length."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = list(dict.fromkeys(c["system"] for c in document["cases"]))
    fig, axes = plt.subplots(2, len(systems), figsize=(5.5 * len(systems), 7), squeeze=False)
    colors = {"plain": "tab:gray", "enforce": "tab:blue", "promote": "tab:orange", "promote_enforce": "tab:green"}
    for j, name in enumerate(systems):
        cases = [c for c in document["cases"] if c["system"] == name]
        lengths = sorted({c["length"] for c in cases})
        styles = dict(zip(lengths, [":", "--", "-"][-len(lengths) :]))
        for i, metric in enumerate(("coef_error", "forecast_error")):
            ax = axes[i, j]
            for method, color in colors.items():
                for length in lengths:
                    rows = sorted((c for c in cases if c["length"] == length), key=lambda c: c["noise"])
                    x = [max(c["noise"], 1e-4) for c in rows]
                    y = [max(c[method][metric], 1e-6) for c in rows]
                    ax.plot(
                        x,
                        y,
                        styles[length],
                        color=color,
                        marker="o",
                        ms=3,
                        label=f"{method}, {length} samples" if i == 0 else None,
                    )
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("relative noise (0 plotted at 1e-4)")
            ax.set_ylabel("relative coefficient error" if i == 0 else "forecast error (held-out, capped at 1)")
            ax.set_title(f"{name}: {'coefficients' if i == 0 else 'forecast'}")
            ax.grid(True, which="both", alpha=0.3)
        axes[0, j].legend(fontsize=7, ncol=1)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--systems", nargs="+", default=["lorenz", "rotating"], choices=sorted(SETUPS))
    parser.add_argument("--noises", nargs="+", type=float, default=list(NOISES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="benchmarks/dynamics.json", help="JSON path (the plot goes next to it)")
    parser.add_argument("--no-plot", action="store_true")


def main(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    document = run(systems=tuple(args.systems), noises=tuple(args.noises), seed=args.seed)
    path = Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1))
    if not args.no_plot:
        plot(document, path.with_suffix(".png"))
    table = Table(title="symlie bench dynamics")
    for col in (
        "system",
        "noise",
        "length",
        "plain err/wrong",
        "enforce err/wrong",
        "promote err/wrong",
        "prom+enf err/wrong",
        "dims p/e/pr/pe",
    ):
        table.add_column(col)
    for c in document["cases"]:
        methods = ("plain", "enforce", "promote", "promote_enforce")
        cells = [f"{c[m]['coef_error']:.2e}/{c[m]['wrong_terms']}" for m in methods]
        dims = "/".join(str(c[m]["symmetry_dim"]) for m in methods)
        table.add_row(c["system"], f"{c['noise']:g}", str(c["length"]), *cells, dims)
    console = Console()
    console.print(table)
    console.print(document["targets"])
    return 0
