"""GraphQL input types and their conversion into the core's values (scope, filter tree...).

A `MemoryFilter` is the core's filter language in typed form:

    {and: [{field: {name: "topic", eq: "food"}}, {field: {name: "createdAt", gte: "2025-01-01"}}],
     not: {field: {name: "tags", contains: "draft"}}}

Several keys in one MemoryFilter (or several operators in one FieldCondition) are ANDed."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types.unset import UNSET, UnsetType

from memory import filters as f
from memory.batch import MemoryEdit
from memory.categories import Category, check_categories
from memory.expiry import KEEP, Keep, expiry_from
from memory.errors import InvalidInput
from memory.models import FeedbackRating, GraphQuery, Message, Scope
from memory.ports import Order
from memory.ranking import SearchMode

strawberry.enum(Order, name="MemoryOrder", description="Order of a memories page.")
strawberry.enum(FeedbackRating, name="FeedbackRating", description="What a user thought of a memory (mem0's values).")
strawberry.enum(SearchMode, name="SearchMode",
                description="Search channels: HYBRID fuses full-text and vector search; VECTOR or LEXICAL alone.")

# camelCase spellings of the record's own fields; anything else is a metadata key
_RECORD_FIELDS = {
    "createdAt": "created_at", "updatedAt": "updated_at", "invalidatedAt": "invalidated_at",
    "expiresAt": "expires_at", "userId": "user_id", "agentId": "agent_id", "runId": "run_id",
}
_OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in_", "nin", "contains")


@strawberry.input(description="Who memories belong to. On reads, unset fields match anything.")
class ScopeInput:
    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None

    def to_scope(self) -> Scope:
        return Scope(user_id=self.user_id, agent_id=self.agent_id, run_id=self.run_id)


def scope_of(value: ScopeInput | None) -> Scope | None:
    return value.to_scope() if value is not None else None


def required_scope(value: ScopeInput) -> Scope:
    return value.to_scope().require()


@strawberry.input(
    description="A condition on one field: give one or more operators (they are ANDed). `name` is a "
    "metadata key (`topic` or `metadata.topic`) or one of text, categories, userId, agentId, runId, "
    "createdAt, updatedAt, invalidatedAt, expiresAt (ISO-8601 times)."
)
class FieldCondition:
    name: str
    eq: JSON | None = UNSET
    ne: JSON | None = UNSET
    gt: JSON | None = UNSET
    gte: JSON | None = UNSET
    lt: JSON | None = UNSET
    lte: JSON | None = UNSET
    in_: list[JSON | None] | None = strawberry.field(name="in", default=UNSET)
    nin: list[JSON | None] | None = UNSET
    contains: JSON | None = strawberry.field(
        default=UNSET, description="Substring (case-insensitive) of a string, or element of a list."
    )

    def to_filter(self) -> f.Filter:
        name = _RECORD_FIELDS.get(self.name, self.name)
        parts = [
            f.condition(name, op.rstrip("_"), getattr(self, op))
            for op in _OPERATORS
            if not isinstance(getattr(self, op), UnsetType)
        ]
        if not parts:
            raise InvalidInput(
                f"the condition on {self.name!r} needs an operator: one of eq, ne, gt, gte, lt, lte, in, nin, contains"
            )
        return parts[0] if len(parts) == 1 else f.All(tuple(parts))


@strawberry.input(description="A filter over memories: a field condition and/or and / or / not of filters.")
class MemoryFilter:
    and_: list[MemoryFilter] | None = strawberry.field(name="and", default=None)
    or_: list[MemoryFilter] | None = strawberry.field(name="or", default=None)
    not_: MemoryFilter | None = strawberry.field(name="not", default=None)
    field: FieldCondition | None = None

    def to_filter(self, depth: int = 0) -> f.Filter:
        if depth > f.MAX_DEPTH:
            raise InvalidInput(f"filter nesting deeper than {f.MAX_DEPTH}")
        parts: list[f.Filter] = []
        for name, group, combine in (("and", self.and_, f.All), ("or", self.or_, f.AnyOf)):
            if group is not None:
                if not group:
                    raise InvalidInput(f"`{name}` needs at least one filter")
                parts.append(combine(tuple(item.to_filter(depth + 1) for item in group)))
        if self.not_ is not None:
            parts.append(f.Not(self.not_.to_filter(depth + 1)))
        if self.field is not None:
            parts.append(self.field.to_filter())
        if not parts:
            raise InvalidInput("an empty filter: give `field`, `and`, `or` or `not`")
        return parts[0] if len(parts) == 1 else f.All(tuple(parts))


def filter_of(value: MemoryFilter | None) -> f.Filter | None:
    return value.to_filter() if value is not None else None


@strawberry.input(description="Filters for listing entities.")
class EntityFilter:
    name_contains: str | None = None
    type: str | None = None

    def to_query(self) -> GraphQuery:
        return GraphQuery(name_contains=self.name_contains, entity_type=self.type)


@strawberry.input(description="Filters for listing relations.")
class RelationFilter:
    name_contains: str | None = strawberry.field(default=None, description="Part of the source or destination name.")
    relation: str | None = None
    include_invalid: bool = False

    def to_query(self, as_of: datetime | None = None) -> GraphQuery:
        return GraphQuery(name_contains=self.name_contains, relation=self.relation,
                          include_invalid=self.include_invalid, as_of=as_of)


@strawberry.input(description="One message: its text (`content`) or an image (`imageUrl`), not both.")
class MessageInput:
    role: str = strawberry.field(description="user, assistant or system.")
    content: str | None = None
    image_url: str | None = strawberry.field(
        default=None, description="An image (http(s) URL or data:image/...;base64,...), described by the server's "
        "vision model; without one the add fails with code VISION_NOT_CONFIGURED.")
    occurred_at: datetime | None = strawberry.field(
        default=None, description="When it was said (raw adds keep it as the memory's occurredAt).")


@strawberry.input
class AddMemoriesInput:
    messages: list[MessageInput]
    scope: ScopeInput
    metadata: JSON | None = None
    infer: bool = strawberry.field(default=True, description="Extract facts (true) or store the messages as they are.")
    prompt: str | None = strawberry.field(default=None, description="Extra instructions for fact extraction.")
    occurred_at: datetime | None = strawberry.field(
        default=None, description="When the messages happened (default: now); a message's own time wins.")
    immutable: bool = strawberry.field(
        default=False, description="The memories added can never be updated (by you or by LLM decisions), only deleted.")
    includes: str | None = strawberry.field(
        default=None, description="What to extract (free text, e.g. \"food preferences\"); needs an LLM.")
    excludes: str | None = strawberry.field(
        default=None, description="What never to extract (free text, e.g. \"health details\"); needs an LLM.")
    expires_at: datetime | None = strawberry.field(
        default=None, description="From this time on the memories added leave every read (must lie ahead).")
    expiration_date: date | None = strawberry.field(
        default=None, description="The memories added hold through this day (UTC), then expire: expiresAt at "
        "the next midnight UTC. Give expiresAt or expirationDate.")
    categories: list[str] | None = strawberry.field(
        default=None, description="File every memory added under exactly these (no inference).")
    custom_categories: list[CategoryInput] | None = strawberry.field(
        default=None, description="The categories to file the memories added under (default: the server's set).")

    def to_messages(self) -> list[Message]:
        out = []
        for i, msg in enumerate(self.messages):
            if (msg.content is None) == (msg.image_url is None):
                raise InvalidInput(f"messages[{i}]: give content or imageUrl (one of them)")
            out.append(Message(role=msg.role, content=msg.content or "", occurred_at=msg.occurred_at,
                               image_url=msg.image_url))
        return out

    def expiry(self) -> datetime | None:
        return expiry_of(self.expires_at, self.expiration_date)

    def category_set(self) -> tuple[Category, ...] | None:
        if self.custom_categories is None:
            return None
        return check_categories([{c.name: c.description} for c in self.custom_categories], "customCategories")


@strawberry.input(description="A category memories can be filed under, and what it covers.")
class CategoryInput:
    name: str
    description: str


def expiry_of(expires_at: datetime | None, expiration_date: date | None) -> datetime | None:
    if expires_at is not None and expiration_date is not None:
        raise InvalidInput("give expiresAt or expirationDate, not both")
    return expiry_from(expires_at if expires_at is not None else expiration_date, "expiresAt")


@strawberry.input(description="Feedback on one memory; feedback null clears it.")
class GiveFeedbackInput:
    memory_id: strawberry.ID
    feedback: FeedbackRating | None
    reason: str | None = strawberry.field(default=None, description="Why (at most 2000 characters).")


@strawberry.input
class UpdateMemoryInput:
    id: strawberry.ID
    text: str | None = None
    metadata: JSON | None = strawberry.field(default=None, description="Replaces the metadata when given.")
    expires_at: datetime | None = strawberry.field(
        default=UNSET, description="A new expiry (must lie ahead); null removes it. updateMemory only.")
    expiration_date: date | None = strawberry.field(
        default=UNSET, description="Holds through this day (UTC), then expires; null removes the expiry. "
        "updateMemory only.")
    categories: list[str] | None = strawberry.field(
        default=None, description="Replace the memory's categories. updateMemory only.")

    def expiry(self) -> datetime | None | Keep:
        given = [v for v in (self.expires_at, self.expiration_date) if not isinstance(v, UnsetType)]
        if not given:
            return KEEP
        if len(given) == 2:
            raise InvalidInput("give expiresAt or expirationDate, not both")
        at = self.expires_at if not isinstance(self.expires_at, UnsetType) else None
        day = self.expiration_date if not isinstance(self.expiration_date, UnsetType) else None
        return expiry_of(at, day)

    def to_edit(self) -> MemoryEdit:
        if self.expiry() is not KEEP or self.categories is not None:
            raise InvalidInput("updateMemories changes text and metadata; set expiry or categories with updateMemory")
        return MemoryEdit(str(self.id), text=self.text, metadata=json_object(self.metadata, "metadata"))


@strawberry.input(description="One relation: source -[relation]-> destination, owned by scope.")
class RelationInput:
    scope: ScopeInput
    source: str
    relation: str
    destination: str


def json_object(value: Any, what: str) -> dict[str, Any] | None:
    """Metadata must be a JSON object (or absent)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} must be a JSON object")
    return value
