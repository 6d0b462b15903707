from __future__ import annotations

import asyncio
import random
import sys

import pytest

from memory import catalog as catalog_module
from memory.catalog import ScopeCatalog
from memory.models import MemoryId, Scope
from memory.ports import CatalogRow, admitted


@pytest.fixture
def catalog() -> ScopeCatalog:
    c = ScopeCatalog()
    for i in range(100):
        c.put(f"m{i}", Scope(f"u{i % 10}", f"a{i % 4}", "r1" if i < 50 else None), valid=i % 7 != 0)
    return c


def brute(c: ScopeCatalog, scope: Scope, include_invalidated: bool) -> set[str]:
    pred = c.predicate(scope, include_invalidated)
    return {id for id in c.ids() if pred(id)}


@pytest.mark.parametrize("scope", [Scope("u1"), Scope("u1", "a1"), Scope(agent_id="a2"), Scope(run_id="r1"),
                                   Scope("u3", run_id="r1"), Scope("nobody")])
@pytest.mark.parametrize("include_invalidated", [False, True])
def test_allow_agrees_with_the_scope_rule(catalog: ScopeCatalog, scope: Scope, include_invalidated: bool) -> None:
    allow = catalog.allow(scope, include_invalidated)
    got = catalog.ids() if allow is None else {id for id in catalog.ids() if admitted(allow, id)}
    assert got == brute(catalog, scope, include_invalidated)


def test_small_scopes_get_an_exact_set_and_whole_scopes_no_filter() -> None:
    c = ScopeCatalog()
    for i in range(50):
        c.put(f"m{i}", Scope("solo"), valid=True)
    assert c.allow(Scope("solo"), False) is None
    c.put("other", Scope("tiny"), valid=True)
    allow = c.allow(Scope("tiny"), False)
    assert isinstance(allow, frozenset) and "other" in allow and "m1" not in allow
    c.put("m1", Scope("solo"), valid=False)  # re-put moves it to invalid
    assert not admitted(c.allow(Scope("solo"), False), "m1")
    c.drop("other")
    assert not admitted(c.allow(Scope("tiny"), False), "other")


def test_owners_count_valid_memories_per_owner_inside_a_scope(catalog: ScopeCatalog) -> None:
    everyone = catalog.owners_in(Scope())
    valid = {id for id in catalog.ids() if catalog.predicate(Scope(), False)(id)}
    assert sum(n for (kind, _), n in everyone.items() if kind == "user") == len(valid)
    assert everyone[("run", "r1")] == len({f"m{i}" for i in range(50)} & valid)
    mine = catalog.owners_in(Scope("u1"))
    assert {owner for kind, owner in mine if kind == "user"} == {"u1"}
    assert sum(n for (kind, _), n in mine.items() if kind == "user") == len(brute(catalog, Scope("u1"), False))


def crowded(n: int) -> ScopeCatalog:
    """A catalog where one owner holds n memories: a large share, so small scopes get exact sets."""
    c = ScopeCatalog()
    for i in range(n):
        c.put(f"big{i}", Scope("big"), valid=True)
    return c


def test_an_allowed_set_is_kept_between_searches_until_a_write_or_an_expiry_could_change_it() -> None:
    c = crowded(10)
    c.put("a", Scope("tiny"), valid=True)
    first = c.allow(Scope("tiny"), False)
    assert c.allow(Scope("tiny"), False) is first == frozenset({"a"})
    c.put("b", Scope("tiny"), valid=True)
    assert c.allow(Scope("tiny"), False) == frozenset({"a", "b"})
    c.put("b", Scope("tiny"), valid=False)
    assert c.allow(Scope("tiny"), False) == frozenset({"a"}) and c.allow(Scope("tiny"), True) == {"a", "b"}
    c.drop("a")
    assert c.allow(Scope("tiny"), False) == frozenset()


def test_another_tenants_writes_keep_a_scopes_allowed_set_and_writes_inside_it_renew_it() -> None:
    c = crowded(20)
    c.put("a", Scope("tiny", "bot"), valid=True)
    by_user, by_agent = c.allow(Scope("tiny"), False), c.allow(Scope(agent_id="bot"), False)
    c.put("x", Scope("big", "helper"), valid=True)  # another tenant writes and deletes
    c.drop("big3")
    assert c.allow(Scope("tiny"), False) is by_user and c.allow(Scope(agent_id="bot"), False) is by_agent
    c.put("b", Scope("tiny", "bot", "run1"), valid=True)  # a narrower owner falls inside both scopes
    assert c.allow(Scope("tiny"), False) == {"a", "b"} == c.allow(Scope(agent_id="bot"), False)
    c.put("b", Scope("elsewhere", "bot"), valid=True)  # moved out of one scope, still in the other
    assert c.allow(Scope("tiny"), False) == {"a"} and c.allow(Scope(agent_id="bot"), False) == {"a", "b"}


def test_a_searched_owners_ids_are_held_once_and_a_later_write_leaves_the_handed_out_set_as_it_was() -> None:
    c = crowded(300)
    c.put("a", Scope("tiny"), valid=True)
    handed = c.allow(Scope("tiny"), False)
    assert c._by[0]["tiny"] is handed  # the owner's set is the allowed set itself, not a second copy
    for i in range(100):  # more scopes searched than allowed sets are kept: tiny's is let go...
        c.put(f"o{i}", Scope(f"other{i}"), valid=True)
        c.allow(Scope(f"other{i}"), False)
    assert c.allow(Scope("tiny"), False) is handed  # ...and given again as it is, not copied
    c.put("b", Scope("tiny"), valid=True)  # the index's thread may still be reading `handed`
    assert handed == {"a"} and c.allow(Scope("tiny"), False) == {"a", "b"}
    c.drop("a")
    assert handed == {"a"} and c.allow(Scope("tiny"), False) == {"b"}
    assert c.allow(Scope("nobody"), False) == frozenset() and "nobody" not in c._by[0]


def test_allowed_sets_kept_across_random_writes_always_equal_the_scope_rule() -> None:
    rng = random.Random(3)
    c = ScopeCatalog()
    users, agents, runs = ["u1", "u2", "u3", None], ["a1", "a2", None], ["r1", None]
    scopes = [Scope(u, a, r) for u in users for a in agents for r in runs if (u, a, r) != (None, None, None)]
    for i in range(60):  # a large share elsewhere, so the small scopes get exact sets
        c.put(f"base{i}", Scope("crowd"), valid=True)
    for step in range(600):
        id = f"m{rng.randrange(40)}"
        if rng.random() < 0.2:
            c.drop(id)
        else:
            c.put(id, Scope(rng.choice(users[:3]), rng.choice(agents), rng.choice(runs)), valid=rng.random() > 0.2)
        for scope in rng.sample(scopes, 4):
            wide = rng.random() < 0.3
            allow = c.allow(scope, wide)
            got = c.ids() if allow is None else {id for id in c.ids() if admitted(allow, id)}
            assert got == brute(c, scope, wide), (step, scope, wide)


async def test_fill_reads_pages_and_takes_the_new_catalog_over_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog_module, "FILL_PAGE", 3)
    rows = [CatalogRow(f"n{i:02d}", Scope(f"u{i % 2}", run_id="r"), valid=i != 4) for i in range(7)]
    c = ScopeCatalog()
    c.put("old", Scope("u0"), valid=True)
    seen: list[set[MemoryId]] = []
    asked: list[MemoryId | None] = []

    async def pages(after: MemoryId | None, limit: int) -> list[CatalogRow]:
        asked.append(after)
        seen.append(c.ids())  # what a search would see while the fill awaits SQL
        await asyncio.sleep(0)
        return [row for row in rows if after is None or row.id > after][:limit]

    await c.fill(pages)
    assert asked == [None, "n02", "n05"]
    assert all(ids == {"old"} for ids in seen)
    assert c.ids() == {row.id for row in rows}
    assert brute(c, Scope("u0"), False) == {"n00", "n02", "n06"}
    assert brute(c, Scope("u0", run_id="r"), True) == {"n00", "n02", "n04", "n06"}
    c.put("later", Scope("u0"), valid=True)  # the taken-over state keeps working as before
    assert brute(c, Scope("u0"), False) == {"n00", "n02", "n06", "later"} and len(c) == 8


async def test_fill_leaves_each_owners_set_no_bigger_than_a_copy_of_it() -> None:
    rows = [CatalogRow(f"m{i:05d}", Scope("big"), valid=True) for i in range(2_000)]

    async def pages(after: MemoryId | None, limit: int) -> list[CatalogRow]:
        return [row for row in rows if after is None or row.id > after][:limit]

    c = ScopeCatalog()
    await c.fill(pages)
    members = c._by[0]["big"]
    grown: set[MemoryId] = set()
    for row in rows:
        grown.add(row.id)
    assert members == grown and sys.getsizeof(members) == sys.getsizeof(set(grown)) < sys.getsizeof(grown)


def test_ids_by_owner_lists_each_owner_together_and_a_users_owners_side_by_side(catalog: ScopeCatalog) -> None:
    catalog.drop("m5")
    catalog.put("m200", Scope(agent_id="a9"), valid=True)  # no user
    listed = catalog.ids_by_owner()
    assert sorted(listed) == sorted(catalog.ids())
    owners = {f"m{i}": (f"u{i % 10}", f"a{i % 4}", "r1" if i < 50 else "") for i in range(100)}
    owners["m200"] = ("", "a9", "")
    keys = [owners[id] for id in listed]
    assert keys == sorted(keys)  # one run of ids per owner, a user's owners next to each other


def test_the_largest_scopes_are_the_single_owners_with_most_memories_that_get_a_set() -> None:
    c = ScopeCatalog()
    sizes = {"ann": 9, "bob": 5, "cy": 2}  # ann holds 36% of all: searched with a predicate, not a set
    i = 0
    for user, n in sizes.items():
        for _ in range(n):
            c.put(f"m{i}", Scope(user, "helper" if i % 2 else None, "r1" if i < 4 else None), valid=True)
            i += 1
    c.put("m99", Scope(agent_id="solo"), valid=True)
    assert not isinstance(c.allow(Scope("ann"), False), frozenset)
    # bob 5, helper 8 but 32% (over the share too), r1 4, cy 2, solo 1; largest first, as many as asked
    assert c.largest_scopes(3, most=100) == [Scope("bob"), Scope(run_id="r1"), Scope("cy")]
    assert c.largest_scopes(10, most=100)[-1] == Scope(agent_id="solo") and len(c.largest_scopes(10, most=100)) == 4
    assert all(isinstance(c.allow(scope, False), frozenset) for scope in c.largest_scopes(10, most=100))
    # no bigger than the index scans (VectorIndex.scan_max)
    assert c.largest_scopes(3, most=4) == [Scope(run_id="r1"), Scope("cy"), Scope(agent_id="solo")]
