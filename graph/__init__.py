"""Neo4j/Bolt graph adapter: the store, its Cypher, error translation, and an embedded server."""

from graph.driver_tables import compact_calendar_tables, compact_packstream_tables

# ~13 + ~9 MiB of the driver's import given back (graph/driver_tables.py)
compact_calendar_tables()
compact_packstream_tables()

from graph.embedded import EmbeddedArcadeDB  # noqa: E402
from graph.store import Neo4jGraphStore  # noqa: E402

__all__ = ["EmbeddedArcadeDB", "Neo4jGraphStore"]
