"""Health rules that need no running app: the embedder's health from its state, and what a
starting service says it waits for."""
from __future__ import annotations

from app.ops.health import embedder_component, starting_report
from app.ops.runtime import Runtime
from memory.ports import EmbedderState


def test_a_busy_but_progressing_embedder_is_up_and_says_how_busy() -> None:
    state = EmbedderState(loaded=True, alive=True, queued=120, stalled_s=0.4, last_batch=64, last_batch_ms=212.5)
    component = embedder_component(state, stall_s=20)
    assert component.status == "up"
    assert component.detail == "120 texts queued; last batch 64 texts in 212.5 ms"


def test_an_embedder_without_progress_past_the_limit_is_down() -> None:
    state = EmbedderState(loaded=True, alive=True, queued=3, stalled_s=21.0)
    component = embedder_component(state, stall_s=20)
    assert component.status == "down" and component.detail == "no progress for 21.0 s with 3 texts queued"


def test_an_unloaded_or_closed_embedder_is_down() -> None:
    assert embedder_component(EmbedderState(loaded=False, alive=True), 20).status == "down"
    assert embedder_component(EmbedderState(loaded=True, alive=False), 20).status == "down"


def test_a_starting_service_names_the_embedder_until_it_is_warm() -> None:
    runtime = Runtime()
    for step in ("migrations", "graph", "vector_index"):
        runtime.done(step)
    report = starting_report(runtime)
    assert not report.ready and report.waiting_for() == ["embedder"]
    runtime.done("embedder")
    # every step is up while the rest of start-up runs: the report still names what it waits for
    assert starting_report(runtime).waiting_for() == ["service"]


def test_a_starting_service_names_every_step_not_up_yet_critical_or_not() -> None:
    runtime = Runtime()
    for step in ("migrations", "vector_index", "embedder"):
        runtime.done(step)
    assert starting_report(runtime).waiting_for() == ["graph"]  # the JVM often comes up last
    runtime = Runtime()
    runtime.done("migrations")
    assert starting_report(runtime).waiting_for() == ["graph", "vector_index", "embedder"]
