"""Live events: every change (and relation change) in the subscriber's scope, as it happens."""
from __future__ import annotations

from typing import AsyncGenerator

import strawberry

from app.graphql.context import Info
from app.graphql.inputs import ScopeInput, scope_of
from app.graphql.types import MemoryEventPayload
from app.streams import SLOTS_KEY
from memory.events import EventKind


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Changes to memories and relations inside `scope` (all scopes when absent), "
        "optionally only of the given kinds. RESET reaches every subscriber."
    )
    async def memory_events(
        self, info: Info, scope: ScopeInput | None = None, events: list[EventKind] | None = None
    ) -> AsyncGenerator[MemoryEventPayload, None]:
        kinds = frozenset(EventKind(k) for k in events) if events else None
        service = info.context.service
        # every transport's subscriptions count against the principal's cap (limits.subscriptions_per_principal)
        with info.context.request.app[SLOTS_KEY].hold(service.principal):
            async with service.subscribe(scope_of(scope), kinds) as stream:
                async for event in stream:
                    yield MemoryEventPayload.of(event)
