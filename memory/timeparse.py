"""Time expressions in a query ("last May", "in 2023", "two weeks ago") as a window of event time.

English only, relative to a reference time (now, or a search's `asOf`). The window boosts hits
whose `occurred_at` falls inside it; a query without a recognised expression gets no window."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_MONTHS = {m: i for i, m in enumerate(
    "january february march april may june july august september october november december".split(), start=1)}
# "may" is also a verb: month names count only after last/in/during/since or before a year
_MONTHS.update({m[:3]: i for m, i in list(_MONTHS.items())} | {"sept": 9})
_NUMBERS = {w: i for i, w in enumerate(
    "one two three four five six seven eight nine ten eleven twelve".split(), start=1)} | {"a": 1, "an": 1}
_UNITS = {"day": timedelta(days=1), "week": timedelta(weeks=1), "month": timedelta(days=30),
          "year": timedelta(days=365)}
_MONTH = r"(january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)"
_AGO = re.compile(r"\b(\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\s+(day|week|month|year)s?\s+ago\b")
_LAST_MONTH_NAME = re.compile(rf"\b(?:last|in|during|since)\s+{_MONTH}\b(?!\s+\d)")
_MONTH_YEAR = re.compile(rf"\b{_MONTH}\s*,?\s+((?:19|20)\d\d)\b")
_YEAR = re.compile(r"\b(?:in|during|of|since|from)\s+((?:19|20)\d\d)\b")
_RELATIVE = re.compile(r"\b(yesterday|today|(?:last|this)\s+(?:week|month|year))\b")

Window = tuple[datetime, datetime]


def _month(year: int, month: int) -> Window:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _year(year: int) -> Window:
    return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)


def _relative(word: str, now: datetime) -> Window:
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if word == "today":
        return day, day + timedelta(days=1)
    if word == "yesterday":
        return day - timedelta(days=1), day
    which, unit = word.split()
    if unit == "week":
        start = day - timedelta(days=day.weekday())
        return (start - timedelta(weeks=1), start) if which == "last" else (start, start + timedelta(weeks=1))
    if unit == "month":
        if which == "this":
            return _month(now.year, now.month)
        return _month(now.year - (now.month == 1), (now.month - 2) % 12 + 1)
    return _year(now.year - (which == "last"))


def time_window(query: str, now: datetime) -> Window | None:
    """The [start, end) event-time window a query's first time expression names, or None."""
    text = query.casefold()
    if m := _MONTH_YEAR.search(text):
        return _month(int(m.group(2)), _MONTHS[m.group(1)[:3]])
    if m := _AGO.search(text):
        count = int(m.group(1)) if m.group(1).isdecimal() else _NUMBERS[m.group(1)]
        unit = _UNITS[m.group(2)]
        point = now - count * unit
        return point - unit / 2, point + unit / 2
    if m := _RELATIVE.search(text):
        return _relative(" ".join(m.group(1).split()), now)
    if m := _LAST_MONTH_NAME.search(text):
        month = _MONTHS[m.group(1)[:3]]
        # the latest such month that has begun (for "last": strictly before the current one)
        current = text[m.start():].startswith("last") and month == now.month
        return _month(now.year - (month > now.month or current), month)
    if m := _YEAR.search(text):
        return _year(int(m.group(1)))
    return None
