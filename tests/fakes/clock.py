"""A clock the test moves by hand (MemoryService(clock=...)): time passes without sleeping."""
from __future__ import annotations

from datetime import datetime, timedelta


class FakeClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)
