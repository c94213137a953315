"""Input checks: pure functions from what the client sent to clean values, or a 4xx error."""

from __future__ import annotations

import json
import re
import sys
from typing import Any, NamedTuple

from .errors import BadRequest, PayloadTooLarge, Unauthorized

__all__ = [
    "BODY_MAX_CHARS",
    "DEFAULT_PAGE_SIZE",
    "MAX_BODY_BYTES",
    "MAX_PAGE_SIZE",
    "TITLE_MAX_CHARS",
    "NoteInput",
    "Page",
    "body_too_large",
    "parse_bearer",
    "parse_note",
    "parse_note_id",
    "parse_page",
]

TITLE_MAX_CHARS = 200
BODY_MAX_CHARS = 5000
#: Largest request body accepted (413 beyond). Every valid note fits, in either JSON
#: encoding: as UTF-8, or as ``json.dumps`` writes it by default (ASCII escapes), where a
#: character outside the BMP takes 12 bytes (a surrogate pair, ``\ud83d\ude00``), so
#: 5,200 of them take 62,400 bytes; the rest is room for the keys and whitespace.
MAX_BODY_BYTES = 64 * 1024
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
#: Ids are 32-bit on PostgreSQL (``serial``); larger ones can not exist.
MAX_ID = 2**31 - 1

_FIELDS = ("title", "body")
#: What PostgreSQL's text (NUL) and UTF-8 itself (lone surrogates) can not hold.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_NOT_AN_OBJECT = 'The body must be a JSON object, e.g. {"title": "Buy milk"}.'


class NoteInput(NamedTuple):
    """A note's fields, checked."""

    title: str
    body: str


class Page(NamedTuple):
    """A page of a user's notes: ids greater than ``after``, at most ``limit`` of them."""

    after: int
    limit: int


def parse_bearer(header: str | None) -> str:
    """Return the token of an ``Authorization: Bearer <token>`` header.

    Raises:
        Unauthorized: the header is missing or not a Bearer token.
    """
    if not header:
        raise Unauthorized("Missing token: send the header 'Authorization: Bearer <token>'.")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("The Authorization header must be 'Bearer <token>'.")
    return token


def body_too_large() -> PayloadTooLarge:
    """The error for a request body over ``MAX_BODY_BYTES`` (the apps raise it before reading)."""
    return PayloadTooLarge(f"The request body must be at most {MAX_BODY_BYTES} bytes.")


def parse_note(raw: bytes) -> NoteInput:
    """Decode a JSON body ``{"title": str, "body": str}``; ``body`` is optional.

    Raises:
        PayloadTooLarge: ``raw`` is over ``MAX_BODY_BYTES``.
        BadRequest: not a JSON object (or nested too deeply to read, or holding a number
            over Python's digit limit), unknown or missing fields, wrong types or
            lengths, or text that can not be stored (NUL, unpaired surrogates).
    """
    if len(raw) > MAX_BODY_BYTES:
        raise body_too_large()
    data = _json(raw)
    if not isinstance(data, dict):
        raise BadRequest(_NOT_AN_OBJECT)
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        # json.dumps escapes what a name may hold (NUL, surrogates) into plain ASCII.
        names = ", ".join(json.dumps(name) for name in unknown)
        raise BadRequest(f"Unknown field(s): {names}; a note has title and body.")
    if "title" not in data:
        raise BadRequest("Missing field: title.")
    title, body = data["title"], data.get("body", "")
    return NoteInput(_text("title", title, TITLE_MAX_CHARS), _text("body", body, BODY_MAX_CHARS))


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadRequest(_NOT_AN_OBJECT) from None
    except RecursionError:
        # The C decoder counts nesting against the recursion limit (about 1,000).
        raise BadRequest(
            "The body is nested too deeply to read; a note is a flat JSON object, "
            'e.g. {"title": "Buy milk"}.'
        ) from None
    except ValueError:
        # int() refuses a literal over sys.get_int_max_str_digits() digits (CVE-2020-10735).
        raise BadRequest(
            f"The body holds a number of more than {sys.get_int_max_str_digits()} digits; "
            "a note's fields are strings."
        ) from None


def _text(field: str, value: object, max_chars: int) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be a string, got {type(value).__name__}.")
    if field == "title" and not value.strip():
        raise BadRequest("title must not be empty.")
    if len(value) > max_chars:
        raise BadRequest(f"{field} must be at most {max_chars} characters.")
    bad = _UNSTORABLE.search(value)
    if bad is not None:
        if bad.group() == "\x00":
            raise BadRequest(f"{field} must not contain NUL characters (\\u0000).")
        raise BadRequest(
            f"{field} must not contain unpaired surrogates (\\ud800-\\udfff): send text as "
            "UTF-8, or escape a character beyond U+FFFF as a surrogate pair."
        )
    return value


def parse_note_id(raw: object) -> int:
    """Return the note id in a URL path segment.

    Raises:
        BadRequest: not a whole number from 1 to 2147483647.
    """
    return _whole("note id", raw, 1, MAX_ID)


def parse_page(after: str | None, limit: str | None) -> Page:
    """Return the page asked for by the ``after`` and ``limit`` query parameters.

    Raises:
        BadRequest: a parameter is not a whole number in its range.
    """
    return Page(
        _whole("after", after, 0, MAX_ID) if after is not None else 0,
        _whole("limit", limit, 1, MAX_PAGE_SIZE) if limit is not None else DEFAULT_PAGE_SIZE,
    )


def _whole(name: str, raw: object, low: int, high: int) -> int:
    text = str(raw)
    # isdigit() alone accepts "²" and other digits int() refuses; isascii() keeps it to 0-9.
    ok = text.isascii() and text.isdigit() and len(text) <= len(str(high))
    if not ok or not low <= int(text) <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}, got {text!r}.")
    return int(text)
