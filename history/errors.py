"""The one place that knows SQLAlchemy/driver errors and turns them into the core's error tree."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc

from memory.errors import Conflict, StoreUnavailable

COMPONENT = "sql"


@contextmanager
def translate_sql() -> Iterator[None]:
    """Connection-level failures become StoreUnavailable("sql"); constraint violations Conflict.

    Anything else (a programming error: bad SQL, wrong types) propagates untouched so that it is
    seen as the bug it is rather than as an outage."""
    try:
        yield
    except exc.IntegrityError as error:
        raise Conflict(f"sql constraint violated: {_describe(error)}") from error
    except (exc.OperationalError, exc.InterfaceError, exc.DisconnectionError, exc.TimeoutError) as error:
        # OperationalError: locked/unreachable/closed by the server; TimeoutError: pool exhausted
        raise StoreUnavailable(COMPONENT, _describe(error)) from error
    except exc.DBAPIError as error:
        if error.connection_invalidated:
            raise StoreUnavailable(COMPONENT, _describe(error)) from error
        raise
    except OSError as error:
        # asyncpg raises socket errors (refused, unreachable, timeouts) from connect() as they are
        raise StoreUnavailable(COMPONENT, f"{type(error).__name__}: {error}") from error


def _describe(error: exc.SQLAlchemyError) -> str:
    """The driver's message only: str(error) would carry the SQL and its parameters (user text)."""
    origin = getattr(error, "orig", None) or error
    first_line = str(origin).strip().splitlines()[0] if str(origin).strip() else ""
    return f"{type(origin).__name__}: {first_line}"[:300]
