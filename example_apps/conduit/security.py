"""Passwords (scrypt, a salt per user) and tokens (JWT, HS256, signed with the app's secret).

``hash_password`` / ``check_password`` use the standard library's
``hashlib.scrypt`` with a random 16-byte salt per password; the stored form
carries its parameters, so they can be raised later without breaking old
hashes. ``Tokens`` issues and verifies the JWTs the API hands out (PyJWT):
the user's id as ``sub``, an ``exp`` after ``lifetime``. The secret comes
from ``$CONDUIT_SECRET_KEY`` (:func:`secret_key`); without it the apps refuse
to start.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from datetime import UTC, datetime, timedelta

import jwt

from .errors import Unauthorized

__all__ = [
    "MIN_SECRET_CHARS",
    "SECRET_KEY_ENV",
    "TOKEN_LIFETIME",
    "ConfigurationError",
    "Tokens",
    "check_password",
    "hash_password",
    "new_secret",
    "secret_key",
]

#: The environment variable holding the secret that signs the tokens.
SECRET_KEY_ENV = "CONDUIT_SECRET_KEY"
#: HS256 wants a key of at least 32 bytes (RFC 7518, section 3.2).
MIN_SECRET_CHARS = 32
TOKEN_LIFETIME = timedelta(days=7)

# scrypt's cost: 16 MiB of memory and about 50 ms per hash on a laptop.
_N, _R, _P = 2**14, 8, 1
_ALGORITHM = "HS256"
_LOGIN_AGAIN = "log in again (POST /api/users/login)"


class ConfigurationError(RuntimeError):
    """The app is missing a setting it needs to start; the message says which and how."""


def new_secret() -> str:
    """Return a fresh random secret (what ``--demo`` uses, and how to make one)."""
    return secrets.token_urlsafe(48)


def secret_key() -> str:
    """Return ``$CONDUIT_SECRET_KEY``.

    Raises:
        ConfigurationError: it is unset or shorter than ``MIN_SECRET_CHARS``.
    """
    secret = os.environ.get(SECRET_KEY_ENV, "")
    if len(secret) < MIN_SECRET_CHARS:
        problem = "is not set" if not secret else f"has {len(secret)} characters"
        raise ConfigurationError(
            f"${SECRET_KEY_ENV} {problem}: Conduit signs its tokens with it. Set it to a "
            f"random string of at least {MIN_SECRET_CHARS} characters, e.g. "
            f"{SECRET_KEY_ENV}=$(python -c 'import secrets; print(secrets.token_urlsafe(48))'), "
            "or run `python -m example_apps --app conduit --demo` for a throwaway one."
        )
    return secret


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str) -> str:
    """Return the stored form of ``password``: ``scrypt$n$r$p$salt$hash``."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def check_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored``; None (no such user) costs as much and is False."""
    if stored is None:
        hash_password(password)  # as slow as a real check: response times tell no user apart
        return False
    _, n, r, p, salt, expected = stored.split("$")
    digest = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(digest, base64.b64decode(expected))


class Tokens:
    """Issue and verify the API's tokens, signed with ``secret``, valid for ``lifetime``."""

    def __init__(self, secret: str, lifetime: timedelta = TOKEN_LIFETIME) -> None:
        if len(secret) < MIN_SECRET_CHARS:
            raise ConfigurationError(
                f"The token secret must have at least {MIN_SECRET_CHARS} characters."
            )
        self._secret = secret
        self._lifetime = lifetime

    def issue(self, user_id: int) -> str:
        """Return a new token for user ``user_id``."""
        now = datetime.now(UTC)
        claims = {"sub": str(user_id), "iat": now, "exp": now + self._lifetime}
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)

    def user_id(self, token: str) -> int:
        """Return the user id a valid token carries.

        Raises:
            Unauthorized: the token is expired, not signed with this secret, or malformed.
        """
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[_ALGORITHM], options={"require": ["exp", "sub"]}
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized(f"The token has expired: {_LOGIN_AGAIN}.") from None
        except jwt.InvalidTokenError:
            raise Unauthorized(f"The token is not valid: {_LOGIN_AGAIN}.") from None
        subject = claims["sub"]
        # A user id: at most 10 digits (ids are 32-bit), which int() always reads.
        user_id = isinstance(subject, str) and len(subject) <= 10 and subject.isascii()
        if not (user_id and subject.isdigit()):
            raise Unauthorized(f"The token is not valid: {_LOGIN_AGAIN}.")
        return int(subject)
