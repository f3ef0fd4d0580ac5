"""``luminad serve``: one app, two listeners (a 0600 Unix socket and loopback TCP), uvicorn.

Order of events: refuse a non-loopback host (unless ``allow_lan``), create the token, bind both
sockets, start both uvicorn servers (health answers ``loading``), load the engines and open the
core (progress on stderr), then print exactly one line on stdout::

    luminad ready: unix=<path> http=<url>

SIGTERM/SIGINT stop accepting, let requests in flight finish (their writes are committed before
they are acknowledged), close voice sessions, then close the core. Logs carry ids, types and
timings only: uvicorn's access log is off (our own logs paths without queries) and every line
passes :class:`SafeLogFilter` (credentials redacted, client-supplied control characters escaped).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlsplit

import uvicorn

from luminad import errors
from luminad.api.access_log import SafeLogFilter
from luminad.api.app import create_app
from luminad.api.credentials import load_or_create_token
from luminad.api.listeners import (
    TCP_BACKLOG,
    ConnectionGuard,
    GuardedH11,
    PeerCheckedH11,
    StartupError,
    bind_tcp,
    bind_unix,
    check_host,
    raise_fd_limit,
    tcp_connection_limit,
)
from luminad.api.runtime import Runtime
from luminad.api.security import SecurityGate, SecurityPolicy
from luminad.api.wyoming import Wyoming
from luminad.protocol import MAX_FRAME_BYTES
from luminad.settings import Settings
from luminad.timers import TimerClock

if TYPE_CHECKING:
    from luminad.api.security import ASGIApp
    from luminad.app import Lumina
    from luminad.providers.registry import Engines

log = logging.getLogger("luminad.server")
T = TypeVar("T")

#: WebSocket frames up to this size are read (and answered ``frame_too_large`` above 64 KiB);
#: bigger ones close the connection (1009).
WS_READ_LIMIT = 16 * MAX_FRAME_BYTES
GRACEFUL_TIMEOUT_S = 15


class _Server(uvicorn.Server):
    """uvicorn.Server without its own signal handling (we run two and handle signals once)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _config(app: Any, *, http: Any, backlog: int = 2048) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        http=http,
        backlog=backlog,
        ws="websockets-sansio",
        lifespan="off",
        access_log=False,
        log_config=None,
        proxy_headers=False,
        server_header=False,
        ws_max_size=WS_READ_LIMIT,
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=GRACEFUL_TIMEOUT_S,
    )


# ---------------------------------------------------------------------------- loading
class ConsoleProgress:
    """Model-loading progress on stderr (rich when a terminal, plain lines otherwise)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.started = time.perf_counter()
        from rich.console import Console

        self.console = Console(stderr=True, highlight=False)

    def __call__(self, stage: str, fraction: float | None, message: str) -> None:
        self.runtime.stage = stage
        pct = f" {fraction * 100:3.0f}%" if fraction is not None else ""
        elapsed = time.perf_counter() - self.started
        line = f"loading {stage}{pct} {message} ({elapsed:.1f} s)"
        if self.console.is_terminal:
            self.console.print(f"[cyan]{line}[/cyan]")
        else:
            print(line, file=sys.stderr, flush=True)


def load_runtime(
    settings: Settings, progress: Callable[[str, float | None, str], None]
) -> tuple[Lumina, Engines]:
    """Load the engines, then open the core with their embedder (sync, heavy)."""
    from luminad.app import open_lumina
    from luminad.providers.registry import load_engines

    engines = load_engines(settings, progress)
    progress("store", None, "opening the event store")
    lumina = open_lumina(settings, engines.embedder)
    progress("store", 1.0, "event store open")
    if engines.search is not None:  # every query goes into the egress ledger before it is sent
        from luminad.egress import LedgeredSearch

        host = urlsplit(settings.search_url).hostname or settings.search_url
        engines = replace(engines, search=LedgeredSearch(engines.search, lumina, host))
    return lumina, engines


def _in_thread(fn: Callable[[], T]) -> asyncio.Future[T]:
    """Run ``fn`` in a daemon thread (so a SIGTERM during loading does not wait for it)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def _run() -> None:
        try:
            result = fn()
        except BaseException as exc:
            loop.call_soon_threadsafe(_settle, future, None, exc)
        else:
            loop.call_soon_threadsafe(_settle, future, result, None)

    threading.Thread(target=_run, name="luminad-load", daemon=True).start()
    return future


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


# ---------------------------------------------------------------------------- serve
#: How often the read models look for events written by another process (a shared store).
FOLLOW_INTERVAL_S = 1.0


async def _follow_log(lumina: Any) -> None:
    """Keep the read models caught up with events other writers append (e.g. a second
    process on the same PostgreSQL store); this daemon's own commands catch up at once."""
    while True:
        await asyncio.sleep(FOLLOW_INTERVAL_S)
        try:
            await asyncio.to_thread(lumina.catch_up)
        except Exception as exc:  # the next tick tries again; the store's health says why
            log.warning("read-model catch-up failed: %s", type(exc).__name__)


async def _serve(
    settings: Settings,
    loader: Callable[[Settings, Callable[[str, float | None, str], None]], tuple[Any, Any]],
    log_filter: SafeLogFilter,
) -> int:
    check_host(settings)
    settings.ensure_dirs()
    token = load_or_create_token(settings.token_path)
    log_filter.add_secret(token)
    unix_sock = bind_unix(settings.socket_path)
    try:
        tcp_sock = bind_tcp(settings.host, settings.port)
    except BaseException:
        unix_sock.close()
        settings.socket_path.unlink(missing_ok=True)
        raise
    port = tcp_sock.getsockname()[1]
    settings = settings.replace(port=port)
    policy = SecurityPolicy(settings, token)
    runtime = Runtime(settings)
    asgi = cast("ASGIApp", create_app(runtime, policy))
    guard = ConnectionGuard(tcp_connection_limit(raise_fd_limit()))
    servers = [
        _Server(_config(SecurityGate(asgi, policy, "unix"), http=PeerCheckedH11)),
        _Server(
            _config(
                SecurityGate(asgi, policy, "tcp"),
                http=functools.partial(GuardedH11, guard=guard),
                backlog=TCP_BACKLOG,
            )
        ),
    ]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def _on_signal(signum: int) -> None:
        log.info("signal %s: shutting down", signal.Signals(signum).name)
        if stop.is_set():  # a second signal: do not wait any longer
            for srv in servers:
                srv.force_exit = True
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _on_signal, signum)

    tasks = [
        asyncio.create_task(servers[0].serve(sockets=[unix_sock]), name="unix"),
        asyncio.create_task(servers[1].serve(sockets=[tcp_sock]), name="tcp"),
    ]
    code = 0
    try:
        while not all(s.started for s in servers):
            if any(t.done() for t in tasks):
                raise StartupError("A listener failed to start (see the log above).")
            await asyncio.sleep(0.01)
        log.info("listening: unix=%s http=%s (loading)", settings.socket_path, settings.http_url)

        progress = ConsoleProgress(runtime)
        loading: asyncio.Future[tuple[Any, Any]] = _in_thread(lambda: loader(settings, progress))
        stopped: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        await asyncio.wait({loading, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if loading.done() and not stop.is_set():
            try:
                lumina, engines = loading.result()
            except Exception as exc:
                failure = (
                    exc
                    if isinstance(exc, errors.LuminaError)
                    else errors.LoadingFailed(f"Loading failed: {type(exc).__name__}: {exc}")
                )
                runtime.failure, runtime.status = failure, "failed"
                log.error("loading failed: %s", type(exc).__name__, exc_info=exc)
                action = f" {failure.action}" if failure.action else ""
                print(f"luminad: could not start: {failure.message}{action}", file=sys.stderr)
                code = 1
            else:
                runtime.timers = TimerClock(lumina, runtime.sessions.timer_fired)
                armed = await runtime.timers.start()  # timers set before a restart
                runtime.lumina, runtime.engines, runtime.status = lumina, engines, "ready"
                took = time.perf_counter() - progress.started
                log.info("%d running timer(s) re-armed", armed)
                log.info("models loaded in %.1f s", took)
                wyoming = Wyoming(runtime)
                try:
                    await wyoming.start()
                except (errors.LuminaError, OSError) as exc:
                    await wyoming.stop()
                    raise StartupError(f"Wyoming could not start: {exc}") from exc
                extra = f" wyoming={wyoming.url}" if wyoming.url else ""
                print(
                    f"luminad ready: unix={settings.socket_path} http={settings.http_url}{extra}",
                    flush=True,
                )
                follower = asyncio.create_task(_follow_log(lumina), name="follow-log")
                await stopped
                follower.cancel()
                await asyncio.gather(follower, return_exceptions=True)
                await wyoming.stop()
        stopped.cancel()
    finally:
        for srv in servers:
            srv.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        if runtime.timers is not None:
            await runtime.timers.close()
        lumina_done, engines_done = runtime.lumina, runtime.engines
        runtime.lumina, runtime.engines = None, None
        if lumina_done is not None:
            await asyncio.to_thread(lumina_done.close)
        if engines_done is not None:  # native models freed in order, not by the interpreter's exit
            await asyncio.to_thread(engines_done.close)
        settings.socket_path.unlink(missing_ok=True)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        log.info("stopped")
    return code


def setup_logging(settings: Settings) -> SafeLogFilter:
    """Log lines on stderr, each through the :class:`SafeLogFilter` (returned)."""
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    safe = SafeLogFilter()
    for handler in logging.getLogger().handlers:
        handler.addFilter(safe)
    # library loggers that could echo content stay quiet
    for name in ("httpx", "httpcore", "websockets", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return safe


def serve(
    settings: Settings,
    *,
    loader: Callable[[Settings, Callable[[str, float | None, str], None]], tuple[Any, Any]]
    | None = None,
) -> int:
    """Run the daemon until SIGTERM/SIGINT; the exit code."""
    log_filter = setup_logging(settings)
    try:
        return asyncio.run(_serve(settings, loader or load_runtime, log_filter))
    except StartupError as exc:
        print(f"luminad: {exc}", file=sys.stderr)
        return 2
