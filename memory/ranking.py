"""Hybrid search's pure parts: query terms, per-channel scores, and the fusion of ranked lists."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Mapping, Sequence

from memory.models import MemoryId


class SearchMode(Enum):
    """Which channels a search runs. HYBRID fuses lexical and vector (and graph/time where known)."""

    HYBRID = "hybrid"
    VECTOR = "vector"
    LEXICAL = "lexical"


@dataclass(frozen=True, slots=True)
class Scores:
    """Why a hit came back: each channel's own score (None where the channel did not find it)."""

    vector: float | None = None  # cosine similarity
    lexical: float | None = None  # BM25 (SQLite) / ts_rank_cd (PostgreSQL); comparable within one search
    graph: float | None = None
    time: float | None = None
    fused: float | None = None  # the weighted reciprocal-rank sum that ordered the hits
    reranked: float | None = None


class FusionMethod(Enum):
    # sum over channels of weight / (k + rank): robust to how each channel scales its scores
    RRF = "rrf"
    # sum over channels of weight * score min-max normalised over the candidates (absent: 0):
    # keeps how far ahead a channel's best match is, which ranks alone forget
    RELATIVE = "relative"


@dataclass(frozen=True, slots=True)
class FusionWeights:
    """How hybrid search fuses its channels; the fused score is scaled so 1.0 = best everywhere."""

    # RELATIVE by default: on LoCoMo dev it gave recall@1/@10 0.372/0.697 against RRF's 0.285/0.656
    # (bench/recall_quality.py, equal weights; weights 0.5-2 for lexical moved @10 by < 0.02)
    method: FusionMethod = FusionMethod.RELATIVE
    k: float = 60
    vector: float = 1.0
    lexical: float = 1.0
    graph: float = 0.5
    time: float = 0.5  # a boost for hits inside the time window the query names ("last May")
    # how many candidates each channel contributes per requested hit (at least `min_candidates`)
    depth: int = 3
    min_candidates: int = 30


@dataclass(slots=True)
class Candidate:
    id: MemoryId
    scores: dict[str, float] = field(default_factory=dict)  # channel -> its score
    ranks: dict[str, int] = field(default_factory=dict)  # channel -> 1-based rank


# A small English stop list of our own: words that carry no topic and would make every memory match.
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing done down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just let lets me more
    most my myself no nor not now of off on once only or other our ours ourselves out over own same she should
    so some such than that the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you your yours
    yourself yourselves s t d ll m re ve don didn doesn isn wasn weren haven hasn hadn won wouldn shouldn
    couldn also ever get got go going like much many may might must shall one ones thing things""".split()
)
TERM = re.compile(r"[^\W_]+")
MAX_TERMS = 32


def query_terms(text: str) -> list[str]:
    """Lower-case content words of a query, first occurrence first, stop words dropped."""
    seen: dict[str, None] = {}
    for word in TERM.findall(text.casefold()):
        if word not in STOP_WORDS and (len(word) > 1 or word.isdigit()):
            seen[word] = None
    return list(seen)[:MAX_TERMS]


@functools.lru_cache(maxsize=16_384)  # every hit's text is split into words and each stemmed: words repeat
def _stem(word: str) -> str:
    """A light suffix strip so that matchedTerms agrees with the stemming full-text indexes."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def matched_terms(terms: Sequence[str], text: str) -> list[str]:
    """The query terms a memory's text contains (modulo plural/tense endings)."""
    words = {_stem(w) for w in TERM.findall(text.casefold())}
    return [t for t in terms if _stem(t) in words]


def candidates(channels: Mapping[str, Sequence[tuple[MemoryId, float]]]) -> list[Candidate]:
    """Every channel's candidates once, with each channel's score and rank."""
    found: dict[MemoryId, Candidate] = {}
    for channel, ranked in channels.items():
        for rank, (id, score) in enumerate(ranked, start=1):
            cand = found.get(id)
            if cand is None:
                found[id] = Candidate(id, {channel: score}, {channel: rank})
            else:
                cand.scores[channel] = score
                cand.ranks[channel] = rank
    return list(found.values())


def fuse(found: Sequence[Candidate], channels: Sequence[str], weights: FusionWeights) -> list[Candidate]:
    """`found` ordered by fused score (ties: id); sets scores["fused"] in [0, 1]."""
    total = sum(getattr(weights, ch) for ch in channels) or 1.0
    if weights.method is FusionMethod.RRF:
        weight = {ch: getattr(weights, ch) for ch in channels}
        k = weights.k
        for cand in found:  # ~60 candidates a search: a plain loop, not a generator per candidate
            rrf = 0.0
            for ch, rank in cand.ranks.items():
                if (w := weight.get(ch)) is not None:
                    rrf += w / (k + rank)
            cand.scores["fused"] = rrf * (k + 1) / total
    else:
        spans = []
        for ch in channels:
            values = [c.scores[ch] for c in found if ch in c.scores]
            spans.append((ch, getattr(weights, ch), *((min(values), max(values)) if values else (0.0, 0.0))))
        for cand in found:  # ~60 candidates a search: a plain loop, not a generator per candidate
            fused = 0.0
            for ch, weight, low, high in spans:
                fused += weight * _scaled(cand.scores.get(ch), low, high)
            cand.scores["fused"] = fused / total
    return sorted(found, key=lambda c: (-c.scores["fused"], c.id))


def _scaled(value: float | None, low: float, high: float) -> float:
    if value is None:
        return 0.0
    return (value - low) / (high - low) if high > low else 1.0
