"""What every stage of a voice session shares: the ordered send path and the session's tasks.

:class:`Outlet` owns the client's ``send``: writes go out in order under one lock, each in its
own shielded task (cancelling a stage never cuts a ``tts_chunk`` header from its frame), and a
broken connection makes later sends no-ops. :class:`Tasks` owns every task a session starts, so
closing the session cancels all of them at once, bounded; a task that fails is logged (ids and
types only) and reported to the client as an ``error``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar
from uuid import UUID

from luminad import protocol
from luminad.errors import LuminaError
from luminad.voice.turn import Turn

log = logging.getLogger("luminad.voice")

Send = Callable[[protocol.ServerMessage | bytes], Awaitable[None]]
T = TypeVar("T")

#: Bound of every wait for a cancelled task or a pending write (s).
CANCEL_WAIT_S = 2.0


class Outlet:
    """The session's one way to the client (see the module docstring)."""

    def __init__(self, send: Send, session_id: UUID) -> None:
        self._send = send
        self._session_id = session_id
        self._lock = asyncio.Lock()
        self._pending: set[asyncio.Task[None]] = set()
        self.broken = False

    async def emit(
        self, *items: protocol.ServerMessage | bytes, on_sent: Callable[[], None] | None = None
    ) -> None:
        """Send items back to back; ``on_sent`` runs once all went out (even if the caller was
        cancelled meanwhile: what was sent was heard)."""
        if self.broken:
            return
        task = asyncio.ensure_future(self._write(items, on_sent))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        await asyncio.shield(task)

    async def _write(
        self,
        items: Sequence[protocol.ServerMessage | bytes],
        on_sent: Callable[[], None] | None,
    ) -> None:
        async with self._lock:
            for item in items:
                if self.broken:
                    return
                try:
                    await self._send(item)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.broken = True
                    log.info("voice session %s: send failed: %s", self._session_id, type(exc))
                    return
            if on_sent is not None:
                on_sent()

    async def drain(self) -> None:
        """Wait (bounded) for the writes already started."""
        pending = [t for t in self._pending if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=CANCEL_WAIT_S)

    async def error(self, exc: LuminaError, turn: Turn | None = None) -> None:
        await self.emit(
            protocol.Error(
                code=exc.code,
                message=exc.message,
                action=exc.action,
                turn_id=turn.id if turn else None,
            )
        )

    async def turn_emit(self, turn: Turn, *items: protocol.ServerMessage | bytes) -> None:
        """Send now if the turn is open (its final transcript is out), else keep them in order
        until it opens (a speculative turn writes before the endpoint confirmed it)."""
        if turn.opened.is_set():
            await self.emit(*items)
        else:
            turn.backlog.append(items)


class Tasks:
    """Every task of one session: started here, cancelled together on close."""

    def __init__(self, outlet: Outlet, session_id: UUID) -> None:
        self.outlet = outlet
        self._session_id = session_id
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closed = False

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def send(self, *items: protocol.ServerMessage | bytes, name: str) -> None:
        """Send without waiting (from synchronous code, e.g. the audio intake)."""
        self.spawn(self.outlet.emit(*items), name=name)

    async def stop(self, task: asyncio.Task[Any] | None) -> None:
        """Cancel ``task`` and wait for it, bounded."""
        if task is None or task.done():
            return
        task.cancel()
        await asyncio.wait([task], timeout=CANCEL_WAIT_S)
        if not task.done():
            log.warning("voice session %s: task %s ignored cancel", self._session_id, task)

    async def close(self) -> None:
        """Cancel every task, bounded."""
        self.closed = True
        tasks = [t for t in self._tasks if not t.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=CANCEL_WAIT_S)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        log.error(
            "voice session %s: task %s failed: %s",
            self._session_id,
            task.get_name(),
            type(exc).__name__,
            exc_info=exc,
        )
        if not self.closed and isinstance(exc, Exception):
            err = exc if isinstance(exc, LuminaError) else LuminaError("internal error")
            self.spawn(self.outlet.error(err), name="voice-error")
