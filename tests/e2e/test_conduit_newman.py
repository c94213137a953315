"""The official RealWorld API suite against every Conduit server, on SQLite and on PostgreSQL.

The suite is RealWorld's Postman collection, run with newman as its
``run-api-tests.sh`` does (``APIURL``, ``USERNAME``, ``EMAIL``, ``PASSWORD`` as
global variables), without ``--delay-request``: the suite passes with no
delay between requests. Each run gets a fresh database and a fresh server
started through ``python -m example_apps``; the eight runs go four at a time.

The collection is read from ``$POLYDATUM_REALWORLD_DIR`` (default
``../shared/reference/realworld`` next to the repository) and never copied
here; newman from ``$POLYDATUM_NEWMAN``, else ``.newman/`` (what ``.ci/run``
installs: ``npm install --prefix .newman newman@6.2.2``), else the ``PATH``.
Without either the tests are skipped, and fail when
``POLYDATUM_REQUIRE_NEWMAN=1`` (as in ``.ci/run``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from ._apps import CONDUIT_APPS, CONDUIT_SECRET, ROOT, fresh_database, serve

REALWORLD_DIR_ENV = "POLYDATUM_REALWORLD_DIR"
NEWMAN_ENV = "POLYDATUM_NEWMAN"
REQUIRE_NEWMAN_ENV = "POLYDATUM_REQUIRE_NEWMAN"
COLLECTION = "Conduit.postman_collection.json"
RUNS = [(app, backend) for backend in ("sqlite", "postgresql") for app in CONDUIT_APPS]
PARALLEL = 4


class Outcome(NamedTuple):
    """What one newman run gave: its exit code, its output and its JSON report's ``run``."""

    returncode: int
    output: str
    run: dict[str, Any]


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_NEWMAN_ENV) == "1":
        pytest.fail(f"{REQUIRE_NEWMAN_ENV}=1 but {reason}")
    pytest.skip(reason)


def _collection() -> Path:
    folder = Path(
        os.environ.get(REALWORLD_DIR_ENV) or ROOT.parent / "shared" / "reference" / "realworld"
    )
    path = folder / COLLECTION
    if not path.is_file():
        _unavailable(f"the RealWorld collection is not at {path} (set ${REALWORLD_DIR_ENV})")
    return path


def _newman() -> str:
    for candidate in (
        os.environ.get(NEWMAN_ENV),
        ROOT / ".newman" / "node_modules" / ".bin" / "newman",
    ):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    found = shutil.which("newman")
    if found is None or shutil.which("node") is None:
        _unavailable(
            f"newman is not installed (npm install --prefix .newman newman@6.2.2, or ${NEWMAN_ENV})"
        )
    return str(found)


def _requests(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The requests of a collection's item tree, in order."""
    found: list[dict[str, Any]] = []
    for item in items:
        found += _requests(item["item"]) if "item" in item else [item]
    return found


def _suite_run(app: str, backend: str, newman: str, collection: Path, folder: Path) -> Outcome:
    """Serve ``app`` on a fresh ``backend`` database and run the whole collection against it."""
    with ExitStack() as stack:
        url = fresh_database(stack, backend, f"newman_{app.replace('-', '_')}", folder)
        server = stack.enter_context(serve(app, url, secret=CONDUIT_SECRET))
        user = f"u{uuid.uuid4().hex[:12]}"
        report = folder / "report.json"
        command = [newman, "run", str(collection), "--reporters", "cli,json"]
        command += ["--reporter-json-export", str(report), "--color", "off"]
        for name, value in [
            ("APIURL", f"{server.url}/api"),
            ("USERNAME", user),
            ("EMAIL", f"{user}@mail.com"),
            ("PASSWORD", "password"),
        ]:
            command += ["--global-var", f"{name}={value}"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        output = done.stdout + done.stderr + "\n--- server log ---\n" + server.log()
        if not report.is_file():
            raise AssertionError(f"newman wrote no report:\n{output}")
        return Outcome(done.returncode, output, json.loads(report.read_text())["run"])


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Future[Outcome]]:
    """Every run of the suite, four at a time (each test waits for its own, and sees its errors)."""
    collection, newman = _collection(), _newman()
    with ThreadPoolExecutor(PARALLEL) as pool:
        return {
            (app, backend): pool.submit(
                _suite_run, app, backend, newman, collection, tmp_path_factory.mktemp(app)
            )
            for app, backend in RUNS
        }


@pytest.mark.parametrize(("app", "backend"), RUNS, ids=["-".join(run) for run in RUNS])
def test_the_realworld_api_suite_passes(
    outcomes: dict[tuple[str, str], Future[Outcome]], app: str, backend: str
) -> None:
    """Every request of the official collection runs and every one of its assertions passes."""
    outcome = outcomes[app, backend].result()
    run = outcome.run
    failures = [
        f"{failure['source'].get('name')}: {failure['error'].get('message')}"
        for failure in run["failures"]
    ]
    assert failures == [], outcome.output
    stats = run["stats"]
    collection = json.loads(_collection().read_text())
    assert stats["requests"]["total"] == len(_requests(collection["item"]))
    failed = {kind: stats[kind]["failed"] for kind in ("requests", "assertions", "testScripts")}
    assert failed == {"requests": 0, "assertions": 0, "testScripts": 0}
    # A request whose script checks nothing would hide a failure: each executed one checked.
    scripted = {
        item["name"] for item in _requests(collection["item"])
        if any(event["listen"] == "test" for event in item.get("event", []))
    }  # fmt: skip
    unchecked = [
        execution["item"]["name"]
        for execution in run["executions"]
        if execution["item"]["name"] in scripted and not execution.get("assertions")
    ]
    assert unchecked == []
    assert outcome.returncode == 0, outcome.output
