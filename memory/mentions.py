"""The entities a text names, as normalised keys: the mention index behind the graph channel.

Every memory, raw (`infer=false`) or extracted, gets the keys of the names it contains, so that
a query naming "Caroline" finds the memories naming her even when no relation was ever stated.
A name is a run of capitalised words read by the extractor's own name reader
(memory/phrases.py: titles such as "Dr. Chen" kept, pronouns and determiners never names);
common words that are capitalised only because they open a sentence or a quoted turn
("Hey Mel", "Yesterday") are left out of a run's start. Keys are made by `normalise_name`,
the one rule the graph store also names its entities with, so mention keys and graph entity
names compare equal.

Linear in the text (one tokenising pass, then one pass over the tokens); at most
MAX_MENTIONS keys per text.
"""
from __future__ import annotations

from memory.lexicon import (
    ADVERBS,
    AUXILIARIES,
    CLAUSE_BREAKS,
    DETERMINERS,
    LEMMA,
    NEGATORS,
    PREPOSITIONS,
    PRONOUNS,
)
from memory.naming import normalise_name
from memory.phrases import name
from memory.tokens import Tok, tokenize

MAX_MENTIONS = 64
_FIRST_PERSON = frozenset({"i", "me", "my", "mine", "myself"})
MAX_KEY_CHARS = 200

# words that open sentences and turns capitalised without naming anything
_OPENERS = frozenset(
    """yesterday today tomorrow tonight last next this hey hi hello hiya yo oh ooh ah aw aww wow whoa yeah yes yep yup no nope ok okay sure well thanks thank
    congrats congratulations great good nice cool awesome amazing sounds glad sorry please right
    how why whose whom what where when which who anyway also absolutely totally exactly definitely
    haha lol omg btw bye goodbye cheers dear ugh hmm um uh indeed really true maybe perhaps""".split()
)
_COMMON = _OPENERS | ADVERBS | AUXILIARIES | CLAUSE_BREAKS | DETERMINERS | NEGATORS | PREPOSITIONS | PRONOUNS | \
    frozenset(LEMMA) | frozenset("and or but not i me my we our you your he she his her they their it its".split())


def mentioned(text: str) -> list[str]:
    """Keys of the names `text` contains, first occurrence first, at most MAX_MENTIONS."""
    return _mentioned_in(tokenize(text))


def _mentioned_in(tokens: list[Tok]) -> list[str]:
    found: dict[str, None] = {}
    p = 0
    while p < len(tokens) and len(found) < MAX_MENTIONS:
        t = tokens[p]
        if not t.text[:1].isupper() or t.low in _COMMON or _glued_to_word(tokens, p):
            p += 1
            continue
        phrase = name(tokens, p)
        if phrase is None:
            p += 1
            continue
        key = normalise_name(phrase.text)
        if key and len(key) <= MAX_KEY_CHARS:
            found[key] = None
        p = max(phrase.end, p + 1)
    return list(found)


def query_keys(query: str, user_id: str | None = None) -> list[str]:
    """The entity keys a query names; a query in the first person ("where do I live?") also
    names its user, whom the extractor records relations of under the user id."""
    tokens = tokenize(query)
    keys = _mentioned_in(tokens)
    if user_id and _FIRST_PERSON & {t.low for t in tokens}:
        keys.append(normalise_name(user_id))
    return [key for key in dict.fromkeys(keys) if key]


def _glued_to_word(tokens: list[Tok], p: int) -> bool:
    # the tail of a hyphenless compound or contraction piece, not the start of a name
    return p > 0 and tokens[p - 1].end == tokens[p].start and tokens[p - 1].text[:1].isalnum()
