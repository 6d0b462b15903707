"""The naming rules of the knowledge graph, in one place: how an entity name, an entity type and
a relation type are normalised. The core, the mention index and the graph adapter all use these,
so a name typed by a user, extracted from a message and stored in the graph compares equal."""
from __future__ import annotations

import re

from memory.errors import InvalidInput

RELATION_TYPE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
MAX_NAME_LENGTH = 512
_RELATION_CHARS = re.compile(r"^[A-Za-z][A-Za-z0-9 _-]{0,80}$")


def normalise_name(name: str) -> str:
    """An entity's key: case-, spacing- and apostrophe-insensitive, outer punctuation dropped.
    May be empty (a name of punctuation only); `entity_name` refuses that."""
    return " ".join(name.replace("’", "'").split()).strip(" .,!?;:\"'").casefold()


def entity_name(name: str) -> str:
    """`normalise_name`, refused when empty or too long: the key an entity is stored under."""
    normal = normalise_name(str(name))
    if not normal:
        raise InvalidInput("an entity name must not be empty")
    if len(normal) > MAX_NAME_LENGTH:
        raise InvalidInput(f"an entity name must be at most {MAX_NAME_LENGTH} characters")
    return normal


def lenient_entity_name(name: str) -> str | None:
    """`entity_name`, or None for a name that cannot exist (a read for it simply finds nothing)."""
    try:
        return entity_name(name)
    except InvalidInput:
        return None


def entity_type(raw: str | None) -> str:
    """'Person ' -> 'person'; no type at all is 'entity'."""
    return " ".join(str(raw or "").split()).lower() or "entity"


def relation_type(raw: str) -> str:
    """Normalise 'works at' / 'worksAt' / 'WORKS-AT' to WORKS_AT; reject anything else."""
    if not isinstance(raw, str) or not _RELATION_CHARS.match(raw.strip()):
        raise InvalidInput(
            f"relation {raw!r} is not usable: use letters, digits, spaces, '-' or '_' (e.g. WORKS_AT or 'works at')"
        )
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", raw.strip())
    value = re.sub(r"[^A-Za-z0-9]+", "_", spaced).strip("_").upper()
    if not RELATION_TYPE.match(value):
        raise InvalidInput(
            f"relation {raw!r} is not usable: it must start with a letter and contain only letters, "
            "digits and underscores (at most 64)"
        )
    return value
