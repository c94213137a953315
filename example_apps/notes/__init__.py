"""The notes domain: users with API tokens, and notes only their owner can see.

Shared by the three example apps. Services hold all the logic and SQL; the
apps only turn HTTP into service calls and service errors into JSON.
"""

from __future__ import annotations

from .errors import BadRequest, NotFound, PayloadTooLarge, Unauthorized, error_response
from .statements import User
from .validation import MAX_BODY_BYTES, body_too_large
from .wiring import (
    async_user_meta,
    build_async_data_manager,
    build_data_manager,
    issue_token,
    prepare_database,
    user_meta,
)

__all__ = [
    "MAX_BODY_BYTES",
    "BadRequest",
    "NotFound",
    "PayloadTooLarge",
    "Unauthorized",
    "User",
    "async_user_meta",
    "body_too_large",
    "build_async_data_manager",
    "build_data_manager",
    "error_response",
    "issue_token",
    "prepare_database",
    "user_meta",
]
