"""Every error of the HTTP API as ``{code, message, action}`` with the status that fits."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException

from luminad import errors, protocol

log = logging.getLogger("luminad.api")

_STATUS_CODES: dict[int, protocol.ErrorCode] = {
    400: "bad_message",
    401: "unauthorized",
    403: "forbidden_origin",
    404: "no_such_route",
    405: "method_not_allowed",
    413: "frame_too_large",
    429: "rate_limited",
}


#: What msgspec raises on bodies it cannot read at all, and what to tell the client.
_UNREADABLE_BODIES: dict[type[Exception], str] = {
    UnicodeDecodeError: "The body is not UTF-8.",
    RecursionError: "The JSON is nested too deeply.",
}


def error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Every error as ``{code, message, action}`` with the HTTP status that fits."""
    unreadable = next((m for t, m in _UNREADABLE_BODIES.items() if isinstance(exc, t)), None)
    if unreadable is not None:
        exc = errors.BadMessage(unreadable, action="Send one UTF-8 JSON object.")
    if isinstance(exc, errors.LuminaError):
        body, status = exc.to_dict(), exc.status
    elif isinstance(exc, HTTPException):
        status = exc.status_code
        code: protocol.ErrorCode = _STATUS_CODES.get(
            status, "internal" if status >= 500 else "bad_message"
        )
        message = str(exc.detail) if exc.detail else "Bad request."
        if status == 404:
            message = "No such route."
        if status == 413:
            message = f"Request bodies are limited to {protocol.MAX_FRAME_BYTES} bytes."
        body = {"code": code, "message": message, "action": None}
        if status == 400 and isinstance(exc.extra, list) and exc.extra:
            # where the body was wrong (field names only, never the values)
            keys = [str(e.get("key", "")) for e in exc.extra if isinstance(e, dict)]
            body["message"] = f"{message} ({', '.join(k for k in keys if k)})".replace(" ()", "")
    else:
        log.error(
            "internal error %s on %s %s",
            type(exc).__name__,
            request.method,
            request.url.path,
            exc_info=exc,
        )
        body = {"code": "internal", "message": "Lumina hit an internal error.", "action": None}
        status = 500
    return Response(content=body, status_code=status, media_type="application/json")
