"""The verb group of a clause: auxiliaries, negation and the relation verb (memory/lexicon.py
tables), read left to right over tokens. Linear in the clause: each pattern is tried once
per candidate position, and the patterns are a fixed table."""
from __future__ import annotations

from dataclasses import dataclass

from memory.lexicon import (
    ADVERBS,
    AUXILIARIES,
    ENDING_VERBS,
    LEMMA,
    NEGATORS,
    PAST_STATES,
    STOP_VERBS,
    VERB_RELATIONS,
)
from memory.tokens import Tok

Pattern = tuple[tuple[tuple[str, bool], ...], str, str]  # ((word, optional)...), relation, type


def _compile(table: list[tuple[str, str, str]]) -> list[Pattern]:
    out = [(tuple((w.rstrip("?"), w.endswith("?")) for w in words.split()), rel, typ) for words, rel, typ in table]
    return sorted(out, key=lambda p: -len(p[0]))


def _by_first_word(patterns: list[Pattern]) -> dict[str, list[Pattern]]:
    """Patterns under their first word, longest first: a position tries only its own few."""
    index: dict[str, list[Pattern]] = {}
    for pattern in patterns:
        index.setdefault(pattern[0][0][0], []).append(pattern)
    return index


_RELATIONS = _by_first_word(_compile(VERB_RELATIONS))
_ENDINGS = _by_first_word(_compile(ENDING_VERBS))
_BE_RELATIONS = _by_first_word([(p[1:], rel, typ) for p, rel, typ in _RELATIONS.get("be", [])])
_PAST_FORMS = frozenset({"worked", "lived", "studied"})
_PRESENT_HAVE = frozenset({"have", "has", "'ve"})


@dataclass(frozen=True, slots=True)
class VerbHit:
    relation: str | None  # None: a bare copula ("is", "am") whose complement decides
    dest_type: str
    negated: bool
    end: int  # position after the verb group
    copula: bool = False
    finite: bool = True  # False for a bare -ing form ("running"), which cannot start a clause


def lemma(t: Tok) -> str | None:
    return LEMMA.get(t.low)


def is_be(t: Tok) -> bool:
    return LEMMA.get(t.low) == "be"


def _aux_like(t: Tok) -> bool:
    return t.low in AUXILIARIES or t.low in ADVERBS or t.low in NEGATORS or is_be(t)


def _element(t: Tok, word: str) -> bool:
    return t.low == word or LEMMA.get(t.low) == word


def _manner(t: Tok) -> bool:
    return t.low.endswith("ly") and len(t.low) > 4 and t.low.isalpha()


def _match(ts: list[Tok], p: int, index: dict[str, list[Pattern]]) -> tuple[str, str, int] | None:
    """Longest pattern matching at p: (relation, type, end)."""
    if p >= len(ts):
        return None
    low = ts[p].low
    base = LEMMA.get(low, low)
    candidates = index.get(low, []) if base == low else sorted(index.get(low, []) + index.get(base, []), key=lambda c: -len(c[0]))
    for elements, rel, typ in candidates:
        j = p
        for word, optional in elements:
            if j > p and j + 1 < len(ts) and _manner(ts[j]) and _element(ts[j + 1], word):
                j += 1  # "work remotely for"
            if j < len(ts) and _element(ts[j], word):
                j += 1
            elif not optional:
                break
        else:
            if j > p:
                return rel, typ, j
    return None


def phrasal_verb_at(ts: list[Tok], p: int) -> bool:
    """A verb with its particle at p ("live in", "work at"): no noun phrase runs through it."""
    hit = _match(ts, p, _RELATIONS)
    return hit is not None and hit[2] - p > 1 and not ts[p].text[:1].isupper()


def verb_group(ts: list[Tok], p: int) -> VerbHit | None:
    """The relation stated by the verb group starting at p, or None."""
    n, m = len(ts), p
    negated, be_at, have_at = False, None, None
    while m < n and _aux_like(ts[m]):
        negated |= ts[m].low in NEGATORS
        if is_be(ts[m]):
            be_at = m
        elif lemma(ts[m]) == "have":
            have_at = m
        m += 1
    if m < n and lemma(ts[m]) in STOP_VERBS and m + 1 < n and ts[m + 1].low.endswith("ing"):
        if hit := _match(ts, m + 1, _RELATIONS):
            return VerbHit(hit[0], hit[1], True, hit[2])
    if m < n and (hit := _match(ts, m, _ENDINGS)):
        return VerbHit(hit[0], hit[1], True, hit[2])
    if be_at is not None and m < n and (hit := _match(ts, m, _BE_RELATIONS)):
        return VerbHit(hit[0], hit[1], negated, hit[2])
    if m < n and (hit := _match(ts, m, _RELATIONS)):
        if hit[0] == "OWNS" and lemma(ts[m]) == "have" and ts[m].low not in _PRESENT_HAVE:
            return None
        rel = hit[0]
        if m == p and ts[m].low in _PAST_FORMS:
            rel = PAST_STATES.get(rel, rel)
        finite = not (m == p and ts[m].low.endswith("ing"))
        return VerbHit(rel, hit[1], negated, hit[2], finite=finite)
    if be_at is not None:
        return VerbHit(None, "thing", negated, m, copula=True)
    if have_at is not None and ts[have_at].low in _PRESENT_HAVE:
        return VerbHit("OWNS", "thing", negated, m)
    return None
