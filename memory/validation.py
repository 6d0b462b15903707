"""Checks on what callers send, shared by the service's operations."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, Mapping

from memory.errors import InvalidInput

# event times outside these bounds are typing or unit mistakes (milliseconds sent as seconds):
# recall's time features would file the memory under a date nobody asks about
EARLIEST_EVENT = datetime(1900, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)  # clocks and time zones of callers differ

MAX_TEXT = 32_000
# one add is one unit of work in the shared model queue and one SQL transaction: bounding it
# keeps a single request from holding the model, the extractor and the writer for minutes
MAX_MESSAGES = 200
MAX_ADD_CHARS = 200_000
# deeper values could be stored but not answered back (serialisers stop at a few hundred levels)
MAX_METADATA_DEPTH = 32
# batch update / delete: mem0's platform limit, and one SQL transaction of bounded size
MAX_BATCH = 1000


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of a JSON-like value, counting no further than `limit` + 1."""
    if limit < 0 or not isinstance(value, (Mapping, list, tuple)):
        return 0
    children = value.values() if isinstance(value, Mapping) else value
    return 1 + max((_depth(v, limit - 1) for v in children), default=0)


def check_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidInput("metadata must be a JSON object")
    if _depth(metadata, MAX_METADATA_DEPTH) > MAX_METADATA_DEPTH:
        raise InvalidInput(f"metadata is nested deeper than {MAX_METADATA_DEPTH} levels")
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


def check_message_count(count: int, total_chars: int) -> None:
    if count > MAX_MESSAGES:
        raise InvalidInput(f"an add takes at most {MAX_MESSAGES} messages, got {count}; split it into several adds")
    if total_chars > MAX_ADD_CHARS:
        raise InvalidInput(f"an add takes at most {MAX_ADD_CHARS} characters in all, got {total_chars}")


def check_limit(limit: int, maximum: int, what: str = "limit") -> int:
    """A page size or result count within 1..maximum (the service's max_limit)."""
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1 or limit > maximum:
        raise InvalidInput(f"{what} must be between 1 and {maximum}")
    return limit


def check_batch_size(count: int, what: str) -> None:
    if count < 1 or count > MAX_BATCH:
        raise InvalidInput(f"{what} takes 1 to {MAX_BATCH} items, got {count}")
def check_event_time(at: datetime | None, what: str) -> datetime | None:
    """When something happened, as aware UTC (a naive time is read as UTC); None stays None."""
    if at is None:
        return None
    if not isinstance(at, datetime):
        raise InvalidInput(f"{what} must be a date and time")
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    latest = datetime.now(UTC) + FUTURE_SLACK
    if at < EARLIEST_EVENT or at > latest:
        raise InvalidInput(f"{what} {at.isoformat()} is out of range: give a time between "
                           f"{EARLIEST_EVENT.date().isoformat()} and now (Unix seconds or ISO-8601)")
    return at
