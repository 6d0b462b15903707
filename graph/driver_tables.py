"""The neo4j driver's calendar tables, computed on demand instead of held.

`neo4j.time` fills three dicts at import: leap years, days in each year and days in each month
for every year 1-9999 (~140k entries, ~13 MiB of RSS held for the life of the process). The
driver only indexes them (`table[year]`, `table[year, month]`), so mappings that compute the
same answer per lookup, and raise KeyError outside those years as the dicts did, replace them.
A driver whose tables no longer look like that is left as it is."""
from __future__ import annotations

import calendar
from collections.abc import Callable, Hashable
from typing import Any

import neo4j.time

_TABLES = ("_IS_LEAP_YEAR", "_DAYS_IN_YEAR", "_DAYS_IN_MONTH")


class OnDemand(dict[Any, Any]):
    """An empty dict whose `d[key]` answers `compute(key)` for keys `valid(key)` accepts."""

    def __init__(self, compute: Callable[[Any], Any], valid: Callable[[Any], bool]) -> None:
        super().__init__()
        self._compute = compute
        self._valid = valid

    def __missing__(self, key: Hashable) -> Any:
        if not self._valid(key):
            raise KeyError(key)
        return self._compute(key)


def _year(value: Any, low: int, high: int) -> bool:
    """Whether the dicts held `value` as a key: an integral number in [low, high] (they were keyed
    by int, which equal floats and NumPy integers also find)."""
    try:
        return bool(low <= value <= high and value == int(value))
    except (TypeError, ValueError, OverflowError):
        return False


def compact_calendar_tables(module: Any = neo4j.time) -> bool:
    """Swap the module's calendar dicts for on-demand mappings; False when they are not there
    (or are already swapped)."""
    low, high = getattr(module, "MIN_YEAR", None), getattr(module, "MAX_YEAR", None)
    tables = [getattr(module, name, None) for name in _TABLES]
    if not isinstance(low, int) or not isinstance(high, int):
        return False
    if any(type(table) is not dict for table in tables) or len(tables[2]) != 12 * (high - low + 1):
        return False

    def is_year(key: object) -> bool:
        return _year(key, low, high)

    def is_month(key: object) -> bool:
        return isinstance(key, tuple) and len(key) == 2 and is_year(key[0]) and _year(key[1], 1, 12)

    module._IS_LEAP_YEAR = OnDemand(lambda year: calendar.isleap(int(year)), is_year)
    module._DAYS_IN_YEAR = OnDemand(lambda year: 366 if calendar.isleap(int(year)) else 365, is_year)
    module._DAYS_IN_MONTH = OnDemand(lambda key: calendar.monthrange(int(key[0]), int(key[1]))[1], is_month)
    return True
