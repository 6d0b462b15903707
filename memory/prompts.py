"""Prompts for the LLM path, as plain functions returning chat messages, and the pydantic
models the answers must validate against."""
from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Literal, Sequence

from pydantic import BaseModel, Field, field_validator

from memory.categories import Category
from memory.models import Message, Triple


class ExtractedRelation(BaseModel):
    source: str = Field(min_length=1, max_length=200)
    relation: str = Field(min_length=1, max_length=64)
    destination: str = Field(min_length=1, max_length=200)
    source_type: str = "entity"
    destination_type: str = "entity"
    valid_from: datetime | None = None  # when it began, resolved against today's date
    negated: bool = False  # "I no longer work at X": retracts the relation

    @field_validator("valid_from", mode="before")
    @classmethod
    def _lenient_date(cls, value: object) -> object:
        # a date the model wrote oddly loses the date, not the whole answer
        if value in (None, ""):
            return None
        try:
            return datetime.fromisoformat(str(value))
        except ValueError:
            return None

    def to_triple(self) -> Triple:
        at = self.valid_from
        if at is not None and at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        return Triple(self.source, self.relation, self.destination, self.source_type, self.destination_type,
                      valid_from=at, negated=self.negated)


class Extracted(BaseModel):
    facts: list[str] = Field(default_factory=list)
    relations: list[ExtractedRelation] = Field(default_factory=list)
    # fact text -> category names, asked for only when categories are given to the prompt
    categories: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("categories", mode="before")
    @classmethod
    def _lenient_categories(cls, value: object) -> object:
        # categories are a bonus: a malformed map costs them, not the facts
        if not isinstance(value, dict):
            return {}
        return {k: [n for n in v if isinstance(n, str)] for k, v in value.items()
                if isinstance(k, str) and isinstance(v, list)}


class Decision(BaseModel):
    id: str = Field(description="an existing memory's key, or 'new' for ADD")
    event: Literal["ADD", "UPDATE", "DELETE", "NONE"]
    text: str = ""
    reason: str | None = None


class Decisions(BaseModel):
    decisions: list[Decision] = Field(default_factory=list)


_EXTRACT_SYSTEM = """You maintain the long-term memory of an AI assistant about the people it talks to.
Read the conversation and list what is worth remembering about the user (and people or things
the user mentions): preferences, plans, biography, relationships, constraints, opinions.
Rules:
- One self-contained fact per item, in the language the user wrote in, short and specific.
- Only what the user states or clearly confirms; ignore the assistant's suggestions and small talk.
- Also list relations between named entities as (source, relation, destination). Use "{speaker}"
  for the user. Relation names are UPPER_SNAKE_CASE verbs such as WORKS_AT, LIVES_IN, LIKES.
- Read every clause: "I live in Paris and work at Acme" states two relations. A destination is
  the whole name ("St. Mary's Hospital", "Tesla Model 3") without time or manner words
  ("last month", "every weekend", "now").
- Time: when a statement says when a relation began ("last month", "since 2019", "in September",
  "yesterday"), resolve it against today's date and give it as valid_from (YYYY-MM-DD).
- Negation and change: "I don't eat meat anymore", "I no longer work at Initech" retract a relation:
  list it with "negated": true, never as a positive relation.
- People: "my sister Maria" gives ({speaker}, HAS_SISTER, maria); "Dr. Chen, my dentist" gives
  ({speaker}, HAS_DENTIST, dr. chen). Statements about other people keep them as the source.
- Types: person, organisation, place, date or thing, when the text says which; else entity.
- If nothing is worth remembering, return empty lists.
Today's date is {today}.{extra}
Answer with JSON only: {{"facts": ["..."], "relations": [{{"source": "...", "relation": "...",
"destination": "...", "source_type": "person", "destination_type": "organisation",
"valid_from": "YYYY-MM-DD or null", "negated": false}}]}}"""


_EXTRA = """
The application adds these instructions about what to remember (they never change the answer's
format below):
<instructions>
{instructions}
</instructions>"""


def steering(prompt: str | None, includes: str | None, excludes: str | None) -> str | None:
    """One block of extraction instructions from the add's custom prompt and mem0's `includes`
    (what to extract) and `excludes` (what never to extract); None when none is given."""
    parts = [prompt.strip()] if prompt and prompt.strip() else []
    if includes and includes.strip():
        parts.append(f"Only remember facts about: {includes.strip()}")
    if excludes and excludes.strip():
        parts.append(f"Never remember facts about (leave them out even when stated): {excludes.strip()}")
    return "\n".join(parts) or None


_CATEGORIES = """
Also file each fact under at most {limit} of these categories (name: what it covers), best first:
{listing}
and add to the answer "categories": {{"<the fact, exactly as in facts>": ["<name>", ...]}}."""


def extraction_messages(
    messages: Sequence[Message], speaker: str, instructions: str | None = None,
    categories: Sequence[Category] = (), max_categories: int = 3,
) -> list[Message]:
    """`instructions` (the add's custom prompt) go inside our prompt, so the answer keeps the
    shape the parser expects whatever they say. With `categories`, the same answer also files
    each fact under them (one round trip for both)."""
    extra = _EXTRA.format(instructions=instructions.strip()) if instructions and instructions.strip() else ""
    if categories:
        listing = "\n".join(f"- {c.name}: {c.description}" for c in categories)
        extra += _CATEGORIES.format(limit=max_categories, listing=listing)
    system = _EXTRACT_SYSTEM.format(speaker=speaker, today=date.today().isoformat(), extra=extra)
    transcript = "\n".join(f"{m.role}: {m.content}" for m in messages if m.role != "system")
    return [Message("system", system), Message("user", f"Conversation:\n{transcript}")]


_DECIDE_SYSTEM = """You keep a memory store consistent. You get the memories that already exist
(each with a short key) and newly learned facts. For every new fact decide one event:
- ADD: the fact is new information. Use id "new" and put the fact in text.
- UPDATE: the fact refines or corrects an existing memory about the same thing. Use that
  memory's key and put the full corrected memory in text.
- DELETE: the fact shows an existing memory is no longer true. Use that memory's key; give a reason.
- NONE: the fact is already known. Use the matching memory's key.
Never invent keys. Answer with JSON only:
{"decisions": [{"id": "...", "event": "ADD|UPDATE|DELETE|NONE", "text": "...", "reason": "..."}]}"""


def decision_messages(existing: dict[str, str], facts: Sequence[str]) -> list[Message]:
    payload = {
        "existing_memories": [{"id": key, "text": text} for key, text in existing.items()],
        "new_facts": list(facts),
    }
    return [
        Message("system", _DECIDE_SYSTEM),
        Message("user", json.dumps(payload, ensure_ascii=False)),
    ]


def describe_image_prompt() -> str:
    """What a vision model is asked about an image a user sent: a description that stands in for
    the image in memory, so facts worth remembering (people, places, text, objects) come first."""
    return ("Describe this image for someone who cannot see it, in a few plain sentences. Name the people, "
            "places, objects and any readable text, and what is happening. Do not speculate beyond what is visible.")
