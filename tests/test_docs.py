"""Every example in docs/*.md runs: ``>>>`` sessions as doctests, other ```python blocks as scripts."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

DOCS = sorted((Path(__file__).resolve().parents[1] / "docs").glob("*.md"))


@pytest.mark.parametrize("path", DOCS, ids=lambda path: path.name)
def test_documentation_examples_run(path):
    text = path.read_text()
    if ">>> " in text:
        result = doctest.testfile(
            str(path), module_relative=False, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        )
        assert result.failed == 0, f"{path.name}: {result.failed} of {result.attempted} examples failed"
    namespace: dict = {}
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL):
        if not block.lstrip().startswith(">>>"):
            exec(compile(block, str(path), "exec"), namespace)


def test_there_are_documents():
    assert {path.name for path in DOCS} >= {"discover.md", "dynamics.md", "promote.md", "torch.md", "units.md"}
