"""/openapi.json (OpenAPI 3.1), generated from the route table and the pydantic models the
handlers validate with: there is no hand-written copy to fall out of date."""
from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app.rest import mem0_filters
from app.rest.dispatch import Route
from app.rest.responses import ErrorResponse

REF = "#/components/schemas/{model}"
# every operation may answer these; `default` covers aiohttp's own 404/405/413/415 as well
ERRORS = {
    "400": "The request is invalid (body, query, path or filter), or asks for something AgentMem cannot honour",
    "401": "No valid credential",
    "403": "The credential may not touch this scope (or only admins may do this)",
    "404": "No such memory (or not visible to this credential)",
    "413": "The body is larger than the server's max_body_bytes",
    "415": "The body is not JSON",
    "429": "Too many requests: retry after Retry-After seconds",
    "502": "The embedding or LLM provider failed",
    "503": "A backing store does not answer; retry later",
}
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <API key or JWT>`"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "mem0Token": {"type": "apiKey", "in": "header", "name": "Authorization",
                  "description": "mem0's spelling: `Authorization: Token <API key>`"},
}
DESCRIPTION = """A REST facade over AgentMem's core in mem0's dialect: the official mem0 clients
work against it with `host=` set to this server. Every operation runs with the caller's
credential, under the same isolation rules, limits and errors as GraphQL (`/graphql`).
Errors are JSON: `{"detail": "...", "code": "BAD_USER_INPUT"}`.

## Filters
""" + (mem0_filters.__doc__ or "")

Mode = Literal["validation", "serialization"]


def _models(routes: Iterable[Route]) -> list[tuple[type[BaseModel], Mode]]:
    found: dict[tuple[type[BaseModel], Mode], None] = {(ErrorResponse, "serialization"): None}
    for route in routes:
        for model in (route.body, route.query, route.path):
            if model is not None:
                found[(model, "validation")] = None
        found[(route.response, "serialization")] = None
    return list(found)


def _without_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A parameter is absent rather than null: `anyOf: [X, null]` becomes X."""
    schema = {k: v for k, v in prop.items() if k != "description" and not (k == "default" and v is None)}
    options = [s for s in schema.get("anyOf", ()) if s != {"type": "null"}]
    if "anyOf" in schema and len(options) == 1:
        schema = {**options[0], **{k: v for k, v in schema.items() if k != "anyOf"}}
    return schema


def _parameters(schema: dict[str, Any], where: str) -> list[dict[str, Any]]:
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema.get("properties", {}).items():
        param: dict[str, Any] = {"name": name, "in": where, "required": where == "path" or name in required,
                                 "schema": _without_null(prop)}
        if "description" in prop:
            param["description"] = prop["description"]
        params.append(param)
    return params


def _responses(route: Route, ref: dict[str, Any]) -> dict[str, Any]:
    error = {"application/json": {"schema": {"$ref": REF.format(model="ErrorResponse")}}}
    responses: dict[str, Any] = {str(route.status): {"description": route.summary,
                                                      "content": {"application/json": {"schema": ref}}}}
    for status, text in ERRORS.items():
        responses[status] = {"description": text, "content": error}
    responses["429"]["headers"] = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
    responses["default"] = {"description": "Any other error, in the same shape", "content": error}
    return responses


def _operation(route: Route, schemas: dict[str, Any], refs: dict[Any, Any], alias_of: str | None) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": route.operation_id, "summary": route.summary, "tags": list(route.tags)}
    description = route.description or (route.body.__doc__ if route.body is not None else "") or ""
    if alias_of:
        description = f"The same operation as `{route.method} {alias_of}`, as mem0 clients spell it.\n\n{description}"
    if description.strip():
        op["description"] = " ".join(description.split())
    params: list[dict[str, Any]] = []
    for model, where in ((route.path, "path"), (route.query, "query")):
        if model is not None:
            params += _parameters(schemas[refs[(model, "validation")]["$ref"].rsplit("/", 1)[1]], where)
    if params:
        op["parameters"] = params
    if route.body is not None:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": refs[(route.body, "validation")]}}}
    op["responses"] = _responses(route, refs[(route.response, "serialization")])
    return op


def _version() -> str:
    try:
        return importlib.metadata.version("agentmem")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


def document(routes: tuple[Route, ...]) -> dict[str, Any]:
    refs, defs = models_json_schema(_models(routes), ref_template=REF)
    schemas: dict[str, Any] = defs.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        for i, path in enumerate(route.paths):
            op = _operation(route, schemas, refs, alias_of=route.paths[0] if i else None)
            if i:
                op["operationId"] = f"{route.operation_id}_{i}"
            paths.setdefault(path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "AgentMem REST API (mem0-compatible)", "version": _version(), "description": DESCRIPTION},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": SECURITY_SCHEMES},
        "security": [{"bearer": []}, {"apiKey": []}, {"mem0Token": []}],
        "tags": [{"name": "memories"}, {"name": "entities"}, {"name": "exports"}, {"name": "webhooks"}, {"name": "project"}, {"name": "service"}],
    }


def add_event_stream(doc: dict[str, Any], paths: tuple[str, ...], operation_id: str, summary: str,
                     description: str, query: type[BaseModel]) -> None:
    """A GET answered with text/event-stream (served outside the JSON route table), described
    in the same document from the query model its handler validates with."""
    params = _parameters(query.model_json_schema(ref_template=REF), "query")
    params.append({"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"},
                   "description": "Resume after this event id (EventSource sends it when it reconnects)."})
    error = {"application/json": {"schema": {"$ref": REF.format(model="ErrorResponse")}}}
    responses: dict[str, Any] = {"200": {"description": "The event stream",
                                         "content": {"text/event-stream": {"schema": {"type": "string"}}}}}
    for status in ("400", "401", "403"):
        responses[status] = {"description": ERRORS[status], "content": error}
    responses["429"] = {"description": "Too many requests, or this credential already holds "
                                       "limits.subscriptions_per_principal streams", "content": error}
    for i, path in enumerate(paths):
        doc["paths"][path] = {"get": {
            "operationId": f"{operation_id}_{i}" if i else operation_id, "summary": summary, "tags": ["events"],
            "description": " ".join(description.split()), "parameters": params, "responses": responses,
        }}
    doc["tags"].append({"name": "events"})
