"""``/v1/session``: the WebSocket adapter around :class:`luminad.voice.session.VoiceSession`.

The adapter owns the wire concerns: the first message must be ``hello``; JSON frames are
decoded with :func:`luminad.protocol.decode_client` (a bad one is answered with
``bad_message``); frames over 64 KiB get ``frame_too_large``; audio faster than twice real time
gets ``rate_limited``; ``ping`` is answered with ``pong``. Any :class:`LuminaError` the session
raises becomes an ``error`` message and the session goes on. Auth and Origin were checked by the
security gate before the socket was accepted.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from luminad import errors, protocol
from luminad.api.security import AudioRateLimiter

if TYPE_CHECKING:
    from litestar.connection import WebSocket

    from luminad.api.runtime import Runtime

log = logging.getLogger("luminad.api.session")

Send = Callable[[protocol.ServerMessage | bytes], Awaitable[None]]


class SessionLike(Protocol):
    """What the adapter needs of a voice session (VoiceSession's contract)."""

    async def start(self, hello: protocol.Hello) -> protocol.Ready: ...
    async def handle(self, message: protocol.ClientMessage) -> None: ...
    async def feed_audio(self, pcm: bytes) -> None: ...
    async def close(self) -> None: ...
    async def announce(self, sentence: str, message: protocol.ServerMessage) -> None: ...


class SessionFactory(Protocol):
    def __call__(
        self, *, app: Any, engines: Any, settings: Any, send: Send, timers: Any = None
    ) -> SessionLike: ...


def _default_factory() -> SessionFactory:
    from luminad.voice.session import VoiceSession

    factory: SessionFactory = VoiceSession
    return factory


class _Wire:
    """Sends protocol messages and PCM frames; silent once the socket is gone."""

    def __init__(self, socket: WebSocket[Any, Any, Any]) -> None:
        self.socket = socket
        self.closed = False
        self.sent = 0

    async def send(self, message: protocol.ServerMessage | bytes) -> None:
        if self.closed:
            return
        try:
            if isinstance(message, bytes | bytearray | memoryview):
                await self.socket.send_bytes(bytes(message))
            else:
                await self.socket.send_text(protocol.encode(message).decode())
            self.sent += 1
        except Exception:  # the client went away: stop sending, the receive loop ends
            self.closed = True

    async def error(self, exc: errors.LuminaError, turn_id: str | None = None) -> None:
        await self.send(
            protocol.Error(code=exc.code, message=exc.message, action=exc.action, turn_id=turn_id)
        )


def _decode(text: str | bytes) -> protocol.ClientMessage:
    try:
        return protocol.decode_client(text)
    except msgspec.ValidationError as exc:
        raise errors.BadMessage(f"Invalid message: {_short(exc)}") from None
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise errors.BadMessage("A text frame must hold one JSON object.") from None
    except RecursionError:
        raise errors.BadMessage("The JSON is nested too deeply.") from None


def _short(exc: Exception) -> str:
    # msgspec messages name the field and type (never the value); keep them short anyway
    return str(exc).splitlines()[0][:200]


async def run_session(
    socket: WebSocket[Any, Any, Any],
    runtime: Runtime,
    factory: SessionFactory | None = None,
) -> None:
    """Serve one client until it disconnects."""
    await socket.accept()
    wire = _Wire(socket)
    session: SessionLike | None = None
    hello: protocol.Hello | None = None
    limiter = AudioRateLimiter()
    sid = uuid.uuid4().hex[:8]
    started = time.perf_counter()
    frames = 0
    log.info("session %s opened", sid)
    try:
        while not wire.closed:
            message = await socket.receive()
            kind = message.get("type")
            if kind == "websocket.disconnect":
                break
            if kind != "websocket.receive":
                continue
            frames += 1
            data: bytes | None = message.get("bytes")  # type: ignore[assignment]
            text: str | None = message.get("text")  # type: ignore[assignment]
            try:
                if data is not None:
                    if len(data) > protocol.MAX_FRAME_BYTES:
                        raise errors.FrameTooLarge(
                            f"Binary frames are limited to {protocol.MAX_FRAME_BYTES} bytes."
                        )
                    if session is None or hello is None:
                        raise errors.BadMessage(
                            "Send `hello` before any audio.",
                            action='Start the session with {"type": "hello", "protocol": 1}.',
                        )
                    if not limiter.ready():
                        raise errors.RateLimited("Audio arrives faster than twice real time.")
                    await session.feed_audio(data)
                    limiter.spend(len(data), hello.sample_rate)
                    continue
                if text is None:
                    continue
                if len(text) > protocol.MAX_FRAME_BYTES:  # cheap bound before encoding
                    raise errors.FrameTooLarge(
                        f"Text frames are limited to {protocol.MAX_FRAME_BYTES} bytes."
                    )
                raw = text.encode()
                if len(raw) > protocol.MAX_FRAME_BYTES:
                    raise errors.FrameTooLarge(
                        f"Text frames are limited to {protocol.MAX_FRAME_BYTES} bytes."
                    )
                msg = _decode(raw)
                match msg:
                    case protocol.Ping(nonce=nonce):
                        await wire.send(protocol.Pong(nonce=nonce))
                    case protocol.Hello():
                        if session is not None:
                            raise errors.BadMessage("This session already said hello.")
                        session, ready = await _start(runtime, factory, wire, msg)
                        runtime.sessions.add(session)
                        hello = msg
                        await wire.send(ready)
                        log.info(
                            "session %s ready: conversation=%s client=%s rate=%s",
                            sid,
                            ready.conversation_id,
                            msg.client[:32],
                            msg.sample_rate,
                        )
                    case _ if session is None or hello is None:
                        raise errors.BadMessage(
                            "The first message must be `hello`.",
                            action='Start the session with {"type": "hello", "protocol": 1}.',
                        )
                    case protocol.Audio():
                        try:
                            n_bytes = len(base64.b64decode(msg.pcm16_b64, validate=True))
                        except (binascii.Error, ValueError):
                            raise errors.BadMessage("`pcm16_b64` is not base64.") from None
                        if not limiter.ready():
                            raise errors.RateLimited("Audio arrives faster than twice real time.")
                        await session.handle(msg)  # refuses a sample_rate other than hello's
                        limiter.spend(n_bytes, hello.sample_rate)
                    case _:
                        await session.handle(msg)
            except errors.LuminaError as exc:
                await wire.error(exc)
            except Exception as exc:
                log.error("session %s: internal error %s", sid, type(exc).__name__, exc_info=exc)
                await wire.error(errors.LuminaError("Lumina hit an internal error."))
    finally:
        wire.closed = True
        if session is not None:
            runtime.sessions.discard(session)
            try:
                await session.close()
            except Exception as exc:
                log.error("session %s: close failed: %s", sid, type(exc).__name__)
        log.info(
            "session %s closed after %d frames (%.1f s)",
            sid,
            frames,
            time.perf_counter() - started,
        )


async def _start(
    runtime: Runtime,
    factory: SessionFactory | None,
    wire: _Wire,
    hello: protocol.Hello,
) -> tuple[SessionLike, protocol.Ready]:
    if hello.protocol != protocol.PROTOCOL_VERSION:
        raise errors.UnsupportedProtocol(
            f"This daemon speaks protocol {protocol.PROTOCOL_VERSION}, not {hello.protocol}."
        )
    if not protocol.MIN_SAMPLE_RATE <= hello.sample_rate <= protocol.MAX_SAMPLE_RATE:
        raise errors.BadMessage(
            f"sample_rate must be {protocol.MIN_SAMPLE_RATE}..{protocol.MAX_SAMPLE_RATE} Hz."
        )
    core, engines = runtime.loaded()
    make = factory or _default_factory()
    session = make(
        app=core, engines=engines, settings=runtime.settings, send=wire.send, timers=runtime.timers
    )
    try:
        ready = await session.start(hello)
    except BaseException:
        await session.close()
        raise
    return session, ready
