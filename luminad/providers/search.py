"""Opt-in web search through a SearXNG-compatible JSON endpoint (``settings.search_url``)."""

from __future__ import annotations

import httpx

from luminad.errors import InternetDisabled, LuminaError
from luminad.protocol import EngineHealth
from luminad.providers.base import SearchResult


class SearxngSearch:
    """:class:`~luminad.providers.base.WebSearch`: GET ``<url>?q=...&format=json``."""

    name = "searxng"

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout

    async def search(self, query: str, *, limit: int = 5) -> list[SearchResult]:
        if not self.url:
            raise InternetDisabled("no search endpoint is configured (LUMINA_SEARCH_URL)")
        try:
            async with httpx.AsyncClient(timeout=self.timeout, trust_env=False) as client:
                response = await client.get(self.url, params={"q": query, "format": "json"})
                response.raise_for_status()
                data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise LuminaError(f"web search failed: {type(exc).__name__}") from exc
        out = []
        for item in data.get("results", [])[:limit]:
            if item.get("url"):
                out.append(
                    SearchResult(
                        title=str(item.get("title", "")),
                        url=str(item["url"]),
                        snippet=str(item.get("content", "")),
                    )
                )
        return out

    async def health(self) -> EngineHealth:
        return EngineHealth(
            ok=bool(self.url),
            configured=bool(self.url),
            reachable=bool(self.url),
            model="searxng",
            detail=f"search endpoint {self.url}" if self.url else "no search endpoint",
            action=None if self.url else "Set LUMINA_SEARCH_URL to a SearXNG JSON endpoint.",
        )
