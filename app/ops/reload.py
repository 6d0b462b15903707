"""SIGHUP: re-read the configuration and apply what is safe to change while running.

Components register a hook for the keys they can take live (`on_change("log_level", hook)`;
a prefix such as "limits" covers every key under it). On reload every changed key either has a
hook, which is applied, or is reported as needing a restart; the settings the app started with
stay in force for those. An invalid configuration is refused as a whole and nothing changes."""
from __future__ import annotations

import asyncio
import inspect
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from app.ops.config import ConfigError
from app.settings import Settings

log = logging.getLogger(__name__)

Hook = Callable[[Settings, Settings], Awaitable[None] | None]  # (new, old)


@dataclass
class ReloadResult:
    applied: list[str] = field(default_factory=list)
    needs_restart: list[str] = field(default_factory=list)
    error: str | None = None


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ (nested settings are compared field by field)."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys: list[str] = []
        for name in sorted(old.keys() | new.keys()):
            keys += changed_keys(old.get(name), new.get(name), f"{prefix}{name}.")
        return keys
    return [prefix.rstrip(".")] if old != new else []


class Reloader:
    def __init__(self, settings: Settings, load: Callable[[], Settings] | None = None) -> None:
        self.current = settings
        self._load = load
        self._hooks: list[tuple[str, Hook]] = []
        self._lock = asyncio.Lock()

    def on_change(self, key: str, hook: Hook) -> None:
        self._hooks.append((key, hook))

    def live_keys(self) -> list[str]:
        return sorted({key for key, _ in self._hooks})

    def _hooked(self, key: str) -> list[Hook]:
        return [h for k, h in self._hooks if key == k or key.startswith(k + ".")]

    async def reload(self) -> ReloadResult:
        async with self._lock:  # two quick SIGHUPs apply one after the other
            return await self._reload()

    async def _reload(self) -> ReloadResult:
        if self._load is None:
            return ReloadResult(error="this app was created without a configuration source to re-read")
        try:
            new = self._load()
        except ConfigError as exc:
            log.error("configuration reload refused, nothing changed:\n%s", exc)
            return ReloadResult(error=str(exc))
        old = self.current
        # python mode: secrets compare by value (a JSON dump would mask them all alike)
        keys = changed_keys(old.model_dump(), new.model_dump())
        result = ReloadResult()
        for key in keys:
            (result.applied if self._hooked(key) else result.needs_restart).append(key)
        # the live keys take the new values; the others keep what the running app uses
        effective = old
        for key in result.applied:
            effective = _with(effective, key, _lookup(new, key))
        hooks = {id(h): h for key in result.applied for h in self._hooked(key)}
        for hook in hooks.values():
            outcome = hook(effective, old)
            if inspect.isawaitable(outcome):
                await outcome
        self.current = effective
        log.warning(
            "configuration reloaded: applied %s; needs a restart: %s",
            ", ".join(result.applied) or "nothing", ", ".join(result.needs_restart) or "nothing",
        )
        return result

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self.reload()))

    @staticmethod
    def uninstall(loop: asyncio.AbstractEventLoop) -> None:
        loop.remove_signal_handler(signal.SIGHUP)


def _lookup(model: Any, key: str) -> Any:
    for part in key.split("."):
        model = getattr(model, part)
    return model


def _with(model: BaseModel, key: str, value: Any) -> Any:
    """A copy of `model` with the dotted `key` set; nested models are copied, not mutated."""
    head, _, rest = key.partition(".")
    if not rest:
        return model.model_copy(update={head: value})
    return model.model_copy(update={head: _with(getattr(model, head), rest, value)})
