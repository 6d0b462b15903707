"""Checks on what callers send, shared by the service's operations."""
from __future__ import annotations

import json
from typing import Any, Mapping

from memory.errors import InvalidInput

MAX_TEXT = 32_000


def check_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidInput("metadata must be a JSON object")
    try:
        encoded = json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"metadata must be plain JSON: {exc}") from None
    if len(encoded) > 64_000:
        raise InvalidInput("metadata is larger than 64 kB")
    return json.loads(encoded)


def check_text(text: str, what: str = "text") -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"{what} must be a non-empty string")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"{what} is longer than {MAX_TEXT} characters")
    return text.strip()
