"""Categories of memories: a default set, sets a caller brings (mem0's `custom_categories`), and
the classifier that assigns them by meaning when no LLM does.

A category is a name and a description. Without an LLM a memory gets the categories whose
description embeds closest to its own embedding (the one computed for the index anyway), up to
`max_per_memory` of those at or above `threshold`; the descriptions are embedded once per set
and kept. A category named `misc` is the fallback: never matched by meaning (its description
says "anything else", which resembles everything a little), given when no other one matches."""
from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from memory.errors import InvalidInput
from memory.models import Vector
from memory.ports import Embedder

MAX_CATEGORIES = 50  # in one set
MAX_DESCRIPTION = 500
_NAME = re.compile(r"^[\w][\w .&/+-]{0,63}$")
_KEPT_SETS = 32  # description embeddings kept for this many distinct sets
FALLBACK = "misc"


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    description: str


def _default(pairs: Sequence[tuple[str, str]]) -> tuple[Category, ...]:
    return tuple(Category(n, d) for n, d in pairs)


# our own wording of the usual set (names as mem0 clients know them)
DEFAULT_CATEGORIES: tuple[Category, ...] = _default((
    ("personal_details", "who the person is: name, age, birthday, where they live, languages, identity"),
    ("family", "family members and relatives: partner, spouse, children, parents, siblings, pets at home"),
    ("professional_details", "work and career: job, employer, colleagues, role, skills, projects, salary"),
    ("sports", "sports and exercise: teams followed, games played, running, gym, training, matches"),
    ("travel", "trips and travel: destinations, flights, hotels, holidays, countries visited or planned"),
    ("food", "food and drink: dishes, cuisine, restaurants, diet, cooking, allergies to food, coffee"),
    ("music", "music: songs, bands, artists, genres, concerts, instruments played"),
    ("health", "health and wellbeing: illness, medication, doctors, symptoms, fitness, sleep, therapy"),
    ("technology", "technology: computers, phones, software, programming, gadgets, apps, devices"),
    ("hobbies", "hobbies and pastimes: crafts, games, reading, gardening, collecting, photography"),
    ("fashion", "clothing and style: clothes, shoes, brands worn, sizes, accessories, makeup"),
    ("entertainment", "films, television series, books, podcasts, video games, shows watched or read"),
    ("milestones", "life events and achievements: graduation, wedding, new job, moving house, birth"),
    ("user_preferences", "likes, dislikes and preferences: what the person prefers, wants or avoids"),
    ("misc", "anything else that does not fit another category"),
))


def check_categories(spec: Any, what: str = "custom_categories") -> tuple[Category, ...]:
    """A category set from mem0's shape: a list of {name: description} objects (or one object
    mapping names to descriptions). Raises InvalidInput on anything else."""
    items: list[tuple[Any, Any]] = []
    if isinstance(spec, Mapping):
        items = list(spec.items())
    elif isinstance(spec, (list, tuple)):
        for entry in spec:
            if not isinstance(entry, Mapping) or len(entry) != 1:
                raise InvalidInput(f"{what} must be a list of {{name: description}} objects, one pair each")
            items.extend(entry.items())
    else:
        raise InvalidInput(f"{what} must be a list of {{name: description}} objects")
    if not items:
        raise InvalidInput(f"{what} must name at least one category")
    if len(items) > MAX_CATEGORIES:
        raise InvalidInput(f"{what} takes at most {MAX_CATEGORIES} categories")
    out: dict[str, Category] = {}
    for name, description in items:
        name = check_name(name, what)
        if not isinstance(description, str) or not description.strip() or len(description) > MAX_DESCRIPTION:
            raise InvalidInput(f"{what}: the description of {name!r} must be 1-{MAX_DESCRIPTION} characters")
        if name in out:
            raise InvalidInput(f"{what} names {name!r} twice")
        out[name] = Category(name, " ".join(description.split()))
    return tuple(out.values())


def check_name(name: Any, what: str = "categories") -> str:
    if not isinstance(name, str) or not _NAME.match(name.strip()):
        raise InvalidInput(f"{what}: a category name is 1-64 letters, digits, spaces or _ . & / + - (got {name!r})")
    return name.strip()


def check_labels(names: Sequence[str]) -> tuple[str, ...]:
    """Categories a caller gives a memory explicitly: checked names, each once, in order."""
    if len(names) > MAX_CATEGORIES:
        raise InvalidInput(f"categories takes at most {MAX_CATEGORIES} names")
    return tuple(dict.fromkeys(check_name(n) for n in names))


def pick(names: Sequence[str], allowed: Sequence[Category], limit: int) -> tuple[str, ...]:
    """The names a model answered that belong to the set (case-insensitive), each once, at most `limit`."""
    known = {c.name.casefold(): c.name for c in allowed}
    chosen = [known[n.strip().casefold()] for n in names if isinstance(n, str) and n.strip().casefold() in known]
    return tuple(dict.fromkeys(chosen))[:limit]


class CategoryClassifier:
    """Categories by embedding similarity (see the module docstring)."""

    def __init__(self, embedder: Embedder, *, threshold: float, max_per_memory: int) -> None:
        self._embedder = embedder
        self.threshold = threshold
        self.max_per_memory = max_per_memory
        self._sets: OrderedDict[tuple[Category, ...], Vector] = OrderedDict()

    async def _descriptions(self, categories: tuple[Category, ...]) -> Vector:
        found = self._sets.get(categories)
        if found is None:
            found = await self._embedder.embed([f"{c.name.replace('_', ' ')}: {c.description}" for c in categories])
            self._sets[categories] = found
            if len(self._sets) > _KEPT_SETS:
                self._sets.popitem(last=False)
        else:
            self._sets.move_to_end(categories)
        return found

    async def classify(self, vectors: Sequence[Vector], categories: tuple[Category, ...]) -> list[tuple[str, ...]]:
        """For each memory embedding, the names of its closest categories (best first); may be empty."""
        matched = tuple(c for c in categories if c.name != FALLBACK)
        fallback = (FALLBACK,) if len(matched) < len(categories) else ()
        if not vectors or not matched:
            return [fallback for _ in vectors]
        described = await self._descriptions(matched)
        scores = np.asarray(vectors, dtype=np.float32) @ described.T
        out: list[tuple[str, ...]] = []
        for row in scores:
            best = np.argsort(-row)[: self.max_per_memory]
            out.append(tuple(matched[i].name for i in best if row[i] >= self.threshold) or fallback)
        return out
