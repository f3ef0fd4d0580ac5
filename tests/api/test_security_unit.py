"""The security policy's pure parts: token file, Host and Origin rules, the audio rate limiter."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from luminad.api.credentials import LoginCodes, load_or_create_token, new_session, session_valid
from luminad.api.listeners import StartupError, check_host, is_loopback
from luminad.api.security import AudioRateLimiter, SecurityPolicy
from luminad.settings import load_settings


def test_token_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "config" / "token"
    token = load_or_create_token(path)
    assert len(bytes.fromhex(token)) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_token(path) == token  # stable across starts


def test_a_session_credential_is_not_the_token_and_dies_with_it() -> None:
    token, other = "a" * 64, "b" * 64
    session = new_session(token)
    assert token not in session and session != new_session(token)
    assert session_valid(token, session)
    assert not session_valid(other, session)  # a new token ends every session
    nonce, _, mac = session.partition(".")
    assert not session_valid(token, f"{nonce}.{'0' * len(mac)}")
    assert not session_valid(token, token) and not session_valid(token, "")


def test_a_login_code_works_once_and_expires() -> None:
    clock = _Clock()
    codes = LoginCodes(clock=clock)
    code = codes.issue()
    assert codes.redeem(code) and not codes.redeem(code)
    late = codes.issue()
    clock.t += codes.ttl_s + 1
    assert not codes.redeem(late)
    assert not codes.redeem("made-up")


def _policy(**env: str) -> SecurityPolicy:
    settings = load_settings({"LUMINA_HOME": "/nonexistent", **env})
    return SecurityPolicy(settings, "t" * 64)


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("127.0.0.1", True),
        ("127.0.0.1:8765", True),
        ("localhost:8765", True),
        ("LOCALHOST", True),
        ("[::1]:8765", True),
        ("[::1]", True),
        ("127.0.0.1:9999", False),
        ("evil.com", False),
        ("evil.com:8765", False),
        ("127.0.0.1.evil.com", False),
        ("localhost.evil.com:8765", False),
        ("", False),
        (None, False),
        ("[::1]x", False),
        ("0.0.0.0:8765", False),
    ],
)
def test_host_allowlist(host: str | None, ok: bool) -> None:
    assert _policy().host_allowed(host) is ok


def test_origin_allowlist() -> None:
    policy = _policy(LUMINA_ALLOWED_ORIGINS="https://app.example")
    assert policy.origin_allowed(None)
    assert policy.origin_allowed("http://127.0.0.1:8765")
    assert policy.origin_allowed("http://localhost:8765/")
    assert policy.origin_allowed("https://app.example")
    assert not policy.origin_allowed("http://evil.com")
    assert not policy.origin_allowed("http://127.0.0.1:1234")
    assert not policy.origin_allowed("null")


def test_non_loopback_host_refused_unless_allow_lan() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    with pytest.raises(StartupError, match="LUMINA_ALLOW_LAN"):
        check_host(load_settings({"LUMINA_HOST": "0.0.0.0"}))
    check_host(load_settings({"LUMINA_HOST": "0.0.0.0", "LUMINA_ALLOW_LAN": "1"}))


class _Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _allow(limiter: AudioRateLimiter, n_bytes: int, rate: int) -> bool:
    """What the session does with a frame: refused when not ready, else accepted and spent."""
    if not limiter.ready():
        return False
    limiter.spend(n_bytes, rate)
    return True


def test_rate_limiter_allows_real_time_and_a_burst_refuses_flooding() -> None:
    clock = _Clock()
    limiter = AudioRateLimiter(clock=clock)
    frame = 16000 * 2 // 50  # 20 ms at 16 kHz
    # real time for 10 s: always allowed
    for _ in range(500):
        assert _allow(limiter, frame, 16000)
        clock.t += 0.02
    # 1.9x real time for 5 s: allowed
    for _ in range(250):
        assert _allow(limiter, frame, 16000)
        clock.t += 0.02 / 1.9
    # a burst: about a second of audio at once is fine, then flooding is refused
    limiter = AudioRateLimiter(clock=clock)
    accepted = 0
    for _ in range(200):  # 4 s of audio in no time
        accepted += _allow(limiter, frame, 16000)
    assert 40 <= accepted <= 60
    # 3x real time for 5 s: about a third refused
    refused = 0
    for _ in range(250):
        refused += not _allow(limiter, frame, 16000)
        clock.t += 0.02 / 3
    assert refused > 50


def test_log_lines_lose_credentials_and_control_characters() -> None:
    from luminad.api.access_log import escape_controls, redact

    token = "f" * 64
    session = new_session(token)
    line = (
        f'WebSocket /v1/session?token={token}&x=1 "Bearer {session}" '
        f"lumina.session.{session} /#login=abc postgresql://u:pw-9@h/db"
    )
    out = redact(line, frozenset({token}))
    for secret in (token, session, "abc", "pw-9"):
        assert secret not in out
    assert "x=1" in out and "postgresql://u:" in out
    assert escape_controls("a\nb\r\x1b[2J\x00\u2028") == "a\\nb\\x0d\\x1b[2J\\x00\\u2028"


@pytest.mark.parametrize("target", ["/etc/passwd", "TOKEN"])
def test_a_symlink_out_of_the_web_dir_is_not_served(tmp_path: Path, target: str) -> None:
    from litestar.testing import TestClient

    from luminad.api.app import create_app
    from luminad.api.runtime import Runtime

    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<!doctype html><title>Lumina</title>")
    secret = tmp_path / "token"
    secret.write_text("secret-token-value\n")
    (web / "leak").symlink_to(secret if target == "TOKEN" else Path(target))
    (web / "js").mkdir()
    (web / "js" / "up").symlink_to(tmp_path)
    settings = load_settings({"LUMINA_HOME": str(tmp_path / "home")}).replace(web_dir=web)
    app = create_app(Runtime(settings), SecurityPolicy(settings, "t" * 64))
    with TestClient(app) as client:
        assert client.get("/").status_code == 200
        for path in ("/leak", "/js/up/token"):
            r = client.get(path)
            assert r.status_code == 404, path
            assert "secret-token-value" not in r.text and "root:" not in r.text
