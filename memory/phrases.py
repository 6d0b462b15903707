"""Noun phrases and names, read from tokens for the deterministic extractor.

An object is a whole noun phrase: determiners and quantifiers dropped ("a lot of rice" ->
rice), multi-word names kept with their inner 'of', '&', "'s" and titles ("Bank of America",
"Procter & Gamble", "St. Mary's Hospital", "Tesla Model 3"), cut at a preposition,
conjunction, adverb or finite verb ("Salt Lake City with my family" -> salt lake city)."""
from __future__ import annotations

from dataclasses import dataclass

from memory.lexicon import (
    CLAUSE_BREAKS,
    DETERMINERS,
    LEMMA,
    NP_STOP,
    PRONOUNS,
    QUANTIFIERS,
    SPEAKER,
    TITLES,
)
from memory.tokens import Tok, render
from memory.verbs import phrasal_verb_at

MAX_WORDS = 7  # a longer "object" is a misreading, not a name
_LY_NOUNS = frozenset("family jelly belly lily rally ally bully assembly butterfly supply fly holy july".split())
_NOT_NAMES = PRONOUNS | DETERMINERS | SPEAKER | CLAUSE_BREAKS | frozenset(
    "and or but let please yes no ok okay well so also hi hello thanks".split()
)
_SENTENCE_END = frozenset(".!?;")


@dataclass(frozen=True, slots=True)
class Phrase:
    tokens: tuple[Tok, ...]
    end: int  # position after the phrase

    @property
    def text(self) -> str:
        return render(list(self.tokens))

    @property
    def head(self) -> str:
        words = [t.low for t in self.tokens if t.low[:1].isalnum()]
        return words[-1] if words else ""

    @property
    def capitalised(self) -> bool:
        return any(t.text[:1].isupper() for t in self.tokens)


def _finite_verb(t: Tok) -> bool:
    lemma = LEMMA.get(t.low)
    return lemma is not None and t.low != lemma and not t.low.endswith("ing") and not t.text[:1].isupper()


def _skip_determiners(ts: list[Tok], p: int) -> int:
    moved = True
    while moved and p < len(ts):
        moved = False
        for q in QUANTIFIERS:
            if tuple(t.low for t in ts[p : p + len(q)]) == q:
                p, moved = p + len(q), True
                break
        if p < len(ts) and ts[p].low in DETERMINERS:
            p, moved = p + 1, True
    return p


def _continues(ts: list[Tok], p: int, words: list[Tok]) -> int:
    """How many tokens at p continue the phrase across a function word (0: none)."""
    t, n = ts[p], len(ts)
    nxt = ts[p + 1] if p + 1 < n else None
    capitalised = any(w.text[:1].isupper() for w in words)
    if t.text == "." and words and (words[-1].low in TITLES or len(words[-1].text) == 1):
        return 1
    if t.text == "'s" and words:
        return 1
    if t.text == "&" and words and nxt is not None and nxt.low not in NP_STOP:
        return 1
    if t.low == "of" and capitalised and nxt is not None:
        after = ts[p + 2] if nxt.low == "the" and p + 2 < n else nxt
        if after.text[:1].isupper():
            return 2 if nxt.low == "the" else 1
    if t.text == "," and capitalised and nxt is not None and nxt.text[:1].isupper() and nxt.low not in _NOT_NAMES:
        if p + 2 >= n or ts[p + 2].text in _SENTENCE_END:
            return 1
    return 0


def noun_phrase(ts: list[Tok], p: int) -> Phrase | None:
    """The noun phrase at p (determiners skipped), or None if there is none."""
    p = _skip_determiners(ts, p)
    words: list[Tok] = []
    while p < len(ts):
        t = ts[p]
        step = _continues(ts, p, words) if words else 0
        if step:
            words.extend(ts[p : p + step])
            p += step
            continue
        if t.low in NP_STOP or t.low in PRONOUNS or not t.text[:1].isalnum() or _finite_verb(t):
            break
        if words and phrasal_verb_at(ts, p):
            break
        if words and t.low.endswith("ly") and len(t.low) > 4 and t.low not in _LY_NOUNS and t.text.islower():
            break
        words.append(t)
        p += 1
    if not words or len(words) > MAX_WORDS:
        return None
    return Phrase(tuple(words), p)


def name(ts: list[Tok], p: int) -> Phrase | None:
    """A person's or organisation's name at p: an optional title, then capitalised words."""
    words: list[Tok] = []
    j = p
    if j < len(ts) and ts[j].low in TITLES and ts[j].text[:1].isupper():
        words.append(ts[j])
        j += 1
        if j < len(ts) and ts[j].text == ".":
            words.append(ts[j])
            j += 1
    start = len(words)
    while j < len(ts) and len(words) < 5 and ts[j].text[:1].isupper() and ts[j].low not in _NOT_NAMES:
        words.append(ts[j])
        j += 1
    if len(words) == start:
        return None
    return Phrase(tuple(words), j)
