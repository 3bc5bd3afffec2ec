"""Benchmark ``symlie bench nn``: equivariant networks on the EMLP datasets, against EMLP's published numbers.

Datasets are generated in code from their definitions (:mod:`symlie.torch`): O5Synthetic (O(5), ``2V -> Scalar``),
Inertia (O(3), ``5 Scalar + 5 V -> V (x) V``) and ParticleInteraction (O(1,3), ``4V -> Scalar``). For each dataset
and training-set size the same training protocol (Adam, one-cycle learning rate, batch ``min(500, n)``, float32,
inputs and outputs standardised by equivariance-preserving constants) trains

* ``mlp`` — a plain MLP (SiLU) of the EMLP's hidden width,
* ``mlp_aug`` — the same MLP with group augmentation (a fresh random group element per sample and step),
* ``emlp`` — :class:`symlie.torch.EMLP`, exactly equivariant,
* ``mlp_penalty`` — the MLP plus :class:`symlie.torch.SymmetryPenalty` (nuclear norm of its Lie-derivative matrix
  over the symmetry algebra, on a batch of training inputs each step),

and reports the test MSE next to EMLP's published test MSE at ``n = 1000`` (Finzi, Welling, Wilson, ICML 2021).
Per dataset it also measures, side by side and interleaved, the training-step time of the EMLP and of an MLP of the
same width and depth, and the equivariance error of the trained EMLP (float32 and float64). A promote-then-enforce
run trains an MLP with the penalty over the larger candidate ``gl(5)`` on O5Synthetic and reports the dimension of
the symmetry algebra read off its spectrum (``so(5)`` has dimension 10).

Targets: EMLP test MSE <= the published EMLP number at n = 1000, step time <= 3x the MLP's, equivariance error
<= 1e-5 (float32) and <= 1e-12 (float64).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

SUMMARY = "train MLP, MLP+augmentation, EMLP and MLP+SymmetryPenalty on the EMLP datasets; time steps vs an MLP"

#: EMLP paper, test MSE at n_train = 1000 (EMLP and MLP).
PUBLISHED = {
    "o5": {"emlp": 0.017, "mlp": 0.089},
    "inertia": {"emlp": 0.060, "mlp": 3.24},
    "lorentz": {"emlp": 3.3e-4, "mlp": 0.36},
}
DATASETS = ("o5", "inertia", "lorentz")
MODELS = ("mlp", "mlp_aug", "emlp", "mlp_penalty")
N_TRAIN = (100, 1000, 3000)
MAX_STEP_RATIO = 3.0
MAX_EQUIVARIANCE = {"float32": 1e-5, "float64": 1e-12}


def _make(name: str, n: int, seed: int) -> Any:
    from symlie.torch import Inertia, O5Synthetic, ParticleInteraction

    return {"o5": O5Synthetic, "inertia": Inertia, "lorentz": ParticleInteraction}[name](n, rng=seed)


def _standardized(net: Any, stats: Any) -> Any:
    import torch

    class Standardized(torch.nn.Module):
        """``y_mean + y_scale * net(x / x_scale)``: commutes with the group (see Dataset.stats)."""

        def __init__(self) -> None:
            super().__init__()
            self.net = net
            for name in ("x_scale", "y_mean", "y_scale"):
                self.register_buffer(name, torch.tensor(getattr(stats, name), dtype=torch.float32))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            buffers = dict(self.named_buffers())
            return buffers["y_mean"] + buffers["y_scale"] * self.net(x / buffers["x_scale"])

    return Standardized()


def mlp(n_in: int, n_out: int, width: int, layers: int) -> Any:
    """A SiLU MLP with ``layers`` hidden layers of ``width`` units."""
    import torch

    modules: list[Any] = []
    size = n_in
    for _ in range(layers):
        modules += [torch.nn.Linear(size, width), torch.nn.SiLU()]
        size = width
    modules.append(torch.nn.Linear(size, n_out))
    return torch.nn.Sequential(*modules)


def _group_pool(data: Any, size: int, seed: int) -> tuple[Any, Any]:
    """``rho_in`` and ``rho_out`` of ``size`` random group elements (float32 tensors)."""
    import torch

    rng = np.random.default_rng(seed)
    elements = [data.group.sample(rng) for _ in range(size)]
    rho_in = np.stack([data.rep_in.rho(g) for g in elements])
    rho_out = np.stack([data.rep_out.rho(g) for g in elements])
    return torch.tensor(rho_in, dtype=torch.float32), torch.tensor(rho_out, dtype=torch.float32)


def _train(
    model: Any,
    X: Any,
    Y: Any,
    *,
    steps: int,
    lr: float,
    seed: int,
    augment: tuple[Any, Any] | None = None,
    penalty: Callable[[Any], Any] | None = None,
) -> float:
    """Adam with a one-cycle schedule; returns the seconds spent."""
    import torch

    opt = torch.optim.Adam(model.parameters(), lr)
    schedule = (
        torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.1)
        if steps >= 20
        else torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0)
    )
    generator = torch.Generator().manual_seed(seed)
    n = X.shape[0]
    batch = min(500, n)
    start = time.perf_counter()
    for _ in range(steps):
        index = torch.randperm(n, generator=generator)[:batch]
        x, y = X[index], Y[index]
        if augment is not None:
            pick = torch.randint(len(augment[0]), (batch,), generator=generator)
            x = torch.einsum("bij,bj->bi", augment[0][pick], x)
            y = torch.einsum("bij,bj->bi", augment[1][pick], y)
        loss = ((model(x) - y) ** 2).mean()
        if penalty is not None:
            loss = loss + penalty(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
    return time.perf_counter() - start


def _mse(model: Any, X: Any, Y: Any) -> float:
    import torch

    with torch.no_grad():
        return float(((model(X) - Y) ** 2).mean())


def step_times(first: Any, second: Any, n_in: int, n_out: int, *, batch: int = 500, repeats: int = 60) -> dict:
    """Training-step times of two models measured interleaved (same data, Adam): minimum and median in ms.

    The ratio is judged on the minima (the least disturbed runs: this machine's cores are shared), and the ratio of
    medians is reported next to it."""
    import torch

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch, n_in, generator=generator)
    y = torch.randn(batch, n_out, generator=generator)
    steps = []
    for model in (first, second):
        opt = torch.optim.Adam(model.parameters(), 1e-4)

        def step(model: Any = model, opt: Any = opt) -> None:
            loss = ((model(x) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

        steps.append(step)
    for step in steps * 3:  # warm up
        step()
    times: list[list[float]] = [[], []]
    for _ in range(repeats):
        for i, step in enumerate(steps):
            start = time.perf_counter()
            step()
            times[i].append(time.perf_counter() - start)
    first_ms, second_ms = (1e3 * float(np.min(t)) for t in times)
    first_median, second_median = (1e3 * float(np.median(t)) for t in times)
    return {
        "first_ms": first_ms,
        "second_ms": second_ms,
        "ratio": first_ms / second_ms,
        "first_median_ms": first_median,
        "second_median_ms": second_median,
        "ratio_median": first_median / second_median,
    }


def _emlp_model(data: Any, width: int, layers: int, seed: int) -> Any:
    from symlie.torch import EMLP

    return EMLP(data.rep_in, data.rep_out, data.group, hidden=width, layers=layers, seed=seed)


def _run_dataset(name: str, options: dict[str, Any], progress: Callable[[str], None]) -> dict[str, Any]:
    import torch

    from symlie.torch import SymmetryPenalty, equivariance_error

    seed, steps, width, layers, lr = (options[k] for k in ("seed", "steps", "width", "layers", "lr"))
    n_test, penalty_weight, penalty_points = options["n_test"], options["penalty_weight"], options["penalty_points"]
    full = _make(name, max(options["n_train"]) + n_test, seed + 1)
    X_all = torch.tensor(full.X, dtype=torch.float32)
    Y_all = torch.tensor(full.Y, dtype=torch.float32)
    X_test, Y_test = X_all[-n_test:], Y_all[-n_test:]
    hidden = _emlp_model(full, width, layers, seed).hidden.size
    pool = _group_pool(full, 4096, seed)
    algebra = full.group.algebra.orthonormalize()
    x_scale = torch.tensor(full.stats.x_scale, dtype=torch.float32)
    out: dict[str, Any] = {"dataset": full.name, "group": full.group.name, "rep_in": repr(full.rep_in)}
    out.update({"rep_out": repr(full.rep_out), "hidden_size": hidden, "runs": []})
    for n in options["n_train"]:
        X, Y = X_all[:n], Y_all[:n]
        n_steps = steps if n >= 1000 else max(1, steps // 2)
        for kind in options["models"]:
            progress(f"{name}: n={n} {kind}")
            torch.manual_seed(seed)
            if kind == "emlp":
                net = _emlp_model(full, width, layers, seed)
            else:
                net = mlp(full.rep_in.size, full.rep_out.size, hidden, layers)
            model = _standardized(net, full.stats)
            penalty = None
            if kind == "mlp_penalty":
                term = SymmetryPenalty(
                    net, algebra, X[:penalty_points] / x_scale, input_action=full.rep_in, output_action=full.rep_out
                )

                def penalty(x: Any, term: Any = term) -> Any:
                    return penalty_weight * term(x[:penalty_points] / x_scale)

            seconds = _train(
                model,
                X,
                Y,
                steps=n_steps,
                lr=lr,
                seed=seed,
                augment=pool if kind == "mlp_aug" else None,
                penalty=penalty,
            )
            record = {"n_train": n, "model": kind, "test_mse": _mse(model, X_test, Y_test)}
            record.update({"train_mse": _mse(model, X, Y), "steps": n_steps, "seconds": seconds})
            record["step_ms"] = 1e3 * seconds / n_steps
            record["equivariance_error"] = equivariance_error(
                model, full.group, full.rep_in, full.rep_out, X_test[:500], n_elements=8, rng=seed
            )
            if kind == "emlp":
                double = _standardized(net, full.stats).double()
                record["equivariance_error_float64"] = equivariance_error(
                    double, full.group, full.rep_in, full.rep_out, X_test[:500].double(), n_elements=8, rng=seed
                )
            out["runs"].append(record)
    out["published_n1000"] = PUBLISHED[name]
    if options["timing"]:
        out.update(_step_timing(full, options, progress))
    from ._nn_report import targets

    out["targets"] = targets(out)
    return out


def _step_timing(full: Any, options: dict[str, Any], progress: Callable[[str], None]) -> dict[str, Any]:
    """EMLP and MLP training-step times side by side, for every timing width."""
    import os

    import torch

    seed, width, layers = options["seed"], options["width"], options["layers"]
    progress(f"{full.name}: step timing")
    torch.manual_seed(seed)
    sweep = {}
    for w in sorted({width, *options["timing_widths"]}):
        emlp = _emlp_model(full, w, layers, seed)
        reference = mlp(full.rep_in.size, full.rep_out.size, emlp.hidden.size, layers)
        t = step_times(emlp, reference, full.rep_in.size, full.rep_out.size)
        sweep[w] = {
            "hidden_size": emlp.hidden.size,
            "emlp_ms": t["first_ms"],
            "mlp_ms": t["second_ms"],
            "ratio": t["ratio"],
            "emlp_median_ms": t["first_median_ms"],
            "mlp_median_ms": t["second_median_ms"],
            "ratio_median": t["ratio_median"],
        }
    timing = {"width": width, "batch": 500, "threads": torch.get_num_threads(), **sweep[width]}
    timing["load_average_1min"] = os.getloadavg()[0]
    return {"step_time": timing, "step_time_by_width": {str(w): v for w, v in sweep.items()}}


def promote_then_enforce(*, n_train: int = 1000, steps: int = 1500, seed: int = 0, weight: float = 0.3) -> dict:
    """Train an MLP on O5Synthetic with the nuclear-norm penalty over gl(5) (acting on both vectors), read the
    symmetry algebra off the spectrum of its Lie-derivative matrix and rebuild an exactly equivariant EMLP."""
    import torch

    import symlie as sl
    from symlie.torch import SymmetryPenalty, enforce_discovered, equivariance_error

    data = _make("o5", n_train + 500, seed + 1)
    X = torch.tensor(data.X, dtype=torch.float32)
    Y = torch.tensor(data.Y, dtype=torch.float32)
    torch.manual_seed(seed)
    net = mlp(10, 1, 128, 2)
    model = _standardized(net, data.stats)
    candidate = sl.gl(5)  # matrix units: already orthonormal
    action = 2 * sl.V(sl.GL(5))
    term = SymmetryPenalty(net, candidate, X[:64], input_action=action)
    seconds = _train(
        model, X[:n_train], Y[:n_train], steps=steps, lr=3e-3, seed=seed, penalty=lambda x: weight * term(x[:64])
    )
    points = X[n_train:].double()
    enforced = enforce_discovered(
        net.double(), candidate, points, lambda H: (2 * sl.V(H), sl.Scalar), input_action=action, hidden=64, layers=1
    )
    found = enforced.discovery
    error = equivariance_error(enforced.model, sl.SO(5), 2 * sl.V(sl.SO(5)), sl.Scalar, points[:200].float())
    return {
        "candidate": "gl(5) on 2V",
        "train_seconds": seconds,
        "penalty_weight": weight,
        "singular_values": found.singular_values.tolist(),
        "discovered_dim": found.dim,
        "expected_dim": 10,
        "gap": found.gap,
        "snap_error": found.snap_error,
        "rebuilt_equivariance_error_SO5": error,
    }


def run(
    *,
    datasets: Sequence[str] = DATASETS,
    n_train: Sequence[int] = N_TRAIN,
    models: Sequence[str] = MODELS,
    steps: int = 5000,
    width: int = 384,
    layers: int = 2,
    lr: float = 3e-3,
    n_test: int = 2000,
    penalty_weight: float = 1.0,
    penalty_points: int = 64,
    timing_widths: Sequence[int] = (256, 384, 512),
    threads: int = 1,
    seed: int = 0,
    promote: bool = True,
    timing: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train every model on every dataset and size; see the module docstring.

    Returns
    -------
    dict
        JSON-serialisable: machine, versions, settings, one entry per dataset (runs, step timing, targets) and the
        promote-then-enforce result.
    """
    import torch

    from symlie.bench import machine_info, versions

    for name in datasets:
        if name not in DATASETS:
            raise ValueError(f"datasets must be among {DATASETS}, got {name!r}")
    for kind in models:
        if kind not in MODELS:
            raise ValueError(f"models must be among {MODELS}, got {kind!r}")
    report = progress or (lambda message: None)
    torch.set_num_threads(threads)
    options = {
        "seed": seed,
        "steps": steps,
        "width": width,
        "layers": layers,
        "lr": lr,
        "n_test": n_test,
        "n_train": list(n_train),
        "models": list(models),
        "penalty_weight": penalty_weight,
        "penalty_points": penalty_points,
        "timing_widths": list(timing_widths),
        "timing": timing,
    }
    start = time.perf_counter()
    result: dict[str, Any] = {
        "benchmark": "nn",
        "machine": machine_info(),
        "versions": versions(),
        "settings": {**options, "threads": threads, "dtype": "float32", "optimizer": "Adam + one-cycle"},
        "published_source": "Finzi, Welling, Wilson (ICML 2021), test MSE at n_train=1000",
        "datasets": [_run_dataset(name, options, report) for name in datasets],
    }
    if promote:
        report("promote-then-enforce on O5Synthetic")
        result["promote_then_enforce"] = promote_then_enforce(seed=seed)
    result["seconds"] = time.perf_counter() - start
    from ._nn_report import summary

    result["summary"] = summary(result)
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``symlie bench nn``."""
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--n-train", nargs="+", type=int, default=list(N_TRAIN))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--steps", type=int, default=5000, help="optimisation steps per model (half for n < 1000)")
    parser.add_argument("--width", type=int, default=384, help="EMLP hidden width (the MLPs use its size)")
    parser.add_argument("--layers", type=int, default=2, help="hidden blocks")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (timings are per thread count)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-promote", action="store_true", help="skip the promote-then-enforce run")
    parser.add_argument(
        "--only",
        choices=("training", "timing"),
        help="run only the training runs (no step timing) or only the step timing (no training, no promote run)",
    )
    parser.add_argument(
        "--merge", action="store_true", help="merge the results into the existing --out JSON instead of replacing it"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/nn.json"), help="JSON file to write")
    parser.add_argument("--plot", type=Path, default=Path("benchmarks/nn_data_efficiency.png"), help="plot file")


def main(args: argparse.Namespace) -> int:
    """Run with parsed options, print the table, write the JSON and the plot; exit code 1 when a target is missed."""
    from rich.console import Console

    from ._nn_report import merge, plot, table

    console = Console()
    with console.status("starting") as status:
        result = run(
            datasets=args.datasets,
            n_train=args.n_train,
            models=[] if args.only == "timing" else args.models,
            steps=args.steps,
            width=args.width,
            layers=args.layers,
            threads=args.threads,
            seed=args.seed,
            promote=not args.no_promote and args.only != "timing",
            timing=args.only != "training",
            progress=lambda message: status.update(message),
        )
    if args.merge and args.out.exists():
        result = merge(json.loads(args.out.read_text()), result)
    console.print(table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    plot(result, args.plot)
    summary = result["summary"]
    console.print(f"{summary['targets_met']}/{summary['targets_total']} targets met; wrote {args.out} and {args.plot}")
    return 0 if summary["targets_met"] == summary["targets_total"] else 1
