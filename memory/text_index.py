"""The lexical and mention channels of search, answered from memory instead of SQL.

SQL's full-text index answered each search in 7-9 ms of CPU at 100k memories (a common word's
postings are read for every tenant, then intersected with the scope), and the mention index
took 3-4 ms more in three statements. This index holds the same two inverted indexes in
numpy-friendly arrays and answers both in well under a millisecond:

* words: stemmed content words (Porter2 via PyStemmer, stop words left out) -> postings
  `user << 32 | doc << 4 | min(tf, 15)`, scored with BM25 (k1=1.2, b=0.75) whose document
  frequencies and average length are those of the caller's scope, so other tenants' texts never
  move a tenant's scores;
* mention keys (memory.mentions.mentioned, the same keys SQL's mention index holds) -> postings
  `user << 32 | doc << 4`, plus each memory's own keys for `mentions`.

A term's postings are kept sorted by user (all but a short tail of recent ones, `_Postings`), so
a scope with a user reads that user's slice: a common word's postings at 100k memories are ~17k,
one user's a few hundred.

Each memory gets a doc number; per-doc arrays hold its owners (as small ints), validity, expiry,
creation time and length, so a scope is one vectorised mask. A changed text gets a new doc
number and the old one becomes a tombstone that masks ignore; when tombstones outnumber half the
live documents the postings are rewritten without them. A change of validity, agent, run or
expiry alone is made in place; a change of user moves the memory to a new doc number, as its
postings hold the user.

It is kept in step wherever the scope catalog is (the committer, the follower) and built from
SQL in the background after start (`fill`, about 1 s of CPU per 100k memories): until it is
complete, reads go to SQL's own indexes (`fallback`), so start-up and readiness do not wait for
it and no search sees a half-built index. SQL stays the source of truth: the index is derived,
in this process only.
"""
from __future__ import annotations

import math
import sys
from array import array
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import Stemmer

from memory.mentions import mentioned
from memory.models import MemoryId, MemoryRecord, Scope, utcnow
from memory.ports import TextRow, TextSearch
from memory.ranking import STOP_WORDS, TERM

K1 = 1.2
B = 0.75
_TF_BITS = 4
_TF_MAX = (1 << _TF_BITS) - 1
_USER_SHIFT = 32  # a posting's user code sits above its doc number and tf
_DOC_MASK = (1 << (_USER_SHIFT - _TF_BITS)) - 1  # doc numbers below 2**28
_TAIL_MIN = 64  # unsorted postings a term may gather before it is sorted again (or 1/8 of its sorted ones)
_NEVER = math.inf  # the expiry of a memory without one
# word -> stem for the most frequent words: ~70 ns a word saved (PyStemmer takes ~150 ns), while a
# large vocabulary's rare words would make a bigger cache RSS (~120 bytes a word) for nothing
_STEM_CACHE_MAX = 20_000
_MASKS_KEPT = 8  # at least; more while they fit in _MASK_BYTES
# scope masks kept between searches, one bit a memory each (packed): 80 scopes at 100k memories.
# A mask rebuilt per search cost ~0.4 ms of the loop in the server (three passes over every
# memory); unpacking a kept one costs ~15 us, and as bools they took 8 MB
_MASK_BYTES = 1_000_000
_MASK_OVERHEAD = 256  # bytes a kept mask costs beside its bits (its record's and arrays' headers)
FILL_PAGE = 1_000  # rows read from SQL per page: bounds the fill's memory and how long a page holds writers


def _grouped(doc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(doc, return_inverse=True), by a stable sort: doc arrays here are a few sorted
    runs (one per term), which a stable sort merges in linear time where np.unique's sort does
    not (4,500 postings: ~45 us against ~155)."""
    order = np.argsort(doc, kind="stable")
    ordered = doc[order]
    first = np.empty(ordered.size, dtype=bool)
    first[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    where = np.empty(doc.size, dtype=np.intp)
    where[order] = np.cumsum(first) - 1
    return ordered[first], where


def _doc_numbers(postings: np.ndarray) -> np.ndarray:
    """The doc numbers of postings, as intp (what numpy gathers by fastest)."""
    return ((postings >> np.uint64(_TF_BITS)) & np.uint64(_DOC_MASK)).astype(np.intp)


def _sort_in(found: array) -> None:
    """Sort a term's postings whole (its sorted part and its tail: two runs, merged in linear time)."""
    view = np.frombuffer(found, dtype=np.uint64)
    view[1:].sort(kind="stable")
    view[0] = len(found) - 1
    del view  # an array exporting its buffer cannot grow


class _Postings:
    """Term -> its postings (`user << 32 | doc << 4 | tf`; a mention key's tf is 0): one int while
    a single memory has the term (most of a vocabulary), then an `array('Q')` whose first item
    counts the postings after it that are sorted. Appends go to an unsorted tail, sorted in once
    it outgrows 1/8 of the sorted part (a posting is moved O(log n) times over a term's life). A
    user's postings are a binary search in the sorted part plus a filter of the tail."""

    def __init__(self) -> None:
        self.table: dict[str, int | array] = {}

    def __contains__(self, term: str) -> bool:
        return term in self.table

    def add(self, term: str, posting: int) -> None:
        found = self.table.get(term)
        if found is None:
            self.table[term] = posting
        elif isinstance(found, int):
            self.table[term] = array("Q", (2, *sorted((found, posting))))
        else:
            found.append(posting)
            done = found[0]
            if len(found) - 1 - done > max(_TAIL_MIN, done // 8):
                _sort_in(found)

    def settle(self) -> None:
        """Sort every term's tail in: after a fill, whose appends left ~1/8 of the postings in
        tails that each read filters whole (100k memories: ~125k postings, ~40 us a search),
        for ~8 ms once."""
        for found in self.table.values():
            if not isinstance(found, int) and found[0] < len(found) - 1:
                _sort_in(found)

    def read(self, term: str, user: int | None = None) -> np.ndarray | None:
        """A copy of the term's postings (of `user`'s memories only, when given; -1: a user no
        memory has)."""
        found = self.table.get(term)
        if found is None or user == -1:
            return None
        if isinstance(found, int):
            return np.array([found], dtype=np.uint64) if user is None or found >> _USER_SHIFT == user else None
        view = np.frombuffer(found, dtype=np.uint64)
        if user is None:
            return view[1:].copy()
        done = found[0] + 1
        # bisect reads the array in place: no NumPy call for the search
        lo = bisect_left(found, user << _USER_SHIFT, 1, done)
        hi = bisect_left(found, (user + 1) << _USER_SHIFT, lo, done)
        if done == len(found):
            return view[lo:hi].copy()
        tail = view[done:]
        return np.concatenate((view[lo:hi], tail[(tail >> np.uint64(_USER_SHIFT)) == user]))

    def docs(self, term: str, user: int | None = None) -> np.ndarray:
        """The doc numbers of the term's postings (of `user`'s memories only, when given)."""
        found = self.read(term, user)
        if found is None:
            return np.zeros(0, dtype=np.intp)
        return _doc_numbers(found)

    def renumber(self, alive: np.ndarray, renumbered: np.ndarray) -> None:
        """Drop postings of dead docs and renumber the rest (a monotone map: sorted stays sorted)."""
        for term in list(self.table):
            found = self.table[term]
            p = np.array([found], dtype=np.uint64) if isinstance(found, int) else np.frombuffer(found, dtype=np.uint64)
            done = 0 if isinstance(found, int) else int(p[0])
            if not isinstance(found, int):
                p = p[1:]
            docs = _doc_numbers(p)
            keep = alive[docs]
            if not keep.any():
                del self.table[term]
                continue
            kept = p[keep]
            shift = np.uint64(_USER_SHIFT)
            rewritten = (kept >> shift << shift) | (kept & np.uint64(_TF_MAX)) \
                | (renumbered[docs[keep]].astype(np.uint64) << np.uint64(_TF_BITS))
            if rewritten.size == 1:
                self.table[term] = int(rewritten[0])
            else:
                sorted_kept = int(np.count_nonzero(keep[:done]))
                self.table[term] = array("Q", np.concatenate(
                    (np.array([sorted_kept], dtype=np.uint64), rewritten)).tobytes())


@dataclass(slots=True)
class _KeptMask:
    version: int  # TextIndex._version when it was made
    bits: np.ndarray  # np.packbits of the mask
    size: int  # docs the mask covers
    stats: tuple[int, float] | None = None  # (memories in it, their mean length in words), once asked
    unpacked: np.ndarray | None = None  # the mask as bools, on the one kept mask last read (TextIndex._open)

    def mask(self, n: int) -> np.ndarray:
        """As bools over n docs: docs added after it was made are outside its scope (an add
        inside it drops the kept mask)."""
        if self.unpacked is None or self.unpacked.shape[0] < n:
            mask = np.zeros(n, dtype=bool)
            mask[: self.size] = np.unpackbits(self.bits, count=self.size).view(bool)
            mask.flags.writeable = False  # shared by the readers of one search
            self.unpacked = mask
        return self.unpacked


def _order_key(id: str) -> int:
    """An int that orders ids as their strings do, as far as their first 8 bytes of UTF-8 go
    (byte order is code point order)."""
    return int.from_bytes(id.encode()[:8].ljust(8, b"\0"), "big")


def row_of(rec: MemoryRecord) -> TextRow:
    return TextRow(rec.id, rec.scope, rec.valid, rec.text, rec.created_at, rec.expires_at)


class _Owners:
    """Owner id <-> small int (0: none), so a scope compares ints in numpy."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}

    def code(self, value: str | None) -> int:
        if value is None:
            return 0
        found = self.codes.get(value)
        if found is None:
            found = self.codes[value] = len(self.codes) + 1
        return found


class TextIndex:
    """In-memory word and mention index over the memories this process knows."""

    def __init__(self, clock: Callable[[], datetime] = utcnow, fallback: TextSearch | None = None) -> None:
        self._clock = clock
        self._fallback = fallback  # answers while a fill runs (SQL's own indexes)
        self._stemmer = Stemmer.Stemmer("english")
        self._stems: dict[str, str] = {}
        self._generation = 0  # a clear() during a fill ends that fill
        self.ready = True  # False while a fill runs: reads then go to `fallback`
        self.clear()

    # -- keeping it in step -----------------------------------------------------------------

    def clear(self) -> None:
        self._generation += 1
        self.ready = True  # empty is complete: a fill sets it back while it runs
        self._ids: list[MemoryId | None] = []  # doc number -> id (None: a tombstone)
        self._doc: dict[MemoryId, int] = {}
        self._owners = (_Owners(), _Owners(), _Owners())  # user, agent, run
        capacity = 1024
        self._owner = np.zeros((3, capacity), dtype=np.int32)
        self._alive = np.zeros(capacity, dtype=bool)
        self._valid = np.zeros(capacity, dtype=bool)
        self._expires = np.full(capacity, _NEVER, dtype=np.float64)
        self._created = np.zeros(capacity, dtype=np.float64)
        self._length = np.zeros(capacity, dtype=np.float32)
        self._text_hash = np.zeros(capacity, dtype=np.int64)
        self._id_key = np.zeros(capacity, dtype=np.uint64)  # ids' order, as far as their first 8 bytes tell
        self._words = _Postings()
        self._keys = _Postings()  # mention keys
        # doc -> the mention keys its memory names (None: none, or a tombstone); equal key tuples
        # are one object (`_key_sets`): most memories name the same few people and places
        self._named: list[tuple[str, ...] | None] = []
        self._key_sets: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._tombstones = 0
        self._expiring = 0  # live memories with an expiry: none, and masks need no clock
        self._version = 0  # bumped when doc numbers change (compaction): every cached mask is stale
        # kept masks, dropped by a change inside their scope (`_touched`): another tenant's writes
        # leave them standing (a mask made before docs were added is extended, see _mask)
        self._masks: dict[tuple[Scope, bool], _KeptMask] = {}
        self._open: _KeptMask | None = None  # the one kept mask that holds its bools unpacked

    def __len__(self) -> int:
        return len(self._doc)

    def add_rows(self, rows: Iterable[TextRow]) -> None:
        for row in rows:
            self.put(row)

    async def fill(
        self,
        pages: Callable[[MemoryId | None, int], Awaitable[Sequence[TextRow]]],
        exclusive: Callable[[], AbstractAsyncContextManager[object]] | None = None,
    ) -> None:
        """Build from scratch from SQL, a page at a time (`MemoryRepository.text_rows`), while
        writes keep coming: each page is read and applied under `exclusive` (the write gate), so
        a row read before a commit cannot land after the commit's own put or drop. A clear()
        meanwhile (a reset) ends the fill: SQL was emptied too."""
        self.clear()
        generation = self._generation
        self.ready = False  # until the last page: a failed or cancelled fill leaves reads on SQL
        after: MemoryId | None = None
        while True:
            async with exclusive() if exclusive is not None else nullcontext():
                rows = await pages(after, FILL_PAGE)
                if generation != self._generation:
                    return
                self.add_rows(rows)
            if len(rows) < FILL_PAGE:
                self._words.settle()
                self._keys.settle()
                self.ready = True
                return
            after = rows[-1].id

    def put(self, row: TextRow) -> None:
        """Add or replace one memory."""
        text_hash = hash(row.text)
        doc = self._doc.get(row.id)
        user = self._owners[0].code(row.scope.user_id)
        if doc is not None and self._text_hash[doc] == text_hash and self._owner[0, doc] == user:
            # same words, same user (its postings hold it): validity, agent, run or expiry changed in place
            self._set_attributes(doc, row)
            return
        if doc is not None:
            self._bury(row.id, doc)
            self._compact_if_worth_it()
        doc = len(self._ids)
        self._grow(doc + 1)
        id = sys.intern(row.id)  # one string shared with the catalog and the vector index's labels
        self._ids.append(id)
        self._doc[id] = doc
        self._text_hash[doc] = text_hash
        self._id_key[doc] = _order_key(id)
        self._created[doc] = row.created_at.timestamp()
        self._set_attributes(doc, row)
        words = TERM.findall(row.text.casefold())
        self._length[doc] = len(words)
        counts: dict[str, int] = {}
        for word in words:
            if word not in STOP_WORDS and (len(word) > 1 or word.isdigit()):
                stem = self._stem(word)
                counts[stem] = counts.get(stem, 0) + 1
        for stem, tf in counts.items():
            self._words.add(stem, user << _USER_SHIFT | doc << _TF_BITS | min(tf, _TF_MAX))
        named = row.mentions if row.mentions is not None else mentioned(row.text)
        keys = tuple(sorted({sys.intern(key) for key in named}))
        self._named.append(self._key_sets.setdefault(keys, keys) if keys else None)
        for key in keys:
            self._keys.add(key, user << _USER_SHIFT | doc << _TF_BITS)

    def drop(self, id: MemoryId) -> None:
        doc = self._doc.get(id)
        if doc is not None:
            self._bury(id, doc)
            self._compact_if_worth_it()

    def _compact_if_worth_it(self) -> None:
        # a rewrite reads every posting: wait until tombstones outnumber half the live documents
        if self._tombstones > max(1_000, len(self._doc) // 2):
            self._compact()

    def _set_attributes(self, doc: int, row: TextRow) -> None:
        if self._alive[doc]:
            self._touched(doc)  # its scope as it was: an update may move it out
            if self._expires[doc] != _NEVER:
                self._expiring -= 1
        if row.expires_at is not None:
            self._expiring += 1
        scope = row.scope
        for i, value in enumerate((scope.user_id, scope.agent_id, scope.run_id)):
            self._owner[i, doc] = self._owners[i].code(value)
        self._touched(doc)
        self._alive[doc] = True
        self._valid[doc] = row.valid
        self._expires[doc] = row.expires_at.timestamp() if row.expires_at is not None else _NEVER

    def _touched(self, doc: int) -> None:
        """Drop the masks kept for the scopes that `doc` (with its owners now) falls inside."""
        if not self._masks:
            return
        codes = self._owner[:, doc].tolist()
        owners = self._owners

        def inside(scope: Scope) -> bool:
            return all(value is None or owners[i].codes.get(value) == codes[i]
                       for i, value in enumerate((scope.user_id, scope.agent_id, scope.run_id)))

        for key in [key for key in self._masks if inside(key[0])]:
            del self._masks[key]

    def _bury(self, id: MemoryId, doc: int) -> None:
        self._touched(doc)
        if self._expires[doc] != _NEVER:
            self._expiring -= 1
        self._expires[doc] = _NEVER
        del self._doc[id]
        self._named[doc] = None
        self._ids[doc] = None
        self._alive[doc] = False
        self._valid[doc] = False
        self._tombstones += 1

    def _grow(self, size: int) -> None:
        capacity = self._alive.shape[0]
        if size <= capacity:
            return
        capacity = max(size, capacity * 2)

        def grown(a: np.ndarray, fill: float | int | bool) -> np.ndarray:
            out = np.full((*a.shape[:-1], capacity), fill, dtype=a.dtype)
            out[..., : a.shape[-1]] = a
            return out

        self._owner = grown(self._owner, 0)
        self._alive = grown(self._alive, False)
        self._valid = grown(self._valid, False)
        self._expires = grown(self._expires, _NEVER)
        self._created = grown(self._created, 0.0)
        self._length = grown(self._length, 0.0)
        self._text_hash = grown(self._text_hash, 0)
        self._id_key = grown(self._id_key, 0)

    def _compact(self) -> None:
        """Renumber the live documents densely and rewrite the postings without tombstones."""
        self._version += 1
        n = len(self._ids)
        alive = self._alive[:n]
        renumber = (np.cumsum(alive) - 1).astype(np.uint32)
        self._words.renumber(alive, renumber)
        self._keys.renumber(alive, renumber)
        m = int(alive.sum())
        self._owner[:, :m] = self._owner[:, :n][:, alive]
        for name in ("_valid", "_expires", "_created", "_length", "_text_hash", "_id_key"):
            a = getattr(self, name)
            a[:m] = a[:n][alive]
        self._alive[:m] = True
        self._alive[m:] = False
        self._valid[m:] = False
        self._named = [keys for id, keys in zip(self._ids, self._named) if id is not None]
        self._key_sets = {keys: keys for keys in self._named if keys is not None}
        self._ids = [id for id in self._ids if id is not None]
        self._doc = {id: i for i, id in enumerate(self._ids)}
        self._tombstones = 0

    def _stem(self, word: str) -> str:
        if word.isdigit():
            return word  # numbers have no endings, and caching each would cost more than it saves
        stem = self._stems.get(word)
        if stem is None:
            if len(self._stems) >= _STEM_CACHE_MAX:
                self._stems.clear()
            stem = self._stems[word] = self._stemmer.stemWord(word)
        return stem

    # -- reading ----------------------------------------------------------------------------

    def _mask(self, scope: Scope, include_invalidated: bool) -> np.ndarray:
        """Doc numbers a read in `scope` may return: live, owned inside the scope, and (unless
        invalidated memories are asked for) valid and not expired. One search asks for the same
        mask up to five times (words, then the graph channel's mention look-ups): the last few are
        kept until the next change, unless an expiry could end one meanwhile."""
        key = (scope, include_invalidated)
        kept = self._masks.pop(key, None)
        if kept is not None and kept.version == self._version:
            self._masks[key] = kept  # put back last: least recently used first out
            # docs added since are none of them inside the scope: the same statistics
            return self._opened(kept).mask(len(self._ids))
        mask = self._compute_mask(scope, include_invalidated)
        mask.flags.writeable = False  # shared by the readers of one search
        if self._expiring == 0 or include_invalidated:
            while len(self._masks) >= self._masks_kept():
                self._masks.pop(next(iter(self._masks)))
            kept = _KeptMask(self._version, np.packbits(mask), mask.shape[0], unpacked=mask)
            self._masks[key] = self._opened(kept)
        return mask

    def _opened(self, kept: _KeptMask) -> _KeptMask:
        """`kept` becomes the one kept mask whose bools stay unpacked (the one this search reads)."""
        if self._open is not None and self._open is not kept:
            self._open.unpacked = None
        self._open = kept
        return kept

    def _masks_kept(self) -> int:
        # headers count too: a small index searched in many scopes (say, unknown users) keeps a
        # bounded number of masks, not one per scope
        return max(_MASKS_KEPT, _MASK_BYTES // (len(self._ids) // 8 + _MASK_OVERHEAD))

    def _compute_mask(self, scope: Scope, include_invalidated: bool) -> np.ndarray:
        n = len(self._ids)
        mask = (self._alive if include_invalidated else self._valid)[:n].copy()
        for i, value in enumerate((scope.user_id, scope.agent_id, scope.run_id)):
            if value is not None:
                code = self._owners[i].codes.get(value)
                if code is None:
                    return np.zeros(n, dtype=bool)
                mask &= self._owner[i, :n] == code
        if not include_invalidated and self._expiring:
            mask &= self._expires[:n] > self._clock().timestamp()
        return mask

    def _stems_of(self, terms: Sequence[str]) -> list[str]:
        # letters and digits only, as SQL's index reads a term: no term is query syntax
        words = ("".join(ch for ch in term.casefold() if ch.isalnum()) for term in terms)
        return list(dict.fromkeys(self._stem(w) for w in words if w))

    async def lexical_search(
        self, scope: Scope, terms: Sequence[str], k: int, include_invalidated: bool = False
    ) -> list[tuple[MemoryId, float]]:
        """Up to k (id, BM25 score) inside `scope` whose text has any of `terms`, best first (ties: id)."""
        if not self.ready and self._fallback is not None:
            return await self._fallback.lexical_search(scope, terms, k, include_invalidated)
        stems = self._stems_of(terms)
        if k <= 0 or not stems or not self._doc:
            return []
        mask = self._mask(scope, include_invalidated)
        total, mean_length = self._scope_stats((scope, include_invalidated), mask)
        if total == 0:
            return []
        user = self._user_code(scope)
        reads = [p for stem in stems if (p := self._words.read(stem, user)) is not None and p.size]
        if not reads:
            return []
        # every term's postings at once: a handful of NumPy calls a search instead of ~10 a term
        postings = np.concatenate(reads) if len(reads) > 1 else reads[0]
        term = np.repeat(np.arange(len(reads)), [p.size for p in reads])
        doc = _doc_numbers(postings)
        keep = mask[doc]
        doc, postings, term = doc[keep], postings[keep], term[keep]
        if not doc.size:
            return []
        # a term's idf counts its matches inside the scope (math.log: the scores stay those of a
        # term at a time, to the last bit)
        matches = np.bincount(term, minlength=len(reads)).tolist()
        idf = np.array([math.log(1 + (total - n + 0.5) / (n + 0.5)) for n in matches])
        tf = (postings & _TF_MAX).astype(np.float64)
        norm = K1 * (1 - B + B * self._length[doc] / mean_length)
        weights = idf[term] * tf * (K1 + 1) / (tf + norm)
        # the scope's matches are few next to the index: sum per doc over them, not over every doc
        found, where = _grouped(doc)
        scores = np.bincount(where, weights=weights)
        return self._best(found, scores, k)

    def _user_code(self, scope: Scope) -> int | None:
        """The code of the scope's user, whose slice of the postings a read takes (None: no user
        given, every posting)."""
        return self._owners[0].codes.get(scope.user_id, -1) if scope.user_id is not None else None

    def _scope_stats(self, key: tuple[Scope, bool], mask: np.ndarray) -> tuple[int, float]:
        """(memories in the mask, their mean length in words), kept with the mask when it is kept."""
        kept = self._masks.get(key)
        if kept is not None and kept.unpacked is mask and kept.stats is not None:
            return kept.stats
        n = mask.shape[0]
        total = int(np.count_nonzero(mask))
        stats = total, (max(float(self._length[:n][mask].mean()), 1.0) if total else 1.0)
        if kept is not None and kept.unpacked is mask:
            kept.stats = stats
        return stats

    def _best(self, found: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[MemoryId, float]]:
        """The k best (doc, score) of `found`, as (id, score) ordered by score then id."""
        if found.size > k:  # the k best, and every doc tied with the k-th
            kth = -np.partition(-scores, k - 1)[k - 1]
            keep = scores >= kth
            found, scores = found[keep], scores[keep]
        first = self._first(found, (-scores,), k)
        ids = self._ids
        return [(ids[found[i]], float(scores[i])) for i in first]  # type: ignore[misc]  # live docs: never None

    def _first(self, found: np.ndarray, keys: tuple[np.ndarray, ...], k: int) -> list[int]:
        """The positions in `found` (doc numbers) of its first k by `keys` (each ascending, the
        first deciding first), then by id, as SQL breaks ties. Ordered in NumPy by the ids' first 8
        bytes; only docs tied with the k-th on every key and that prefix are compared by whole id
        (many memories of one scope can tie, and ordering them all by id took ~0.1 ms a search)."""
        prefix = self._id_key[found]
        order = np.lexsort((prefix, *reversed(keys)))
        if order.size > k:
            last = order[k - 1]
            tied = prefix[order] == prefix[last]
            for key in keys:
                tied &= key[order] == key[last]
            order = order[: max(k, int(np.flatnonzero(tied).max()) + 1)]
        # neighbours equal on every key and the prefix are the only pairs whole ids may reorder
        same = prefix[order[1:]] == prefix[order[:-1]]
        for key in keys:
            same &= key[order[1:]] == key[order[:-1]]
        if not same.any():
            return order[:k].tolist()
        ids = self._ids
        # already in order but for ties within a prefix: timsort is linear on that
        ranked = sorted(zip(*(key[order].tolist() for key in keys), (ids[d] for d in found[order].tolist()),
                            order.tolist()))
        return [row[-1] for row in ranked[:k]]

    async def mention_counts(
        self, scope: Scope, keys: Sequence[str], include_invalidated: bool = False
    ) -> dict[str, int]:
        """How many memories inside `scope` name each key (keys none names are absent)."""
        if not self.ready and self._fallback is not None:
            return await self._fallback.mention_counts(scope, keys, include_invalidated)
        wanted = [key for key in dict.fromkeys(keys) if key in self._keys]
        if not wanted:
            return {}
        mask = self._mask(scope, include_invalidated)
        user = self._user_code(scope)
        counts = {key: int(np.count_nonzero(mask[self._keys.docs(key, user)])) for key in wanted}
        return {key: n for key, n in counts.items() if n}

    async def mentioning(
        self, scope: Scope, keys: Sequence[str], k: int, include_invalidated: bool = False
    ) -> list[MemoryId]:
        """Up to k memories inside `scope` naming any of `keys`: most keys named first, then newest, then id."""
        if not self.ready and self._fallback is not None:
            return await self._fallback.mentioning(scope, keys, k, include_invalidated)
        wanted = [key for key in dict.fromkeys(keys) if key in self._keys]
        if not wanted or k <= 0:
            return []
        mask = self._mask(scope, include_invalidated)
        user = self._user_code(scope)
        docs = [d[mask[d]] for d in (self._keys.docs(key, user) for key in wanted)]
        # counted over the docs found, not over every doc (a bincount's length)
        found, where = _grouped(np.concatenate(docs))
        named = np.bincount(where)
        if found.size == 0:
            return []
        ids = self._ids
        return [str(ids[found[i]]) for i in self._first(found, (-named, -self._created[found]), k)]

    async def mentions(self, ids: Sequence[MemoryId]) -> dict[MemoryId, list[str]]:
        """The keys each memory names, sorted (memories that name none are absent)."""
        if not self.ready and self._fallback is not None:
            return await self._fallback.mentions(ids)
        return {id: list(keys) for id in ids if (doc := self._doc.get(id)) is not None and (keys := self._named[doc])}
