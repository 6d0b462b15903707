"""Timing proxies around the stores, applied in the composition root.

`timed(store, "sql", sink)` returns an object that behaves like `store` (attribute reads and
method calls pass through) but reports the latency and failure of every coroutine method call.
The adapters stay free of metrics code, and the proxy is skipped entirely without a sink."""
from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class StoreSink(Protocol):
    def store_call(self, store: str, operation: str, seconds: float, failed: bool) -> None: ...


class _Timed:
    __slots__ = ("__dict__", "_sink", "_store", "_target")

    def __init__(self, target: Any, store: str, sink: StoreSink) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_store", store)
        object.__setattr__(self, "_sink", sink)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if name.startswith("_") or not inspect.iscoroutinefunction(value):
            return value
        wrapped = _wrap(value, self._store, name, self._sink)
        self.__dict__[name] = wrapped  # built once per method, then found without __getattr__
        return wrapped

    def __repr__(self) -> str:
        return f"timed({self._target!r})"


def _wrap(method: Callable[..., Any], store: str, name: str, sink: StoreSink) -> Callable[..., Any]:
    @functools.wraps(method)
    async def call(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        failed = True
        try:
            result = await method(*args, **kwargs)
            failed = False
            return result
        finally:
            sink.store_call(store, name, time.perf_counter() - started, failed)

    return call


def timed(target: T, store: str, sink: StoreSink | None) -> T:
    if sink is None:
        return target
    return _Timed(target, store, sink)  # type: ignore[return-value]


def unwrap(target: Any) -> Any:
    """The object behind a proxy (or the object itself)."""
    return object.__getattribute__(target, "_target") if isinstance(target, _Timed) else target
