"""One seam for watching calls without the watched code knowing who watches.

Two kinds of call are watched the same way: the core's operations (`@observed("add")` on a
service method, layer CORE) and every coroutine method of a store (`watched(repo, "sql",
observer)`, a proxy the composition root puts around each adapter). Each call is reported to an
Observer the edge plugs in (Prometheus metrics, OpenTelemetry spans, or both through
`combine`); the core imports no metrics or tracing library.

The shape is start/finish: `start` runs in the caller's task before the call, so an observer
may make something current for the call's duration (a tracer's span, which nested calls, and
tasks they create, see through contextvars as their parent); `finish` runs once after it."""
from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Protocol, TypeVar

from memory.errors import AgentMemError

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
T = TypeVar("T")

CORE = "core"  # the layer of the core's own operations; stores are named "sql", "vector", "graph", ...

# seconds the call took, and the exception it ended with (None: it returned)
Finish = Callable[[float, BaseException | None], None]


class Observer(Protocol):
    def start(self, layer: str, operation: str) -> Finish:
        """A call begins; the function returned is called once when it ends. Both must be cheap
        and must not raise."""
        ...


def error_code(error: BaseException | None) -> str | None:
    """What a failed call is counted as: the core's error code, or INTERNAL for anything else
    (a driver's exception, a cancellation)."""
    if error is None:
        return None
    return error.code if isinstance(error, AgentMemError) else "INTERNAL"


class watch:  # noqa: N801 - used as a statement: `with watch(observer, "sql", "commit"):`
    """Times the block and reports it to `observer`; the one mechanism behind both wrappers."""

    __slots__ = ("_finish", "_started")

    def __init__(self, observer: Observer, layer: str, operation: str) -> None:
        self._finish = observer.start(layer, operation)
        self._started = time.perf_counter()

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._finish(time.perf_counter() - self._started, error)


def observed(name: str) -> Callable[[F], F]:
    """Decorate an async method of an object with an `observer: Observer | None` attribute."""

    def decorate(method: F) -> F:
        @functools.wraps(method)
        async def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            observer: Observer | None = getattr(self, "observer", None)
            if observer is None:
                return await method(self, *args, **kwargs)
            with watch(observer, CORE, name):
                return await method(self, *args, **kwargs)

        return run  # type: ignore[return-value]

    return decorate


class _Watched:
    __slots__ = ("__dict__", "_layer", "_observer", "_target")

    def __init__(self, target: Any, layer: str, observer: Observer) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_layer", layer)
        object.__setattr__(self, "_observer", observer)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if name.startswith("_") or not inspect.iscoroutinefunction(value):
            return value
        wrapped = _watching(value, self._layer, name, self._observer)
        self.__dict__[name] = wrapped  # built once per method, then found without __getattr__
        return wrapped

    def __repr__(self) -> str:
        return f"watched({self._target!r})"


def _watching(method: Callable[..., Awaitable[Any]], layer: str, name: str, observer: Observer) -> Callable[..., Any]:
    @functools.wraps(method)
    async def call(*args: Any, **kwargs: Any) -> Any:
        with watch(observer, layer, name):
            return await method(*args, **kwargs)

    return call


def watched(target: T, layer: str, observer: Observer | None) -> T:
    """`target` as it is, except that each call of a public coroutine method is reported to
    `observer` under `layer`. Without an observer (or a target) nothing is wrapped."""
    if observer is None or target is None:
        return target
    return _Watched(target, layer, observer)  # type: ignore[return-value]


def unwrap(target: Any) -> Any:
    """The object behind a proxy (or the object itself)."""
    return object.__getattribute__(target, "_target") if isinstance(target, _Watched) else target


class _Observers:
    __slots__ = ("_observers",)

    def __init__(self, observers: tuple[Observer, ...]) -> None:
        self._observers = observers

    def start(self, layer: str, operation: str) -> Finish:
        finishes = [o.start(layer, operation) for o in self._observers]

        def finish(seconds: float, error: BaseException | None) -> None:
            for done in reversed(finishes):  # the last one started (a span made current) ends first
                done(seconds, error)

        return finish


def combine(*observers: Observer | None) -> Observer | None:
    """One observer reporting to each given one (None when none is given)."""
    present = tuple(o for o in observers if o is not None)
    if not present:
        return None
    return present[0] if len(present) == 1 else _Observers(present)
