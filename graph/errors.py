"""The one place (with graph/store.py's retry loop) that knows the neo4j driver's exceptions.

Everything leaving graph/ is an AgentMemError: callers (the service, the outbox worker, the
GraphQL edge) never see a driver type.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from neo4j import exceptions as neo

from memory.errors import AgentMemError, Conflict, StoreUnavailable

COMPONENT = "graph"


class GraphQueryError(AgentMemError):
    """The graph server refused a statement we sent (syntax, types, schema): a bug on our side
    or an incompatible server, never the caller's fault, so it keeps the internal error code."""


# Errors worth another attempt of the same (idempotent) transaction:
# - TransientError: deadlocks / MVCC conflicts the server itself says to retry;
# - ConstraintError: two sessions raced to MERGE the same new entity; the loser's retry
#   MATCHes the winner's node (the driver does not retry these on its own);
# - SessionExpired / ServiceUnavailable: a pooled connection went stale (server restarted);
#   a fresh connection usually works, and if the server is really down the retries fail fast.
_RETRYABLE: tuple[type[BaseException], ...] = (
    neo.TransientError,
    neo.ConstraintError,
    neo.SessionExpired,
    neo.ServiceUnavailable,
)

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    neo.ServiceUnavailable,  # includes IncompleteCommit and connection refused
    neo.SessionExpired,
    neo.ConnectionPoolError,  # includes acquisition time-outs
    neo.TransientError,  # still transient after our retries: the server is overloaded
    neo.DatabaseError,  # server-side failure (out of memory, storage)
    OSError,  # socket errors that escape the driver's own wrapping
)


def is_retryable(exc: BaseException, attempt: int) -> bool:
    """Whether attempt number `attempt` (1-based) that failed with `exc` deserves another.
    Connection errors get one more try only (a stale pooled connection): an outage must
    surface quickly so that callers can queue work instead of hanging."""
    if isinstance(exc, (neo.SessionExpired, neo.ServiceUnavailable)):
        return attempt < 2
    return isinstance(exc, _RETRYABLE)


@contextmanager
def translate_neo4j() -> Iterator[None]:
    """Re-raise driver exceptions as AgentMemError subclasses (the cause stays chained)."""
    try:
        yield
    except AgentMemError:
        raise
    except neo.AuthError as exc:
        # wrong credentials look like an outage to callers: nothing they can fix per request
        raise StoreUnavailable(COMPONENT, f"authentication failed: {_message(exc)}") from exc
    except neo.ConstraintError as exc:
        raise Conflict(f"graph constraint violated: {_message(exc)}") from exc
    except _UNAVAILABLE as exc:
        raise StoreUnavailable(COMPONENT, _message(exc)) from exc
    except (neo.Neo4jError, neo.DriverError) as exc:
        # syntax/type errors, result misuse, configuration errors
        raise GraphQueryError(f"graph query failed: {_message(exc)}") from exc


def _message(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]
