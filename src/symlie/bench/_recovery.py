r"""Benchmark ``symlie bench recovery``: how many samples symmetry promotion needs to recover a target exactly.

The protocol of Otto et al. (arXiv 2311.00212), reproduced as stated in the promote issue:

1. a target :math:`F = \phi_d(y(x))` (``ortho`` or ``quad`` features, :mod:`._recovery_targets`), expanded exactly
   in the monomials of degree ``d`` (ortho) or ``2 d`` (quad), so ``W_true`` is known;
2. the candidate algebra ``se(m)`` or ``t(m)``, Frobenius-orthonormalised, acting by invariance;
3. the Lie-derivative operator at ``C(m+D, D) + 1`` (se) or ``C(m+D-1, D-1) + 1`` (t) uniform points (or exact);
4. nested training inputs uniform in :math:`[-1, 1]^m`, noise-free values;
5. the program :math:`\min \|\mathcal{M}(W)\|_*` s.t. :math:`\Theta(X_{:n}) W = Y_{:n}`, success when
   :math:`\max|W - W_{true}| / \max|W_{true}| < 5\cdot 10^{-3}`;
6. ``n_recover``: bisection on ``n`` in ``[1, n_lib + 1]`` for the smallest successful ``n`` (success assumed
   monotone; ``n_lib + 1`` samples determine ``W`` and count as a success without a solve); ``seconds`` is the total
   solve time over the bisection. symlie warm-starts each solve from the
   solution at the upper end of the bisection, which is feasible for every smaller (nested) training set.

``solver="cvxpy"`` solves the same program with cvxpy + SCS (``max_iters=2500``), :mod:`symlie._cvxpy_baseline`.
The grid runner (Dask, CSV, plots) is :mod:`._recovery_grid`; the noisy variant is :mod:`._recovery_noisy`.
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._recovery_targets import GROUPS, TARGETS, RecoveryProblem, make_problem

SUMMARY = "samples needed to recover polynomial targets by nuclear-norm symmetry promotion (Otto et al.)"

__all__ = ["SUCCESS", "SUMMARY", "add_arguments", "main", "recover", "run", "solve"]

#: Relative max-coefficient error below which a recovery counts as a success.
SUCCESS = 5e-3
SOLVERS = ("symlie", "cvxpy")


def build_operator(problem: RecoveryProblem, operator: str = "sampled") -> Any:
    """The Lie-derivative operator of the problem: at its operator points (``"sampled"``) or ``"exact"``."""
    from .._operator import lie_derivative_operator

    points = problem.operator_points if operator == "sampled" else "exact"
    return lie_derivative_operator(problem.library, problem.algebra, points=points)


def solve(
    operator: Any,
    design: np.ndarray,
    targets: np.ndarray,
    *,
    solver: str = "symlie",
    warm_start: Any = None,
    alpha: float = 0.0,
    options: dict[str, Any] | None = None,
) -> tuple[Any, float]:
    """One promotion solve with either solver; returns ``(PromoteResult, wall seconds)``.

    Non-convergence is recorded in the result (``converged``) rather than raised or warned.
    """
    options = dict(options or {})
    if solver == "cvxpy":
        import cvxpy  # noqa: F401  (import time is not solve time)
    start = time.perf_counter()
    with warnings.catch_warnings():
        from .._errors import ConvergenceWarning

        warnings.simplefilter("ignore", ConvergenceWarning)
        if solver == "symlie":
            from .._promote import promote

            result = promote(operator, design, targets, alpha=alpha, warm_start=warm_start, **options)
        else:
            from .._cvxpy_baseline import promote_cvxpy

            result = promote_cvxpy(operator, design, targets, alpha=alpha, **options)
    return result, time.perf_counter() - start


@dataclass(frozen=True)
class _Unique:
    coef: np.ndarray
    iterations: int = 0
    seconds: float = 0.0
    converged: bool = True


def _unique(design: np.ndarray, targets: np.ndarray) -> tuple[_Unique, float]:
    """The program's only feasible point when the design has full column rank."""
    start = time.perf_counter()
    coef = np.linalg.lstsq(design, targets, rcond=None)[0]
    wall = time.perf_counter() - start
    return _Unique(coef, seconds=wall), wall


def recover(
    problem: RecoveryProblem,
    *,
    solver: str = "symlie",
    operator: str = "sampled",
    warm_start: bool = True,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Bisection for the smallest number of samples that recovers ``problem.coef``.

    Parameters
    ----------
    problem : RecoveryProblem
    solver : {"symlie", "cvxpy"}
    operator : {"sampled", "exact"}
    warm_start : bool, default True
        Start each symlie solve from the solution at the current upper end of the bisection (ignored by cvxpy).
        The training sets are nested, so that solution satisfies every constraint of a smaller set.
    options : dict, optional
        Extra keyword arguments of the solver (e.g. ``tol``, ``max_iter``).

    Returns
    -------
    dict
        ``n_recover, n_lib, seconds, iters, solver, converged`` (every solve converged), ``attempts`` (one entry
        per solve: ``n, error, success, iterations, seconds, converged``) and ``coef`` (the solution at
        ``n_recover``, or ``None`` when that is ``n_lib + 1``).
    """
    op = build_operator(problem, operator)
    theta = problem.library.evaluate(problem.train_points)
    values = problem.train_values
    lo, hi = 0, problem.n_lib + 1
    attempts: list[dict[str, Any]] = []
    best = None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if mid >= problem.n_lib and np.linalg.matrix_rank(theta[:mid]) == problem.n_lib:
            result, wall = _unique(theta[:mid], values[:mid])  # one feasible point: nothing to optimise
        else:
            result, wall = solve(
                op,
                theta[:mid],
                values[:mid],
                solver=solver,
                warm_start=best if warm_start and solver == "symlie" else None,
                options=options,
            )
        error = problem.relative_error(result.coef)
        success = bool(error < SUCCESS)
        attempts.append(
            {
                "n": mid,
                "error": error,
                "success": success,
                "iterations": int(result.iterations),
                "seconds": wall,
                "solver_seconds": float(result.seconds),
                "converged": bool(result.converged),
            }
        )
        if success:
            hi, best = mid, result
        else:
            lo = mid
    return {
        "n_recover": hi,
        "n_lib": problem.n_lib,
        "seconds": float(sum(a["seconds"] for a in attempts)),
        "solver_seconds": float(sum(a["solver_seconds"] for a in attempts)),
        "iters": int(sum(a["iterations"] for a in attempts)),
        "solver": solver,
        "converged": all(a["converged"] for a in attempts),
        "attempts": attempts,
        "coef": None if best is None else best.coef,
    }


def run(
    target: str = "ortho",
    group: str = "se",
    m: int = 10,
    r: int = 1,
    d: int = 2,
    seed: int = 0,
    solver: str = "symlie",
    *,
    operator: str = "sampled",
    warm_start: bool = True,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One cell of the recovery experiment; JSON-serialisable.

    Parameters
    ----------
    target : {"ortho", "quad"}
    group : {"se", "t"}
    m, r, d, seed : int
        See :func:`symlie.bench._recovery_targets.make_problem`.
    solver : {"symlie", "cvxpy"}
    operator : {"sampled", "exact"}, default "sampled"
    warm_start : bool, default True
    options : dict, optional
        Extra solver options.

    Returns
    -------
    dict
        ``target, group, m, r, d, seed, n_recover, n_lib, seconds, solver_seconds, iters, solver, converged,
        expected_symmetry_dim, attempts``.

    Raises
    ------
    SymlieValueError
        For an unknown target, group, solver or operator (the message names the argument).

    Examples
    --------
    >>> out = run("ortho", "t", m=3, r=1, d=2, seed=0)
    >>> out["n_lib"], out["n_recover"] <= out["n_lib"], out["converged"]
    (10, True, True)
    """
    from .._errors import SymlieValueError

    if solver not in SOLVERS:
        raise SymlieValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if operator not in ("sampled", "exact"):
        raise SymlieValueError(f"operator must be 'sampled' or 'exact', got {operator!r}")
    problem = make_problem(target, group, m=m, r=r, d=d, seed=seed)
    out = recover(problem, solver=solver, operator=operator, warm_start=warm_start, options=options)
    out.pop("coef")
    cell = {"target": target, "group": group, "m": m, "r": r, "d": d, "seed": seed}
    return {**cell, **out, "expected_symmetry_dim": problem.expected_symmetry_dim}


# ------------------------------------------------------------------------------------------------ CLI
def _seeds(text: str) -> list[int]:
    """``"0-9"`` -> 0..9, ``"3"`` -> [3], ``"1,4"`` -> [1, 4]."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            a, b = part.split("-", 1)
            out += list(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    if not out:
        raise argparse.ArgumentTypeError(f"invalid seeds {text!r}: use 0-9, 3 or 1,4")
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``symlie bench recovery``."""
    parser.add_argument("--target", choices=TARGETS, default="ortho")
    parser.add_argument("--group", choices=GROUPS, default="se")
    parser.add_argument("--m", type=int, nargs="+", default=[5, 10], help="input dimensions")
    parser.add_argument("--r", type=int, nargs="+", default=[1], help="numbers of features")
    parser.add_argument("--d", type=int, nargs="+", default=[2], help="degrees of phi")
    parser.add_argument("--seeds", type=_seeds, default=list(range(10)), help="e.g. 0-9 (default) or 1,4")
    parser.add_argument("--solver", choices=(*SOLVERS, "both"), default="symlie", help="'both': side by side")
    parser.add_argument("--operator", choices=("sampled", "exact"), default="sampled")
    parser.add_argument("--scheduler", default=None, help="address of a dask.distributed scheduler")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (1 thread each)")
    parser.add_argument("--out", default="benchmarks", help="folder of the CSV/JSON/PNG files")
    parser.add_argument("--tag", default=None, help="file name stem (default recovery_TARGET_GROUP)")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--noisy", action="store_true", help="run the noisy variant instead (penalised program)")
    parser.add_argument("--sigmas", type=float, nargs="+", default=[1e-3, 1e-2, 1e-1])


def main(args: argparse.Namespace) -> int:
    """Run the grid (or the noisy variant) with the parsed options; write CSV/JSON and plots."""
    if args.noisy:
        from ._recovery_noisy import main as noisy_main

        return noisy_main(args)
    from ._recovery_grid import main as grid_main

    return grid_main(args)
