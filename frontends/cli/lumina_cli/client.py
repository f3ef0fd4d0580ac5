"""How the ``lumina`` command talks to ``luminad``: HTTP and the voice-session WebSocket, both
over the daemon's Unix socket (no token needed: the socket is the user's own, mode 0600)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec

from luminad import protocol
from luminad.settings import Settings

#: One sentence for every command when the daemon is not there.
NOT_RUNNING = (
    "Lumina is not running: start it with `lumina start` (or `luminad serve` in a terminal, "
    "`luminad install-service` to start it at every login)."
)
#: Exit code when the daemon is not reachable.
EXIT_NOT_RUNNING = 3

_server_decoder = msgspec.json.Decoder(protocol.ServerMessage)


class NotRunning(Exception):
    """The daemon's socket is missing or nobody answers on it."""


class ApiError(Exception):
    """A structured error from the daemon: ``code``, ``message``, ``action``."""

    def __init__(self, status: int, code: str, message: str, action: str | None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.action = status, code, message, action


class DaemonClient:
    """Sync HTTP client for the JSON API over the Unix socket."""

    def __init__(self, settings: Settings, *, timeout: float = 120.0) -> None:
        self.settings = settings
        self.socket_path: Path = settings.socket_path
        self._http = httpx.Client(
            transport=httpx.HTTPTransport(uds=str(self.socket_path)),
            base_url="http://localhost",
            timeout=timeout,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> DaemonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
        body: Any = None,
    ) -> Any:
        if not self.socket_path.exists():
            raise NotRunning(NOT_RUNNING)
        try:
            response = self._http.request(
                method, path, params=params, json=body if body is not None else None
            )
        except (httpx.ConnectError, FileNotFoundError, ConnectionRefusedError) as exc:
            raise NotRunning(NOT_RUNNING) from exc
        data: Any = None
        if response.content:
            try:
                data = response.json()
            except json.JSONDecodeError:
                data = None
        if response.status_code >= 400:
            body_ = data if isinstance(data, dict) else {}
            raise ApiError(
                response.status_code,
                str(body_.get("code", "internal")),
                str(body_.get("message", f"HTTP {response.status_code}")),
                body_.get("action"),
            )
        return data

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=clean)


class SessionClient:
    """One voice session (text turns) over the Unix socket."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def send(self, message: protocol.Hello | protocol.Text | protocol.Cancel | Any) -> None:
        await self.ws.send(protocol.encode(message).decode())

    async def send_audio(self, pcm: bytes) -> None:
        await self.ws.send(pcm)

    async def receive(self) -> protocol.ServerMessage | bytes:
        frame = await self.ws.recv()
        if isinstance(frame, bytes):
            return frame
        decoded: protocol.ServerMessage = _server_decoder.decode(frame)
        return decoded

    async def hello(self, **fields: Any) -> protocol.Ready:
        """Send ``hello`` and wait for ``ready`` (an ``error`` becomes :class:`ApiError`)."""
        await self.send(protocol.Hello(client=fields.pop("client", "cli"), **fields))
        while True:
            message = await self.receive()
            if isinstance(message, protocol.Ready):
                return message
            if isinstance(message, protocol.Error):
                raise ApiError(400, message.code, message.message, message.action)

    async def set_internet(self, on: bool) -> None:
        """Switch internet mode (web search) for this session; waits for the daemon's answer
        (a ``ping`` sent behind the ``config`` comes back once it was applied or refused)."""
        await self.send(protocol.Config(internet=on))
        await self.send(protocol.Ping(nonce="internet"))
        while True:
            message = await self.receive()
            if isinstance(message, protocol.Pong) and message.nonce == "internet":
                return
            if isinstance(message, protocol.Error):
                raise ApiError(400, message.code, message.message, message.action)


@asynccontextmanager
async def open_session(settings: Settings) -> AsyncIterator[SessionClient]:
    """Connect to ``/v1/session`` over the Unix socket."""
    from websockets.asyncio.client import unix_connect

    path = settings.socket_path
    if not path.exists():
        raise NotRunning(NOT_RUNNING)
    try:
        ws = await unix_connect(
            str(path),
            uri="ws://localhost/v1/session",
            max_size=4 * 1024 * 1024,
            open_timeout=10,
        )
    except (OSError, TimeoutError) as exc:
        raise NotRunning(NOT_RUNNING) from exc
    try:
        yield SessionClient(ws)
    finally:
        await ws.close()
