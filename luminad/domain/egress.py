"""Egress: one request that leaves the machine (today only web search), recorded before it is
sent (the egress ledger, ``GET /v1/egress``)."""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event

from luminad.domain.content import Encrypted
from luminad.domain.errors import require_text

MAX_QUERY = 2_000


class Egress(Aggregate):
    """A request to another machine: what kind, to which host, and what it carried."""

    class EgressRequested(Aggregate.Created):
        #: What the request is for, e.g. "web_search".
        kind: str
        #: The host it goes to (from the user's own setting, e.g. the SearXNG URL).
        host: str
        #: What it sends: the search query (secrets already removed).
        query: Encrypted[str]

    @event(EgressRequested)
    def __init__(self, kind: str, host: str, query: str) -> None:
        self.kind = kind
        self.host = host

    @classmethod
    def request(cls, kind: str, host: str, query: str) -> Egress:
        return cls(
            require_text(kind, "egress kind", limit=64),
            require_text(host, "egress host", limit=255),
            require_text(query, "query", limit=MAX_QUERY),
        )
