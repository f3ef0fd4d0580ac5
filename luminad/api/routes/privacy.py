"""Forget-me and its audit, the egress ledger, the event log and the latency metrics."""

from __future__ import annotations

import logging
from typing import Any

from litestar import get, post
from litestar.params import Parameter

from luminad import errors, protocol
from luminad.api.runtime import MAX_PAGE, Runtime, call

log = logging.getLogger("luminad.api")

FORGET_ME_PHRASE = "forget me"


def privacy_routes(runtime: Runtime) -> list[Any]:
    """The route handlers of this area."""

    @post("/v1/forget-me", tags=["privacy"], status_code=200)
    async def forget_me(data: protocol.ForgetMeRequest) -> protocol.ForgetReceipt:
        """Delete all user data (crypto-shredding); body ``{"confirm": "forget me"}``."""
        if data.confirm.strip().lower() != FORGET_ME_PHRASE:
            raise errors.BadMessage(
                "Not confirmed.", action='Send {"confirm": "forget me"} to delete all your data.'
            )
        receipt = await call(runtime.core().forget_user)
        log.info("forget-me done: events_shredded=%s", receipt.events_shredded)
        return receipt

    @get("/v1/audit/forget-me", tags=["privacy"])
    async def audit(
        canary: list[str] | None = Parameter(query="canary", default=None),  # noqa: B008
    ) -> protocol.Audit:
        return await call(runtime.core().queries.audit, tuple(canary or ()))

    @get("/v1/egress", tags=["privacy"])
    async def egress(
        limit: int = Parameter(default=100, ge=1, le=MAX_PAGE),
    ) -> list[protocol.EgressEntry]:
        """Every request that left the machine (web search), newest first."""
        return await call(runtime.core().queries.egress, limit)

    @get("/v1/events", tags=["events"])
    async def events(
        after: int = Parameter(default=0, ge=0),
        limit: int = Parameter(default=100, ge=1, le=MAX_PAGE),
        types: list[str] | None = Parameter(query="type", default=None),  # noqa: B008
    ) -> list[protocol.LoggedEvent]:
        return await call(
            runtime.core().queries.events, after=after, limit=limit, types=tuple(types or ())
        )

    @get("/v1/events/verify", tags=["events"])
    async def verify_events() -> protocol.ChainVerification:
        """Recompute the hash chain of the whole log; ``broken_at`` names the first bad link."""
        return await call(runtime.core().queries.verify_events)

    @get("/v1/metrics/latency", tags=["metrics"])
    async def latency(
        window: int = Parameter(default=200, ge=1, le=10000),
    ) -> protocol.LatencyMetrics:
        return await call(runtime.core().queries.latency, window)

    return [forget_me, audit, egress, events, verify_events, latency]
