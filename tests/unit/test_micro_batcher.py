from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from memory.errors import ProviderError
from memory.providers.batching import MicroBatcher


class CountingModel:
    """Stands in for a model: row i is [hash-ish of the text, call number]."""

    def __init__(self, delay: float = 0.0, fail_on: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.threads: set[int] = set()
        self.delay = delay
        self.fail_on = fail_on
        self._active = 0
        self.max_parallel = 0
        self._lock = threading.Lock()

    def __call__(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            self._active += 1
            self.max_parallel = max(self.max_parallel, self._active)
        try:
            self.threads.add(threading.get_ident())
            self.calls.append(list(texts))
            if self.delay:
                time.sleep(self.delay)
            if self.fail_on is not None and self.fail_on in texts:
                raise RuntimeError(f"model broke on {self.fail_on}")
            return np.array([[float(len(t)), float(len(self.calls))] for t in texts], dtype=np.float32)
        finally:
            with self._lock:
                self._active -= 1


async def test_concurrent_callers_share_one_forward_call() -> None:
    model = CountingModel()
    batcher = MicroBatcher(model, max_batch=64, max_wait_ms=5)
    texts = [f"text number {i}" + "x" * i for i in range(40)]
    results = await asyncio.gather(*(batcher.embed([t]) for t in texts))
    assert len(model.calls) == 1 and len(model.calls[0]) == 40
    for text, rows in zip(texts, results):
        assert rows.shape == (1, 2) and rows[0, 0] == len(text)
    await batcher.aclose()


async def test_zero_wait_still_batches_callers_started_on_the_same_tick() -> None:
    model = CountingModel()
    batcher = MicroBatcher(model, max_batch=64, max_wait_ms=0)
    await asyncio.gather(*(batcher.embed([f"t{i}"]) for i in range(30)))
    assert len(model.calls) == 1
    await batcher.aclose()


async def test_max_batch_caps_a_forward_call_and_multi_text_callers_keep_their_rows() -> None:
    model = CountingModel()
    batcher = MicroBatcher(model, max_batch=8, max_wait_ms=50)
    requests = [[f"{i}-{j}" + "y" * j for j in range(3)] for i in range(10)]  # 30 texts
    results = await asyncio.gather(*(batcher.embed(r) for r in requests))
    assert all(len(call) <= 8 for call in model.calls)
    assert sum(len(call) for call in model.calls) == 30
    for texts, rows in zip(requests, results):
        assert rows[:, 0].tolist() == [float(len(t)) for t in texts]


async def test_a_caller_with_more_than_max_batch_texts_is_chunked() -> None:
    model = CountingModel()
    batcher = MicroBatcher(model, max_batch=16, max_wait_ms=1)
    rows = await batcher.embed([f"s{i}" for i in range(40)])
    assert rows.shape == (40, 2)
    assert [len(c) for c in model.calls] == [16, 16, 8]


async def test_forward_calls_never_overlap_and_run_on_one_thread() -> None:
    model = CountingModel(delay=0.005)
    batcher = MicroBatcher(model, max_batch=4, max_wait_ms=1)

    async def caller(i: int) -> None:
        await asyncio.sleep(i * 0.001)
        await batcher.embed([f"c{i}"])

    await asyncio.gather(*(caller(i) for i in range(40)))
    assert model.max_parallel == 1
    assert len(model.threads) == 1
    # callers queued while the model was busy went together in later calls
    assert len(model.calls) < 40


async def test_a_failing_batch_fails_only_its_own_callers() -> None:
    model = CountingModel(delay=0.02, fail_on="poison")
    batcher = MicroBatcher(model, max_batch=64, max_wait_ms=1)
    first = asyncio.gather(*(batcher.embed([f"a{i}"]) for i in range(5)), batcher.embed(["poison"]),
                           return_exceptions=True)
    await asyncio.sleep(0.005)  # first batch is now running; these form the next one
    second = asyncio.gather(*(batcher.embed([f"b{i}"]) for i in range(5)))
    failed, ok = await first, await second
    assert all(isinstance(r, RuntimeError) for r in failed)
    assert len(ok) == 5 and all(r.shape == (1, 2) for r in ok)
    assert len(model.calls) == 2
    assert (await batcher.embed(["after"])).shape == (1, 2)  # the batcher keeps working


async def test_a_lone_caller_waits_no_longer_than_max_wait() -> None:
    model = CountingModel()
    batcher = MicroBatcher(model, max_batch=64, max_wait_ms=2)
    await batcher.embed(["warm"])  # starts the worker thread
    waits = []
    for i in range(7):
        start = time.perf_counter()
        await batcher.embed([f"alone {i}"])
        waits.append(time.perf_counter() - start)
    assert sorted(waits)[3] < 0.002 + 0.03  # median: max_wait plus scheduling slack on a busy box
    assert len(model.calls) == 8


async def test_a_cancelled_caller_does_not_disturb_the_others() -> None:
    model = CountingModel(delay=0.01)
    batcher = MicroBatcher(model, max_batch=64, max_wait_ms=2)
    doomed = asyncio.create_task(batcher.embed(["doomed"]))
    kept = asyncio.create_task(batcher.embed(["kept"]))
    await asyncio.sleep(0)
    doomed.cancel()
    assert (await kept).shape == (1, 2)
    with pytest.raises(asyncio.CancelledError):
        await doomed


async def test_wrong_row_count_from_the_model_is_a_provider_error() -> None:
    batcher = MicroBatcher(lambda texts: np.zeros((1, 2), dtype=np.float32), max_wait_ms=0)
    with pytest.raises(ProviderError):
        await asyncio.gather(batcher.embed(["a"]), batcher.embed(["b"]))


async def test_closed_batcher_refuses_new_work() -> None:
    batcher = MicroBatcher(CountingModel())
    await batcher.aclose()
    with pytest.raises(ProviderError):
        await batcher.embed(["late"])


class HangingModel:
    """A model call that blocks until released: what a wedged runtime looks like from outside."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.entered.set()
        self.release.wait(10)
        return np.ones((len(texts), 2), dtype=np.float32)


async def test_state_of_an_idle_batcher_owes_nothing() -> None:
    batcher = MicroBatcher(CountingModel(), max_batch=8)
    await asyncio.sleep(0.05)
    state = batcher.state(loaded=True)
    assert state.alive and state.loaded and state.queued == 0 and state.stalled_s == 0.0
    await batcher.embed(["a", "b"])
    state = batcher.state(loaded=True)
    assert state.last_batch == 2 and state.last_batch_ms is not None and state.stalled_s == 0.0
    await batcher.aclose()
    assert not batcher.state(loaded=True).alive


async def test_a_hanging_pass_shows_as_stalled_with_its_queue() -> None:
    model = HangingModel()
    batcher = MicroBatcher(model, max_batch=4)
    first = asyncio.ensure_future(batcher.embed(["x"]))
    await asyncio.to_thread(model.entered.wait, 5)
    queued = asyncio.ensure_future(batcher.embed(["y", "z"]))  # waits behind the hung pass
    await asyncio.sleep(0.3)
    state = batcher.state(loaded=True)
    assert state.queued == 2 and state.stalled_s >= 0.25
    model.release.set()
    await asyncio.gather(first, queued)
    assert batcher.state(loaded=True).stalled_s == 0.0
    await batcher.aclose()


async def test_a_long_call_of_many_chunks_keeps_showing_progress() -> None:
    # 12 chunks of 0.1 s: the call runs 1.2 s, but never 0.2 s without finishing a chunk
    batcher = MicroBatcher(CountingModel(delay=0.1), max_batch=2)
    call = asyncio.ensure_future(batcher.embed([str(i) for i in range(24)]))
    worst = 0.0
    while not call.done():
        worst = max(worst, batcher.state(loaded=True).stalled_s)
        await asyncio.sleep(0.02)
    await call
    assert 0.0 < worst < 0.6
    await batcher.aclose()


async def test_work_run_on_the_model_thread_counts_as_running() -> None:
    batcher = MicroBatcher(CountingModel(), max_batch=4)
    release = threading.Event()
    job = asyncio.ensure_future(batcher.run(lambda: release.wait(10)))
    await asyncio.sleep(0.3)
    assert batcher.state(loaded=False).stalled_s >= 0.25
    release.set()
    await job
    assert batcher.state(loaded=True).stalled_s == 0.0
    await batcher.aclose()


async def test_one_owners_large_request_interleaves_with_others_small_ones() -> None:
    model = CountingModel(delay=0.01)
    batcher = MicroBatcher(model, max_batch=8, max_wait_ms=0)
    big = asyncio.ensure_future(batcher.embed([f"big {i}" for i in range(40)], "mallory"))
    await asyncio.sleep(0)  # mallory's 40 texts are queued first
    small = [asyncio.ensure_future(batcher.embed([f"small {name}"], name)) for name in ("alice", "bob")]
    rows = await big
    await asyncio.gather(*small)
    assert rows.shape == (40, 2) and [int(r) for r in rows[:, 0]] == [len(f"big {i}") for i in range(40)]
    # no pass holds more than max_batch texts, and the small callers ride in the second pass,
    # not after all five of mallory's
    assert all(len(call) <= 8 for call in model.calls)
    second = model.calls[1]
    assert "small alice" in second and "small bob" in second
    await batcher.aclose()


async def test_a_failing_part_fails_the_whole_request_and_spares_other_owners() -> None:
    model = CountingModel(fail_on="big 9")
    batcher = MicroBatcher(model, max_batch=4, max_wait_ms=0)
    big = asyncio.ensure_future(batcher.embed([f"big {i}" for i in range(12)], "mallory"))
    other = asyncio.ensure_future(batcher.embed(["fine"], "alice"))
    with pytest.raises(RuntimeError, match="big 9"):
        await big
    assert (await other).shape == (1, 2)
    await batcher.aclose()


class IdleLog:
    """Records each idle call: on which thread, and how many passes had run by then."""

    def __init__(self, model: CountingModel, fail: bool = False) -> None:
        self.model = model
        self.fail = fail
        self.seen: list[tuple[int, int]] = []
        self.called = asyncio.Event()
        self._loop = asyncio.get_running_loop()

    def __call__(self) -> None:
        self.seen.append((threading.get_ident(), len(self.model.calls)))
        self._loop.call_soon_threadsafe(self.called.set)
        if self.fail:
            raise RuntimeError("hook broke")


async def test_the_idle_hook_runs_on_the_model_thread_once_the_model_has_nothing_to_do() -> None:
    model = CountingModel(delay=0.02)
    idle = IdleLog(model)
    batcher = MicroBatcher(model, max_batch=2, max_wait_ms=0, on_idle=idle, idle_after_s=0.05)
    # 6 texts, 2 a pass: each pass ends with texts queued, so the model is never idle in between
    await asyncio.gather(*(batcher.embed([f"t{i}"]) for i in range(6)))
    await asyncio.wait_for(idle.called.wait(), 10)
    await batcher.aclose()
    assert idle.seen == [(next(iter(model.threads)), 3)]


async def test_a_failing_idle_hook_leaves_the_batcher_serving() -> None:
    model = CountingModel()
    idle = IdleLog(model, fail=True)
    batcher = MicroBatcher(model, max_batch=4, max_wait_ms=0, on_idle=idle, idle_after_s=0.01)
    await batcher.embed(["a"])
    await asyncio.wait_for(idle.called.wait(), 10)
    rows = await batcher.embed(["bb"])
    await batcher.aclose()
    assert rows[0][0] == 2.0 and idle.seen[0][1] == 1


async def test_a_closed_batcher_never_runs_the_idle_hook() -> None:
    model = CountingModel()
    idle = IdleLog(model)
    batcher = MicroBatcher(model, max_batch=4, max_wait_ms=0, on_idle=idle, idle_after_s=0.05)
    await batcher.embed(["a"])
    await batcher.aclose()  # before the model has been idle long enough
    await asyncio.sleep(0.1)
    assert idle.seen == []


class RemoteModel:
    """Stands in for a model in another process: passes are awaited on the loop, each held
    until the test lets it finish."""

    def __init__(self) -> None:
        self.passes: list[list[str]] = []
        self.gates: list[asyncio.Event] = []
        self.outstanding = 0
        self.most_outstanding = 0

    async def __call__(self, texts: list[str]) -> np.ndarray:
        self.passes.append(list(texts))
        gate = asyncio.Event()
        self.gates.append(gate)
        self.outstanding += 1
        self.most_outstanding = max(self.most_outstanding, self.outstanding)
        try:
            await gate.wait()
        finally:
            self.outstanding -= 1
        if "short" in texts:
            return np.zeros((len(texts) - 1, 2), dtype=np.float32)
        return np.array([[float(len(t)), float(len(self.passes))] for t in texts], dtype=np.float32)


def never_called(texts: list[str]) -> np.ndarray:
    raise AssertionError("the thread's forward ran instead of submit")


async def test_a_submitting_batcher_hands_the_model_up_to_depth_passes_at_once() -> None:
    model = RemoteModel()
    batcher = MicroBatcher(never_called, max_batch=64, max_wait_ms=0, submit=model, depth=2)
    first = asyncio.create_task(batcher.embed(["a"]))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(batcher.embed(["bb"]))
    await asyncio.sleep(0.01)
    later = [asyncio.create_task(batcher.embed([t])) for t in ("ccc", "dddd")]
    await asyncio.sleep(0.01)
    # two passes out (the second went while the first ran); the rest wait for one to end
    assert model.passes == [["a"], ["bb"]] and model.most_outstanding == 2
    model.gates[0].set()
    assert (await first)[0, 0] == 1
    await asyncio.sleep(0.01)
    assert model.passes[2] == ["ccc", "dddd"]  # those that queued meanwhile share the next pass
    for gate in model.gates:
        gate.set()
    assert (await second)[0, 0] == 2
    assert [r[0, 0] for r in await asyncio.gather(*later)] == [3, 4]
    assert model.most_outstanding == 2


async def test_a_submitted_pass_with_the_wrong_row_count_fails_its_callers_only() -> None:
    model = RemoteModel()
    batcher = MicroBatcher(never_called, max_batch=64, max_wait_ms=0, submit=model, depth=2)
    bad = asyncio.create_task(batcher.embed(["short", "x"]))
    await asyncio.sleep(0.01)
    good = asyncio.create_task(batcher.embed(["fine"]))
    await asyncio.sleep(0.01)
    for gate in model.gates:
        gate.set()
    with pytest.raises(ProviderError, match="1 rows for 2 texts"):
        await bad
    assert (await good).shape == (1, 2)


async def test_a_submitting_batcher_runs_the_idle_hook_only_once_no_pass_is_out() -> None:
    model = RemoteModel()
    idle: list[int] = []
    batcher = MicroBatcher(never_called, max_batch=64, max_wait_ms=0, submit=model, depth=2,
                           on_idle=lambda: idle.append(model.outstanding), idle_after_s=0.02)
    first = asyncio.create_task(batcher.embed(["a"]))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(batcher.embed(["b"]))
    await asyncio.sleep(0.01)
    model.gates[0].set()
    await first
    await asyncio.sleep(0.06)
    assert idle == []  # the second pass is still out
    model.gates[1].set()
    await second
    await asyncio.sleep(0.06)
    assert idle == [0]
