from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import threading
from pathlib import Path

import numpy as np
import pytest

from memory.errors import InvalidInput
from vector import files
from memory.ports import ScopeIds
from vector.hnsw import HnswIndex

DIM = 16


def saved_without_copy(directory: Path) -> None:
    """Make the saved generation one of older code: no int8 copy beside the index."""
    manifest = json.loads((directory / files.MANIFEST).read_bytes())
    (directory / manifest.pop("mirror_file")).unlink()
    del manifest["mirror_bytes"], manifest["mirror_sha256"]
    (directory / files.MANIFEST).write_text(json.dumps(manifest))


def unit(rng: np.random.Generator, n: int = 1, dim: int = DIM) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


@pytest.fixture
def hnsw(tmp_path: Path) -> HnswIndex:
    return HnswIndex(tmp_path / "vectors", dimension=DIM, initial_capacity=8)


async def test_upsert_then_nearest_returns_the_vector_itself_first(hnsw: HnswIndex, rng) -> None:
    vecs = unit(rng, 20)
    await hnsw.upsert([(f"m{i}", v) for i, v in enumerate(vecs)])
    hits = await hnsw.nearest(vecs[3], k=5)
    assert hits[0][0] == "m3"
    assert hits[0][1] == pytest.approx(1.0, abs=1e-5)
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    assert len(hits) == 5
    assert await hnsw.count() == 20
    assert await hnsw.ids() == {f"m{i}" for i in range(20)}


async def test_upsert_of_existing_id_replaces_its_vector(hnsw: HnswIndex, rng) -> None:
    a, b = unit(rng, 2)
    await hnsw.upsert([("x", a), ("y", unit(rng)[0])])
    await hnsw.upsert([("x", b)])
    assert await hnsw.similarities(b, ["x"]) == {"x": pytest.approx(1.0, abs=1e-6)}  # unit vectors: b itself
    assert (await hnsw.nearest(b, k=1))[0][0] == "x"
    assert await hnsw.count() == 2


async def test_remove_forgets_the_id_and_a_readded_id_works(hnsw: HnswIndex, rng) -> None:
    vecs = unit(rng, 10)
    await hnsw.upsert([(f"m{i}", v) for i, v in enumerate(vecs)])
    await hnsw.remove(["m0", "m1", "unknown"])
    assert await hnsw.count() == 8
    assert "m0" not in {mid for mid, _ in await hnsw.nearest(vecs[0], k=10)}
    assert await hnsw.similarities(vecs[2], ["m0", "m2"]) == {"m2": pytest.approx(1.0, abs=1e-6)}
    await hnsw.upsert([("m0", vecs[0])])
    assert (await hnsw.nearest(vecs[0], k=1))[0] == ("m0", pytest.approx(1.0, abs=1e-5))
    assert len(await hnsw.nearest(vecs[0], k=50)) == 9


async def test_freed_slots_are_reused_so_churn_does_not_grow_the_index(hnsw: HnswIndex, rng) -> None:
    for round_ in range(20):
        batch = [(f"r{round_}-{i}", v) for i, v in enumerate(unit(rng, 8))]
        await hnsw.upsert(batch)
        await hnsw.remove([mid for mid, _ in batch])
    assert await hnsw.count() == 0
    assert hnsw._index.get_max_elements() == 8  # never had to grow past the first 8 slots
    assert await hnsw.nearest(unit(rng)[0], k=3) == []


async def test_allow_filter_returns_k_allowed_among_many_disallowed(hnsw: HnswIndex, rng) -> None:
    vecs = unit(rng, 2000)
    await hnsw.upsert([(f"m{i}", v) for i, v in enumerate(vecs)])
    allowed = {f"m{i}" for i in range(0, 2000, 97)}  # 21 allowed, 1979 not
    hits = await hnsw.nearest(vecs[5], k=10, allow=allowed)
    assert len(hits) == 10 and {mid for mid, _ in hits} <= allowed
    exact = sorted(allowed, key=lambda m: -float(vecs[int(m[1:])] @ vecs[5]))[:10]
    assert [mid for mid, _ in hits] == exact


async def test_a_small_allowed_set_is_answered_by_an_exact_scan(hnsw: HnswIndex, rng) -> None:
    vecs = unit(rng, 3000)
    await hnsw.upsert([(f"m{i}", v) for i, v in enumerate(vecs)])
    allowed = {f"m{i}" for i in rng.choice(3000, size=40, replace=False)} | {"not-indexed"}
    for q in unit(rng, 5):
        hits = await hnsw.nearest(q, k=7, allow=allowed)
        exact = sorted((m for m in allowed if m != "not-indexed"), key=lambda m: -float(vecs[int(m[1:])] @ q))
        assert [m for m, _ in hits] == exact[:7]
        assert hits[0][1] == pytest.approx(float(vecs[int(hits[0][0][1:])] @ q), abs=1e-5)


async def test_allow_filter_with_fewer_allowed_than_k_returns_all_allowed(hnsw: HnswIndex, rng) -> None:
    vecs = unit(rng, 300)
    await hnsw.upsert([(f"m{i}", v) for i, v in enumerate(vecs)])
    allowed = {"m1", "m2", "m3"}
    hits = await hnsw.nearest(vecs[0], k=10, allow=allowed)
    assert {mid for mid, _ in hits} == allowed
    assert await hnsw.nearest(vecs[0], k=10, allow=lambda _: False) == []


async def test_k_larger_than_count_and_than_ef_returns_everything(tmp_path: Path, rng) -> None:
    index = HnswIndex(None, dimension=DIM, ef_search=4)
    vecs = unit(rng, 30)
    await index.upsert([(f"m{i}", v) for i, v in enumerate(vecs)])
    hits = await index.nearest(vecs[0], k=20)
    assert len(hits) == 20 and hits[0][0] == "m0"
    assert len(await index.nearest(vecs[0], k=100)) == 30
    assert index._index.ef == 4  # widened only for that query


async def test_index_grows_by_doubling(hnsw: HnswIndex, rng) -> None:
    await hnsw.upsert([(f"m{i}", v) for i, v in enumerate(unit(rng, 9))])
    assert hnsw._index.get_max_elements() == 16
    await hnsw.upsert([(f"n{i}", v) for i, v in enumerate(unit(rng, 100))])
    assert hnsw._index.get_max_elements() == 128
    assert await hnsw.count() == 109


async def test_wrong_dimension_or_zero_vector_is_invalid_input(hnsw: HnswIndex, rng) -> None:
    with pytest.raises(InvalidInput):
        await hnsw.upsert([("x", np.ones(DIM + 1, dtype=np.float32))])
    with pytest.raises(InvalidInput):
        await hnsw.upsert([("x", np.zeros(DIM, dtype=np.float32))])
    with pytest.raises(InvalidInput):
        await hnsw.nearest(np.ones(3, dtype=np.float32), k=1)
    # a query as the embedder hands it (one float32 row of the index's dimension) is checked too
    for bad in (np.zeros(DIM, dtype=np.float32), np.full(DIM, np.nan, dtype=np.float32)):
        with pytest.raises(InvalidInput):
            await hnsw.nearest(bad, k=1)
        with pytest.raises(InvalidInput):
            await hnsw.similarities(bad, ["x"])


async def test_concurrent_upserts_searches_and_removes_do_not_corrupt(hnsw: HnswIndex, rng) -> None:
    final: dict[str, np.ndarray] = {}
    vecs = unit(rng, 4000)

    async def writer(w: int) -> None:
        for j in range(20):
            batch = [(f"w{w}-{(j * 10 + i) % 150}", vecs[(w * 200 + j * 10 + i) % 4000]) for i in range(10)]
            await hnsw.upsert(batch)
            final.update(batch)
            if j % 5 == 4:
                gone = [f"w{w}-{j}"]
                await hnsw.remove(gone)
                final.pop(gone[0], None)

    async def reader(r: int) -> None:
        for j in range(30):
            hits = await hnsw.nearest(vecs[(r * 31 + j) % 4000], k=random.choice([1, 5, 80]),
                                       allow=(lambda m: m.endswith("1")) if j % 2 else None)
            assert all(isinstance(m, str) for m, _ in hits)
            await asyncio.sleep(0)

    async def canceller() -> None:  # cancelled searches must not release the lock early
        for j in range(20):
            task = asyncio.create_task(hnsw.nearest(vecs[j], k=80))
            await asyncio.sleep(0)
            task.cancel()

    await asyncio.gather(*(writer(w) for w in range(8)), *(reader(r) for r in range(8)), canceller())
    assert await hnsw.ids() == set(final)
    for mid, vec in final.items():  # each id holds the vector its last write gave it
        assert await hnsw.similarities(vec, [mid]) == {mid: pytest.approx(1.0, abs=1e-5)}
    for mid in random.sample(sorted(final), 20):
        assert (await hnsw.nearest(final[mid], k=1))[0][1] == pytest.approx(1.0, abs=1e-4)


async def test_concurrent_writes_go_to_the_index_together_in_the_order_they_came(
    hnsw: HnswIndex, rng, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vector.hnsw as hnsw_module

    jobs: list[int] = []
    run_jobs = hnsw_module._run_jobs
    monkeypatch.setattr(hnsw_module, "_run_jobs", lambda batch: jobs.append(len(batch)) or run_jobs(batch))
    vecs = unit(rng, 40)
    await hnsw.upsert([("first", vecs[0])])  # holds the lock while the next 33 writes arrive
    writes = [hnsw.upsert([(f"m{i}", vecs[i])]) for i in range(1, 31)]
    writes += [hnsw.upsert([("m1", vecs[35])]), hnsw.remove(["m2"]), hnsw.upsert([("m2", vecs[36])])]
    await asyncio.gather(*writes)
    assert sum(jobs) == 34 and len(jobs) <= 3  # one thread job each before: 34
    assert await hnsw.ids() == {"first", *(f"m{i}" for i in range(1, 31))}
    assert await hnsw.similarities(vecs[35], ["m1"]) == {"m1": pytest.approx(1.0, abs=1e-5)}  # the later write won
    assert await hnsw.similarities(vecs[36], ["m2"]) == {"m2": pytest.approx(1.0, abs=1e-5)}  # re-added after removal


async def test_a_failing_write_fails_only_its_caller_and_a_cancelled_one_still_lands(
    hnsw: HnswIndex, rng, caplog: pytest.LogCaptureFixture
) -> None:
    vecs = unit(rng, 3)

    def broken() -> None:
        raise RuntimeError("this write fails")

    hold = asyncio.ensure_future(hnsw.upsert([("a", vecs[0])]))
    failing = asyncio.ensure_future(hnsw._exclusive(broken))
    cancelled = asyncio.ensure_future(hnsw.upsert([("b", vecs[1])]))
    unheard = asyncio.ensure_future(hnsw._exclusive(broken))  # its caller gives up: nobody reads the error
    after = asyncio.ensure_future(hnsw.upsert([("c", vecs[2])]))
    await asyncio.sleep(0)
    cancelled.cancel()
    unheard.cancel()
    await hold
    with pytest.raises(RuntimeError, match="this write fails"):
        await failing
    await after
    assert cancelled.cancelled() and unheard.cancelled()
    assert await hnsw.ids() == {"a", "b", "c"}
    gc.collect()
    assert "never retrieved" not in caplog.text
    await hnsw.close()
    with pytest.raises(RuntimeError):  # a closed index refuses writes instead of leaving them waiting
        await asyncio.wait_for(hnsw.upsert([("d", vecs[0])]), 5)


async def test_save_then_load_round_trips_ids_vectors_and_checkpoint(tmp_path: Path, rng) -> None:
    first = HnswIndex(tmp_path / "v", dimension=DIM, initial_capacity=4)
    vecs = unit(rng, 50)
    await first.upsert([(f"m{i}", v) for i, v in enumerate(vecs)])
    await first.remove(["m7"])
    await first.save(41)
    second = HnswIndex(tmp_path / "v", dimension=DIM)
    assert await second.load() == 41
    assert await second.ids() == {f"m{i}" for i in range(50)} - {"m7"}
    assert (await second.nearest(vecs[9], k=1))[0][0] == "m9"
    await second.upsert([("new", unit(rng)[0])])  # labels continue after the saved ones
    assert await second.count() == 50
    await second.save(42)
    assert sorted(p.name for p in (tmp_path / "v").iterdir() if p.name != files.MANIFEST).__len__() == 3


async def test_concurrent_saves_and_searches_leave_one_loadable_generation(tmp_path: Path, rng) -> None:
    index = HnswIndex(tmp_path / "v", dimension=DIM)
    vecs = unit(rng, 200)
    await index.upsert([(f"m{i}", v) for i, v in enumerate(vecs)])
    saves = [asyncio.create_task(index.save(c)) for c in range(1, 6)]
    await asyncio.sleep(0)
    saves[2].cancel()  # its thread still finishes; it must not overlap the others
    await asyncio.gather(*(index.nearest(v, k=3) for v in vecs[:20]))
    await asyncio.gather(*saves, return_exceptions=True)
    await index.remove(["absent"])  # a writer: it waits for the cancelled save's thread too
    reloaded = HnswIndex(tmp_path / "v", dimension=DIM)
    assert await reloaded.load() in range(1, 6)
    assert await reloaded.count() == 200
    assert len(list((tmp_path / "v").iterdir())) == 4


async def test_load_without_files_returns_none_and_empty(tmp_path: Path) -> None:
    assert await HnswIndex(tmp_path / "absent", dimension=DIM).load() is None
    assert await HnswIndex(None, dimension=DIM).load() is None


async def saved(tmp_path: Path, rng: np.random.Generator) -> Path:
    index = HnswIndex(tmp_path / "v", dimension=DIM)
    await index.upsert([(f"m{i}", v) for i, v in enumerate(unit(rng, 30))])
    await index.save(5)
    return tmp_path / "v"


def manifest_of(directory: Path) -> dict:
    return json.loads((directory / files.MANIFEST).read_text())


@pytest.mark.parametrize(
    "damage",
    ["truncate_index", "flip_index_byte", "garbage_manifest", "truncate_manifest", "drop_ids", "bad_ids_json"],
)
async def test_load_of_damaged_files_returns_none_and_an_empty_index(tmp_path: Path, rng, damage: str) -> None:
    directory = await saved(tmp_path, rng)
    m = manifest_of(directory)
    index_file, ids_file = directory / m["index_file"], directory / m["ids_file"]
    if damage == "truncate_index":
        index_file.write_bytes(index_file.read_bytes()[: m["index_bytes"] // 2])
    elif damage == "flip_index_byte":
        data = bytearray(index_file.read_bytes())
        data[len(data) // 2] ^= 0xFF
        index_file.write_bytes(bytes(data))
    elif damage == "garbage_manifest":
        (directory / files.MANIFEST).write_bytes(os.urandom(64))
    elif damage == "truncate_manifest":
        (directory / files.MANIFEST).write_text(json.dumps(m)[:40])
    elif damage == "drop_ids":
        ids_file.unlink()
    elif damage == "bad_ids_json":
        ids_file.write_text("{not json")
    index = HnswIndex(directory, dimension=DIM)
    assert await index.load() is None
    assert await index.count() == 0
    assert await index.nearest(unit(rng)[0], k=3) == []


async def test_load_of_another_dimension_returns_none(tmp_path: Path, rng) -> None:
    directory = await saved(tmp_path, rng)
    assert await HnswIndex(directory, dimension=DIM * 2).load() is None


async def test_load_rejects_a_consistent_looking_index_with_missing_labels(tmp_path: Path, rng) -> None:
    directory = await saved(tmp_path, rng)
    m = manifest_of(directory)
    ids_file = directory / m["ids_file"]
    files.write_ids(ids_file, [999], {999: "ghost"})  # valid file whose label the index lacks
    m["ids_bytes"], m["ids_sha256"] = ids_file.stat().st_size, files.sha256_of(ids_file)
    (directory / files.MANIFEST).write_text(json.dumps(m))
    assert await HnswIndex(directory, dimension=DIM).load() is None


async def test_save_commits_by_renaming_the_manifest_last(tmp_path: Path, rng, monkeypatch) -> None:
    index = HnswIndex(tmp_path / "v", dimension=DIM)
    await index.upsert([("a", unit(rng)[0])])
    replaced: list[str] = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (replaced.append(Path(dst).name), real_replace(src, dst)))
    await index.save(1)
    assert replaced[-1] == files.MANIFEST


async def test_a_save_that_dies_before_the_manifest_rename_leaves_the_previous_state(
    tmp_path: Path, rng, monkeypatch
) -> None:
    index = HnswIndex(tmp_path / "v", dimension=DIM)
    await index.upsert([("a", unit(rng)[0])])
    await index.save(1)
    await index.upsert([("b", unit(rng)[0])])

    def crash(src, dst):  # power cut between writing the new generation and committing it
        raise OSError("simulated crash")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        await index.save(2)
    monkeypatch.undo()
    reloaded = HnswIndex(tmp_path / "v", dimension=DIM)
    assert await reloaded.load() == 1
    assert await reloaded.ids() == {"a"}
    await index.save(3)  # the next good save also sweeps the orphaned generation away
    assert len(list((tmp_path / "v").iterdir())) == 4


async def test_clear_empties_and_deletes_saved_files(tmp_path: Path, rng) -> None:
    directory = await saved(tmp_path, rng)
    index = HnswIndex(directory, dimension=DIM)
    assert await index.load() == 5
    await index.clear()
    assert await index.count() == 0
    assert await HnswIndex(directory, dimension=DIM).load() is None
    await index.upsert([("z", unit(rng)[0])])
    assert (await index.nearest(unit(rng)[0], k=5))[0][0] == "z"


async def test_a_selective_allowed_set_still_returns_the_best_k_allowed(tmp_path) -> None:
    import numpy as np

    from vector.hnsw import HnswIndex

    rng = np.random.default_rng(3)
    data = rng.standard_normal((3000, 32)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    index = HnswIndex(None, dimension=32, initial_capacity=4096)
    await index.upsert([(f"m{i}", data[i]) for i in range(3000)])
    await index.settled()  # the graph, built in the background after a bulk load
    allowed = {f"m{i}" for i in range(0, 3000, 20)}  # 5%: the over-fetch path
    q = data[40] + 0.01
    got = await index.nearest(q, 5, allowed)
    exact = sorted(((float(data[i] @ q / np.linalg.norm(q)), f"m{i}") for i in range(0, 3000, 20)), reverse=True)[:5]
    assert [id for id, _ in got] == [id for _, id in exact]
    assert all(id in allowed for id, _ in got)


def exact_top(vecs: np.ndarray, allowed: set[str], q: np.ndarray, k: int) -> list[str]:
    return sorted((m for m in allowed if m in {f"m{i}" for i in range(len(vecs))}),
                  key=lambda m: -float(vecs[int(m[1:])] @ q))[:k]


async def test_a_scope_of_thousands_is_scanned_exactly_with_exact_scores(tmp_path: Path, rng) -> None:
    # 2,000 of 8,000 (25%): too many to over-fetch cheaply, few enough to scan from the mirror
    vecs = unit(rng, 8000)
    index = HnswIndex(None, dimension=DIM, initial_capacity=16)
    await index.upsert([(f"m{i}", v) for i, v in enumerate(vecs)])
    allowed = {f"m{i}" for i in range(0, 8000, 4)}
    for q in unit(rng, 10):
        hits = await index.nearest(q, k=30, allow=allowed)
        assert [m for m, _ in hits] == exact_top(vecs, allowed, q, 30)
        # the int8 copy orders the scan; the scores handed back are the exact cosines
        assert all(s == pytest.approx(float(vecs[int(m[1:])] @ q), abs=1e-6) for m, s in hits)


async def test_exact_scans_see_updates_and_vectors_loaded_from_a_snapshot(tmp_path: Path, rng) -> None:
    vecs = unit(rng, 600)
    index = HnswIndex(tmp_path / "vectors", dimension=DIM, initial_capacity=8)
    await index.upsert([(f"m{i}", v) for i, v in enumerate(vecs)])
    await index.save(1)
    loaded = HnswIndex(tmp_path / "vectors", dimension=DIM)
    assert await loaded.load() == 1
    allowed = {f"m{i}" for i in range(0, 600, 3)}
    q = unit(rng)[0]
    assert [m for m, _ in await loaded.nearest(q, k=10, allow=allowed)] == exact_top(vecs, allowed, q, 10)
    # a changed vector is what the next scan ranks by, not the mirrored old one
    await loaded.upsert([("m0", q)])
    hits = await loaded.nearest(q, k=1, allow=allowed)
    assert hits[0][0] == "m0" and hits[0][1] == pytest.approx(1.0, abs=1e-5)
    await loaded.remove(["m0"])
    assert "m0" not in [m for m, _ in await loaded.nearest(q, k=10, allow=allowed)]


async def test_the_vector_copy_reuses_removed_vectors_rows_so_churn_does_not_grow_it(rng) -> None:
    index = HnswIndex(None, dimension=DIM, initial_capacity=64)
    allowed: set[str] = set()
    for round_ in range(20):  # 20 x 50 adds and removes: every add takes a new label
        ids = [f"r{round_}-{i}" for i in range(50)]
        vecs = unit(rng, 50)
        await index.upsert(list(zip(ids, vecs)))
        allowed = set(ids)
        q = vecs[7]
        hits = await index.nearest(q, k=3, allow=allowed)
        assert hits[0][0] == ids[7] and hits[0][1] == pytest.approx(1.0, abs=1e-5)
        await index.remove(ids[:-1])  # one survivor per round
    assert index._mirror._used <= 50 + 20  # rows in use: the live ones and one round's worth


async def test_labels_kept_for_a_scopes_set_follow_only_changes_to_its_own_ids(rng, monkeypatch) -> None:
    # the scope catalog hands the same set object to a scope's searches until that scope changes
    index = HnswIndex(None, dimension=DIM, initial_capacity=16)
    vecs = {f"m{i}": v for i, v in enumerate(unit(rng, 300))}
    await index.upsert(list(vecs.items()))
    scope = frozenset(f"m{i}" for i in range(0, 300, 5))
    listed: list[np.ndarray] = []  # the label arrays handed to the scans: a new one means listed again
    labels_of = HnswIndex._labels_of
    monkeypatch.setattr(HnswIndex, "_labels_of", lambda self, known: listed.append(labels_of(self, known)) or listed[-1])

    def top(q: np.ndarray, allowed: frozenset[str]) -> list[str]:
        live = [m for m in allowed if m in vecs]
        return sorted(live, key=lambda m: -float(vecs[m] @ q))[:5]

    q = unit(rng)[0]
    assert [m for m, _ in await index.nearest(q, 5, scope)] == top(q, scope)
    for step in range(40):  # other ids come and go: the scope's labels are listed once
        other = f"x{step}"
        vecs[other] = unit(rng)[0]
        await index.upsert([(other, vecs[other])])
        if step % 3 == 0:
            await index.remove([f"m{step * 5 + 1}"])
            vecs.pop(f"m{step * 5 + 1}")
        q = unit(rng)[0]
        assert [m for m, _ in await index.nearest(q, 5, scope)] == top(q, scope)
    assert len({id(labels) for labels in listed}) == 1
    gone = sorted(scope, key=lambda m: -float(vecs[m] @ q))[0]  # the scope's own best leaves
    await index.remove([gone])
    vecs.pop(gone)
    assert [m for m, _ in await index.nearest(q, 5, scope)] == top(q, scope) and gone not in top(q, scope)
    await index.upsert([(gone, q)])  # and comes back as the query itself
    vecs[gone] = q
    assert (await index.nearest(q, 5, scope))[0][0] == gone and len({id(labels) for labels in listed}) == 3


async def test_a_scopes_next_set_after_adds_looks_up_only_the_added_ids(hnsw: HnswIndex, rng) -> None:
    vecs = unit(rng, 400)
    await hnsw.upsert([(f"m{i}", v) for i, v in enumerate(vecs[:300])])
    looked_up: list[int] = []
    real = hnsw._labels_of_ids
    hnsw._labels_of_ids = lambda ids: (looked_up.append(len(ids)), real(ids))[1]  # type: ignore[method-assign]

    def exact(q: np.ndarray, allowed: set[str]) -> list[str]:
        return sorted(allowed, key=lambda m: -float(vecs[int(m[1:])] @ q))[:5]

    mine = {f"m{i}" for i in range(0, 300, 3)}
    q = vecs[7]
    assert [m for m, _ in await hnsw.nearest(q, 5, allow=ScopeIds(mine, "alice"))] == exact(q, mine)
    assert looked_up == [100]
    # the user adds two memories, then searches: the catalog hands a new set for the same scope
    await hnsw.upsert([("m300", vecs[300]), ("m301", vecs[301])])
    grown = mine | {"m300", "m301"}
    allowed = ScopeIds(grown, "alice")  # the catalog hands the same set until the scope changes
    for q in (vecs[300], vecs[8]):
        assert [m for m, _ in await hnsw.nearest(q, 5, allow=allowed)] == exact(q, grown)
    assert looked_up == [100, 2]  # only the added ids; the same set again costs nothing
    # a memory's vector changed in place (its label stands): the next set needs no look-up
    moved = vecs[301] + 0.2 * vecs[5]
    vecs[0] = moved / np.linalg.norm(moved)  # now near m301, and m0 was far from it
    await hnsw.upsert([("m0", vecs[0])])
    q = vecs[301]
    assert [m for m, _ in await hnsw.nearest(q, 5, allow=ScopeIds(set(grown), "alice"))] == exact(q, grown)
    assert looked_up[-1] == 0
    # a memory left the scope (deleted): looked up afresh, and the other scope's sets are apart
    await hnsw.remove(["m3"])
    fewer = grown - {"m3"}
    assert [m for m, _ in await hnsw.nearest(q, 5, allow=ScopeIds(fewer, "alice"))] == exact(q, fewer)
    assert looked_up[-1] == 101
    theirs = {f"m{i}" for i in range(1, 300, 3)}
    assert [m for m, _ in await hnsw.nearest(q, 5, allow=ScopeIds(theirs, "bob"))] == exact(q, theirs)
    assert looked_up[-1] == 100


async def test_a_scan_prepared_while_the_query_is_embedded_answers_as_an_unprepared_one(rng) -> None:
    vecs = unit(rng, 3000)
    index = HnswIndex(None, dimension=DIM, initial_capacity=16)
    await index.upsert([(f"m{i}", v) for i, v in enumerate(vecs)])
    mine = ScopeIds({f"m{i}" for i in range(0, 3000, 3)}, "alice")
    gathered_at_scan: list[int] = []
    real = index._mirror.scores
    index._mirror.scores = lambda labels, *a: (gathered_at_scan.append(len(labels)), real(labels, *a))[1]  # type: ignore[method-assign]
    for q in unit(rng, 5):
        scan = await index.prepare(mine)
        prepared = await index.nearest(q, k=20, allow=mine, exact=False, prepared=scan)
        assert gathered_at_scan == []  # scored from the rows gathered beforehand
        assert prepared == await index.nearest(q, k=20, allow=mine, exact=False)  # this one unprepared
        assert gathered_at_scan == [1000]
        assert [m for m, _ in await index.nearest(q, k=20, allow=mine)] == exact_top(vecs, mine, q, 20)
        gathered_at_scan.clear()


@pytest.mark.parametrize("change", ["rewritten", "removed", "added"])
async def test_a_prepared_scan_sees_the_writes_made_before_its_query_arrives(rng, change: str) -> None:
    vecs = unit(rng, 600)
    index = HnswIndex(None, dimension=DIM, initial_capacity=16)
    await index.upsert([(f"m{i}", v) for i, v in enumerate(vecs)])
    ids = {f"m{i}" for i in range(0, 600, 2)}
    q = unit(rng)[0]
    before = ScopeIds(ids, "alice")
    gone = exact_top(vecs, ids, q, 1)[0]
    scan = await index.prepare(before)
    if change == "rewritten":  # m0 now is the query itself, under its old label
        await index.upsert([("m0", q)])
        after = before  # the same ids: the catalog hands the same set
    elif change == "removed":  # the best match leaves
        await index.remove([gone])
        after = ScopeIds(ids - {gone}, "alice")
    else:
        await index.upsert([("new", q)])
        after = ScopeIds(ids | {"new"}, "alice")
    hits = await index.nearest(q, k=5, allow=after, exact=False, prepared=scan)
    if change == "removed":
        assert gone not in [m for m, _ in hits]
    else:
        assert hits[0][0] == ("m0" if change == "rewritten" else "new") and hits[0][1] == pytest.approx(1.0, abs=3e-3)


async def test_a_scan_prepared_before_a_reload_is_not_used_after_it(tmp_path: Path, rng) -> None:
    vecs = unit(rng, 300)
    index = HnswIndex(tmp_path / "vectors", dimension=DIM, initial_capacity=16)
    await index.upsert([(f"m{i}", v) for i, v in enumerate(vecs)])
    await index.save(1)
    mine = ScopeIds({f"m{i}" for i in range(0, 300, 2)}, "alice")
    await index.upsert([("m0", vecs[1])])
    scan = await index.prepare(mine)
    assert await index.load() == 1  # the saved state comes back, m0 as it was saved
    q = vecs[1]
    hits = await index.nearest(q, k=3, allow=mine, exact=False, prepared=scan)
    assert [m for m, _ in hits] == exact_top(vecs, mine, q, 3)


async def test_a_set_too_large_to_scan_prepares_nothing(rng) -> None:
    index = HnswIndex(None, dimension=DIM, initial_capacity=16, exact_max=100)
    await index.upsert([(f"m{i}", v) for i, v in enumerate(unit(rng, 300))])
    assert await index.prepare(ScopeIds({f"m{i}" for i in range(200)}, "alice")) is None
    assert await index.prepare(None) is None


async def test_arranging_a_loaded_snapshot_by_owner_changes_no_answer(tmp_path: Path, rng) -> None:
    vecs = unit(rng, 3000)
    index = HnswIndex(tmp_path / "vectors", dimension=DIM, initial_capacity=8)
    ids = [f"m{i}" for i in range(3000)]
    await index.upsert(list(zip(ids, vecs)))
    await index.save(1)
    saved_without_copy(tmp_path / "vectors")
    loaded = HnswIndex(tmp_path / "vectors", dimension=DIM)
    assert await loaded.load() == 1  # its copy for scans is still being filled in the background
    owners = [ScopeIds((f"m{i}" for i in range(owner, 3000, 3)), f"user{owner}") for owner in range(3)]
    queries = unit(rng, 5)
    before = [await loaded.nearest(q, k=10, allow=owner) for q in queries for owner in owners]
    await loaded.arrange([m for owner in owners for m in sorted(owner)] + ["gone"])
    assert loaded._warming is not None and loaded._warming.done()  # waited for the copy to be whole
    assert [await loaded.nearest(q, k=10, allow=owner) for q in queries for owner in owners] == before
    first = sorted(owners[0])
    # one owner's rows now lie together, and its next scan reads them in that order
    slots = loaded._mirror._slot_of[[loaded._id_to_label[m] for m in first]]
    assert sorted(slots.tolist()) == list(range(1000))
    assert np.array_equal(np.diff(loaded._mirror._slot_of[loaded._labels_of(owners[0])]), np.ones(999))
    assert [m for m, _ in await loaded.nearest(queries[0], k=10, allow=owners[0])] == exact_top(
        vecs, set(owners[0]), queries[0], 10)


async def test_searches_and_writes_go_on_while_an_arrangement_is_laid_out_and_the_writes_are_kept(
    rng, monkeypatch: pytest.MonkeyPatch
) -> None:
    vecs = unit(rng, 2002)
    index = HnswIndex(None, dimension=DIM, initial_capacity=8)
    await index.upsert([(f"m{i}", v) for i, v in enumerate(vecs[:2000])])
    owners = [ScopeIds((f"m{i}" for i in range(owner, 2000, 2)), f"user{owner}") for owner in range(2)]
    order = [m for owner in owners for m in sorted(owner)]
    making, go = threading.Event(), threading.Event()
    lay_out = index._mirror.lay_out

    def held(*args):  # laid out (in the index's thread), then held there until told
        made = lay_out(*args)
        making.set()
        assert go.wait(10)
        return made

    monkeypatch.setattr(index._mirror, "lay_out", held)
    arranging = asyncio.create_task(index.arrange(order))
    assert await asyncio.to_thread(making.wait, 10)
    # a search and writes meanwhile answer at once (before, the arrangement held the write lock)
    hits = await asyncio.wait_for(index.nearest(vecs[4], k=3, allow=owners[0]), 5)
    assert hits[0][0] == "m4"
    await asyncio.wait_for(index.upsert([("m2000", vecs[2000]), ("m3", vecs[2001])]), 5)
    await asyncio.wait_for(index.remove(["m5"]), 5)
    go.set()
    await asyncio.wait_for(arranging, 10)
    # laid out from the copy before those writes, and taken with them
    near = {f"m{i}" for i in range(1, 2000, 2)} | {"m2000"}
    best, score = (await index.nearest(vecs[2000], k=1, allow=near, exact=False))[0]  # from the int8 copy
    assert best == "m2000" and score > 0.99
    best, score = (await index.nearest(vecs[2001], k=1, allow=owners[1], exact=False))[0]
    assert best == "m3" and score > 0.99  # its new vector
    assert "m5" not in {m for m, _ in await index.nearest(vecs[5], k=5, allow=owners[1], exact=False)}
    slots = index._mirror._slot_of[[index._id_to_label[m] for m in sorted(owners[0])]]
    assert sorted(slots.tolist()) == list(range(1000))
    rest = sorted(owners[1] - {"m5"})
    assert [m for m, _ in await index.nearest(vecs[7], k=5, allow=set(rest))] == exact_top(
        np.concatenate([vecs[:3], vecs[2001:2002], vecs[4:2000]]), set(rest), vecs[7], 5)


async def test_arrangements_racing_writes_leave_the_copy_equal_to_the_vectors(rng) -> None:
    index = HnswIndex(None, dimension=DIM, initial_capacity=8)
    current = {f"m{i}": v for i, v in enumerate(unit(rng, 3000))}
    await index.upsert(list(current.items()))
    fresh = iter(range(3000, 10_000))
    for _ in range(6):
        ids = sorted(current)
        arranging = asyncio.create_task(index.arrange(list(rng.permutation(ids))))
        while not arranging.done():  # writes of every kind while it is laid out (unlocked)
            added = {f"m{next(fresh)}": v for v in unit(rng, 40)}  # new rows: the copy grows too
            rewritten = {m: v for m, v in zip(rng.choice(sorted(current), 20, replace=False), unit(rng, 20))}
            await index.upsert(list({**added, **rewritten}.items()))
            current.update(added)
            current.update(rewritten)
            gone = list(rng.choice(sorted(current), 10, replace=False))
            await index.remove(gone)
            for m in gone:
                del current[m]
            await asyncio.sleep(0)
        await arranging
        mirror, labels = index._mirror, index._id_to_label
        assert set(labels) == set(current)
        slots = mirror._slots(np.array(list(labels.values()))).tolist()
        assert sorted(slots + mirror._free) == list(range(mirror._used))  # one slot each, or free
        q = unit(rng)[0]
        live = list(current)
        copied = mirror.scores([labels[m] for m in live], q, lambda _: pytest.fail("a live row not copied"))
        assert np.allclose(copied, np.array([current[m] for m in live]) @ q, atol=1e-2)  # int8 of 16-d rows


async def test_a_loaded_snapshot_brings_its_int8_copy_and_scans_it_without_hnswlib(tmp_path: Path, rng) -> None:
    vecs = unit(rng, 600)
    saved = HnswIndex(tmp_path / "v", dimension=DIM)
    ids = [f"m{i}" for i in range(600)]
    await saved.upsert(list(zip(ids, vecs)))
    await saved.remove(["m3"])
    await saved.save(7)
    owner = ScopeIds((f"m{i}" for i in range(0, 600, 2)), "user0")
    queries = unit(rng, 4)
    expected = [await saved.nearest(q, k=5, allow=owner, exact=False) for q in queries]

    loaded = HnswIndex(tmp_path / "v", dimension=DIM)
    assert await loaded.load() == 7
    assert loaded._warming is None  # nothing left to copy from hnswlib
    labels = [loaded._id_to_label[m] for m in ids if m != "m3"]
    rows, scale = loaded._mirror.rows_of(labels)
    want_rows, want_scale = saved._mirror.rows_of([saved._id_to_label[m] for m in ids if m != "m3"])
    assert np.array_equal(np.concatenate(list(rows)), np.concatenate(list(want_rows)))
    assert np.array_equal(scale, want_scale)

    def no_reads_from_hnswlib(labels: list[int]) -> np.ndarray:
        raise AssertionError("read from hnswlib")

    loaded._stored = no_reads_from_hnswlib  # type: ignore[method-assign]
    assert [await loaded.nearest(q, k=5, allow=owner, exact=False) for q in queries] == expected


async def test_a_damaged_or_missing_copy_is_made_again_and_the_index_still_loads(tmp_path: Path, rng) -> None:
    vecs = unit(rng, 300)
    saved = HnswIndex(tmp_path / "v", dimension=DIM)
    await saved.upsert([(f"m{i}", v) for i, v in enumerate(vecs)])
    await saved.save(3)
    manifest = json.loads((tmp_path / "v" / files.MANIFEST).read_bytes())
    copy = tmp_path / "v" / manifest["mirror_file"]
    copy.write_bytes(copy.read_bytes()[:-10] + b"0123456789")  # same size, other bytes
    damaged = HnswIndex(tmp_path / "v", dimension=DIM)
    assert await damaged.load() == 3 and await damaged.count() == 300
    assert damaged._warming is not None
    await damaged._warming
    assert (await damaged.nearest(vecs[5], k=1, allow=ScopeIds({"m5", "m6"}, "u")))[0][0] == "m5"
    assert damaged._mirror.rows_of([damaged._id_to_label[f"m{i}"] for i in range(300)]) is not None

    saved_without_copy(tmp_path / "v")
    older = HnswIndex(tmp_path / "v", dimension=DIM)
    assert await older.load() == 3 and older._warming is not None
    await older._warming
    assert (await older.nearest(vecs[7], k=1, allow=ScopeIds({"m7", "m8"}, "u")))[0][0] == "m7"


async def test_an_empty_index_saves_and_loads(tmp_path: Path, rng) -> None:
    empty = HnswIndex(tmp_path / "v", dimension=DIM)
    await empty.save(0)
    loaded = HnswIndex(tmp_path / "v", dimension=DIM)
    assert await loaded.load() == 0 and await loaded.count() == 0
    vec = unit(rng)[0]
    await loaded.upsert([("first", vec)])
    assert (await loaded.nearest(vec, k=1, allow=ScopeIds({"first"}, "u")))[0][0] == "first"


@pytest.mark.parametrize("field, name", [("index_file", "../index-x.bin"), ("ids_file", "mirror-x.bin"),
                                         ("mirror_file", "ids-x.json"), ("mirror_file", "mirror-/x")])
async def test_a_manifest_naming_a_file_outside_its_generation_is_not_loaded(
    tmp_path: Path, rng, field: str, name: str
) -> None:
    saved = HnswIndex(tmp_path / "v", dimension=DIM)
    await saved.upsert([("a", unit(rng)[0])])
    await saved.save(1)
    manifest = json.loads((tmp_path / "v" / files.MANIFEST).read_bytes())
    manifest[field] = name
    (tmp_path / "v" / files.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(files.Unusable, match="unexpected file"):
        files.read_manifest(tmp_path / "v", DIM)
    assert await HnswIndex(tmp_path / "v", dimension=DIM).load() is None


# --- a bulk load's graph, built in the background ------------------------------------------------


def brute_top(vectors: dict[str, np.ndarray], q: np.ndarray, k: int, allowed=None) -> list[str]:
    q = q / np.linalg.norm(q)
    scored = {m: float(v @ q) / float(np.linalg.norm(v)) for m, v in vectors.items() if allowed is None or allowed(m)}
    return sorted(scored, key=lambda m: -scored[m])[:k]


async def test_a_bulk_load_is_searched_exactly_while_its_graph_is_built_then_by_the_graph(rng, held_build) -> None:
    vecs = unit(rng, 4000, 64)
    live = {f"m{i}": v for i, v in enumerate(vecs)}
    index = HnswIndex(None, dimension=64, initial_capacity=16, exact_max=100)
    await index.upsert(list(live.items()))
    done, total = index.building() or (-1, -1)
    assert total == 4000 and 0 <= done <= total  # the load returned before its graph was built
    big = frozenset(f"m{i}" for i in range(0, 4000, 2))  # past exact_max: the graph's, once built
    for q in unit(rng, 5, 64):
        assert [m for m, _ in await index.nearest(q, 10)] == brute_top(live, q, 10)
        assert [m for m, _ in await index.nearest(q, 10, big)] == brute_top(live, q, 10, big.__contains__)
        odd = lambda m: int(m[1:]) % 2 == 1  # noqa: E731
        hits = await index.nearest(q, 10, odd)
        assert [m for m, _ in hits] == brute_top(live, q, 10, odd)
        assert all(s == pytest.approx(float(live[m] @ q), abs=1e-5) for m, s in hits)  # exact scores
    assert index.building() is not None
    held_build.set()
    await index.settled()
    assert index.building() is None
    assert index._index.get_current_count() == 4000  # the graph holds them all now
    found = 0
    for q in unit(rng, 20, 64):
        found += len({m for m, _ in await index.nearest(q, 10)} & set(brute_top(live, q, 10)))
    assert found >= 0.9 * 200  # the graph's approximate answers


async def test_writes_during_the_background_build_reach_the_graph_in_order(rng, held_build) -> None:
    vecs = unit(rng, 3000, 32)
    live = {f"m{i}": v for i, v in enumerate(vecs)}
    index = HnswIndex(None, dimension=32, initial_capacity=16)
    await index.upsert(list(live.items()))
    assert index.building() is not None
    replaced = {f"m{i}": v for i, v in zip(range(0, 3000, 100), unit(rng, 30, 32))}
    await index.upsert(list(replaced.items()))  # rewrites of staged ids
    await index.remove([f"m{i}" for i in range(1, 3000, 100)])
    added = {f"n{i}": v for i, v in enumerate(unit(rng, 20, 32))}
    await index.upsert(list(added.items()))
    await index.remove(["n0", "n1"])  # added and removed, perhaps before the builder got to them
    await index.upsert([("n0", added["n0"])])  # and back, under a new label
    live |= replaced | added
    for gone in [f"m{i}" for i in range(1, 3000, 100)] + ["n1"]:
        del live[gone]
    assert index.building() is not None
    for q in list(unit(rng, 3, 32)) + [replaced["m100"], added["n5"]]:
        assert [m for m, _ in await index.nearest(q, 10)] == brute_top(live, q, 10)
    held_build.set()
    await index.settled()
    assert index.building() is None and await index.ids() == set(live)
    graph = index._index
    labels = {mid: index._id_to_label[mid] for mid in live}
    stored = np.asarray(graph.get_items(list(labels.values())))
    assert stored == pytest.approx(np.stack([live[m] for m in labels]), abs=1e-5)  # each id's latest vector
    for label in range(3020):  # the labels of removed ids: deleted in the graph, or never added
        if label not in labels.values():
            with pytest.raises(RuntimeError):
                graph.get_items([label])
    every = await index.nearest(replaced["m100"], 3100)
    assert {m for m, _ in every} == set(live)  # a walk of the whole graph: no removed id in it
    slots = graph.get_current_count()
    await index.upsert([("z", unit(rng, 1, 32)[0])])  # after the build: straight into the graph
    assert index.building() is None
    assert graph.get_current_count() == max(slots, len(live) + 1)  # a deleted slot, where there is one, reused


async def test_a_save_during_the_build_waits_for_the_graph_and_loads_whole(tmp_path: Path, rng) -> None:
    vecs = unit(rng, 2500, 32)
    index = HnswIndex(tmp_path / "vectors", dimension=32, initial_capacity=16)
    await index.upsert([(f"m{i}", v) for i, v in enumerate(vecs)])
    assert index.building() is not None
    await index.save(42)
    assert index.building() is None
    loaded = HnswIndex(tmp_path / "vectors", dimension=32)
    assert await loaded.load() == 42 and await loaded.count() == 2500
    assert loaded._index.get_current_count() == 2500
    hits = await loaded.nearest(vecs[7], 1)
    assert hits[0][0] == "m7"


async def test_clearing_or_loading_during_the_build_ends_it(tmp_path: Path, rng) -> None:
    index = HnswIndex(tmp_path / "vectors", dimension=32, initial_capacity=16)
    await index.upsert([(f"m{i}", v) for i, v in enumerate(unit(rng, 2000, 32))])
    assert index.building() is not None
    await index.clear()
    assert index.building() is None and await index.count() == 0
    await index.upsert([("a", unit(rng, 1, 32)[0])])  # a small write: straight into the graph
    assert index.building() is None and [m for m, _ in await index.nearest(unit(rng, 1, 32)[0], 5)] == ["a"]
    await index.clear()
    await index.upsert([(f"m{i}", v) for i, v in enumerate(unit(rng, 2000, 32))])
    assert index.building() is not None
    assert await index.load() is None  # nothing saved: empty, and the build is over
    assert index.building() is None and await index.count() == 0
    await index.close()


@pytest.mark.parametrize("count", [0, 1, 4096, 4097, 10_000])
def test_the_ids_file_written_a_slice_at_a_time_reads_back_whole(tmp_path: Path, count: int) -> None:
    labels = np.arange(count, dtype=np.int64)[::-1] * 3
    ids = {int(label): f"id-{label}-\u00e9\"q" for label in labels}  # JSON escapes must survive slicing
    files.write_ids(tmp_path / "ids.json", labels, ids)
    assert files.read_ids(tmp_path / "ids.json") == ids
    assert list(json.loads((tmp_path / "ids.json").read_bytes())["labels"]) == labels.tolist()  # in the order given


async def test_an_id_rewritten_during_the_build_after_removes_keeps_one_element_in_the_graph(rng, held_build) -> None:
    # hnswlib puts a label added with replace_deleted into a deleted element's place without
    # looking for the label elsewhere: a rewrite of a label the graph has must go in place
    vecs = unit(rng, 6000, 64)
    live = {f"m{i}": v for i, v in enumerate(vecs)}
    index = HnswIndex(None, dimension=64, initial_capacity=16)
    await index.upsert(list(live.items()))
    while index.building()[0] < 2000:  # the builder has taken its first step (and waits to write it)
        await asyncio.sleep(0.001)
    await index.remove([f"m{i}" for i in range(100, 110)])  # in the graph by the time the builder deletes them
    rewritten = {f"m{i}": v for i, v in zip(range(0, 20), unit(rng, 20, 64))}  # in the graph too
    await index.upsert(list(rewritten.items()))
    assert index.building() is not None
    held_build.set()
    live |= rewritten
    for i in range(100, 110):
        del live[f"m{i}"]
    await index.settled()
    every = [m for m, _ in await index.nearest(vecs[0], 6000)]
    assert len(every) == len(set(every)) == len(live) and set(every) == set(live)  # each id once
    for mid, vector in rewritten.items():
        assert (await index.nearest(vector, 1))[0] == (mid, pytest.approx(1.0, abs=1e-5))


async def test_a_failed_build_leaves_exact_searches_and_saves_nothing(tmp_path: Path, rng, monkeypatch, caplog) -> None:
    import vector.hnsw as hnsw_module

    applied = hnsw_module._apply_step
    calls = []

    def broken(graph, step) -> None:  # fails once: a second builder would then skip that step's writes
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("out of memory")
        applied(graph, step)

    monkeypatch.setattr(hnsw_module, "_apply_step", broken)
    vecs = unit(rng, 1500, 32)
    live = {f"m{i}": v for i, v in enumerate(vecs)}
    index = HnswIndex(tmp_path / "vectors", dimension=32, initial_capacity=16)
    await index.upsert(list(live.items()))
    await index.settled()  # returns: the build is over, though it failed
    assert "building the vector index's graph failed" in caplog.text
    q = unit(rng, 1, 32)[0]
    assert [m for m, _ in await index.nearest(q, 10)] == brute_top(live, q, 10)
    await index.save(3)
    assert not (tmp_path / "vectors" / files.MANIFEST).exists()  # no half-built graph on disk
    later = {f"n{i}": v for i, v in enumerate(unit(rng, 5, 32))}
    await index.upsert(list(later.items()))  # no second builder to skip the failed step's writes
    await index.settled()
    assert index.building() is not None
    live |= later
    for q in [later["n2"], *unit(rng, 3, 32)]:
        assert [m for m, _ in await index.nearest(q, 10)] == brute_top(live, q, 10)
    assert (await index.similarities(later["n2"], ["n2", "m7"]))["n2"] == pytest.approx(1.0, abs=1e-5)


async def test_a_clear_whose_caller_gave_up_mid_build_still_lands_and_the_next_build_is_whole(rng, monkeypatch) -> None:
    import time

    import vector.hnsw as hnsw_module

    applied = hnsw_module._apply_step

    def slow(graph, step) -> None:  # a step still being written when the clear comes
        time.sleep(0.1)
        applied(graph, step)

    monkeypatch.setattr(hnsw_module, "_apply_step", slow)
    index = HnswIndex(None, dimension=32, initial_capacity=16)
    await index.upsert([(f"old{i}", v) for i, v in enumerate(unit(rng, 2500, 32))])
    await asyncio.sleep(0.02)
    clearing = asyncio.create_task(index.clear())
    await asyncio.sleep(0)
    clearing.cancel()
    await asyncio.gather(clearing, return_exceptions=True)
    live = {f"m{i}": v for i, v in enumerate(unit(rng, 2500, 32))}
    await index.upsert(list(live.items()))
    assert await index.ids() == set(live)  # the clear landed before this load
    await index.settled()
    graph = index._index
    assert index.building() is None and graph.get_current_count() == 2500  # only this load's vectors
    assert np.asarray(graph.get_items([index._id_to_label[m] for m in live])) == pytest.approx(np.stack(list(live.values())), abs=1e-5)
