"""The writes kept for the background graph build (vector/staged.py), on their own: the order the
builder gets them in, what a step adds, and what is freed before the build ends."""
from __future__ import annotations

import numpy as np

from vector.staged import StagedVectors


def rows(n: int, start: float = 0.0, dim: int = 4) -> np.ndarray:
    return np.arange(start, start + n * dim, dtype=np.float32).reshape(n, dim)


def added(step) -> list[tuple[list[int], bool]]:
    return [(labels.tolist(), new) for labels, vectors, new in step if vectors is not None]


def test_take_splits_a_write_at_the_limit_and_keeps_the_rest_first_in_line() -> None:
    staged = StagedVectors()
    staged.put(range(5), rows(5))
    staged.put([5, 6], rows(2, 100))
    first = staged.take(3)
    assert added(first) == [([0, 1, 2], True)]
    np.testing.assert_array_equal(first[0][1], rows(5)[:3])
    assert staged.taken == 3 and staged.pending
    second = staged.take(3)
    assert added(second) == [([3, 4], True), ([5], True)]  # the split write's rest, then the next write
    assert added(staged.take(3)) == [([6], True)]
    assert not staged.pending and staged.taken == staged.live == 7


def test_a_step_adds_the_latest_vector_and_nothing_for_a_label_removed_since() -> None:
    staged = StagedVectors()
    staged.put([0, 1, 2], rows(3))
    staged.put([1], rows(1, 50))  # written again before the builder got to it
    staged.drop([2])
    step = staged.take(10)
    # the first write adds 0 and 1 (1 with its latest vector), the rewrite re-writes 1 in place, 2 is removed
    assert [(labels.tolist(), None if vectors is None else vectors.tolist(), new) for labels, vectors, new in step] == [
        ([0, 1], [rows(3)[0].tolist(), rows(1, 50)[0].tolist()], True),
        ([1], [rows(1, 50)[0].tolist()], False),
        ([2], None, False),
    ]
    assert staged.live == 2 and staged.taken == 2


def test_a_write_whose_rows_were_all_written_again_or_removed_is_freed() -> None:
    staged = StagedVectors()
    staged.put([0, 1], rows(2))
    staged.put([2, 3], rows(2, 10))
    staged.put([0], rows(1, 20))
    assert staged.held == 3  # label 1 still reads the first write
    staged.drop([1])
    assert staged.held == 2
    staged.put([2, 3], rows(2, 30))
    assert staged.held == 2  # the second write went; the third and fourth hold labels 0, 2 and 3
    np.testing.assert_array_equal(staged.rows([3, 0, 2]), np.vstack([rows(2, 30)[1], rows(1, 20)[0], rows(2, 30)[0]]))
    step = staged.take(100)  # the builder still gets every write in order, from the rows held
    assert [(labels.tolist(), new) for labels, _, new in step] == [
        ([0], True), ([2, 3], True), ([0], False), ([1], False), ([2, 3], False)]
    np.testing.assert_array_equal(step[1][1], rows(2, 30))
    assert staged.live == 3 and staged.taken == 3


def test_a_label_given_twice_in_one_write_counts_once_with_its_last_vector() -> None:
    staged = StagedVectors()
    staged.put([7, 8, 7], rows(3))
    assert staged.live == 2
    np.testing.assert_array_equal(staged.rows([7, 8]), rows(3)[[2, 1]])
    staged.put([7, 8], rows(2, 40))
    assert staged.held == 1  # the first write's rows are all superseded, once each


def test_a_label_removed_twice_in_one_call_is_removed_once() -> None:
    staged = StagedVectors()
    staged.put([1, 2], rows(2))
    staged.drop([1, 1])
    assert staged.live == 1 and staged.held == 1  # label 2 still reads the write
    np.testing.assert_array_equal(staged.rows([2]), rows(2)[[1]])
