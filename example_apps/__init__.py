"""The example apps: a "notes" JSON API (Flask, Django, Starlette) and RealWorld's Conduit.

``example_apps.notes`` holds the domain (schema, validation, errors, services,
wiring); ``flask_app``, ``django_app`` and ``starlette_app`` are thin web layers
over it. ``example_apps.conduit`` is the Conduit API (RealWorld's spec) with
its own Flask, Django and FastAPI apps. Start one with ``python -m
example_apps`` (see ``--help``).
"""
