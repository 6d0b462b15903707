"""The neo4j driver's lookup tables, computed on demand instead of held.

`neo4j.time` fills three dicts at import: leap years, days in each year and days in each month
for every year 1-9999 (~140k entries, ~13 MiB of RSS held for the life of the process). The
driver only indexes them (`table[year]`, `table[year, month]`), so mappings that compute the
same answer per lookup, and raise KeyError outside those years as the dicts did, replace them.

Its PackStream codec (`neo4j._codec.packstream.v1`, re-exported by `v2`) builds the 2-byte
big-endian encoding of every number below 65,536 as a list, and the reverse as a dict (~9 MiB).
The packer only indexes the list with such a number and nothing reads the dict, so a sequence
that packs the number when indexed, and a mapping that unpacks two bytes when looked up,
replace them.

A driver whose tables no longer look like that is left as it is."""
from __future__ import annotations

import calendar
import importlib
import operator
import struct
import sys
from collections.abc import Callable, Hashable, Sequence
from typing import Any, overload

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


_UINT16 = struct.Struct(">H")
_CODEC_MODULES = ("neo4j._codec.packstream.v1", "neo4j._codec.packstream.v2")


class PackedUint16(Sequence[bytes]):
    """`[struct.pack(">H", n) for n in range(65536)]`, packed when indexed."""

    def __len__(self) -> int:
        return 0x10000

    @overload
    def __getitem__(self, index: int) -> bytes: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | Sequence[bytes]:
        if isinstance(index, slice):
            return [_UINT16.pack(n) for n in range(0x10000)[index]]
        number = operator.index(index)
        if not -0x10000 <= number < 0x10000:
            raise IndexError("list index out of range")
        return _UINT16.pack(number % 0x10000)


def _two_bytes(key: object) -> bool:
    return isinstance(key, bytes) and len(key) == 2


def compact_packstream_tables() -> bool:
    """Swap the codec modules' 2-byte tables for on-demand ones; False when they are not there
    (or are already swapped)."""
    v1 = importlib.import_module(_CODEC_MODULES[0])
    packed, unpacked = getattr(v1, "PACKED_UINT_16", None), getattr(v1, "UNPACKED_UINT_16", None)
    if type(packed) is not list or type(unpacked) is not dict or len(packed) != 0x10000 or len(unpacked) != 0x10000:
        return False
    lazy_packed = PackedUint16()
    lazy_unpacked = OnDemand(lambda key: _UINT16.unpack(key)[0], _two_bytes)
    for name in _CODEC_MODULES:  # v2 binds v1's objects under the same names at its import
        module = sys.modules.get(name)
        if module is not None and getattr(module, "PACKED_UINT_16", None) is packed:
            module.PACKED_UINT_16 = lazy_packed
        if module is not None and getattr(module, "UNPACKED_UINT_16", None) is unpacked:
            module.UNPACKED_UINT_16 = lazy_unpacked
    return True


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
