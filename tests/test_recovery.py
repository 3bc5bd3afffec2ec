"""The recovery experiment: exact targets, bisection, recovered symmetry, grid helpers (tiny m only)."""

from __future__ import annotations

import argparse
from math import comb

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symlie as sl
import symlie.bench as bench
from symlie._regression import SymmetricRegressor
from symlie.bench import _recovery, _recovery_grid
from symlie.bench._recovery_targets import Polynomial, compose, make_problem


# -------------------------------------------------------------------------------------------- targets
@settings(max_examples=20, deadline=None)
@given(
    target=st.sampled_from(["ortho", "quad"]),
    m=st.integers(1, 4),
    r=st.integers(1, 3),
    d=st.integers(1, 3),
    seed=st.integers(0, 1000),
)
def test_exact_expansion_equals_the_target(target, m, r, d, seed):
    r = min(r, m)
    p = make_problem(target, "se", m=m, r=r, d=d, seed=seed)
    degree = d if target == "ortho" else 2 * d
    assert p.n_lib == comb(m + degree, degree)
    X = np.random.default_rng(seed + 1).uniform(-1, 1, (7, m))
    np.testing.assert_allclose(p.library.evaluate(X) @ p.coef, p.evaluate(X), rtol=1e-11, atol=1e-11)


def test_polynomial_arithmetic_closed_forms():
    x = Polynomial.linear([1.0, 0.0])
    y = Polynomial.linear([0.0, 1.0])
    cube = compose(np.array([[3]]), np.array([2.0]), [x + y])  # 2 (x + y)^3
    lib = sl.PolynomialLibrary(2, 3)
    expected = np.zeros(len(lib))
    for exps, c in [((3, 0), 2), ((2, 1), 6), ((1, 2), 6), ((0, 3), 2)]:
        expected[lib.index([exps])[0]] = c
    np.testing.assert_array_equal(cube.coefficients(lib), expected)
    d2 = Polynomial.squared_distance(np.array([1.0, -2.0]))
    np.testing.assert_allclose(d2.coefficients(sl.PolynomialLibrary(2, 2)), [5, -2, 4, 1, 0, 1])
    with pytest.raises(sl.SymlieValueError, match="outside"):
        cube.coefficients(sl.PolynomialLibrary(2, 2))


def test_protocol_sizes_and_seeding():
    p = make_problem("ortho", "se", m=6, r=2, d=2, seed=3)
    q = make_problem("ortho", "se", m=6, r=2, d=2, seed=3)
    np.testing.assert_array_equal(p.coef, q.coef)
    np.testing.assert_array_equal(p.train_points, q.train_points)
    assert p.algebra.dim == 21 and len(p.operator_points) == comb(8, 2) + 1 and len(p.train_points) == p.n_lib + 1
    np.testing.assert_allclose(p.features.T @ p.features, np.eye(2), atol=1e-12)  # orthonormal u_k
    gram = np.einsum("iab,jab->ij", p.algebra.basis, p.algebra.basis)
    np.testing.assert_allclose(gram, np.eye(21), atol=1e-12)  # Frobenius-orthonormal se(6)
    t = make_problem("ortho", "t", m=6, r=2, d=2, seed=3)
    assert t.algebra.dim == 6 and len(t.operator_points) == comb(7, 1) + 1
    assert (p.expected_symmetry_dim, t.expected_symmetry_dim) == (10, 4)


@pytest.mark.parametrize("kwargs, name", [({"target": "cubic"}, "target"), ({"group": "so"}, "group"), ({"r": 5}, "r")])
def test_make_problem_bad_input(kwargs, name):
    with pytest.raises(sl.SymlieValueError, match=name):
        make_problem(**{"m": 3, **kwargs})


# --------------------------------------------------------------------------------------------- recovery
@pytest.mark.parametrize("target, group, m, r, d", [("ortho", "se", 4, 1, 2), ("ortho", "t", 4, 1, 2)])
def test_small_recovery_succeeds_with_fewer_samples_than_coefficients(target, group, m, r, d):
    p = make_problem(target, group, m=m, r=r, d=d, seed=0)
    out = _recovery.recover(p)
    assert out["n_recover"] < p.n_lib
    assert out["converged"]
    assert p.relative_error(out["coef"]) < _recovery.SUCCESS
    steps = {a["n"]: a["success"] for a in out["attempts"]}
    assert steps[out["n_recover"]] and not steps.get(out["n_recover"] - 1, False)
    # the recovered model's symmetry has the true dimension: (m-r)(m-r+1)/2 in se(m), m-r in t(m)
    reg = SymmetricRegressor(degree=d, algebra=p.algebra, operator="sampled")
    sym = reg._symmetry(_recovery.build_operator(p), out["coef"], p.algebra)
    assert sym.dim == p.expected_symmetry_dim


def test_run_record_and_bench_wrapper():
    out = bench.recovery(target="ortho", group="t", m=3, r=1, d=2, seed=1)
    assert set(_recovery_grid.CSV_COLUMNS) <= set(out)
    assert out["n_lib"] == 10 and 1 <= out["n_recover"] <= 11 and out["solver"] == "symlie"
    assert out["iters"] == sum(a["iterations"] for a in out["attempts"])
    with pytest.raises(sl.SymlieValueError, match="solver"):
        _recovery.run(m=3, solver="mosek")
    with pytest.raises(sl.SymlieValueError, match="operator"):
        _recovery.run(m=3, operator="dense")


def test_cvxpy_baseline_agrees_on_a_tiny_cell():
    ours = _recovery.run("ortho", "t", m=3, r=1, d=2, seed=2)
    scs = _recovery.run("ortho", "t", m=3, r=1, d=2, seed=2, solver="cvxpy")
    assert scs["solver"] == "cvxpy" and scs["n_recover"] == ours["n_recover"]


# ----------------------------------------------------------------------------------------- grid tools
def test_seeds_parser():
    assert _recovery._seeds("0-3") == [0, 1, 2, 3]
    assert _recovery._seeds("1,4,6-7") == [1, 4, 6, 7]
    with pytest.raises(argparse.ArgumentTypeError):
        _recovery._seeds(",")


def test_cli_options():
    from symlie.cli import parse_args

    args = parse_args("bench recovery --target ortho --group se --m 5 10 --r 1 --d 2 --seeds 0-9".split())
    assert (args.m, args.r, args.d, args.seeds, args.solver) == ([5, 10], [1], [2], list(range(10)), "symlie")
    args = parse_args("bench recovery --solver cvxpy --scheduler tcp://127.0.0.1:8786".split())
    assert args.solver == "cvxpy" and args.scheduler == "tcp://127.0.0.1:8786"


def test_grid_cells_csv_compare_and_plot(tmp_path):
    todo = _recovery_grid.cells("ortho", "se", [5, 10], [1, 6], [2], [0, 1], ["symlie", "cvxpy"])
    assert len(todo) == 12 and todo[0]["m"] == 10  # r=6 > m=5 skipped; largest m first
    records = []
    for cell in todo:
        rec = {**cell, "n_recover": cell["m"] + cell["seed"], "n_lib": 2 * cell["m"], "iters": 3}
        rec["seconds"] = 1.0 if cell["solver"] == "symlie" else 150.0
        records.append(rec)
    path = tmp_path / "r.csv"
    rows = _recovery_grid.merge_csv(path, records[:6])
    rows = _recovery_grid.merge_csv(path, records)  # merging again replaces, never duplicates
    assert len(rows) == 12 and path.read_text().splitlines()[0] == ",".join(_recovery_grid.CSV_COLUMNS)
    summary = _recovery_grid.compare(rows)
    assert {(s["m"], s["r"]) for s in summary} == {(5, 1), (10, 1), (10, 6)}
    assert all(s["speedup"] == pytest.approx(150.0) and s["n_recover_no_worse"] for s in summary)
    total = _recovery_grid.compare_total(summary)
    assert total["cells"] == 3 and total["seconds_symlie"] == 6.0 and total["seconds_cvxpy"] == 900.0
    assert total["speedup"] == pytest.approx(150.0) and total["n_recover_no_worse"]
    worse = [{**summary[0], "n_recover_no_worse": False}, *summary[1:]]
    assert not _recovery_grid.compare_total(worse)["n_recover_no_worse"]
    _recovery_grid.plot([r for r in rows if r["solver"] == "symlie"], tmp_path / "r.png", title="t")
    assert (tmp_path / "r.png").stat().st_size > 1000


def test_failed_cells_are_recorded_not_raised():
    bad = {"target": "ortho", "group": "se", "m": 2, "r": 3, "d": 2, "seed": 0}
    good = {"target": "ortho", "group": "t", "m": 3, "r": 1, "d": 2, "seed": 0}
    first, second = _recovery_grid._task([bad, good], {})
    assert "r must be at most" in first["error"]
    assert "error" not in second and second["n_recover"] <= second["n_lib"]
