"""vector/mirror.py: the int8 copy the exact scans rank by, and what it costs in memory."""
from __future__ import annotations

import os

import numpy as np
import pytest

from vector import mirror as mirror_module
from vector.hnsw import HnswIndex
from vector.mirror import VectorMirror

DIM = 384


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def never(labels: list[int]) -> np.ndarray:
    raise AssertionError(f"labels {labels} should have been mirrored")


def test_scores_are_cosines_within_the_quantisation_error() -> None:
    rng = np.random.default_rng(3)
    # more rows than one widened block, of any length
    raw = rng.standard_normal((1300, DIM)).astype(np.float32) * rng.uniform(0.1, 50, (1300, 1)).astype(np.float32)
    mirror = VectorMirror(DIM, capacity=4)  # grows while written
    mirror.put(list(range(1300)), raw)
    expected = unit(raw)
    queries = np.concatenate([expected[:50], unit(rng.standard_normal((50, DIM)))])  # near and far
    labels = np.arange(1300)[::-1]  # any order
    got = np.stack([mirror.scores(labels, q, never) for q in queries])
    assert float(np.abs(got - queries @ expected[labels].T).max()) < 3e-3
    assert np.allclose(got[:50, ::-1].diagonal(), 1.0, atol=3e-3)  # a row scored against itself


def test_rows_gathered_beforehand_score_as_the_mirror_does_and_keep_their_old_values() -> None:
    rng = np.random.default_rng(5)
    raw = unit(rng.standard_normal((1300, DIM)))
    mirror = VectorMirror(DIM, capacity=4)
    mirror.put(list(range(1300)), raw)
    labels = np.arange(0, 1300, 1)[::-1].copy()
    gathered = mirror.gather(labels)
    assert gathered is not None and len(gathered) == 1300
    q = raw[7]
    assert np.array_equal(gathered.scores(q), mirror.scores(labels, q, never))
    mirror.put([7], unit(rng.standard_normal((1, DIM))))  # a copy: the caller checks what changed
    assert abs(float(gathered.scores(q)[1292]) - 1.0) < 3e-3
    assert mirror.gather(np.array([5, 1300])) is None  # a label not mirrored (yet)
    mirror.forget(5)
    assert mirror.gather(np.array([4, 5])) is None


def test_the_copy_takes_one_byte_a_component_and_four_a_row() -> None:
    mirror = VectorMirror(DIM, capacity=1000)
    rows, scale = mirror._rows, mirror._scale
    assert rows.nbytes + scale.nbytes == 1000 * (DIM + 4)


def test_labels_not_mirrored_are_read_through_fetch_and_forgotten_slots_are_reused() -> None:
    rng = np.random.default_rng(4)
    vecs = unit(rng.standard_normal((3, DIM)))
    mirror = VectorMirror(DIM, capacity=2)
    mirror.put([0, 1], vecs[:2])
    fetched: list[list[int]] = []

    def fetch(labels: list[int]) -> np.ndarray:
        fetched.append(labels)
        return vecs[labels] * 3.0

    got = mirror.scores([1, 2], vecs[2], fetch)
    assert fetched == [[2]]  # only what is not mirrored, read once
    assert abs(float(got[1]) - 1.0) < 1e-6  # fetched rows score exactly (normalised)
    mirror.forget(0)
    mirror.put([2], vecs[2:])
    assert mirror._used == 2  # label 2 took label 0's slot


async def test_a_scope_of_near_duplicates_is_ranked_as_an_exact_scan_would() -> None:
    # texts that differ by a word embed ~1e-3 apart: the int8 order alone would swap some of
    # them, the exact re-score of the head must not
    rng = np.random.default_rng(5)
    base = unit(rng.standard_normal((6, DIM)))
    vecs = unit(np.repeat(base, 400, axis=0) + rng.normal(0, 0.02, (2400, DIM)).astype(np.float32))
    index = HnswIndex(None, dimension=DIM)
    await index.upsert([(f"m{i}", v) for i, v in enumerate(vecs)])
    allowed = {f"m{i}" for i in range(0, 2400, 2)}
    for q in unit(base + rng.normal(0, 0.02, base.shape).astype(np.float32)):
        hits = await index.nearest(q, k=10, allow=allowed)
        exact = sorted(allowed, key=lambda m: -float(vecs[int(m[1:])] @ q))[:10]
        assert [m for m, _ in hits] == exact
        assert [s for _, s in hits] == pytest.approx([float(vecs[int(m[1:])] @ q) for m in exact], abs=1e-6)


async def test_ranking_grade_scans_score_from_the_mirror_and_exact_reads_from_hnswlib() -> None:
    rng = np.random.default_rng(6)
    vecs = unit(rng.standard_normal((3000, DIM)))
    index = HnswIndex(None, dimension=DIM)
    await index.upsert([(f"m{i}", v) for i, v in enumerate(vecs)])
    allowed = {f"m{i}" for i in range(0, 3000, 3)}
    q = unit(rng.standard_normal((1, DIM)))[0]
    truth = {m: float(vecs[int(m[1:])] @ q) for m in allowed}
    rough = await index.nearest(q, k=30, allow=allowed, exact=False)
    exact = await index.nearest(q, k=30, allow=allowed)
    assert [s for _, s in exact] == pytest.approx([truth[m] for m, _ in exact], abs=1e-6)
    assert [s for _, s in rough] == pytest.approx([truth[m] for m, _ in rough], abs=3e-3)
    assert [s for _, s in rough] != pytest.approx([truth[m] for m, _ in rough], abs=1e-6)  # the mirror's own
    assert len({m for m, _ in rough} & {m for m, _ in exact}) >= 27  # the same candidates but near-ties
    ids = [m for m, _ in rough]
    assert await index.similarities(q, ids) == pytest.approx({m: truth[m] for m in ids}, abs=1e-6)
    assert await index.similarities(q, ids, exact=False) == pytest.approx(dict(rough), abs=1e-7)


def test_arranged_rows_lie_in_the_order_given_and_score_as_before() -> None:
    rng = np.random.default_rng(8)
    raw = unit(rng.standard_normal((1300, DIM)))
    mirror = VectorMirror(DIM, capacity=4)
    mirror.put(list(range(1300)), raw)
    for label in (3, 500, 501):
        mirror.forget(label)
    live = np.array([label for label in range(1300) if label not in (3, 500, 501)])
    q = raw[42]
    before = mirror.scores(live, q, never)
    # one owner's labels, in an order of its own, with a forgotten, an unknown and a repeated one
    listed = rng.permutation(np.arange(0, 1300, 7))
    mirror.arrange(np.concatenate([listed, [3, 99_999, int(listed[0])]]))
    assert np.array_equal(mirror.scores(live, q, never), before)
    kept = listed[listed != 500]
    assert np.array_equal(mirror.in_slot_order(rng.permutation(kept)), kept)  # the front, in that order
    assert np.array_equal(mirror._slot_of[kept], np.arange(len(kept)))
    assert mirror._used == len(live)  # every other live row follows, the forgotten ones' slots are gone
    # rows written afterwards go to free slots and leave the arranged ones as they were
    mirror.put([1300, 1301], raw[:2])
    mirror.forget(7)
    mirror.put([1302], raw[2:3])
    # (to float32 rounding: BLAS may sum a row in another order where the blocks split elsewhere)
    assert np.allclose(mirror.scores(live[live != 7], q, never), before[live != 7], rtol=0, atol=1e-6)
    assert np.allclose(mirror.scores([1300, 1301, 1302], q, never), raw[[0, 1, 2]] @ q, atol=3e-3)


def test_an_arranged_scope_is_scored_in_place_and_any_other_set_as_gathered(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(12)
    raw = unit(rng.standard_normal((1300, DIM)))
    mirror = VectorMirror(DIM, capacity=4)
    mirror.put(list(range(1300)), raw)
    scope = rng.permutation(np.arange(0, 1300, 3))  # one owner's labels
    mirror.arrange(scope)
    q = raw[9]
    stretch = mirror.in_slot_order(scope)
    sets = {
        "the scope in slot order": stretch,
        "the same labels in another order": stretch[::-1].copy(),
        "with two labels swapped": np.concatenate([stretch[:10], stretch[[11, 10]], stretch[12:]]),
        "with one label left out": np.delete(stretch, 200),
        "with a label far past the stretch": np.append(stretch, 1298),
        "with a label not mirrored yet": np.append(stretch, 5_000),
        "with a label not mirrored yet in front": np.concatenate([[5_001], stretch[1:]]),
    }
    for name, labels in sets.items():
        rows = np.asarray([raw[label] for label in labels if label < 1300])
        got = mirror.scores(labels, q, lambda missing: np.zeros((len(missing), DIM), dtype=np.float32) + 1)
        known = labels < 1300
        assert np.allclose(got[known], rows @ q, atol=3e-3), name
        gathered = mirror.gather(labels)
        if gathered is not None:  # every label mirrored: the same values as a gathered copy's
            assert np.allclose(got, gathered.scores(q), rtol=0, atol=1e-6), name
    # only the first is one stretch in order: a view of the copy, read where it lies, not copied out
    viewed = mirror._stretch(mirror._slots(stretch))
    assert viewed is not None and np.shares_memory(viewed._rows, mirror._rows)
    monkeypatch.setattr(mirror, "_gathered", lambda slots: pytest.fail("an arranged scope's rows were copied out"))
    assert np.allclose(mirror.scores(stretch, q, never), raw[stretch] @ q, atol=3e-3)
    assert all(mirror._stretch(mirror._slots(labels)) is None for name, labels in sets.items()
               if name != "the scope in slot order" and "not mirrored" not in name)


def test_an_arrangement_changes_nothing_until_adopted_and_takes_the_rows_written_meanwhile() -> None:
    rng = np.random.default_rng(5)
    raw = unit(rng.standard_normal((604, DIM)))
    q = raw[9]
    order = np.arange(600)[::-1]
    mirror = VectorMirror(DIM, capacity=4)
    mirror.put(list(range(600)), raw[:600])
    made = mirror.lay_out(mirror.arranging(), order)
    assert np.array_equal(mirror._slots(np.arange(600)), np.arange(600))  # laid out beside the copy
    # written since it was begun (while laid out, or after): two new rows, one rewritten, one
    # saved row put back, two removed, one of them new since
    mirror.put([600, 601], raw[600:602])
    mirror.put([7], raw[602:603])
    saved_rows, saved_scale = mirror.rows_of([3])  # type: ignore[misc]
    mirror.put_rows([3], np.concatenate(list(saved_rows)), saved_scale)
    mirror.forget(5)
    mirror.forget(601)
    live = [label for label in range(601) if label != 5]
    before = mirror.scores(live, q, never)
    assert mirror.adopt(made)
    assert np.allclose(mirror.scores(live, q, never), before, rtol=0, atol=1e-6)
    assert mirror.scores([7], q, never)[0] == pytest.approx(float(raw[602] @ q), abs=3e-3)
    # the layout given, less the row removed, whose slot the new row took
    slots = mirror._slots(np.arange(602))
    assert slots[5] == -1 and slots[601] == -1 and sorted(slots[slots >= 0].tolist()) == list(range(600))
    assert np.array_equal(slots[order[order != 5]], np.delete(np.arange(600), 599 - 5))
    assert slots[600] == 599 - 5
    assert not mirror.adopt(made)  # taken once


def test_an_arrangement_is_refused_when_superseded_or_too_much_was_written_since(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(6)
    raw = unit(rng.standard_normal((40, DIM)))
    mirror = VectorMirror(DIM, capacity=4)
    mirror.put(list(range(30)), raw[:30])
    first = mirror.lay_out(mirror.arranging(), np.arange(30)[::-1])
    assert np.array_equal(mirror._slots(np.arange(30)), np.arange(30))  # laid out beside the copy
    second = mirror.lay_out(mirror.arranging(), np.arange(30)[::-1])
    assert not mirror.adopt(first)  # another was begun after it
    monkeypatch.setattr(mirror_module, "_CATCH_UP_MAX", 5)
    mirror.put(list(range(30, 36)), raw[30:36])
    assert not mirror.adopt(second)  # six written since: made again instead
    assert np.array_equal(mirror._slots(np.arange(36)), np.arange(36))  # left as it was
    assert not VectorMirror(DIM).adopt(mirror.lay_out(mirror.arranging(), np.arange(36)))  # another mirror's


def test_labels_in_slot_order_put_those_not_mirrored_last() -> None:
    mirror = VectorMirror(DIM, capacity=4)
    mirror.put([5, 2, 9], unit(np.random.default_rng(2).standard_normal((3, DIM))))
    assert mirror.in_slot_order(np.array([9, 77, 2, 5, 3])).tolist() == [5, 2, 9, 77, 3]


def test_arranging_takes_no_memory_for_the_free_slots_past_the_rows() -> None:
    # the copy doubles as it grows: 66,000 rows have room for 131,072 (48 MiB, a mapping of its own)
    mirror = VectorMirror(DIM, capacity=65536)
    mirror.put(list(range(66000)), np.random.default_rng(9).standard_normal((66000, DIM)).astype(np.float32))
    assert len(mirror._rows) == 131072
    mirror.arrange(np.arange(66000)[::-1])

    def resident_bytes(array: np.ndarray) -> int:
        # /proc/self/pagemap: 8 bytes a page, bit 63 set when the page is in memory
        page = os.sysconf("SC_PAGE_SIZE")
        first, last = array.ctypes.data // page, (array.ctypes.data + array.nbytes - 1) // page
        with open("/proc/self/pagemap", "rb") as pagemap:
            pagemap.seek(first * 8)
            entries = np.frombuffer(pagemap.read((last - first + 1) * 8), dtype=np.uint64)
        return int(np.count_nonzero(entries >> np.uint64(63))) * page

    # the rows written (and the rest of a 2 MiB huge page or two), not 131,072 rows
    assert resident_bytes(mirror._rows) < 66000 * DIM + 4 * 2**20


def test_rows_come_out_in_the_order_asked_and_go_back_in_unchanged() -> None:
    rng = np.random.default_rng(11)
    mirror = VectorMirror(DIM, capacity=8)
    mirror.put(list(range(600)), rng.standard_normal((600, DIM)).astype(np.float32))
    for label in range(0, 600, 7):
        mirror.forget(label)
    mirror.put(list(range(600, 650)), rng.standard_normal((50, DIM)).astype(np.float32))  # into freed slots
    live = [label for label in range(650) if label >= 600 or label % 7]
    mirror.arrange(np.array(live[::-1][:200]))  # some rows laid out again, in another order
    for order in (live, live[::-1], list(rng.permutation(live)), mirror.in_slot_order(np.array(live)).tolist()):
        rows, scale = mirror.rows_of(order)
        slots = mirror._slots(order)
        assert np.array_equal(np.concatenate(list(rows)), mirror._rows[slots])
        assert np.array_equal(scale, mirror._scale[slots])
    assert mirror.rows_of([0]) is None  # forgotten

    ordered = mirror.in_slot_order(np.array(live)).tolist()
    rows, scale = mirror.rows_of(ordered)
    copy = VectorMirror(DIM)
    copy.put_rows(ordered, np.concatenate(list(rows)), scale)
    query = unit(rng.standard_normal((1, DIM)))[0]
    assert np.array_equal(copy.scores(live, query, never), mirror.scores(live, query, never))
