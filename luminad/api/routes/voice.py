"""``/v1/session``: the voice-session WebSocket (see :mod:`luminad.api.session`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import websocket
from litestar.connection import WebSocket

from luminad.api.runtime import Runtime

if TYPE_CHECKING:
    from luminad.api.session import SessionFactory


def voice_routes(runtime: Runtime, session_factory: SessionFactory | None) -> list[Any]:
    """The route handlers of this area."""

    @websocket("/v1/session")
    async def session(socket: WebSocket[Any, Any, Any]) -> None:
        from luminad.api.session import run_session

        await run_session(socket, runtime, session_factory)

    return [session]
