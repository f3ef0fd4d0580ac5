"""Every security check of the API, applied once for both listeners (DESIGN rule 10).

* **Token**: 32 random bytes (hex), created at first start in ``settings.token_path`` (0600).
  It never travels in a URL and is never written to a log.
* **Unix socket**: no token; the peer's uid must be ours (SO_PEERCRED / LOCAL_PEERCRED),
  checked when the connection is made (:func:`peer_allowed`, used by ``listeners.py``).
* **TCP**: ``Authorization: Bearer <token or session credential>``; for WebSockets (a browser
  cannot set headers there) also a ``lumina.session.<credential>`` entry of
  ``Sec-WebSocket-Protocol`` next to ``lumina.v1``, which the gate then selects. No cookie: a
  cookie is sent to every port of 127.0.0.1, so another local program would receive it.
* **Web login**: ``lumina open`` asks for a one-time code (:class:`LoginCodes`, two minutes) and
  prints a link that carries it in the URL *fragment* (never sent to a server, so never in a
  log); the page trades it at ``POST /login`` for a session credential it keeps in
  ``sessionStorage`` (per origin: other ports cannot read it). A session credential is a nonce
  and its HMAC under the token (:func:`new_session`): it survives a daemon restart and dies
  with the token.
* An allowed ``Host`` header (checked here, never trusting ``X-Forwarded-Host``:
  PYSEC-2026-2603); an allowed ``Origin`` for WebSockets and state-changing requests.
* **Sizes**: HTTP bodies and WebSocket frames up to 64 KiB (:data:`MAX_FRAME_BYTES`).
* **Rates**: audio at most twice real time, with a burst of about one second
  (:class:`AudioRateLimiter`).

:class:`SecurityGate` is a plain ASGI wrapper: one instance per listener around the same app.
The secrets it checks against (the token file, session credentials, login codes) are made and
kept by :mod:`luminad.api.credentials`.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import socket
import struct
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from luminad.api.credentials import LoginCodes, new_session, session_valid
from luminad.errors import BadMessage, ForbiddenHost, ForbiddenOrigin, LuminaError, Unauthorized
from luminad.settings import Settings

log = logging.getLogger("luminad.api.security")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Listener = Literal["unix", "tcp"]

#: The WebSocket subprotocol of the voice session; the gate selects it when offered.
WS_SUBPROTOCOL = "lumina.v1"
#: A ``Sec-WebSocket-Protocol`` entry ``lumina.session.<credential>`` authenticates a browser.
WS_SESSION_PREFIX = "lumina.session."
#: The scope key telling handlers which listener a request came in on.
LISTENER_KEY = "lumina.listener"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})
#: WebSocket close codes for refused sessions.
WS_CLOSE_UNAUTHORIZED = 4401
WS_CLOSE_FORBIDDEN = 4403
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: What needs a credential on TCP: the API and the voice session. The web page itself (static
#: files: code, no user data), ``/login`` and the OpenAPI schema do not (still Host-checked).
PROTECTED_PREFIX = "/v1/"
#: NUL and other control characters have no place in a decoded path (a file name with NUL
#: makes the OS calls below fail).
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


# ---------------------------------------------------------------------------- peer credentials
def peer_credentials(sock: socket.socket) -> tuple[int | None, int | None]:
    """``(pid, uid)`` of the process at the other end of a Unix socket (None when unknown). For
    a client's socket that is the daemon: the process that listens."""
    try:
        if sys.platform.startswith("linux"):
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            pid, uid, _gid = struct.unpack("3i", creds)
            return int(pid), int(uid)
        if sys.platform == "darwin" or "bsd" in sys.platform:
            # getpeereid(3) is LOCAL_PEERCRED: struct xucred {u_int version; uid_t uid; ...}
            sol_local = getattr(socket, "SOL_LOCAL", 0)
            local_peercred = getattr(socket, "LOCAL_PEERCRED", 0x001)
            raw = sock.getsockopt(sol_local, local_peercred, struct.calcsize("2Ih2x16I"))
            _version, uid = struct.unpack_from("2I", raw)
            try:
                raw_pid = sock.getsockopt(sol_local, getattr(socket, "LOCAL_PEERPID", 0x002), 4)
            except OSError:
                return None, int(uid)
            return int(struct.unpack("i", raw_pid)[0]), int(uid)
    except OSError:
        return None, None
    return None, None


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket, or None when unknown."""
    return peer_credentials(sock)[1]


def peer_allowed(sock: socket.socket | None) -> bool:
    """True when the Unix-socket peer runs as our own user."""
    if sock is None:
        return False
    uid = peer_uid(sock)
    return uid is not None and uid == os.getuid()


# ---------------------------------------------------------------------------- rates
@dataclass
class AudioRateLimiter:
    """Token bucket in seconds of audio: refills at ``factor`` x real time, holds ``burst_s``.

    A frame is accepted while the bucket is not empty (:meth:`ready`; so one large frame is
    never refused on its own); accepted audio is subtracted (:meth:`spend`), refused audio is
    dropped and costs nothing.
    """

    factor: float = 2.0
    burst_s: float = 1.0
    clock: Callable[[], float] = time.monotonic
    _level: float = field(default=-1.0, init=False)
    _last: float = field(default=0.0, init=False)

    def ready(self) -> bool:
        """Refill; False: over the rate (refuse the frame before doing anything with it)."""
        now = self.clock()
        if self._level < 0 and self._last == 0.0:
            self._level = self.burst_s
        else:
            self._level = min(self.burst_s, self._level + (now - self._last) * self.factor)
        self._last = now
        return self._level > 0.0

    def spend(self, n_bytes: int, sample_rate: int) -> None:
        """Account for ``n_bytes`` of PCM16 mono at ``sample_rate`` that were accepted (a frame
        refused for another reason never consumes the budget)."""
        self._level -= n_bytes / 2 / max(sample_rate, 1)


# ---------------------------------------------------------------------------- policy
def _split_host(value: str) -> tuple[str, str | None]:
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return value, None
        host, rest = value[: end + 1], value[end + 1 :]
        return host, (rest[1:] if rest.startswith(":") else None if not rest else "!")
    if value.count(":") == 1:
        host, port = value.split(":")
        return host, port
    return value, None


@dataclass
class SecurityPolicy:
    """What a request needs on TCP: the token, an allowed Host, an allowed Origin."""

    settings: Settings
    token: str
    #: Ports the TCP listener actually bound (set by the server after bind; port 0 allowed).
    ports: set[int] = field(default_factory=set)
    login_codes: LoginCodes = field(default_factory=LoginCodes)

    def __post_init__(self) -> None:
        if self.settings.port:
            self.ports.add(self.settings.port)

    # -- hosts and origins
    def _host_names(self) -> set[str]:
        names = set(LOOPBACK_HOSTS)
        host = self.settings.host.lower()
        if self.settings.allow_lan and host not in {"0.0.0.0", "::", ""}:
            names.add(f"[{host}]" if ":" in host else host)
        return names

    def host_allowed(self, host_header: str | None) -> bool:
        """``127.0.0.1[:port]``, ``localhost[:port]``, ``[::1][:port]`` with our port only."""
        if not host_header:
            return False
        host, port = _split_host(host_header)
        if host not in self._host_names():
            return False
        if port is None:
            return True
        return port.isdigit() and int(port) in self.ports

    def allowed_origins(self) -> set[str]:
        origins = {o.rstrip("/").lower() for o in self.settings.allowed_origins}
        for name in self._host_names():
            for port in self.ports:
                origins.add(f"http://{name}:{port}")
        return origins

    def origin_allowed(self, origin: str | None) -> bool:
        """No Origin (not a browser) is fine; otherwise it must be in the allowlist."""
        if origin is None:
            return True
        return origin.strip().rstrip("/").lower() in self.allowed_origins()

    # -- credentials
    def token_ok(self, candidate: str | None) -> bool:
        return bool(candidate) and hmac.compare_digest(
            (candidate or "").encode(), self.token.encode()
        )

    def session_ok(self, candidate: str | None) -> bool:
        return bool(candidate) and session_valid(self.token, candidate or "")

    def credential_ok(self, candidate: str | None) -> bool:
        """The token itself or a session credential made with it."""
        return self.token_ok(candidate) or self.session_ok(candidate)

    def login_link(self, code: str) -> str:
        """The web page's URL with a login code in its fragment (never sent to a server)."""
        return f"{self.settings.http_url}/#login={code}"

    def exchange(self, code: str) -> str | None:
        """A new session credential for a valid one-time login code, else None."""
        return new_session(self.token) if self.login_codes.redeem(code) else None

    def check(self, scope: Scope, listener: Listener) -> LuminaError | None:
        """The first reason to refuse this HTTP/WebSocket scope, or None."""
        headers = _headers(scope)
        kind = scope["type"]
        method = scope.get("method", "GET") if kind == "http" else "GET"
        if listener == "tcp" and not self.host_allowed(headers.get("host")):
            return ForbiddenHost("This Host is not Lumina's.")
        if _CONTROL_CHARS.search(str(scope.get("path", ""))):
            return BadMessage(
                "The path holds a control character (e.g. %00).",
                action="Remove control characters from the URL.",
            )
        origin = headers.get("origin")
        if (kind == "websocket" or method not in SAFE_METHODS) and not self.origin_allowed(origin):
            return ForbiddenOrigin("This page's origin may not use Lumina.")
        path = str(scope.get("path", ""))
        if listener == "unix" or not (path + "/").startswith(PROTECTED_PREFIX):
            return None
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer " and self.credential_ok(auth[7:].strip()):
            return None
        if kind == "websocket":
            for entry in _subprotocols(headers):
                if entry.startswith(WS_SESSION_PREFIX) and self.session_ok(
                    entry[len(WS_SESSION_PREFIX) :]
                ):
                    return None
        return Unauthorized("A token is needed to talk to Lumina over TCP.")


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").lower()
        if name not in out:  # the first one wins; duplicates are not merged
            out[name] = raw_value.decode("latin-1")
    return out


def _subprotocols(headers: dict[str, str]) -> list[str]:
    return [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",") if p.strip()]


# ---------------------------------------------------------------------------- ASGI gate
class SecurityGate:
    """Wraps the app for one listener: marks the scope, refuses what :meth:`check` refuses."""

    def __init__(self, app: ASGIApp, policy: SecurityPolicy, listener: Listener) -> None:
        self.app = app
        self.policy = policy
        self.listener: Listener = listener

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        scope[LISTENER_KEY] = self.listener
        error = self.policy.check(scope, self.listener)
        if error is None:
            if scope["type"] == "websocket" and WS_SUBPROTOCOL in _subprotocols(_headers(scope)):
                send = _selecting_subprotocol(send)
            await self.app(scope, receive, send)
            return
        log.info(
            "refused %s %s on %s: %s",
            scope["type"],
            scope.get("path", "").split("?")[0],
            self.listener,
            error.code,
        )
        if scope["type"] == "http":
            await self._refuse_http(scope, send, error)
        else:
            await self._refuse_ws(receive, send, error)

    @staticmethod
    async def _refuse_http(scope: Scope, send: Send, error: LuminaError) -> None:
        body = msgspec.json.encode(error.to_dict())
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        if isinstance(error, Unauthorized):
            headers.append((b"www-authenticate", b'Bearer realm="lumina"'))
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _refuse_ws(receive: Receive, send: Send, error: LuminaError) -> None:
        message = await receive()
        if message.get("type") != "websocket.connect":
            return
        code = WS_CLOSE_UNAUTHORIZED if isinstance(error, Unauthorized) else WS_CLOSE_FORBIDDEN
        await send({"type": "websocket.accept"})
        payload = {"type": "error", **error.to_dict()}
        await send({"type": "websocket.send", "text": msgspec.json.encode(payload).decode()})
        await send({"type": "websocket.close", "code": code, "reason": error.code})


def _selecting_subprotocol(send: Send) -> Send:
    """A browser that offered subprotocols needs one selected, or it drops the connection."""

    async def _send(message: Message) -> None:
        if message.get("type") == "websocket.accept" and not message.get("subprotocol"):
            message = {**message, "subprotocol": WS_SUBPROTOCOL}
        await send(message)

    return _send
