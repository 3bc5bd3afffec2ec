"""Grid runner of ``symlie bench recovery``: Dask tasks, rich progress, CSV/JSON, the paper-style plot.

Every problem ``(m, r, d, seed)`` is one task on a ``dask.distributed`` cluster (a ``LocalCluster`` of worker
processes with one thread each, BLAS limited to one thread too, unless a scheduler address is given) that runs its
cells, one per solver, back to back: solvers compared side by side share a worker and the load on the machine.
Results are merged into ``benchmarks/recovery_TARGET_GROUP.csv`` (columns :data:`CSV_COLUMNS`, one row per cell, a
rerun of a cell replaces its row) and a JSON file with every bisection step; one plot per ``(d, solver)`` shows the
median ``n_recover`` against ``m`` per ``r`` with min-max bars and ``n_lib`` as dots.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CSV_COLUMNS", "cells", "compare", "main", "merge_csv", "plot", "run_grid"]

CSV_COLUMNS = ("m", "r", "d", "seed", "n_recover", "n_lib", "seconds", "iters", "solver")
_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def cells(
    target: str, group: str, ms: Sequence[int], rs: Sequence[int], ds: Sequence[int], seeds: Sequence[int], solvers
) -> list[dict[str, Any]]:
    """Every combination as keyword arguments of :func:`symlie.bench._recovery.run` (largest ``m`` first)."""
    out = [
        {"target": target, "group": group, "m": m, "r": r, "d": d, "seed": s, "solver": solver}
        for m in sorted(ms, reverse=True)
        for d in ds
        for r in rs
        if r <= m
        for s in seeds
        for solver in solvers
    ]
    return out


def _task(group: list[dict[str, Any]], options: dict[str, Any]) -> list[dict[str, Any]]:
    """The cells of one problem in a worker, one after the other, BLAS on one thread; errors become records."""
    import traceback

    from threadpoolctl import threadpool_limits

    from ._recovery import run

    records = []
    with threadpool_limits(1):
        for cell in group:
            try:
                records.append(run(**cell, **options))
            except Exception as exc:  # a failed cell must not stop the grid
                records.append({**cell, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()})
    return records


def run_grid(
    todo: Sequence[dict[str, Any]],
    *,
    scheduler: str | None = None,
    workers: int = 2,
    options: dict[str, Any] | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run the cells as Dask tasks, one per problem, and return their records (in completion order).

    Parameters
    ----------
    todo : sequence of dict
        Cells from :func:`cells`.
    scheduler : str, optional
        Address of a running ``dask.distributed`` scheduler; default a ``LocalCluster`` with ``workers`` processes
        of one thread each.
    workers : int, default 2
    options : dict, optional
        Extra keyword arguments of :func:`symlie.bench._recovery.run` (``operator``, ``options``...).
    progress : callable(record), optional
        Called with each finished record.
    """
    from distributed import Client, LocalCluster, as_completed

    for name in _THREADS:
        os.environ.setdefault(name, "1")
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, memory_limit=0
        )
        client = Client(cluster)
    else:
        client = Client(scheduler)
    records: list[dict[str, Any]] = []
    try:
        groups: dict[tuple, list[dict[str, Any]]] = {}
        for cell in todo:
            groups.setdefault(tuple(v for k, v in cell.items() if k != "solver"), []).append(cell)
        futures = [client.submit(_task, group, options or {}, pure=False) for group in groups.values()]
        for future in as_completed(futures):
            for record in future.result():
                records.append(record)
                if progress is not None:
                    progress(record)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return records


def _key(row: dict[str, Any]) -> tuple:
    return tuple(str(row[k]) for k in ("m", "r", "d", "seed", "solver"))


def merge_csv(path: Path, records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge records into the CSV at ``path`` (a cell's new row replaces its old one); returns all rows."""
    rows: dict[tuple, dict[str, Any]] = {}
    if path.exists():
        with path.open() as f:
            for row in csv.DictReader(f):
                rows[_key(row)] = row
    for record in records:
        if "error" not in record:
            rows[_key(record)] = {k: record[k] for k in CSV_COLUMNS}
    ordered = sorted(rows.values(), key=lambda r: (r["solver"], int(r["d"]), int(r["r"]), int(r["m"]), int(r["seed"])))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in ordered:
            writer.writerow({k: row[k] for k in CSV_COLUMNS})
    return ordered


def merge_json(path: Path, records: Iterable[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    """Merge full records (bisection steps included) into the JSON document at ``path``."""
    document: dict[str, Any] = {"benchmark": "recovery", "cells": []}
    if path.exists():
        document = json.loads(path.read_text())
    cells_by_key = {_key(c): c for c in document.get("cells", [])}
    for record in records:
        cells_by_key[_key(record)] = record
    document.update(meta)
    document["cells"] = sorted(cells_by_key.values(), key=lambda c: _key(c))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, default=float))
    return document


def plot(rows: Sequence[dict[str, Any]], path: Path, *, title: str) -> None:
    """Median ``n_recover`` vs ``m`` per ``r`` with min-max bars, ``n_lib`` as dots (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    rs = sorted({int(r["r"]) for r in rows})
    for i, r in enumerate(rs):
        ms = sorted({int(x["m"]) for x in rows if int(x["r"]) == r})
        values = [[int(x["n_recover"]) for x in rows if int(x["r"]) == r and int(x["m"]) == m] for m in ms]
        med = np.array([np.median(v) for v in values])
        low = med - np.array([min(v) for v in values])
        high = np.array([max(v) for v in values]) - med
        ax.errorbar(ms, med, yerr=[low, high], fmt="o-", capsize=3, color=f"C{i}", label=f"r = {r} (median, min-max)")
    lib = sorted({(int(x["m"]), int(x["n_lib"])) for x in rows})
    ax.plot([a for a, _ in lib], [b for _, b in lib], "k.", label="n_lib")
    ax.set_xlabel("m")
    ax.set_ylabel("samples to recover")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def compare(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Side-by-side summary per ``(m, r, d)`` over seeds run by both solvers.

    Returns one dict per cell: ``m, r, d, seeds, median_n_recover_symlie, median_n_recover_cvxpy,
    seconds_symlie, seconds_cvxpy`` (totals over the common seeds) and ``speedup``.
    """
    by: dict[tuple, dict[str, dict[int, dict[str, Any]]]] = {}
    for row in rows:
        key = (int(row["m"]), int(row["r"]), int(row["d"]))
        by.setdefault(key, {}).setdefault(str(row["solver"]), {})[int(row["seed"])] = row
    out = []
    for (m, r, d), solvers in sorted(by.items()):
        if not {"symlie", "cvxpy"} <= set(solvers):
            continue
        seeds = sorted(set(solvers["symlie"]) & set(solvers["cvxpy"]))
        if not seeds:
            continue
        entry: dict[str, Any] = {"m": m, "r": r, "d": d, "seeds": seeds}
        for name in ("symlie", "cvxpy"):
            entry[f"median_n_recover_{name}"] = float(np.median([int(solvers[name][s]["n_recover"]) for s in seeds]))
            entry[f"seconds_{name}"] = float(sum(float(solvers[name][s]["seconds"]) for s in seeds))
        entry["speedup"] = entry["seconds_cvxpy"] / max(entry["seconds_symlie"], 1e-12)
        entry["n_recover_no_worse"] = entry["median_n_recover_symlie"] <= entry["median_n_recover_cvxpy"]
        out.append(entry)
    return out


def compare_total(comparison: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The whole side-by-side run: total bisection time of each solver over every compared cell, and their ratio.

    This is the quantity of the issue's speed target; ``n_recover_no_worse`` holds when it holds in every cell.
    """
    total: dict[str, Any] = {"cells": len(comparison)}
    for name in ("symlie", "cvxpy"):
        total[f"seconds_{name}"] = float(sum(entry[f"seconds_{name}"] for entry in comparison))
    total["speedup"] = total["seconds_cvxpy"] / max(total["seconds_symlie"], 1e-12)
    total["n_recover_no_worse"] = all(entry["n_recover_no_worse"] for entry in comparison)
    return total


def main(args: argparse.Namespace) -> int:
    """``symlie bench recovery`` without ``--noisy``: run, merge, plot, print a summary table."""
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from . import machine_info, versions

    solvers = ["symlie", "cvxpy"] if args.solver == "both" else [args.solver]
    todo = cells(args.target, args.group, args.m, args.r, args.d, args.seeds, solvers)
    console = Console()
    errors: list[dict[str, Any]] = []
    with Progress(console=console) as bar:
        task = bar.add_task(f"recovery {args.target}/{args.group}", total=len(todo))

        def tick(record: dict[str, Any]) -> None:
            if "error" in record:
                errors.append(record)
            bar.advance(task)

        records = run_grid(
            todo,
            scheduler=args.scheduler,
            workers=args.workers,
            options={"operator": args.operator},
            progress=tick,
        )
    out = Path(args.out)
    stem = args.tag or f"recovery_{args.target}_{args.group}"
    rows = merge_csv(out / f"{stem}.csv", records)
    meta = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "versions": versions(),
        "protocol": "see symlie.bench._recovery; success max|W - W_true| / max|W_true| < 5e-3",
        "operator": args.operator,
    }
    merge_json(out / f"{stem}.json", records, meta)
    if not args.no_plot:
        for d in sorted({int(r["d"]) for r in rows}):
            for solver in sorted({str(r["solver"]) for r in rows}):
                subset = [r for r in rows if int(r["d"]) == d and r["solver"] == solver]
                if subset:
                    title = f"{args.target} / {args.group}(m), d = {d}, {solver}"
                    plot(subset, out / f"{stem}_d{d}_{solver}.png", title=title)
    table = Table(title=f"recovery {args.target}/{args.group}", title_justify="left")
    for column in ("solver", "d", "r", "m", "seeds", "median n_recover", "n_lib", "total s"):
        table.add_column(column, justify="right")
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for rec in records:
        if "error" not in rec:
            groups.setdefault((rec["solver"], rec["d"], rec["r"], rec["m"]), []).append(rec)
    for (solver, d, r, m), recs in sorted(groups.items()):
        table.add_row(
            solver,
            str(d),
            str(r),
            str(m),
            str(len(recs)),
            f"{np.median([x['n_recover'] for x in recs]):g}",
            str(recs[0]["n_lib"]),
            f"{sum(x['seconds'] for x in recs):.2f}",
        )
    console.print(table)
    comparison = compare(rows)
    if comparison:
        total = compare_total(comparison)
        speed = {**meta, "comparison": comparison, "total": total}
        (out / f"{stem}_speed.json").write_text(json.dumps(speed, indent=1))
        for entry in comparison:
            console.print(
                f"m={entry['m']} r={entry['r']} d={entry['d']}: median n_recover symlie "
                f"{entry['median_n_recover_symlie']:g} vs cvxpy {entry['median_n_recover_cvxpy']:g}; "
                f"time {entry['seconds_symlie']:.2f} s vs {entry['seconds_cvxpy']:.2f} s ({entry['speedup']:.1f}x)"
            )
        console.print(
            f"all {total['cells']} cells: time {total['seconds_symlie']:.2f} s vs {total['seconds_cvxpy']:.2f} s "
            f"({total['speedup']:.1f}x)"
        )
    for record in errors:
        console.print(f"[red]failed[/red] {record}")
    return 1 if errors else 0
