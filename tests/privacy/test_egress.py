"""The egress ledger: each request that leaves the machine is an event before it is sent."""

from __future__ import annotations

from luminad.app import Lumina
from luminad.egress import LedgeredSearch
from luminad.keystore import SHREDDED
from luminad.protocol import EngineHealth
from luminad.providers.base import SearchResult


class RecordingSearch:
    """Stands in for the remote engine: notes what the ledger held at the moment of sending."""

    name = "stub"

    def __init__(self, app: Lumina) -> None:
        self.app = app
        self.sent: list[tuple[str, int]] = []

    async def search(self, query: str, *, limit: int = 5) -> list[SearchResult]:
        self.sent.append((query, len(self.app.queries.egress())))
        return [SearchResult(title="t", url="https://example.org", snippet="s")]

    async def health(self) -> EngineHealth:
        return EngineHealth(ok=True, configured=True, reachable=True, model="stub")


async def test_a_search_is_in_the_ledger_before_it_is_sent_and_its_query_encrypted(
    app: Lumina,
) -> None:
    inner = RecordingSearch(app)
    search = LedgeredSearch(inner, app, "search.example.org")
    await search.search("weather in Lisbon with my PIN 4921")
    assert inner.sent == [("weather in Lisbon with my PIN", 1)]  # recorded first, then sent
    (entry,) = app.queries.egress()
    assert (entry.kind, entry.host, entry.query) == (
        "web_search",
        "search.example.org",
        "weather in Lisbon with my PIN",
    )
    raw = b"".join(n.state for n in app.recorder.select_notifications(0, 1000))
    assert b"Lisbon" not in raw and b"search.example.org" in raw

    app.forget_user()
    (entry,) = app.queries.egress()
    assert entry.query == SHREDDED and entry.host == "search.example.org"
