"""The schema: queries, mutations, subscriptions, one error mapping, a few cost guards."""
from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxAliasesLimiter, ParserCache, QueryDepthLimiter, ValidationCache
from strawberry.types import ExecutionContext

from app.graphql.errors import ErrorCodes, log_unexpected
from app.graphql.mutations import Mutation
from app.graphql.queries import Query
from app.graphql.subscriptions import Subscription

MAX_DEPTH = 12
MAX_ALIASES = 30
# distinct operation texts whose parse and validation are kept (clients send the same few)
CACHED_OPERATIONS = 512


class AgentMemSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        # client errors (bad input, not found...) are answers, not incidents: log only the rest
        log_unexpected(errors)


def build_schema(**extra: Any) -> strawberry.Schema:
    return AgentMemSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            ParserCache(maxsize=CACHED_OPERATIONS),
            QueryDepthLimiter(max_depth=MAX_DEPTH),
            MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
            ValidationCache(maxsize=CACHED_OPERATIONS),
            ErrorCodes(),
        ],
        **extra,
    )


def sdl() -> str:
    return build_schema().as_str() + "\n"
