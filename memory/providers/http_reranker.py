"""A reranker over the widely served POST {base}/rerank API (Cohere, Jina, Voyage, TEI, vLLM...).

Cohere/Jina shape: {"model", "query", "documents", "top_n"} -> {"results": [{"index",
"relevance_score"}]}. Hugging Face TEI shape: {"query", "texts"} -> [{"index", "score"}].
Either answer is read whatever shape was sent; every failure is a ProviderError.
"""
from __future__ import annotations

from typing import Any, Literal, Sequence

import httpx

from memory.errors import ProviderError

RerankApi = Literal["cohere", "tei"]


class HttpReranker:
    def __init__(
        self, base_url: str, model: str | None = None, api_key: str | None = None, *,
        api: RerankApi = "cohere", timeout: float = 10.0, client: httpx.AsyncClient | None = None,
    ) -> None:
        self._url = base_url.rstrip("/") + "/rerank"
        self._model = model
        self._api = api
        self._timeout = timeout
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._owned = client is None
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout))

    def _body(self, query: str, documents: Sequence[str]) -> dict[str, Any]:
        if self._api == "tei":
            return {"query": query, "texts": list(documents)}
        body: dict[str, Any] = {"query": query, "documents": list(documents), "top_n": len(documents)}
        if self._model:
            body["model"] = self._model
        return body

    async def rerank(self, query: str, documents: Sequence[str]) -> list[float]:
        if not documents:
            return []
        try:
            response = await self._client.post(self._url, json=self._body(query, documents), headers=self._headers,
                                               timeout=self._timeout)
        except httpx.TimeoutException as exc:
            raise ProviderError(f"reranker: {self._url} did not answer within {self._timeout}s") from exc
        except httpx.HTTPError as exc:
            raise ProviderError(f"reranker: cannot reach {self._url} ({type(exc).__name__}: {exc})") from exc
        if response.status_code >= 400:
            hint = " (check the API key)" if response.status_code in (401, 403) else ""
            raise ProviderError(f"reranker: HTTP {response.status_code} from {self._url}{hint}: {response.text[:300]}")
        try:
            payload = response.json()
        except ValueError as exc:
            raise ProviderError(f"reranker: {self._url} answered non-JSON: {response.text[:200]!r}") from exc
        return _scores(payload, len(documents))

    async def aclose(self) -> None:
        if self._owned:
            await self._client.aclose()


def _scores(payload: Any, n: int) -> list[float]:
    items = payload.get("results", payload.get("data")) if isinstance(payload, dict) else payload
    if not isinstance(items, list):
        raise ProviderError("reranker: the answer has no list of results")
    scores: list[float | None] = [None] * n
    for item in items:
        if not isinstance(item, dict):
            raise ProviderError("reranker: a result is not an object")
        index, score = item.get("index"), item.get("relevance_score", item.get("score"))
        if not isinstance(index, int) or not 0 <= index < n or not isinstance(score, (int, float)):
            raise ProviderError(f"reranker: a result lacks a valid index (0..{n - 1}) and a numeric score")
        scores[index] = float(score)
    if any(s is None for s in scores):
        raise ProviderError(f"reranker: expected a score for each of the {n} documents")
    return [float(s) for s in scores if s is not None]
