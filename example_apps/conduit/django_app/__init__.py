"""Conduit on Django (sync views): ``wsgi:application`` (gunicorn) or ``asgi:application``.

A Django project without Django's ORM: the data lives behind the same
polydatum services as the other apps (``example_apps.conduit``);
``django_datum`` opens one context per request and puts the DAL on
``request.dal``.
"""
