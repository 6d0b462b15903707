"""The schema: queries, mutations, subscriptions, one error mapping, and the guards on what one
operation may cost (depth, aliases, tokens, cost, introspection: app/graphql/limits.py)."""
from __future__ import annotations

import contextlib
from typing import Any, AsyncGenerator, AsyncIterator, Iterator, cast

import strawberry
from graphql import ASTValidationRule, DocumentNode, GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension
from strawberry.extensions.max_aliases import create_validator as max_aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as max_depth_rule
from strawberry.schema.schema import validate_document
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext, ExecutionResult

from app.graphql.admin import KeyMutation, KeyQuery
from app.graphql.errors import log_unexpected, map_errors
from app.graphql.input_builders import install as install_input_builders
from app.graphql.limits import OperationGuard
from app.graphql.parse_cache import DocumentCache
from app.graphql.project import ProjectMutation, ProjectQuery
from app.graphql.mutations import Mutation
from app.graphql.queries import Query
from app.graphql.subscriptions import Subscription
from app.graphql.webhooks import WebhookMutation, WebhookQuery
from app.settings import LimitSettings
from app.ops.graphql_ext import Observability

# parsed documents: by the size of their text (a document's tree is ~10-20x its text)
DOCUMENTS = DocumentCache(max_bytes=1_000_000, max_entry_bytes=64_000)


def validation_rules(limits: LimitSettings, introspection: bool) -> list[type[ASTValidationRule]]:
    """Built once per schema, so that the validation cache (keyed by the rule classes) hits
    across requests."""
    rules = [max_depth_rule(limits.max_depth, None, None), max_aliases_rule(limits.max_aliases)]
    if not introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return rules


class OperationRules(SchemaExtension):
    """What every operation goes through, in one extension: Strawberry builds and enters a context
    manager per hook of each extension for every operation, and with these rules as five
    extensions that was ~15% of the event loop's time under 32 clients adding. In order: the
    parser's token limit; the parsed document, kept in DOCUMENTS; our validation rules, the
    result of validating with them kept with the document; the guard's price (and, on a
    WebSocket, rate) check as execution begins. A syntax error is not raised from the parse hook,
    where it would escape the error mapping: the document is left unparsed, and Strawberry's own
    parse reports it in the normal way."""

    def __init__(self, rules: tuple[type[ASTValidationRule], ...], guard: OperationGuard) -> None:
        self.rules = rules
        self.guard = guard

    def on_parse(self) -> Iterator[None]:
        ctx = self.execution_context
        schema = cast(AgentMemSchema, ctx.schema)
        ctx.parse_options["max_tokens"] = schema.max_tokens  # Strawberry's own parse too, after a syntax error
        if ctx.query:
            with contextlib.suppress(GraphQLError):  # reported by Strawberry's parse, see above
                ctx.graphql_document = schema.document(ctx.query)
        yield

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        ctx.validation_rules = rules = (*ctx.validation_rules, *self.rules)
        schema, document = ctx.schema._schema, ctx.graphql_document
        ctx.pre_execution_errors = DOCUMENTS.remember(document, (id(schema), rules),
                                                      lambda: validate_document(schema, document, rules))
        yield

    async def on_execute(self) -> AsyncIterator[None]:  # type: ignore[override]
        await self.guard.check(self.execution_context)
        yield


class AgentMemSchema(strawberry.Schema):
    """Every result leaves through execute() or stream() (subscribe() uses stream()), so the
    error mapping applied there covers HTTP and both WebSocket protocols, including errors
    raised outside the resolvers (extension hooks) that a MaskErrors extension would miss."""

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        # runs before the mapping, on the originals. Client errors (bad input, not found...)
        # are answers, not incidents: log only the rest
        log_unexpected(errors)

    def __init__(self, *args: Any, max_tokens: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_tokens = max_tokens
        install_input_builders(self._schema)

    def document(self, query: str) -> DocumentNode:
        """`query` parsed under this schema's token limit, kept in DOCUMENTS: how its operations are
        parsed (OperationRules), and how a transport looks at one before it runs, sharing that
        parse. A GraphQLError when it does not parse."""
        return DOCUMENTS.parse(query, max_tokens=self.max_tokens)

    async def execute(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        result = await super().execute(*args, **kwargs)
        map_errors(result)
        return result

    async def stream(self, *args: Any, **kwargs: Any) -> Any:
        return _mapped(await super().stream(*args, **kwargs))


async def _mapped(results: AsyncGenerator[Any, None]) -> AsyncGenerator[Any, None]:
    async with contextlib.aclosing(results):
        async for result in results:
            map_errors(result)
            yield result


RootQuery = merge_types("Query", (Query, KeyQuery, WebhookQuery, ProjectQuery))
RootMutation = merge_types("Mutation", (Mutation, KeyMutation, WebhookMutation, ProjectMutation))


def build_schema(limits: LimitSettings | None = None, *, introspection: bool = True, max_page: int = 100,
                 **extra: Any) -> AgentMemSchema:
    """`max_page`: the service's largest page (memory.max_limit), the most a page costs."""
    limits = limits or LimitSettings()
    rules = tuple(validation_rules(limits, introspection))
    guard = OperationGuard(max_cost=limits.max_cost, list_size=limits.list_size, max_page=max_page,
                           remember=DOCUMENTS.remember)
    return AgentMemSchema(
        query=RootQuery,
        mutation=RootMutation,
        subscription=Subscription,
        # factories: extensions hold per-operation state, so each operation gets its own
        extensions=[
            Observability,  # first: its on_operation spans the rules (metrics, log context)
            lambda: OperationRules(rules, guard),
        ],
        max_tokens=limits.max_tokens,
        **extra,
    )


def sdl() -> str:
    return build_schema().as_str() + "\n"
