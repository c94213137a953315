"""The typing suite: mypy --strict and pyright (strict) report exactly the expected errors.

``cases/`` holds code a typed app would write. Files with ``assert_type(...)`` check
that each access path (the DAL, services, sub-services, resources, meta, each web
plugin's way to the request's DAL, the untyped 0.9 API) has its type; ``errors_*.py``
hold mistakes, each under a comment naming the error codes both checkers must report
for it::

    # expect: mypy[attr-defined] pyright[reportAttributeAccessIssue, reportUnknownMemberType]
    dal.nottes

Any other error, or an expected one not reported, fails. Every Python example of
docs/typing.md and of the README's Typing section (each program and each
continuation, as tests/test_readme.py runs them) is checked the same way and must
have no error at all. The case files that
are not ``errors_*`` also run, so what they annotate works.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.test_readme import BLOCKS, ROOT, Block

HERE = Path(__file__).parent
CASES = sorted((HERE / "cases").glob("*.py"))
TYPING_PAGE = ROOT / "docs" / "typing.md"
EXPECT = re.compile(r"^\s*# expect: (.*)$")
CHECKER = re.compile(r"(mypy|pyright)\[([^\]]*)\]")
TIMEOUT = 600

#: (file, line, error code) of each error, counted.
Errors = Counter[tuple[str, int, str]]


def _expected(files: list[Path]) -> dict[str, Errors]:
    """The errors the ``# expect:`` comments announce, for the line below each."""
    expected: dict[str, Errors] = {"mypy": Counter(), "pyright": Counter()}
    for path in files:
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines, start=1):
            found = EXPECT.match(line)
            if found is None:
                continue
            for checker, codes in CHECKER.findall(found.group(1)):
                for code in filter(None, (code.strip() for code in codes.split(","))):
                    expected[checker][(path.name, number + 1, code)] += 1
    return expected


def _typing_section(block: Block) -> bool:
    """Whether ``block`` is on docs/typing.md or under the README's Typing heading."""
    if block.page == TYPING_PAGE:
        return True
    heading = block.page.read_text().splitlines()[block.section - 1] if block.section else ""
    return block.page == ROOT / "README.md" and heading == "### Typing"


def _doc_units() -> dict[str, str]:
    """The typing docs' programs, each as the file a reader runs: name -> source."""
    units: dict[str, str] = {}
    for block in BLOCKS:
        if block.unit is None or not _typing_section(block):
            continue
        assert not block.unit.files, f"{block.id}: keep the typing docs to programs"
        name = block.id.replace("/", "_").replace(":", "_").lower()
        units[f"{name}.py"] = "\n\n".join(block.unit.script)
    return units


def _mypy(folder: Path, names: list[str]) -> Errors:
    command = [sys.executable, "-m", "mypy", "--strict", "--config-file=", "-O", "json"]
    command += ["--python-version", "3.11", "--cache-dir", str(ROOT / ".mypy_cache" / "typecheck")]
    result = subprocess.run(
        [*command, *names], cwd=folder, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    errors: Errors = Counter()
    for line in result.stdout.splitlines():
        if line.startswith("{"):
            error = json.loads(line)
            if error["severity"] == "error":
                errors[(Path(error["file"]).name, error["line"], error["code"])] += 1
    return errors


def _pyright(folder: Path, names: list[str]) -> Errors:
    config = {"typeCheckingMode": "strict", "pythonVersion": "3.11", "include": names}
    (folder / "pyrightconfig.json").write_text(json.dumps(config))
    command = [sys.executable, "-m", "pyright", "--outputjson", "--pythonpath", sys.executable]
    env = {**os.environ, "PYRIGHT_PYTHON_IGNORE_WARNINGS": "1"}
    result = subprocess.run(
        command, cwd=folder, capture_output=True, text=True, timeout=TIMEOUT, env=env
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    report = json.loads(result.stdout)
    errors: Errors = Counter()
    for error in report["generalDiagnostics"]:
        if error["severity"] == "error":
            line = error["range"]["start"]["line"] + 1
            errors[(Path(error["file"]).name, line, error.get("rule", "error"))] += 1
    return errors


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Errors]:
    """Both checkers' errors on the cases and the docs' programs (run side by side)."""
    folder = tmp_path_factory.mktemp("typecheck")
    for case in CASES:
        shutil.copy(case, folder / case.name)
    for name, source in _doc_units().items():
        (folder / name).write_text(source)
    names = sorted(path.name for path in folder.glob("*.py"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        mypy = pool.submit(_mypy, folder, names)
        pyright = pool.submit(_pyright, folder, names)
        return {"mypy": mypy.result(), "pyright": pyright.result()}


def _difference(reported: Errors, expected: Errors) -> str:
    unexpected = sorted((reported - expected).elements())
    missing = sorted((expected - reported).elements())
    return f"reported but not expected: {unexpected}\nexpected but not reported: {missing}"


@pytest.mark.parametrize("checker", ["mypy", "pyright"])
def test_checker_reports_exactly_the_expected_errors(
    checker: str, reports: dict[str, Errors]
) -> None:
    """Each checker reports the errors the cases expect (line and code), and no other."""
    expected = _expected(CASES)[checker]
    assert reports[checker] == expected, _difference(reports[checker], expected)


def test_cases_cover_each_kind_of_mistake() -> None:
    """The error cases expect typos, wrong argument types and wrong uses of results."""
    codes = {code for _, _, code in _expected(CASES)["mypy"]}
    assert {"attr-defined", "arg-type", "assignment", "return-value", "call-arg"} <= codes
    assert sum(_expected(CASES)["pyright"].values()) >= 40


def test_docs_typing_page_has_a_program_per_framework() -> None:
    """docs/typing.md shows (so the suite checks) the core, Flask, Django, Starlette, FastAPI."""
    units = _doc_units()
    assert any(name.startswith("readme_") for name in units)  # the README's example too
    sources = "\n".join(units.values())
    for module in ("flask_datum", "django_datum", "starlette_datum", "starlette_datum.fastapi"):
        assert f"from {module} import" in sources, module


@pytest.mark.parametrize(
    "case",
    [case for case in CASES if 'if __name__ == "__main__":' in case.read_text()],
    ids=lambda case: case.stem,
)
def test_typed_case_runs(case: Path) -> None:
    """The annotated code works: the case runs as a program, its apps through real clients."""
    result = subprocess.run(
        [sys.executable, "-W", "error", case.name],
        cwd=case.parent,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
