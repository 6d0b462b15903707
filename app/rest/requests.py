"""What REST callers send, as pydantic models in mem0's shapes. The handlers validate with these
and /openapi.json is generated from them, so the document cannot drift from the code.

mem0 options that AgentMem cannot honour are listed per model in `refused` (name -> reason and
the values that are harmless): sending any other value is a 400 that says why, never a silent
no-op. Unknown fields are a 400 too."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, Json, field_validator, model_validator

from memory.validation import MAX_BATCH

ScopeId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\w.@:+\-]+$")]
Filters = Annotated[dict[str, Any], Field(description="mem0 filter grammar: see the API description.")]
_NO_TENANTS = "AgentMem has no organisations or projects: the credential decides what you may touch"
# what /v1/ping/ answers: mem0's MemoryClient refuses to start without both, and sends them back
ORG_ID, PROJECT_ID = "agentmem", "default"
# an expired memory counts as invalidated (the sweep invalidates it): one switch shows both
_SHOW_EXPIRED = "true: also expired memories, with the invalidated ones (as include_invalidated)."
_NO_APPS = "AgentMem has no app_id: scope memories with user_id, agent_id and run_id (or use metadata)"
_COMMON_REFUSED: dict[str, tuple[str, tuple[Any, ...]]] = {
    "app_id": (_NO_APPS, ()),
    "org_id": (_NO_TENANTS, (ORG_ID,)),
    "project_id": (_NO_TENANTS, (PROJECT_ID,)),
    "output_format": ("only the v1.1 output format ({\"results\": [...]}) is served", ("v1.1",)),
    "version": ("the v1 and v2 request shapes are both served", ("v1", "v2")),
}


class Mem0Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refused: ClassVar[dict[str, tuple[str, tuple[Any, ...]]]] = {}

    @model_validator(mode="before")
    @classmethod
    def _refuse_unsupported(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for name, (reason, harmless) in {**_COMMON_REFUSED, **cls.refused}.items():
            if name in data and name not in cls.model_fields:
                value = data.pop(name)
                # query strings carry "true" / "v1.1" as text: compare in that form too
                if value is not None and value not in harmless and str(value).lower() not in {
                        str(h).lower() for h in harmless}:
                    raise ValueError(f"{name}={value!r} is not supported: {reason}")
        return data


class ScopeFields(Mem0Request):
    user_id: ScopeId | None = None
    agent_id: ScopeId | None = None
    run_id: ScopeId | None = None

    def scope_fields(self) -> dict[str, str | None]:
        return {"user_id": self.user_id, "agent_id": self.agent_id, "run_id": self.run_id}


class ImageUrl(BaseModel):
    url: str = Field(min_length=1, description="http(s)://... or data:image/png;base64,...")
    detail: Literal["auto", "low", "high"] | None = Field(default=None, description="OpenAI's hint; not used.")


class ImagePart(BaseModel):
    """An image, described by the configured vision model (400 VISION_NOT_CONFIGURED without one)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["image_url"]
    image_url: ImageUrl | Annotated[str, Field(min_length=1)]

    @property
    def url(self) -> str:
        return self.image_url if isinstance(self.image_url, str) else self.image_url.url


class TextPart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["text"]
    text: str = Field(min_length=1)


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str = Field(min_length=1, max_length=64, description="user, assistant or system")
    content: Annotated[str, Field(min_length=1)] | ImagePart | Annotated[list[ContentPart], Field(min_length=1)] = Field(
        description="Text; an image part {type: image_url, image_url: {url}} (mem0); or a list of text and image "
        "parts (OpenAI). Images need the server's vision model.")


class AddRequest(ScopeFields):
    """Remember a conversation (or, with infer=false, store each message as it is). The owner is
    user_id / agent_id / run_id, given at the top level (v1) or as equalities in `filters` (v3).
    Refused when set: agent_custom_instructions, structured_data_schema, memory_type, app_id,
    org_id, project_id. `expiration_date` (YYYY-MM-DD: through that day, UTC; or an ISO-8601 time)
    takes the memories out of every read from then on; `custom_categories` replaces the server's
    category set for this add; `categories` files the memories under exactly these.
    immutable=true stores memories that refuse updates (409 IMMUTABLE) and that LLM decisions keep.
    `prompt`, `custom_instructions`, `includes` and `excludes` steer LLM extraction: without an LLM
    configured (or with infer=false) they are a 400, never silently ignored."""

    refused: ClassVar[dict[str, tuple[str, tuple[Any, ...]]]] = {
        "agent_custom_instructions": ("use custom_instructions (or prompt)", ()),
        "structured_data_schema": ("structured extraction is not supported", ()),
        "memory_type": ("only semantic memories are stored", ()),
        # memories are stored before the answer; asynchronous processing only changes timing
        "async_mode": ("", (True, False)),
    }

    messages: str | Annotated[list[MessageIn], Field(min_length=1)] = Field(
        description="A string (one user message) or a list of {role, content}."
    )
    filters: Filters | None = Field(default=None, description="v3: the owner's ids, e.g. {\"user_id\": \"alice\"}.")
    metadata: dict[str, Any] | None = None
    infer: bool = True
    prompt: str | None = Field(default=None, description="Extra extraction instructions (mem0 OSS).")
    custom_instructions: str | None = Field(default=None, description="Same as prompt (mem0 platform).")
    timestamp: datetime | None = Field(
        default=None, description="When the messages happened (Unix seconds or ISO-8601; default now): occurred_at. "
        "Between 1900 and a day from now.")
    includes: str | None = Field(default=None, description="What to extract (free text); needs an LLM.")
    excludes: str | None = Field(default=None, description="What never to extract (free text); needs an LLM.")
    enable_graph: bool | None = Field(default=None, description="Must match the server's graph setting when given.")
    immutable: bool = Field(default=False, description="The memories added can be deleted, never updated.")
    expiration_date: str | None = Field(
        default=None, description="YYYY-MM-DD (the memories hold through that day, UTC) or an ISO-8601 time; "
        "from then on they leave every read. Must lie ahead.")
    custom_categories: list[dict[str, str]] | None = Field(
        default=None, description="The categories to file these memories under, as [{name: description}] "
        "(default: the server's set).")
    categories: list[str] | None = Field(
        default=None, description="File every memory added under exactly these (no inference).")


class SearchRequest(ScopeFields):
    """Search by words and meaning (hybrid) within a scope, with exact filters. `limit` and `top_k`
    are synonyms. Refused when set: fields, reference_date, explain=true, app_id, org_id, project_id;
    rerank=true when the server has no reranker."""

    refused: ClassVar[dict[str, tuple[str, tuple[Any, ...]]]] = {
        "fields": ("every field is returned", ()),
        "reference_date": ("relative-time queries are not supported", ()),
        "explain": ("score details are not available", (False,)),
    }

    query: str = Field(min_length=1)
    filters: Filters | None = None
    metadata: dict[str, Any] | None = Field(default=None, description="Metadata equalities, ANDed with filters (v1).")
    limit: int | None = Field(default=None, ge=1, description="Default 10; at most the server's max_limit.")
    top_k: int | None = Field(default=None, ge=1, description="Synonym of limit (mem0 v2).")
    threshold: float | None = Field(default=None, ge=-1, le=1, description="Minimum cosine similarity.")
    keyword_search: bool | None = Field(
        default=None, description="Full-text matching fused with search by meaning (the default); false: by meaning only.")
    rerank: bool | None = Field(
        default=None, description="Reorder the best hits with the configured reranker (default: when one is).")
    categories: list[str] | None = Field(default=None, description="Only memories with any of these categories.")
    latest_only: bool | None = Field(default=None, description="False also returns invalidated (superseded) memories.")
    include_invalidated: bool = False
    show_expired: bool | None = Field(default=None, description=_SHOW_EXPIRED)
    enable_graph: bool | None = Field(default=None, description="Must match the server's graph setting when given.")


class ListOptions(ScopeFields):
    """Shared by GET /v1/memories (query string) and POST /v2|v3/memories (JSON body)."""

    refused: ClassVar[dict[str, tuple[str, tuple[Any, ...]]]] = {
        "fields": ("every field is returned", ()),
        "keyword_search": ("filter text with keywords icontains", (False,)),
    }

    limit: int | None = Field(default=None, ge=1, description="Page size for cursor paging (default 100).")
    after: str | None = Field(default=None, description="next_cursor from the previous page.")
    page: int | None = Field(default=None, ge=1, description="mem0 page number (1-based); with page_size.")
    page_size: int | None = Field(default=None, ge=1, description="mem0 page size (default 100).")
    start_date: str | None = Field(default=None, description="Created at or after this ISO-8601 time.")
    end_date: str | None = Field(default=None, description="Created at or before this ISO-8601 time.")
    categories: list[str] | None = None
    latest_only: bool | None = Field(default=None, description="False also lists invalidated (superseded) memories.")
    include_invalidated: bool = False
    show_expired: bool | None = Field(default=None, description=_SHOW_EXPIRED)
    order: Literal["created_desc", "created_asc", "updated_desc", "updated_asc"] = "created_desc"
    enable_graph: bool | None = None


class ListBody(ListOptions):
    filters: Filters | None = None


class ListQuery(ListOptions):
    filters: Json[dict[str, Any]] | None = Field(default=None, description="The mem0 filter object as JSON.")


class PageQuery(Mem0Request):
    """mem0's MemoryClient sends page / page_size in the query string of POST /v3/memories/."""

    page: int | None = Field(default=None, ge=1)
    page_size: int | None = Field(default=None, ge=1)


PURGE = ("true: erase for real: the text also leaves the history (its lines stay, without content), the graph "
         "and the indexes. Cannot be undone.")


class DeleteAllQuery(ScopeFields):
    """Delete every memory of a scope: user_id / agent_id / run_id, or their equalities in
    `filters` (JSON, or the Python dict text MemoryClient.delete_all(filters=...) sends)."""

    filters: str | None = None
    purge: bool = Field(default=False, description=PURGE)


class DeleteOneQuery(Mem0Request):
    delete_linked: bool = Field(default=False, description="true is refused: AgentMem keeps no superseded chain.")
    purge: bool = Field(default=False, description=PURGE)


class UpdateRequest(Mem0Request):
    """Change a memory's text, replace its metadata, set its expiration date (null clears it) and/or
    its categories. Refused: timestamp."""

    refused: ClassVar[dict[str, tuple[str, tuple[Any, ...]]]] = {
        "timestamp": ("a memory's times are kept by the service", ()),
    }

    text: str | None = Field(default=None, min_length=1)
    metadata: dict[str, Any] | None = None
    expiration_date: str | None = Field(
        default=None, description="YYYY-MM-DD or an ISO-8601 time (must lie ahead); null removes the expiry.")
    categories: list[str] | None = Field(default=None, description="Replace the memory's categories.")


MemoryId = Annotated[str, Field(min_length=1, max_length=200)]


class BatchUpdateItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    memory_id: MemoryId
    text: str | None = Field(default=None, min_length=1)
    metadata: dict[str, Any] | None = Field(default=None, description="Replaces the metadata when given.")


class BatchUpdateRequest(BaseModel):
    """Update up to 1,000 memories, all or none: when any item is refused nothing changes and
    `errors` in the answer names each item refused (loc [body, memories, index]) and why."""

    model_config = ConfigDict(extra="forbid")

    memories: Annotated[list[BatchUpdateItem], Field(min_length=1, max_length=MAX_BATCH)]


class BatchDeleteItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    memory_id: MemoryId


class BatchDeleteRequest(BaseModel):
    """Delete up to 1,000 memories, all or none (`errors` names each id refused). Immutable
    memories can be deleted (mem0: delete and add again instead of updating)."""

    model_config = ConfigDict(extra="forbid")

    memories: Annotated[list[BatchDeleteItem], Field(min_length=1, max_length=MAX_BATCH)]


class FeedbackRequest(Mem0Request):
    """Feedback on a memory (mem0's MemoryClient.feedback); feedback null clears it."""

    memory_id: str = Field(min_length=1, max_length=200)
    feedback: Literal["POSITIVE", "NEGATIVE", "VERY_NEGATIVE"] | None = None
    feedback_reason: str | None = Field(default=None, max_length=2000)

    @field_validator("feedback", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value  # mem0's client sends it upper-cased


class MemoryPath(BaseModel):
    # "search" and "reset" are paths of their own, never ids; the look-ahead needs Python's re
    model_config = ConfigDict(regex_engine="python-re")

    memory_id: str = Field(min_length=1, max_length=200, pattern=r"^(?!(?:search|reset)$)[^/]+$")


class EntityPath(BaseModel):
    entity_type: Literal["user", "agent", "run"]
    entity_id: ScopeId


class ExportCreateRequest(ScopeFields):
    """Export the memories of a scope (the caller's own when it is bound to one), optionally
    narrowed by mem0 filters, as JSON. `schema` (mem0: a JSON-Schema-like object, or its JSON
    text) sets each exported object's properties; see docs/rest.md. The export runs in the
    background: poll POST /v1/exports/get/ with the returned id."""

    schema_: dict[str, Any] | str | None = Field(default=None, alias="schema",
                                                  description="{\"properties\": {...}}; unset: the default fields.")
    filters: Filters | None = None


class ExportGetRequest(ScopeFields):
    """One export by id (`memory_export_id`, or `id`), else the newest export of the scope given
    (user_id / agent_id / run_id, or their equalities in `filters`)."""

    memory_export_id: str | None = Field(default=None, min_length=1, max_length=200)
    id: str | None = Field(default=None, min_length=1, max_length=200)
    filters: Filters | None = None


class ExportPath(BaseModel):
    export_id: str = Field(min_length=1, max_length=200, pattern=r"^[\w\-]+$")
