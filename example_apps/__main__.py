"""Start an example app under its real server: ``python -m example_apps --help``.

``python -m example_apps`` creates the notes app's tables, gives the demo
user a new token, prints it and the URL, then runs the app under its server
(the process becomes the server; stop it with Ctrl-C). ``python -m
example_apps token`` only prints a new token. ``python -m example_apps
worker`` runs the Celery worker that counts the notes' words (needs
``$CELERY_BROKER_URL``); arguments the runner does not know are passed on to
``celery worker``. ``--app conduit`` serves the RealWorld Conduit API
instead (``$CONDUIT_SECRET_KEY``, or ``--demo`` for a throwaway secret).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from . import conduit
from .conduit import config as conduit_config
from .conduit.security import new_secret
from .config import CELERY_BROKER_URL_ENV, DATABASE_URL_ENV, broker_url, database_url
from .notes import issue_token, prepare_database

DEMO_USER = "demo"
ROOT = Path(__file__).resolve().parent.parent
DJANGO_SETTINGS = {
    "notes": "example_apps.django_app.settings",
    "conduit": "example_apps.conduit.django_app.settings",
}
DEFAULT_DATABASE_URLS = {
    "notes": "sqlite:///notes.sqlite3",
    "conduit": conduit_config.DEFAULT_DATABASE_URL,
}
FRAMEWORKS = {"notes": ("flask", "django", "starlette"), "conduit": ("flask", "django", "fastapi")}

# How each app is served: the server, then its app target and options.
SERVERS = {
    ("notes", "flask"): ["gunicorn", "example_apps.flask_app:create_app()"],
    ("notes", "django"): ["gunicorn", "example_apps.django_app.wsgi:application"],
    ("notes", "django-asgi"): [
        "uvicorn",
        "example_apps.django_app.asgi:application",
        "--lifespan",
        "off",
    ],
    ("notes", "starlette"): ["uvicorn", "--factory", "example_apps.starlette_app:create_app"],
    ("conduit", "flask"): ["gunicorn", "example_apps.conduit.flask_app:create_app()"],
    ("conduit", "django"): ["gunicorn", "example_apps.conduit.django_app.wsgi:application"],
    ("conduit", "django-asgi"): [
        "uvicorn",
        "example_apps.conduit.django_app.asgi:application",
        "--lifespan",
        "off",
    ],
    ("conduit", "fastapi"): [
        "uvicorn",
        "--factory",
        "example_apps.conduit.fastapi_app:create_app",
        "--lifespan",
        "off",
    ],
}
CELERY_APP = "example_apps.tasks:celery_app"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line; exit with a usage message when it is wrong."""
    parser = argparse.ArgumentParser(
        prog="python -m example_apps",
        description="Serve the notes or the Conduit API (see docs/examples.md).",
    )
    parser.add_argument(
        "command",
        nargs="?",
        choices=["serve", "token", "worker"],
        default="serve",
        help="serve (default); token: print a new token for --user and exit; "
        "worker: run the Celery worker that counts words",
    )
    parser.add_argument(
        "--app", choices=list(FRAMEWORKS), default="notes", help="which API (default notes)"
    )
    parser.add_argument(
        "--framework",
        choices=["flask", "django", "starlette", "fastapi"],
        default="flask",
        help="notes: flask, django, starlette; conduit: flask, django, fastapi",
    )
    parser.add_argument("--asgi", action="store_true", help="Django only: uvicorn, not gunicorn")
    parser.add_argument(
        "--demo",
        action="store_true",
        help=f"conduit: sign tokens with a throwaway secret instead of ${conduit.SECRET_KEY_ENV}",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="server processes (gunicorn 2, uvicorn 1); worker: task processes (2)",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help=f"SQLAlchemy URL (default: ${DATABASE_URL_ENV}, else sqlite:///<app>.sqlite3)",
    )
    parser.add_argument("--user", default=DEMO_USER, help="token: the user to issue it for")
    parser.add_argument(
        "--broker-url",
        default=None,
        help=f"Celery broker (default: ${CELERY_BROKER_URL_ENV}; none: words are not counted)",
    )
    args, celery_args = parser.parse_known_args(argv)
    if celery_args and args.command != "worker":
        parser.error(f"unrecognized arguments: {' '.join(celery_args)}")
    args.celery_args = celery_args  # passed on to `celery worker`
    if args.command == "worker" and not (args.broker_url or broker_url()):
        parser.error(
            f"worker needs a Celery broker: set ${CELERY_BROKER_URL_ENV} or pass --broker-url, "
            "e.g. redis://127.0.0.1:6379/0 (and the same for the server)."
        )
    if args.asgi and args.framework != "django":
        parser.error("--asgi is for --framework django (Starlette always runs under uvicorn).")
    if args.framework not in FRAMEWORKS[args.app]:
        parser.error(
            f"--app {args.app} is served by --framework {', '.join(FRAMEWORKS[args.app])}; "
            f"{args.framework} serves --app "
            + " and ".join(app for app, names in FRAMEWORKS.items() if args.framework in names)
            + "."
        )
    if args.app == "conduit":
        if args.command != "serve":
            parser.error(
                f"{args.command} is for the notes app; Conduit's users get their tokens "
                "from POST /api/users (register) and POST /api/users/login."
            )
        if not args.demo:
            try:
                conduit.secret_key()
            except conduit.ConfigurationError as err:
                parser.error(str(err))
    elif args.demo:
        parser.error("--demo is for --app conduit (the notes app prints its demo token anyway).")
    return args


def server_command(args: argparse.Namespace) -> list[str]:
    """Return the command line that serves ``args.framework``."""
    name = "django-asgi" if args.asgi else args.framework
    server, *target = SERVERS[args.app, name]
    command = [sys.executable, "-m", server, *target]
    if server == "gunicorn":
        workers = args.workers or 2
        bind = f"{args.host}:{args.port}"
        command += ["--bind", bind, "--workers", str(workers), "--threads", "4"]
        return command + no_control_socket_option()
    workers = args.workers or 1
    return [*command, "--host", args.host, "--port", str(args.port), "--workers", str(workers)]


def worker_command(args: argparse.Namespace) -> list[str]:
    """Return the command line of the Celery worker (prefork, ``--workers`` processes)."""
    command = [sys.executable, "-m", "celery", "-A", CELERY_APP, "worker", "--loglevel", "INFO"]
    return [*command, "--concurrency", str(args.workers or 2), *args.celery_args]


def no_control_socket_option() -> list[str]:
    """Return gunicorn's option that turns its control socket off, if it has one.

    gunicorn 25+ opens a control socket at one path per user, which several
    servers on one machine would fight over; the apps do not use it.
    """
    from gunicorn.config import KNOWN_SETTINGS  # type: ignore[import-untyped]

    known = any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS)
    return ["--no-control-socket"] if known else []


def _shown(url: str) -> str:
    """``url`` without its password, for printing."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return repr(url)


def shown_command(command: list[str], settings: dict[str, str]) -> str:
    """``command`` as a shell line, after the variables the runner set, with no passwords.

    The interpreter is shown relative to the working directory when it lives
    under it (``.venv/bin/python``), so the line can be pasted as it is.
    """
    shown = {name: _shown(value) if "URL" in name else value for name, value in settings.items()}
    assignments = [f"{name}={shlex.quote(value)}" for name, value in shown.items()]
    executable = command[0]
    relative = os.path.relpath(executable)
    if not relative.startswith(os.pardir):
        executable = relative if os.sep in relative else f".{os.sep}{relative}"
    return " ".join([*assignments, shlex.join([executable, *command[1:]])])


def _prepare(args: argparse.Namespace, url: str) -> str:
    """Create the app's tables; return the demo user's new token (notes) or ""."""
    if args.app == "conduit":
        conduit.prepare_database(url)
        return ""
    prepare_database(url)
    return issue_token(url, args.user) if args.command != "worker" else ""


def main(argv: list[str] | None = None) -> None:
    """Prepare the database, issue a token, then serve (or print the token, or run the worker)."""
    args = parse_args(argv)
    url = args.database_url or database_url(DEFAULT_DATABASE_URLS[args.app])
    try:
        token = _prepare(args, url)
    except (ArgumentError, NoSuchModuleError, OperationalError) as err:
        sys.exit(
            f"Can not use the database {_shown(url)}: {err}\n"
            f"Check --database-url / ${DATABASE_URL_ENV}."
        )
    except ImportError as err:  # the URL names a database whose driver is not installed
        sys.exit(
            f"Can not use the database {_shown(url)}: its driver is not installed ({err}).\n"
            f"Check --database-url / ${DATABASE_URL_ENV}: the apps are tested on sqlite:///PATH "
            "and postgresql://USER:PASSWORD@HOST/DB (psycopg 3); another database needs its "
            "driver installed first."
        )
    except RuntimeError as err:  # Conduit found another app's tables
        sys.exit(str(err))
    if args.command == "token":
        print(token)
        return
    # The server's workers (and Celery's) import the app and read the same settings.
    settings = {DATABASE_URL_ENV: url}
    broker = args.broker_url or broker_url()
    if broker and args.app == "notes":
        settings[CELERY_BROKER_URL_ENV] = broker
    if args.framework == "django":  # this project's settings, whatever the shell has
        settings["DJANGO_SETTINGS_MODULE"] = DJANGO_SETTINGS[args.app]
    env = {**os.environ, **settings}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    command = worker_command(args) if args.command == "worker" else server_command(args)
    print(f"Database: {_shown(url)}")
    if args.command == "worker":
        print(f"Counting words with a Celery worker on {_shown(broker or '')}")
    else:
        target = next(arg for arg in command[3:] if not arg.startswith("-"))
        if args.app == "conduit":
            if args.demo:  # one secret for every worker process; never printed
                env[conduit.SECRET_KEY_ENV] = new_secret()
                print("Demo mode: tokens are signed with a throwaway secret, valid until it stops")
            print(f"Serving Conduit on {args.framework} ({target}) with {command[2]}")
            print(f"API at http://{args.host}:{args.port}{conduit.PREFIX} (POST /users registers)")
        else:
            print(f'Demo user "{args.user}", token: {token}')
            print(f"Serving {args.framework} ({target}) with {command[2]}")
            if not broker:
                print(f"No ${CELERY_BROKER_URL_ENV}: notes are stored but their words not counted")
    # The exact command, to run the same app or worker under other settings by hand.
    print(f"Running: {shown_command(command, settings)}")
    if args.command != "worker":
        print(f"Listening on http://{args.host}:{args.port}")
    sys.stdout.flush()
    os.execve(sys.executable, command, env)


if __name__ == "__main__":
    main()
