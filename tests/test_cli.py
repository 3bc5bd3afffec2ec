"""The ``symlie`` command, the demo and the README's code."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import symlie as sl
import symlie.bench as bench
from symlie import _demo
from symlie.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


# ------------------------------------------------------------------------------------------------ demo
@pytest.fixture(scope="module")
def demo():
    """The whole demo, computed once and printed to a string."""
    from rich.console import Console

    console = Console(file=io.StringIO(), width=160, record=True)
    results = _demo.run_demo(console=console)
    return results, console.export_text()


def test_demo_prints_every_section(demo):
    results, text = demo
    assert [section.title for section, _ in results] == [section.title for section in _demo.SECTIONS]
    for section, findings in results:
        assert section.title in text and findings
    assert "cross product" in text and "Minkowski metric" in text and "SO(3)×S(4)" in text
    assert re.search(r"\d+ spaces; worst certificate residual", text)
    assert "MISMATCH" not in text


def test_demo_answers_are_known_and_certified(demo):
    results, _ = demo
    found = {(section.title.split()[0], f.label): f for section, findings in results for f in findings}
    dims = {label: f.dim for label, f in found.items()}
    assert dims[("SO(3)", "V⊗V → V")] == 1  # the cross product
    assert dims[("SO(3)", "V⊗V → V⊗V")] == 3  # identity, swap, trace
    assert dims[("SO(3)", "O(3): V⊗V → V")] == 0  # a pseudovector
    assert dims[("SO(3)", "V⊗⁴ → V⊗⁴")] == 91
    assert dims[("Lorentz", "SO⁺(1,3): V⊗⁴ → R")] == 4  # three pairings and ε
    assert dims[("Permutations", "S(5): V⊗³ → V⊗³")] == 202
    assert dims[("Product", "V₁⊗V₂ → V₁⊗V₂")] == 2
    assert dims[("Symmetric", "so(3) invariants, deg ≤ 4")] == 3  # 1, |x|², |x|⁴
    assert dims[("Symmetric", "so(2) vector fields on R², deg ≤ 3")] == 4  # x, Jx, |x|²x, |x|²Jx
    assert dims[("Symmetric", "so(3) vector fields on R³, deg ≤ 3")] == 2  # x, |x|²x
    for f in found.values():
        assert f.residual <= 1e-10 and f.check is not None and f.check <= 1e-10
        assert f.match is not None and f.match <= 1e-10
        assert f.seconds >= 0


def test_demo_sections_can_be_appended(monkeypatch):
    def extra(cache):
        return [_demo.Finding("extra", 1, "a section added later", 0.0, None, 0.0)]

    monkeypatch.setattr(_demo, "SECTIONS", [*_demo.SECTIONS, _demo.Section("Extra section", "appended", extra)])
    (section, findings), *_ = _demo.run_demo(select=["extra"], console=False)
    assert section.title == "Extra section" and findings[0].label == "extra"


def test_cli_demo_selects_sections(capsys):
    assert main(["demo", "--section", "product"]) == 0
    out = capsys.readouterr().out
    assert "Product group" in out and "Lorentz" not in out and "I₃⊗J₄" in out


def test_levi_civita_and_partition_counts():
    eps = _demo._levi_civita(3)
    assert eps[0, 1, 2] == 1 and eps[1, 0, 2] == -1 and eps[0, 0, 1] == 0 and abs(eps).sum() == 6
    assert [_demo._bell_at_most(n, n) for n in range(6)] == [1, 1, 2, 5, 15, 52]  # Bell numbers
    assert _demo._bell_at_most(6, 5) == 202


# ------------------------------------------------------------------------------------------------ bench
def test_cli_bench_enforce_writes_json(tmp_path, capsys):
    out = tmp_path / "sub" / "enforce.json"
    code = main(["bench", "enforce", "--cases", "so3-t1-t1", "--no-naive", "--repeat", "1", "--out", str(out)])
    assert code == 0
    doc = json.loads(out.read_text())
    (case,) = doc["cases"]
    assert case["id"] == "so3-t1-t1" and case["dim"] == 1 and case["residual"] <= 1e-10 and case["passed"]
    assert case["naive"] == {"status": "not run"}
    text = capsys.readouterr().out
    assert "SO(3) T1->T1" in text and "pass" in text and "1/1 cases pass" in text


def test_bench_help_lists_programs_and_survives_a_broken_one(monkeypatch, capsys):
    monkeypatch.setitem(bench.PROGRAMS, "broken", "._no_such_module")
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0 and "enforce     time equivariant_basis" in out and "broken" in out
    assert "(unavailable: ModuleNotFoundError" in out
    assert main(["demo", "--section", "lorentz"]) == 0  # other programs are not loaded to run the demo


def test_python_m_symlie_bench_help():
    out = subprocess.run(
        [sys.executable, "-m", "symlie.bench", "enforce", "--help"], capture_output=True, text=True, check=True
    )
    assert "usage: python -m symlie.bench enforce" in out.stdout and "--no-naive" in out.stdout


# ------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["nope"], "invalid choice: 'nope'"),
        (["bench"], "the following arguments are required: PROGRAM"),
        (["bench", "nope"], "invalid choice: 'nope'"),
        (["bench", "enforce", "--cases", "so3"], "argument --cases: invalid case 'so3': expected GROUP-tK-tL"),
        (["bench", "enforce", "--repeat", "0"], "argument --repeat: expected a positive int, got '0'"),
        (["bench", "enforce", "--timeout", "soon"], "argument --timeout: expected a positive float"),
        (["demo", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_errors_after_parsing_name_the_option(tmp_path, capsys):
    assert main(["demo", "--section", "nothing-like-this"]) == 2
    assert "argument --section: no demo section title contains" in capsys.readouterr().err
    assert main(["bench", "enforce", "--cases", "so3-t1-t1", "--out", str(tmp_path)]) == 2
    assert f"argument --out: {tmp_path} is a directory" in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"symlie {sl.__version__}"


# ---------------------------------------------------------------------------------------------- README
def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_readme_code_runs():
    blocks = _python_blocks(README.read_text())
    assert blocks, "README.md has no ```python blocks"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)


def test_readme_benchmark_table_matches_the_json():
    recorded = json.loads((README.parent / "benchmarks" / "enforce.json").read_text())
    text = README.read_text()
    for case in recorded["cases"]:
        assert case["name"] in text, f"README benchmark table lacks {case['name']}"
