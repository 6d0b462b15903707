"""The core's one observation seam: core operations and store calls reported the same way."""
from __future__ import annotations

import asyncio
from contextvars import ContextVar

import pytest

from memory.errors import NotFound
from memory.observe import CORE, Finish, Observer, combine, observed, unwrap, watched

CURRENT: ContextVar[str | None] = ContextVar("current", default=None)


class Recorder:
    """Keeps (layer, operation, error code) of each finished call, and makes the call current
    while it runs, as a tracer makes its span current."""

    def __init__(self, name: str = "rec", log: list[str] | None = None) -> None:
        self.name = name
        self.calls: list[tuple[str, str, str | None, str | None]] = []
        self.log = log if log is not None else []

    def start(self, layer: str, operation: str) -> Finish:
        parent = CURRENT.get()
        token = CURRENT.set(f"{layer}.{operation}")
        self.log.append(f"{self.name} start")

        def finish(seconds: float, error: BaseException | None) -> None:
            CURRENT.reset(token)
            assert seconds >= 0
            self.log.append(f"{self.name} finish")
            self.calls.append((layer, operation, type(error).__name__ if error else None, parent))

        return finish


class Store:
    size = 3

    async def read(self, key: str) -> str:
        return f"value of {key} under {CURRENT.get()}"

    async def fail(self) -> None:
        raise OSError("disk gone")

    def plain(self) -> int:
        return 7


class Service:
    def __init__(self, store: Store, observer: Observer | None) -> None:
        self.store = store
        self.observer = observer

    @observed("lookup")
    async def lookup(self, key: str) -> str:
        # work in a task of its own still sees the operation as its parent
        return await asyncio.create_task(self.store.read(key))

    @observed("missing")
    async def missing(self) -> None:
        raise NotFound("nothing here")


async def test_store_calls_nest_under_the_core_operation_that_made_them() -> None:
    rec = Recorder()
    service = Service(watched(Store(), "sql", rec), rec)
    assert await service.lookup("k") == "value of k under sql.read"
    assert rec.calls == [("sql", "read", None, f"{CORE}.lookup"), (CORE, "lookup", None, None)]
    assert CURRENT.get() is None  # everything made current was undone


async def test_failures_are_reported_and_still_raised() -> None:
    rec = Recorder()
    service = Service(watched(Store(), "vector", rec), rec)
    with pytest.raises(OSError):
        await service.store.fail()
    with pytest.raises(NotFound):
        await service.missing()
    assert rec.calls == [("vector", "fail", "OSError", None), (CORE, "missing", "NotFound", None)]


async def test_the_proxy_passes_everything_else_through_and_is_skipped_without_an_observer() -> None:
    store = Store()
    proxy = watched(store, "graph", Recorder())
    assert proxy.size == 3 and proxy.plain() == 7 and unwrap(proxy) is store
    assert watched(store, "graph", None) is store and watched(None, "graph", Recorder()) is None
    assert unwrap(store) is store


async def test_combined_observers_finish_in_the_reverse_order_they_started() -> None:
    log: list[str] = []
    first, second = Recorder("metrics", log), Recorder("tracing", log)
    both = combine(first, None, second)
    assert combine(None, first) is first and combine(None) is None
    await watched(Store(), "embedder", both).read("k")
    assert log == ["metrics start", "tracing start", "tracing finish", "metrics finish"]
    assert first.calls == [("embedder", "read", None, None)]
    assert second.calls == [("embedder", "read", None, "embedder.read")]  # started inside the first
    assert CURRENT.get() is None
