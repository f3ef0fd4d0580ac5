"""``/v1/session`` over real sockets against the real daemon: hello/ready, text turns through the
real VoiceSession and LLM, reconnect with history, and every malformed-input rule."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection, connect, unix_connect

from luminad import protocol
from tests.support.daemon import Daemon

pytestmark = pytest.mark.e2e
MAX = protocol.MAX_FRAME_BYTES


def _recv(ws: ClientConnection, timeout: float = 60) -> dict[str, Any]:
    """The next JSON message (binary frames are skipped)."""
    while True:
        frame = ws.recv(timeout=timeout)
        if isinstance(frame, str):
            return dict(json.loads(frame))


def _hello(ws: ClientConnection, **fields: Any) -> dict[str, Any]:
    ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "test", "tts": False, **fields}))
    ready = _recv(ws)
    assert ready["type"] == "ready", ready
    return ready


@pytest.fixture
def ws(daemon: Daemon) -> Iterator[ClientConnection]:
    with connect(
        daemon.ws_url(), additional_headers=daemon.auth_headers, open_timeout=30, max_size=None
    ) as conn:
        yield conn


def _events_end(daemon: Daemon) -> int:
    with daemon.unix() as client:
        last = 0
        while batch := client.get("/v1/events", params={"after": last, "limit": 1000}).json():
            last = batch[-1]["position"]
        return last


def _turn(ws: ClientConnection, text: str) -> tuple[str, dict[str, Any]]:
    ws.send(json.dumps({"type": "text", "text": text}))
    deltas: list[str] = []
    done: dict[str, Any] | None = None
    while True:
        msg = _recv(ws, timeout=180)
        if msg["type"] == "assistant_delta":
            deltas.append(msg["text"])
        elif msg["type"] == "assistant_done":
            done = msg
        elif msg["type"] == "turn_timing" and done is not None:
            # the session's last word on a turn: after it the reply is stored
            return "".join(deltas), done
        elif msg["type"] == "error":
            raise AssertionError(msg)


# ---------------------------------------------------------------------------- basics
def test_hello_ready_ping_pong(ws: ClientConnection) -> None:
    ready = _hello(ws)
    assert ready["avatar"]["name"] == "Lumina"
    assert ready["history"] == [] and ready["conversation_id"] and ready["session_id"]
    assert ready["health"]["protocol"] == 1
    ws.send(json.dumps({"type": "ping", "nonce": "n1"}))
    assert _recv(ws) == {"type": "pong", "nonce": "n1"}


def test_unix_socket_session_needs_no_token(daemon: Daemon) -> None:
    with unix_connect(str(daemon.socket_path), uri="ws://localhost/v1/session") as conn:
        _hello(conn)


def test_binary_before_hello_is_bad_message_and_session_stays_usable(ws: ClientConnection) -> None:
    ws.send(b"\x00\x01" * 100)
    err = _recv(ws)
    assert err["type"] == "error" and err["code"] == "bad_message" and err["action"]
    ws.send(json.dumps({"type": "text", "text": "hi"}))
    assert _recv(ws)["code"] == "bad_message"
    _hello(ws)
    ws.send(json.dumps({"type": "hello", "protocol": 1}))
    assert _recv(ws)["code"] == "bad_message"


def test_unsupported_protocol(ws: ClientConnection) -> None:
    ws.send(json.dumps({"type": "hello", "protocol": 99}))
    assert _recv(ws)["code"] == "unsupported_protocol"
    _hello(ws)


def test_oversized_frames_are_frame_too_large(ws: ClientConnection) -> None:
    ws.send(b"\x00" * (MAX + 2))  # before hello: still the size rule first
    assert _recv(ws)["code"] == "frame_too_large"
    _hello(ws)
    ws.send(b"\x00" * (MAX + 2))
    assert _recv(ws)["code"] == "frame_too_large"
    ws.send(json.dumps({"type": "text", "text": "x" * (MAX + 10)}))
    assert _recv(ws)["code"] == "frame_too_large"
    ws.send(json.dumps({"type": "ping", "nonce": "still here"}))
    assert _recv(ws)["type"] == "pong"


def test_audio_faster_than_twice_real_time_is_rate_limited(ws: ClientConnection) -> None:
    _hello(ws, sample_rate=16000)
    frame = b"\x00\x00" * 320  # 20 ms of silence
    for _ in range(400):  # 8 s of audio as fast as the socket takes it
        ws.send(frame)
    ws.send(json.dumps({"type": "ping", "nonce": "after"}))
    codes = []
    while True:
        msg = _recv(ws)
        if msg["type"] == "pong":
            break
        codes.append(msg.get("code"))
    assert "rate_limited" in codes
    assert set(codes) <= {"rate_limited", None}


def test_config_internet_refused_when_disabled(ws: ClientConnection) -> None:
    _hello(ws)
    ws.send(json.dumps({"type": "config", "internet": True}))
    assert _recv(ws)["code"] == "internet_disabled"
    ws.send(json.dumps({"type": "config", "tts": False}))
    ws.send(json.dumps({"type": "cancel", "reason": "user"}))
    ws.send(json.dumps({"type": "ping"}))
    assert _recv(ws)["type"] == "pong"


# ---------------------------------------------------------------------------- text turns
def test_text_turn_streams_is_stored_and_comes_back_on_reconnect(daemon: Daemon) -> None:
    with connect(daemon.ws_url(), additional_headers=daemon.auth_headers, open_timeout=30) as ws:
        ready = _hello(ws)
        conversation_id = ready["conversation_id"]
        streamed, done = _turn(ws, "Hello! Please answer in one short sentence.")
        assert done["text"].strip()
        assert streamed.strip() == done["text"].strip()
        turn_id = done["turn_id"]
    with daemon.unix() as client:
        # VoiceSession stores the reply right after sending assistant_done: allow it a moment
        deadline = time.monotonic() + 15
        while True:
            conv = client.get(f"/v1/conversations/{conversation_id}").json()
            if len(conv["turns"]) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        roles = [t["role"] for t in conv["turns"]]
        assert roles == ["user", "assistant"]
        assert conv["turns"][0]["text"] == "Hello! Please answer in one short sentence."
        assert conv["turns"][1]["text"] == done["text"]
        events = client.get("/v1/events", params={"limit": 1000}).json()
        assert any(e["aggregate_id"] == conversation_id for e in events)
    with connect(daemon.ws_url(), additional_headers=daemon.auth_headers, open_timeout=30) as ws:
        again = _hello(ws, conversation_id=conversation_id)
        assert again["conversation_id"] == conversation_id
        history = again["history"]
        assert [h["role"] for h in history] == ["user", "assistant"]
        assert history[1]["text"] == done["text"] and history[1]["turn_id"] == turn_id
    with connect(daemon.ws_url(), additional_headers=daemon.auth_headers, open_timeout=30) as ws:
        ws.send(json.dumps({"type": "hello", "protocol": 1, "conversation_id": "nope"}))
        assert _recv(ws)["code"] in {"conversation_not_found", "bad_message"}


def test_sixty_typed_turns_back_to_back_keep_every_word(daemon: Daemon) -> None:
    """A new turn interrupts the reply in flight, never the user's words."""
    texts = [f"Message {i}: please just say okay." for i in range(60)]
    with connect(
        daemon.ws_url(), additional_headers=daemon.auth_headers, open_timeout=30, max_size=None
    ) as ws:
        ready = _hello(ws)
        for text in texts:
            ws.send(json.dumps({"type": "text", "text": text}))
        last_turn: str | None = None
        while True:  # the last turn runs to its end
            msg = _recv(ws, timeout=180)
            assert msg["type"] != "error", msg
            if msg["type"] == "final_transcript" and msg["text"] == texts[-1]:
                last_turn = msg["turn_id"]
            if msg["type"] == "turn_timing" and msg["turn_id"] == last_turn:
                break
    with daemon.unix() as client:
        conv = client.get(f"/v1/conversations/{ready['conversation_id']}").json()
        metrics = client.get("/v1/metrics/latency").json()
    users = [t for t in conv["turns"] if t["role"] == "user"]
    assert [t["text"] for t in users] == texts
    replies = {t["turn_id"]: t for t in conv["turns"] if t["role"] == "assistant"}
    assert set(replies) == {t["turn_id"] for t in users}  # each answered or marked interrupted
    assert not replies[last_turn]["interrupted"]
    interrupted = sum(r["interrupted"] for r in replies.values())
    # every turn counted: the interrupted ones are timed too, and said so
    assert metrics["outcomes"]["interrupted"] >= interrupted
    assert metrics["outcomes"]["completed"] >= 60 - interrupted


# ---------------------------------------------------------------------------- fuzzing
_TAGS = ["hello", "audio", "end", "text", "cancel", "config", "ping"]
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
_wrong_types = st.builds(
    lambda tag, fields: json.dumps({"type": tag, **fields}),
    st.sampled_from(_TAGS),
    st.dictionaries(
        st.sampled_from(
            [
                "text",
                "protocol",
                "sample_rate",
                "reason",
                "tts",
                "voice",
                "internet",
                "pcm16_b64",
                "nonce",
                "avatar_id",
                "conversation_id",
                "client",
            ]
        ),
        _json_values,
        min_size=1,
        max_size=3,
    ),
)
_unknown_type = st.builds(
    lambda tag, fields: json.dumps({"type": tag, **fields}),
    st.text(max_size=15).filter(lambda t: t not in _TAGS),
    st.dictionaries(st.text(max_size=8), _json_values, max_size=3),
)
_bad_json = st.text(max_size=60)
_not_objects = _json_values.map(json.dumps)
_oversized = st.integers(MAX + 1, MAX + 256).map(lambda n: "x" * n)
_odd_binary = st.integers(0, 50).map(lambda n: b"\x01" * (2 * n + 1))
_big_binary = st.integers(MAX + 1, MAX + 256).map(lambda n: b"\x00" * n)


def _malformed(message: str | bytes) -> bool:
    """True when the daemon must answer ``error`` (the strategies rarely make a valid one)."""
    if isinstance(message, bytes):
        return True
    if len(message.encode()) > MAX:
        return True
    try:
        decoded = protocol.decode_client(message)
    except Exception:
        return True
    return isinstance(decoded, protocol.Hello)  # a second hello is refused too


_messages = st.one_of(
    _bad_json, _not_objects, _wrong_types, _unknown_type, _oversized, _odd_binary, _big_binary
).filter(_malformed)


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
def test_ten_thousand_malformed_messages(daemon: Daemon) -> None:
    sent = 0
    started = time.monotonic()
    with connect(
        daemon.ws_url(), additional_headers=daemon.auth_headers, open_timeout=30, max_size=None
    ) as ws:
        for _ in range(20):  # binary before hello
            ws.send(b"\x00\x00" * 10)
            assert _recv(ws)["code"] == "bad_message"
            sent += 1
        ready = _hello(ws)
        before = _events_end(daemon)

        @settings(
            max_examples=250,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(st.lists(_messages, min_size=40, max_size=40))
        def batch(messages: list[str | bytes]) -> None:
            nonlocal sent
            for m in messages:
                ws.send(m)
            for m in messages:
                reply = _recv(ws)
                assert reply["type"] == "error", (m[:200], reply)
                assert reply["code"] in {
                    "bad_message",
                    "frame_too_large",
                    "unsupported_protocol",
                    "rate_limited",
                }, reply
                assert reply["message"]
            sent += len(messages)

        batch()
        ws.send(json.dumps({"type": "ping", "nonce": "alive"}))
        assert _recv(ws) == {"type": "pong", "nonce": "alive"}
        assert sent >= 10_000
        assert _events_end(daemon) == before
        with daemon.unix() as client:
            conv = client.get(f"/v1/conversations/{ready['conversation_id']}").json()
            assert conv["turns"] == []
    assert daemon.alive()
    print(f"{sent} malformed messages in {time.monotonic() - started:.1f} s")
