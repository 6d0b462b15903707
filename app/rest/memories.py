"""REST handlers for memories. Each converts its validated input, calls one operation of the
caller's GuardedMemoryService (which enforces who may touch what) and converts the result."""
from __future__ import annotations

from app.rest.dispatch import Ctx
from app.rest.requests import (
    AddRequest,
    BatchDeleteRequest,
    BatchUpdateRequest,
    DeleteAllQuery,
    DeleteOneQuery,
    FeedbackRequest,
    ImagePart,
    MemoryPath,
    MessageIn,
    SearchRequest,
    TextPart,
    UpdateRequest,
)
from app.rest.responses import (
    AddResponse,
    BatchDeleteResponse,
    BatchUpdateResponse,
    DeleteAllResponse,
    DeleteResponse,
    FeedbackResponse,
    GraphRelation,
    HistoryOut,
    HistoryResponse,
    MemoryOut,
    Message,
    SearchHitOut,
    SearchResponse,
    UpdateResponse,
)
from app.rest.scoping import (
    categories_filter,
    check_graph,
    metadata_filter,
    owner_scope,
    parse_filters_text,
    pick_limit,
    scope_and_filter,
)
from memory.batch import MemoryEdit
from memory.categories import check_categories
from memory.expiry import KEEP, expiry_from
from memory.errors import InvalidInput
from memory.models import FeedbackRating
from memory.models import Message as CoreMessage
from memory.models import Scope
from memory.ranking import SearchMode

DEFAULT_TOP_K = 10


async def add(ctx: Ctx) -> AddResponse:
    body: AddRequest = ctx.body
    check_graph(ctx, body.enable_graph)
    if body.prompt is not None and body.custom_instructions is not None and body.prompt != body.custom_instructions:
        raise InvalidInput("prompt and custom_instructions are the same setting: give one")
    scope = owner_scope(body.scope_fields(), body.filters, "add")
    if isinstance(body.messages, str):
        messages = [CoreMessage("user", body.messages)]
    else:
        messages = [part for m in body.messages for part in core_messages(m)]
    custom = check_categories(body.custom_categories) if body.custom_categories is not None else None
    result = await ctx.svc.add(messages, scope, metadata=body.metadata, infer=body.infer,
                               prompt=body.prompt or body.custom_instructions, occurred_at=body.timestamp,
                               immutable=body.immutable, includes=body.includes, excludes=body.excludes,
                               expires_at=expiry_from(body.expiration_date), categories=body.categories,
                               custom_categories=custom)
    return AddResponse.of(result)


def core_messages(message: MessageIn) -> list[CoreMessage]:
    """One message per text (its parts joined) and one per image, in the order sent."""
    content = message.content
    if isinstance(content, str):
        return [CoreMessage(message.role, content)]
    if isinstance(content, ImagePart):
        return [CoreMessage(message.role, "", image_url=content.url)]
    out: list[CoreMessage] = []
    texts: list[str] = []
    for part in content:
        if isinstance(part, TextPart):
            texts.append(part.text)
            continue
        if texts:
            out.append(CoreMessage(message.role, "\n".join(texts)))
            texts = []
        out.append(CoreMessage(message.role, "", image_url=part.url))
    if texts:
        out.append(CoreMessage(message.role, "\n".join(texts)))
    return out


async def search(ctx: Ctx) -> SearchResponse:
    body: SearchRequest = ctx.body
    check_graph(ctx, body.enable_graph)
    scope, tree = scope_and_filter(body.scope_fields(), body.filters,
                                   metadata_filter(body.metadata), categories_filter(body.categories))
    result = await ctx.svc.search(
        body.query, scope or Scope(), filters=tree, limit=pick_limit(body.limit, body.top_k, DEFAULT_TOP_K),
        threshold=body.threshold, include_invalidated=body.include_invalidated or body.latest_only is False or bool(body.show_expired),
        mode=SearchMode.VECTOR if body.keyword_search is False else SearchMode.HYBRID, rerank=body.rerank,
        with_relations=bool(body.enable_graph),  # mem0 returns relations when the request enables the graph
    )
    return SearchResponse(results=[SearchHitOut.hit(h) for h in result.hits],
                          relations=[GraphRelation.of(r) for r in result.relations])


async def get(ctx: Ctx) -> MemoryOut:
    path: MemoryPath = ctx.path
    return MemoryOut.of(await ctx.svc.get(path.memory_id))


async def update(ctx: Ctx) -> UpdateResponse:
    path: MemoryPath = ctx.path
    body: UpdateRequest = ctx.body
    # mem0 sends expiration_date null to remove the expiry: absent and null differ
    expires = expiry_from(body.expiration_date) if "expiration_date" in body.model_fields_set else KEEP
    if body.text is None and body.metadata is None and expires is KEEP and body.categories is None:
        raise InvalidInput("give text, metadata, expiration_date and/or categories to update")
    record = await ctx.svc.update(path.memory_id, text=body.text, metadata=body.metadata, expires_at=expires,
                                  categories=body.categories)
    return UpdateResponse(**MemoryOut.of(record).model_dump(), message="Memory updated successfully!")


async def batch_update(ctx: Ctx) -> BatchUpdateResponse:
    body: BatchUpdateRequest = ctx.body
    records = await ctx.svc.update_many(
        [MemoryEdit(m.memory_id, text=m.text, metadata=m.metadata) for m in body.memories])
    return BatchUpdateResponse(message=f"Successfully updated {len(records)} memories",
                               results=[MemoryOut.of(r) for r in records])


async def batch_delete(ctx: Ctx) -> BatchDeleteResponse:
    body: BatchDeleteRequest = ctx.body
    records = await ctx.svc.delete_many([m.memory_id for m in body.memories])
    return BatchDeleteResponse(message=f"Successfully deleted {len(records)} memories", deleted=len(records),
                               ids=[r.id for r in records])


async def delete(ctx: Ctx) -> DeleteResponse:
    path: MemoryPath = ctx.path
    query: DeleteOneQuery = ctx.query
    if query.delete_linked:
        raise InvalidInput("delete_linked=true is not supported: AgentMem keeps no chain of superseded memories")
    await ctx.svc.delete(path.memory_id, purge=query.purge)
    return DeleteResponse(message="Memory deleted successfully!", id=path.memory_id)


async def delete_all(ctx: Ctx) -> DeleteAllResponse:
    query: DeleteAllQuery = ctx.query
    scope = owner_scope(query.scope_fields(), parse_filters_text(query.filters), "delete_all")
    if scope.is_empty:
        # mem0 refuses this too; deleting everything is DELETE /v1/memories/reset (admins only)
        raise InvalidInput("give user_id, agent_id or run_id: which memories should be deleted?")
    deleted = await ctx.svc.delete_all(scope, purge=query.purge)
    return DeleteAllResponse(message="Memories deleted successfully!", deleted=deleted)


async def reset(ctx: Ctx) -> Message:
    await ctx.svc.reset()
    return Message(message="All memories, their history and the graph were deleted.")


async def history(ctx: Ctx) -> HistoryResponse:
    path: MemoryPath = ctx.path
    return HistoryResponse([HistoryOut.of(e) for e in await ctx.svc.history(path.memory_id)])


async def feedback(ctx: Ctx) -> FeedbackResponse:
    body: FeedbackRequest = ctx.body
    given = await ctx.svc.give_feedback(body.memory_id, FeedbackRating(body.feedback) if body.feedback else None,
                                        body.feedback_reason)
    return FeedbackResponse(id=body.memory_id, feedback=given.rating.value if given else None,
                            feedback_reason=given.reason if given else None)
