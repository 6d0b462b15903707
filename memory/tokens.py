"""Tokens and sentences for the deterministic extractor.

One regular expression with no nested repetition reads the text (linear time, whatever the
spacing), contractions are split ("don't" -> do + n't, "Mary's" -> Mary + 's), and sentences
end at . ! ? ; or a line break, except after a title or an initial ("Dr. Chen", "St. Mary's")."""
from __future__ import annotations

import re
from dataclasses import dataclass

from memory.lexicon import TITLES

_TOKEN = re.compile(r"\w+(?:-\w+)*(?:'\w+)?|\S")
_SUFFIXES = frozenset({"s", "m", "re", "ve", "ll", "d"})
_NEGATED_AUX = {"ca": "can", "wo": "will", "sha": "shall", "ai": "is"}
_ENDS = frozenset(".!?;")
_ABBREVIATIONS = TITLES | frozenset("jr sr vs etc e.g i.e no".split())


@dataclass(frozen=True, slots=True)
class Tok:
    text: str
    low: str
    start: int  # character offsets in the message
    end: int

    @property
    def cap(self) -> bool:
        return self.text[:1].isupper() or self.text[:1].isdigit()

    @property
    def glue(self) -> bool:
        """Written against the previous token: possessive 's, a full stop, a comma."""
        return self.text in ("'s", ".", ",")


def _split(text: str, start: int) -> list[Tok]:
    if "'" not in text or text.startswith("'"):
        return [Tok(text, text.lower(), start, start + len(text))]
    base, suffix = text.rsplit("'", 1)
    low_suffix = suffix.lower()
    if low_suffix == "t" and base.lower().endswith("n"):
        head = base[:-1]
        head = _NEGATED_AUX.get(head.lower(), head)
        cut = start + len(base) - 1
        return [Tok(head, head.lower(), start, cut), Tok("n't", "n't", cut, start + len(text))]
    if low_suffix in _SUFFIXES:
        cut = start + len(base)
        return [Tok(base, base.lower(), start, cut), Tok("'" + suffix, "'" + low_suffix, cut, start + len(text))]
    return [Tok(text, text.lower(), start, start + len(text))]


def tokenize(text: str, offset: int = 0) -> list[Tok]:
    """Tokens of text, their offsets shifted by `offset`."""
    text = text.replace("’", "'")  # same length: offsets still point into the original
    out: list[Tok] = []
    for m in _TOKEN.finditer(text):
        out.extend(_split(m.group(), m.start() + offset))
    return out


def _ends_sentence(tokens: list[Tok], i: int) -> bool:
    t = tokens[i]
    if t.text not in _ENDS:
        return False
    if t.text != "." or i == 0:
        return True
    before = tokens[i - 1]
    if before.end != t.start:
        return True
    return not (before.low in _ABBREVIATIONS or (len(before.text) == 1 and before.text.isupper()))


def sentence_spans(text: str) -> list[tuple[int, int, list[Tok]]]:
    """(start, end, tokens) of each sentence; line breaks always end one."""
    spans: list[tuple[int, int, list[Tok]]] = []
    offset = 0
    for line in text.split("\n"):
        tokens = tokenize(line, offset)
        current: list[Tok] = []
        for i, t in enumerate(tokens):
            current.append(t)
            if _ends_sentence(tokens, i):
                spans.append((current[0].start, current[-1].end, current))
                current = []
        if current:
            spans.append((current[0].start, current[-1].end, current))
        offset += len(line) + 1
    return spans


def render(tokens: list[Tok]) -> str:
    """Tokens back to text, with 's, '.' and ',' written against the word before."""
    out = ""
    for t in tokens:
        out += t.text if (t.glue or not out) else " " + t.text
    return out
