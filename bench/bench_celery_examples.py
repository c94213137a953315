"""What sending ``count_words`` costs the example apps' ``notes.create``, per call.

``notes.create`` (the sync service, through the DAL, in a context per call
like a request's) on an in-memory SQLite database, four ways: sending no
task (the apps without a broker); sending ``count_words`` with
``delay_on_commit`` (the apps with a broker: ``OnCommitMiddleware``, the
user header, the publish after the commit); with a plain ``delay()`` inside
the context (no on-commit bookkeeping, but sent before the commit); and the
async service (the Starlette app's) with ``apply_async_on_commit``. The broker
is kombu's in-memory transport, so the figures are the cost in the app's
process without a network round trip (add one per write for Redis).

Run: ``.venv/bin/python bench/bench_celery_examples.py`` (no server needed).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from celery import Celery  # noqa: E402
from polydatum import DataManager  # noqa: E402
from polydatum.contrib.celery import USER_HEADER, DatumTask  # noqa: E402

from example_apps.notes import User, build_async_data_manager, build_data_manager  # noqa: E402
from example_apps.notes.schema import metadata  # noqa: E402

CALLS = 1000
REPEATS = 7
BODY = b'{"title": "Buy milk", "body": "oat milk, two litres"}'


def _setup(after_write: Callable[[int, User], None] | None) -> tuple[DataManager, User]:
    dm = build_data_manager("sqlite://", after_write)
    engine: Any = dm.get_resource("db").engine  # type: ignore[attr-defined]
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO users (id, name) VALUES (1, 'ann')")
    return dm, User(1, "ann")


def _task(dm: DataManager) -> Any:
    class BenchTask(DatumTask, data_manager=dm, user_ref=lambda user: user.id):  # type: ignore[type-arg]
        pass

    app = Celery("bench", task_cls=BenchTask, broker="memory://")
    app.conf.task_ignore_result = True

    @app.task(name="bench.count_words", shared=False)
    def count_words(note_id: int) -> None:
        pass

    return count_words


def _sync_variant(send: str) -> Callable[[], None]:
    holder: dict[str, Any] = {}

    def after_write(note_id: int, owner: User) -> None:
        task = holder["task"]
        task.delay_on_commit(note_id) if send == "on_commit" else task.delay(note_id)

    dm, user = _setup(None if send == "none" else after_write)
    holder["task"] = _task(dm)
    dal = dm.get_dal()

    def run() -> None:
        for _ in range(CALLS):
            with dm.context({"user": user}):
                dal.notes.create(BODY)

    return run


def _async_variant(send: bool) -> Callable[[], None]:
    holder: dict[str, Any] = {}

    def after_write(note_id: int, owner: User) -> None:
        holder["task"].apply_async_on_commit((note_id,), headers={USER_HEADER: owner.id})

    sync_dm, user = _setup(None)
    holder["task"] = _task(sync_dm)
    dm = build_async_data_manager("sqlite+aiosqlite://", after_write if send else None)
    dal = dm.get_dal()

    async def prepare() -> None:
        async with dm.context() as ctx:
            db = await ctx.aget("db")
            await db.run_sync(metadata.create_all)
            await db.exec_driver_sql("INSERT INTO users (id, name) VALUES (1, 'ann')")

    async def calls() -> None:
        for _ in range(CALLS):
            async with dm.context({"user": user}):
                await dal.notes.create(BODY)

    loop = asyncio.new_event_loop()
    loop.run_until_complete(prepare())
    return lambda: loop.run_until_complete(calls())


def _median_us(run: Callable[[], None]) -> float:
    run()  # warm up
    samples = []
    for _ in range(REPEATS):
        start = time.perf_counter_ns()
        run()
        samples.append((time.perf_counter_ns() - start) / CALLS / 1000)
    return statistics.median(samples)


def main() -> list[dict[str, Any]]:
    """Return one row per variant: us per notes.create, and the cost of sending over none."""
    variants = {
        "sync, no task": _sync_variant("none"),
        "sync, delay_on_commit": _sync_variant("on_commit"),
        "sync, delay() before the commit": _sync_variant("delay"),
        "async, no task": _async_variant(False),
        "async, apply_async_on_commit": _async_variant(True),
    }
    measured = {name: _median_us(run) for name, run in variants.items()}
    rows = []
    for name, us in measured.items():
        base = measured["async, no task" if name.startswith("async") else "sync, no task"]
        rows.append(
            {
                "variant": name,
                "us_per_call": round(us, 1),
                "overhead_us": round(us - base, 1),
                "overhead_pct": round(100 * (us - base) / base, 1),
            }
        )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    """Print the rows as one table."""
    print(f"notes.create, us per call (median of {REPEATS} x {CALLS}, in-memory broker)")
    print(f"  {'variant':34} {'us':>8} {'+us':>8} {'+%':>7}")
    for row in rows:
        print(
            f"  {row['variant']:34} {row['us_per_call']:8.1f} "
            f"{row['overhead_us']:8.1f} {row['overhead_pct']:6.1f}%"
        )


if __name__ == "__main__":
    print_table(main())
