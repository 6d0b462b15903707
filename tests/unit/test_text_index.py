"""The in-memory word and mention index that search's lexical and graph channels read."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import asyncio
import math
import random

import numpy as np
import pytest

import memory.text_index as text_index
from memory.models import Message, Scope
from memory.ports import TextRow
from memory.rwlock import RWLock
from memory.ranking import SearchMode
from memory.service import MemoryService, ServiceOptions
from memory.text_index import TextIndex
from tests.fakes.embedder import HashingEmbedder
from tests.fakes.index import BruteForceIndex
from tests.fakes.repository import InMemoryRepository

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
ALICE = Scope(user_id="alice")
BOB = Scope(user_id="bob")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def row(id: str, text: str, scope: Scope = ALICE, valid: bool = True, at: int = 0,
        expires: datetime | None = None) -> TextRow:
    return TextRow(id, scope, valid, text, T0 + timedelta(seconds=at), expires)


async def ids(index: TextIndex, scope: Scope, *terms: str, k: int = 10, wide: bool = False) -> list[str]:
    return [id for id, _ in await index.lexical_search(scope, list(terms), k, wide)]


async def test_words_match_across_endings_and_stop_words_match_nothing() -> None:
    index = TextIndex()
    index.put(row("m1", "We went hiking in the Alps"))
    index.put(row("m2", "She hikes every weekend"))
    index.put(row("m3", "The weather was fine"))
    assert set(await ids(index, ALICE, "hike")) == {"m1", "m2"}
    assert await ids(index, ALICE, "the", "was") == []
    assert await ids(index, ALICE, 'weather" OR "alps', "*") == []  # no term is query syntax


async def test_each_term_weighs_by_its_own_rarity_in_the_scope() -> None:
    index = TextIndex()
    # four words each, none repeated: every score is the sum of its terms' idf (BM25 with
    # tf 1 and every length at the mean)
    for id, text in (("m1", "cat fox elk yak"), ("m2", "cat gnu elk yak"), ("m3", "owl fox elk yak"),
                     ("m4", "cat fox gnu yak"), ("m5", "owl cat emu yak")):
        index.put(row(id, text))
    index.put(row("b1", "owl owl owl cat", scope=BOB))  # another user's counts move nothing

    def idf(matches: int, total: int = 5) -> float:
        return math.log(1 + (total - matches + 0.5) / (matches + 0.5))

    found = dict(await index.lexical_search(ALICE, ["cat", "owl"], 10))
    assert found.keys() == {"m1", "m2", "m3", "m4", "m5"}
    assert found["m5"] == pytest.approx(idf(4) + idf(2), rel=1e-6)  # both words
    assert found["m3"] == pytest.approx(idf(2), rel=1e-6)  # the rare word alone...
    for common in ("m1", "m2", "m4"):
        assert found[common] == pytest.approx(idf(4), rel=1e-6)  # ...outweighs the common one
    assert await ids(index, ALICE, "cat", "owl") == ["m5", "m3", "m1", "m2", "m4"]


async def test_a_tenants_scores_do_not_move_with_other_tenants_texts() -> None:
    alone, shared = TextIndex(), TextIndex()
    for index in (alone, shared):
        index.put(row("a1", "my violin lessons start monday"))
        index.put(row("a2", "the orchestra needs a second violin and a cello"))
        index.put(row("a3", "lunch was pasta"))
    for i in range(50):
        shared.put(row(f"b{i}", f"violin practice number {i}", BOB))
    assert await alone.lexical_search(ALICE, ["violin", "cello"], 10) == \
        await shared.lexical_search(ALICE, ["violin", "cello"], 10)
    assert set(await ids(shared, BOB, "violin", k=100)) == {f"b{i}" for i in range(50)}


async def test_scopes_are_exact_for_user_agent_and_run() -> None:
    index = TextIndex()
    index.put(row("u", "tea at noon", Scope("alice")))
    index.put(row("ua", "tea with the agent", Scope("alice", "helper")))
    index.put(row("uar", "tea in this run", Scope("alice", "helper", "r1")))
    index.put(row("other", "tea elsewhere", Scope("bob", "helper", "r1")))
    assert set(await ids(index, Scope("alice"), "tea")) == {"u", "ua", "uar"}
    assert set(await ids(index, Scope("alice", "helper"), "tea")) == {"ua", "uar"}
    assert await ids(index, Scope(run_id="r1", user_id="alice"), "tea") == ["uar"]
    assert set(await ids(index, Scope(agent_id="helper"), "tea")) == {"ua", "uar", "other"}
    assert await ids(index, Scope("carol"), "tea") == []


async def test_validity_scope_and_expiry_change_in_place_and_text_changes_move_the_words() -> None:
    clock = Clock()
    index = TextIndex(clock)
    index.put(row("m", "Caroline adopted a greyhound", expires=T0 + timedelta(hours=1)))
    assert await ids(index, ALICE, "greyhound") == ["m"]
    assert await index.mention_counts(ALICE, ["caroline"]) == {"caroline": 1}
    clock.now = T0 + timedelta(hours=2)  # gone at its expiry, before any sweep
    assert await ids(index, ALICE, "greyhound") == [] and await index.mentioning(ALICE, ["caroline"], 5) == []
    assert await ids(index, ALICE, "greyhound", wide=True) == ["m"]
    index.put(row("m", "Caroline adopted a greyhound", valid=False))
    assert await ids(index, ALICE, "greyhound") == [] and await ids(index, ALICE, "greyhound", wide=True) == ["m"]
    index.put(row("m", "Caroline adopted a greyhound", BOB))
    assert await ids(index, ALICE, "greyhound", wide=True) == [] and await ids(index, BOB, "greyhound") == ["m"]
    index.put(row("m", "Melanie bought a kayak", BOB))
    assert await ids(index, BOB, "greyhound") == [] and await ids(index, BOB, "kayak") == ["m"]
    assert await index.mentions(["m"]) == {"m": ["melanie"]}
    assert await index.mention_counts(BOB, ["caroline", "melanie"]) == {"melanie": 1}
    index.drop("m")
    assert await ids(index, BOB, "kayak") == [] and await index.mentions(["m"]) == {} and len(index) == 0


async def test_answers_survive_compaction_of_many_replaced_texts() -> None:
    index, fresh = TextIndex(), TextIndex()
    for i in range(1500):
        index.put(row(f"m{i}", f"draft {i} about rowing"))
    for i in range(1500):
        if i % 3:
            index.drop(f"m{i}")
        else:
            index.put(row(f"m{i}", f"final {i} about sailing with Dana", at=i))
            fresh.put(row(f"m{i}", f"final {i} about sailing with Dana", at=i))
    assert index._tombstones < 1500  # compacted meanwhile (1,000 removals at the latest)
    assert len(index) == len(fresh) == 500
    assert await ids(index, ALICE, "rowing") == []
    assert await index.lexical_search(ALICE, ["sailing", "final"], 20) == \
        await fresh.lexical_search(ALICE, ["sailing", "final"], 20)
    assert await index.mentioning(ALICE, ["dana"], 7) == await fresh.mentioning(ALICE, ["dana"], 7)
    assert await index.mention_counts(ALICE, ["dana"]) == {"dana": 500}
    # each memory's own keys moved with it to its new doc number; the dropped ones name nothing
    assert await index.mentions(["m0", "m1497", "m1", "m1498"]) == {"m0": ["dana"], "m1497": ["dana"]}


async def test_replacing_texts_alone_compacts_too() -> None:
    index = TextIndex()
    index.put(row("m", "version 0 of the plan"))
    for i in range(1, 2500):
        index.put(row("m", f"version {i} of the plan"))
    assert index._tombstones <= 1001 and len(index._ids) <= 1002
    assert await ids(index, ALICE, "2499") == ["m"] and await ids(index, ALICE, "17") == []


async def test_mentioning_orders_by_keys_named_then_newest_then_id() -> None:
    index = TextIndex()
    index.put(row("old", "Caroline met Biscuit", at=1))
    index.put(row("new", "Caroline phoned", at=5))
    index.put(row("twin-b", "Caroline waved", at=3))
    index.put(row("twin-a", "Caroline smiled", at=3))
    assert await index.mentioning(ALICE, ["caroline", "biscuit"], 10) == ["old", "new", "twin-a", "twin-b"]
    assert await index.mentioning(ALICE, ["caroline"], 2) == ["new", "twin-a"]


async def test_fill_reads_sql_a_page_at_a_time_and_equals_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    repo = InMemoryRepository()
    svc = MemoryService(repo, BruteForceIndex(), HashingEmbedder())
    await svc.start()
    for text in ("Jon plays chess", "Gina opened a dance studio", "Jon and Gina met at the studio"):
        await svc.add([Message("user", text)], ALICE, infer=False)
    pages: list[int] = []

    async def text_rows(after: str | None, limit: int) -> list[TextRow]:
        rows = await repo.text_rows(after, limit)
        pages.append(len(rows))
        return rows

    monkeypatch.setattr(text_index, "FILL_PAGE", 2)
    filled = TextIndex()
    await filled.fill(text_rows)
    assert pages == [2, 1]
    assert await filled.lexical_search(ALICE, ["studio", "chess"], 5) == \
        await svc.searcher._text.lexical_search(ALICE, ["studio", "chess"], 5)
    assert await filled.mention_counts(ALICE, ["jon", "gina"]) == {"jon": 2, "gina": 2}
    await svc.stop()


async def test_a_restarted_service_finds_by_words_what_sql_holds() -> None:
    repo = InMemoryRepository()
    first = MemoryService(repo, BruteForceIndex(), HashingEmbedder())
    await first.start()
    added = await first.add([Message("user", "The greenhouse tomatoes ripened")], ALICE, infer=False)
    await first.stop()
    second = MemoryService(repo, BruteForceIndex(), HashingEmbedder())
    await second.start()
    assert await second.text_index_built()
    hits = (await second.search("tomato", ALICE, mode=SearchMode.LEXICAL)).hits
    assert [h.record.id for h in hits] == [added.results[0].id]
    await second.stop()


@pytest.mark.parametrize("in_memory", [True, False])
async def test_a_replica_finds_by_words_what_another_wrote(in_memory: bool) -> None:
    shared = InMemoryRepository()
    options = ServiceOptions(sync_interval_s=0, text_index=in_memory)
    a = MemoryService(shared, BruteForceIndex(), HashingEmbedder(), options=options)
    b = MemoryService(shared, BruteForceIndex(), HashingEmbedder(), options=options)
    await a.start()
    await b.start()
    added = await a.add([Message("user", "Maria fixed the bicycle")], ALICE, infer=False)
    await b.follower.catch_up()
    found = await b.search("bicycle", ALICE, mode=SearchMode.LEXICAL)
    assert [h.record.id for h in found.hits] == [added.results[0].id]
    await a.update(added.results[0].id, text="Maria sold the bicycle and bought a scooter")
    await b.follower.catch_up()
    assert [h.record.id for h in (await b.search("scooter", ALICE, mode=SearchMode.LEXICAL)).hits] == \
        [added.results[0].id]
    await a.delete(added.results[0].id)
    await b.follower.catch_up()
    assert (await b.search("scooter", ALICE, mode=SearchMode.LEXICAL)).hits == []
    for s in (a, b):
        await s.stop()


class Sql:
    """Rows by id, read a page at a time like `MemoryRepository.text_rows`; a page can be held."""

    def __init__(self, rows: list[TextRow]) -> None:
        self.rows = {r.id: r for r in rows}
        self.asked = asyncio.Event()
        self.go_on = asyncio.Event()
        self.lexical_calls = 0

    async def text_rows(self, after: str | None, limit: int) -> list[TextRow]:
        page = [self.rows[id] for id in sorted(self.rows) if after is None or id > after][:limit]
        if after is not None and not self.go_on.is_set():  # hold the second page
            self.asked.set()
            await self.go_on.wait()
        return page

    async def lexical_search(self, scope: Scope, terms: list[str], k: int, include_invalidated: bool = False):
        self.lexical_calls += 1
        return []


async def test_a_fill_answers_from_sql_until_built_and_loses_no_write_made_meanwhile(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_index, "FILL_PAGE", 2)
    sql = Sql([row(f"m{i}", f"kite number {i}") for i in range(5)])
    gate = RWLock()
    index = TextIndex(fallback=sql)  # type: ignore[arg-type]
    filling = asyncio.create_task(index.fill(sql.text_rows, gate.exclusive))
    await sql.asked.wait()  # the second page is being read, under the gate
    assert not index.ready
    assert await index.lexical_search(ALICE, ["kite"], 10) == [] and sql.lexical_calls == 1

    async def writer() -> None:  # as the committer: SQL first, then the index, holding the gate shared
        async with gate.shared():
            del sql.rows["m3"]
            index.drop("m3")
            sql.rows["m9"] = row("m9", "kite festival")
            index.put(sql.rows["m9"])

    writing = asyncio.create_task(writer())
    await asyncio.sleep(0)
    assert not writing.done()  # waits for the page being read
    sql.go_on.set()
    await filling
    await writing
    assert index.ready
    assert set(await ids(index, ALICE, "kite")) == {"m0", "m1", "m2", "m4", "m9"}
    assert sql.lexical_calls == 1


async def test_a_clear_during_a_fill_ends_it_with_an_empty_complete_index(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_index, "FILL_PAGE", 2)
    sql = Sql([row(f"m{i}", f"kite number {i}") for i in range(5)])
    index = TextIndex(fallback=sql)  # type: ignore[arg-type]
    filling = asyncio.create_task(index.fill(sql.text_rows))
    await sql.asked.wait()
    index.clear()  # a reset: SQL is emptied too
    sql.rows.clear()
    sql.go_on.set()
    await filling
    assert index.ready and len(index) == 0 and await ids(index, ALICE, "kite") == []


async def test_a_kept_mask_never_outlives_a_change_or_an_expiry() -> None:
    clock = Clock()
    index = TextIndex(clock)
    index.put(row("a", "orchid care notes"))
    assert await ids(index, ALICE, "orchid") == ["a"]
    index.put(row("b", "orchid repotting", expires=T0 + timedelta(minutes=5)))
    assert set(await ids(index, ALICE, "orchid")) == {"a", "b"}
    clock.now = T0 + timedelta(minutes=6)  # no change to the index, only the hour
    assert await ids(index, ALICE, "orchid") == ["a"]
    index.put(row("a", "orchid care notes", valid=False))
    assert await ids(index, ALICE, "orchid") == []
    index.drop("b")
    index.put(row("c", "orchid show", BOB))
    assert await ids(index, BOB, "orchid") == ["c"] and await ids(index, ALICE, "orchid", wide=True) == ["a"]


async def test_many_scopes_searched_in_turn_each_see_only_their_own_current_memories(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # more scopes than masks are kept: kept ones are reused, the oldest dropped, none goes stale
    monkeypatch.setattr(text_index, "_MASK_BYTES", 5)
    index = TextIndex()
    users = [Scope(user_id=f"u{i}") for i in range(30)]
    for i, scope in enumerate(users):
        index.put(row(f"m{i}", f"ferry timetable {i}", scope))
    for _ in range(2):
        for i, scope in enumerate(users):
            assert await ids(index, scope, "ferry") == [f"m{i}"]
    index.put(row("m3", "bus timetable", users[3]))  # a change after the masks were kept
    index.put(row("extra", "ferry fares", users[4]))
    for i, scope in enumerate(users):
        expected = {3: [], 4: ["extra", "m4"]}.get(i, [f"m{i}"])
        assert sorted(await ids(index, scope, "ferry")) == expected


async def test_a_fill_that_fails_leaves_searches_on_sql(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_index, "FILL_PAGE", 2)
    sql = Sql([row(f"m{i}", f"kite number {i}") for i in range(5)])
    sql.go_on.set()

    async def failing(after: str | None, limit: int) -> list[TextRow]:
        if after is not None:
            raise ConnectionError("database went away")
        return await sql.text_rows(after, limit)

    index = TextIndex(fallback=sql)  # type: ignore[arg-type]
    with pytest.raises(ConnectionError):
        await index.fill(failing)
    assert not index.ready
    assert await index.lexical_search(ALICE, ["kite"], 10) == [] and sql.lexical_calls == 1  # asked SQL


async def test_another_tenants_writes_leave_a_scopes_kept_mask_in_use(monkeypatch: pytest.MonkeyPatch) -> None:
    index = TextIndex()
    index.put(row("a1", "sailing lessons on the lake"))
    assert await ids(index, ALICE, "sailing") == ["a1"]
    computed: list[Scope] = []
    compute = index._compute_mask
    monkeypatch.setattr(index, "_compute_mask", lambda scope, wide: computed.append(scope) or compute(scope, wide))
    for i in range(5):  # bob writes, replaces and deletes meanwhile
        index.put(row(f"b{i}", f"sailing regatta {i}", BOB))
    index.put(row("b0", "a different text", BOB))
    index.drop("b1")
    assert await ids(index, ALICE, "sailing", "regatta") == ["a1"] and computed == []
    index.put(row("a2", "sailing again", Scope("alice", "coach")))  # inside alice's scope: renewed
    assert sorted(await ids(index, ALICE, "sailing")) == ["a1", "a2"] and computed == [ALICE]


async def test_masks_kept_across_random_writes_answer_as_a_fresh_index_does() -> None:
    rng = random.Random(5)
    index = TextIndex()
    rows: dict[str, TextRow] = {}
    users, agents = ["u1", "u2", "u3"], ["a1", "a2", None]
    scopes = [Scope(u, a) for u in [*users, None] for a in agents if (u, a) != (None, None)]
    words = ["kayak", "tent", "stove", "map", "rope"]
    for step in range(500):
        id = f"m{rng.randrange(30)}"
        old = rows.get(id)
        choice = rng.random()
        if choice < 0.15:
            index.drop(id)
            rows.pop(id, None)
        else:
            text = old.text if old is not None and choice < 0.45 else " ".join(rng.sample(words, 2))
            new = row(id, text, Scope(rng.choice(users), rng.choice(agents)), valid=rng.random() > 0.2, at=step)
            index.put(new)  # the same text moves in place (scope, validity); another text is re-indexed
            rows[id] = new
        fresh = TextIndex()
        fresh.add_rows(rows.values())
        for scope in rng.sample(scopes, 3):
            term, wide = rng.choice(words), rng.random() < 0.3
            got = await index.lexical_search(scope, [term], 10, wide)
            want = await fresh.lexical_search(scope, [term], 10, wide)
            assert [id for id, _ in got] == [id for id, _ in want], (step, scope, term)
            assert [s for _, s in got] == pytest.approx([s for _, s in want]), (step, scope, term)


async def test_kept_masks_hold_a_bit_per_memory_and_only_the_last_read_one_as_bools() -> None:
    index = TextIndex()
    users = [Scope(user_id=f"u{i}") for i in range(40)]
    index.add_rows(row(f"m{i}", f"harbour crane {i}", users[i % 40]) for i in range(8_000))
    for scope in users:
        assert len(await ids(index, scope, "harbour")) == 10
    kept = list(index._masks.values())
    assert len(kept) == 40 and all(k.bits.nbytes == 1_000 for k in kept)
    assert [k for k in kept if k.unpacked is not None] == [kept[-1]]
    # a kept mask read again answers as before, after another scope's adds grew the index
    index.put(row("late", "harbour crane late", users[1]))
    assert await ids(index, users[0], "harbour") == sorted(f"m{i}" for i in range(0, 8_000, 40))[:10]


async def test_a_small_index_searched_in_many_scopes_keeps_a_bounded_number_of_masks() -> None:
    index = TextIndex()
    index.put(row("a", "tide tables"))
    for i in range(6_000):  # searches for owners that hold nothing here
        assert await ids(index, Scope(user_id=f"stranger{i}"), "tide") == []
    assert len(index._masks) <= text_index._MASK_BYTES // text_index._MASK_OVERHEAD < 6_000
    assert await ids(index, ALICE, "tide") == ["a"]


async def test_a_users_slice_of_sorted_and_recent_postings_answers_as_an_index_of_that_user_alone() -> None:
    # enough postings per word that each is sorted by user many times over, with writes after the
    # last sort (the tail), a compaction, and memories moved to another user with the same text
    rng = random.Random(11)
    shared = TextIndex()
    rows: dict[str, TextRow] = {}
    users = [f"u{i}" for i in range(7)]
    for step in range(3000):
        id = f"m{rng.randrange(1200)}"
        if rng.random() < 0.1:
            shared.drop(id)
            rows.pop(id, None)
            continue
        old = rows.get(id)
        text = old.text if old is not None and rng.random() < 0.3 else \
            f"{rng.choice(['kayak', 'tent', 'stove'])} trip {rng.randrange(40)} by the lake"
        rows[id] = row(id, text, Scope(rng.choice(users)), at=step)
        shared.put(rows[id])
    assert shared._version > 0  # compacted at least once
    for user in users:
        alone = TextIndex()
        alone.add_rows(r for r in rows.values() if r.scope.user_id == user)
        for terms in (["kayak"], ["lake", "tent"], ["trip", "17"]):
            got = await shared.lexical_search(Scope(user), terms, 15)
            want = await alone.lexical_search(Scope(user), terms, 15)
            assert [id for id, _ in got] == [id for id, _ in want], (user, terms)
            assert [s for _, s in got] == pytest.approx([s for _, s in want]), (user, terms)


async def test_a_memory_moved_to_another_user_with_the_same_text_is_found_there_only() -> None:
    index = TextIndex()
    for i in range(200):  # a word common enough to be sorted by user
        index.put(row(f"a{i}", f"kayak number {i}", Scope(f"user{i % 5}")))
    index.put(row("m", "kayak on the fjord", ALICE))
    index.put(row("m", "kayak on the fjord", BOB))
    assert await ids(index, ALICE, "fjord") == [] and await ids(index, BOB, "fjord", "kayak") == ["m"]
    assert await ids(index, Scope(agent_id=None, user_id="bob"), "kayak") == ["m"]


async def test_equal_scores_are_ordered_by_the_whole_id_even_where_ids_share_a_long_prefix() -> None:
    index = TextIndex()
    rng = random.Random(3)
    names = [f"memory-{n:06d}" for n in rng.sample(range(10**6), 40)] + [f"{rng.getrandbits(128):032x}" for _ in range(40)]
    for name in names:
        index.put(row(name, "the same words about kayaks"))
    got = await index.lexical_search(ALICE, ["kayak"], 25)
    assert [id for id, _ in got] == sorted(names)[:25]
    assert len({s for _, s in got}) == 1



async def test_mentions_of_a_user_answer_as_an_index_of_that_user_alone() -> None:
    rng = random.Random(13)
    shared = TextIndex()
    rows: dict[str, TextRow] = {}
    names = ["Caroline", "Melanie", "Dana", "Biscuit"]
    for step in range(2500):
        id = f"memory-{rng.randrange(900):04d}"  # ids alike in their first 8 bytes: ties go by the whole id
        if rng.random() < 0.1:
            shared.drop(id)
            rows.pop(id, None)
            continue
        text = f"{' and '.join(rng.sample(names, rng.randint(1, 3)))} went out, note {rng.randrange(30)}"
        rows[id] = row(id, text, Scope(f"u{rng.randrange(6)}"), at=rng.randrange(40))
        shared.put(rows[id])
    keys = ["caroline", "melanie", "dana", "biscuit"]
    for user in (f"u{i}" for i in range(6)):
        alone = TextIndex()
        alone.add_rows(r for r in rows.values() if r.scope.user_id == user)
        assert await shared.mention_counts(Scope(user), keys) == await alone.mention_counts(Scope(user), keys)
        for wanted in (keys[:1], keys[1:3], keys):
            assert await shared.mentioning(Scope(user), wanted, 12) == await alone.mentioning(Scope(user), wanted, 12)
    assert await shared.mention_counts(Scope("nobody"), keys) == {}
    assert await shared.mentioning(Scope("nobody"), keys, 5) == []


@pytest.mark.parametrize("runs", [0, 1, 3, 8])
def test_grouping_a_searchs_postings_by_doc_equals_numpys_unique(runs: int) -> None:
    # postings arrive as one sorted run per term (plus unsorted tails); any order must group alike
    rng = np.random.default_rng(runs)
    parts = [np.sort(rng.integers(0, 500, rng.integers(0, 300))) for _ in range(runs)]
    for doc in (np.concatenate(parts) if parts else np.zeros(0, dtype=np.intp), rng.integers(0, 50, 999)):
        doc = doc.astype(np.intp)
        found, where = text_index._grouped(doc)
        want_found, want_where = np.unique(doc, return_inverse=True)
        assert found.tolist() == want_found.tolist()
        assert where.tolist() == want_where.tolist()


async def test_a_fill_leaves_every_terms_postings_sorted_whole_and_answers_as_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # appends leave unsorted tails (each read filters them whole); a fill sorts them in at its end
    monkeypatch.setattr(text_index, "_TAIL_MIN", 4)
    rows = [row(f"m{i:03}", f"trip {i % 7} by the lake", Scope(f"u{i % 3}"), at=i) for i in range(300)]
    appended = TextIndex()
    appended.add_rows(rows)

    async def pages(after: str | None, limit: int) -> list[TextRow]:
        return [r for r in rows if after is None or r.id > after][:limit]

    filled = TextIndex()
    await filled.fill(pages)
    assert any(not isinstance(p, int) and p[0] < len(p) - 1 for p in appended._words.table.values())
    for postings in (*filled._words.table.values(), *filled._keys.table.values()):
        assert isinstance(postings, int) or (postings[0] == len(postings) - 1 and list(postings[1:]) == sorted(postings[1:]))
    for user in ("u0", "u1", "u2"):
        for terms in (["lake"], ["trip", "3"]):
            assert await filled.lexical_search(Scope(user), terms, 20) == await appended.lexical_search(Scope(user), terms, 20)
