"""One error tree for the core; the edges (GraphQL, HTTP, CLI) map it once."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class AgentMemError(Exception):
    """Root of every error the core raises on purpose."""

    code = "INTERNAL_SERVER_ERROR"

    @property
    def public(self) -> str:
        """The message a client may see (the full one is for the server's log)."""
        return str(self) or type(self).__name__

    @property
    def masked(self) -> bool:
        return self.public != (str(self) or type(self).__name__)


class InvalidInput(AgentMemError):
    """The caller sent something the core cannot accept (bad scope, filter, text...)."""

    code = "BAD_USER_INPUT"


class NotFound(AgentMemError):
    """The addressed memory, entity or relation does not exist (or is not visible)."""

    code = "NOT_FOUND"


class Forbidden(AgentMemError):
    """The caller is known but may not touch what it addressed."""

    code = "FORBIDDEN"


class Conflict(AgentMemError):
    """The request conflicts with the current state."""

    code = "CONFLICT"


class DeliveryError(AgentMemError):
    """A webhook delivery attempt got no HTTP answer (refused, timed out, target not allowed)."""

    code = "DELIVERY_FAILED"


class Immutable(AgentMemError):
    """The memory was added with `immutable`: it can be deleted (and added again), never changed."""

    code = "IMMUTABLE"


@dataclass(frozen=True, slots=True)
class ItemError:
    """Why one item of a batch was refused: its position, the id it named, the error's code."""

    index: int
    memory_id: str
    code: str
    message: str


class BatchRejected(AgentMemError):
    """A batch was refused as a whole because some items are not acceptable; nothing was changed.
    The code is the items' own when they all share one (NOT_FOUND, IMMUTABLE...), else BAD_USER_INPUT."""

    def __init__(self, what: str, items: Sequence[ItemError]) -> None:
        self.items = tuple(items)
        codes = {i.code for i in self.items}
        self.code = codes.pop() if len(codes) == 1 else InvalidInput.code
        first = self.items[0]
        more = f" (and {len(self.items) - 1} more)" if len(self.items) > 1 else ""
        super().__init__(f"{what} refused, nothing was changed: item {first.index} ({first.memory_id!r}): "
                         f"{first.message}{more}")


class StoreUnavailable(AgentMemError):
    """A backing store (graph, SQL, vector index, embedder, LLM) does not answer."""

    code = "SERVICE_UNAVAILABLE"

    def __init__(self, component: str, detail: str = "", *, disclose: bool = False) -> None:
        """`disclose`: the detail is ours to tell (a configuration fact), not a driver's message."""
        self.component = component
        self._disclose = disclose
        super().__init__(f"{component} unavailable" + (f": {detail}" if detail else ""))

    @property
    def public(self) -> str:
        # the detail can name internal hosts, URLs and driver messages
        return str(self) if self._disclose else f"{self.component} unavailable; retry shortly"


class ProviderError(AgentMemError):
    """An embedding or LLM provider answered with an error or unusable output."""

    code = "PROVIDER_ERROR"

    @property
    def public(self) -> str:
        # the detail can quote the provider's URL and its answer (memory text included)
        return "the model provider failed or answered something unusable; retry shortly"


class Unauthenticated(AgentMemError):
    """No credential, or one that is not valid (forged, expired, revoked...)."""

    code = "UNAUTHENTICATED"


class LimitExceeded(AgentMemError):
    """A configured cap on things held open at once (subscriptions, streams) is reached."""

    code = "LIMIT_EXCEEDED"


class RateLimited(AgentMemError):
    """Too many requests for this principal or address; retry after `retry_after` seconds."""

    code = "RATE_LIMITED"

    def __init__(self, retry_after: float, message: str = "rate limit exceeded") -> None:
        self.retry_after = retry_after
        super().__init__(f"{message}; retry after {retry_after:.1f} s")


class ExportTooLarge(AgentMemError):
    """An export would hold more memories than the configured maximum."""

    code = "BAD_USER_INPUT"

    def __init__(self, cap: int) -> None:
        super().__init__(f"the export would hold more than {cap} memories (exports.max_memories): "
                         "narrow it with filters or a smaller scope")


class VisionNotConfigured(AgentMemError):
    """A message carries an image, and no vision model is configured to describe it."""

    code = "VISION_NOT_CONFIGURED"
