"""The privacy promises checked from outside, against the real daemon with the default
configuration's real models: what leaves the machine during a spoken turn with internet mode
on (Python's audit hook sees every connection), and canary strings sent through every path
that are found in no file and not in the daemon's log."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from uuid import uuid4

import pytest
from lumina_cli.main import main as lumina
from websockets.sync.client import connect

from luminad import protocol
from luminad.audit import scan_files
from tests.e2e.client import VoiceClient, silence
from tests.support.daemon import run_daemon
from tests.support.search_stub import SearchStub
from tests.support.speech import speak_pcm16

pytestmark = pytest.mark.e2e
RATE = 48000

#: An audit hook that logs EVERY internet connection (loopback too) with the time it was made.
ALL_CONNECTIONS = r"""
import socket, sys, time
_log = open(sys.argv[1], "a", buffering=1)
def _hook(event, args):
    if event == "socket.connect":
        sock, addr = args[0], args[-1]
        if getattr(sock, "family", None) in (socket.AF_INET, socket.AF_INET6):
            _log.write(f"{time.time():.6f} connect {addr[0]} {addr[1]}\n")
    elif event == "socket.getaddrinfo":
        _log.write(f"{time.time():.6f} getaddrinfo {args[0]} {args[1]}\n")
sys.addaudithook(_hook)
sys.argv = ["luminad", "serve"]
from luminad.__main__ import main
sys.exit(main(["serve"]))
"""


@pytest.fixture
def search() -> Iterator[SearchStub]:
    with SearchStub(title="Forecast", content="Sunny, 24 C.") as stub:
        yield stub


def connections(log: Path, start: float, end: float) -> list[str]:
    lines = log.read_text().splitlines() if log.exists() else []
    return [" ".join(x.split()[1:]) for x in lines if start <= float(x.split()[0]) <= end]


async def test_a_spoken_turn_with_internet_on_reaches_only_the_search_engine_after_the_ledger(
    tmp_path: Path, search: SearchStub, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    audit = tmp_path / "connections.log"
    env = {
        "LUMINA_INTERNET": "1",
        "LUMINA_SEARCH_URL": search.url,
        "LUMINA_LLM": "embedded",
        "LUMINA_MAX_REPLY_TOKENS": "32",
    }
    speech = speak_pcm16("What is the weather like in Lisbon today?", tmp_path, rate=RATE)
    command = [sys.executable, "-c", ALL_CONNECTIONS, str(audit)]
    with run_daemon(home, env=env, command=command) as d:
        c = await VoiceClient.connect(d.ws_url(), d.auth_headers)
        try:
            await c.hello(sample_rate=RATE)
            await c.send(protocol.Config(internet=True))
            await asyncio.sleep(0.5)
            start = time.time()
            await c.stream(silence(0.3, RATE), RATE)
            await c.stream(speech, RATE)
            await c.stream(silence(1.2, RATE), RATE)
            await c.wait_for(protocol.TurnTiming, 1, within=240)
            end = time.time()
            final = c.of(protocol.FinalTranscript)[0]
            assert "lisbon" in final.text.lower(), final.text

            # a typed turn with a secret: the query that leaves has no secret in it
            await c.send(protocol.Text(text="My PIN is 4921. Which bank in Lisbon is open?"))
            await c.wait_for(protocol.TurnTiming, 2, within=240)
            redacted = c.of(protocol.SecretRedacted)
            assert [r.kinds for r in redacted] == [["PIN"]]
            assert c.of(protocol.FinalTranscript)[1].text.startswith("My PIN is [redacted: PIN].")
        finally:
            await c.close()
        with d.unix() as http:
            ledger = http.get("/v1/egress").json()
        capsys.readouterr()
        assert lumina(["egress", "--json"], settings=d.settings) == 0
        assert json.loads(capsys.readouterr().out) == ledger  # `lumina egress`
        log = d.log()

    assert len(search.queries) == 2
    assert "lisbon" in search.queries[0][1].lower()
    assert "lisbon" in search.queries[1][1].lower() and "4921" not in search.queries[1][1]
    assert [e["kind"] for e in ledger] == ["web_search", "web_search"]
    assert {e["host"] for e in ledger} == {"127.0.0.1"}
    assert [e["query"] for e in reversed(ledger)] == [q for _, q in search.queries]
    for entry, (received, _) in zip(reversed(ledger), search.queries, strict=True):
        assert datetime.fromisoformat(entry["at"]).timestamp() <= received  # ledger first
    made = connections(audit, start, end)
    assert made and set(made) == {f"connect 127.0.0.1 {search.port}"}, made
    assert "4921" not in log and "lisbon" not in log.lower()


def test_canaries_sent_through_every_path_are_in_no_file_and_not_in_the_log(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    canary = {
        k: f"{k}{uuid4().hex[:10]}"
        for k in ("typed", "memory", "persona", "name", "voice", "avatar", "pref", "timer")
    }
    with run_daemon(home, env={"LUMINA_LLM": "embedded", "LUMINA_MAX_REPLY_TOKENS": "16"}) as d:
        with d.unix() as http:
            avatar = http.post(
                "/v1/avatars",
                json={
                    "name": f"Robin {canary['avatar']}",
                    "persona": f"Keep {canary['persona']} close.",
                    "voice": canary["voice"],
                },
            ).json()
            assert (
                http.post(
                    "/v1/memories", json={"text": f"the user collects {canary['memory']} stamps"}
                ).status_code
                == 201
            )
            http.put(
                "/v1/profile",
                json={"preferred_name": canary["name"], "preferences": {"style": canary["pref"]}},
            )
        with connect(d.ws_url(), additional_headers=d.auth_headers, open_timeout=30) as ws:
            ws.send(
                json.dumps(
                    {"type": "hello", "protocol": 1, "tts": False, "avatar_id": avatar["id"]}
                )
            )
            assert json.loads(ws.recv(timeout=60))["type"] == "ready"
            ws.send(
                json.dumps({"type": "text", "text": f"Please say {canary['typed']} back to me."})
            )
            while True:
                message = json.loads(ws.recv(timeout=240))
                if message["type"] in ("turn_timing", "error"):
                    break
            # a tool's arguments and a timer's label (the local intent runs set_timer)
            ws.send(
                json.dumps(
                    {"type": "text", "text": f"Set a timer for 10 minutes called {canary['timer']}"}
                )
            )
            calls = []
            while True:
                message = json.loads(ws.recv(timeout=240))
                if message["type"] == "tool_call":
                    calls.append(message)
                if message["type"] in ("turn_timing", "error"):
                    break
            assert [c["name"] for c in calls] == ["set_timer"]
            assert canary["timer"] in json.dumps(calls[0]["arguments"])
        with d.unix() as http:
            (timer,) = http.get("/v1/timers").json()
            assert timer["label"] == canary["timer"]
            turns = http.get("/v1/conversations").json()[0]["turns"]
            reply = next(t["text"] for t in turns if t["role"] == "assistant")
            assert http.get("/v1/profile").json()["preferred_name"] == canary["name"]
        log = d.log()
        settings = d.settings
        needles = [*canary.values(), *(w for w in reply.split() if len(w) > 12)]
        dirs = [settings.data_dir, settings.config_dir, settings.cache_dir, settings.runtime_dir]
        for root in dirs:
            _, hits = scan_files(root, needles)
            assert hits == {}, f"plain user content in {root}: {hits}"
        assert not any(n in log for n in needles)
