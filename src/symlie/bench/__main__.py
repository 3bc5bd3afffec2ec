"""``python -m symlie.bench PROGRAM [options]``: the same as ``symlie bench PROGRAM [options]``."""

from __future__ import annotations

if __name__ == "__main__":
    from symlie.cli import bench_main

    raise SystemExit(bench_main())
