"""Who may touch which memories. The rule lives here, in the core, and every path (queries,
mutations, search, history, graph, subscriptions) goes through `GuardedMemoryService`, so an
edge cannot forget it.

- admin: everything, including reset and key management.
- user bound to a user_id: only that user's memories, entities, relations, history and events,
  under any agent or run.
- agent bound to an agent_id (and optionally a user_id): only memories of that agent (and user).
A read scope is narrowed to what the principal may see; a scope naming someone else is refused.
Objects addressed by id that the caller may not see answer NOT_FOUND, so ids of other users'
memories cannot be probed."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from memory.errors import Forbidden
from memory.models import Scope


class Role(StrEnum):
    ADMIN = "admin"
    USER = "user"
    AGENT = "agent"


@dataclass(frozen=True, slots=True)
class Principal:
    id: str
    role: Role
    user_id: str | None = None
    agent_id: str | None = None

    def __post_init__(self) -> None:
        if self.role is Role.USER and not self.user_id:
            raise ValueError("a user principal must be bound to a user_id")
        if self.role is Role.AGENT and not self.agent_id:
            raise ValueError("an agent principal must be bound to an agent_id")

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def bound(self) -> Scope:
        """The part of every scope this principal is fixed to (empty for admins)."""
        if self.role is Role.ADMIN:
            return Scope()
        return Scope(self.user_id, self.agent_id if self.role is Role.AGENT else None)

    def narrow(self, requested: Scope | None) -> Scope | None:
        """The scope to actually use for `requested`; Forbidden when it names someone else.
        None (everything) stays None only for admins."""
        bound = self.bound()
        if requested is None:
            return None if self.is_admin else bound
        fields = {}
        for name in ("user_id", "agent_id", "run_id"):
            fixed, asked = getattr(bound, name), getattr(requested, name)
            if fixed is not None and asked is not None and asked != fixed:
                raise Forbidden(f"this credential may not use {name}={asked!r}")
            fields[name] = fixed if fixed is not None else asked
        return Scope(**fields)

    def may_see(self, owner: Scope) -> bool:
        return self.bound().contains(owner)


ANONYMOUS_ADMIN = Principal("development", Role.ADMIN)
