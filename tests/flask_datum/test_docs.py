"""The Python examples in docs/flask.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "flask.md"


def test_doc_examples_run() -> None:
    """Every python block of docs/flask.md runs in order in one namespace and its asserts hold."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 4
    namespace: dict[str, object] = {"__name__": "flask_doc_example"}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
