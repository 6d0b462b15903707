"""The route table's vocabulary and the one generic aiohttp handler behind every REST route:
authenticate, validate path / query / body with the route's pydantic models, call the route's
handler with a GuardedMemoryService for the caller, and serialise its response model.

Because every route is declared as data (`Route`), /openapi.json is built from the same models
the requests are validated with."""
from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from app.auth import AUTHENTICATOR_KEY
from app.keys import SERVICE_KEY, SETTINGS_KEY
from app.rest.errors import RequestInvalid, from_validation
from app.settings import Settings
from memory.guarded import GuardedMemoryService


@dataclass(frozen=True, slots=True)
class Ctx:
    """What a handler gets: the caller's view of the service and the validated inputs."""

    request: web.Request
    svc: GuardedMemoryService
    body: Any = None
    query: Any = None
    path: Any = None

    @property
    def settings(self) -> Settings:
        return self.request.app[SETTINGS_KEY]


# a handler answers its response model; one that sends a file (a download) makes its own response
HandlerFn = Callable[[Ctx], Awaitable[BaseModel | web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    paths: tuple[str, ...]  # the first is canonical; the rest are the spellings mem0 clients use
    handler: HandlerFn
    operation_id: str
    summary: str
    response: type[BaseModel]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    path: type[BaseModel] | None = None
    status: int = 200
    tags: tuple[str, ...] = ("memories",)
    description: str = ""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def read_body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    raw = await request.read()  # aiohttp enforces client_max_size here (413)
    if not raw.strip():
        data: Any = {}
    else:
        if request.content_type != "application/json":
            raise RequestInvalid(415, "send the body as JSON with Content-Type: application/json")
        try:
            data = json.loads(raw, parse_constant=_no_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise RequestInvalid(400, f"the body is not valid JSON: {exc}") from None
        except RecursionError:
            raise RequestInvalid(400, "the body is nested too deeply") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_validation(exc, "body") from None


@cache
def _list_fields(model: type[BaseModel]) -> frozenset[str]:
    """Query parameters that repeat (`?categories=a&categories=b`) to make a list."""
    props = model.model_json_schema()["properties"]

    def is_array(schema: dict[str, Any]) -> bool:
        return schema.get("type") == "array" or any(is_array(s) for s in schema.get("anyOf", ()))

    return frozenset(name for name, schema in props.items() if is_array(schema))


def read_query(request: web.Request, model: type[BaseModel] | None) -> BaseModel | None:
    if model is None:
        if request.query:
            raise RequestInvalid(400, f"unknown query parameters: {', '.join(sorted(set(request.query)))}")
        return None
    lists = _list_fields(model)
    data: dict[str, Any] = {}
    for name in set(request.query):
        values = request.query.getall(name)
        if name in lists:
            data[name] = values
        elif len(values) > 1:
            raise RequestInvalid(400, f"query parameter {name!r} is given {len(values)} times")
        else:
            data[name] = values[0]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_validation(exc, "query") from None


def read_path(request: web.Request, model: type[BaseModel] | None) -> BaseModel | None:
    if model is None:
        return None
    try:
        return model.model_validate(dict(request.match_info))
    except ValidationError as exc:
        raise from_validation(exc, "path") from None


def endpoint(route: Route) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        # who is asking comes first: an unknown caller learns nothing about its request's validity
        principal = await request.app[AUTHENTICATOR_KEY].for_request(request)
        svc = GuardedMemoryService(request.app[SERVICE_KEY], principal)
        path = read_path(request, route.path)
        query = read_query(request, route.query)
        body = await read_body(request, route.body) if route.body is not None else None
        result = await route.handler(Ctx(request, svc, body=body, query=query, path=path))
        if isinstance(result, web.StreamResponse):
            return result
        return web.json_response(text=result.model_dump_json(), status=route.status)

    handle.__name__ = route.operation_id
    return handle
