"""GraphQL over Server-Sent Events at /graphql/stream: the protocol the `graphql-sse` client
speaks (its PROTOCOL.md), in both of its modes.

- Distinct connections: each operation is its own request (POST JSON, or GET with the query in
  the URL) with `Accept: text/event-stream`; the answer is a stream of `next` events (each an
  execution result) ended by `complete`. Closing the request ends a subscription.
- Single connection: `PUT` reserves a stream and answers 201 with its token; `GET` (or POST)
  with `Accept: text/event-stream` and the token (`X-GraphQL-Event-Stream-Token`, or `?token=`
  for EventSource) opens it; each operation is then a POST with the token and
  `extensions.operationId`, answered 202, its results arriving on the stream as
  `next {id, payload}` and `complete {id}`; `DELETE ?operationId=` stops one.

Operations run through the same schema (limits, validation, error mapping) with the same
Context as over WebSocket. Every request but the stream's own GET is authenticated like HTTP
GraphQL (and charged to the rate limit); the reservation token is bound to the credential's
principal, and a GET without a credential may open it (EventSource cannot send headers).
Errors about the operation itself (syntax, validation, resolver errors) arrive as `next`
results, as the protocol asks; errors about the request are HTTP 4xx with a JSON body."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

from aiohttp import web
from graphql import GraphQLError, get_operation_ast
from graphql.language import OperationType as OperationTypeNode
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from app.auth import AUTHENTICATOR_KEY, KEY_MANAGER_KEY
from app.graphql.context import Context
from app.graphql.errors import to_client_error
from app.graphql.schema import AgentMemSchema
from app.graphql.view import AgentMemGraphQLView, json_error
from app.keys import SERVICE_KEY
from app.settings import Settings
from app.streams import Outbox, frame, open_stream, pump
from memory.access import Principal
from memory.errors import AgentMemError

log = logging.getLogger(__name__)

STREAM_PATH = "/graphql/stream"
TOKEN_HEADER = "X-GraphQL-Event-Stream-Token"  # nosec B105  # a header name, not a secret
ALLOW = "GET, POST, PUT, DELETE"
NO_MUTATIONS = (OperationType.QUERY, OperationType.SUBSCRIPTION)
ALL_OPERATIONS = (*NO_MUTATIONS, OperationType.MUTATION)


@dataclass(frozen=True)
class Params:
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any]
    allowed: tuple[OperationType, ...]
    schema: AgentMemSchema  # the one that looked at the query runs it, whatever a reload does meanwhile


def _json_field(raw: str | None, name: str) -> Any:
    if raw is None or raw == "":
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise ValueError(f"{name} is not valid JSON") from None


async def read_params(request: web.Request, max_body_bytes: int, schema: AgentMemSchema) -> Params | web.Response:
    """The GraphQL-over-HTTP request in a GET's URL or a POST's JSON body; a 4xx when unusable.
    `schema`: the one to run it (a GET's document is looked at first, parsed as it will run)."""
    try:
        if request.method == "GET":
            q = request.query
            body: Any = {"query": q.get("query"), "operationName": q.get("operationName"),
                         "variables": _json_field(q.get("variables"), "variables"),
                         "extensions": _json_field(q.get("extensions"), "extensions")}
        else:
            if request.content_type != "application/json":
                return json_error(415, "send the operation as JSON with Content-Type: application/json")
            if (request.content_length or 0) > max_body_bytes:
                return json_error(413, f"the request body is larger than {max_body_bytes} bytes")
            body = json.loads(await request.read())
    except web.HTTPRequestEntityTooLarge:
        return json_error(413, f"the request body is larger than {max_body_bytes} bytes")
    except ValueError as exc:
        return json_error(400, f"the request is not valid JSON: {exc}")
    if not isinstance(body, dict):
        return json_error(400, "the request body must be a JSON object")
    query, variables, name, extensions = (body.get(k) for k in ("query", "variables", "operationName", "extensions"))
    if not isinstance(query, str) or not query.strip():
        return json_error(400, "`query` is required: the GraphQL document to run")
    if variables is not None and not isinstance(variables, dict):
        return json_error(400, "`variables` must be a JSON object")
    if name is not None and not isinstance(name, str):
        return json_error(400, "`operationName` must be a string")
    if extensions is not None and not isinstance(extensions, dict):
        return json_error(400, "`extensions` must be a JSON object")
    if request.method == "GET" and _is_mutation(schema, query, name):
        return json_error(405, "mutations are not allowed over GET: POST them", Allow="POST")
    allowed = NO_MUTATIONS if request.method == "GET" else ALL_OPERATIONS
    return Params(query, variables, name, extensions or {}, allowed, schema)


def _is_mutation(schema: AgentMemSchema, query: str, operation_name: str | None) -> bool:
    try:
        document = schema.document(query)
    except GraphQLError:
        return False  # the stream reports the syntax error, as for any operation
    operation = get_operation_ast(document, operation_name)
    return operation is not None and operation.operation is OperationTypeNode.MUTATION


def result_json(result: ExecutionResult) -> dict[str, Any]:
    out: dict[str, Any] = {"data": result.data}
    if result.errors:
        out["errors"] = [error.formatted for error in result.errors]
    if result.extensions:
        out["extensions"] = result.extensions
    return out


def error_json(message: str, code: str) -> dict[str, Any]:
    return {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}


@dataclass
class Operation:
    task: asyncio.Task[None]
    request: web.Request  # whose credential is rechecked


@dataclass
class Channel:
    """One event stream and the operations writing to it. `distinct`: the stream carries one
    operation's results without ids and ends with it."""

    owner: Principal
    distinct: bool
    outbox: Outbox = field(default_factory=Outbox)
    operations: dict[str, Operation] = field(default_factory=dict)
    opened: bool = False
    response: web.StreamResponse = field(default_factory=web.StreamResponse)

    def message(self, event: str, op_id: str, payload: dict[str, Any] | None, encode: Any) -> bytes:
        if self.distinct:
            return frame(event, encode(payload) if payload is not None else "")
        body: dict[str, Any] = {"id": op_id} if payload is None else {"id": op_id, "payload": payload}
        return frame(event, encode(body))

    async def stop(self, op_id: str) -> None:
        operation = self.operations.pop(op_id, None)
        if operation is not None:
            operation.task.cancel()
            await asyncio.gather(operation.task, return_exceptions=True)

    async def close(self) -> None:
        self.outbox.close()
        for op_id in list(self.operations):
            await self.stop(op_id)


class GraphQLOverSSE:
    def __init__(self, view: AgentMemGraphQLView, *, keep_alive_s: float, operations_per_stream: int,
                 reservation_s: float, recheck_s: float) -> None:
        self._view = view  # its schema (replaced on reload), response size limit and body limit
        self.keep_alive_s = keep_alive_s
        self.operations_per_stream = operations_per_stream
        self.reservation_s = reservation_s
        self.recheck_s = recheck_s
        self.channels: dict[str, Channel] = {}  # reserved or open single-connection streams
        self._closing: set[asyncio.Task[None]] = set()  # expired reservations being closed

    @classmethod
    def from_settings(cls, view: AgentMemGraphQLView, settings: Settings) -> GraphQLOverSSE:
        limits = settings.limits
        return cls(view, keep_alive_s=limits.keep_alive_s, operations_per_stream=limits.subscriptions_per_connection,
                   reservation_s=limits.connection_init_wait_s, recheck_s=settings.auth.websocket_recheck_s)

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        token = request.headers.get(TOKEN_HEADER) or request.query.get("token")
        wants_stream = "text/event-stream" in request.headers.get("Accept", "")
        if request.method == "PUT":
            return await self._reserve(request)
        if request.method == "DELETE":
            return await self._stop(request, token)
        if request.method not in ("GET", "POST"):
            return json_error(405, f"use {ALLOW}", Allow=ALLOW)
        if token is None:
            if not wants_stream:
                return json_error(406, "send Accept: text/event-stream (or use /graphql for one JSON answer)")
            return await self._distinct(request)
        if wants_stream:
            return await self._open(request, token)
        return await self._submit(request, token)

    # the two ways a stream is served
    async def _distinct(self, request: web.Request) -> web.StreamResponse:
        principal = await request.app[AUTHENTICATOR_KEY].for_request(request)  # 401 / 429 by the middleware
        params = await read_params(request, self._view.max_body_bytes, self._view.schema)
        if isinstance(params, web.Response):
            return params
        channel = Channel(principal, distinct=True)
        self._start(channel, "", params, request)
        return await self._serve(request, channel)

    async def _open(self, request: web.Request, token: str) -> web.StreamResponse:
        channel = self.channels.get(token)
        if channel is not None and request.headers.keys() & {"Authorization", "X-API-Key"}:
            principal = await request.app[AUTHENTICATOR_KEY].for_request(request)
            channel = channel if principal == channel.owner else None
        if channel is None:
            return json_error(404, "no such stream: reserve one with PUT first (reservations expire unopened)")
        if channel.opened:
            return json_error(409, "this stream is already open: one connection per reservation")
        channel.opened = True
        try:
            return await self._serve(request, channel)
        finally:
            self.channels.pop(token, None)

    async def _serve(self, request: web.Request, channel: Channel) -> web.StreamResponse:
        recheck = asyncio.create_task(self._recheck(channel), name="sse-recheck")
        try:
            channel.response = await open_stream(request)
            await pump(request, channel.response, channel.outbox, self.keep_alive_s)
        finally:
            recheck.cancel()
            await channel.close()  # the client left or the operation ended: stop everything
            await asyncio.gather(recheck, return_exceptions=True)
        return channel.response

    # single connection: reservation, operations, stop
    async def _reserve(self, request: web.Request) -> web.StreamResponse:
        principal = await request.app[AUTHENTICATOR_KEY].for_request(request)
        token = secrets.token_urlsafe(32)
        channel = self.channels[token] = Channel(principal, distinct=False)
        asyncio.get_running_loop().call_later(self.reservation_s, self._expire, token, channel)
        return web.Response(status=201, text=token, content_type="text/plain")

    def _expire(self, token: str, channel: Channel) -> None:
        if not channel.opened and self.channels.get(token) is channel:
            del self.channels[token]
            task = asyncio.create_task(channel.close())  # operations posted before a stream that never came
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def shutdown(self, app: web.Application) -> None:
        """Reservations never opened still hold their operations: stop them with the server."""
        for token in list(self.channels):
            await self.channels.pop(token).close()
        await asyncio.gather(*self._closing, return_exceptions=True)

    async def _owned(self, request: web.Request, token: str | None) -> tuple[Channel, None] | tuple[None, web.Response]:
        principal = await request.app[AUTHENTICATOR_KEY].for_request(request)
        channel = self.channels.get(token) if token else None
        if channel is None or channel.owner != principal:  # someone else's token is as good as none
            return None, json_error(404, f"no such stream: send the token from PUT in {TOKEN_HEADER}")
        return channel, None

    async def _submit(self, request: web.Request, token: str) -> web.StreamResponse:
        channel, problem = await self._owned(request, token)
        if channel is None:
            return problem  # type: ignore[return-value]
        params = await read_params(request, self._view.max_body_bytes, self._view.schema)
        if isinstance(params, web.Response):
            return params
        op_id = params.extensions.get("operationId")
        if not isinstance(op_id, str) or not op_id:
            return json_error(400, "single-connection mode wants extensions.operationId (a string) on each operation")
        if op_id in channel.operations:
            return json_error(409, f"operation {op_id!r} is already running on this stream")
        if len(channel.operations) >= self.operations_per_stream:
            body = error_json(f"this stream already runs {self.operations_per_stream} operations "
                              "(limits.subscriptions_per_connection)", "LIMIT_EXCEEDED")
            return web.json_response({"errors": body["errors"]}, status=429)
        self._start(channel, op_id, params, request)
        return web.Response(status=202)

    async def _stop(self, request: web.Request, token: str | None) -> web.StreamResponse:
        channel, problem = await self._owned(request, token)
        if channel is None:
            return problem  # type: ignore[return-value]
        op_id = request.query.get("operationId")
        if not op_id:
            return json_error(400, "say which operation to stop: ?operationId=")
        await channel.stop(op_id)
        return web.Response(status=200)

    # running operations
    def _start(self, channel: Channel, op_id: str, params: Params, request: web.Request) -> None:
        context = Context(request=request, response=channel.response, core=request.app[SERVICE_KEY],
                          key_manager=request.app.get(KEY_MANAGER_KEY), streaming=True)
        context.authenticate(channel.owner)
        task = asyncio.create_task(self._run(channel, op_id, params, context), name=f"sse-operation-{op_id}")
        channel.operations[op_id] = Operation(task, request)

    async def _run(self, channel: Channel, op_id: str, params: Params, context: Context) -> None:
        encode = self._view.encode_json
        try:
            async for payload in self._results(params, context):
                await channel.outbox.put(channel.message("next", op_id, payload, encode))
            await channel.outbox.put(channel.message("complete", op_id, None, encode))
            if channel.distinct:
                channel.outbox.close()
        finally:
            running = channel.operations.get(op_id)
            if running is not None and running.task is asyncio.current_task():
                del channel.operations[op_id]

    async def _results(self, params: Params, context: Context) -> AsyncIterator[dict[str, Any]]:
        try:
            results = await params.schema.stream(
                params.query, variable_values=params.variables, context_value=context,
                operation_name=params.operation_name, allowed_operation_types=params.allowed,
            )
            async with contextlib.aclosing(results):
                async for result in results:
                    if not isinstance(result, ExecutionResult):  # @defer/@stream frames
                        yield error_json("incremental delivery (@defer, @stream) is not supported", "BAD_REQUEST")
                        return
                    yield result_json(result)
        except AgentMemError as exc:
            yield {"data": None, "errors": [to_client_error(GraphQLError(exc.public, original_error=exc)).formatted]}
        except GraphQLError as exc:
            yield {"data": None, "errors": [to_client_error(exc).formatted]}
        except Exception:  # a bug: the client gets the usual masked error, the log the traceback
            log.exception("unexpected error in an SSE operation")
            yield error_json("Internal server error", "INTERNAL_SERVER_ERROR")

    async def _recheck(self, channel: Channel) -> None:
        """Ends the operations whose credential was revoked or expired since they started."""
        while True:
            await asyncio.sleep(self.recheck_s)
            for op_id, operation in list(channel.operations.items()):
                authenticator = operation.request.app[AUTHENTICATOR_KEY]
                try:
                    valid = await authenticator.still_valid(None, operation.request)
                except AgentMemError as exc:  # the store is down: keep going, check again later
                    log.warning("could not recheck an SSE operation's credential: %s", exc)
                    continue
                if not valid:
                    await channel.stop(op_id)
                    revoked = error_json("credential revoked or expired", "UNAUTHENTICATED")
                    await channel.outbox.put(channel.message("next", op_id, revoked, self._view.encode_json))
                    await channel.outbox.put(channel.message("complete", op_id, None, self._view.encode_json))
                    if channel.distinct:
                        channel.outbox.close()


def setup_sse(app: web.Application, view: AgentMemGraphQLView, settings: Settings) -> GraphQLOverSSE:
    handler = GraphQLOverSSE.from_settings(view, settings)
    app.router.add_route("*", STREAM_PATH, handler)
    app.on_shutdown.append(handler.shutdown)
    return handler
