"""Images in messages: a message may carry an image (an http(s) URL or a data URI, as in
OpenAI's and mem0's `image_url` content parts). A configured vision model describes it, and the
description becomes the message's text; the add then goes on as for any text. The source is
kept in the memories' metadata under `image_sources`: the URL, or for a data URI its media type,
byte size and sha256 (never the base64 itself).

Every image is checked (scheme, data URI syntax, media type, size) before any model is asked,
and every image is described before anything is stored: an add with images stores all or nothing."""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, replace
from typing import Any, Sequence
from urllib.parse import urlsplit

from memory.errors import InvalidInput, VisionNotConfigured
from memory.models import Message
from memory.ports import Vision

SOURCES_KEY = "image_sources"
MAX_URL = 4096
_DATA_URI = re.compile(r"^data:([\w.+-]+/[\w.+-]+)((?:;[\w.+-]+=[\w.+-]+)*);base64,(.*)$", re.DOTALL | re.ASCII)


@dataclass(frozen=True, slots=True)
class ImageSource:
    url: str | None  # http(s) images
    media_type: str | None = None  # data URIs: what it said it holds, its decoded size and hash
    size: int | None = None
    sha256: str | None = None

    def as_metadata(self) -> dict[str, Any]:
        if self.url is not None:
            return {"url": self.url}
        return {"media_type": self.media_type, "bytes": self.size, "sha256": self.sha256}


def check_image(url: str, max_bytes: int, media_types: frozenset[str]) -> ImageSource:
    """The image's source, or InvalidInput saying what is wrong with it."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput("an image needs a URL: http(s)://... or data:image/...;base64,...")
    url = url.strip()
    if url[:5].lower() == "data:":
        return _data_uri(url, max_bytes, media_types)
    if len(url) > MAX_URL:
        raise InvalidInput(f"an image URL is longer than {MAX_URL} characters")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise InvalidInput("an image URL must be http(s)://... or a base64 data URI")
    return ImageSource(url)


def _data_uri(url: str, max_bytes: int, media_types: frozenset[str]) -> ImageSource:
    match = _DATA_URI.match(url)
    if match is None:
        raise InvalidInput("an image data URI must look like data:image/png;base64,<base64>")
    media_type = match.group(1).lower()
    if media_type not in media_types:
        raise InvalidInput(f"image type {media_type!r} is not accepted; use one of {', '.join(sorted(media_types))}")
    payload = match.group(3)
    if len(payload) > (max_bytes + 2) // 3 * 4 + 4:  # refuse before decoding megabytes
        raise InvalidInput(f"the image is larger than {max_bytes} bytes")
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("the image data URI is not valid base64") from None
    if not raw:
        raise InvalidInput("the image data URI is empty")
    if len(raw) > max_bytes:
        raise InvalidInput(f"the image is larger than {max_bytes} bytes")
    return ImageSource(None, media_type, len(raw), hashlib.sha256(raw).hexdigest())


async def describe_images(messages: Sequence[Message], vision: Vision | None, max_bytes: int,
                          media_types: frozenset[str]) -> tuple[list[Message], list[dict[str, Any]]]:
    """The messages with each image replaced by its description, and the images' sources."""
    images = [(i, m) for i, m in enumerate(messages) if m.image_url is not None]
    if not images:
        return list(messages), []
    sources = []
    for i, m in images:
        try:
            sources.append(check_image(m.image_url or "", max_bytes, media_types))
        except InvalidInput as exc:
            raise InvalidInput(f"messages[{i}]: {exc}") from None
    if vision is None:
        raise VisionNotConfigured(
            "messages with images need a vision model: configure vision.base_url (an OpenAI-compatible "
            "server with a vision-capable model), or send text")
    out = list(messages)
    for i, m in images:  # one after another: an add holds few images, and a failure stops the rest
        out[i] = replace(m, content=(await vision.describe(m.image_url or "")).strip(), image_url=None)
    return out, [s.as_metadata() for s in sources]
