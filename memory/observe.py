"""A seam for watching the core's operations without the core knowing who watches.

The edge plugs in an Observer (app/ops/metrics.py turns it into Prometheus series); the core
imports no metrics library. `observed("add")` times a service method and reports its outcome:
None on success, else the error's code (AgentMemError.code, or INTERNAL for anything else)."""
from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from memory.errors import AgentMemError

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


class Observer(Protocol):
    def operation(self, name: str, seconds: float, error: str | None) -> None:
        """One core operation finished; must be cheap and must not raise."""
        ...


def observed(name: str) -> Callable[[F], F]:
    """Decorate an async method of an object with an `observer: Observer | None` attribute."""

    def decorate(method: F) -> F:
        @functools.wraps(method)
        async def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            observer: Observer | None = getattr(self, "observer", None)
            if observer is None:
                return await method(self, *args, **kwargs)
            started = time.perf_counter()
            error: str | None = "INTERNAL"
            try:
                result = await method(self, *args, **kwargs)
                error = None
                return result
            except AgentMemError as exc:
                error = exc.code
                raise
            finally:
                observer.operation(name, time.perf_counter() - started, error)

        return run  # type: ignore[return-value]

    return decorate
