"""SQL adapter: SQLModel tables, the async engine, migrations and SqlMemoryRepository.

The composition root uses: `create_engine(url)`, `migrate.upgrade(url)` /
`migrate.ensure_not_ahead(url)` at start-up, then `SqlMemoryRepository(engine)`.
"""
from history.engine import async_url, create_engine
from history.repository import SqlMemoryRepository

__all__ = ["SqlMemoryRepository", "async_url", "create_engine"]
