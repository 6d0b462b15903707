"""Typed keys of what the web app holds (aiohttp AppKeys)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from app.settings import Settings

if TYPE_CHECKING:
    from app.fanout import RedisFanout
    from memory.service import MemoryService
    from memory.webhooks import WebhookRegistry

SETTINGS_KEY = web.AppKey("settings", Settings)
SERVICE_KEY: web.AppKey["MemoryService"] = web.AppKey("service")
FANOUT_KEY: web.AppKey["RedisFanout"] = web.AppKey("fanout")
WEBHOOKS_KEY: web.AppKey["WebhookRegistry"] = web.AppKey("webhooks")
