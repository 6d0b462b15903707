"""Reading a text/event-stream response the way a client does, for the SSE tests."""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp

TIMEOUT = 10


@dataclass
class Message:
    event: str | None
    data: str
    id: str | None = None
    comment: str | None = None

    def json(self) -> Any:
        return json.loads(self.data)


async def read_message(response: aiohttp.ClientResponse, timeout: float = TIMEOUT) -> Message:
    """The next message, a comment-only one (keep-alive) included; EOFError when the stream ends."""
    fields: dict[str, str] = {}
    data: list[str] = []
    comment: str | None = None
    async with asyncio.timeout(timeout):
        while True:
            raw = await response.content.readline()
            if not raw:
                raise EOFError("the stream ended")
            line = raw.decode().rstrip("\r\n")
            if not line:
                if fields or data or comment is not None:
                    return Message(fields.get("event"), "\n".join(data), fields.get("id"), comment)
                continue
            if line.startswith(":"):
                comment = line[1:].strip()
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data.append(value)
            else:
                fields[name] = value


async def next_event(response: aiohttp.ClientResponse, timeout: float = TIMEOUT) -> Message:
    """The next message that is not a comment."""
    async with asyncio.timeout(timeout):
        while True:
            message = await read_message(response, timeout)
            if message.event is not None or message.data:
                return message


async def wait_until(condition: Any, timeout: float = TIMEOUT) -> None:
    """Polls a server-side condition (the app runs in this process)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
