from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Sequence

import numpy as np

from memory.errors import InvalidInput, StoreUnavailable
from memory.pagination import Page, decode_cursor, page_of
from memory.models import Entity, GraphQuery, GraphWork, GraphWriteResult, MemoryId, Relation, Scope, Vector


class InMemoryGraph:
    """The GraphStore port over dicts. `down = True` makes every call raise StoreUnavailable."""

    def __init__(self) -> None:
        self.entities_: dict[tuple[str, str], Entity] = {}
        self.embeddings_: dict[tuple[str, str], Vector] = {}
        self.relations_: list[Relation] = []
        # per relation (same positions): memories that stated it, and those not deleted since
        self.stated: list[set[str]] = []
        self.support: list[set[str]] = []
        self.down = False
        self.applied_batches = 0

    def _check(self) -> None:
        if self.down:
            raise StoreUnavailable("graph", "fake outage")

    async def setup(self) -> None:
        self._check()

    async def apply(self, batch: Sequence[GraphWork]) -> dict[str, GraphWriteResult]:
        self._check()
        self.applied_batches += 1
        out = {}
        for work in batch:
            added, invalid = [], []
            key = work.scope.key()
            for t in work.triples:
                if t.negated:  # a retraction: retire the matching valid relation, create nothing
                    for i, r in enumerate(self.relations_):
                        if r.scope.key() == key and r.valid and (r.source, r.relation, r.destination) == (
                                t.source, t.relation, t.destination):
                            self.relations_[i] = replace(r, valid=False, invalidated_at=work.created_at,
                                                         valid_to=t.valid_from or work.created_at)
                            invalid.append(self.relations_[i])
                    continue
                for name, typ in ((t.source, t.source_type), (t.destination, t.destination_type)):
                    if (key, name) not in self.entities_:
                        self.entities_[(key, name)] = Entity(name, typ, work.scope, work.created_at)
                        if name in work.entity_embeddings:
                            self.embeddings_[(key, name)] = np.asarray(work.entity_embeddings[name], np.float32)
                existing = [i for i, r in enumerate(self.relations_) if r.scope.key() == key and r.valid
                            and (r.source, r.relation, r.destination) == (t.source, t.relation, t.destination)]
                if existing:
                    if self.relations_[existing[0]].valid_from is None and t.valid_from is not None:
                        self.relations_[existing[0]] = replace(self.relations_[existing[0]], valid_from=t.valid_from)
                    if work.memory_id:
                        self.stated[existing[0]].add(work.memory_id)
                        self.support[existing[0]].add(work.memory_id)
                    continue
                if t.relation in work.exclusive_relations:
                    for i, r in enumerate(self.relations_):
                        if r.scope.key() == key and r.valid and r.source == t.source and r.relation == t.relation:
                            self.relations_[i] = replace(r, valid=False, invalidated_at=work.created_at,
                                                         valid_to=t.valid_from or work.created_at)
                            invalid.append(self.relations_[i])
                rel = Relation(t.source, t.relation, t.destination, work.scope, work.created_at, True, None, work.memory_id,
                               t.valid_from)
                self.relations_.append(rel)
                self.stated.append({work.memory_id} if work.memory_id else set())
                self.support.append({work.memory_id} if work.memory_id else set())
                added.append(rel)
            out[work.id] = GraphWriteResult(tuple(added), tuple(invalid))
        return out

    async def has_relations(self, scope: Scope) -> bool:
        self._check()
        return any(scope.contains(r.scope) for r in self.relations_)

    async def relations_for(self, scope: Scope, names: Sequence[str], include_invalid: bool = False, limit: int = 100,
                            as_of: datetime | None = None) -> list[Relation]:
        self._check()
        wanted = set(names)
        return [r for r in self.relations_ if scope.contains(r.scope) and (include_invalid or r.holds_at(as_of))
                and (r.source in wanted or r.destination in wanted)][:limit]

    async def neighbourhood(self, scope: Scope, name: str, depth: int,
                            as_of: datetime | None = None) -> tuple[list[Entity], list[Relation]]:
        self._check()
        if not 1 <= depth <= 3:
            raise InvalidInput("depth must be 1, 2 or 3")
        seen, frontier, rels = {name}, {name}, []
        valid = [r for r in self.relations_ if scope.contains(r.scope) and r.holds_at(as_of)]
        for _ in range(depth):
            nxt = set()
            for r in valid:
                if r.source in frontier or r.destination in frontier:
                    if r not in rels:
                        rels.append(r)
                    nxt |= {r.source, r.destination} - seen
            seen |= nxt
            frontier = nxt
        ents = [e for (k, n), e in self.entities_.items() if n in seen and scope.contains(e.scope)]
        return ents, rels

    async def entities(self, scope: Scope | None, query: GraphQuery, limit: int, after: str | None) -> Page[Entity]:
        self._check()
        after = decode_cursor("entity", after)
        ents = sorted((e for e in self.entities_.values() if scope is None or scope.contains(e.scope)), key=lambda e: e.name)
        ents = [e for e in ents if (query.name_contains is None or query.name_contains.casefold() in e.name)
                and (query.entity_type is None or e.type == query.entity_type) and (after is None or e.name > after)]
        return page_of(ents, limit, "entity", lambda e: e.name)

    async def relations(self, scope: Scope | None, query: GraphQuery, limit: int, after: str | None) -> Page[Relation]:
        self._check()
        after = decode_cursor("relation", after)
        rels = sorted(self.relations_, key=_rel_key)
        rels = [r for r in rels if (scope is None or scope.contains(r.scope)) and (query.include_invalid or r.holds_at(query.as_of))
                and (query.relation is None or r.relation == query.relation)
                and (query.name_contains is None or query.name_contains in r.source or query.name_contains in r.destination)
                and (after is None or _rel_key(r) > after)]
        return page_of(rels, limit, "relation", _rel_key)

    async def entity_embeddings(self, scope: Scope) -> dict[str, Vector]:
        self._check()
        return {n: v for (k, n), v in self.embeddings_.items() if k == scope.key()}

    async def invalidate_relation(self, scope: Scope, source: str, relation: str, destination: str, at: datetime) -> list[Relation]:
        self._check()
        changed = []
        for i, r in enumerate(self.relations_):
            if scope.contains(r.scope) and r.valid and (r.source, r.relation, r.destination) == (source, relation, destination):
                self.relations_[i] = replace(r, valid=False, invalidated_at=at, valid_to=at)
                changed.append(self.relations_[i])
        return changed

    async def delete_scope(self, scope: Scope) -> None:
        self._check()
        keep = [i for i, r in enumerate(self.relations_) if not scope.contains(r.scope)]
        self.relations_ = [self.relations_[i] for i in keep]
        self.stated = [self.stated[i] for i in keep]
        self.support = [self.support[i] for i in keep]
        self.entities_ = {k: e for k, e in self.entities_.items() if not scope.contains(e.scope)}

    async def erase_memories(self, memory_ids: Sequence[MemoryId]) -> None:
        self._check()
        gone, keep, ends = set(memory_ids), [], set()
        for i, r in enumerate(self.relations_):
            touched = bool(self.stated[i] & gone)
            self.stated[i] -= gone
            self.support[i] -= gone
            if touched and not self.stated[i]:
                ends |= {(r.scope, r.source), (r.scope, r.destination)}
            else:
                keep.append(i)
        self.relations_ = [self.relations_[i] for i in keep]
        self.stated = [self.stated[i] for i in keep]
        self.support = [self.support[i] for i in keep]
        linked = {(r.scope, n) for r in self.relations_ for n in (r.source, r.destination)}
        self.entities_ = {k: e for k, e in self.entities_.items()
                          if (e.scope, e.name) not in ends or (e.scope, e.name) in linked}

    async def delete_memory_relations(self, memory_ids: Sequence[MemoryId], at: datetime) -> list[Relation]:
        self._check()
        changed = []
        for i, r in enumerate(self.relations_):
            if r.valid and self.support[i] & set(memory_ids):
                self.support[i] -= set(memory_ids)
                if not self.support[i]:  # the last memory that stated it is gone
                    self.relations_[i] = replace(r, valid=False, invalidated_at=at, valid_to=at)
                    changed.append(self.relations_[i])
        return changed

    async def relations_by_memory(self, memory_ids: Sequence[MemoryId]) -> dict[MemoryId, list[Relation]]:
        self._check()
        return {id: [r for i, r in enumerate(self.relations_) if id in self.stated[i]] for id in memory_ids}

    async def reset(self) -> None:
        self._check()
        self.entities_.clear()
        self.embeddings_.clear()
        self.relations_.clear()
        self.stated.clear()
        self.support.clear()

    async def counts(self) -> tuple[int, int]:
        self._check()
        return len(self.entities_), sum(1 for r in self.relations_ if r.valid)

    async def ping(self) -> None:
        self._check()

    async def close(self) -> None:
        return None


def _rel_key(r: Relation) -> str:
    return f"{r.created_at.isoformat()}|{r.source}|{r.relation}|{r.destination}"
