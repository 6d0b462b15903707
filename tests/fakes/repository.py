from __future__ import annotations

import dataclasses
import math
import re
from typing import Sequence

from memory.mentions import mentioned
from memory.models import Feedback, GraphWork, HistoryEntry, MemoryId, MemoryRecord, Scope, Vector
from memory.ports import CatalogRow, ChangeSet, Order, PageCursor, TextRow
from memory.webhooks import Delivery


class InMemoryRepository:
    def __init__(self) -> None:
        self.rows: dict[MemoryId, tuple[MemoryRecord, Vector, int]] = {}
        self.log: list[HistoryEntry] = []
        self.outbox: dict[str, GraphWork] = {}
        self.failures: dict[str, str] = {}
        self.feedbacks: dict[MemoryId, Feedback] = {}
        self.deliveries: list[Delivery] = []  # webhook deliveries written with changes
        self._seq = 0
        self.fail_next_commit: Exception | None = None

    async def commit(self, change: ChangeSet) -> int:
        if self.fail_next_commit is not None:
            exc, self.fail_next_commit = self.fail_next_commit, None
            raise exc
        self._erase(change)
        for entry in change.history:
            self._seq += 1
            self.log.append(dataclasses.replace(entry, seq=self._seq))
        for w in change.writes:
            self.rows[w.record.id] = (w.record, w.embedding.copy(), self._seq)
        for id in change.deletes:
            self.rows.pop(id, None)
            self.feedbacks.pop(id, None)
        for work in change.graph_work:
            self.outbox[work.id] = work
        self.deliveries += change.deliveries
        return self._seq

    def _erase(self, change: ChangeSet) -> None:
        gone, wiped = set(change.erased), change.erased_scope
        if not gone and wiped is None:
            return
        self.log = [dataclasses.replace(e, old_text=None, new_text=None, reason=None)
                    if e.memory_id in gone or (wiped is not None and wiped.contains(e.scope)) else e
                    for e in self.log]
        self.outbox = {k: w for k, w in self.outbox.items()
                       if w.memory_id not in gone and not (wiped is not None and wiped.contains(w.scope))}
        self.deliveries = [d for d in self.deliveries
                           if d.memory_id not in gone and not (wiped is not None and wiped.contains(d.scope))]

    async def get(self, id: MemoryId) -> MemoryRecord | None:
        row = self.rows.get(id)
        return row[0] if row else None

    async def get_many(self, ids: Sequence[MemoryId], *, recent: bool = False) -> dict[MemoryId, MemoryRecord]:
        return {id: self.rows[id][0] for id in ids if id in self.rows}

    async def get_many_with_embeddings(
        self, ids: Sequence[MemoryId], *, recent: bool = False
    ) -> tuple[dict[MemoryId, MemoryRecord], dict[MemoryId, Vector]]:
        return await self.get_many(ids), await self.embeddings(ids)

    async def find_by_hash(self, scope: Scope, hash: str) -> MemoryRecord | None:
        for rec, _, _ in self.rows.values():
            if rec.scope == scope and rec.hash == hash and rec.valid:
                return rec
        return None

    async def list_page(self, scope: Scope | None, *, order: Order, after: PageCursor | None, limit: int,
                        include_invalidated: bool) -> list[MemoryRecord]:
        desc = order in (Order.CREATED_DESC, Order.UPDATED_DESC)
        attr = "created_at" if order in (Order.CREATED_ASC, Order.CREATED_DESC) else "updated_at"
        recs = [r for r, _, _ in self.rows.values()
                if (scope is None or scope.contains(r.scope)) and (include_invalidated or r.valid)]
        recs.sort(key=lambda r: (getattr(r, attr), r.id), reverse=desc)
        if after is not None:
            key = (after.at, after.id)
            recs = [r for r in recs if ((getattr(r, attr), r.id) < key if desc else (getattr(r, attr), r.id) > key)]
        return recs[:limit]

    async def ids_in_scope(self, scope: Scope, include_invalidated: bool) -> list[MemoryId]:
        return [id for id, (r, _, _) in self.rows.items() if scope.contains(r.scope) and (include_invalidated or r.valid)]

    async def lexical_search(self, scope: Scope, terms: Sequence[str], k: int,
                             include_invalidated: bool = False) -> list[tuple[MemoryId, float]]:
        """Plain BM25 (k1=1.2, b=0.75) over whole lower-case words, computed on every call."""
        docs = {id: re.findall(r"[^\W_]+", r.text.casefold()) for id, (r, _, _) in self.rows.items()}
        wanted = [t for t in dict.fromkeys(terms) if t]
        if not docs or not wanted or k <= 0:
            return []
        avg = sum(map(len, docs.values())) / len(docs)
        df = {t: sum(1 for words in docs.values() if t in words) for t in wanted}
        found = []
        for id, words in docs.items():
            rec = self.rows[id][0]
            if not scope.contains(rec.scope) or not (include_invalidated or rec.valid):
                continue
            score = 0.0
            for t in wanted:
                tf = words.count(t)
                if tf:
                    idf = math.log(1 + (len(docs) - df[t] + 0.5) / (df[t] + 0.5))
                    score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len(words) / avg))
            if score > 0:
                found.append((id, score))
        found.sort(key=lambda p: (-p[1], p[0]))
        return found[:k]

    def _visible(self, scope: Scope, include_invalidated: bool) -> list[MemoryRecord]:
        return [r for r, _, _ in self.rows.values() if scope.contains(r.scope) and (include_invalidated or r.valid)]

    async def mention_counts(self, scope: Scope, keys: Sequence[str],
                             include_invalidated: bool = False) -> dict[str, int]:
        counts: dict[str, int] = {}
        for rec in self._visible(scope, include_invalidated):
            for key in set(mentioned(rec.text)) & set(keys):
                counts[key] = counts.get(key, 0) + 1
        return counts

    async def mentioning(self, scope: Scope, keys: Sequence[str], k: int,
                         include_invalidated: bool = False) -> list[MemoryId]:
        named = [(len(set(mentioned(r.text)) & set(keys)), r) for r in self._visible(scope, include_invalidated)]
        named.sort(key=lambda p: (-p[0], -p[1].created_at.timestamp(), p[1].id))
        return [r.id for n, r in named if n][: max(k, 0)]

    async def mentions(self, ids: Sequence[MemoryId]) -> dict[MemoryId, list[str]]:
        return {id: sorted(keys) for id in ids if id in self.rows and (keys := mentioned(self.rows[id][0].text))}

    async def history(self, memory_ids: Sequence[MemoryId]) -> dict[MemoryId, list[HistoryEntry]]:
        return {id: [e for e in self.log if e.memory_id == id] for id in memory_ids}

    async def changed_since(self, seq: int, limit: int) -> list[tuple[int, MemoryId]]:
        return [(e.seq or 0, e.memory_id) for e in self.log if (e.seq or 0) > seq][:limit]

    async def catalog(self, after: MemoryId | None = None, limit: int | None = None) -> list[CatalogRow]:
        ids = sorted(id for id in self.rows if after is None or id > after)
        return [CatalogRow(id, r.scope, r.valid, r.expires_at) for id in ids[:limit] for r in [self.rows[id][0]]]

    async def text_rows(self, after: MemoryId | None, limit: int) -> list[TextRow]:
        ids = sorted(id for id in self.rows if after is None or id > after)[:limit]
        return [TextRow(id, r.scope, r.valid, r.text, r.created_at, r.expires_at, tuple(mentioned(r.text)))
                for id in ids for r in [self.rows[id][0]]]

    async def embeddings_since(self, seq: int, *, after: MemoryId | None = None,
                               limit: int | None = None) -> list[tuple[MemoryId, Vector]]:
        rows = sorted((id, v) for id, (_, v, s) in self.rows.items() if s > seq and (after is None or id > after))
        return rows if limit is None else rows[:limit]

    async def embeddings(self, ids: Sequence[MemoryId]) -> dict[MemoryId, Vector]:
        return {id: self.rows[id][1] for id in ids if id in self.rows}

    async def max_seq(self) -> int:
        return self._seq

    async def count(self, include_invalidated: bool = True) -> int:
        return sum(1 for r, _, _ in self.rows.values() if include_invalidated or r.valid)

    async def put_feedback(self, memory_id: MemoryId, feedback: Feedback | None) -> bool:
        if memory_id not in self.rows:
            return False
        self.feedbacks.pop(memory_id, None)
        if feedback is not None:
            self.feedbacks[memory_id] = feedback
        return True

    async def feedback(self, memory_ids: Sequence[MemoryId]) -> dict[MemoryId, Feedback]:
        return {id: self.feedbacks[id] for id in memory_ids if id in self.feedbacks}

    async def reset(self) -> None:
        self.rows.clear()
        self.feedbacks.clear()
        self.log.clear()
        self.outbox.clear()
        self.deliveries.clear()

    async def pending_graph_work(self, limit: int) -> list[GraphWork]:
        return sorted(self.outbox.values(), key=lambda w: w.created_at)[:limit]

    async def complete_graph_work(self, ids: Sequence[str]) -> None:
        for id in ids:
            self.outbox.pop(id, None)

    async def record_graph_failure(self, ids: Sequence[str], error: str) -> None:
        for id in ids:
            self.failures[id] = error

    async def outbox_size(self) -> int:
        return len(self.outbox)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None
