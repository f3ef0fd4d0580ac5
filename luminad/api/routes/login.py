"""``/login``: trades the token of a login link for the session cookie."""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.datastructures import Cookie
from litestar.response import Redirect

from luminad import errors
from luminad.api.security import SESSION_COOKIE, SecurityPolicy


def login_routes(policy: SecurityPolicy) -> list[Any]:
    """The route handlers of this area."""

    @get("/login", include_in_schema=False)
    async def login(token: str | None = None) -> Response[Any]:
        """Sets the HttpOnly, SameSite=Strict session cookie and sends the browser to ``/``."""
        if not policy.token_ok(token):
            raise errors.Unauthorized("That login link is not valid.")
        cookie = Cookie(
            key=SESSION_COOKIE,
            value=policy.session,
            path="/",
            httponly=True,
            samesite="strict",
            secure=False,  # plain http on loopback
        )
        return Redirect("/", status_code=303, cookies=[cookie])

    return [login]
