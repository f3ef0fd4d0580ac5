"""What the daemon's log may hold: the access log of every HTTP request, and the filter every
log line passes through on its way out (:class:`SafeLogFilter`: credentials redacted, control
characters from clients escaped so that nobody can forge a log line)."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("luminad.api")

REDACTED = "[redacted]"
#: Credentials by their shape: query/fragment parameters, Bearer headers, WebSocket session
#: subprotocols, session credentials (nonce.mac), passwords inside URLs. The API token itself
#: is redacted by value (:meth:`SafeLogFilter.add_secret`).
_SECRET_PATTERNS = (
    re.compile(r"(?i)\b((?:token|code|login|session|key|api_key|password|secret)=)[^&\s\"'#]+"),
    re.compile(r"(?i)\b(bearer\s+)\S+"),
    re.compile(r"(lumina\.session\.)[^\s,\"']+"),
    re.compile(r"()\b[0-9a-f]{32}\.[0-9a-f]{64}\b"),
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+(?=@)"),
)
#: C0 and C1 controls and the Unicode line separators: escaped, never written as they are.
_CONTROLS = {
    c: f"\\x{c:02x}" for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)] if chr(c) not in "\n\t"
} | {ord("\n"): "\\n", ord("\t"): "\\t", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def redact(text: str, secrets: frozenset[str] = frozenset()) -> str:
    """``text`` with every credential replaced by ``[redacted]``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def escape_controls(text: str) -> str:
    """One printable line: newlines, carriage returns, ANSI escapes... as ``\\xNN``."""
    return text.translate(_CONTROLS)


class SafeLogFilter(logging.Filter):
    """On a handler: every record's message redacted and escaped (uvicorn's included);
    tracebacks keep their lines but lose their credentials."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: frozenset[str] = frozenset()

    def add_secret(self, secret: str) -> None:
        """A value to redact wherever it appears (the API token, once it is loaded)."""
        self.secrets = self.secrets | {secret}

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: log what we have
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = escape_controls(redact(message, self.secrets)), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(
                logging.Formatter().formatException(record.exc_info), self.secrets
            )
        elif record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        return True


class AccessLog(ASGIMiddleware):
    """Logs method, path (never the query: it may carry search text), status, ms."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if str(scope["type"]) != "http":
            await next_app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0

        async def _send(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await next_app(scope, receive, _send)
        finally:
            log.info(
                "%s %s -> %s (%.1f ms)",
                scope.get("method"),
                scope.get("path"),
                status,
                (time.perf_counter() - start) * 1000,
            )
