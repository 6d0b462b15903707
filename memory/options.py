"""What the core can be tuned with, and its defaults."""
from __future__ import annotations

from dataclasses import dataclass

from memory.categories import DEFAULT_CATEGORIES, Category
from memory.ranking import FusionWeights

# relations a subject holds with one object at a time: a new one invalidates the old
EXCLUSIVE_RELATIONS = frozenset({"LIVES_IN", "WORKS_AT", "IS_MARRIED_TO", "IS_NAMED", "HAS_AGE", "WORKS_AS"})


IMAGE_MEDIA_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """Memory exports (memory/exports.py)."""

    max_memories: int = 10_000  # an export beyond this fails with a clear error
    page_size: int = 100  # memories read per page (bounded by max_limit)
    retention_s: float = 7 * 86_400.0  # jobs and their results are deleted after this
    stale_after_s: float = 120.0  # a queued or running job not touched for this long was orphaned
    sweep_interval_s: float = 60.0


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
    exports: ExportOptions = ExportOptions()
    # images in messages (memory/images.py): the largest data URI payload (decoded; its base64
    # must also fit in the server's max_body_bytes), and the media types accepted
    image_max_bytes: int = 700_000
    image_media_types: frozenset[str] = IMAGE_MEDIA_TYPES
    # the categories memories get unless an add brings its own set (custom_categories)
    categories: tuple[Category, ...] = DEFAULT_CATEGORIES
    # without an LLM: categories whose description is at least this similar (cosine), at most this many
    category_threshold: float = 0.2
    max_categories: int = 3
    # how long a replica keeps the project settings (memory/project.py) before reading SQL again
    project_settings_ttl_s: float = 5.0
    # what the sweep does to an expired memory (reads leave it out from its expiry on, either way):
    # "invalidate" keeps it, invalid, with its history; "delete" removes it
    expiry_action: str = "invalidate"
    expiry_sweep_s: float = 60.0  # how often the sweep runs (0: never)
    # search's lexical and mention channels from an in-memory index (memory/text_index.py, built
    # from SQL at start, about 40 MB per 100k memories) instead of SQL's full-text index per search
    text_index: bool = True
