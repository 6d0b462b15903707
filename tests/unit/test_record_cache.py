from datetime import UTC, datetime

from history.record_cache import RecordCache
from memory.models import MemoryRecord, Scope


def rec(id: str, text: str = "t") -> MemoryRecord:
    at = datetime(2025, 1, 1, tzinfo=UTC)
    return MemoryRecord(id, text, "h", Scope("u"), {}, at, at)


def test_a_read_that_overlapped_a_write_is_not_kept() -> None:
    cache = RecordCache(10)
    read_at = cache.generation  # a read starts ...
    cache.forget(["a"])  # ... a commit lands meanwhile and forgets what it wrote ...
    cache.fill([rec("a", "old")], read_at)  # ... and the read's (possibly old) row comes back
    assert cache.lookup(["a"]) == ({}, ["a"])
    cache.fill([rec("a", "new")], cache.generation)
    assert cache.lookup(["a"])[0]["a"].text == "new"


def test_the_least_recently_used_rows_go_first_and_size_zero_keeps_nothing() -> None:
    cache = RecordCache(2)
    cache.fill([rec("a"), rec("b")], cache.generation)
    cache.lookup(["a"])  # a is now the most recent
    cache.fill([rec("c")], cache.generation)
    assert cache.lookup(["a", "b", "c"])[1] == ["b"]
    off = RecordCache(0)
    off.fill([rec("a")], off.generation)
    assert off.lookup(["a"]) == ({}, ["a"])
