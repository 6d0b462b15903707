"""app/process.py: the heap release run after embedding passes, and how `serve` builds it."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from app.process import HeapRelease, heap_release, resident_bytes
from app.settings import ProcessSettings
from memory.errors import ProviderError
from memory.providers.local_embedder import DIMENSION, _LocalEmbedder

MIB = 1024 * 1024


class FakeProcess:
    """RSS that passes raise and a trim brings down to `live` (what is really in use)."""

    def __init__(self, rss: int) -> None:
        self.rss = self.live = rss
        self.trims = 0

    def trim(self) -> None:
        self.trims += 1
        self.rss = self.live


def test_release_trims_once_growth_reaches_the_threshold_then_measures_from_the_trimmed_size() -> None:
    proc = FakeProcess(500 * MIB)
    release = HeapRelease(32 * MIB, trim=proc.trim, rss=lambda: proc.rss)
    release()  # the first call only sets the floor
    proc.rss += 31 * MIB
    release()
    assert proc.trims == 0
    proc.rss += 1 * MIB  # a long batch's freed peak, now 32 MiB over the floor
    release()
    assert proc.trims == 1 and proc.rss == 500 * MIB
    proc.rss += 20 * MIB
    release()
    assert proc.trims == 1  # measured from the size after the trim, not before it


def test_real_growth_becomes_the_new_floor_so_it_is_not_trimmed_on_every_pass() -> None:
    proc = FakeProcess(500 * MIB)
    release = HeapRelease(32 * MIB, trim=proc.trim, rss=lambda: proc.rss)
    release()
    proc.rss = proc.live = 600 * MIB  # the index grew: nothing for a trim to give back
    release()
    release()
    release()
    assert proc.trims == 1


def test_a_process_that_shrank_measures_growth_from_its_new_size() -> None:
    proc = FakeProcess(500 * MIB)
    release = HeapRelease(32 * MIB, trim=proc.trim, rss=lambda: proc.rss)
    release()
    proc.rss = 400 * MIB
    release()
    proc.rss = 440 * MIB
    release()
    assert proc.trims == 1


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


class ScriptedEmbedder(_LocalEmbedder):
    def __init__(self, after_pass: Callable[[], None], fail: bool = False) -> None:
        super().__init__(Path("unused"), 8, 0.0, "test-embed", after_pass)
        self.fail = fail

    def _load(self, model_path: Path) -> None:
        pass

    def _encode(self, texts: list[str]) -> np.ndarray:
        if self.fail:
            raise RuntimeError("runtime broke")
        return np.ones((len(texts), DIMENSION), dtype=np.float32)

    def _unload(self) -> None:
        pass


def test_the_local_embedder_runs_the_release_after_every_pass_failed_ones_too() -> None:
    calls: list[int] = []

    def counted() -> None:
        calls.append(1)

    async def scenario() -> None:
        ok = ScriptedEmbedder(counted)
        await ok.embed(["a", "b"])
        await ok.embed(["c"])
        await ok.aclose()
        broken = ScriptedEmbedder(counted, fail=True)
        with pytest.raises(ProviderError):
            await broken.embed(["d"])
        await broken.aclose()

    asyncio.run(scenario())
    assert len(calls) == 3
