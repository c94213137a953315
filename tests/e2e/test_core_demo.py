"""The README's core demo runs as a program and behaves as it says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).parents[2] / "example_apps" / "core_demo.py"


def test_core_demo_commits_rolls_back_and_isolates_users(tmp_path: Path) -> None:
    """The demo writes a note, rolls back a failing context and keeps users apart, run twice."""
    db = tmp_path / "notes.sqlite3"
    for run, expected in ((1, "['buy oat milk']"), (2, "['buy oat milk', 'buy oat milk']")):
        out = subprocess.run(
            [sys.executable, str(DEMO), str(db)], capture_output=True, text=True, check=True
        ).stdout
        assert f"ann created note {run}:" in out
        assert "failed context rolled back (NotFound, HTTP 404" in out
        assert "bob sees ann's note? False" in out
        assert f"ann's notes: {expected}" in out
