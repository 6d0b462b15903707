"""The one place where failures become GraphQL errors (applied to every result the schema
produces, over HTTP and WebSocket alike: see AgentMemSchema).

- AgentMemError (the core's tree) -> its message and `extensions.code` (BAD_USER_INPUT, NOT_FOUND...);
  RATE_LIMITED also carries `extensions.retryAfter` (seconds); a refused batch carries
  `extensions.items` (index, id, code, message of each item refused).
- Errors about the request itself (syntax, validation, variable values) -> kept, with
  GRAPHQL_PARSE_FAILED / GRAPHQL_VALIDATION_FAILED / BAD_USER_INPUT.
- Anything else -> "Internal server error" with INTERNAL_SERVER_ERROR and no details; the
  original is logged server-side with its traceback."""
from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError

from memory.errors import AgentMemError, BatchRejected, RateLimited

log = logging.getLogger("app.graphql")

INTERNAL_MESSAGE = "Internal server error"
INTERNAL = "INTERNAL_SERVER_ERROR"


def is_expected(error: GraphQLError) -> bool:
    """True for errors the client caused (they are shown as they are, and not logged as bugs)."""
    original = error.original_error
    if isinstance(original, AgentMemError):
        return True
    if original is None:
        return True  # produced by graphql-core about the request (parse, validation, coercion)
    # variable coercion wraps a scalar's parse error; the message is about the client's value
    return error.path is None and error.message.startswith("Variable '$")


def _code_for(error: GraphQLError) -> str:
    original = error.original_error
    if isinstance(original, AgentMemError):
        return original.code
    if error.message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if error.message.startswith("Variable '$"):
        return "BAD_USER_INPUT"
    if error.path is None:
        return "GRAPHQL_VALIDATION_FAILED"
    return INTERNAL


def to_client_error(error: GraphQLError) -> GraphQLError:
    """The error as the client sees it. Idempotent: an error already mapped is returned as is."""
    if error.original_error is None and "code" in (error.extensions or {}):
        return error
    if not is_expected(error):
        return GraphQLError(
            INTERNAL_MESSAGE,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": INTERNAL},
        )
    extensions: dict[str, Any] = dict(error.extensions or {})
    extensions["code"] = _code_for(error)
    if isinstance(error.original_error, RateLimited):
        extensions["retryAfter"] = error.original_error.retry_after  # seconds
    if isinstance(error.original_error, BatchRejected):
        extensions["items"] = [{"index": i.index, "id": i.memory_id, "code": i.code, "message": i.message}
                               for i in error.original_error.items]
    message = error.message
    if isinstance(error.original_error, AgentMemError):
        message = error.original_error.public
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error if isinstance(error.original_error, AgentMemError) else None,
        extensions=extensions,
    )


def map_errors(result: object) -> None:
    """Replace a result's errors (ExecutionResult, PreExecutionError...) by what clients see."""
    errors = getattr(result, "errors", None)
    if errors:
        result.errors = [to_client_error(error) for error in errors]  # type: ignore[attr-defined]


def log_unexpected(errors: list[GraphQLError]) -> None:
    """Called by the schema before masking: log what was masked, with its traceback."""
    for error in errors:
        if isinstance(error.original_error, AgentMemError) and error.original_error.masked:
            log.warning("%s (shown to the client as %r)", error.original_error, error.original_error.public)
        if not is_expected(error):
            original = error.original_error
            log.error(
                "unexpected error in %s: %r",
                ".".join(str(p) for p in error.path or ()) or "operation",
                original,
                exc_info=(type(original), original, original.__traceback__) if original else None,
            )
