"""The export line format's memory records: `immutable` travels, old lines without it read as mutable."""
from __future__ import annotations

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
