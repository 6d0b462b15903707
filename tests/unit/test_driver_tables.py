"""The neo4j driver's calendar and PackStream tables, swapped for on-demand ones
(graph/driver_tables.py), answer every lookup the driver's own tables answered, refuse the same
keys, and the driver still encodes and decodes as before."""
from __future__ import annotations

import importlib
import types
from datetime import date

import neo4j.time
import numpy as np
from neo4j._codec.packstream import v1, v2
from neo4j._codec.packstream._common import PackableBuffer, UnpackableBuffer
import pytest

import graph  # noqa: F401  # the package swaps the tables on import
from graph.driver_tables import OnDemand, PackedUint16, compact_calendar_tables, compact_packstream_tables


def fresh_copy(name: str) -> types.ModuleType:
    """A new copy of a driver module, with the tables it builds at import."""
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def original() -> types.ModuleType:
    return fresh_copy("neo4j.time")


def test_the_driver_module_holds_on_demand_tables() -> None:
    assert all(isinstance(getattr(neo4j.time, name), OnDemand) and not getattr(neo4j.time, name)
               for name in ("_IS_LEAP_YEAR", "_DAYS_IN_YEAR", "_DAYS_IN_MONTH"))
    assert compact_calendar_tables() is False  # already swapped: nothing to do


def test_every_key_answers_as_the_dicts_did(original: types.ModuleType) -> None:
    leap, years, months = (getattr(original, n) for n in ("_IS_LEAP_YEAR", "_DAYS_IN_YEAR", "_DAYS_IN_MONTH"))
    assert type(months) is dict and len(months) == 12 * 9999
    assert all(neo4j.time._IS_LEAP_YEAR[y] == v for y, v in leap.items())
    assert all(neo4j.time._DAYS_IN_YEAR[y] == v for y, v in years.items())
    assert all(neo4j.time._DAYS_IN_MONTH[k] == v for k, v in months.items())
    # the dicts also found equal floats and NumPy integers
    assert neo4j.time._DAYS_IN_MONTH[np.int64(2024), 2.0] == months[2024, 2] == 29


@pytest.mark.parametrize("key", [0, 10000, -4, 2024.5, "2024", None])
def test_keys_outside_the_dicts_raise_key_error(original: types.ModuleType, key: object) -> None:
    for name in ("_IS_LEAP_YEAR", "_DAYS_IN_YEAR"):
        with pytest.raises(KeyError):
            original.__dict__[name][key]
        with pytest.raises(KeyError):
            neo4j.time.__dict__[name][key]
    for month_key in ((key, 1), (2024, 13), (2024, 0), (2024,), 2024):
        with pytest.raises(KeyError):
            neo4j.time._DAYS_IN_MONTH[month_key]


def test_driver_dates_still_work() -> None:
    day = neo4j.time.Date(2024, 2, 29)
    assert day.to_native() == date(2024, 2, 29)
    assert neo4j.time.Date.days_in_month(2023, 2) == 28 and neo4j.time.Date.days_in_year(2024) == 366
    assert neo4j.time.Date.is_leap_year(2000) and not neo4j.time.Date.is_leap_year(1900)
    assert (neo4j.time.Date(2024, 1, 31) + neo4j.time.Duration(months=1)).to_native() == date(2024, 2, 29)
    assert neo4j.time.Date.from_ordinal(date(1999, 12, 31).toordinal()).to_native() == date(1999, 12, 31)
    with pytest.raises(ValueError):
        neo4j.time.Date(2023, 2, 29)


def test_a_driver_without_such_tables_is_left_alone() -> None:
    module = types.SimpleNamespace(MIN_YEAR=1, MAX_YEAR=9999, _IS_LEAP_YEAR={}, _DAYS_IN_YEAR={}, _DAYS_IN_MONTH={})
    assert compact_calendar_tables(module) is False
    assert module._DAYS_IN_MONTH == {}


@pytest.fixture(scope="module")
def original_codec() -> types.ModuleType:
    return fresh_copy("neo4j._codec.packstream.v1")


def test_the_codec_modules_hold_on_demand_tables() -> None:
    for module in (v1, v2):
        assert isinstance(module.PACKED_UINT_16, PackedUint16)
        assert isinstance(module.UNPACKED_UINT_16, OnDemand) and not module.UNPACKED_UINT_16
    assert compact_packstream_tables() is False  # already swapped


def test_every_packstream_entry_answers_as_the_tables_did(original_codec: types.ModuleType) -> None:
    packed, unpacked = original_codec.PACKED_UINT_16, original_codec.UNPACKED_UINT_16
    assert type(packed) is list and len(packed) == len(v1.PACKED_UINT_16) == 0x10000
    assert all(v1.PACKED_UINT_16[n] == b for n, b in enumerate(packed))
    assert all(v1.PACKED_UINT_16[n] == packed[n] for n in (-1, -0x10000, np.int64(300)))
    assert v1.PACKED_UINT_16[10:13] == packed[10:13] and v1.PACKED_UINT_16[::-4096] == packed[::-4096]
    assert all(v1.UNPACKED_UINT_16[b] == n for b, n in unpacked.items())
    for index in (0x10000, -0x10001):
        with pytest.raises(IndexError):
            packed[index]
        with pytest.raises(IndexError):
            v1.PACKED_UINT_16[index]
    with pytest.raises(TypeError):
        v1.PACKED_UINT_16[1.0]
    for key in (b"\x01", b"\x00\x01\x02", "ab", 258):
        with pytest.raises(KeyError):
            v1.UNPACKED_UINT_16[key]


@pytest.mark.parametrize("codec", [v1, v2])
def test_the_driver_packs_and_unpacks_as_before(codec: types.ModuleType, original_codec: types.ModuleType) -> None:
    values = [0, 127, -16, -17, -128, -129, 300, -300, 0x7FFF, -0x8000, 0x8000, 2**40,
              "x" * 200, "y" * 70_000, list(range(300)), {f"k{i}": i for i in range(260)}, b"z" * 300, 1.5, None]

    def packed(module: types.ModuleType, value: object) -> bytes:
        buffer = PackableBuffer()
        module.Packer(buffer).pack(value)
        return bytes(buffer.data)

    for value in values:
        data = packed(codec, value)
        assert data == packed(original_codec, value)
        assert codec.Unpacker(UnpackableBuffer(data)).unpack() == value


def test_a_codec_without_such_tables_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(v1, "PACKED_UINT_16", [b"\x00\x00"])
    assert compact_packstream_tables() is False
    assert v1.PACKED_UINT_16 == [b"\x00\x00"]
