"""URLs of the notes API."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("notes", views.notes),
    path("notes/<str:note_id>", views.note),
]

handler400 = "example_apps.django_app.errors.bad_request"
handler404 = "example_apps.django_app.errors.not_found"
handler500 = "example_apps.django_app.errors.server_error"
