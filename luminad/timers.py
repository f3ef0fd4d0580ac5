"""The timer clock: arms a task per running timer and fires it in the daemon when it is due.

Timers are event-sourced (:class:`luminad.domain.Timer`); the clock holds no state that the
log does not: at start it re-arms every timer the read model lists as running (one that fell
due while the daemon was down fires at once). When a timer fires, the clock records
``TimerFired`` and hands the timer to ``announce`` (the API runtime says it in every open
session).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import UUID

from luminad import protocol
from luminad.errors import LuminaError

if TYPE_CHECKING:
    from luminad.app import Lumina

log = logging.getLogger(__name__)

Announce = Callable[[protocol.Timer], Awaitable[None]]


def timer_message(timer: protocol.Timer) -> protocol.TimerChanged:
    """The ``timer`` message a client gets when ``timer`` changes."""
    return protocol.TimerChanged(
        timer_id=timer.id, label=timer.label, state=timer.state, due_at=timer.due_at
    )


def seconds_left(timer: protocol.Timer, now: datetime | None = None) -> float:
    """Seconds until ``timer`` is due (negative once it is overdue)."""
    due = datetime.fromisoformat(timer.due_at)
    return (due - (now or datetime.now(UTC))).total_seconds()


class TimerClock:
    """Arms, fires and cancels timers inside the daemon (see the module docstring)."""

    def __init__(self, app: Lumina, announce: Announce | None = None) -> None:
        self.app = app
        self.announce = announce
        self._armed: dict[str, asyncio.Task[None]] = {}

    async def start(self) -> int:
        """Re-arm every running timer from the read model; returns how many."""
        running = await asyncio.to_thread(self.app.queries.list_timers, running=True)
        for timer in running:
            self._arm(timer)
        return len(running)

    async def set(
        self, seconds: int, label: str = "", conversation_id: UUID | None = None
    ) -> protocol.Timer:
        """Record a new timer and arm it."""
        timer = await asyncio.to_thread(
            self.app.set_timer, seconds, label, conversation_id=conversation_id
        )
        self._arm(timer)
        return timer

    async def cancel(self, timer_id: UUID) -> protocol.Timer:
        """Record the cancellation (``timer_not_found`` for an unknown id) and disarm."""
        timer = await asyncio.to_thread(self.app.cancel_timer, timer_id)
        task = self._armed.pop(timer.id, None)
        if task is not None:
            task.cancel()
        return timer

    async def close(self) -> None:
        tasks = list(self._armed.values())
        self._armed.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)

    def _arm(self, timer: protocol.Timer) -> None:
        if timer.id not in self._armed:
            task = asyncio.create_task(self._run(timer), name=f"timer-{timer.id[:8]}")
            self._armed[timer.id] = task

    async def _run(self, timer: protocol.Timer) -> None:
        try:
            await asyncio.sleep(max(0.0, seconds_left(timer)))
            try:
                fired = await asyncio.to_thread(self.app.fire_timer, UUID(timer.id))
            except LuminaError as exc:  # cancelled meanwhile, or the store refused
                log.info("timer %s not fired: %s", timer.id, exc.code)
                return
            log.info("timer %s fired", timer.id)
            if self.announce is not None:
                await self.announce(fired)
        finally:
            self._armed.pop(timer.id, None)
