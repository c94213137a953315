"""The example apps: one "notes" JSON API served by Flask, Django and Starlette.

``example_apps.notes`` holds the domain (schema, validation, errors, services,
wiring); ``flask_app``, ``django_app`` and ``starlette_app`` are thin web layers
over it. Start one with ``python -m example_apps`` (see ``--help``).
"""
