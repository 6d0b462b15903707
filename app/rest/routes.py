"""The REST route table: every path AgentMem serves for mem0 clients, as data. `setup_rest`
registers it with aiohttp and `openapi.document` describes it, so both always agree.

Each route's first path is the canonical one; the others are the spellings the official mem0
clients send (trailing slashes, /v2 and /v3 prefixes). Paths without parameters come first so
that /v1/memories/search and /v1/memories/reset win over /v1/memories/{memory_id}."""
from __future__ import annotations

from app.rest import entities, exports, listing, memories, webhooks
from app.rest.dispatch import Route
from app.rest.requests import (
    AddRequest,
    BatchDeleteRequest,
    BatchUpdateRequest,
    DeleteAllQuery,
    DeleteOneQuery,
    EntityPath,
    ExportCreateRequest,
    ExportGetRequest,
    ExportPath,
    FeedbackRequest,
    ListBody,
    ListQuery,
    MemoryPath,
    PageQuery,
    SearchRequest,
    UpdateRequest,
)
from app.rest.responses import (
    AddResponse,
    BatchDeleteResponse,
    BatchUpdateResponse,
    DeleteAllResponse,
    DeleteResponse,
    EntitiesResponse,
    ExportCreated,
    ExportDownload,
    ExportOut,
    FeedbackResponse,
    HistoryResponse,
    ListResponse,
    MemoryOut,
    Message,
    PingResponse,
    SearchResponse,
    UpdateResponse,
)


def _both(*paths: str) -> tuple[str, ...]:
    """Each path with and without its trailing slash (mem0 clients send the slash)."""
    return tuple(p for path in paths for p in (path, path + "/"))


ROUTES: tuple[Route, ...] = (
    Route("GET", _both("/v1/ping"), entities.ping, "ping", "Check the credential (mem0's key validation)",
          PingResponse, tags=("service",)),
    Route("POST", _both("/v1/memories", "/v3/memories/add"), memories.add, "add_memories",
          "Remember a conversation", AddResponse, body=AddRequest),
    Route("GET", _both("/v1/memories"), listing.list_get, "list_memories",
          "List memories by scope and filters", ListResponse, query=ListQuery),
    Route("POST", _both("/v2/memories", "/v3/memories"), listing.list_post, "list_memories_v2",
          "List memories by scope and filters (mem0 v2/v3 body)", ListResponse, body=ListBody, query=PageQuery),
    Route("DELETE", _both("/v1/memories"), memories.delete_all, "delete_memories",
          "Delete every memory of a scope", DeleteAllResponse, query=DeleteAllQuery),
    Route("POST", _both("/v1/memories/search", "/v2/memories/search", "/v3/memories/search"), memories.search,
          "search_memories", "Search memories by meaning, with exact filters", SearchResponse, body=SearchRequest),
    Route("DELETE", _both("/v1/memories/reset"), memories.reset, "reset_memories",
          "Delete everything (admins only)", Message),
    Route("GET", _both("/v1/entities"), entities.users, "list_entities",
          "Users, agents and runs that own memories (mem0's users())", EntitiesResponse, tags=("entities",)),
    Route("DELETE", _both("/v2/entities/{entity_type}/{entity_id}", "/v1/entities/{entity_type}/{entity_id}"),
          entities.delete_entity, "delete_entity", "Delete every memory of one user, agent or run",
          DeleteAllResponse, path=EntityPath, tags=("entities",)),
    Route("PUT", _both("/v1/batch"), memories.batch_update, "batch_update_memories",
          "Update up to 1,000 memories, all or none", BatchUpdateResponse, body=BatchUpdateRequest),
    Route("DELETE", _both("/v1/batch"), memories.batch_delete, "batch_delete_memories",
          "Delete up to 1,000 memories, all or none", BatchDeleteResponse, body=BatchDeleteRequest),
    Route("GET", _both("/v1/memories/{memory_id}"), memories.get, "get_memory", "Get one memory",
          MemoryOut, path=MemoryPath),
    Route("PUT", _both("/v1/memories/{memory_id}"), memories.update, "update_memory",
          "Change a memory's text and/or metadata", UpdateResponse, body=UpdateRequest, path=MemoryPath),
    Route("DELETE", _both("/v1/memories/{memory_id}"), memories.delete, "delete_memory", "Delete one memory",
          DeleteResponse, query=DeleteOneQuery, path=MemoryPath),
    Route("POST", _both("/v1/feedback"), memories.feedback, "give_feedback",
          "Give (or, with feedback null, clear) feedback on a memory", FeedbackResponse, body=FeedbackRequest),
    Route("POST", _both("/v1/exports"), exports.create, "create_memory_export",
          "Export a scope's memories as JSON, in the background (optionally shaped by a schema)", ExportCreated,
          body=ExportCreateRequest, tags=("exports",)),
    Route("POST", _both("/v1/exports/get"), exports.get, "get_memory_export",
          "An export's status and, once completed, its objects", ExportOut, body=ExportGetRequest,
          tags=("exports",)),
    Route("GET", _both("/v1/exports/{export_id}/download"), exports.download, "download_memory_export",
          "A completed export's objects as a JSON file (409 CONFLICT until it is completed)", ExportDownload,
          path=ExportPath, tags=("exports",)),
    Route("GET", _both("/v1/memories/{memory_id}/history"), memories.history, "memory_history",
          "How a memory changed, oldest first", HistoryResponse, path=MemoryPath),
    Route("GET", _both("/api/v1/webhooks/projects/{project_id}"), webhooks.list_webhooks, "list_webhooks",
          "The webhooks this credential may manage (mem0's get_webhooks)", webhooks.WebhooksResponse,
          path=webhooks.ProjectPath, tags=("webhooks",)),
    Route("POST", _both("/api/v1/webhooks/projects/{project_id}"), webhooks.create_webhook, "create_webhook",
          "Register a webhook; its signing secret is in the answer, once", webhooks.CreatedWebhookOut,
          body=webhooks.CreateWebhookRequest, path=webhooks.ProjectPath, status=201, tags=("webhooks",)),
    Route("PUT", _both("/api/v1/webhooks/{webhook_id}"), webhooks.update_webhook, "update_webhook",
          "Change a webhook's name, URL, event types or active flag", webhooks.WebhookOut,
          body=webhooks.UpdateWebhookRequest, path=webhooks.WebhookPath, tags=("webhooks",)),
    Route("DELETE", _both("/api/v1/webhooks/{webhook_id}"), webhooks.delete_webhook, "delete_webhook",
          "Delete a webhook and its delivery log", webhooks.WebhookDeleted, path=webhooks.WebhookPath,
          tags=("webhooks",)),
    Route("POST", _both("/api/v1/webhooks/{webhook_id}/rotate-secret"), webhooks.rotate_secret,
          "rotate_webhook_secret", "A new signing secret, in the answer once", webhooks.CreatedWebhookOut,
          path=webhooks.WebhookPath, tags=("webhooks",)),
    Route("GET", _both("/api/v1/webhooks/{webhook_id}/deliveries"), webhooks.deliveries, "webhook_deliveries",
          "A webhook's delivery log, newest first", webhooks.DeliveriesResponse, path=webhooks.WebhookPath,
          query=webhooks.DeliveriesQuery, tags=("webhooks",)),
)
