"""Every security check of the API, applied once for both listeners (DESIGN rule 10).

* **Token**: 32 random bytes (hex), created at first start in ``settings.token_path`` (0600).
* **Unix socket**: no token; the peer's uid must be ours (SO_PEERCRED / LOCAL_PEERCRED),
  checked when the connection is made (:func:`peer_uid`, used by ``server.py``).
* **TCP**: ``Authorization: Bearer <token>``, the ``lumina_session`` cookie set by ``/login``, or
  (WebSocket only) a ``token`` query parameter; an allowed ``Host`` header (checked here, never
  trusting ``X-Forwarded-Host``: PYSEC-2026-2603); an allowed ``Origin`` for WebSockets and
  state-changing requests.
* **Sizes**: HTTP bodies and WebSocket frames up to 64 KiB (:data:`MAX_FRAME_BYTES`).
* **Rates**: audio at most twice real time, with a burst of about one second
  (:class:`AudioRateLimiter`).

:class:`SecurityGate` is a plain ASGI wrapper: one instance per listener around the same app.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import socket
import struct
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs

import msgspec

from luminad.errors import ForbiddenHost, ForbiddenOrigin, LuminaError, Unauthorized
from luminad.settings import Settings

log = logging.getLogger("luminad.api.security")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Listener = Literal["unix", "tcp"]

#: The cookie ``GET /login?token=...`` sets for the web UI.
SESSION_COOKIE = "lumina_session"
#: The scope key telling handlers which listener a request came in on.
LISTENER_KEY = "lumina.listener"
TOKEN_BYTES = 32
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})
#: WebSocket close codes for refused sessions.
WS_CLOSE_UNAUTHORIZED = 4401
WS_CLOSE_FORBIDDEN = 4403
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Paths reachable without a token (still Host-checked).
PUBLIC_PATHS = frozenset({"/login", "/favicon.svg"})


# ---------------------------------------------------------------------------- token
def load_or_create_token(path: Path) -> str:
    """The API token: read it, or create 32 random bytes (hex) with mode 0600 at first start."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        token = ""
    if len(token) >= 2 * TOKEN_BYTES:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        return token
    token = secrets.token_hex(TOKEN_BYTES)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, token.encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return token


def session_value(token: str) -> str:
    """The cookie value for ``token`` (derived, so the cookie is not the token itself)."""
    return hmac.new(token.encode(), b"lumina_session v1", hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------- peer credentials
def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket, or None when unknown."""
    try:
        if sys.platform.startswith("linux"):
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _pid, uid, _gid = struct.unpack("3i", creds)
            return int(uid)
        if sys.platform == "darwin" or "bsd" in sys.platform:
            # getpeereid(3) is LOCAL_PEERCRED: struct xucred {u_int version; uid_t uid; ...}
            sol_local = getattr(socket, "SOL_LOCAL", 0)
            local_peercred = getattr(socket, "LOCAL_PEERCRED", 0x001)
            raw = sock.getsockopt(sol_local, local_peercred, struct.calcsize("2Ih2x16I"))
            _version, uid = struct.unpack_from("2I", raw)
            return int(uid)
    except OSError:
        return None
    return None


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

    A frame is accepted while the bucket is not empty (so one large frame is never refused
    on its own); accepted audio is subtracted, refused audio is dropped.
    """

    factor: float = 2.0
    burst_s: float = 1.0
    clock: Callable[[], float] = time.monotonic
    _level: float = field(default=-1.0, init=False)
    _last: float = field(default=0.0, init=False)

    def allow(self, n_bytes: int, sample_rate: int) -> bool:
        """Account for ``n_bytes`` of PCM16 mono at ``sample_rate``; False: over the rate."""
        now = self.clock()
        if self._level < 0 and self._last == 0.0:
            self._level = self.burst_s
        else:
            self._level = min(self.burst_s, self._level + (now - self._last) * self.factor)
        self._last = now
        if self._level <= 0.0:
            return False
        self._level -= n_bytes / 2 / max(sample_rate, 1)
        return True


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

    def __post_init__(self) -> None:
        if self.settings.port:
            self.ports.add(self.settings.port)
        self._session = session_value(self.token)

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
        return bool(candidate) and hmac.compare_digest(
            (candidate or "").encode(), self._session.encode()
        )

    @property
    def session(self) -> str:
        return self._session

    def check(self, scope: Scope, listener: Listener) -> LuminaError | None:
        """The first reason to refuse this HTTP/WebSocket scope, or None."""
        headers = _headers(scope)
        kind = scope["type"]
        method = scope.get("method", "GET") if kind == "http" else "GET"
        if listener == "tcp" and not self.host_allowed(headers.get("host")):
            return ForbiddenHost("This Host is not Lumina's.")
        origin = headers.get("origin")
        if (kind == "websocket" or method not in SAFE_METHODS) and not self.origin_allowed(origin):
            return ForbiddenOrigin("This page's origin may not use Lumina.")
        if listener == "unix" or scope.get("path") in PUBLIC_PATHS:
            return None
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer " and self.token_ok(auth[7:].strip()):
            return None
        cookie = _cookie(headers.get("cookie"), SESSION_COOKIE)
        if cookie is not None and self.session_ok(cookie):
            return None
        if kind == "websocket":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            if any(self.token_ok(t) for t in query.get("token", [])):
                return None
        return Unauthorized("A token is needed to talk to Lumina over TCP.")


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").lower()
        if name not in out:  # the first one wins; duplicates are not merged
            out[name] = raw_value.decode("latin-1")
    return out


def _cookie(header: str | None, name: str) -> str | None:
    if not header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except Exception:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


# ---------------------------------------------------------------------------- ASGI gate
_UNAUTHORIZED_HTML = (
    b"<!doctype html><meta charset=utf-8><title>Lumina</title>"
    b"<p>Lumina needs you to log in: run <code>lumina open</code> and open the URL it prints.</p>"
)


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
        accept = _headers(scope).get("accept", "")
        html = (
            isinstance(error, Unauthorized)
            and scope.get("method") == "GET"
            and "text/html" in accept
            and not str(scope.get("path", "")).startswith("/v1/")
        )
        body = _UNAUTHORIZED_HTML if html else msgspec.json.encode(error.to_dict())
        ctype = b"text/html; charset=utf-8" if html else b"application/json"
        headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]
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


def gate_both(
    app: ASGIApp, policy: SecurityPolicy, listeners: Iterable[Listener] = ("unix", "tcp")
) -> dict[Listener, SecurityGate]:
    """One gate per listener around the same app."""
    return {name: SecurityGate(app, policy, name) for name in listeners}
