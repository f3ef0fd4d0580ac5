"""Health: each engine and the store; ``status: "loading"`` until models are loaded."""

from __future__ import annotations

from typing import Any

from litestar import get

from luminad import protocol
from luminad.api.runtime import DaemonLoading, Runtime, call


def health_routes(runtime: Runtime) -> list[Any]:
    """The route handlers of this area."""

    @get("/v1/health", tags=["health"])
    async def health(deep: bool = False) -> protocol.Health:
        """Each engine: configured, reachable, model, and an ``action`` when not ok."""
        if runtime.lumina is None or runtime.engines is None:
            failure = runtime.failure
            detail = failure.message if failure else f"loading {runtime.stage}".strip()
            action = failure.action if failure else DaemonLoading.default_action
            pending = protocol.EngineHealth(
                ok=False, configured=True, reachable=False, detail=detail, action=action
            )
            return protocol.Health(ok=False, engines={"daemon": pending}, status=runtime.status)
        from luminad.providers.registry import check_health

        result = await check_health(runtime.engines, deep=deep)
        engines = dict(result.engines)
        if "store" not in engines:
            engines["store"] = await call(runtime.lumina.queries.store_health)
        ok = all(e.ok for e in engines.values())
        return protocol.Health(
            ok=ok,
            engines=engines,
            status="ready",
            version=result.version,
            protocol=result.protocol,
            deep_wer=result.deep_wer,
        )

    return [health]
