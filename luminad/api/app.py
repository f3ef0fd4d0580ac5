"""The one Litestar app of luminad: every HTTP route of PROTOCOL.md, the voice-session
WebSocket, the web front end, ``/login`` and OpenAPI at ``/schema``.

The app reads and writes only through :class:`Runtime` (the core ``Lumina`` and the loaded
``Engines``), which the server fills in once models are loaded; until then health answers
``status: "loading"`` and the other routes answer 503. Security (token, Host, Origin, sizes)
is not in here: :class:`luminad.api.security.SecurityGate` wraps this app for each listener.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from litestar import Litestar, Request, Response, delete, get, patch, post, put, websocket
from litestar.connection import WebSocket
from litestar.datastructures import Cookie
from litestar.exceptions import HTTPException
from litestar.middleware import ASGIMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.params import Parameter
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.types import ASGIApp, Receive, Scope, Send

from luminad import errors, protocol
from luminad.api.security import SESSION_COOKIE, SecurityPolicy
from luminad.settings import Settings

if TYPE_CHECKING:
    from luminad.api.session import SessionFactory
    from luminad.app import Lumina
    from luminad.providers.registry import Engines

log = logging.getLogger("luminad.api")
T = TypeVar("T")

FORGET_ME_PHRASE = "forget me"
MAX_PAGE = 1000


class DaemonLoading(errors.EngineUnavailable):
    """The daemon is still loading its models (or failed to)."""

    code = "model_missing"
    default_action = "Wait a few seconds: Lumina is loading its models (see `luminad serve`)."


@dataclass
class Runtime:
    """What the routes work on; filled in by the server when loading is done."""

    settings: Settings
    lumina: Lumina | None = None
    engines: Engines | None = None
    #: "loading", "ready" or "failed".
    status: str = "loading"
    #: The last loading stage, for health while loading.
    stage: str = ""
    failure: errors.LuminaError | None = None
    started_at: float = field(default_factory=time.monotonic)

    def core(self) -> Lumina:
        if self.lumina is None:
            raise self.failure or DaemonLoading("Lumina is still loading its models.")
        return self.lumina

    def loaded(self) -> tuple[Lumina, Engines]:
        core = self.core()
        if self.engines is None:
            raise self.failure or DaemonLoading("Lumina is still loading its models.")
        return core, self.engines


async def _call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a sync core call in a thread (the core is sync and thread-safe)."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def parse_id(raw: str, error: type[errors.LuminaError], what: str) -> UUID:
    """A path id as UUID; a malformed one is simply not found."""
    try:
        return UUID(raw)
    except ValueError:
        raise error(f"No {what} with id {raw[:64]!r}.") from None


# ---------------------------------------------------------------------------- errors
_STATUS_CODES = {
    400: "bad_message",
    401: "unauthorized",
    403: "forbidden_origin",
    404: "bad_message",
    405: "bad_message",
    413: "frame_too_large",
    429: "rate_limited",
}


def error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Every error as ``{code, message, action}`` with the HTTP status that fits."""
    if isinstance(exc, errors.LuminaError):
        body, status = exc.to_dict(), exc.status
    elif isinstance(exc, HTTPException):
        status = exc.status_code
        code = _STATUS_CODES.get(status, "internal" if status >= 500 else "bad_message")
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


class AccessLog(ASGIMiddleware):
    """Logs method, path (never the query: it may carry search text or a token), status, ms."""

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


# ---------------------------------------------------------------------------- the app
def create_app(
    runtime: Runtime,
    policy: SecurityPolicy,
    *,
    session_factory: SessionFactory | None = None,
) -> Litestar:
    """Build the app. ``session_factory`` makes the voice session (default: VoiceSession)."""
    settings = runtime.settings

    # ------------------------------------------------------------------ health
    @get("/v1/health", tags=["health"])
    async def health(deep: bool = False) -> protocol.Health:
        """Each engine: configured, reachable, model, and an ``action`` when not ok."""
        if runtime.lumina is None or runtime.engines is None:
            failure = runtime.failure
            detail = failure.message if failure else f"loading {runtime.stage}".strip()
            action = failure.action if failure else DaemonLoading.default_action
            pending = protocol.EngineHealth(
                ok=False, configured=True, reachable=False, detail=detail, action=action
            )
            return protocol.Health(ok=False, engines={"daemon": pending}, status=runtime.status)
        from luminad.providers.registry import check_health

        result = await check_health(runtime.engines, deep=deep)
        engines = dict(result.engines)
        if "store" not in engines:
            engines["store"] = await _call(runtime.lumina.store_health)
        ok = all(e.ok for e in engines.values())
        return protocol.Health(
            ok=ok,
            engines=engines,
            status="ready",
            version=result.version,
            protocol=result.protocol,
            deep_wer=result.deep_wer,
        )

    # ------------------------------------------------------------------ avatars
    @get("/v1/avatars", tags=["avatars"])
    async def list_avatars() -> list[protocol.Avatar]:
        return await _call(runtime.core().list_avatars)

    @post("/v1/avatars", tags=["avatars"])
    async def create_avatar(data: protocol.AvatarCreate) -> protocol.Avatar:
        core = runtime.core()
        if not data.name.strip():
            raise errors.BadMessage("An avatar needs a name.")
        avatar_id = await _call(core.create_avatar, data.name, data.persona, data.style, data.voice)
        return await _call(core.get_avatar, avatar_id)

    @get("/v1/avatars/{avatar_id:str}", tags=["avatars"])
    async def get_avatar(avatar_id: str) -> protocol.Avatar:
        uid = parse_id(avatar_id, errors.AvatarNotFound, "avatar")
        return await _call(runtime.core().get_avatar, uid)

    @patch("/v1/avatars/{avatar_id:str}", tags=["avatars"])
    async def update_avatar(avatar_id: str, data: protocol.AvatarPatch) -> protocol.Avatar:
        core = runtime.core()
        uid = parse_id(avatar_id, errors.AvatarNotFound, "avatar")
        if data.name is not None and not data.name.strip():
            raise errors.BadMessage("An avatar needs a name.")
        await _call(
            core.update_avatar,
            uid,
            name=data.name,
            persona=data.persona,
            style=data.style,
            voice=data.voice,
        )
        return await _call(core.get_avatar, uid)

    @delete("/v1/avatars/{avatar_id:str}", tags=["avatars"], status_code=204)
    async def delete_avatar(avatar_id: str) -> None:
        uid = parse_id(avatar_id, errors.AvatarNotFound, "avatar")
        await _call(runtime.core().delete_avatar, uid)

    # ------------------------------------------------------------------ profile
    @get("/v1/profile", tags=["profile"])
    async def get_profile() -> protocol.Profile:
        return await _call(runtime.core().get_profile)

    @put("/v1/profile", tags=["profile"])
    async def put_profile(data: protocol.Profile) -> protocol.Profile:
        core = runtime.core()
        if data.preferred_name is not None:
            await _call(core.set_preferred_name, data.preferred_name)
        for key, value in data.preferences.items():
            await _call(core.set_preference, key, value)
        return await _call(core.get_profile)

    # ------------------------------------------------------------------ conversations
    @get("/v1/conversations", tags=["conversations"])
    async def list_conversations(
        limit: int = Parameter(default=50, ge=1, le=MAX_PAGE),
    ) -> list[protocol.Conversation]:
        return await _call(runtime.core().list_conversations, limit)

    @get("/v1/conversations/{conversation_id:str}", tags=["conversations"])
    async def get_conversation(conversation_id: str) -> protocol.Conversation:
        uid = parse_id(conversation_id, errors.ConversationNotFound, "conversation")
        return await _call(runtime.core().get_conversation, uid)

    # ------------------------------------------------------------------ memories
    @get("/v1/memories", tags=["memories"])
    async def list_memories(
        q: str | None = None,
        avatar_id: str | None = None,
        limit: int = Parameter(default=10, ge=1, le=MAX_PAGE),
    ) -> list[protocol.Memory]:
        core = runtime.core()
        avatar = parse_id(avatar_id, errors.AvatarNotFound, "avatar") if avatar_id else None
        if q:
            return await _call(core.search_memories, q, avatar_id=avatar, limit=limit)
        return await _call(core.list_memories, avatar)

    @post("/v1/memories", tags=["memories"])
    async def add_memory(data: protocol.MemoryCreate) -> protocol.Memory:
        core = runtime.core()
        if not data.text.strip():
            raise errors.BadMessage("A memory needs some text.")
        avatar = (
            parse_id(data.avatar_id, errors.AvatarNotFound, "avatar") if data.avatar_id else None
        )
        if avatar is not None:
            await _call(core.get_avatar, avatar)
        memory_id = await _call(core.remember, data.text, avatar_id=avatar)
        for memory in await _call(core.list_memories, avatar):
            if memory.id == str(memory_id):
                return memory
        return protocol.Memory(
            id=str(memory_id),
            text=data.text,
            avatar_id=str(avatar) if avatar else None,
            source=protocol.MemorySource(),
            created_at="",
        )

    @delete("/v1/memories/{memory_id:str}", tags=["memories"], status_code=204)
    async def delete_memory(memory_id: str) -> None:
        uid = parse_id(memory_id, errors.MemoryNotFound, "memory")
        await _call(runtime.core().forget_memory, uid)

    # ------------------------------------------------------------------ privacy
    @post("/v1/forget-me", tags=["privacy"], status_code=200)
    async def forget_me(data: protocol.ForgetMeRequest) -> protocol.ForgetReceipt:
        """Delete all user data (crypto-shredding); body ``{"confirm": "forget me"}``."""
        if data.confirm.strip().lower() != FORGET_ME_PHRASE:
            raise errors.BadMessage(
                "Not confirmed.", action='Send {"confirm": "forget me"} to delete all your data.'
            )
        receipt = await _call(runtime.core().forget_user)
        log.info("forget-me done: events_shredded=%s", receipt.events_shredded)
        return receipt

    @get("/v1/audit/forget-me", tags=["privacy"])
    async def audit(
        canary: list[str] | None = Parameter(query="canary", default=None),  # noqa: B008
    ) -> protocol.Audit:
        return await _call(runtime.core().audit, tuple(canary or ()))

    @get("/v1/events", tags=["events"])
    async def events(
        after: int = Parameter(default=0, ge=0),
        limit: int = Parameter(default=100, ge=1, le=MAX_PAGE),
        types: list[str] | None = Parameter(query="type", default=None),  # noqa: B008
    ) -> list[protocol.LoggedEvent]:
        return await _call(
            runtime.core().events, after=after, limit=limit, types=tuple(types or ())
        )

    @get("/v1/metrics/latency", tags=["metrics"])
    async def latency(
        window: int = Parameter(default=200, ge=1, le=10000),
    ) -> protocol.LatencyMetrics:
        return await _call(runtime.core().latency, window)

    # ------------------------------------------------------------------ login
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

    # ------------------------------------------------------------------ voice session
    @websocket("/v1/session")
    async def session(socket: WebSocket[Any, Any, Any]) -> None:
        from luminad.api.session import run_session

        await run_session(socket, runtime, session_factory)

    handlers: list[Any] = [
        health,
        list_avatars,
        create_avatar,
        get_avatar,
        update_avatar,
        delete_avatar,
        get_profile,
        put_profile,
        list_conversations,
        get_conversation,
        list_memories,
        add_memory,
        delete_memory,
        forget_me,
        audit,
        events,
        latency,
        login,
        session,
    ]
    web_dir = settings.web_dir
    if web_dir.is_dir():
        handlers.append(create_static_files_router(path="/", directories=[web_dir], html_mode=True))

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
