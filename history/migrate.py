"""Programmatic alembic: the application's only way to create or change the SQL schema.

Alembic's commands are synchronous; they run inside `AsyncConnection.run_sync` on a connection
this module opens, handed to migrations/env.py through `Config.attributes`.

Alembic itself is imported only when there is migrating to do (or a revision to explain): it
holds ~10 MiB of RSS for the life of a process that imported it. A start on a database already
at this code's newest revision (`at_head`) reads the version table and the revision ids of
migrations/versions/ without it."""
from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from history.engine import WRITE_INTENT, create_engine
from history.errors import translate_sql
from memory.errors import AgentMemError

# migrations/ sits next to history/ both in the source tree and when installed
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

# Serialises concurrent upgrades (several app processes starting together) on PostgreSQL; the
# DDL is transactional there, so the later one then finds the schema at head and does nothing.
# Taken before alembic runs: alembic's `context` is a module global, so two migrations must not
# interleave inside one process either.
MIGRATION_LOCK = 0x61676D6967  # "agmig"

VERSION_TABLE = "alembic_version"  # alembic's default, which migrations/env.py keeps

T = TypeVar("T")

if TYPE_CHECKING:
    from alembic.config import Config


class SchemaVersionError(AgentMemError):
    """The database's schema revision is one this code does not know (usually: a newer release
    migrated it). Running on it could corrupt data, so the application refuses to start."""


def config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head() -> str:
    """The newest revision this code knows."""
    from alembic.script import ScriptDirectory

    revision = ScriptDirectory.from_config(config()).get_current_head()
    if revision is None:  # only possible with an empty versions/ directory
        raise SchemaVersionError("no migrations found in " + str(MIGRATIONS_DIR))
    return revision


async def current(url: str) -> str | None:
    """The database's revision, or None when it was never migrated."""
    return await _run(url, _current_revision, write=False)


async def is_up_to_date(url: str) -> bool:
    return await current(url) == head()


def declared_head(versions: Path = MIGRATIONS_DIR / "versions") -> str | None:
    """The one revision of the migration files that no other names as its down_revision, read
    from their `revision = ...` / `down_revision = ...` lines; None when that is not clear-cut
    (no files, several heads, an id not written as a literal): then only alembic can say."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions.glob("*.py"):
        values = _assigned(path, ("revision", "down_revision"))
        if not values:
            continue  # not a migration (__init__.py)
        revision, down = values.get("revision"), values.get("down_revision")
        if isinstance(down, str):
            down = (down,)
        if not isinstance(revision, str) or not (
                down is None or isinstance(down, (tuple, list)) and all(isinstance(d, str) for d in down)):
            return None
        revisions.add(revision)
        parents.update(down or ())
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _assigned(path: Path, names: tuple[str, ...]) -> dict[str, object]:
    """The module-level `name = literal` values of a file (ValueError for a value not a literal)."""
    values: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        target = node.target if isinstance(node, ast.AnnAssign) else (
            node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None)
        if isinstance(target, ast.Name) and target.id in names and node.value is not None:
            try:
                values[target.id] = ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError):
                values[target.id] = ValueError
    return values


async def at_head(url: str) -> bool:
    """Whether the database's one stored revision is this code's newest, answered without alembic
    (False also when that cannot be told so cheaply: the caller then asks alembic)."""
    newest = declared_head()
    if newest is None:
        return False
    return await _run(url, _stored_revisions, write=False) == [newest]


async def ensure_not_ahead(url: str) -> None:
    """Raise SchemaVersionError when the database holds a revision unknown to this code."""
    await _run(url, _check_known, write=False)


async def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    def run(connection: Connection) -> None:
        _check_known(connection)
        _with_connection(connection, lambda cfg: command.upgrade(cfg, revision))

    await _run(url, run, write=True)


async def downgrade(url: str, revision: str) -> None:
    from alembic import command

    def run(connection: Connection) -> None:
        _check_known(connection)
        _with_connection(connection, lambda cfg: command.downgrade(cfg, revision))

    await _run(url, run, write=True)


async def _run(url: str, work: Callable[[Connection], T], *, write: bool) -> T:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        # WRITE_INTENT: on SQLite the migration holds the write lock from its first statement
        target = engine.execution_options(**{WRITE_INTENT: True}) if write else engine
        with translate_sql():
            async with target.begin() as connection:
                if write and connection.dialect.name == "postgresql":
                    await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))
                return await connection.run_sync(work)
    finally:
        await engine.dispose()


def _with_connection(connection: Connection, run: Callable[[Config], None]) -> None:
    cfg = config()
    cfg.attributes["connection"] = connection
    run(cfg)


def _stored_revisions(connection: Connection) -> list[str]:
    if not sa.inspect(connection).has_table(VERSION_TABLE):
        return []
    return list(connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())  # nosec B608  # a constant


def _current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    heads = MigrationContext.configure(connection).get_current_heads()
    return heads[0] if heads else None


def _check_known(connection: Connection) -> None:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    stored = MigrationContext.configure(connection).get_current_heads()
    script = ScriptDirectory.from_config(config())
    known = {s.revision for s in script.walk_revisions()}
    unknown = [revision for revision in stored if revision not in known]
    if unknown:
        raise SchemaVersionError(
            f"the database schema is at revision {', '.join(unknown)}, which this version of "
            f"AgentMem does not know (its newest is {head()}); it was probably migrated by a newer "
            "release. Run that release, or restore a backup taken before the upgrade."
        )
