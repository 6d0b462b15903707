"""The built-in deterministic extractor, used when no LLM is configured.

- facts: each declarative sentence the *user* wrote (roles `user`/`human`), kept as written;
  questions, greetings/thanks and fragments under three words are skipped.
- statements for the graph, read by a small clause grammar (memory/clauses.py) with word
  lists of relation verbs, roles and professions (memory/lexicon.py): clauses joined by
  'and'/'but' share their subject, objects are whole noun phrases, time phrases are resolved
  against the message time into the statement's valid-from, negated statements ("I no longer
  work at Initech") come back with negated=True (they retract, never assert), and "my sister
  Maria" / "Dr. Chen, my dentist" state the role. docs/core.md lists what it cannot do.

Everything here is linear in the text: one tokenising regex without nested repetition, and
sentences longer than clauses.MAX_TOKENS tokens are kept as facts but not read for relations.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import islice
from datetime import datetime

from memory.clauses import read_sentence
from memory.naming import normalise_name
from memory.models import Message, Triple, utcnow
from memory.tokens import Tok, sentence_spans, tokenize

_GREETING = re.compile(
    r"^(hi|hello|hey|thanks|thank you|ok|okay|bye|goodbye|good (morning|evening|night))\b[\s,!.]*$", re.I
)
_ENTITY_TYPES = {"person", "organisation", "place", "date", "thing"}


@dataclass(frozen=True, slots=True)
class Extraction:
    facts: list[str]
    triples: list[list[Triple]]  # triples[i] were read from facts[i]
    # when the event a fact tells of happened, where the fact says so ("last month")
    event_times: list[datetime | None]


def sentences(text: str) -> list[str]:
    return [text[start:end] for start, end, _ in sentence_spans(text)]


def is_fact(sentence: str, tokens: list[Tok] | None = None) -> bool:
    s = sentence.strip()
    if not s or s.endswith("?") or _GREETING.match(s):
        return False
    # "I'm vegan" is three words: count the parts of contractions
    words = (t for t in (tokens if tokens is not None else tokenize(s)) if t.text[:1].isalnum() or t.text[:1] == "'")
    return next(islice(words, 2, None), None) is not None


def _triples(tokens: list[Tok], speaker: str, now: datetime) -> list[Triple]:
    out: dict[tuple[str, str, str, bool], Triple] = {}
    for s in read_sentence(tokens, speaker, now):
        source = s.source if s.source == speaker else normalise_name(s.source)
        destination = normalise_name(s.destination)
        if not source or not destination:
            continue
        triple = Triple(source, s.relation, destination, _typed(s.source_type), _typed(s.destination_type),
                        valid_from=s.valid_from, negated=s.negated)
        out.setdefault((source, s.relation, destination, s.negated), triple)
    return list(out.values())


def _typed(kind: str) -> str:
    return kind if kind in _ENTITY_TYPES else "entity"


def statements(sentence: str, speaker: str, now: datetime | None = None) -> list[Triple]:
    """The statements of one sentence (see the module docstring)."""
    at = now or utcnow()
    return [t for _, _, tokens in sentence_spans(sentence) for t in _triples(tokens, speaker, at)]


def extract(messages: list[Message], speaker: str, now: datetime | None = None) -> Extraction:
    """Facts and statements of the user's messages; `now` is the message time (default: now)."""
    at = now or utcnow()
    facts: list[str] = []
    triples: list[list[Triple]] = []
    times: list[datetime | None] = []
    for message in messages:
        if message.role.lower() not in ("user", "human"):
            continue
        for start, end, tokens in sentence_spans(message.content):
            sentence = message.content[start:end]
            if not is_fact(sentence, tokens):
                continue
            found = _triples(tokens, speaker, at)
            facts.append(sentence)
            triples.append(found)
            times.append(next((t.valid_from for t in found if t.valid_from is not None), None))
    return Extraction(facts=facts, triples=triples, event_times=times)
