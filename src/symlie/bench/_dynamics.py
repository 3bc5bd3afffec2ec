"""Benchmark ``symlie bench dynamics``: plain, enforced and promoted SINDy on Lorenz and a rotating R^3 system.

For each system, measurement-noise level (relative to the RMS of the signal) and training length, trajectories
are simulated with ``solve_ivp`` (DOP853), noise is added, derivatives come from one Savitzky-Golay filter shared by
all methods (the first and last ``WINDOW // 2`` samples of each trajectory, where the filter extrapolates, are
dropped), and the fits are compared on the same data:

* ``plain``: STLSQ (sequential thresholding, unbiased);
* ``enforce``: STLSQ inside the known symmetric subspace (Lorenz: the Z2 (x, y, z) -> (-x, -y, z); rotating:
  the rotation about z), :func:`symlie.dynamics.symmetric_stlsq`;
* ``promote``: nuclear-norm promotion over ``gl(3)`` with alpha by blocked cross-validation,
  :func:`symlie.dynamics.promoted_stlsq` (dimension: relative singular values below 1e-2), not told the symmetry;
  a baseline for the next row;
* ``promote_enforce``: promote-then-enforce over the candidate ``gl(3)``, not told the symmetry
  (:func:`symlie.dynamics.promote_then_enforce`): for ``d = 1, 2, ...`` the best fit under "a ``d``-dimensional
  symmetry" (maximum likelihood over the model and the generators, started from the promoted fits) is compared
  with a block-bootstrap noise floor of its loss increase (level 1%); the last ``d`` accepted is the dimension,
  and STLSQ inside the discovered symmetry gives the final coefficients.

Measured: relative coefficient error ``||W - W_true||_F / ||W_true||_F``, wrong terms (support mismatches), the
forecast error (relative RMS over a held-out horizon from a fresh initial condition, capped at 1), and the
symmetry dimension of each fitted model inside gl(3) (true: Lorenz 0, rotating 2 = rotation about z + z-scaling),
and for promote-then-enforce the test record (loss increase over floor for every ``d`` tested, margin) and the
angle between the discovered and the true symmetry algebra.
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
WINDOW = 31  # Savitzky-Golay window (samples)
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


def _algebra_angle(system: Any, generators: np.ndarray) -> float | None:
    """Largest principal angle (radians) between the discovered and the true symmetry algebra in gl(3)."""
    import symlie as sl
    from symlie.dynamics._select import vector_field_tensor

    M = np.einsum("rqp,p->rq", vector_field_tensor(system.library, sl.gl(3)), system.coef.reshape(-1))
    _, s, vt = np.linalg.svd(M)
    true = vt[int(np.sum(s > 1e-9 * s[0])) :]
    if len(true) != len(generators):
        return None
    if len(true) == 0:
        return 0.0
    cosines = np.linalg.svd(true @ generators.T, compute_uv=False)
    return float(np.arccos(np.clip(cosines.min(), -1.0, 1.0)))


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
        s, d = dyn.smoothed_derivative(Xn, system.dt, window=WINDOW)
        states.append(s[WINDOW // 2 : -(WINDOW // 2)])  # the filter's end windows extrapolate: not used
        derivs.append(d[WINDOW // 2 : -(WINDOW // 2)])
    Theta = system.library.evaluate(np.concatenate(states))
    Y = np.concatenate(derivs)
    data = dyn.LeastSquaresData.from_data(Theta, Y)
    operator = sl.lie_derivative_operator(system.library, sl.gl(3), "vector_field", points="exact")
    basis = sl.enforce(system.library, system.symmetry, output="vector_field").basis
    thr = setup["threshold"]
    x_test = _initial(name, rng)
    out: dict[str, Any] = {"system": name, "noise": noise, "length": length, "seed": seed, "n_samples": len(Theta)}
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
        "margin": selection.margin,
        "confidence": selection.confidence,
        "statistics": selection.statistics.tolist(),
        "floors": selection.floors.tolist(),
        "p_values": selection.p_values.tolist(),
        "codims": selection.codims,
        "generators": np.round(selection.matrices, 6).tolist(),
        "algebra_angle": _algebra_angle(system, selection.generators),
        "residual": selection.residual,
        "closure": selection.closure,
        "ls_spectrum": [float(v) for v in selection.singular_values],
        "promoted_coef_error": float(np.linalg.norm(selection.promoted_coef - system.coef) / norm),
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
        "promote_enforce_test": "d accepted iff its loss increase <= the 99% block-bootstrap floor; last d accepted",
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
    angles = [(c, c["discovery"]["algebra_angle"]) for c in noisy if c["discovery"]["dim"] > 0]
    wrong_algebra = [c for c, a in angles if a is None or a > 0.1]
    out["promote_enforce_right_algebra_in_noisy_cells_with_symmetry"] = (
        f"{len(angles) - len(wrong_algebra)}/{len(angles)} (largest principal angle to the true algebra < 0.1 rad)"
    )
    out["promote_enforce_wrong_algebra"] = [
        f"{c['system']} noise={c['noise']:g} length={c['length']}: angle {c['discovery']['algebra_angle']}, "
        f"codim {c['discovery']['codims'][c['discovery']['dim']]}"
        for c in wrong_algebra
    ]
    out["promote_enforce_smallest_margin"] = min(c["discovery"]["margin"] for c in cases)
    return out


def _robustness(repeats: list[dict[str, Any]], seeds: tuple[int, ...]) -> dict[str, Any]:
    """Discovered dimension and promote-then-enforce vs plain coefficient error over other seeds."""
    if not repeats:
        return {}
    missed = [c for c in repeats if c["promote_enforce"]["symmetry_dim"] != SETUPS[c["system"]]["true_dim"]]
    worse = [c for c in repeats if c["promote_enforce"]["coef_error"] > c["plain"]["coef_error"] * 1.05 + 1e-4]

    def cell(c: dict[str, Any]) -> str:
        return f"{c['system']} noise={c['noise']:g} length={c['length']}"

    return {
        "seeds": list(seeds),
        "noisy_cells": len(repeats),
        "promote_enforce_true_dim": f"{len(repeats) - len(missed)}/{len(repeats)}",
        "dim_missed": [
            f"{cell(c)} (seed in {list(seeds)}): found {c['promote_enforce']['symmetry_dim']}, "
            f"margin {c['discovery']['margin']:.3g}"
            for c in missed
        ],
        "promote_enforce_no_worse_than_plain": f"{len(repeats) - len(worse)}/{len(repeats)}",
        "worse_cells": [cell(c) for c in worse],
        "cells": [
            {
                "system": c["system"],
                "noise": c["noise"],
                "length": c["length"],
                "seed": c["seed"],
                "dim": c["promote_enforce"]["symmetry_dim"],
                "margin": c["discovery"]["margin"],
                "algebra_angle": c["discovery"]["algebra_angle"],
                "plain_coef_error": c["plain"]["coef_error"],
                "promote_enforce_coef_error": c["promote_enforce"]["coef_error"],
            }
            for c in repeats
        ],
    }


def run(
    *,
    systems: tuple[str, ...] = ("lorenz", "rotating"),
    noises: tuple[float, ...] = NOISES,
    seed: int = 0,
    lengths: dict[str, tuple[int, ...]] | None = None,
    extra_seeds: tuple[int, ...] = (),
) -> dict[str, Any]:
    """Run every cell; returns the JSON document (machine, versions, cases, targets).

    ``extra_seeds`` repeat every noisy cell with other data (trajectories and noise) for the ``robustness``
    summary of the discovered dimension and of the promote-then-enforce coefficient error.
    """
    from symlie.bench import machine_info, versions

    start = time.perf_counter()
    cells = [
        (name, noise, length)
        for name in systems
        for length in (lengths or {}).get(name, SETUPS[name]["lengths"])
        for noise in noises
    ]
    cases = [run_case(name, noise, length, seed) for name, noise, length in cells]
    repeats = [run_case(*cell, s) for s in extra_seeds for cell in cells if cell[1] > 0]
    return {
        "benchmark": "dynamics",
        "machine": machine_info(),
        "versions": versions(),
        "setups": {k: {**v, "lengths": list(v["lengths"])} for k, v in SETUPS.items()},
        "cases": cases,
        "targets": _targets(cases),
        "robustness": _robustness(repeats, extra_seeds),
        "seconds": round(time.perf_counter() - start, 1),
    }


def plot(document: dict[str, Any], path: Path) -> None:
    """Three rows per system: coefficient error, forecast error, and the dimension test (loss increase / floor).

    The nuclear-norm-only baseline (``promote``) is in the JSON, not in the plot.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    systems = list(dict.fromkeys(c["system"] for c in document["cases"]))
    fig, axes = plt.subplots(3, len(systems), figsize=(5.2 * len(systems), 10.5), squeeze=False)
    methods = {
        "plain": ("plain STLSQ", "0.45"),
        "enforce": ("symmetry enforced (told)", "tab:blue"),
        "promote_enforce": ("promote, test, enforce (not told)", "tab:green"),
    }
    markers = {"plain": "s", "enforce": "o", "promote_enforce": "D"}
    for j, name in enumerate(systems):
        cases = [c for c in document["cases"] if c["system"] == name]
        lengths = sorted({c["length"] for c in cases})
        styles = dict(zip(lengths, [":", "--", "-"][-len(lengths) :]))
        true_dim = SETUPS[name]["true_dim"]
        for i, metric in enumerate(("coef_error", "forecast_error")):
            ax = axes[i, j]
            for method, (_, color) in methods.items():
                for length in lengths:
                    rows = sorted((c for c in cases if c["length"] == length), key=lambda c: c["noise"])
                    x = [max(c["noise"], 1e-4) for c in rows]
                    y = [max(c[method][metric], 1e-6) for c in rows]
                    hollow = {"mfc": "none", "ms": 7, "zorder": 3} if method == "plain" else {"ms": 4}
                    ax.plot(x, y, styles[length], color=color, marker=markers[method], lw=1.3, **hollow)
            ax.set_yscale("log")
            ax.set_ylabel("relative coefficient error" if i == 0 else "forecast error (held out, capped at 1)")
            ax.set_title(f"{name}: {'coefficients' if i == 0 else 'forecast'}")
        ax = axes[2, j]
        for length in lengths:
            rows = sorted((c for c in cases if c["length"] == length), key=lambda c: c["noise"])
            for d, color in ((true_dim, "tab:green"), (true_dim + 1, "tab:red")):
                pts = [
                    (max(c["noise"], 1e-4), c["discovery"]["statistics"][d] / c["discovery"]["floors"][d])
                    for c in rows
                    if 0 < d < len(c["discovery"]["statistics"])
                ]
                if pts:
                    ax.plot(*zip(*pts), styles[length], color=color, marker="o", ms=4, lw=1.3)
        axes[1, j].legend(
            handles=[Line2D([], [], color="k", ls=styles[n], label=f"{n} samples / trajectory") for n in lengths],
            fontsize=7,
            loc="best",
        )
        ax.axhline(1.0, color="k", lw=1.0)
        ax.set_yscale("log")
        ax.set_ylabel("loss increase / 99% bootstrap floor\n(d accepted iff < 1)")
        ax.set_title(f"{name}: dimension test (true dim {true_dim})")
        for ax in axes[:, j]:
            ax.set_xscale("log")
            ax.set_xlabel("relative noise (0 plotted at 1e-4)")
            ax.grid(True, which="both", alpha=0.3)
    handles = [
        Line2D([], [], color=c, marker=markers[m], mfc="none" if m == "plain" else c, label=lab)
        for m, (lab, c) in methods.items()
    ]
    axes[0, 0].legend(handles=handles, fontsize=7, loc="best")
    test_handles = [
        Line2D([], [], color="tab:green", marker="o", label="d = true dim (should be accepted)"),
        Line2D([], [], color="tab:red", marker="o", label="d = true dim + 1 (should be rejected)"),
    ]
    axes[2, 0].legend(handles=test_handles, fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=200)
    plt.close(fig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--systems", nargs="+", default=["lorenz", "rotating"], choices=sorted(SETUPS))
    parser.add_argument("--noises", nargs="+", type=float, default=list(NOISES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--extra-seeds", nargs="*", type=int, default=[1, 2, 3], help="repeat the noisy cells (robustness summary)"
    )
    parser.add_argument("--output", default="benchmarks/dynamics.json", help="JSON path (the plot goes next to it)")
    parser.add_argument("--no-plot", action="store_true")


def main(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    document = run(
        systems=tuple(args.systems),
        noises=tuple(args.noises),
        seed=args.seed,
        extra_seeds=tuple(args.extra_seeds),
    )
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
    robustness = {k: v for k, v in document["robustness"].items() if k != "cells"}
    if robustness:
        console.print(robustness)
    return 0
