"""memory.ids: version 4 UUIDs from bytes drawn in bulk, never repeated, not across a fork either."""
from __future__ import annotations

import os
import uuid

from memory.ids import random_uuid
from memory.models import new_id


def test_ids_are_distinct_version_4_uuids_across_many_draws() -> None:
    ids = [random_uuid() for _ in range(5000)]  # about 20 draws of the pool
    assert len(set(ids)) == len(ids)
    assert {(i.version, i.variant) for i in ids} == {(4, uuid.RFC_4122)}
    assert uuid.UUID(new_id()).version == 4


def test_a_forked_child_never_hands_out_the_parents_next_ids() -> None:
    random_uuid()  # the pool holds unused bytes now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        os.close(read)
        os.write(write, "".join(random_uuid().hex for _ in range(8)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read()
    os.waitpid(pid, 0)
    mine = "".join(random_uuid().hex for _ in range(8))
    assert len(child) == len(mine) == 256 and child != mine
