"""``lumina status``, ``lumina stop``, ``lumina start`` and ``lumina restart``: the daemon itself,
however it runs (login service, background, a terminal)."""

from __future__ import annotations

import argparse
import time

from lumina_cli.client import EXIT_NOT_RUNNING, NotRunning
from lumina_cli.registry import Context, command
from luminad.service import daemon_pid, service_manager, start_daemon, stop_daemon

#: How long `lumina start` waits for the models to load.
READY_WAIT_S = 600.0


@command("status", "is luminad running, where, and how it is started")
def status(args: argparse.Namespace, ctx: Context) -> int:
    manager = service_manager(ctx.settings)
    try:
        with ctx.client() as client:
            health = client.get("/v1/health")
    except NotRunning:
        ctx.console.print(f"luminad is not running (started by: {manager}). Start it: lumina start")
        return EXIT_NOT_RUNNING
    pid = daemon_pid(ctx.settings)
    ctx.console.print(
        f"luminad is {health.get('status', 'ready')} (pid {pid}, started by: {manager})"
    )
    ctx.console.print(f"  socket: {ctx.settings.socket_path}")
    ctx.console.print(f"  web:    {ctx.settings.http_url}  (log in: lumina open)")
    return 0


@command("stop", "stop luminad")
def stop(args: argparse.Namespace, ctx: Context) -> int:
    return stop_daemon(ctx.settings)


@command("start", "start luminad and wait until it is ready")
def start(args: argparse.Namespace, ctx: Context) -> int:
    code = start_daemon(ctx.settings)
    return code if code else _wait_ready(ctx)


@command("restart", "stop luminad, start it again and wait until it is ready")
def restart(args: argparse.Namespace, ctx: Context) -> int:
    code = stop_daemon(ctx.settings)
    if code:
        return code
    code = start_daemon(ctx.settings)
    return code if code else _wait_ready(ctx)


def _wait_ready(ctx: Context) -> int:
    deadline = time.monotonic() + READY_WAIT_S
    while time.monotonic() < deadline:
        try:
            with ctx.client() as client:
                if client.get("/v1/health").get("status") == "ready":
                    ctx.console.print("luminad is ready.")
                    return 0
        except NotRunning:
            pass
        time.sleep(0.5)
    ctx.err.print("luminad did not get ready; see `lumina status` and its log.")
    return 1
