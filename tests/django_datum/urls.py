"""URLs of the test project: ``/s/...`` sync views, ``/a/...`` async views."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("s/noop", views.noop),
    path("s/name", views.name),
    path("s/conn", views.conn),
    path("s/thread", views.thread),
    path("s/tenant", views.tenant),
    path("s/fail/<str:kind>", views.fail),
    path("s/service/<str:code>", views.service_error),
    path("s/stream/<int:count>", views.stream),
    path("s/note/<str:outcome>", views.write_note),
    path("a/noop", views.anoop),
    path("a/name", views.aname),
    path("a/sync-name", views.async_view_sync_name),
    path("a/thread", views.athread),
    path("a/conn", views.aconn),
    path("a/fail/<str:kind>", views.afail),
    path("a/service/<str:code>", views.aservice_error),
    path("a/stream/<int:count>", views.astream),
    path("a/block", views.ablock),
    path("a/note/<str:outcome>", views.awrite_note),
]
