"""Models the transaction tests write to."""

from __future__ import annotations

from django.db import models


class DatumNote(models.Model):
    """A row a view writes; its presence after the request shows a commit."""

    title = models.CharField(max_length=100)

    class Meta:
        app_label = "notes"
        db_table = "django_datum_note"


class DatumTag(models.Model):
    """Points to a note; a dangling pointer fails only at commit (deferred constraint)."""

    note = models.ForeignKey(DatumNote, on_delete=models.CASCADE)

    class Meta:
        app_label = "notes"
        db_table = "django_datum_tag"
