"""Benchmark programs: each a module ``_name.py`` with ``run(...) -> dict`` and a command-line hook.

The package is a small registry so that ``import symlie`` and ``import symlie.bench`` stay light: a program's module
is imported only when it is run. A program module provides

* ``SUMMARY`` — one line for ``symlie bench --help`` (the only time every program's module is loaded);
* ``run(...) -> dict`` — the measurement, JSON-serialisable, no printing;
* ``add_arguments(parser)`` — its options on an :class:`argparse.ArgumentParser`;
* ``main(args) -> int`` — runs with those options, prints a table with rich, writes the JSON, returns the exit code.

Keep a program module's top-level imports light (standard library, NumPy); import heavy frameworks inside ``run``.
Add a program with one line in :data:`PROGRAMS` (and, if wanted, a wrapper function below).

Examples
--------
>>> import symlie.bench as bench
>>> {"enforce", "units"} <= set(bench.PROGRAMS)
True
>>> bench.load("enforce").SUMMARY
'time equivariant_basis on the EMLP anchor cases (cold, cached, naive dense SVD)'
"""

from __future__ import annotations

import importlib
import os
import platform
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["PROGRAMS", "enforce", "load", "machine_info", "recovery", "versions"]

#: Benchmark name -> module (relative to this package) implementing it.
PROGRAMS: dict[str, str] = {
    "discover": "._discover",
    "dynamics": "._dynamics",
    "enforce": "._enforce",
    "nn": "._nn",
    "recovery": "._recovery",
    "units": "._units",
}


def load(name: str) -> ModuleType:
    """Import and return the module of benchmark program ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`PROGRAMS`.

    Returns
    -------
    module
        With ``SUMMARY``, ``run``, ``add_arguments`` and ``main``.

    Raises
    ------
    SymlieValueError
        If ``name`` is not a registered program.
    """
    if name not in PROGRAMS:
        from .._errors import SymlieValueError

        raise SymlieValueError(f"name must be one of the benchmark programs {sorted(PROGRAMS)}, got {name!r}")
    return importlib.import_module(PROGRAMS[name], __name__)


def enforce(**options: Any) -> dict[str, Any]:
    """Time :func:`symlie.equivariant_basis` on the EMLP anchor cases; see :func:`symlie.bench._enforce.run`.

    Returns
    -------
    dict
        The JSON document written by ``symlie bench enforce`` (machine, versions, targets, one entry per case).
    """
    return load("enforce").run(**options)


def recovery(**options: Any) -> dict[str, Any]:
    """One cell of the sample-recovery experiment of Otto et al.; see :func:`symlie.bench._recovery.run`.

    Keyword arguments: ``target`` ("ortho" | "quad"), ``group`` ("se" | "t"), ``m``, ``r``, ``d``, ``seed``,
    ``solver`` ("symlie" | "cvxpy"), ``operator`` ("sampled" | "exact").

    Returns
    -------
    dict
        ``{"n_recover", "n_lib", "seconds", "iters", "solver", "converged", "attempts", ...}``.
    """
    return load("recovery").run(**options)


# ------------------------------------------------------------------ helpers shared by the programs
def machine_info() -> dict[str, Any]:
    """CPU, core count and memory of this machine."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    if hasattr(os, "getloadavg"):
        info["load_average_1min_start"] = round(os.getloadavg()[0], 2)
    if hasattr(os, "sched_getaffinity"):
        info["cpus_available"] = len(os.sched_getaffinity(0))
    try:
        info["memory_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (AttributeError, ValueError, OSError):
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        info["cpu"] = platform.processor()
    return info


def versions() -> dict[str, str]:
    """Versions of Python, symlie, NumPy, SciPy and the BLAS NumPy uses."""
    import numpy as np
    import scipy

    import symlie

    out = {"python": platform.python_version(), "symlie": symlie.__version__, "numpy": np.__version__}
    out["scipy"] = scipy.__version__
    try:
        blas = np.__config__.CONFIG["Build Dependencies"]["blas"]  # type: ignore[attr-defined]
        out["blas"] = f"{blas['name']} {blas.get('version', '')}".strip()
    except (AttributeError, KeyError, TypeError):
        pass
    return out
