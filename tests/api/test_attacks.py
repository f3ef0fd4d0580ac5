"""Attacks on the real daemon over real sockets, each test named after the attack it repels:
credentials that could leak, malformed requests (each a 4xx with its code, never ``internal``),
forged log lines, and audio-budget abuse."""

from __future__ import annotations

import base64
import errno
import json
import os
import resource
import socket
import subprocess
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection, connect

from luminad import protocol
from tests.support.daemon import Daemon, run_daemon

pytestmark = pytest.mark.e2e


# ---------------------------------------------------------------------------- raw HTTP
class RawHttp:
    """One keep-alive TCP connection that sends whatever bytes it is given (no client library
    in between to clean them up) and reads each response by its Content-Length."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.buf = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buf = None, b""

    def _read_until(self, marker: bytes) -> bytes:
        assert self.sock is not None
        while marker not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        head, _, self.buf = self.buf.partition(marker)
        return head

    def _read_n(self, n: int) -> bytes:
        assert self.sock is not None
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        """Status, headers (lower-case names) and body of the answer to ``request``; once more
        on a new connection when the server had closed the kept-alive one."""
        try:
            return self._send(request)
        except (ConnectionError, TimeoutError):
            self.close()
            return self._send(request)

    def _send(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        if self.sock is None:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
        try:
            self.sock.sendall(request)
        except ConnectionError:
            if not self.buf:  # an answer may have come before the server stopped reading
                self.sock.settimeout(5)
                self.buf = self.sock.recv(65536)
                self.sock.settimeout(60)
            if not self.buf:
                raise
        head = self._read_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while size := int(self._read_until(b"\r\n"), 16):
                body += self._read_n(size)
                self._read_n(2)
            self._read_until(b"\r\n")
        else:
            body = self._read_n(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body


def _request(
    daemon: Daemon,
    method: str,
    target: bytes,
    body: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> bytes:
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1:%d" % daemon.port]
    lines.append(f"Authorization: Bearer {daemon.token}".encode())
    for name, value in headers or [(b"Content-Type", b"application/json")]:
        lines.append(name + b": " + value)
    lines.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _answer(daemon: Daemon, method: str, target: bytes, body: bytes = b"") -> tuple[int, Any]:
    raw = RawHttp(daemon.port)
    try:
        status, _, data = raw.send(_request(daemon, method, target, body))
    finally:
        raw.close()
    return status, json.loads(data) if data.startswith(b"{") else data


def _deep(depth: int) -> bytes:
    return b'{"text": ' + b"[" * depth + b"]" * depth + b"}"


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", b"/v1/avatars/%00"),
        ("GET", b"/index.html%00"),
        ("GET", b"/%00/../favicon.svg"),
        ("DELETE", b"/v1/memories/ab%00cd"),
        ("GET", b"/v1/conversations/%0d%0aSet-Cookie:%20x=1"),
    ],
)
def test_a_nul_or_control_byte_in_the_path_is_bad_message(
    daemon: Daemon, method: str, target: bytes
) -> None:
    status, body = _answer(daemon, method, target)
    assert status == 400, (status, body)
    assert body["code"] == "bad_message" and body["action"]


def test_json_nested_30000_deep_over_http_is_bad_message(daemon: Daemon) -> None:
    for method, path in (
        ("POST", b"/v1/memories"),
        ("POST", b"/v1/avatars"),
        ("PUT", b"/v1/profile"),
    ):
        status, body = _answer(daemon, method, path, _deep(30_000)[: protocol.MAX_FRAME_BYTES])
        assert status == 400, (path, status, body)
        assert body["code"] == "bad_message", body
    assert "RecursionError" not in daemon.log()


@pytest.mark.parametrize(
    "body",
    [
        b'{"text": "caf\xe9 au lait"}',  # latin-1, not UTF-8
        b"\xff\xfe{\x00}\x00",
        b'{"text": "\xed\xa0\x80"}',  # a UTF-8-encoded surrogate
    ],
)
def test_a_body_that_is_not_utf8_is_bad_message(daemon: Daemon, body: bytes) -> None:
    status, answer = _answer(daemon, "POST", b"/v1/memories", body)
    assert status == 400, (status, answer)
    assert answer["code"] == "bad_message"


@pytest.mark.parametrize(
    ("method", "target", "body"),
    [
        ("GET", b"/v1/memories?limit=" + b"9" * 5000, b""),
        ("GET", b"/v1/events?after=1e999&limit=-1", b""),
        ("GET", b"/v1/memories?limit=99999999999999999999999", b""),
        ("POST", b"/v1/avatars", b'{"name": "x", "persona": 1' + b"0" * 5000 + b"}"),
        ("POST", b"/v1/memories", b'{"text": 1e999}'),
        ("PUT", b"/v1/profile", b'{"preferred_name": -' + b"9" * 400 + b"}"),
    ],
)
def test_huge_numbers_are_bad_message(
    daemon: Daemon, method: str, target: bytes, body: bytes
) -> None:
    status, answer = _answer(daemon, method, target, body)
    assert status == 400, (status, answer)
    assert answer["code"] == "bad_message"


def test_nul_bytes_in_json_strings_are_stored_or_refused_never_internal(daemon: Daemon) -> None:
    status, answer = _answer(daemon, "POST", b"/v1/avatars", b'{"name": "A\\u0000da"}')
    assert status == 201, (status, answer)
    assert answer["name"] == "A\x00da"
    status, _ = _answer(daemon, "DELETE", f"/v1/avatars/{answer['id']}".encode())
    assert status == 204


def _session(daemon: Daemon) -> ClientConnection:
    return connect(
        daemon.ws_url(), additional_headers=daemon.auth_headers, open_timeout=30, max_size=None
    )


def _next_json(ws: ClientConnection) -> dict[str, Any]:
    while True:
        frame = ws.recv(timeout=60)
        if isinstance(frame, str):
            return dict(json.loads(frame))


def test_json_nested_30000_deep_in_a_websocket_message_is_bad_message(daemon: Daemon) -> None:
    with _session(daemon) as ws:
        for message in (
            b"[" * 30_000 + b"]" * 30_000,
            b'{"type": "ping", "nonce": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
        ):
            ws.send(message[: protocol.MAX_FRAME_BYTES].decode())
            answer = _next_json(ws)
            assert answer["type"] == "error" and answer["code"] == "bad_message", answer
        ws.send(json.dumps({"type": "ping", "nonce": "still here"}))
        assert _next_json(ws) == {"type": "pong", "nonce": "still here"}
    assert "RecursionError" not in daemon.log()


def test_a_newline_in_hello_client_cannot_forge_a_log_line(daemon: Daemon) -> None:
    forged = "0:0 ERROR luminad: FORGED"  # within the 32 characters that are logged
    with _session(daemon) as ws:
        hello = {"type": "hello", "protocol": 1, "client": f"w\n{forged}\r\x1b[", "tts": False}
        ws.send(json.dumps(hello))
        assert _next_json(ws)["type"] == "ready"
    time.sleep(0.5)
    lines = daemon.log().splitlines()
    assert not any(line.startswith(forged) for line in lines)
    assert any(f"client=w\\n{forged}\\x0d\\x1b[" in line for line in lines)  # escaped, in place
    assert "\x1b" not in daemon.log()


def test_a_refused_legacy_audio_message_does_not_consume_the_audio_budget(
    daemon: Daemon,
) -> None:
    with _session(daemon) as ws:
        ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "t", "sample_rate": 16000}))
        assert _next_json(ws)["type"] == "ready"
        # almost 64 KiB of base64 at a rate other than hello's: refused; ~3 s of audio at 8 kHz
        pcm = base64.b64encode(b"\x00\x00" * 23_000).decode()
        ws.send(json.dumps({"type": "audio", "pcm16_b64": pcm, "sample_rate": 8000}))
        assert _next_json(ws)["code"] == "bad_message"
        # the next real frame, at once, is taken (it was answered rate_limited before)
        ws.send(b"\x00\x00" * 320)
        ws.send(json.dumps({"type": "ping", "nonce": "after"}))
        assert _next_json(ws) == {"type": "pong", "nonce": "after"}


# ---------------------------------------------------------------------------- fuzz
_ROUTES = [
    "/v1/health",
    "/v1/avatars",
    "/v1/avatars/{id}",
    "/v1/profile",
    "/v1/conversations",
    "/v1/conversations/{id}",
    "/v1/memories",
    "/v1/memories/{id}",
    "/v1/events",
    "/v1/audit/forget-me",
    "/v1/metrics/latency",
    "/v1/login-links",
    "/login",
    "/",
    "/index.html",
    "/js/{id}",
    "/schema",
    "/{id}",
]
_FIELDS = ["text", "name", "persona", "style", "voice", "preferred_name", "code", "confirm", "q"]
_QUERY = ["limit", "q", "after", "canary", "type", "x"]
_SPECIAL = ["%00", "..", "%2e%2e", "%ff", "%c0%af", "a" * 300, "-1", "1e999", "9" * 5000]
_NUMBERS = [
    "0",
    "-1",
    "1e999",
    "-1e999",
    "9" * 5000,
    "-" + "9" * 400,
    "1" + "0" * 310,
    "0.0e-99999",
]
_SCALARS = [*_NUMBERS, "null", "true", '""', '"a\\u0000b"', '"\\ud800"', '"\\udfff\\ud800"', '"hi"']
_DEPTHS = [0, 1, 2, 50, 5_000, 30_000]
_CTYPES = [b"application/json", b"text/plain", b"x/\xff"]
_HEADERS = [b"Accept", b"Origin", b"Cookie", b"X-Forwarded-Host", b"Range"]
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

Request = tuple[bytes, str, bytes, list[tuple[bytes, bytes]]]


def _pick(seq: list[Any], raw: int) -> Any:
    return seq[raw % len(seq)]


def _segment(raw: bytes, n: int) -> str:
    """A path segment or query value: arbitrary bytes, percent-encoded, or a known nasty one."""
    if n % 3 == 0:
        return _pick(_SPECIAL, n // 3)
    return "".join(f"%{c:02X}" if n % 2 else chr(0x21 + c % 94) for c in raw)


@st.composite
def _http_requests(draw: Any) -> Request:
    """One request: target, method, body and headers, as raw bytes. One draw (hypothesis's
    cost is per draw): the first 24 bytes choose, the rest is the text."""
    data = draw(st.binary(min_size=24, max_size=48))
    n = [int.from_bytes(data[k : k + 2], "little") for k in range(0, 24, 2)]
    raw = data[24:]
    path = _pick(_ROUTES, n[0]).replace("{id}", _segment(raw[:12], n[1]))
    if n[2] % 2:
        pairs = [(_pick(_QUERY, n[3 + k]), _segment(raw[12:], n[4 + k])) for k in range(n[2] % 3)]
        path += "?" + "&".join(f"{k}={v}" for k, v in pairs)
    target = "".join(c if 0x20 < ord(c) < 0x7F else f"%{ord(c) & 0xFF:02X}" for c in path)
    depth = _pick(_DEPTHS, n[6])
    nested = "[" * depth + _pick(_SCALARS, n[7]) + "]" * depth
    fields = {_pick(_FIELDS, n[8 + k]): _pick(_SCALARS, n[9 + k] // 7) for k in range(n[8] % 3)}
    members = ", ".join(f'"{k}": {v}' for k, v in fields.items())
    body = _pick(
        [
            f"{{{members}}}".encode(),
            nested.encode(),
            f'{{"text": {nested}}}'.encode(),
            raw,
            b'{"text": "caf\xe9"}',
            b"",
        ],
        n[10],
    )[: protocol.MAX_FRAME_BYTES]
    headers = [(b"Content-Type", _pick(_CTYPES, n[11]))]
    if n[11] % 4 == 0:
        value = bytes(c for c in raw if c not in b"\r\n")
        headers.append((_pick(_HEADERS, n[5]), value))
    return target.encode(), _pick(_METHODS, n[1] // 3), body, headers


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
def test_ten_thousand_malformed_http_requests_get_no_internal(
    start_daemon: Callable[..., AbstractContextManager[Daemon]],
) -> None:
    with start_daemon() as daemon:  # its own store: the fuzz writes avatars, memories, profile
        _fuzz_http(daemon)


def _fuzz_http(daemon: Daemon) -> None:
    raw = RawHttp(daemon.port)
    answered: dict[int, int] = {}
    sent = 0

    @settings(
        max_examples=1000, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(st.lists(_http_requests(), min_size=10, max_size=10))
    def batch(requests: list[Request]) -> None:
        nonlocal sent
        for target, method, body, headers in requests:
            status, _, data = raw.send(_request(daemon, method, target, body, headers))
            sent += 1
            answered[status] = answered.get(status, 0) + 1
            assert status < 500, (method, target[:200], body[:200], status, data[:300])
            assert b'"internal"' not in data, (method, target[:200], data[:300])

    try:
        batch()
    finally:
        raw.close()
    assert sent >= 10_000
    assert sum(n for s, n in answered.items() if 400 <= s < 500) > sent // 2, answered
    assert "internal error" not in daemon.log()


@pytest.mark.parametrize("path", [b"/" + b"a" * 300, b"/index.html/x", b"/js/" + b"b/" * 2000])
def test_impossible_file_names_are_not_found(daemon: Daemon, path: bytes) -> None:
    status, body = _answer(daemon, "GET", path)
    assert status == 404, (status, body)


# ---------------------------------------------------------------------------- floods
FLOOD = 1100
#: The daemon's file limit in this test: the common default that 1,100 connections exhaust.
DAEMON_FILES = 1024


def test_1100_half_open_connections_leave_the_socket_and_a_real_client_answered(
    start_daemon: Callable[..., AbstractContextManager[Daemon]],
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < FLOOD + 200:
        pytest.fail(f"this test opens {FLOOD} sockets: raise the hard limit of open files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4 * FLOOD), hard))
    held: list[socket.socket] = []
    try:
        with start_daemon(max_open_files=DAEMON_FILES) as daemon:
            for i in range(FLOOD):
                sock = socket.socket()
                sock.settimeout(30)
                sock.connect(("127.0.0.1", daemon.port))
                if i % 2:  # half of them start a request and never finish it (slowloris)
                    sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                held.append(sock)
            with daemon.unix() as unix:
                assert unix.get("/v1/health").json()["status"] == "ready"
            with daemon.http() as client:
                assert client.get("/v1/avatars").status_code == 200
            with _session(daemon) as ws:
                ws.send(json.dumps({"type": "ping", "nonce": "flood"}))
                assert _next_json(ws) == {"type": "pong", "nonce": "flood"}
            open_files = len(os.listdir(f"/proc/{daemon.process.pid}/fd"))
            assert open_files < DAEMON_FILES, open_files
            assert "Too many open files" not in daemon.log()
    finally:
        for sock in held:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# ---------------------------------------------------------------------------- full disk
def _fill(path: Path) -> None:
    """Write zeros into ``path`` until the file system says it is full."""
    with path.open("wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc


def _turn(daemon: Daemon, text: str) -> dict[str, Any]:
    """Start a session and send one typed turn; the first `assistant_done` or `error` (a full
    disk may refuse the session's new conversation already)."""
    with _session(daemon) as ws:
        ws.send(json.dumps({"type": "hello", "protocol": 1, "client": "t", "tts": False}))
        ready = _next_json(ws)
        if ready["type"] == "error":
            return ready
        ws.send(json.dumps({"type": "text", "text": text}))
        while True:
            message = _next_json(ws)
            if message["type"] in ("assistant_done", "error"):
                return message


def test_a_full_disk_answers_storage_full_writes_nothing_and_recovers(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("this test mounts a small tmpfs: run it as root (CI does)")
    home = tmp_path / "home"
    data = home / "data"
    data.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(data)], check=True)
    try:
        with run_daemon(home) as daemon, daemon.unix() as api:
            assert api.post("/v1/memories", json={"text": "before the disk filled"}).is_success
            assert _turn(daemon, "Hello!")["type"] == "assistant_done"
            _fill(data / "filler")
            # SQLite may still reuse free pages of its files: write until it cannot
            for i in range(500):
                r = api.post("/v1/memories", json={"text": f"note {i} while full"})
                if r.status_code != 201:
                    break
            else:
                raise AssertionError("500 memories were stored on a full disk")
            assert r.status_code == 507, r.text
            body = r.json()
            assert body["code"] == "storage_full" and body["action"]
            refused = f"note {i} while full"
            answer = _turn(daemon, "Are you still there?")
            assert answer["type"] == "error" and answer["code"] == "storage_full", answer
            # nothing half-written: the refused memory is nowhere, the log verifies
            texts = [m["text"] for m in api.get("/v1/memories").json()]
            assert refused not in texts
            # space comes back: everything works again, without a restart
            (data / "filler").unlink()
            r = api.post("/v1/memories", json={"text": "after the disk was freed"})
            assert r.status_code == 201, r.text
            assert _turn(daemon, "Hello again!")["type"] == "assistant_done"
            texts = [m["text"] for m in api.get("/v1/memories").json()]
            assert "after the disk was freed" in texts and refused not in texts
            assert "internal error" not in daemon.log()
    finally:
        subprocess.run(["umount", "-l", str(data)], check=False)
