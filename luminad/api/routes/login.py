"""Web login without a cookie: ``lumina open`` gets a one-time code, the page trades it for a
session credential (see :mod:`luminad.api.security`)."""

from __future__ import annotations

import logging
from typing import Any

from litestar import post

from luminad import errors, protocol
from luminad.api.security import SecurityPolicy

log = logging.getLogger("luminad.api")


def login_routes(policy: SecurityPolicy) -> list[Any]:
    """The route handlers of this area."""

    @post("/v1/login-links", tags=["login"], status_code=200)
    async def login_link() -> protocol.LoginLink:
        """A link that logs a browser in once, within two minutes (what `lumina open` prints)."""
        code = policy.login_codes.issue()
        return protocol.LoginLink(
            url=policy.login_link(code), expires_in_s=policy.login_codes.ttl_s
        )

    @post("/login", include_in_schema=False, status_code=200)
    async def login(data: protocol.LoginRequest) -> protocol.LoginSession:
        """Trades a one-time login code for a session credential (the page keeps it in
        sessionStorage and sends it as a Bearer header and as a WebSocket subprotocol)."""
        session = policy.exchange(data.code)
        if session is None:
            raise errors.Unauthorized(
                "That login link is not valid (each link works once, for two minutes).",
                action="Run `lumina open` and open the new link it prints.",
            )
        log.info("web login: a session credential was issued")
        return protocol.LoginSession(session=session)

    return [login_link, login]
