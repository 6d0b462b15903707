"""What a running app is made of, filled in by the composition root as it starts.

create_app makes one Runtime per app; bootstrap.service_context records each component as it
comes up (and each start-up step as it completes), so health checks can name what is not ready
yet and probe the real stores, and metrics can reach the service, without either reaching into
the service's private attributes."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from app.ops.metrics import Metrics
from memory.ports import LLM, Embedder, GraphStore, MemoryRepository, VectorIndex
from app.ops.vitals import Vitals

if TYPE_CHECKING:
    from app.ops.health import HealthMonitor
    from app.ops.reload import Reloader
    from app.ops.tracing import Tracing
    from memory.service import MemoryService

# start-up steps; readiness waits for all of them ("embedder": the model loaded and warmed up)
STEPS = ("migrations", "graph", "vector_index", "embedder")


@dataclass
class Runtime:
    metrics: Metrics | None = None
    tracing: Tracing | None = None
    steps: dict[str, str] = field(default_factory=lambda: dict.fromkeys(STEPS, "pending"))
    # each None until the composition root has built it; graph and llm stay None when disabled
    repo: MemoryRepository | None = None
    index: VectorIndex | None = None
    graph: GraphStore | None = None
    embedder: Embedder | None = None
    llm: LLM | None = None
    service: MemoryService | None = None
    failure: str | None = None  # why start-up failed, when it did
    vitals: Vitals = field(default_factory=Vitals)

    def done(self, step: str, state: str = "done") -> None:
        self.steps[step] = state

    @property
    def started(self) -> bool:
        return self.service is not None and all(state != "pending" for state in self.steps.values())

    def pending(self) -> list[str]:
        return [step for step, state in self.steps.items() if state == "pending"]


RUNTIME_KEY = web.AppKey("runtime", Runtime)
MONITOR_KEY: web.AppKey[HealthMonitor] = web.AppKey("health_monitor")
RELOADER_KEY: web.AppKey[Reloader] = web.AppKey("reloader")
