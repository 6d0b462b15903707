"""Clients for OpenAI-compatible HTTP APIs (OpenAI, vLLM, Ollama, llama.cpp, LiteLLM...).

`OpenAIEmbedder` implements memory.ports.Embedder over POST {base}/embeddings and
`OpenAIChatLLM` implements memory.ports.LLM over POST {base}/chat/completions in JSON mode, and
`OpenAIVision` memory.ports.Vision over the same endpoint with an image_url content part.
Every failure (HTTP error, timeout, unreachable host, unusable output) surfaces as
memory.errors.ProviderError with a message that says what to fix.

Retries: 429 and 5xx answers, and connection failures (refused, reset, connect timeout), are
retried up to `max_retries` times with exponential backoff and jitter, honouring Retry-After.
A *read* timeout is not retried: the server was busy with this very request, and retrying
would multiply the caller's wait by the number of attempts.
"""
from __future__ import annotations

import asyncio
import json
import random
import re
import time
from typing import Any, Sequence, TypeVar

import httpx
import numpy as np
from pydantic import BaseModel, ValidationError

from memory.errors import ProviderError
from memory.prompts import describe_image_prompt
from memory.models import Vector
from memory.models import Message
from memory.ports import BatchHook, EmbedderState

T = TypeVar("T", bound=BaseModel)
_MAX_BACKOFF_S = 30.0
_FENCE = re.compile(r"^\s*```[a-zA-Z0-9_-]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)


class _Http:
    """POST JSON with retries; owns its httpx client unless one is passed in."""

    def __init__(
        self, what: str, base_url: str, api_key: str | None, timeout: float, max_retries: int,
        backoff_s: float, client: httpx.AsyncClient | None,
    ) -> None:
        self.what = what
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.backoff_s = backoff_s
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._owned = client is None
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout))

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.base_url}/{path}"
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = await self._client.post(url, json=body, headers=self.headers, timeout=self.timeout)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError) as exc:
                if last:
                    raise ProviderError(f"{self.what}: cannot reach {url} ({type(exc).__name__}: {exc})") from exc
                await asyncio.sleep(self._backoff(attempt, None))
                continue
            except httpx.TimeoutException as exc:
                raise ProviderError(f"{self.what}: {url} did not answer within {self.timeout}s") from exc
            except httpx.HTTPError as exc:
                raise ProviderError(f"{self.what}: request to {url} failed: {exc}") from exc
            status = response.status_code
            if status == 429 or status >= 500:
                if last:
                    raise ProviderError(
                        f"{self.what}: HTTP {status} from {url} after {attempt + 1} attempts: {_message(response)}"
                    )
                await asyncio.sleep(self._backoff(attempt, response))
                continue
            if status >= 400:
                hint = " (check the API key)" if status in (401, 403) else ""
                raise ProviderError(f"{self.what}: HTTP {status} from {url}{hint}: {_message(response)}")
            try:
                payload = response.json()
            except ValueError as exc:
                raise ProviderError(f"{self.what}: {url} answered non-JSON: {response.text[:200]!r}") from exc
            if not isinstance(payload, dict):
                raise ProviderError(f"{self.what}: {url} answered {type(payload).__name__}, expected an object")
            return payload
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None:  # the server knows best how long it needs
            for header, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
                try:
                    return min(_MAX_BACKOFF_S, max(0.0, float(response.headers[header]) * scale))
                except (KeyError, ValueError):
                    pass
        # full jitter: concurrent callers that failed together do not retry together
        return min(_MAX_BACKOFF_S, self.backoff_s * 2.0**attempt) * random.uniform(0.5, 1.0)  # nosec B311  # jitter

    async def aclose(self) -> None:
        if self._owned:
            await self._client.aclose()


def _message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:500]
        if isinstance(error, str):
            return error[:500]
    except (ValueError, AttributeError):
        pass
    return response.text[:500] or response.reason_phrase


class OpenAIEmbedder:
    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        dimension: int | None = None,
        send_dimensions: bool = False,
        timeout: float = 30.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        batch_size: int = 128,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        """`dimension` may be left out: the first answer sets it (or call `probe_dimension`).
        `send_dimensions` asks the server for that size (OpenAI's text-embedding-3 models)."""
        self._http = _Http("embeddings", base_url, api_key, timeout, max_retries, backoff_s, client)
        self._model = model
        self._dimension = dimension
        self._send_dimensions = send_dimensions and dimension is not None
        self._batch_size = max(1, batch_size)
        self._on_batch: BatchHook | None = None
        self._in_flight = 0  # texts in requests not yet answered
        self._progress_at = time.monotonic()
        self._closed = False

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            raise ProviderError("embedding dimension unknown: configure it or await probe_dimension() first")
        return self._dimension

    async def probe_dimension(self) -> int:
        if self._dimension is None:
            await self.embed(["dimension probe"])
        return self.dimension

    async def warmup(self) -> None:
        """Nothing to load here; the server's availability is health's concern, not start-up's."""

    def state(self) -> EmbedderState:
        stalled = time.monotonic() - self._progress_at if self._in_flight else 0.0
        return EmbedderState(loaded=True, alive=not self._closed, queued=self._in_flight, stalled_s=round(stalled, 3))

    def observe_batches(self, hook: BatchHook) -> None:
        self._on_batch = hook

    async def embed(self, texts: Sequence[str], owner: str = "") -> Vector:
        # the remote server schedules its own queue: `owner` is not sent
        if not texts:
            return np.empty((0, self._dimension or 0), dtype=np.float32)
        chunks = [list(texts[i : i + self._batch_size]) for i in range(0, len(texts), self._batch_size)]
        return np.concatenate([await self._embed_chunk(chunk) for chunk in chunks])

    async def _embed_chunk(self, texts: list[str]) -> np.ndarray:
        body: dict[str, Any] = {"model": self._model, "input": texts}
        if self._send_dimensions:
            body["dimensions"] = self._dimension
        if not self._in_flight:
            self._progress_at = time.monotonic()
        self._in_flight += len(texts)
        started = time.perf_counter()
        try:
            payload = await self._http.post("embeddings", body)
        finally:
            self._in_flight -= len(texts)
            self._progress_at = time.monotonic()
        if self._on_batch is not None:
            self._on_batch(len(texts), time.perf_counter() - started)
        rows = _rows_in_input_order(payload, len(texts))
        try:
            matrix = np.asarray(rows, dtype=np.float32)
        except (ValueError, TypeError) as exc:
            raise ProviderError(f"embeddings: rows are not equal-length number lists: {exc}") from exc
        if matrix.ndim != 2 or not np.isfinite(matrix).all():
            raise ProviderError("embeddings: rows are not equal-length finite number lists")
        if self._dimension is None:
            self._dimension = int(matrix.shape[1])
        elif matrix.shape[1] != self._dimension:
            raise ProviderError(
                f"embeddings: model {self._model!r} returned {matrix.shape[1]}-d vectors, configured {self._dimension}"
            )
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        if (norms == 0).any():
            raise ProviderError("embeddings: the server returned a zero vector")
        return np.ascontiguousarray(matrix / norms, dtype=np.float32)

    async def aclose(self) -> None:
        self._closed = True
        await self._http.aclose()


def _rows_in_input_order(payload: dict[str, Any], n: int) -> list[Any]:
    data = payload.get("data")
    if not isinstance(data, list) or len(data) != n or not all(isinstance(d, dict) for d in data):
        got = len(data) if isinstance(data, list) else "no"
        raise ProviderError(f"embeddings: expected {n} items in 'data', got {got}")
    if all("index" in d for d in data):  # servers may answer out of order; `index` is authoritative
        if sorted(d["index"] for d in data) != list(range(n)):
            raise ProviderError("embeddings: 'index' values are not 0..n-1")
        data = sorted(data, key=lambda d: d["index"])
    if not all(isinstance(d.get("embedding"), list) for d in data):
        raise ProviderError("embeddings: an item has no float 'embedding' list (base64 is not supported)")
    return [d["embedding"] for d in data]


class OpenAIChatLLM:
    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        max_retries: int = 2,
        backoff_s: float = 0.5,
        max_tokens: int | None = None,
        json_mode: bool = True,
        extra_body: dict[str, Any] | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        """`json_mode` sends response_format json_object (turn off for servers that reject it;
        the answer is parsed the same way). `extra_body` is merged into every request."""
        self._http = _Http("llm", base_url, api_key, timeout, max_retries, backoff_s, client)
        self._model = model
        self._max_tokens = max_tokens
        self._json_mode = json_mode
        self._extra = dict(extra_body or {})

    async def complete_json(self, messages: Sequence[Message], schema: type[T]) -> T:
        body: dict[str, Any] = {
            "model": self._model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "temperature": 0,  # extraction should be repeatable
            **self._extra,
        }
        if self._json_mode:
            body["response_format"] = {"type": "json_object"}
        if self._max_tokens is not None:
            body["max_tokens"] = self._max_tokens
        payload = await self._http.post("chat/completions", body)
        content, finish = _first_content(payload)
        try:
            return schema.model_validate(parse_json_answer(content))
        except ValueError as exc:  # json.JSONDecodeError and pydantic's ValidationError
            kind = "does not match" if isinstance(exc, ValidationError) else "is not JSON for"
            cut = " (cut off by max_tokens)" if finish == "length" else ""
            raise ProviderError(
                f"llm: answer{cut} {kind} {schema.__name__}: {_short(exc)}; answer began {content[:200]!r}"
            ) from exc

    async def aclose(self) -> None:
        await self._http.aclose()


class OpenAIVision:
    """memory.ports.Vision over POST {base}/chat/completions with an image_url content part."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, *, timeout: float = 30.0,
                 max_retries: int = 2, backoff_s: float = 0.5, max_tokens: int = 300,
                 client: httpx.AsyncClient | None = None) -> None:
        self._http = _Http("vision", base_url, api_key, timeout, max_retries, backoff_s, client)
        self._model = model
        self._max_tokens = max_tokens

    async def describe(self, image_url: str) -> str:
        body: dict[str, Any] = {
            "model": self._model,
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": describe_image_prompt()},
                {"type": "image_url", "image_url": {"url": image_url}},
            ]}],
            "temperature": 0,
            "max_tokens": self._max_tokens,
        }
        content, _ = _first_content(await self._http.post("chat/completions", body))
        return content.strip()

    async def aclose(self) -> None:
        await self._http.aclose()


def _first_content(payload: dict[str, Any]) -> tuple[str, str | None]:
    try:
        choice = payload["choices"][0]
        content = choice["message"]["content"]
    except (KeyError, IndexError, TypeError) as exc:
        raise ProviderError(f"llm: no choices[0].message.content in answer: {str(payload)[:200]}") from exc
    if not isinstance(content, str) or not content.strip():
        refusal = choice["message"].get("refusal") if isinstance(choice.get("message"), dict) else None
        raise ProviderError(f"llm: empty answer{f' (refusal: {refusal})' if refusal else ''}")
    return content, choice.get("finish_reason")


def parse_json_answer(content: str) -> Any:
    """JSON from a chat answer, tolerating ```json fences and prose around one object."""
    text = content.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        if start == -1 or end <= start:
            raise
        return json.loads(text[start : end + 1])


def _short(exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        errors = exc.errors()[:3]
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in errors)
    return str(exc)[:200]
