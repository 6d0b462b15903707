"""The built-in deterministic extractor, used when no LLM is configured.

What it does:
- facts: each declarative sentence the *user* wrote (roles `user`/`human`), trimmed; questions,
  greetings/thanks and fragments under three words are skipped. The fact is kept as written.
- statements for the graph, from simple subject-verb-object sentences: the subject is "I"/"my"
  (mapped to the speaker's entity, the scope's user_id or "user") or a capitalised name
  ("Alice", "Bob Smith"); the verb is one of a fixed table ("work at/for", "live in", "like",
  "love", "hate", "know", "am from", "my name is", "is married to", "own", "study at", ...).
  "I work at Acme" -> (alice, WORKS_AT, acme); "Alice likes pizza" -> (alice, LIKES, pizza).
What it cannot do: pronouns other than I/my, negation ("I don't like X" yields no statement),
tense, compound sentences beyond splitting on ". ! ?" and " and " between statements with
an explicit subject, or any inference. Use an LLM (settings.llm) for real extraction.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from memory.models import Message, Triple

_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")
_GREETING = re.compile(
    r"^(hi|hello|hey|thanks|thank you|ok|okay|bye|goodbye|good (morning|evening|night))\b[\s,!.]*$", re.I
)
_NEGATION = re.compile(r"\b(not|never|no longer|don't|doesn't|didn't|isn't|aren't|won't|can't)\b", re.I)
_NAME = r"(?:[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*){0,2})"
_SUBJECT = rf"(?P<subj>I|{_NAME})"

# (verb pattern after the subject, relation type); first person forms and third person forms
_VERBS: list[tuple[str, str]] = [
    (r"(?:work|works|am working|is working)\s+(?:at|for)", "WORKS_AT"),
    (r"(?:am|is)\s+(?:an?\s+)?(?:employee|engineer|developer|manager)\s+at", "WORKS_AT"),
    (r"(?:live|lives|am living|is living|reside|resides)\s+in", "LIVES_IN"),
    (r"(?:moved|have moved|has moved)\s+to", "LIVES_IN"),
    (r"(?:am|is|come|comes)\s+from", "IS_FROM"),
    (r"(?:study|studies|studied)\s+at", "STUDIES_AT"),
    (r"(?:am|is)\s+married\s+to", "IS_MARRIED_TO"),
    (r"(?:work|works)\s+as(?:\s+an?)?", "WORKS_AS"),
    (r"(?:like|likes|enjoy|enjoys)", "LIKES"),
    (r"(?:love|loves|adore|adores)", "LOVES"),
    (r"(?:dislike|dislikes|hate|hates)", "DISLIKES"),
    (r"(?:prefer|prefers)", "PREFERS"),
    (r"(?:know|knows)", "KNOWS"),
    (r"(?:own|owns|have|has)\s+an?", "OWNS"),
    (r"(?:speak|speaks)", "SPEAKS"),
    (r"(?:play|plays)", "PLAYS"),
    (r"(?:use|uses)", "USES"),
    (r"(?:am|is)\s+allergic\s+to", "ALLERGIC_TO"),
    (r"(?:manage|manages|lead|leads)", "MANAGES"),
]
_STATEMENTS = [
    (re.compile(rf"^{_SUBJECT}\s+{verb}\s+(?P<obj>.+)$"), rel) for verb, rel in _VERBS
]
_MY_NAME = re.compile(r"^my name is\s+(?P<obj>.+)$", re.I)
_MY_RELATIVE = re.compile(
    r"^my\s+(?P<rel>wife|husband|partner|brother|sister|mother|father|son|daughter|friend|boss|manager|dog|cat)"
    r"(?:'s name)?\s+is\s+(?:called\s+|named\s+)?(?P<obj>.+)$",
    re.I,
)
_OBJECT_TRIM = re.compile(r"^(?:the|a|an)\s+", re.I)
_OBJECT_STOP = re.compile(r"\s+(?:because|since|but|when|where|which|who|although)\b.*$", re.I)


@dataclass(frozen=True, slots=True)
class Extraction:
    facts: list[str]
    triples: list[list[Triple]]  # triples[i] were read from facts[i]


def normalise_name(name: str) -> str:
    return " ".join(name.replace("’", "'").split()).strip(" .,!?;:\"'").casefold()


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]


def is_fact(sentence: str) -> bool:
    s = sentence.strip()
    if not s or s.endswith("?") or _GREETING.match(s):
        return False
    return len(s.split()) >= 3


def _clean_object(obj: str) -> str | None:
    obj = _OBJECT_STOP.sub("", obj.strip().rstrip(".!;,"))
    obj = _OBJECT_TRIM.sub("", obj).strip()
    if not obj or len(obj.split()) > 5:
        return None
    return normalise_name(obj)


def statements(sentence: str, speaker: str) -> list[Triple]:
    """Subject-verb-object statements in one sentence (see module docstring)."""
    s = sentence.strip().rstrip(".!")
    if _NEGATION.search(s):
        return []
    if m := _MY_NAME.match(s):
        obj = _clean_object(m["obj"])
        return [Triple(speaker, "IS_NAMED", obj, "person", "name")] if obj else []
    if m := _MY_RELATIVE.match(s):
        obj = _clean_object(m["obj"])
        rel = "HAS_" + m["rel"].upper()
        return [Triple(speaker, rel, obj, "person", "person")] if obj else []
    found: list[Triple] = []
    for part in re.split(r"\s+and\s+(?=(?:I\b|[A-Z]))", s):
        for pattern, relation in _STATEMENTS:
            m = pattern.match(part.strip())
            if not m:
                continue
            obj = _clean_object(m["obj"])
            if obj is None:
                break
            subj = speaker if m["subj"] == "I" else normalise_name(m["subj"])
            found.append(Triple(subj, relation, obj, "person", "entity"))
            break
    return found


def extract(messages: list[Message], speaker: str) -> Extraction:
    facts: list[str] = []
    triples: list[list[Triple]] = []
    for message in messages:
        if message.role.lower() not in ("user", "human"):
            continue
        for sentence in sentences(message.content):
            if not is_fact(sentence):
                continue
            facts.append(sentence)
            triples.append(statements(sentence, speaker))
    return Extraction(facts=facts, triples=triples)
