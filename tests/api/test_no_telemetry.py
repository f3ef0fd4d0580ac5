"""No telemetry, no accidental network: a full text turn opens no non-loopback connection."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.support.daemon import AUDIT_HOOK, Daemon

pytestmark = pytest.mark.e2e


def test_audit_hook_sees_network_attempts(tmp_path: Path) -> None:
    """The hook the daemon runs under does record a non-loopback connect and lookup."""
    log = tmp_path / "audit.log"
    probe = AUDIT_HOOK + (
        "\ns = socket.socket(); s.settimeout(0.05)\n"
        "try:\n    s.connect(('192.0.2.1', 9))\nexcept OSError:\n    pass\n"
        "try:\n    socket.getaddrinfo('example.invalid', 80)\nexcept OSError:\n    pass\n"
        "t = socket.socket(); t.settimeout(0.5)\n"
        "try:\n    t.connect(('127.0.0.1', 9))\nexcept OSError:\n    pass\n"
    )
    subprocess.run([sys.executable, "-c", probe, str(log)], check=True, timeout=60)
    text = log.read_text()
    assert "192.0.2.1" in text and "example.invalid" in text and "127.0.0.1" not in text


def test_full_text_turn_opens_no_outside_connection(daemon: Daemon) -> None:
    audit = daemon.settings.home / "net-audit.log"  # type: ignore[operator]
    with connect(daemon.ws_url(), additional_headers=daemon.auth_headers, open_timeout=30) as ws:
        ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "test", "tts": True}))
        assert json.loads(ws.recv(timeout=60))["type"] == "ready"
        ws.send(json.dumps({"type": "text", "text": "What is two plus two?"}))
        while True:
            frame = ws.recv(timeout=180)
            if isinstance(frame, str) and json.loads(frame)["type"] in ("assistant_done", "error"):
                assert json.loads(frame)["type"] == "assistant_done", frame
                break
    with daemon.unix() as client:
        assert client.get("/v1/health").status_code == 200
        client.post("/v1/memories", json={"text": "my favourite canary is zebra-7781"})
        client.get("/v1/memories", params={"q": "favourite canary zebra"})
    assert daemon.alive()
    log = daemon.log()
    for content in ("two plus two", "zebra-7781", "favourite canary"):
        assert content not in log.lower(), f"user content {content!r} reached the daemon log"
    attempts = audit.read_text() if audit.exists() else ""
    assert attempts == "", f"the daemon reached outside the machine:\n{attempts}"
