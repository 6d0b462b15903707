from __future__ import annotations

import dataclasses
from datetime import timedelta

import numpy as np
import pytest

from memory.models import ChangeEvent, Feedback, FeedbackRating, GraphWork, HistoryEntry, MemoryRecord, Scope, StoredMemory, Triple, new_id, text_hash, utcnow
from memory.ports import ChangeSet, Order, PageCursor


def stored(text: str, scope: Scope, offset_s: int = 0, valid: bool = True) -> StoredMemory:
    at = utcnow() + timedelta(seconds=offset_s)
    rec = MemoryRecord(new_id(), text, text_hash(text), scope, {"k": offset_s}, at, at,
                       None if valid else at, None if valid else "old")
    return StoredMemory(rec, np.random.default_rng(offset_s).random(16, dtype=np.float32))


def added(s: StoredMemory) -> HistoryEntry:
    return HistoryEntry(s.record.id, ChangeEvent.ADD, None, s.record.text, s.record.scope, s.record.created_at)


async def test_commit_assigns_increasing_seqs_and_replay_sees_later_rows(any_repository) -> None:
    a, b = stored("a", Scope("u")), stored("b", Scope("u"), 1)
    seq1 = await any_repository.commit(ChangeSet(writes=[a], history=[added(a)]))
    seq2 = await any_repository.commit(ChangeSet(writes=[b], history=[added(b)]))
    assert seq2 > seq1 and await any_repository.max_seq() == seq2
    assert [id for id, _ in await any_repository.embeddings_since(seq1)] == [b.record.id]
    vec = (await any_repository.embeddings([a.record.id]))[a.record.id]
    assert np.array_equal(vec, a.embedding)


async def test_reads_use_prefix_scopes_and_exact_owner_hash_lookup(any_repository) -> None:
    rows = [stored("x", Scope("u", "a1")), stored("y", Scope("u", "a2"), 1), stored("z", Scope("v"), 2)]
    await any_repository.commit(ChangeSet(writes=rows, history=[added(r) for r in rows]))
    assert sorted(await any_repository.ids_in_scope(Scope("u"), True)) == sorted(r.record.id for r in rows[:2])
    assert (await any_repository.find_by_hash(Scope("u", "a1"), text_hash("x"))).id == rows[0].record.id
    assert await any_repository.find_by_hash(Scope("u"), text_hash("x")) is None


async def test_keyset_pages_cover_everything_once_in_order(any_repository) -> None:
    rows = [stored(f"m{i}", Scope("u"), i) for i in range(7)]
    await any_repository.commit(ChangeSet(writes=rows, history=[added(r) for r in rows]))
    seen, cursor = [], None
    while True:
        page = await any_repository.list_page(Scope("u"), order=Order.CREATED_DESC, after=cursor, limit=3,
                                              include_invalidated=False)
        seen += [r.text for r in page]
        if len(page) < 3:
            break
        cursor = PageCursor(page[-1].created_at, page[-1].id)
    assert seen == [f"m{i}" for i in reversed(range(7))]


async def test_invalidated_rows_are_hidden_unless_asked_for(any_repository) -> None:
    live, old = stored("live", Scope("u")), stored("old", Scope("u"), 1, valid=False)
    await any_repository.commit(ChangeSet(writes=[live, old], history=[added(live), added(old)]))
    assert await any_repository.ids_in_scope(Scope("u"), False) == [live.record.id]
    catalog = {row.id: row.valid for row in await any_repository.catalog()}
    assert catalog == {live.record.id: True, old.record.id: False}


async def test_deletes_keep_history_and_outbox_round_trips(any_repository) -> None:
    row = stored("gone", Scope("u"))
    work = GraphWork(new_id(), Scope("u"), (Triple("a", "KNOWS", "b"),), row.record.id, utcnow(),
                     {"a": (0.5, 0.25)}, frozenset({"KNOWS"}))
    await any_repository.commit(ChangeSet(writes=[row], history=[added(row)], graph_work=[work]))
    gone = HistoryEntry(row.record.id, ChangeEvent.DELETE, "gone", None, Scope("u"), utcnow())
    await any_repository.commit(ChangeSet(deletes=[row.record.id], history=[gone]))
    assert await any_repository.get(row.record.id) is None
    history = (await any_repository.history([row.record.id]))[row.record.id]
    assert [h.event for h in history] == [ChangeEvent.ADD, ChangeEvent.DELETE]
    [pending] = await any_repository.pending_graph_work(10)
    assert pending.triples == work.triples and pending.exclusive_relations == work.exclusive_relations
    assert tuple(pending.entity_embeddings["a"]) == (0.5, 0.25)
    await any_repository.complete_graph_work([work.id])
    assert await any_repository.outbox_size() == 0


async def test_replay_pages_by_id_without_gaps(any_repository) -> None:
    rows = [stored(f"p{i}", Scope("u"), i) for i in range(7)]
    await any_repository.commit(ChangeSet(writes=rows, history=[added(r) for r in rows]))
    seen, after = [], None
    while page := await any_repository.embeddings_since(0, after=after, limit=3):
        seen += [id for id, _ in page]
        after = page[-1][0]
    assert seen == sorted(r.record.id for r in rows)


async def lexical_ids(repo, scope: Scope, terms: list[str], k: int = 10, include_invalidated: bool = False) -> list[str]:
    return [id for id, _ in await repo.lexical_search(scope, terms, k, include_invalidated)]


async def test_lexical_search_ranks_by_words_inside_the_scope_only(any_repository) -> None:
    both = stored("Alice adopted a greyhound called Comet", Scope("u", "a1"))
    one = stored("Comet is a bright object in the sky above the lake", Scope("u", "a2"), 1)
    none = stored("Alice went hiking by the lake", Scope("u"), 2)
    other = stored("greyhound Comet greyhound Comet", Scope("v"), 3)
    rows = [both, one, none, other]
    await any_repository.commit(ChangeSet(writes=rows, history=[added(r) for r in rows]))
    found = await any_repository.lexical_search(Scope("u"), ["greyhound", "comet"], 10)
    assert [id for id, _ in found] == [both.record.id, one.record.id]
    assert found[0][1] > found[1][1]
    assert await lexical_ids(any_repository, Scope("u", "a2"), ["greyhound", "comet"]) == [one.record.id]
    assert await lexical_ids(any_repository, Scope("v"), ["lake"]) == []
    assert await lexical_ids(any_repository, Scope("u"), ["comet"], k=1) in ([both.record.id], [one.record.id])
    # owners whose ids differ only in punctuation or accents stay apart
    twins = [stored("Comet again", Scope("a.b")), stored("Comet again", Scope("a-b"), 1),
             stored("Comet again", Scope("zoë"), 2), stored("Comet again", Scope("zoe"), 3)]
    await any_repository.commit(ChangeSet(writes=twins, history=[added(r) for r in twins]))
    for twin in twins:
        assert await lexical_ids(any_repository, twin.record.scope, ["comet"]) == [twin.record.id]
    # terms are words, never query syntax
    assert await lexical_ids(any_repository, Scope("u"), ['comet" OR "lake', "*", "NEAR(", "-"]) == []


async def test_lexical_search_finds_valid_matches_ranked_below_many_invalidated_ones(any_repository) -> None:
    # the best-ranked matches are all invalidated: a search that cut the ranking before dropping
    # them would answer nothing
    strong = [stored("kayak kayak kayak trip", Scope("u"), i) for i in range(8)]
    strong = [StoredMemory(dataclasses.replace(s.record, invalidated_at=utcnow()), s.embedding) for s in strong]
    weak = stored("a long day that ended with a short kayak ride on the river near the old mill", Scope("u"), 9)
    rows = [*strong, weak]
    await any_repository.commit(ChangeSet(writes=rows, history=[added(r) for r in rows]))
    assert await lexical_ids(any_repository, Scope("u"), ["kayak"], k=2) == [weak.record.id]
    assert len(await lexical_ids(any_repository, Scope("u"), ["kayak"], k=3, include_invalidated=True)) == 3


async def test_lexical_index_follows_updates_deletes_and_invalidation(any_repository) -> None:
    first = stored("the violin lessons start in June", Scope("u"))
    second = stored("bought a new violin bow", Scope("u"), 1)
    await any_repository.commit(ChangeSet(writes=[first, second], history=[added(first), added(second)]))
    assert set(await lexical_ids(any_repository, Scope("u"), ["violin"])) == {first.record.id, second.record.id}

    rewritten = stored("the cello lessons start in June", Scope("u"))
    rewritten = StoredMemory(dataclasses.replace(rewritten.record, id=first.record.id), rewritten.embedding)
    await any_repository.commit(ChangeSet(writes=[rewritten], deletes=[second.record.id]))
    assert await lexical_ids(any_repository, Scope("u"), ["violin"]) == []
    assert await lexical_ids(any_repository, Scope("u"), ["cello"]) == [first.record.id]

    gone = dataclasses.replace(rewritten.record, invalidated_at=utcnow(), invalidation_reason="old")
    await any_repository.commit(ChangeSet(writes=[StoredMemory(gone, rewritten.embedding)]))
    assert await lexical_ids(any_repository, Scope("u"), ["cello"]) == []
    assert await lexical_ids(any_repository, Scope("u"), ["cello"], include_invalidated=True) == [first.record.id]
    await any_repository.reset()
    assert await lexical_ids(any_repository, Scope("u"), ["cello"], include_invalidated=True) == []


async def test_mention_index_follows_writes_updates_deletes_and_scope(any_repository) -> None:
    caroline = stored("Caroline adopted a puppy named Biscuit", Scope("u"))
    melanie = stored("Melanie painted a sunrise with Caroline", Scope("u"), 1)
    other = stored("Caroline from next door waved", Scope("v"), 2)
    rows = [caroline, melanie, other]
    await any_repository.commit(ChangeSet(writes=rows, history=[added(r) for r in rows]))
    assert (await any_repository.mentions([caroline.record.id, "nope"])) == {caroline.record.id: ["biscuit", "caroline"]}
    assert await any_repository.mention_counts(Scope("u"), ["caroline", "biscuit", "nobody"]) == {"caroline": 2, "biscuit": 1}
    assert await any_repository.mention_counts(Scope("v"), ["caroline"]) == {"caroline": 1}
    # naming more of the keys first, then the newest
    assert await any_repository.mentioning(Scope("u"), ["caroline", "biscuit"], 10) == [
        caroline.record.id, melanie.record.id]
    assert await any_repository.mentioning(Scope("u"), ["caroline"], 1) == [melanie.record.id]
    assert await any_repository.mentioning(Scope("w"), ["caroline"], 10) == []

    renamed = dataclasses.replace(caroline.record, text="Dana adopted a puppy")
    await any_repository.commit(ChangeSet(writes=[StoredMemory(renamed, caroline.embedding)]))
    assert (await any_repository.mentions([caroline.record.id]))[caroline.record.id] == ["dana"]
    assert await any_repository.mentioning(Scope("u"), ["biscuit"], 10) == []

    gone = dataclasses.replace(melanie.record, invalidated_at=utcnow(), invalidation_reason="old")
    await any_repository.commit(ChangeSet(writes=[StoredMemory(gone, melanie.embedding)]))
    assert await any_repository.mention_counts(Scope("u"), ["caroline"]) == {}
    assert await any_repository.mention_counts(Scope("u"), ["caroline"], include_invalidated=True) == {"caroline": 1}

    await any_repository.commit(ChangeSet(deletes=[melanie.record.id]))
    assert await any_repository.mentions([melanie.record.id]) == {}
    await any_repository.reset()
    assert await any_repository.mention_counts(Scope("v"), ["caroline"]) == {}


async def test_the_immutable_flag_is_stored_and_read_back_by_every_read(any_repository) -> None:
    frozen, plain = stored("frozen", Scope("u")), stored("plain", Scope("u"), 1)
    frozen = StoredMemory(dataclasses.replace(frozen.record, immutable=True), frozen.embedding)
    await any_repository.commit(ChangeSet(writes=[frozen, plain], history=[added(frozen), added(plain)]))
    assert (await any_repository.get(frozen.record.id)).immutable is True
    assert (await any_repository.get(plain.record.id)).immutable is False
    many = await any_repository.get_many([frozen.record.id, plain.record.id])
    assert {id: r.immutable for id, r in many.items()} == {frozen.record.id: True, plain.record.id: False}
    page = await any_repository.list_page(Scope("u"), order=Order.CREATED_ASC, after=None, limit=10,
                                          include_invalidated=False)
    assert [r.immutable for r in page] == [True, False]


async def test_feedback_is_kept_per_memory_and_leaves_with_it(any_repository) -> None:
    one, two = stored("one", Scope("u")), stored("two", Scope("u"), 1)
    await any_repository.commit(ChangeSet(writes=[one, two], history=[added(one), added(two)]))
    at = utcnow().replace(microsecond=123456)
    first = Feedback(one.record.id, FeedbackRating.NEGATIVE, "wrong", "key-1", at)
    assert await any_repository.put_feedback(one.record.id, first)
    assert await any_repository.feedback([one.record.id, two.record.id]) == {one.record.id: first}
    second = dataclasses.replace(first, rating=FeedbackRating.VERY_NEGATIVE, reason=None)
    assert await any_repository.put_feedback(one.record.id, second)  # replaces the first
    assert await any_repository.put_feedback(two.record.id, dataclasses.replace(second, memory_id=two.record.id))
    assert (await any_repository.feedback([one.record.id]))[one.record.id] == second
    assert await any_repository.put_feedback(two.record.id, None)  # cleared
    assert await any_repository.feedback([two.record.id]) == {}
    assert not await any_repository.put_feedback("missing", first)  # no memory, no feedback
    assert await any_repository.feedback(["missing"]) == {}
    gone = HistoryEntry(one.record.id, ChangeEvent.DELETE, "one", None, Scope("u"), utcnow())
    await any_repository.commit(ChangeSet(deletes=[one.record.id], history=[gone]))
    assert await any_repository.feedback([one.record.id]) == {}
    assert await any_repository.put_feedback(two.record.id, dataclasses.replace(second, memory_id=two.record.id))
    await any_repository.reset()
    assert await any_repository.feedback([two.record.id]) == {}


async def test_expiry_and_categories_round_trip_and_reach_the_catalog(any_repository) -> None:
    at = utcnow().replace(microsecond=0) + timedelta(days=3)
    s = stored("expiring", Scope("u"))
    s = StoredMemory(dataclasses.replace(s.record, expires_at=at, categories=("food", "travel")), s.embedding)
    plain = stored("lasting", Scope("u"), 1)
    await any_repository.commit(ChangeSet(writes=[s, plain], history=[added(s), added(plain)]))
    got = await any_repository.get(s.record.id)
    assert got.expires_at == at and got.categories == ("food", "travel")
    assert (await any_repository.get(plain.record.id)).expires_at is None
    rows = {row.id: row for row in await any_repository.catalog()}
    assert rows[s.record.id].expires_at == at and rows[plain.record.id].expires_at is None
    cleared = StoredMemory(dataclasses.replace(got, expires_at=None), s.embedding)
    await any_repository.commit(ChangeSet(writes=[cleared]))
    assert (await any_repository.get(s.record.id)).expires_at is None


async def test_catalog_pages_by_id_and_whole(any_repository) -> None:
    rows = [stored(f"note {i}", Scope("u", run_id=f"r{i % 2}"), offset_s=i, valid=i != 2) for i in range(5)]
    await any_repository.commit(ChangeSet(writes=rows, history=[added(r) for r in rows]))
    whole = {row.id: row for row in await any_repository.catalog()}
    first = await any_repository.catalog(None, 2)
    second = await any_repository.catalog(first[-1].id, 2)
    third = await any_repository.catalog(second[-1].id, 2)
    paged = first + second + third
    assert [len(first), len(second), len(third)] == [2, 2, 1]
    assert [row.id for row in paged] == sorted(r.record.id for r in rows) == sorted(whole)
    assert all(row == whole[row.id] for row in paged)
    assert {row.id: (row.scope, row.valid) for row in paged} == {r.record.id: (r.record.scope, r.record.valid)
                                                                 for r in rows}
    assert await any_repository.catalog(paged[-1].id, 2) == []


async def test_text_rows_page_by_id_with_owners_validity_and_mention_keys(any_repository) -> None:
    rows = [stored(f"Caroline wrote note {i}", Scope("u", "a"), offset_s=i) for i in range(3)]
    rows.append(stored("nobody named here", Scope("v"), valid=False))
    await any_repository.commit(ChangeSet(writes=rows, history=[added(r) for r in rows]))
    first = await any_repository.text_rows(None, 3)
    rest = await any_repository.text_rows(first[-1].id, 3)
    got = first + rest
    assert len(first) == 3 and len(rest) == 1 and [r.id for r in got] == sorted(r.record.id for r in rows)
    by_id = {r.id: r for r in got}
    for s in rows:
        r = by_id[s.record.id]
        assert (r.scope, r.valid, r.text, r.created_at) == (s.record.scope, s.record.valid, s.record.text,
                                                            s.record.created_at)
        assert r.mentions == (("caroline",) if s.record.text.startswith("Caroline") else ())
    assert await any_repository.text_rows(got[-1].id, 3) == []


async def test_rows_come_with_their_stored_embeddings_when_asked(any_repository) -> None:
    one, two = stored("one", Scope("u")), stored("two", Scope("u"), 1)
    await any_repository.commit(ChangeSet(writes=[one, two], history=[added(one), added(two)]))
    rows, embeddings = await any_repository.get_many_with_embeddings([one.record.id, two.record.id, "gone"])
    assert {id: r.text for id, r in rows.items()} == {one.record.id: "one", two.record.id: "two"}
    assert set(embeddings) == set(rows)
    assert np.array_equal(embeddings[two.record.id], two.embedding)
