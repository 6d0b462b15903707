"""Reading one sentence into statements: clauses, subjects, people around the speaker,
relation verbs, objects, negation and time (the grammar behind memory/extraction.py).

A sentence is read left to right, once:
1. time phrases are resolved and taken out (memory/timephrases.py);
2. clauses follow one another, split at ';', 'but', 'although'... and at 'and' / ',' when
   what follows starts a clause (a subject, or a relation verb sharing the previous subject:
   "I live in Paris and work at Acme");
3. a clause is [subject] verb-group object (, object)* (and object)* [trailing preposition
   phrase], where the subject is the speaker ("I"), a name, or "my <role> <Name>" / "<Name>,
   my <role>," (which also states the role), and "my <role> is <Name>" is a clause by itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from memory import timephrases
from memory.lexicon import (
    ADVERBS,
    ATTRIBUTES,
    GROUP_NOUNS,
    PERSON_TITLES,
    PETS,
    POSSESSIVE_SPEAKER,
    PROFESSIONS,
    ROLE_MODIFIERS,
    ROLES,
    SPEAKER,
    TRAILING,
)
from memory.phrases import Phrase, name, noun_phrase
from memory.tokens import Tok
from memory.verbs import VerbHit, is_be, verb_group

MAX_TOKENS = 80  # longer sentences are kept as facts but not read for relations
_HARD_BREAKS = frozenset("; but although though whereas while because which who when if so".split())
_INHERIT_AFTER = frozenset(", and but although though whereas while".split())
_NO_INHERIT = frozenset("because which who when if so".split())
_DISCOURSE = frozenset("and but so also well oh actually honestly plus , although though whereas while".split())
_PERSON = "person"


@dataclass(frozen=True, slots=True)
class Statement:
    source: str
    relation: str
    destination: str
    source_type: str
    destination_type: str
    negated: bool = False
    valid_from: datetime | None = None
    clause: int = 0


@dataclass(frozen=True, slots=True)
class _Subject:
    name: str
    type: str
    others: tuple[str, ...] = ()  # "Priya and Sam live in Pune"

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.others)


class _Reader:
    def __init__(self, ts: list[Tok], speaker: str) -> None:
        self.ts, self.n, self.speaker = ts, len(ts), speaker
        self.out: list[Statement] = []
        self.clause = 0
        self.starts: list[int] = []  # where each clause begins
        self.last: _Subject | None = None  # the subject of the clause being read

    def emit(self, s: str, rel: str, d: Phrase | str, st: str, dt: str, negated: bool = False,
             timeless: bool = False) -> None:
        """One statement; a timeless one (a role) takes no time from its clause."""
        text = d.text if isinstance(d, Phrase) else d
        self.out.append(Statement(s, rel, text, st, dt, negated, clause=-1 if timeless else self.clause))

    def emit_each(self, subj: _Subject, rel: str, d: Phrase | str, st: str, dt: str, negated: bool = False) -> None:
        for who in subj.names:
            self.emit(who, rel, d, st, dt, negated)

    # --- subjects and people ------------------------------------------------------------
    def role(self, p: int) -> tuple[str, bool, int] | None:
        """'my best friend' at p: (relation, is_pet, position after)."""
        if p >= self.n or self.ts[p].low not in POSSESSIVE_SPEAKER:
            return None
        j, words = p + 1, []
        while j < self.n and self.ts[j].low in ROLE_MODIFIERS and j + 1 < self.n and self.ts[j + 1].low in ROLES:
            words.append(self.ts[j].low)
            j += 1
        low = self.ts[j].low if j < self.n else ""
        if low in ROLES or low == "name" or (low.endswith("-in-law") and low[:-7] in ROLES):
            words.append(low)
            rel = "IS_NAMED" if words == ["name"] else "HAS_" + "_".join(words).upper().replace("-", "_")
            return rel, self.ts[j].low in PETS, j + 1
        return None

    def named_after(self, p: int) -> Phrase | None:
        """'is Priya', 'is called Biscuit', "'s name is Pixel" ending a clause at p."""
        ts, j = self.ts, p
        if j + 1 < self.n and ts[j].text == "'s" and ts[j + 1].low == "name":
            j += 2
        if j < self.n and is_be(ts[j]):
            j += 1
            if j < self.n and ts[j].low in ("called", "named"):
                j += 1
            return name(ts, j)
        return None

    def subject(self, p: int) -> tuple[_Subject | None, int, bool]:
        """(subject or None, position after it, whether a clause was completed here)."""
        ts = self.ts
        if p < self.n and ts[p].low in SPEAKER:
            return _Subject(self.speaker, _PERSON), p + 1, False
        if role := self.role(p):
            rel, pet, j = role
            kind = "thing" if pet else _PERSON
            if rel == "IS_NAMED" or (j < self.n and (is_be(ts[j]) or ts[j].text == "'s")):
                if who := self.named_after(j):
                    self.emit(self.speaker, rel, who, _PERSON, kind, timeless=True)
                    return None, who.end, True
                return None, j, False
            if j < self.n and ts[j].text == ",":
                j += 1
            if who := name(ts, j):
                self.emit(self.speaker, rel, who, _PERSON, kind, timeless=True)
                k = who.end + 1 if who.end < self.n and ts[who.end].text == "," else who.end
                return _Subject(who.text, kind), k, False
            return None, j, False
        if who := name(ts, p):
            j, others = who.end, []
            while j + 1 < self.n and ts[j].low == "and" and (more := name(ts, j + 1)):
                others.append(more.text)
                j = more.end
            if others:
                return _Subject(who.text, _PERSON, tuple(others)), j, False
            if j + 1 < self.n and ts[j].text == ",":
                if role := self.role(j + 1):
                    self.emit(self.speaker, role[0], who, _PERSON, "thing" if role[1] else _PERSON, timeless=True)
                    j = role[2] + 1 if role[2] < self.n and ts[role[2]].text == "," else role[2]
            return _Subject(who.text, _PERSON), j, False
        return None, p, False

    # --- clause starts and boundaries -------------------------------------------------------
    def starts_clause(self, p: int) -> bool:
        while p < self.n and self.ts[p].low in ADVERBS:
            p += 1
        if p >= self.n:
            return False
        t = self.ts[p]
        if t.low in SPEAKER or self.role(p):
            return True
        if (who := name(self.ts, p)) and (hit := verb_group(self.ts, who.end)) and hit.finite:
            return True
        hit = verb_group(self.ts, p)
        return hit is not None and hit.finite and not hit.copula

    def next_clause(self, p: int) -> tuple[int, bool]:
        """Position of the next clause start at or after p, and whether it keeps the subject."""
        while p < self.n:
            low = self.ts[p].low
            if low in _HARD_BREAKS:
                return p + 1, low not in _NO_INHERIT
            if low in (",", "and") and self.starts_clause(p + 1):
                return p + 1, True
            p += 1
        return p, False

    # --- one clause ----------------------------------------------------------------------------
    def clause_at(self, p: int, inherited: _Subject | None) -> int:
        """Read the clause at p; returns the position where reading stopped."""
        ts = self.ts
        while p < self.n and (ts[p].low in _DISCOURSE or ts[p].low in ADVERBS):
            p += 1
        subj, j, done = self.subject(p)
        if done:
            return j
        if subj is None:
            if inherited is None or j != p:
                return j
            subj = inherited
        hit = verb_group(ts, j)
        self.last = subj
        if hit is None:
            return j
        if hit.copula:
            return self.copula(subj, hit)
        return self.objects(subj, hit.relation or "", hit.dest_type, hit.negated, hit.end)

    def copula(self, subj: _Subject, hit: VerbHit) -> int:
        ts, p = self.ts, hit.end
        if p < self.n and ts[p].low.isdecimal() and (p + 1 >= self.n or ts[p + 1].low in ("years", "year", "yrs")):
            self.emit_each(subj, "HAS_AGE", ts[p].text, subj.type, "thing", hit.negated)
            return p + 1
        ph = noun_phrase(ts, p)
        if ph is None:
            return p
        if ph.head in PROFESSIONS:
            return self.objects(subj, "WORKS_AS", "thing", hit.negated, p)
        if len(ph.tokens) == 1 and ph.head in ATTRIBUTES:
            self.emit_each(subj, "IS", ph, subj.type, "thing", hit.negated)
        return ph.end

    def coordinated(self, p: int) -> list[Phrase]:
        """The noun phrase at p and those joined to it by ',', 'and', 'or'."""
        ts = self.ts
        first = noun_phrase(ts, p)
        if first is None:
            return []
        items, q = [first], first.end
        while q < self.n and (ts[q].text == "," or ts[q].low in ("and", "or")):
            r = q + 2 if ts[q].text == "," and q + 1 < self.n and ts[q + 1].low in ("and", "or") else q + 1
            if self.starts_clause(r) or (nxt := noun_phrase(ts, r)) is None:
                break
            if (hit := verb_group(ts, nxt.end)) is not None and hit.finite:
                break  # "..., and my parents live in Osaka": a subject, not one more object
            items.append(nxt)
            q = nxt.end
        return items

    def objects(self, subj: _Subject, rel: str, dtype: str, negated: bool, p: int) -> int:
        items = self.coordinated(p)
        end = items[-1].end if items else p
        for ph in items:
            if rel == "OWNS" and ph.head in ROLES and ph.head not in PETS:
                end = self.has_role(subj, ph, negated)
                continue
            relation = "MEMBER_OF" if rel == "WORKS_AT" and ph.head in GROUP_NOUNS else rel
            kind = _PERSON if ph.tokens[0].low in PERSON_TITLES else dtype
            self.emit_each(subj, relation, ph, subj.type, kind, negated)
        trailing = TRAILING.get(rel, {})
        if items and end < self.n and self.ts[end].low in trailing:
            rel2, type2 = trailing[self.ts[end].low]
            if (ph := noun_phrase(self.ts, end + 1)) is not None:
                self.emit_each(subj, rel2, ph, subj.type, type2, negated)
                end = ph.end
        return end

    def has_role(self, subj: _Subject, ph: Phrase, negated: bool) -> int:
        """'I have a brother named Sam': a role, not a possession."""
        j = ph.end
        if j < self.n and self.ts[j].low in ("named", "called") and (who := name(self.ts, j + 1)):
            self.emit_each(subj, "HAS_" + ph.head.upper().replace("-", "_"), who, subj.type, _PERSON, negated)
            return who.end
        return j

    def read(self) -> list[Statement]:
        p, inherited = 0, None
        while p < self.n:
            self.starts.append(p)
            self.last = None
            end = self.clause_at(p, inherited)
            keep_from = self.last
            p, keep = self.next_clause(max(end, p))
            inherited = keep_from if keep else None
            self.clause += 1
        return self.out


def _without_time(tokens: list[Tok], now: datetime) -> tuple[list[Tok], list[tuple[int, datetime | None]]]:
    """The tokens outside time phrases, and (position among them, date) per phrase."""
    found = timephrases.find([t.low for t in tokens], now)
    kept: list[Tok] = []
    times: list[tuple[int, datetime | None]] = []
    i = 0
    for f in found:
        kept.extend(tokens[i : f.start])
        times.append((len(kept), f.at))
        i = f.end
    kept.extend(tokens[i:])
    out: list[Tok] = []
    for t in kept:  # "no longer" is a negation like "not"
        if t.low == "longer" and out and out[-1].low == "no":
            out[-1] = Tok("not", "not", out[-1].start, t.end)
            continue
        out.append(t)
    return out, times


def read_sentence(tokens: list[Tok], speaker: str, now: datetime) -> list[Statement]:
    """The statements one sentence makes (empty for a sentence too long to read)."""
    if len(tokens) > MAX_TOKENS:
        return []
    kept, times = _without_time(tokens, now)
    reader = _Reader(kept, speaker)
    found = reader.read()
    when: dict[int, datetime] = {}
    for pos, at in times:
        if at is None:
            continue
        clause = max((c for c, start in enumerate(reader.starts) if start <= pos), default=0)
        when.setdefault(clause, at)
    return [
        s if s.clause < 0 or s.clause not in when else _with_time(s, when[s.clause])
        for s in found
    ]


def _with_time(s: Statement, at: datetime) -> Statement:
    return Statement(s.source, s.relation, s.destination, s.source_type, s.destination_type, s.negated, at, s.clause)
