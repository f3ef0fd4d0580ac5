"""The API's secrets: the token file, browser session credentials and one-time login codes.

* **Token**: 32 random bytes (hex), created at first start in ``settings.token_path`` (0600).
  It never travels in a URL and is never written to a log.
* **Session credential** (a browser's, after ``lumina open``): a nonce and its HMAC under the
  token (:func:`new_session`): it survives a daemon restart and dies with the token.
* **Login codes** (:class:`LoginCodes`): one-time, two minutes, traded for a session credential.

:mod:`luminad.api.security` checks requests against them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

TOKEN_BYTES = 32
#: How long a login code of ``lumina open`` stays valid.
LOGIN_CODE_TTL_S = 120.0


def load_or_create_token(path: Path) -> str:
    """The API token: read it, or create 32 random bytes (hex) with mode 0600 at first start."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        token = ""
    if len(token) >= 2 * TOKEN_BYTES:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        return token
    token = secrets.token_hex(TOKEN_BYTES)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, token.encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return token


def _session_mac(token: str, nonce: str) -> str:
    return hmac.new(
        token.encode(), b"lumina session v2 " + nonce.encode(), hashlib.sha256
    ).hexdigest()


def new_session(token: str) -> str:
    """A fresh session credential for a browser: ``<nonce>.<HMAC(token, nonce)>`` (hex)."""
    nonce = secrets.token_hex(16)
    return f"{nonce}.{_session_mac(token, nonce)}"


def session_valid(token: str, candidate: str) -> bool:
    """True when ``candidate`` is a session credential made with ``token``."""
    nonce, _, mac = candidate.partition(".")
    if len(nonce) != 32 or not mac:
        return False
    return hmac.compare_digest(mac.encode(), _session_mac(token, nonce).encode())


@dataclass
class LoginCodes:
    """One-time login codes: issued to ``lumina open``, each redeemed at most once."""

    ttl_s: float = LOGIN_CODE_TTL_S
    clock: Callable[[], float] = time.monotonic
    #: At most this many codes wait at once (the oldest are dropped).
    limit: int = 32
    _codes: dict[str, float] = field(default_factory=dict, init=False)

    def issue(self) -> str:
        now = self.clock()
        self._codes = {c: t for c, t in self._codes.items() if t > now}
        while len(self._codes) >= self.limit:
            del self._codes[next(iter(self._codes))]
        code = secrets.token_urlsafe(24)
        self._codes[code] = now + self.ttl_s
        return code

    def redeem(self, code: str) -> bool:
        """True once for a valid, unexpired code; the code is spent either way."""
        expires = self._codes.pop(code, None)
        return expires is not None and expires > self.clock()
