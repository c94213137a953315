"""Every Python example of README.md and docs/*.md runs the way a reader would run it.

A reader pastes a block into a file in an empty folder and runs it with Python, in an
environment holding polydatum with the extras the page names for that part of the page
(``pip install 'polydatum[flask]'`` in the block's section or the sections above it).
So each block runs here in a subprocess, in a fresh folder of its own, with only those
distributions importable: their files are linked into a folder that is the subprocess's
only site directory (``python -S``), as in a fresh virtual environment. How a block is
read depends on its first line, which the reader sees too:

- ``# Continues the example above...``: a continuation; it runs joined to the blocks
  before it (back to the first block of the chain), as one file.
- ``# path/to/file.py`` (or ``.toml``): a file of a project; consecutive such blocks are
  written to their paths in one folder. A project with ``test_*.py`` files is run with
  pytest, and every test in it must pass; otherwise the continuation that follows it
  runs in its folder.
- ``# file.py (excerpt of the project in docs/page.md)``: part of a whole project shown
  on that page (where it runs); the excerpt is compiled, and each of its lines must be in
  that page's examples.
- Anything else: a standalone program.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CONTINUES = re.compile(r"# Continues the examples? above\b")
FILE = re.compile(
    r"# ([\w./-]+\.(?:py|toml))(?:: .*| \(excerpt of the project in ([\w./-]+\.md)\))?$"
)
PIP_INSTALL = re.compile(r"pip install ([^`\n#]+)")
HEADING = re.compile(r"(#{1,6}) ")
TIMEOUT = 180


@dataclass
class Block:
    """One fenced code block of a page."""

    page: Path
    line: int
    lang: str
    code: str
    requirements: frozenset[str]  # what the page names for the block's part of the page
    section: int  # the line of the heading the block is under
    kind: str = "program"  # program, continuation, file, excerpt
    path: str | None = None  # file and excerpt blocks: the file's path
    excerpt_of: str | None = None
    unit: Unit | None = None
    root: Block | None = None  # the first block of its program or project

    def __post_init__(self) -> None:
        self.root = self

    @property
    def id(self) -> str:
        name = "README" if self.page.name == "README.md" else f"docs/{self.page.stem}"
        return f"{name}:{self.line}"


@dataclass
class Unit:
    """What a reader runs: a program (and its continuations), or a project's files."""

    files: dict[str, str] = field(default_factory=dict)
    script: list[str] = field(default_factory=list)
    requirements: set[str] = field(default_factory=set)

    def tests(self) -> int:
        """The number of test functions in the project's test files."""
        sources = [code for name, code in self.files.items() if Path(name).name.startswith("test_")]
        return sum(len(re.findall(r"^(?:async )?def test_", code, re.M)) for code in sources)


def _requirements(text: str) -> set[str]:
    """The distributions the ``pip install`` commands in ``text`` name."""
    names: set[str] = set()
    for command in PIP_INSTALL.findall(text):
        words = iter(command.split())
        for word in words:
            if word in {"--group", "-r", "--requirement", "-c", "--constraint"}:
                next(words, None)  # the option's value is not a distribution
            elif not word.startswith(("-", ".")):
                names.add(word.strip("'\""))
    return names


def _blocks(page: Path) -> list[Block]:
    """The page's fenced blocks, each with the requirements named above it in its sections."""
    lines = page.read_text().splitlines(keepends=True)
    blocks: list[Block] = []
    # Text under each open heading (by level), including code blocks such as `pip install`.
    sections: list[tuple[int, list[str]]] = [(0, [])]
    heading_line = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            code = "".join(lines[i + 1 : end])
            named = set().union(*(_requirements("".join(text)) for _, text in sections))
            lang = line[3:].strip()
            blocks.append(Block(page, i + 1, lang, code, frozenset(named), heading_line))
            sections[-1][1].extend(lines[i : end + 1])
            i = end + 1
            continue
        heading = HEADING.match(line)
        if heading:
            level = len(heading.group(1))
            while sections and sections[-1][0] >= level:
                sections.pop()
            sections.append((level, []))
            heading_line = i + 1
        sections[-1][1].append(line)
        i += 1
    return blocks


def _classify(blocks: list[Block]) -> list[Block]:
    """Mark each block's kind and give it the unit a reader runs; return the Python ones."""
    runnable: list[Block] = []
    previous: Block | None = None
    for block in blocks:
        first = block.code.split("\n", 1)[0]
        file = FILE.match(first)
        if block.lang not in {"python", "toml"} or (block.lang == "toml" and not file):
            continue  # shell commands, output, settings snippets: not part of a program
        if CONTINUES.match(first):
            assert previous is not None, f"{block.id} continues no example"
            assert previous.unit is not None, f"{block.id} continues an excerpt"
            before = previous.unit
            block.kind, block.root = "continuation", previous.root
            block.unit = Unit(dict(before.files), [*before.script, block.code])
            block.unit.requirements |= before.requirements
        elif file and file.group(2):
            block.kind, block.path, block.excerpt_of = "excerpt", file.group(1), file.group(2)
        elif file:
            block.kind, block.path = "file", file.group(1)
            same_project = previous is not None and previous.section == block.section
            if same_project and previous.kind == "file" and previous.unit is not None:
                block.unit, block.root = previous.unit, previous.root
            else:
                block.unit = Unit()
            block.unit.files[block.path] = block.code
        else:
            block.unit = Unit(script=[block.code])
        if block.unit is not None:
            block.unit.requirements |= block.requirements
        previous = block
        runnable.append(block)
    # A project without tests is run by the continuation that follows it.
    for i, block in enumerate(runnable):
        if block.kind == "file" and block.unit is not None and not block.unit.tests():
            after = next((b for b in runnable[i:] if b.kind != "file"), None)
            if after is not None and after.kind == "continuation":
                block.unit = after.unit
    return runnable


BLOCKS = [block for page in PAGES for block in _classify(_blocks(page))]


def _distribution(name: str) -> importlib.metadata.Distribution:
    """The installed distribution ``name`` (not a build's leftover metadata in the checkout)."""
    paths = [path for path in sys.path if path and Path(path).resolve() != ROOT]
    found = next(iter(importlib.metadata.distributions(name=name, path=paths)), None)
    assert found is not None, f"the docs name {name!r}, which this environment lacks"
    return found


def _closure(requirements: set[str]) -> set[str]:
    """The installed distributions that installing ``requirements`` brings, by name."""
    environment = default_environment()
    found: set[str] = set()
    todo = [Requirement(requirement) for requirement in requirements]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        requirement = todo.pop()
        key = (requirement.name.lower(), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        dist = _distribution(requirement.name)
        found.add(dist.metadata["Name"])
        for line in dist.requires or []:
            needed = Requirement(line)
            extras = ["", *sorted(requirement.extras)]
            if needed.marker is None or any(
                needed.marker.evaluate({**environment, "extra": extra}) for extra in extras
            ):
                todo.append(needed)
    return found


def _site(requirements: frozenset[str], sites: Path) -> list[str]:
    """A folder under ``sites`` linking exactly the files of the distributions installing
    ``requirements`` brings; return it with the paths their ``.pth`` files add."""
    names = _closure({"polydatum", *requirements})
    site = sites / hashlib.sha256(",".join(sorted(names)).encode()).hexdigest()[:16]
    paths = [str(site)]
    for name in sorted(names):
        dist = _distribution(name)
        for top in sorted({Path(str(file)).parts[0] for file in dist.files or []}):
            if top.startswith("..") or top == "__pycache__":
                continue
            source = Path(str(dist.locate_file(top)))
            if top.endswith(".pth"):  # an editable install's path lines
                lines = source.read_text().splitlines()
                paths += [line for line in lines if line and not line.startswith("import")]
            elif source.exists() and not (site / top).exists():
                site.mkdir(exist_ok=True)
                (site / top).symlink_to(source)
    return list(dict.fromkeys(paths))


def _run(unit: Unit, folder: Path, path: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``unit`` as a reader would, in the empty ``folder``, with only ``path`` importable."""
    for name, code in unit.files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(code)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(folder), "LANG": "C.UTF-8"}
    env["PYTHONPATH"] = os.pathsep.join(path)
    if unit.script:
        (folder / "example.py").write_text("\n\n".join(unit.script))
        command = [sys.executable, "-S", "-W", "error", "example.py"]  # a warning fails it too
    else:
        command = [sys.executable, "-S", "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        command += ["-W", "error"]
    return subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, timeout=TIMEOUT
    )


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[int, Future[subprocess.CompletedProcess[str]]]]:
    """Start every unit at once (two at a time per core); map each unit to its run."""
    units = {id(block.unit): block.unit for block in BLOCKS if block.unit is not None}
    sites = tmp_path_factory.mktemp("sites")
    paths = {key: _site(frozenset(unit.requirements), sites) for key, unit in units.items()}
    with ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1)) as pool:
        yield {
            key: pool.submit(_run, unit, tmp_path_factory.mktemp("example"), paths[key])
            for key, unit in units.items()
        }


def _page_code(page: str) -> str:
    return "".join(block.code for block in BLOCKS if block.page == ROOT / page)


def test_pages_have_examples_of_each_kind() -> None:
    """The pages hold programs, continuations, project files and excerpts, as described."""
    kinds = {block.kind for block in BLOCKS}
    assert kinds == {"program", "continuation", "file", "excerpt"}
    assert len(BLOCKS) >= 40


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_example_runs_as_a_reader_runs_it(
    block: Block, runs: dict[int, Future[subprocess.CompletedProcess[str]]]
) -> None:
    """The block runs (alone, joined to what it continues, or in its project) and passes."""
    if block.kind == "excerpt":
        compile(block.code, block.id, "exec")
        whole = _page_code(block.excerpt_of or "")
        lines = [line.strip() for line in block.code.splitlines()[1:]]
        missing = [line for line in lines if line and line not in whole]
        assert not missing, f"not in {block.excerpt_of}: {missing}"
        return
    assert block.unit is not None
    result = runs[id(block.unit)].result()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Exception ignored" not in result.stderr, output  # e.g. a connection left open
    if not block.unit.script:
        tests = block.unit.tests()
        assert tests, f"{block.id}: a project file that nothing runs"
        assert re.search(rf"\b{tests} passed\b", result.stdout), output


def test_examples_that_write_files_use_names_of_their_own() -> None:
    """No two examples write to the same file name (a reader may run them in one folder)."""
    writers: dict[str, set[str]] = {}
    for block in BLOCKS:
        for name in re.findall(r"sqlite(?:\+\w+)?:///([\w./-]+)", block.code):
            writers.setdefault(name, set()).add(block.root.id if block.root else block.id)
    shared = {name: pages for name, pages in writers.items() if len(pages) > 1}
    assert not shared, shared
