"""Turning messages into a plan of memory changes (the `add` pipeline, before anything is written)."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Literal, Mapping, Sequence

import numpy as np

from memory import prompts
from memory.catalog import ScopeCatalog, admits
from memory.categories import Category, pick
from memory.errors import ProviderError
from memory.extraction import Extraction, extract
from memory.models import (
    GraphWork,
    MemoryRecord,
    Message,
    Scope,
    Triple,
    Vector,
    as_utc,
    new_id,
    text_hash,
    utcnow,
)
from memory.ports import LLM, Embedder, MemoryRepository, VectorIndex

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A fact to store, with where it came from."""

    text: str
    role: str | None
    triples: tuple[Triple, ...] = ()
    occurred_at: datetime | None = None  # when what it tells happened: the message's time, or the text's
    categories: tuple[str, ...] | None = None  # filed by the LLM; None: classify by embedding


@dataclass
class Decided:
    """What the pipeline decided for the facts, before the write."""

    adds: list[tuple[Candidate, Vector]] = field(default_factory=list)
    updates: list[tuple[MemoryRecord, str, Vector]] = field(default_factory=list)
    invalidations: list[tuple[MemoryRecord, str]] = field(default_factory=list)
    unchanged: list[tuple[MemoryRecord, tuple[Triple, ...]]] = field(default_factory=list)
    loose_triples: list[Triple] = field(default_factory=list)  # not tied to one memory
    stored_raw: bool = False


class Ingestor:
    def __init__(
        self,
        embedder: Embedder,
        index: VectorIndex,
        catalog: ScopeCatalog,
        repo: MemoryRepository,
        llm: LLM | None,
        *,
        dedup_threshold: float,
        similar_memories: int,
        extractor: Callable[[list[Message], str], Extraction] = extract,
        max_categories: int = 3,
    ) -> None:
        self._max_categories = max_categories
        self._embedder = embedder
        self._index = index
        self._catalog = catalog
        self._repo = repo
        self._llm = llm
        self._dedup = dedup_threshold
        self._similar = similar_memories
        self._extract = extractor

    async def decide(
        self, messages: Sequence[Message], scope: Scope, infer: bool, prompt: str | None,
        categories: Sequence[Category] = (),
    ) -> Decided:
        """`categories`: the set the LLM files new facts under (in its extraction answer)."""
        raw = [Candidate(m.content, m.role, occurred_at=m.occurred_at) for m in messages if m.role != "system"]
        if not infer:
            return Decided(adds=list(zip(raw, await self._embed([c.text for c in raw], scope))))
        speaker = scope.user_id or "user"
        if self._llm is None:
            # clause parsing over up to MAX_ADD_CHARS of text: on a worker thread, so other
            # tenants' requests keep being served while it runs
            found = await asyncio.to_thread(self._extract, list(messages), speaker)
            facts = [Candidate(f, "user", tuple(t), e) for f, t, e in zip(found.facts, found.triples, found.event_times)]
            return await self._dedup_only(facts, scope)
        try:
            return await self._with_llm(messages, scope, speaker, prompt, categories)
        except ProviderError as exc:
            # the error may quote the model's answer (memory text): details only at DEBUG
            log.warning("LLM inference failed twice, storing the messages raw")
            log.debug("LLM failure: %s", exc)
            decided = Decided(adds=list(zip(raw, await self._embed([c.text for c in raw], scope))))
            decided.stored_raw = True
            return decided

    async def _embed(self, texts: list[str], scope: Scope) -> list[Vector]:
        if not texts:
            return []
        return list(await self._embedder.embed(texts, scope.tenant))

    async def _duplicate_of(
        self, text: str, vec: Vector, scope: Scope, planned: list[Vector]
    ) -> MemoryRecord | Literal["planned"] | None:
        """The stored memory this fact repeats; "planned" when it repeats a fact this call
        already plans to add; None when it is new."""
        same = await self._repo.find_by_hash(scope, text_hash(text))
        if same is not None and not same.expired(self._catalog.now()):  # an expired one is gone: add anew
            return same
        if any(float(np.dot(vec, p)) >= self._dedup for p in planned):
            return "planned"
        near = await self._index.nearest(vec, 1, self._catalog.allow(scope, include_invalidated=False))
        if near and near[0][1] >= self._dedup:
            found = await self._repo.get(near[0][0])
            # the catalog's answer may predate another owner's write: never dedup against it
            return found if found is not None and admits(scope, found, False, self._catalog.now()) else None
        return None

    async def _dedup_only(self, facts: list[Candidate], scope: Scope) -> Decided:
        decided = Decided()
        planned: list[Vector] = []
        for fact, vec in zip(facts, await self._embed([f.text for f in facts], scope)):
            dup = await self._duplicate_of(fact.text, vec, scope, planned)
            if isinstance(dup, MemoryRecord):
                decided.unchanged.append((dup, fact.triples))
            elif dup == "planned":
                decided.loose_triples.extend(fact.triples)
            else:
                planned.append(vec)
                decided.adds.append((fact, vec))
        return decided

    async def _ask(self, messages: list[Any], schema: type[Any]) -> Any:
        assert self._llm is not None
        try:
            return await self._llm.complete_json(messages, schema)
        except ProviderError as first:
            log.info("LLM answer unusable, retrying once")
            log.debug("LLM failure: %s", first)
            return await self._llm.complete_json(messages, schema)

    async def _with_llm(self, messages: Sequence[Message], scope: Scope, speaker: str, prompt: str | None,
                        categories: Sequence[Category]) -> Decided:
        extracted: prompts.Extracted = await self._ask(
            prompts.extraction_messages(messages, speaker, prompt, categories, self._max_categories), prompts.Extracted)
        filed = {k.strip(): v for k, v in extracted.categories.items()}
        facts = [f.strip() for f in extracted.facts if f and f.strip()]
        triples = [r.to_triple() for r in extracted.relations]
        decided = await self._dedup_only(
            [Candidate(f, "user", categories=pick(filed[f], categories, self._max_categories) if f in filed else None)
             for f in facts], scope)
        decided.loose_triples.extend(triples)
        if not decided.adds:
            return decided
        # ask the LLM how the remaining facts relate to the closest existing memories
        near: dict[str, None] = {}  # an ordered set: closest memories of every fact, first seen first
        allow = self._catalog.allow(scope, include_invalidated=False)
        for _, vec in decided.adds:
            for id, _score in await self._index.nearest(vec, self._similar, allow):
                near[id] = None
        records = await self._repo.get_many(list(near))
        now = self._catalog.now()
        # only the caller's own memories may reach the model's prompt
        mine = [rec for rec in records.values() if admits(scope, rec, False, now)]
        keyed = {str(i): rec for i, rec in enumerate(mine)}
        if not keyed:
            return decided
        answer: prompts.Decisions = await self._ask(
            prompts.decision_messages({k: r.text for k, r in keyed.items()}, [c.text for c, _ in decided.adds]),
            prompts.Decisions,
        )
        return await self._apply_decisions(answer, keyed, decided, scope)

    async def _apply_decisions(
        self, answer: prompts.Decisions, keyed: dict[str, MemoryRecord], decided: Decided, scope: Scope
    ) -> Decided:
        out = Decided(unchanged=list(decided.unchanged), loose_triples=list(decided.loose_triples))
        by_text = {c.text: (c, v) for c, v in decided.adds}
        touched: set[str] = set()
        pending_texts: list[str] = []
        rewrites: list[tuple[MemoryRecord, str]] = []
        for d in answer.decisions:
            target = keyed.get(d.id)
            text = d.text.strip()
            if target is not None and target.immutable and d.event in ("UPDATE", "DELETE"):
                # an immutable memory stays as it is whatever the model decides; its new text, if
                # any, is not lost either: it is a fact of its own, added like the model's ADDs
                log.info("LLM decided %s on immutable memory %s: kept as it is", d.event, target.id)
                out.unchanged.append((target, ()))
                if d.event == "UPDATE" and text:
                    pending_texts.append(text)
                continue
            if d.event == "ADD" and text:
                pending_texts.append(text)
            elif d.event == "UPDATE" and target is not None and text and target.id not in touched:
                touched.add(target.id)
                rewrites.append((target, text))
            elif d.event == "DELETE" and target is not None and target.id not in touched:
                touched.add(target.id)
                out.invalidations.append((target, d.reason or "contradicted by newer information"))
            elif d.event == "NONE" and target is not None:
                out.unchanged.append((target, ()))
            elif d.event in ("UPDATE", "DELETE", "NONE"):
                raise ProviderError(f"LLM referred to an unknown memory key {d.id!r}")
        # facts the LLM kept word for word already have their vectors: embed only new texts
        fresh = [t for t in dict.fromkeys(pending_texts) if t not in by_text] + [t for _, t in rewrites]
        vectors = dict(zip(fresh, await self._embed(fresh, scope)))
        planned: list[Vector] = []
        for text in pending_texts:
            cand, vec = by_text.get(text) or (Candidate(text, "user"), vectors[text])
            dup = await self._duplicate_of(text, vec, scope, planned)
            if isinstance(dup, MemoryRecord):
                out.unchanged.append((dup, cand.triples))
            elif dup is None:
                planned.append(vec)
                out.adds.append((cand, vec))
        out.updates = [(r, t, vectors[t]) for r, t in rewrites]
        return out


def new_record(
    text: str, scope: Scope, metadata: Mapping[str, Any], role: str | None, occurred_at: datetime | None = None,
    immutable: bool = False,
) -> MemoryRecord:
    now = utcnow()
    meta = dict(metadata)
    if role is not None:
        meta.setdefault("role", role)
    occurred = as_utc(occurred_at) if occurred_at is not None else now
    return MemoryRecord(new_id(), text, text_hash(text), scope, meta, now, now, occurred_at=occurred,
                        immutable=immutable)


def graph_work(scope: Scope, triples: Sequence[Triple], memory_id: str | None, embeddings: Mapping[str, tuple[float, ...]],
               exclusive: frozenset[str]) -> GraphWork:
    names = {n for t in triples for n in (t.source, t.destination)}
    return GraphWork(
        id=new_id(), scope=scope, triples=tuple(triples), memory_id=memory_id, created_at=utcnow(),
        entity_embeddings={n: e for n, e in embeddings.items() if n in names}, exclusive_relations=exclusive,
    )

