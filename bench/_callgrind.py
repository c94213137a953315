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


def instructions(
    driver: str,
    *args: str,
    env: dict[str, str] | None = None,
    keep: Path | None = None,
    only_in: str | None = None,
) -> int:
    """Instructions executed by ``python -c driver args...`` under callgrind, start-up included.

    ``env`` is added to the environment (``PYTHONPATH``, say). With ``keep``, the
    profile is written there (for ``callgrind_annotate``) instead of being dropped.
    With ``only_in`` (a C function, e.g. ``functools_reduce``), only what runs
    inside that function is counted: the driver runs its measured part under
    it, and start-up, which varies a little from run to run, is left out.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = keep or Path(tmp) / "callgrind.out"
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        if only_in is not None:
            command += ["--collect-atstart=no", f"--toggle-collect={only_in}"]
        result = subprocess.run(
            [*command, sys.executable, "-c", driver, *args],
            capture_output=True,
            text=True,
            # The same hash seed in every run: dict layouts, hence counts, match.
            env={**os.environ, **(env or {}), "PYTHONHASHSEED": "0"},
            check=True,
        )
    found = re.search(r"Collected : (\d+)", result.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{result.stderr[-2000:]}")
    return int(found.group(1))


def per_iteration(
    driver: str,
    n1: int = 1,
    n2: int = 2001,
    env: dict[str, str] | None = None,
    keep: Path | None = None,
    only_in: str | None = None,
) -> int:
    """Instructions of one iteration: ``driver`` run with ``n2`` and ``n1`` (its argv[1]).

    The difference of the two runs, divided by ``n2 - n1``: start-up, imports
    and warm-up cancel out. With ``keep`` (a path prefix), the two profiles are
    kept as ``<keep>.<n2>.out`` and ``<keep>.<n1>.out``; ``only_in`` is
    :func:`instructions`'.
    """
    # One run outside valgrind first: it writes the .pyc files a changed module needs,
    # which would otherwise be compiled in the first counted run only.
    subprocess.run(
        [sys.executable, "-c", driver, str(n1)],
        env={**os.environ, **(env or {}), "PYTHONHASHSEED": "0"},
        capture_output=True,
        check=True,
    )

    def out(n: int) -> Path | None:
        return None if keep is None else keep.with_name(f"{keep.name}.{n}.out")

    more = instructions(driver, str(n2), env=env, keep=out(n2), only_in=only_in)
    less = instructions(driver, str(n1), env=env, keep=out(n1), only_in=only_in)
    return (more - less) // (n2 - n1)
