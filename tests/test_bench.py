"""The benchmark registry and ``symlie bench enforce`` (tiny cases only: each case costs a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

import symlie as sl
import symlie.bench as bench
from symlie.bench import _enforce


# ------------------------------------------------------------------------------------------- registry
def test_registry_programs_follow_the_protocol():
    for name in bench.PROGRAMS:
        module = bench.load(name)
        assert isinstance(module.SUMMARY, str) and module.SUMMARY
        for hook in ("run", "add_arguments", "main"):
            assert callable(getattr(module, hook)), f"{name} lacks {hook}"


def test_unknown_program_names_the_argument():
    with pytest.raises(sl.SymlieValueError, match=r"name must be one of .*'enforce'.*got 'nope'"):
        bench.load("nope")


def test_import_symlie_stays_light():
    code = (
        "import sys, symlie, symlie.bench; print(sorted(m for m in ('rich', 'torch', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------------------------------ case ids
@given(
    family=st.sampled_from(["so", "o", "sl", "gl", "s", "z", "d"]),
    n=st.integers(1, 30),
    k_in=st.integers(0, 6),
    k_out=st.integers(0, 6),
)
def test_parse_case_round_trip(family, n, k_in, k_out):
    assert _enforce.parse_case(f"{family.upper()}{n}-T{k_in}-t{k_out}") == (family, n, k_in, k_out)


@pytest.mark.parametrize("spec", ["", "so3", "so3-t4", "so-t1-t1", "lorentz4-t1-t1", "so0-t1-t1", "x3-t1-t1", 3])
def test_parse_case_rejects_bad_ids(spec):
    with pytest.raises(sl.SymlieValueError, match="expected GROUP-tK-tL"):
        _enforce.parse_case(spec)


def test_anchor_cases_are_valid_and_known():
    assert len(_enforce.ANCHORS) == 8
    for spec, anchor in _enforce.ANCHORS.items():
        _enforce.parse_case(spec)
        assert anchor.seconds > 0 and anchor.expected_dim >= 1
    assert _enforce.ANCHORS["s20-t2-t2"].peak_memory_mb == 2400.0


def test_run_rejects_bad_arguments():
    with pytest.raises(sl.SymlieValueError, match="cases: invalid case 'so3'"):
        _enforce.run(["so3"])
    with pytest.raises(sl.SymlieValueError, match="repeat must be >= 1"):
        _enforce.run(["so3-t1-t1"], repeat=0)
    with pytest.raises(sl.SymlieValueError, match="threads must be >= 1"):
        _enforce.run(["so3-t1-t1"], threads=0)


# ---------------------------------------------------------------------------------------- judging
@pytest.mark.parametrize(
    ("emlp_seconds", "cold", "target", "passed"),
    [(4.4, 0.1, 10.0, True), (4.4, 1.0, 10.0, False), (60.0, 0.5, 100.0, True), (60.0, 1.0, 100.0, False)],
)
def test_judge_targets(emlp_seconds, cold, target, passed):
    record = {"dim": 3, "residual": 1e-15, "cold_seconds": cold, "naive": {"status": "not run"}}
    _enforce._judge(record, _enforce.Anchor(emlp_seconds, 3, "closed form"))
    assert record["target_speedup"] == target
    assert record["speedup_vs_emlp"] == pytest.approx(emlp_seconds / cold)
    assert record["passed"] is passed


def test_judge_fails_on_residual_dimension_and_naive_disagreement():
    record = {"dim": 3, "residual": 1e-8, "cold_seconds": 0.01, "naive": {"status": "not run"}}
    _enforce._judge(record, _enforce.Anchor(4.4, 4, "closed form"))
    assert record["checks"] == {"residual": False, "speedup": True, "dim": False}
    naive = {"status": "ok", "seconds": 1.0, "dim": 2, "subspace_error": None}
    record = {"dim": 3, "residual": 0.0, "cold_seconds": 0.5, "naive": naive}
    _enforce._judge(record, None)
    assert record["speedup_vs_naive"] == pytest.approx(2.0)
    assert record["checks"] == {"residual": True, "naive_agrees": False} and not record["passed"]


# ------------------------------------------------------------------------------------------- real runs
def test_run_measures_tiny_cases_in_fresh_processes():
    result = _enforce.run(["S3-t2-t1", "o5-t2-t2"], repeat=1, naive_limit=100, threads=1)
    json.loads(json.dumps(result))  # plain JSON types only
    assert result["benchmark"] == "enforce"
    assert {"date", "machine", "versions", "targets", "anchor", "summary"} <= set(result)
    assert result["machine"]["cpu_count"] >= 1 and result["versions"]["symlie"] == sl.__version__
    assert result["settings"]["naive_limit_N"] == 100 and result["settings"]["blas_threads"] == 1
    s3, o5 = result["cases"]
    assert (s3["id"], s3["name"], s3["N"]) == ("s3-t2-t1", "S(3) T2->T1", 27)
    assert (s3["dim"], o5["dim"]) == (5, 3)  # Bell(3) set partitions; identity, swap, trace
    assert s3["methods"] == ["orbits"] and s3["residual"] == 0.0
    for case in result["cases"]:
        assert case["residual"] <= 1e-10
        assert case["cold_seconds"] > 0 and case["cached_seconds"] > 0 and case["peak_memory_mb"] > 1
        assert case["subprocess_seconds"] >= case["cold_seconds"] and len(case["cold_seconds_all"]) == 1
    assert s3["naive"]["status"] == "ok" and s3["naive"]["dim"] == 5 and s3["naive"]["subspace_error"] <= 1e-10
    assert s3["emlp"] is None and "speedup_vs_emlp" not in s3
    assert o5["naive"] == {"status": "skipped: N too large", "N": 625, "limit": 100}
    assert o5["emlp"]["seconds"] == 4.4 and o5["target_speedup"] == 10.0 and o5["expected_dim"] == 3
    assert result["summary"] == {"passed": 2, "total": 2}


def test_run_records_failures_instead_of_raising():
    result = _enforce.run(["so3-t1-t1"], naive=False, repeat=1, timeout=1e-3)
    (case,) = result["cases"]
    assert case["error"].startswith("timed out") and case["passed"] is False
    assert case["naive"] == {"status": "not run"}
    assert result["summary"] == {"passed": 0, "total": 1}


def test_table_has_a_pass_column():
    import io

    from rich.console import Console

    result = {
        "cases": [
            {"name": "X T1->T1", "N": 4, "error": "exit code 1: boom"},
            {
                "name": "O(5) T2->T2",
                "N": 625,
                "dim": 3,
                "residual": 1e-15,
                "cold_seconds": 1.0,
                "cached_seconds": 0.001,
                "peak_memory_mb": 70.0,
                "emlp": {"seconds": 4.4},
                "speedup_vs_emlp": 4.4,
                "target_speedup": 10.0,
                "naive": {"status": "skipped: N too large", "limit": 4},
                "checks": {"residual": True, "speedup": False},
                "passed": False,
            },
        ]
    }
    console = Console(file=io.StringIO(), width=200, record=True)
    console.print(_enforce.table(result))
    text = console.export_text()
    assert "FAIL: exit code 1: boom" in text and "FAIL: speed-up < 10x" in text and "N > 4" in text
