"""A Strawberry extension that reports every GraphQL operation: metrics by type and name,
errors by the code clients see, a span when tracing is on (the parent of the core's spans), and
the principal and operation in the log context."""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from app.graphql.errors import to_client_error
from app.ops import logs
from app.ops.runtime import RUNTIME_KEY, Runtime


def _runtime(context: Any) -> Runtime | None:
    request = getattr(context, "request", None)
    return request.app.get(RUNTIME_KEY) if request is not None else None


def _codes(errors: list[GraphQLError] | None) -> list[str]:
    # the mapping to client codes happens after extensions run (AgentMemSchema.execute): apply
    # the same function here so the metric counts what clients are told
    return [str((to_client_error(e).extensions or {}).get("code", "INTERNAL_SERVER_ERROR")) for e in errors or ()]


def _kind(ctx: ExecutionContext) -> str:
    try:
        return ctx.operation_type.value
    except RuntimeError:  # the document did not parse, or names no operation
        return "invalid"


class Observability(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        ctx = self.execution_context
        runtime = _runtime(ctx.context)
        tracing = runtime.tracing if runtime is not None else None
        traced = tracing.graphql_operation() if tracing is not None else None  # current from here on
        principal = getattr(getattr(ctx.context, "service", None), "principal", None)
        if principal is not None:
            logs.PRINCIPAL.set(principal.id)
        try:
            yield
        except BaseException:
            # a subscription ends this way when its client leaves: its span still ends
            if traced is not None:
                traced(_kind(ctx), ctx.operation_name, [])
            raise
        kind = _kind(ctx)
        errors = ctx.result.errors if ctx.result is not None else ctx.pre_execution_errors
        codes = _codes(errors)
        if traced is not None:
            traced(kind, ctx.operation_name, codes)
        if runtime is not None and runtime.metrics is not None:
            runtime.metrics.graphql_operation(kind, ctx.operation_name, time.perf_counter() - started, codes)

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        logs.OPERATION.set(f"{ctx.operation_type.value} {ctx.operation_name or 'anonymous'}")
        yield
