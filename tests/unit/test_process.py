"""app/process.py: the malloc settings `serve` applies, the heap release run when the embedder goes
idle, and how `serve` builds it."""
from __future__ import annotations

import asyncio
import gc

import pytest

from app.commands import server
from app.commands.server import _freeze_when_settled
from app.ops.runtime import Runtime
from app import process
from app.process import HeapRelease, heap_release, resident_bytes, tune_malloc
from app.settings import ProcessSettings

MIB = 1024 * 1024


class FakeProcess:
    """RSS that embedding passes raise and a trim brings down to `live` (what is really in use)."""

    def __init__(self, rss: int) -> None:
        self.rss = self.live = rss
        self.trims = 0

    def trim(self) -> None:
        self.trims += 1
        self.rss = self.live


def test_release_trims_first_then_once_growth_reaches_the_threshold_from_the_trimmed_size() -> None:
    proc = FakeProcess(500 * MIB)
    release = HeapRelease(32 * MIB, trim=proc.trim, rss=lambda: proc.rss)
    release()  # the first call trims: there is no earlier release to measure from
    assert proc.trims == 1
    proc.rss += 31 * MIB
    release()
    assert proc.trims == 1
    proc.rss += 1 * MIB  # freed peaks, now 32 MiB over the floor
    release()
    assert proc.trims == 2 and proc.rss == 500 * MIB
    proc.rss += 20 * MIB
    release()
    assert proc.trims == 2  # measured from the size after the trim, not before it


def test_real_growth_becomes_the_new_floor_so_it_is_not_trimmed_on_every_pass() -> None:
    proc = FakeProcess(500 * MIB)
    release = HeapRelease(32 * MIB, trim=proc.trim, rss=lambda: proc.rss)
    release()
    proc.rss = proc.live = 600 * MIB  # the index grew: nothing for a trim to give back
    release()
    release()
    release()
    assert proc.trims == 2


def test_a_process_that_shrank_measures_growth_from_its_new_size() -> None:
    proc = FakeProcess(500 * MIB)
    release = HeapRelease(32 * MIB, trim=proc.trim, rss=lambda: proc.rss)
    release()
    proc.rss = 400 * MIB
    release()
    proc.rss = 440 * MIB
    release()
    assert proc.trims == 2


def test_release_does_nothing_without_a_size_to_measure() -> None:
    trims: list[int] = []
    release = HeapRelease(1, trim=lambda: trims.append(1), rss=lambda: None)
    release()
    release()
    assert trims == []


def test_serve_builds_no_release_when_the_setting_is_zero() -> None:
    assert heap_release(ProcessSettings(malloc_release_growth_mib=0)) is None


@pytest.mark.skipif(resident_bytes() is None, reason="needs /proc (Linux)")
def test_serve_builds_a_release_with_the_configured_growth_on_linux() -> None:
    release = heap_release(ProcessSettings(malloc_release_growth_mib=64))
    assert release is not None
    release()
    release()  # a real trim, or none: either way the process goes on
    assert 0 < (resident_bytes() or 0) < 1 << 40


class _SlowTextIndex:
    def __init__(self) -> None:
        self.built = asyncio.Event()

    async def text_index_built(self) -> bool:
        await self.built.wait()
        return True


async def test_serve_freezes_the_start_up_heap_and_again_once_the_text_index_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = _SlowTextIndex()
    runtime = Runtime()
    runtime.service = service  # type: ignore[assignment]
    released: list[bool] = []
    monkeypatch.setattr(server, "release_free_memory", lambda: released.append(service.built.is_set()))
    try:
        task = asyncio.create_task(_freeze_when_settled(runtime))
        await asyncio.sleep(0)
        assert not _walked(service)  # what start-up made: out of the collector's reach
        later: list[int] = []  # a table the text index builds meanwhile
        assert _walked(later)
        assert released == []
        service.built.set()
        await task
        assert not _walked(later)
        assert released == [True]  # the heap the build freed goes back once it is done
    finally:
        gc.unfreeze()


def _walked(obj: object) -> bool:
    """Whether the cyclic collector still walks `obj` (frozen objects are in none of its generations)."""
    return any(tracked is obj for tracked in gc.get_objects())


class FakeLibc:
    def __init__(self) -> None:
        self.options: list[tuple[int, int]] = []

    def mallopt(self, option: int, value: int) -> int:
        self.options.append((option, value))
        return 1


def test_serve_fixes_both_malloc_thresholds_by_default_and_zero_leaves_glibcs_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    libc = FakeLibc()
    monkeypatch.setattr(process, "_libc", lambda: libc)
    tune_malloc(ProcessSettings())
    # M_ARENA_MAX, M_MMAP_THRESHOLD, M_TRIM_THRESHOLD: a fixed trim threshold alone would pin the
    # mmap threshold at glibc's 128 KiB, so the two are set together
    assert libc.options == [(-8, 2), (-3, 32 * MIB), (-1, 4 * MIB)]
    libc.options.clear()
    tune_malloc(ProcessSettings(malloc_arena_max=0, malloc_mmap_threshold_kib=0, malloc_trim_threshold_kib=0))
    assert libc.options == []
