"""The examples in docs/starlette.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "starlette.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


@pytest.mark.parametrize("source", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
def test_example_runs(source: str) -> None:
    """Each Python example of the Starlette docs runs (and its own asserts pass)."""
    exec(compile(source, str(DOC), "exec"), {"__name__": "docs_example"})
