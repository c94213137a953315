"""URLs of the Conduit API: one view per path of ``api.ROUTES``."""

from __future__ import annotations

import re

from django.urls import path

from example_apps.conduit import PREFIX, ROUTES, Route

from .views import view

_BY_PATH: dict[str, list[Route]] = {}
for _spec_route in ROUTES:  # in the table's order: the feed before /articles/{slug}
    _BY_PATH.setdefault(_spec_route.path, []).append(_spec_route)


def _route(spec_path: str) -> str:
    return (PREFIX + re.sub(r"{(\w+)}", r"<str:\1>", spec_path)).lstrip("/")


urlpatterns = [path(_route(spec_path), view(routes)) for spec_path, routes in _BY_PATH.items()]

handler400 = "example_apps.conduit.django_app.views.bad_request"
handler404 = "example_apps.conduit.django_app.views.not_found"
handler500 = "example_apps.conduit.django_app.views.server_error"
