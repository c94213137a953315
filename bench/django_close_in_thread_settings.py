"""The Django example app's settings with ``DATUM["CLOSE_IN_THREAD"]`` on (bench_examples.py)."""

from example_apps.django_app.settings import *  # noqa: F403
from example_apps.django_app.settings import DATUM

DATUM = {**DATUM, "CLOSE_IN_THREAD": True}
