from __future__ import annotations

import pytest

from memory.errors import InvalidInput
from memory.validation import MAX_METADATA_DEPTH, check_metadata


def nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_metadata_up_to_the_depth_limit_is_kept() -> None:
    assert check_metadata(nested(MAX_METADATA_DEPTH)) == nested(MAX_METADATA_DEPTH)
    assert check_metadata({"tags": [[1, [2]], {"x": None}]}) == {"tags": [[1, [2]], {"x": None}]}


@pytest.mark.parametrize("depth", [MAX_METADATA_DEPTH + 1, 900])
def test_deeper_metadata_is_refused(depth: int) -> None:
    with pytest.raises(InvalidInput, match="nested deeper"):
        check_metadata(nested(depth))
