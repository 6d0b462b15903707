"""Opaque cursors for keyset pagination."""
from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from memory.errors import InvalidInput
from memory.ports import PageCursor


def encode_cursor(at: datetime, id: str) -> str:
    raw = json.dumps({"at": at.isoformat(), "id": id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> PageCursor:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return PageCursor(datetime.fromisoformat(data["at"]), str(data["id"]))
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("the cursor is not one this service issued (use endCursor from a previous page)") from None
