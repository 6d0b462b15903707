"""The neo4j driver's calendar tables, swapped for on-demand mappings (graph/driver_tables.py),
answer every lookup the driver's own dicts answered, and refuse the same keys."""
from __future__ import annotations

import importlib
import types
from datetime import date

import neo4j.time
import numpy as np
import pytest

import graph  # noqa: F401  # the package swaps the tables on import
from graph.driver_tables import OnDemand, compact_calendar_tables


@pytest.fixture(scope="module")
def original() -> types.ModuleType:
    """A fresh copy of neo4j.time, with the dicts it builds at import."""
    spec = importlib.util.find_spec("neo4j.time")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
