"""The supported-versions matrix: each plugin's tests on the oldest and the newest release.

`nox` runs every session (`nox -l` lists them; `nox -s flask-oldest` runs one; arguments after
`--` go to pytest; `-j 2` runs two at a time). Each session installs the wheel of this checkout
with one extra and exact pins into an environment of its own (uv's, kept between local runs),
and runs only the tests that framework or backend affects (no web servers: the main suite runs
those; Celery's do start a worker). The installer resolves the pins together with
the extra, so a pin outside the extra's range fails the session; tests/test_support_matrix.py
checks that every extra's lower bound is the oldest pin here, that every Python the package
claims is tested here, and that the README's support table is the one `support_table()` builds.

The `<target>-oldest/newest` sessions run on the oldest Python supported (`OLDEST_PYTHON`). Each
newer Python has a session of its own (`python-3.12`, ...): every extra at its newest release
on that Python (which is Django 6 from 3.12 on), and the tests of the core and of every plugin
that need no web server. Each runs on the `pythonX.Y` found on the PATH; where one is missing,
nox installs it with uv if it can and otherwise skips the session, and `.ci/run` fails instead.

Both ends are exact versions, so a new release elsewhere never changes what a session proves;
the main suite installs the newest of everything on the day and so meets a new release first.
To move an end, change its pins here, run its session, then the README table and the extra.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

import nox
from packaging.requirements import Requirement

nox.needs_version = ">=2026.8.10"  # sessions in parallel (-j)
nox.options.default_venv_backend = "uv"
nox.options.error_on_external_run = True
nox.options.reuse_venv = "yes"

#: The Python the `<target>-oldest/newest` sessions run on: the oldest `requires-python` allows.
OLDEST_PYTHON = "3.11"

#: Where the `wheel` session puts the distribution every session installs.
WHEEL_DIR = os.path.join(".nox", "_wheel")

#: Printed before the tests: the Python and the versions the session really installed.
SHOW_VERSIONS = (
    "import sys, platform, importlib.metadata as m; "
    "print(f'installed: Python {platform.python_version()},',"
    " ', '.join(f'{n} {m.version(n)}' for n in sys.argv[1:]))"
)

#: The PostgreSQL the tests use (and its SCHEMA_SQL, run with psycopg in the session).
POSTGRES_URL = "POLYDATUM_TEST_POSTGRES_URL"
SCHEMA_SQL = (
    "import sys, psycopg; psycopg.connect(sys.argv[1], autocommit=True).execute(sys.argv[2])"
)

#: Test-only packages every session needs (the suite's own tools, not what we support).
TOOLS = ("pytest>=8", "anyio>=4")

#: The OpenTelemetry SDK, whose in-memory exporter the tracing tests read: with it, each
#: framework's sessions also run its tracing tests.
OTEL_SDK = ("opentelemetry-sdk>=1.27",)


@dataclass(frozen=True)
class End:
    """One end of a target's range: the exact pins, and pytest options that end needs."""

    pins: tuple[str, ...]
    #: Each option with the reason in a comment where it is given.
    pytest: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    """A framework or backend: the extra it comes with, its two ends, its tests."""

    name: str
    #: The extra whose lower bound the oldest end proves.
    extra: str
    oldest: End
    newest: End
    tools: tuple[str, ...]
    tests: tuple[str, ...]
    #: More extras its tests need, installed at their newest.
    with_extras: tuple[str, ...] = ()
    #: Its tests create tables of fixed names in PostgreSQL: each of its sessions gets a schema
    #: of its own there, so that both ends can run at once.
    own_schema: bool = False


@dataclass(frozen=True)
class NewerPython:
    """A Python newer than `OLDEST_PYTHON`: the newest release of every extra there."""

    version: str
    #: The exact pins: one for each distribution of the README's support table.
    pins: tuple[str, ...]


TARGETS = (
    Target(
        name="flask",
        extra="flask",
        # Flask 3.0.0 asks for Werkzeug>=3.0.0: the oldest pair a user can have. The async extra
        # (asgiref) is what Flask needs for async views, which the tests cover.
        oldest=End(("flask[async]==3.0.0", "werkzeug==3.0.0")),
        newest=End(("flask[async]==3.1.3",)),
        tools=("flask-login>=0.6", *OTEL_SDK, "opentelemetry-instrumentation-wsgi>=0.48b0"),
        tests=("tests/flask_datum", "tests/reliability/test_flask_faults.py"),
        with_extras=("opentelemetry",),
    ),
    Target(
        name="django",
        extra="django",
        # Django 5.2.0 asks for asgiref>=3.8.1, whose sync/async bridges the middleware uses.
        # Django 6 needs Python 3.12, so 5.2's newest patch release is the newest on 3.11.
        oldest=End(("django==5.2", "asgiref==3.8.1")),
        newest=End(("django==5.2.19",)),
        tools=("pytest-django>=4.9", "httpx>=0.27", "psycopg[binary]>=3.1", *OTEL_SDK),
        tests=(
            "tests/django_datum",
            "--ignore=tests/django_datum/test_servers.py",
            "tests/reliability/test_django_faults.py",
        ),
        with_extras=("opentelemetry",),
    ),
    Target(
        name="starlette",
        extra="fastapi",
        # FastAPI 0.115.2 is the first release that allows Starlette 0.40 (0.115.0 and 0.115.1
        # cap it below 0.39), and it allows no newer one, so the two oldest come together.
        oldest=End(
            ("starlette==0.40.0", "fastapi==0.115.2"),
            # Two warnings of Starlette's own TestClient under the newest anyio, not of
            # polydatum (which opens no anyio streams), stop being errors here, and only they:
            # its module names anyio.abc.BlockingPortal, an alias anyio now deprecates; and
            # before 0.45 it never closes the lifespan's memory streams, which anyio reports
            # when they are collected.
            pytest=(
                "-W",
                "ignore:The anyio.abc.BlockingPortal alias is deprecated:DeprecationWarning",
                "-W",
                "ignore:Unclosed <MemoryObject:ResourceWarning",
            ),
        ),
        newest=End(("starlette==1.10.0", "fastapi==0.165.0")),
        # Starlette 1.x's TestClient runs on httpx2 and warns when it falls back to httpx.
        tools=("httpx>=0.27", "httpx2>=2", *OTEL_SDK, "opentelemetry-instrumentation-asgi>=0.48b0"),
        tests=(
            "tests/starlette_datum",
            "--ignore=tests/starlette_datum/test_uvicorn.py",
            "tests/reliability/test_asgi_faults.py",
        ),
        with_extras=("opentelemetry",),
    ),
    Target(
        name="sqlalchemy",
        extra="sqlalchemy",
        oldest=End(("sqlalchemy[asyncio]==2.0.0",)),
        newest=End(("sqlalchemy[asyncio]==2.1.9",)),
        tools=("aiosqlite>=0.20", "psycopg[binary]>=3.1"),
        tests=(
            "tests/core/test_contrib_sqlalchemy.py",
            "tests/core/test_contrib_sqlalchemy_async.py",
        ),
        own_schema=True,
    ),
    Target(
        name="celery",
        extra="celery",
        # Celery 5.5.0 asks for kombu>=5.5.2, billiard>=4.2.1 and vine>=5.1.0. Kombu's own redis
        # extra caps redis-py at 5.2.1, which celery[redis] 5.5.0 does not pass on: with redis-py
        # 5.3 kombu 5.5 calls a deprecated signature (a DeprecationWarning, which stops the
        # in-process test worker here), so kombu[redis] brings the redis-py kombu declares.
        oldest=End(
            ("celery[redis]==5.5.0", "kombu[redis]==5.5.2", "billiard==4.2.1", "vine==5.1.0"),
            # The result backend of Celery 5.5.0's in-process test worker leaves its redis
            # socket to the garbage collector, which warns (Celery 5.7 closes it). polydatum
            # opens no socket, and a database connection left open warns with another message.
            pytest=("-W", "ignore:unclosed <socket.socket:ResourceWarning"),
        ),
        newest=End(("celery[redis]==5.7.0",)),
        tools=(
            "sqlalchemy[asyncio]>=2.0",
            "psycopg[binary]>=3.1",
            *OTEL_SDK,
            "opentelemetry-instrumentation-celery>=0.48b0",
        ),
        tests=(
            "tests/core/test_contrib_celery.py",
            "tests/core/test_contrib_celery_on_commit.py",
            "tests/core/test_contrib_celery_pools.py",
            "tests/core/test_contrib_celery_worker.py",
            "tests/core/test_contrib_opentelemetry_celery.py",
        ),
        with_extras=("opentelemetry",),
        own_schema=True,
    ),
    Target(
        name="opentelemetry",
        extra="opentelemetry",
        # The SDK and the instrumentations of one release train: SDK 1.27.0 pins the API at
        # 1.27.0, and the 0.48b0 instrumentations go with it. The frameworks are the newest.
        oldest=End(
            (
                "opentelemetry-api==1.27.0",
                "opentelemetry-sdk==1.27.0",
                "opentelemetry-instrumentation-wsgi==0.48b0",
                "opentelemetry-instrumentation-asgi==0.48b0",
                "opentelemetry-instrumentation-celery==0.48b0",
                # Celery's 0.48b0 instrumentation imports pkg_resources, which setuptools 81
                # removed (it asks only for setuptools>=16).
                "setuptools<81",
            ),
            # ...and importing pkg_resources warns that it is deprecated (a DeprecationWarning
            # in setuptools 73, a UserWarning in 80): a warning of the instrumentation's, not
            # of polydatum, so only that message is not an error here.
            pytest=("-W", "ignore:pkg_resources is deprecated as an API"),
        ),
        newest=End(
            (
                "opentelemetry-api==1.45.2",
                "opentelemetry-sdk==1.45.2",
                "opentelemetry-instrumentation-wsgi==0.66b2",
                "opentelemetry-instrumentation-asgi==0.66b2",
                "opentelemetry-instrumentation-celery==0.66b2",
            )
        ),
        tools=("pytest-django>=4.9", "httpx>=0.27", "httpx2>=2", "psycopg[binary]>=3.1"),
        tests=(
            "tests/core/test_contrib_opentelemetry.py",
            "tests/core/test_contrib_opentelemetry_celery.py",
            "tests/flask_datum/test_opentelemetry.py",
            "tests/django_datum/test_opentelemetry.py",
            "tests/starlette_datum/test_opentelemetry.py",
            "tests/starlette_datum/test_opentelemetry_fastapi.py",
        ),
        with_extras=("flask", "django", "fastapi", "celery", "sqlalchemy"),
        own_schema=True,
    ),
)

#: What every newer Python's session installs besides its pins: every extra but `testing` (the
#: pins fix their versions), the tools of every target, and Hypothesis, which the core's
#: concurrency tests use.
ALL_EXTRAS = ("flask", "django", "starlette", "fastapi", "sqlalchemy", "celery", "opentelemetry")
ALL_TOOLS = (*dict.fromkeys(tool for t in TARGETS for tool in t.tools), "hypothesis>=6")

#: The tests every newer Python's session runs: those of the core, and those of each plugin and
#: its fault tests that need no web server (the main suite runs those, on `OLDEST_PYTHON`).
PYTHON_TESTS = (
    "tests/core",
    "tests/flask_datum",
    "tests/django_datum",
    "--ignore=tests/django_datum/test_servers.py",
    "tests/starlette_datum",
    "--ignore=tests/starlette_datum/test_uvicorn.py",
    "tests/reliability/test_flask_faults.py",
    "tests/reliability/test_django_faults.py",
    "tests/reliability/test_asgi_faults.py",
)


def newest_pins(**replaced: str) -> tuple[str, ...]:
    """The pins of every target's newest end, with ``replaced``'s (distribution=pin) instead."""
    pins = [pin for t in TARGETS for pin in t.newest.pins]
    names = {Requirement(pin).name for pin in pins}
    unknown = set(replaced) - names
    if unknown:
        raise LookupError(f"no newest pin for {sorted(unknown)}: the pins are for {sorted(names)}")
    return tuple(replaced.get(Requirement(pin).name, pin) for pin in pins)


#: The newer Pythons the package claims (pyproject's classifiers), each with its newest releases:
#: those of the newest sessions, but Django 6, which needs 3.12 (5.2 is the newest on 3.11).
NEWER_PYTHONS = (
    NewerPython("3.12", newest_pins(django="django==6.1.3")),
    NewerPython("3.13", newest_pins(django="django==6.1.3")),
)

#: The README's support table: (what the reader knows it as, its distribution, its target).
SUPPORTED = (
    ("Flask", "flask", "flask"),
    ("Django", "django", "django"),
    ("Starlette", "starlette", "starlette"),
    ("FastAPI", "fastapi", "starlette"),
    ("SQLAlchemy", "sqlalchemy", "sqlalchemy"),
    ("Celery", "celery", "celery"),
    ("OpenTelemetry API", "opentelemetry-api", "opentelemetry"),
)


def pinned(pins: tuple[str, ...], distribution: str) -> str:
    """Return the version ``pins`` give ``distribution`` (``flask[async]==3.0.0`` gives 3.0.0)."""
    for pin in pins:
        requirement = Requirement(pin)
        if requirement.name == distribution:
            (specifier,) = requirement.specifier
            if specifier.operator != "==":
                raise ValueError(f"{pin!r} is not an exact pin (name==version)")
            return specifier.version
    raise LookupError(f"no pin for {distribution!r} in {pins}")


def in_schema(url: str, schema: str) -> str:
    """``url`` with its connections' ``search_path`` set to ``schema`` (a libpq option)."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"


def target(name: str) -> Target:
    """Return the target called ``name``."""
    return next(t for t in TARGETS if t.name == name)


def support_table() -> str:
    """The README's support table, in Markdown, built from the pins above.

    A column for each Python: the oldest and newest release tested on `OLDEST_PYTHON`, then the
    newest tested on each newer Python.
    """
    newer = [f"newest on {p.version}" for p in NEWER_PYTHONS]
    header = [f"oldest on {OLDEST_PYTHON}", f"newest on {OLDEST_PYTHON}", *newer]
    lines = [f"| | {' | '.join(header)} |", "|---" * (len(header) + 1) + "|"]
    for label, distribution, name in SUPPORTED:
        pins = target(name)
        versions = [
            pinned(pins.oldest.pins, distribution),
            pinned(pins.newest.pins, distribution),
            *(pinned(p.pins, distribution) for p in NEWER_PYTHONS),
        ]
        lines.append(f"| {label} | {' | '.join(versions)} |")
    return "\n".join(lines) + "\n"


@nox.session(python=None, default=False)
def wheel(session: nox.Session) -> None:
    """Build this checkout's wheel once, for every session (the tests run on what users get)."""
    for old in glob.glob(os.path.join(WHEEL_DIR, "*.whl")):
        os.remove(old)
    session.run("uv", "build", "--wheel", "--quiet", "--out-dir", WHEEL_DIR)


def _install_and_test(
    session: nox.Session,
    extras: tuple[str, ...],
    requirements: tuple[str, ...],
    pytest_options: tuple[str, ...],
    tests: tuple[str, ...],
    *,
    own_schema: bool,
    show: tuple[str, ...],
) -> None:
    """Install the wheel with ``extras`` and ``requirements``, then run ``tests``.

    Before the tests, print the Python and the installed versions of ``show``'s distributions.
    With ``own_schema`` (and a PostgreSQL URL) the tests run in a schema of the session's own.
    """
    (built,) = glob.glob(os.path.join(WHEEL_DIR, "*.whl"))
    wheel = os.path.abspath(built)
    # One resolution of the extras with the pins (a pin outside an extra's range fails here).
    # The wheel is reinstalled on every run; what did not change stays installed.
    session.install(
        "--reinstall-package",
        "polydatum",
        f"polydatum[{','.join(extras)}] @ file://{wheel}",
        *requirements,
    )
    session.run("python", "-c", SHOW_VERSIONS, *(Requirement(p).name for p in show))
    pytest = ("pytest", "-p", "no:cacheprovider", "-q", *pytest_options, *tests)
    url = os.environ.get(POSTGRES_URL)
    if not (own_schema and url):
        session.run(*pytest, *session.posargs)
        return
    schema = "nox_" + session.name.replace("-", "_").replace(".", "_")
    session.run("python", "-c", SCHEMA_SQL, url, f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    try:
        session.run(*pytest, *session.posargs, env={POSTGRES_URL: in_schema(url, schema)})
    finally:
        session.run("python", "-c", SCHEMA_SQL, url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _matrix_session(target: Target, which: str, end: End) -> None:
    """Define the session ``<target>-<which>``: ``end``'s pins, then the target's tests."""

    @nox.session(
        name=f"{target.name}-{which}",
        python=OLDEST_PYTHON,
        requires=["wheel"],
        allow_parallel=True,
    )
    def run(session: nox.Session) -> None:
        _install_and_test(
            session,
            (target.extra, *target.with_extras),
            (*end.pins, *TOOLS, *target.tools),
            end.pytest,
            target.tests,
            own_schema=target.own_schema,
            show=end.pins,
        )

    run.__doc__ = f"The {target.name} tests on its {which} release ({', '.join(end.pins)})."


def _python_session(python: NewerPython) -> None:
    """Define the session ``python-<version>``: its pins, every extra, the serverless tests."""

    @nox.session(
        name=f"python-{python.version}",
        python=python.version,
        requires=["wheel"],
        allow_parallel=True,
    )
    def run(session: nox.Session) -> None:
        _install_and_test(
            session,
            ALL_EXTRAS,
            (*python.pins, *TOOLS, *ALL_TOOLS),
            (),
            PYTHON_TESTS,
            own_schema=True,
            show=python.pins,
        )

    run.__doc__ = (
        f"The core's and the plugins' tests on Python {python.version}, every extra at its newest."
    )


for _target in TARGETS:
    _matrix_session(_target, "oldest", _target.oldest)
    _matrix_session(_target, "newest", _target.newest)
for _python in NEWER_PYTHONS:
    _python_session(_python)
