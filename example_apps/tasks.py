"""The notes' Celery tasks: ``python -m example_apps worker`` runs them.

``count_words(note_id)`` counts a note's words and stores them on the note,
through the same ``notes`` service the views call, inside a data context of
its own (``DatumTask``) on behalf of the user who wrote the note: the
request's ``meta.user`` travels with the task as an id and is loaded again
in the worker, so a task can only count a note of that user. The services
send it with ``delay_on_commit`` after each create and update; it leaves once
the request committed, and never for a request that failed.

Needs the ``celery`` extra and ``$CELERY_BROKER_URL``; ``$NOTES_CELERY_QUEUE``
names the queue (default ``notes``).
"""

from __future__ import annotations

from celery import Celery
from polydatum.contrib.celery import DatumTask

from . import config
from .notes import User

__all__ = ["NotesTask", "celery_app", "count_words", "load_user"]


def load_user(user_id: int) -> User | None:
    """Return the user a task runs for, from the id it carried (inside the task's context)."""
    user: User | None = config.data_manager().get_dal().users.get(user_id)
    return user


class NotesTask(
    DatumTask,  # type: ignore[type-arg]
    data_manager=config.data_manager(),  # the same one as the web app's, in a web process
    user_ref=lambda user: user.id,
    load_user=load_user,
):
    """Every task of ``celery_app`` runs in a data context of the notes DataManager."""


celery_app = Celery("notes", task_cls=NotesTask)
celery_app.conf.update(
    broker_url=config.broker_url(),
    task_default_queue=config.celery_queue(),
    task_ignore_result=True,  # nothing reads them: the count is stored on the note
    broker_connection_retry_on_startup=True,
)


@celery_app.task(bind=True)
def count_words(self: NotesTask, note_id: int) -> int:
    """Count note ``note_id``'s words and store them; fails if the task's user does not own it."""
    words: int = self.dal.notes.count_words(note_id)
    return words
