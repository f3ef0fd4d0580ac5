"""Start the real ``luminad serve`` as a subprocess for tests.

``run_daemon(home)`` sets ``LUMINA_HOME=home`` (shared model cache, a short runtime dir for the
Unix socket, an ephemeral TCP port), waits for the ``luminad ready:`` line and yields a
:class:`Daemon`; at exit it sends SIGTERM and waits. ``net_audit=path`` runs the daemon under a
``sys.addaudithook`` that appends every non-loopback network attempt (connect, sendto,
getaddrinfo of a non-local name) to ``path``.
"""

from __future__ import annotations

import atexit
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from luminad.settings import REPO_ROOT, Settings, load_settings

READY_PREFIX = "luminad ready: "
#: Model loading on 2 shared cores can take a while the first time.
READY_TIMEOUT_S = float(os.environ.get("LUMINA_TEST_READY_TIMEOUT", "600"))


def shared_cache_dir() -> Path:
    """The default platformdirs cache (filled by ``luminad prepare-models``), shared by tests."""
    return Path(os.environ.get("LUMINA_TEST_CACHE_DIR") or load_settings({}).cache_dir)


def runtime_dir() -> Path:
    """A fresh runtime dir for a daemon's socket, short (``sun_path`` is 108 bytes), removed
    when this process exits."""
    runtime = Path(tempfile.mkdtemp(prefix="lum", dir="/tmp"))
    atexit.register(shutil.rmtree, runtime, ignore_errors=True)
    return runtime


def daemon_env(home: Path, **extra: str) -> dict[str, str]:
    """A clean environment for a daemon rooted at ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUMINA_")}
    runtime = runtime_dir()
    env.update(
        {
            "LUMINA_HOME": str(home),
            "LUMINA_CACHE_DIR": str(shared_cache_dir()),
            "LUMINA_RUNTIME_DIR": str(runtime),
            "LUMINA_PORT": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


#: A ``sys.addaudithook`` that appends non-loopback network attempts to the file in argv[1].
AUDIT_HOOK = r"""
import ipaddress, socket, sys
_log = open(sys.argv[1], "a", buffering=1)
def _local(host):
    if host is None:
        return True
    host = host.decode() if isinstance(host, bytes) else str(host)
    if host in ("", "localhost") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False
def _hook(event, args):
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        sock, addr = args[0], args[-1]
        if getattr(sock, "family", None) == socket.AF_UNIX or not isinstance(addr, tuple):
            return
        if not _local(addr[0]):
            _log.write(f"{event} {addr!r}\n")
    elif event == "socket.getaddrinfo":
        if not _local(args[0]):
            _log.write(f"{event} {args[0]!r}\n")
sys.addaudithook(_hook)
"""
_AUDIT_PRELUDE = (
    AUDIT_HOOK
    + r"""
sys.argv = ["luminad", "serve"]
from luminad.__main__ import main
sys.exit(main(["serve"]))
"""
)


@dataclass
class Daemon:
    """A running daemon: its settings, token, URLs, and clients for both listeners."""

    settings: Settings
    token: str
    http_url: str
    socket_path: Path
    process: subprocess.Popen[str]
    log_path: Path
    output: list[str] = field(default_factory=list)
    #: The ``key=value`` fields of the ready line (``unix``, ``http``, ``wyoming`` when served).
    ready: dict[str, str] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return int(self.http_url.rsplit(":", 1)[1])

    def ws_url(self, path: str = "/v1/session") -> str:
        """The WebSocket URL (no credential in it: pass :attr:`auth_headers` to connect)."""
        return "ws://" + self.http_url.split("://", 1)[1] + path

    @property
    def auth_headers(self) -> dict[str, str]:
        """The token as a header (WebSocket handshakes included; never in a URL)."""
        return {"Authorization": f"Bearer {self.token}"}

    def http(self, **kwargs: Any) -> httpx.Client:
        """A TCP client with the Bearer token."""
        headers = {**self.auth_headers, **kwargs.pop("headers", {})}
        return httpx.Client(base_url=self.http_url, headers=headers, timeout=120, **kwargs)

    def unix(self, **kwargs: Any) -> httpx.Client:
        """A client over the Unix socket (no token)."""
        return httpx.Client(
            transport=httpx.HTTPTransport(uds=str(self.socket_path)),
            base_url="http://localhost",
            timeout=120,
            **kwargs,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, wait; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


def _limit_files(n: int) -> Callable[[], None]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))

    return limit


def _pump(proc: subprocess.Popen[str], lines: list[str], ready: threading.Event) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith(READY_PREFIX):
            ready.set()
    ready.set()  # EOF: the daemon exited


@contextmanager
def run_daemon(
    home: Path,
    *,
    env: Mapping[str, str] | None = None,
    net_audit: Path | None = None,
    timeout: float = READY_TIMEOUT_S,
    command: Sequence[str] | None = None,
    cwd: Path = REPO_ROOT,
    max_open_files: int | None = None,
) -> Iterator[Daemon]:
    """Start ``luminad serve`` for ``home``; yield it once ready; SIGTERM it at exit.
    ``command`` replaces ``python -m luminad serve`` (e.g. an installed ``luminad`` script);
    ``max_open_files`` sets its soft and hard limit of open files (RLIMIT_NOFILE)."""
    home.mkdir(parents=True, exist_ok=True)
    full_env = daemon_env(home, **dict(env or {}))
    settings = load_settings(full_env)
    log_path = home / "daemon.log"
    if net_audit is not None:
        cmd = [sys.executable, "-c", _AUDIT_PRELUDE, str(net_audit)]
    else:
        cmd = list(command or [sys.executable, "-m", "luminad", "serve"])
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            preexec_fn=None if max_open_files is None else _limit_files(max_open_files),
        )
    lines: list[str] = []
    ready = threading.Event()
    threading.Thread(target=_pump, args=(proc, lines, ready), daemon=True).start()
    daemon: Daemon | None = None
    try:
        ready.wait(timeout)
        line = next((x for x in lines if x.startswith(READY_PREFIX)), None)
        if line is None or proc.poll() is not None:
            raise RuntimeError(
                f"luminad did not get ready (exit {proc.poll()}); stdout={lines!r}\n"
                f"log tail:\n{log_path.read_text(errors='replace')[-4000:]}"
            )
        parts = dict(p.split("=", 1) for p in line[len(READY_PREFIX) :].split())
        daemon = Daemon(
            settings=settings.replace(port=int(parts["http"].rsplit(":", 1)[1])),
            token=settings.token_path.read_text().strip(),
            http_url=parts["http"],
            socket_path=Path(parts["unix"]),
            process=proc,
            log_path=log_path,
            output=lines,
            ready=parts,
        )
        yield daemon
    finally:
        if daemon is not None:
            daemon.stop()
        elif proc.poll() is None:
            proc.kill()
            proc.wait(10)
        shutil.rmtree(full_env["LUMINA_RUNTIME_DIR"], ignore_errors=True)


def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
