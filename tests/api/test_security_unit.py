"""The security policy's pure parts: token file, Host and Origin rules, the audio rate limiter."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from luminad.api.security import (
    AudioRateLimiter,
    SecurityPolicy,
    load_or_create_token,
    session_value,
)
from luminad.api.server import StartupError, check_host, is_loopback
from luminad.settings import load_settings


def test_token_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "config" / "token"
    token = load_or_create_token(path)
    assert len(bytes.fromhex(token)) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_token(path) == token  # stable across starts
    assert session_value(token) != token


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


def test_rate_limiter_allows_real_time_and_a_burst_refuses_flooding() -> None:
    clock = _Clock()
    limiter = AudioRateLimiter(clock=clock)
    frame = 16000 * 2 // 50  # 20 ms at 16 kHz
    # real time for 10 s: always allowed
    for _ in range(500):
        assert limiter.allow(frame, 16000)
        clock.t += 0.02
    # 1.9x real time for 5 s: allowed
    for _ in range(250):
        assert limiter.allow(frame, 16000)
        clock.t += 0.02 / 1.9
    # a burst: about a second of audio at once is fine, then flooding is refused
    limiter = AudioRateLimiter(clock=clock)
    accepted = 0
    for _ in range(200):  # 4 s of audio in no time
        accepted += limiter.allow(frame, 16000)
    assert 40 <= accepted <= 60
    # 3x real time for 5 s: about a third refused
    refused = 0
    for _ in range(250):
        refused += not limiter.allow(frame, 16000)
        clock.t += 0.02 / 3
    assert refused > 50
