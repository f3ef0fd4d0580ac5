"""The one Litestar app of luminad: every HTTP route of PROTOCOL.md, the voice-session
WebSocket, the web front end, ``/login`` and OpenAPI at ``/schema``.

The app reads and writes only through :class:`Runtime` (the core ``Lumina`` and the loaded
``Engines``), which the server fills in once models are loaded; until then health answers
``status: "loading"`` and the other routes answer 503. The routes live in
:mod:`luminad.api.routes`, one module per area. Security (token, Host, Origin, sizes) is not
in here: :class:`luminad.api.security.SecurityGate` wraps this app for each listener.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException
from litestar.handlers import BaseRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.static_files import create_static_files_router

from luminad import protocol
from luminad.api.access_log import AccessLog
from luminad.api.http_errors import error_response
from luminad.api.routes.avatars import avatars_routes
from luminad.api.routes.conversations import conversations_routes
from luminad.api.routes.health import health_routes
from luminad.api.routes.login import login_routes
from luminad.api.routes.memories import memories_routes
from luminad.api.routes.privacy import privacy_routes
from luminad.api.routes.profile import profile_routes
from luminad.api.routes.replay import replay_routes
from luminad.api.routes.timers import timers_routes
from luminad.api.routes.voice import voice_routes
from luminad.api.runtime import Runtime
from luminad.api.security import SecurityPolicy

if TYPE_CHECKING:
    from litestar.types import Guard

    from luminad.api.session import SessionFactory

__all__ = ["Runtime", "create_app"]


def _inside(root: Path) -> Guard:
    """Serve a file only when its resolved path (symlinks followed) is inside ``root`` (a link
    in the web dir to ``/etc/passwd`` or to the token file is not found) and the OS can look it
    up (a name too long is not found either, instead of an OS error)."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        target = (root / connection.url.path.lstrip("/")).resolve()
        if not target.is_relative_to(root):
            raise NotFoundException("No such file.")
        try:
            target.stat()
        except FileNotFoundError:
            return  # the static router answers 404 (or index.html in html mode)
        except (OSError, ValueError):  # a name too long, a file used as a directory...
            raise NotFoundException("No such file.") from None

    return guard


def create_app(
    runtime: Runtime,
    policy: SecurityPolicy,
    *,
    session_factory: SessionFactory | None = None,
) -> Litestar:
    """Build the app. ``session_factory`` makes the voice session (default: VoiceSession)."""
    handlers: list[Any] = [
        *health_routes(runtime),
        *avatars_routes(runtime),
        *profile_routes(runtime),
        *conversations_routes(runtime),
        *memories_routes(runtime),
        *timers_routes(runtime),
        *privacy_routes(runtime),
        *replay_routes(runtime),
        *login_routes(policy),
        *voice_routes(runtime, session_factory),
    ]
    web_dir = runtime.settings.web_dir
    if web_dir.is_dir():
        handlers.append(
            create_static_files_router(
                path="/",
                directories=[web_dir],
                html_mode=True,
                guards=[_inside(web_dir.resolve())],
            )
        )

    return Litestar(
        route_handlers=handlers,
        exception_handlers={Exception: error_response},
        request_max_body_size=protocol.MAX_FRAME_BYTES,
        middleware=[AccessLog()],
        openapi_config=OpenAPIConfig(
            title="Lumina",
            version="0.1.0",
            description="luminad's HTTP API (PROTOCOL.md, version 1).",
            path="/schema",
            render_plugins=[JsonRenderPlugin(path=["/", "/openapi.json"])],
        ),
        logging_config=None,
        debug=False,
    )
