"""The daemon's life: loading progress, one ready line, SIGTERM without losing an acknowledged
write, restart on the same data, forget-me through the CLI, stale socket, refused LAN host."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from lumina_cli.main import main as lumina
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.support.daemon import Daemon, daemon_env, run_daemon, runtime_dir

pytestmark = pytest.mark.e2e


def test_sigterm_keeps_acknowledged_writes_and_forget_me_works_after_restart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    acknowledged: list[str] = []
    with run_daemon(home) as d:
        assert [x for x in d.output if x.startswith("luminad ready:")] == d.output[-1:]
        assert "loading" in d.log()  # model-loading progress went to the console
        token = d.token
        socket_path = d.socket_path

        def writer(i: int) -> None:
            try:
                with d.unix() as client:
                    r = client.post("/v1/memories", json={"text": f"note number {i}"})
                if r.status_code == 201:
                    acknowledged.append(r.json()["id"])
            except httpx.HTTPError:
                pass  # refused or cut off: not acknowledged

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        while not acknowledged and any(t.is_alive() for t in threads):
            threading.Event().wait(0.005)
        with connect(
            d.ws_url(), additional_headers=d.auth_headers, open_timeout=30
        ) as session:  # a voice session stays open
            session.send(json.dumps({"type": "hello", "protocol": 1, "tts": False}))
            assert json.loads(session.recv(timeout=60))["type"] == "ready"
            started = time.monotonic()
            code = d.stop()  # SIGTERM while writes are in flight
            assert code == 0, f"exit code {code}; daemon log:\n{d.log()[-4000:]}"
            assert time.monotonic() - started < 20
            with pytest.raises(ConnectionClosed):
                session.recv(timeout=10)
        for t in threads:
            t.join(30)
    assert acknowledged
    assert not socket_path.exists()

    with run_daemon(home) as d:
        assert d.token == token  # the token survives restarts
        with d.unix() as client:
            stored = {m["id"] for m in client.get("/v1/memories").json()}
        assert set(acknowledged) <= stored
        assert lumina(["forget-me", "--confirm", "forget me"], settings=d.settings) == 0
        out = capsys.readouterr().out
        assert "events shredded" in out
        with d.unix() as client:
            assert client.get("/v1/memories").json() == []
            assert client.get("/v1/audit/forget-me").json()["ok"] is True
            events = client.get("/v1/events", params={"type": "MemoryRemembered"}).json()
            assert events and all(e["data"] == "[shredded]" for e in events)


def test_refuses_a_lan_host_without_allow_lan(tmp_path: Path) -> None:
    env = daemon_env(tmp_path, LUMINA_HOST="0.0.0.0")
    r = subprocess.run(
        [sys.executable, "-m", "luminad", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2
    assert "LUMINA_ALLOW_LAN=1" in r.stderr
    assert "luminad ready" not in r.stdout


def test_second_daemon_on_the_same_socket_is_refused(daemon: Daemon) -> None:
    env = daemon_env(daemon.settings.home or Path("/nonexistent"))
    env["LUMINA_RUNTIME_DIR"] = str(daemon.socket_path.parent)
    r = subprocess.run(
        [sys.executable, "-m", "luminad", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "already running" in r.stderr
    assert daemon.socket_path.exists()  # the running daemon's socket is left alone
    with daemon.unix() as client:
        assert client.get("/v1/avatars").status_code == 200


def test_stale_socket_is_replaced(
    start_daemon: Callable[..., AbstractContextManager[Daemon]], tmp_path: Path
) -> None:
    import socket as _socket

    runtime = runtime_dir()
    stale = _socket.socket(_socket.AF_UNIX)
    stale.bind(str(runtime / "luminad.sock"))
    stale.close()  # a socket file nobody listens on (a daemon that crashed)
    env: dict[str, Any] = {"LUMINA_RUNTIME_DIR": str(runtime)}
    with start_daemon(env=env) as d, d.unix() as client:
        assert client.get("/v1/avatars").status_code == 200


def test_health_says_loading_until_the_models_are_in(tmp_path: Path) -> None:
    env = daemon_env(tmp_path / "home")
    socket_path = Path(env["LUMINA_RUNTIME_DIR"]) / "luminad.sock"
    proc = subprocess.Popen(
        [sys.executable, "-m", "luminad", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not socket_path.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        transport = httpx.HTTPTransport(uds=str(socket_path), retries=3)
        with httpx.Client(transport=transport, base_url="http://localhost", timeout=30) as c:
            first = c.get("/v1/health").json()
            assert first["status"] == "loading" and first["ok"] is False
            assert first["engines"]["daemon"]["action"]
            r = c.get("/v1/memories")
            assert r.status_code == 503 and r.json()["code"] == "loading" and r.json()["action"]
            assert proc.stdout is not None
            line = proc.stdout.readline()  # blocks until the models are in
            assert line.startswith("luminad ready: unix=")
            assert c.get("/v1/health").json()["status"] == "ready"
    finally:
        proc.terminate()
        assert proc.wait(60) == 0
