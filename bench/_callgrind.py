"""Counting machine instructions with valgrind's callgrind, for the ``count_*.py`` scripts."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def have_valgrind() -> bool:
    """True when valgrind is on the PATH; else say how to get it."""
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind); nothing counted.")
        return False
    return True


def instructions(driver: str, *args: str) -> int:
    """Instructions executed by ``python -c driver args...`` under callgrind, start-up included."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        result = subprocess.run(
            [*command, sys.executable, "-c", driver, *args],
            capture_output=True,
            text=True,
            # The same hash seed in every run: dict layouts, hence counts, match.
            env={**os.environ, "PYTHONHASHSEED": "0"},
            check=True,
        )
    found = re.search(r"Collected : (\d+)", result.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{result.stderr[-2000:]}")
    return int(found.group(1))


def per_iteration(driver: str) -> int:
    """Instructions of one iteration: ``driver`` run with 2001 and with 1 (its argv[1]), / 2000."""
    return (instructions(driver, "2001") - instructions(driver, "1")) // 2000
