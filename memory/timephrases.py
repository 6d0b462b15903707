"""Time phrases in a tokenised sentence: found, resolved against the message time, and taken
out of the sentence so they never end up inside an object ("Berlin last month").

Resolution rules (dates at 00:00 UTC):
- "yesterday" / "today" / "this morning": that day; "last week": 7 days earlier;
  "last month" / "last year": the first day of the previous month / year; "this year": 1 January;
  "last Friday": the latest Friday before the message day.
- "N days/weeks/months/years ago" and "for N weeks" (a duration up to now): now minus N units.
- "since|in|on|from" + a year, a month (with or without day and year): its first day; a month
  with no year is the latest one not after the message ("in September" said in March means
  last September).
- Vague or habitual phrases ("recently", "every weekend", "a few months ago", "next year")
  are removed and give no time.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MONTHS = {m: i + 1 for i, m in enumerate(
    "january february march april may june july august september october november december".split())}
MONTHS |= {m[:3]: i for m, i in list(MONTHS.items())} | {"sept": 9}
WEEKDAYS = {d: i for i, d in enumerate("monday tuesday wednesday thursday friday saturday sunday".split())}
_NUMBERS = {w: i + 1 for i, w in enumerate(
    "one two three four five six seven eight nine ten eleven twelve".split())} | {"a": 1, "an": 1, "couple": 2}
_UNITS = {"day": "day", "days": "day", "week": "week", "weeks": "week", "month": "month", "months": "month",
          "year": "year", "years": "year", "decade": "decade", "decades": "decade"}
_PERIODS = frozenset("day week weekend month year morning afternoon evening night summer winter spring autumn fall".split())
_VAGUE_COUNTS = frozenset("few several some many couple".split())
_PLAIN = frozenset("""now currently anymore nowadays lately recently still already again daily weekly monthly
    yearly sometimes usually""".split())
_PLAIN_PAIRS = {("any", "more"), ("any", "longer"), ("right", "now"), ("these", "days"), ("at", "weekends"),
                ("on", "weekends"), ("all", "day"), ("most", "days"), ("at", "night"), ("every", "day"),
                ("at", "present"), ("for", "years"), ("for", "ages"), ("for", "months"), ("so", "far")}
_PREPOSITIONS = frozenset({"since", "in", "on", "from", "starting"})


@dataclass(frozen=True, slots=True)
class Found:
    start: int  # token positions [start, end) in the sentence
    end: int
    at: datetime | None  # None: a time phrase with no usable date


def _day(now: datetime) -> datetime:
    return datetime(now.year, now.month, now.day, tzinfo=now.tzinfo or UTC)


def _minus_months(d: datetime, months: int) -> datetime:
    y, m = divmod(d.year * 12 + d.month - 1 - months, 12)
    day = min(d.day, 28) if m + 1 == 2 else min(d.day, 30 if m + 1 in (4, 6, 9, 11) else 31)
    return d.replace(year=y, month=m + 1, day=day)


def _ago(now: datetime, n: int, unit: str) -> datetime:
    d = _day(now)
    if unit == "day":
        return d - timedelta(days=n)
    if unit == "week":
        return d - timedelta(weeks=n)
    return _minus_months(d, n * {"month": 1, "year": 12, "decade": 120}[unit])


def _count(words: Sequence[str], i: int) -> tuple[int | None, int]:
    """A count at i ('3', 'two', 'a couple of'): (value, tokens used); value None if vague."""
    w = words[i] if i < len(words) else ""
    if w.isdecimal() and len(w) <= 3:
        return int(w), 1
    if w == "a" and i + 2 < len(words) and words[i + 1] == "couple" and words[i + 2] == "of":
        return 2, 3
    if w in _NUMBERS:
        return _NUMBERS[w], 1
    if w in _VAGUE_COUNTS or (w == "a" and i + 1 < len(words) and words[i + 1] in _VAGUE_COUNTS):
        return None, 1 if w in _VAGUE_COUNTS else 2
    return None, 0


def _year(w: str) -> int | None:
    return int(w) if len(w) == 4 and w.isdecimal() and 1900 <= int(w) <= 2100 else None


def _calendar(words: Sequence[str], i: int, now: datetime) -> tuple[datetime | None, int]:
    """A calendar date at i: '2019', 'March', 'March 2021', '3 February 2022', 'May 5, 2020'."""
    n = len(words)
    if i < n and (y := _year(words[i])):
        return datetime(y, 1, 1, tzinfo=UTC), 1
    day, j = None, i
    if j < n and words[j].isdecimal() and 1 <= int(words[j]) <= 31 and j + 1 < n and words[j + 1] in MONTHS:
        day, j = int(words[j]), j + 1
    if j >= n or words[j] not in MONTHS:
        return None, 0
    month, j = MONTHS[words[j]], j + 1
    if day is None and j < n and words[j].isdecimal() and 1 <= int(words[j]) <= 31:
        day, j = int(words[j]), j + 1
    if j < n and words[j] == "," and j + 1 < n and _year(words[j + 1]):
        j += 1
    if j < n and (y := _year(words[j])):
        year, j = y, j + 1
    else:
        year = now.year if (month, day or 1) <= (now.month, now.day) else now.year - 1
    try:
        return datetime(year, month, day or 1, tzinfo=UTC), j - i
    except ValueError:
        return None, j - i


def _relative(words: Sequence[str], i: int, now: datetime) -> tuple[datetime | None, int]:
    """'last month', 'this year', 'last Friday', 'next week' (no date: a plan)."""
    w, nxt = words[i], words[i + 1] if i + 1 < len(words) else ""
    d = _day(now)
    if w == "last":
        if nxt == "week":
            return d - timedelta(days=7), 2
        if nxt == "month":
            return _minus_months(d.replace(day=1), 1), 2
        if nxt == "year":
            return d.replace(year=d.year - 1, month=1, day=1), 2
        if nxt in WEEKDAYS:
            back = (d.weekday() - WEEKDAYS[nxt]) % 7 or 7
            return d - timedelta(days=back), 2
        if nxt in MONTHS:
            at, _ = _calendar(words, i + 1, now)
            return (at.replace(year=at.year - 1) if at and at.month == d.month else at), 2
    if w == "this":
        if nxt == "year":
            return d.replace(month=1, day=1), 2
        if nxt == "month":
            return d.replace(day=1), 2
        if nxt == "week":
            return d - timedelta(days=d.weekday()), 2
        if nxt in ("morning", "afternoon", "evening"):
            return d, 2
    if w in ("last", "this", "next", "every", "each") and nxt in _PERIODS | WEEKDAYS.keys():
        return None, 2
    return None, 0


def _at(words: Sequence[str], i: int, now: datetime) -> tuple[datetime | None, int]:
    """The time phrase starting at i: (date or None, length); length 0 when there is none."""
    w = words[i]
    if w == "yesterday":
        return _day(now) - timedelta(days=1), 1
    if w in ("today", "tonight"):
        return _day(now), 1
    if w in _PLAIN:
        return None, 1
    if i + 1 < len(words) and (w, words[i + 1]) in _PLAIN_PAIRS:
        return None, 2
    at, used = _relative(words, i, now)
    if used:
        return at, used
    value, used = _count(words, i)
    if used and i + used < len(words) and words[i + used] in _UNITS:
        unit = _UNITS[words[i + used]]
        if i + used + 1 < len(words) and words[i + used + 1] == "ago":
            return (_ago(now, value, unit) if value else None), used + 2
    if w == "for":
        value, used = _count(words, i + 1)
        if value and i + 1 + used < len(words) and words[i + 1 + used] in _UNITS:
            return _ago(now, value, _UNITS[words[i + 1 + used]]), used + 2
    if w in _PREPOSITIONS:
        at, used = _calendar(words, i + 1, now)
        if used:
            return at, used + 1
        if w in ("since", "from") and i + 1 < len(words):
            at, used = _at(words, i + 1, now)
            if used:
                return at, used + 1
    return None, 0


def find(words: Sequence[str], now: datetime) -> list[Found]:
    """Every time phrase in a sentence of lower-case tokens, left to right, not overlapping."""
    found: list[Found] = []
    i = 0
    while i < len(words):
        at, used = _at(words, i, now)
        if used:
            found.append(Found(i, i + used, at))
            i += used
        else:
            i += 1
    return found
