"""The daemon's listeners: where they may listen, how they are bound, who may connect.

The Unix socket is 0600 from the start and refuses other users' connections (SO_PEERCRED); the
TCP listener stays on loopback unless ``LUMINA_ALLOW_LAN=1`` and holds at most a bounded number
of connections (:class:`ConnectionGuard`: the oldest idle one makes room; a connection that
sends no request head in time is closed), so a flood of idle or half-open connections cannot
lock a real client out or take the file descriptors the rest of the daemon needs.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import os
import resource
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from luminad.api.security import peer_allowed

if TYPE_CHECKING:
    from luminad.settings import Settings

log = logging.getLogger("luminad.server")

#: Longest Unix socket path the kernel takes (sun_path is 108 bytes on Linux, 104 on macOS).
MAX_SOCKET_PATH = 103
#: A TCP connection must have sent its first request head within this time.
FIRST_REQUEST_TIMEOUT_S = 10.0
#: The most TCP connections at once (fewer when the file limit is low).
MAX_TCP_CONNECTIONS = 1024
#: File descriptors kept for everything but TCP clients (Unix socket, store, models, logs).
FD_RESERVE = 256
#: The listen backlog: asyncio accepts up to this many connections in one go, and one loop
#: iteration may pass before a connection dropped to make room is closed.
TCP_BACKLOG = 64
#: Accept rounds whose connections may still be open while drops are on their way.
ACCEPT_ROUNDS_IN_FLIGHT = 4


class StartupError(Exception):
    """A reason ``luminad serve`` cannot start, said in one sentence."""


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(settings: Settings) -> None:
    if not is_loopback(settings.host) and not settings.allow_lan:
        raise StartupError(
            f"Refusing to listen on {settings.host}: it is not a loopback address. "
            "Set LUMINA_ALLOW_LAN=1 if you really want Lumina reachable from your network."
        )


def bind_unix(path: Path) -> socket.socket:
    """A listening Unix socket at ``path``, mode 0600 from the start (umask while binding)."""
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise StartupError(
            f"The socket path {path} is too long for a Unix socket; set LUMINA_RUNTIME_DIR "
            "to a shorter directory."
        )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.exists() or path.is_symlink():
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.settimeout(1.0)
            probe.connect(str(path))
        except OSError:
            path.unlink()  # stale socket of a daemon that died
        else:
            raise StartupError(f"luminad is already running (its socket {path} answers).")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(128)
    sock.setblocking(False)
    return sock


def bind_tcp(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP;
    # without it each response waited ~40 ms for the client's delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(
                f"Port {port} on {host} is taken (is luminad already running?); "
                "set LUMINA_PORT to another port."
            ) from None
        raise StartupError(f"Cannot listen on {host}:{port}: {exc.strerror}.") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


class PeerCheckedH11(H11Protocol):
    """HTTP on the Unix socket: drops connections from any other user (SO_PEERCRED)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not peer_allowed(transport.get_extra_info("socket")):
            log.warning("refused a Unix-socket connection from another user")
            transport.close()


# ---------------------------------------------------------------------------- floods
def raise_fd_limit() -> int:
    """Raise the soft limit of open files to the hard one; the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft
    return target


def tcp_connection_limit(fd_limit: int) -> int:
    """How many TCP connections at once: below the file limit, leaving room for the rest."""
    spare = FD_RESERVE + ACCEPT_ROUNDS_IN_FLIGHT * TCP_BACKLOG
    return max(16, min(MAX_TCP_CONNECTIONS, fd_limit - spare))


class ConnectionGuard:
    """The TCP listener's connections: at most ``limit`` at once. When full, the oldest one
    without a request in flight (never a WebSocket session) is closed to make room, so a flood
    of idle or half-open connections cannot lock a real client out; the Unix socket keeps its
    file descriptors because TCP stays below the process's limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.dropped = 0
        self._open: dict[GuardedH11, None] = {}

    def admit(self, conn: GuardedH11) -> bool:
        """Make room for ``conn``; False when every slot holds a request in flight."""
        if len(self._open) >= self.limit:
            self._open = {c: None for c in self._open if not c.transport.is_closing()}
        if len(self._open) >= self.limit:
            victim = next((c for c in self._open if c.idle), None)
            if victim is None:
                self._note_drop()
                return False
            del self._open[victim]
            victim.transport.close()
            self._note_drop()
        self._open[conn] = None
        return True

    def release(self, conn: GuardedH11) -> None:
        self._open.pop(conn, None)

    def _note_drop(self) -> None:
        self.dropped += 1
        if self.dropped in (1, 10) or self.dropped % 1000 == 0:
            log.warning(
                "TCP connection limit (%d) reached: %d idle connections dropped so far",
                self.limit,
                self.dropped,
            )


class GuardedH11(H11Protocol):
    """HTTP on TCP under a :class:`ConnectionGuard`; a connection that has not sent a whole
    request head within :data:`FIRST_REQUEST_TIMEOUT_S` is closed (half-open, slowloris)."""

    def __init__(self, *args: Any, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = guard
        self.upgraded = False
        self._deadline: asyncio.TimerHandle | None = None

    @property
    def idle(self) -> bool:
        """No request in flight and not a WebSocket session: safe to drop."""
        return not self.upgraded and (self.cycle is None or self.cycle.response_complete)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self.guard.admit(self):
            transport.close()
            return
        self._deadline = self.loop.call_later(FIRST_REQUEST_TIMEOUT_S, self._too_slow)

    def _too_slow(self) -> None:
        if self.cycle is None and not self.upgraded:
            self.transport.close()

    def handle_websocket_upgrade(self, event: Any) -> None:
        self.upgraded = True
        if self._deadline is not None:
            self._deadline.cancel()
        super().handle_websocket_upgrade(event)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self.guard.release(self)
        super().connection_lost(exc)
