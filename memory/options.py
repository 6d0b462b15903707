"""What the core can be tuned with, and its defaults."""
from __future__ import annotations

from dataclasses import dataclass

from memory.ranking import FusionWeights

# relations a subject holds with one object at a time: a new one invalidates the old
EXCLUSIVE_RELATIONS = frozenset({"LIVES_IN", "WORKS_AT", "IS_MARRIED_TO", "IS_NAMED", "HAS_AGE", "WORKS_AS"})


@dataclass(frozen=True, slots=True)
class ServiceOptions:
    """The core's tunables, with the one set of defaults (app/settings.py reads its defaults from here)."""

    dedup_threshold: float = 0.95
    similar_memories: int = 5
    max_limit: int = 100
    exclusive_relations: frozenset[str] = EXCLUSIVE_RELATIONS
    graph_write_timeout_s: float = 5.0
    entity_match_threshold: float = 0.9
    graph_drain_interval_s: float = 2.0
    graph_max_backoff_s: float = 30.0
    fusion: FusionWeights = FusionWeights()
    rerank_candidates: int = 20  # how many of the best fused hits a configured reranker reorders
    # how often to pick up changes other processes made to the shared SQL database (0: never)
    sync_interval_s: float = 2.0
    # records one filtered search or list may read (see RecallMixin.scan_budget)
    filter_scan_budget: int = 10_000
