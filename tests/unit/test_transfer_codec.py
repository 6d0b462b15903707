"""The export line format's memory records: `immutable` and `expires_at` travel; old lines without
them read as mutable and never expiring."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from app.commands.transfer_codec import record_from, record_json
from memory.errors import InvalidInput
from memory.models import Scope
from memory.ingest import new_record


def test_immutable_round_trips_and_lines_from_before_it_read_as_mutable() -> None:
    rec = new_record("Blood type O+", Scope("alice"), {}, "user", immutable=True)
    line = record_json(rec)
    assert line["immutable"] is True and record_from(rec.id, line) == rec
    del line["immutable"]
    assert record_from(rec.id, line).immutable is False
    with pytest.raises(InvalidInput, match="immutable must be true or false"):
        record_from(rec.id, {**line, "immutable": "yes"})


def test_expiry_and_categories_round_trip_and_old_lines_never_expire() -> None:
    at = datetime(2031, 2, 3, 4, 5, tzinfo=UTC)
    rec = replace(new_record("Parking in lot C", Scope("alice"), {}, "user"), expires_at=at,
                  categories=("travel", "misc"))
    line = record_json(rec)
    assert line["expires_at"] == at.isoformat() and record_from(rec.id, line) == rec
    del line["expires_at"]
    assert record_from(rec.id, line).expires_at is None
