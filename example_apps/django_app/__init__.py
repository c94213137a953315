"""The notes API on Django (sync views): ``wsgi:application`` (gunicorn) or ``asgi:application``.

A Django project without Django's ORM: the data lives behind polydatum
services on SQLAlchemy (``example_apps.notes``); ``django_datum`` opens one
context per request and puts the DAL on ``request.dal``.
"""
