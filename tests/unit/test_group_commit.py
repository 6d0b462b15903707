"""GroupCommitter: concurrent commits share transactions, a lone one is not delayed, a failure
stays with its own caller, and a caller that gives up does not undo the others."""
from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from history.group_commit import GroupCommitter


class Transactions:
    def __init__(self, delay: float = 0.01, poison: str | None = None) -> None:
        self.groups: list[list[str]] = []
        self.committed: list[str] = []
        self.delay = delay
        self.poison = poison

    async def __call__(self, items: Sequence[str]) -> list[int]:
        self.groups.append(list(items))
        await asyncio.sleep(self.delay)
        if self.poison in items:
            raise ValueError(f"{self.poison} breaks the transaction")
        self.committed += items
        return [len(self.committed) - len(items) + i + 1 for i in range(len(items))]


async def test_concurrent_commits_share_transactions_and_get_their_own_results() -> None:
    tx = Transactions()
    committer = GroupCommitter(tx)
    results = await asyncio.gather(*(committer.submit(f"c{i}") for i in range(20)))
    assert sorted(results) == list(range(1, 21)) and len(set(results)) == 20
    assert len(tx.groups) < 20  # callers that arrive together share a transaction
    assert tx.committed == [f"c{i}" for i in range(20)]


async def test_a_lone_commit_runs_at_once() -> None:
    tx = Transactions(delay=0)
    assert await GroupCommitter(tx).submit("only") == 1 and tx.groups == [["only"]]


async def test_a_failing_change_fails_only_its_caller() -> None:
    tx = Transactions(poison="bad")
    committer = GroupCommitter(tx)
    first = asyncio.ensure_future(committer.submit("first"))
    await asyncio.sleep(0)
    rest = [asyncio.ensure_future(committer.submit(x)) for x in ("a", "bad", "b")]
    outcomes = await asyncio.gather(first, *rest, return_exceptions=True)
    assert isinstance(outcomes[2], ValueError)
    assert all(isinstance(o, int) for i, o in enumerate(outcomes) if i != 2)
    assert set(tx.committed) == {"first", "a", "b"}


async def test_a_caller_that_gives_up_does_not_roll_back_the_others() -> None:
    tx = Transactions(delay=0.05)
    committer = GroupCommitter(tx)
    first = asyncio.ensure_future(committer.submit("first"))
    await asyncio.sleep(0)
    quitter = asyncio.ensure_future(committer.submit("quitter"))
    stayer = asyncio.ensure_future(committer.submit("stayer"))
    await asyncio.sleep(0.01)
    quitter.cancel()
    assert await stayer > 0 and await first == 1
    with pytest.raises(asyncio.CancelledError):
        await quitter
    await committer.aclose()
    assert tx.committed == ["first", "quitter", "stayer"]  # acknowledged or not, it was written once
