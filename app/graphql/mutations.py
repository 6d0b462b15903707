"""Mutation resolvers: convert input, call one service method, convert output."""
from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from app.graphql.context import Info
from app.graphql.inputs import (
    AddMemoriesInput,
    GiveFeedbackInput,
    MemoryFilter,
    RelationInput,
    ScopeInput,
    UpdateMemoryInput,
    filter_of,
    json_object,
    required_scope,
    scope_of,
)
from app.graphql.types import AddResult, DeleteMemoriesResult, ExportJob, Memory, Relation

Purge = Annotated[bool, strawberry.argument(
    description="Erase for real: the text also leaves the history (its lines stay, without content), "
    "the graph and the indexes. Cannot be undone.")]


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Remember what matters in a conversation (or store it as is with infer: false).")
    async def add_memories(self, info: Info, input: AddMemoriesInput) -> AddResult:
        ctx = info.context
        result = await ctx.service.add(
            input.to_messages(), required_scope(input.scope), metadata=json_object(input.metadata, "metadata"),
            infer=input.infer, prompt=input.prompt, occurred_at=input.occurred_at,
            immutable=input.immutable,
            includes=input.includes, excludes=input.excludes, expires_at=input.expiry(),
            categories=input.categories, custom_categories=input.category_set(),
        )
        return AddResult.of(result)

    @strawberry.mutation(description="Export the memories of a scope (all you may see when unset), optionally "
                         "filtered, as JSON in the background; poll memoryExport(id). `schema` "
                         "({properties: {...}}) sets each object's properties: see docs/rest.md, Exports.")
    async def create_memory_export(self, info: Info, scope: ScopeInput | None = None,
                                   filter: MemoryFilter | None = None, schema: JSON | None = None) -> ExportJob:
        job = await info.context.service.create_export(scope_of(scope), filters=filter_of(filter), schema=schema)
        return ExportJob.of(job)

    @strawberry.mutation(description="Change a memory's text, replace its metadata, set or remove its expiry "
                         "and/or replace its categories.")
    async def update_memory(self, info: Info, input: UpdateMemoryInput) -> Memory:
        ctx = info.context
        record = await ctx.service.update(
            str(input.id), text=input.text, metadata=json_object(input.metadata, "metadata"),
            expires_at=input.expiry(), categories=input.categories,
        )
        return Memory.of(record)

    @strawberry.mutation(description="Change up to 1,000 memories at once, all or none: when an item is refused "
                         "(missing, immutable, repeated, invalid) nothing changes and the error's "
                         "extensions.items says which items and why.")
    async def update_memories(self, info: Info, input: list[UpdateMemoryInput]) -> list[Memory]:
        records = await info.context.service.update_many([item.to_edit() for item in input])
        return [Memory.of(rec) for rec in records]

    @strawberry.mutation(description="Delete up to 1,000 memories by id, all or none (extensions.items names the "
                         "ids refused); returns them as they were. Immutable memories can be deleted.")
    async def delete_memories_by_ids(self, info: Info, ids: list[strawberry.ID]) -> list[Memory]:
        records = await info.context.service.delete_many([str(id) for id in ids])
        return [Memory.of(rec) for rec in records]
    @strawberry.mutation(description="Give (or, with feedback null, clear) feedback on a memory; returns the memory.")
    async def give_feedback(self, info: Info, input: GiveFeedbackInput) -> Memory:
        ctx = info.context
        id = str(input.memory_id)
        given = await ctx.service.give_feedback(id, input.feedback, input.reason)
        ctx.loaders.feedback.prime(id, given, force=True)  # the answer's `feedback` is the one just given
        return Memory.of(await ctx.service.get(id))

    @strawberry.mutation(description="Delete one memory; returns it as it was.")
    async def delete_memory(self, info: Info, id: strawberry.ID, purge: Purge = False) -> Memory:
        return Memory.of(await info.context.service.delete(str(id), purge=purge))

    @strawberry.mutation(description="Delete every memory within this scope (userId alone covers all of that user's agents and runs).")
    async def delete_memories(self, info: Info, scope: ScopeInput, purge: Purge = False) -> DeleteMemoriesResult:
        count = await info.context.service.delete_all(required_scope(scope), purge=purge)
        return DeleteMemoriesResult(deleted_count=count)

    @strawberry.mutation(description="Delete everything: memories, history and graph. Returns true.")
    async def reset_memories(self, info: Info) -> bool:
        await info.context.service.reset()
        return True

    @strawberry.mutation(description="Add one relation to the graph directly.")
    async def add_relation(self, info: Info, input: RelationInput) -> AddResult:
        ctx = info.context
        result = await ctx.service.add_relation(
            required_scope(input.scope), input.source, input.relation, input.destination
        )
        return AddResult.of(result)

    @strawberry.mutation(description="Mark matching valid relations invalid; returns those changed.")
    async def invalidate_relation(self, info: Info, input: RelationInput) -> list[Relation]:
        ctx = info.context
        changed = await ctx.service.invalidate_relation(
            required_scope(input.scope), input.source, input.relation, input.destination
        )
        return [Relation.of(rel) for rel in changed]
