from __future__ import annotations

import numpy as np
import pytest


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(16).astype(np.float32)
    return v / np.linalg.norm(v)


async def test_nearest_is_best_first_and_honours_allow(any_index) -> None:
    await any_index.upsert([(f"m{i}", unit(i)) for i in range(50)])
    hits = await any_index.nearest(unit(7), 5)
    assert hits[0][0] == "m7" and abs(hits[0][1] - 1.0) < 1e-4
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    odd = await any_index.nearest(unit(7), 10, allow=lambda id: int(id[1:]) % 2 == 0)
    assert len(odd) == 10 and all(int(id[1:]) % 2 == 0 for id, _ in odd)


async def test_upsert_replaces_and_remove_forgets(any_index) -> None:
    await any_index.upsert([("a", unit(1)), ("b", unit(2))])
    await any_index.upsert([("a", unit(3))])
    assert (await any_index.nearest(unit(3), 1))[0][0] == "a"
    await any_index.remove(["a"])
    assert await any_index.ids() == {"b"} and await any_index.count() == 1


async def test_save_and_load_round_trip_with_the_checkpoint(any_index) -> None:
    await any_index.upsert([("a", unit(1))])
    await any_index.save(42)
    await any_index.upsert([("b", unit(2))])  # after the snapshot: not in the saved state
    assert await any_index.load() == 42
    assert await any_index.ids() == {"a"}


async def test_similarities_score_the_known_ids_and_leave_out_the_others(any_index) -> None:
    await any_index.upsert([(f"m{i}", unit(i)) for i in range(20)])
    q = unit(99)
    for exact, tolerance in ((True, 1e-5), (False, 3e-3)):
        sims = await any_index.similarities(q, ["m3", "gone", "m11"], exact=exact)
        assert set(sims) == {"m3", "m11"}
        assert sims["m3"] == pytest.approx(float(unit(3) @ q), abs=tolerance)
        assert sims["m11"] == pytest.approx(float(unit(11) @ q), abs=tolerance)
    # ranking-grade scores still rank: the nearest of an allowed set comes first either way
    allowed = {f"m{i}" for i in range(20)}
    for exact in (True, False):
        assert (await any_index.nearest(unit(5), 3, allow=allowed, exact=exact))[0][0] == "m5"


async def test_a_bulk_load_answers_at_once_and_settles_to_the_same_answers(any_index) -> None:
    await any_index.upsert([(f"m{i}", unit(i)) for i in range(1200)])  # as a rebuild at start loads it
    progress = any_index.building()
    assert progress is None or (0 <= progress[0] <= progress[1] == 1200)
    before = await any_index.nearest(unit(7), 3)
    assert before[0][0] == "m7" and await any_index.count() == 1200
    await any_index.settled()
    assert any_index.building() is None
    assert (await any_index.nearest(unit(7), 1))[0][0] == "m7"
    await any_index.save(5)  # nothing left half built: the save is whole
    assert await any_index.load() == 5 and await any_index.count() == 1200
