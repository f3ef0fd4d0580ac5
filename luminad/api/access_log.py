"""The access log: method, path, status and milliseconds of every HTTP request."""

from __future__ import annotations

import logging
import time
from typing import Any

from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("luminad.api")


class AccessLog(ASGIMiddleware):
    """Logs method, path (never the query: it may carry search text or a token), status, ms."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if str(scope["type"]) != "http":
            await next_app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0

        async def _send(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await next_app(scope, receive, _send)
        finally:
            log.info(
                "%s %s -> %s (%.1f ms)",
                scope.get("method"),
                scope.get("path"),
                status,
                (time.perf_counter() - start) * 1000,
            )
