"""The egress ledger around web search: every request that leaves the machine is recorded as an
event before it is sent, with the secrets the do-not-store filter finds removed from it."""

from __future__ import annotations

import asyncio
import re

from luminad.app import Lumina
from luminad.errors import SecretNotStored
from luminad.protocol import EngineHealth
from luminad.providers.base import SearchResult, WebSearch
from luminad.redact import MARK, redact

WEB_SEARCH = "web_search"


class LedgeredSearch:
    """:class:`~luminad.providers.base.WebSearch` that records each query in the ledger (the
    one writer, :class:`Lumina`) before the inner search sends it."""

    def __init__(self, inner: WebSearch, app: Lumina, host: str) -> None:
        self.inner = inner
        self.app = app
        self.host = host
        self.name = inner.name

    async def search(self, query: str, *, limit: int = 5) -> list[SearchResult]:
        sent = outgoing_query(query)
        await asyncio.to_thread(self.app.record_egress, WEB_SEARCH, self.host, sent)
        return await self.inner.search(sent, limit=limit)

    async def health(self) -> EngineHealth:
        return await self.inner.health()


def outgoing_query(query: str) -> str:
    """The query with every secret removed; :class:`SecretNotStored` when nothing else is left."""
    cleaned = re.sub(re.escape(MARK) + r"[^\]]*\]", " ", redact(query).text)
    cleaned = " ".join(cleaned.split())
    if not re.search(r"\w{2,}", cleaned):
        raise SecretNotStored(
            "Not searched: the search would have sent a secret.",
            action="Ask again without the password, PIN, number or key.",
        )
    return cleaned
