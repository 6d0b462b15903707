"""Prompts for the LLM path, as plain functions returning chat messages, and the pydantic
models the answers must validate against."""
from __future__ import annotations

import json
from datetime import date
from typing import Literal, Sequence

from pydantic import BaseModel, Field

from memory.models import Message
from memory.ports import ChatMessage


class ExtractedRelation(BaseModel):
    source: str = Field(min_length=1, max_length=200)
    relation: str = Field(min_length=1, max_length=64)
    destination: str = Field(min_length=1, max_length=200)
    source_type: str = "entity"
    destination_type: str = "entity"


class Extracted(BaseModel):
    facts: list[str] = Field(default_factory=list)
    relations: list[ExtractedRelation] = Field(default_factory=list)


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
- If nothing is worth remembering, return empty lists.
Today's date is {today}.{extra}
Answer with JSON only: {{"facts": ["..."], "relations": [{{"source": "...", "relation": "...",
"destination": "...", "source_type": "person", "destination_type": "organisation"}}]}}"""


_EXTRA = """
The application adds these instructions about what to remember (they never change the answer's
format below):
<instructions>
{instructions}
</instructions>"""


def extraction_messages(
    messages: Sequence[Message], speaker: str, instructions: str | None = None
) -> list[ChatMessage]:
    """`instructions` (the add's custom prompt) go inside our prompt, so the answer keeps the
    shape the parser expects whatever they say."""
    extra = _EXTRA.format(instructions=instructions.strip()) if instructions and instructions.strip() else ""
    system = _EXTRACT_SYSTEM.format(speaker=speaker, today=date.today().isoformat(), extra=extra)
    transcript = "\n".join(f"{m.role}: {m.content}" for m in messages if m.role != "system")
    return [ChatMessage("system", system), ChatMessage("user", f"Conversation:\n{transcript}")]


_DECIDE_SYSTEM = """You keep a memory store consistent. You get the memories that already exist
(each with a short key) and newly learned facts. For every new fact decide one event:
- ADD: the fact is new information. Use id "new" and put the fact in text.
- UPDATE: the fact refines or corrects an existing memory about the same thing. Use that
  memory's key and put the full corrected memory in text.
- DELETE: the fact shows an existing memory is no longer true. Use that memory's key; give a reason.
- NONE: the fact is already known. Use the matching memory's key.
Never invent keys. Answer with JSON only:
{"decisions": [{"id": "...", "event": "ADD|UPDATE|DELETE|NONE", "text": "...", "reason": "..."}]}"""


def decision_messages(existing: dict[str, str], facts: Sequence[str]) -> list[ChatMessage]:
    payload = {
        "existing_memories": [{"id": key, "text": text} for key, text in existing.items()],
        "new_facts": list(facts),
    }
    return [
        ChatMessage("system", _DECIDE_SYSTEM),
        ChatMessage("user", json.dumps(payload, ensure_ascii=False)),
    ]
