"""The voice sessions open right now, so the daemon can speak in all of them (a timer fired)."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from luminad import protocol
from luminad.timers import timer_message

log = logging.getLogger(__name__)


class Announcer(Protocol):
    """What a session must do to be told something the daemon itself has to say."""

    async def announce(self, sentence: str, message: protocol.ServerMessage) -> None:
        """Send ``message``, then speak ``sentence`` (when there is one and the session
        speaks)."""
        ...


class OpenSessions:
    """Every session that said hello and has not closed."""

    def __init__(self) -> None:
        self._open: set[Announcer] = set()

    def __len__(self) -> int:
        return len(self._open)

    def add(self, session: Announcer) -> None:
        self._open.add(session)

    def discard(self, session: Announcer) -> None:
        self._open.discard(session)

    async def announce(self, sentence: str, message: protocol.ServerMessage) -> None:
        """Tell every open session (``sentence`` empty: nothing is spoken); one that fails
        does not stop the others."""
        results = await asyncio.gather(
            *(s.announce(sentence, message) for s in list(self._open)), return_exceptions=True
        )
        for result in results:
            if isinstance(result, Exception):
                log.warning("announcement not delivered: %s", type(result).__name__)

    async def timer_fired(self, timer: protocol.Timer) -> None:
        """A timer ran out: say so everywhere (the TimerClock's ``announce``)."""
        what = f"Your {timer.label} timer" if timer.label else "Your timer"
        await self.announce(f"{what} is done.", timer_message(timer))
