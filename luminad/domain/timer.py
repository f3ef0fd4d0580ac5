"""Timer: a countdown the user set by voice or text; it fires once or is cancelled."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from luminad.domain.content import Encrypted
from luminad.domain.errors import AlreadyGone, BadTimerLength

SET, FIRED, CANCELLED = "set", "fired", "cancelled"
#: Shortest and longest timer (seconds).
MIN_TIMER_S = 1
MAX_TIMER_S = 24 * 3600
MAX_LABEL = 200


class Timer(Aggregate):
    """One timer: set with a label and a due time, then fired or cancelled (once)."""

    class TimerSet(Aggregate.Created):
        label: Encrypted[str]
        seconds: int
        #: ISO 8601 UTC time the timer is due.
        due_at: str
        conversation_id: UUID | None

    class TimerFired(Aggregate.Event):
        pass

    class TimerCancelled(Aggregate.Event):
        pass

    @event(TimerSet)
    def __init__(self, label: str, seconds: int, due_at: str, conversation_id: UUID | None) -> None:
        self.label = label
        self.seconds = seconds
        #: ISO 8601 UTC time the timer is due.
        self.due_at = due_at
        self.conversation_id = conversation_id
        self.state = SET

    @classmethod
    def start(
        cls, seconds: int, label: str, now: datetime, conversation_id: UUID | None = None
    ) -> Timer:
        """A timer due ``seconds`` after ``now``; the length must be within bounds."""
        if not MIN_TIMER_S <= seconds <= MAX_TIMER_S:
            raise BadTimerLength(
                f"a timer must last between {MIN_TIMER_S} second and {MAX_TIMER_S // 3600} hours"
            )
        due = (now + timedelta(seconds=seconds)).isoformat()
        return cls(label.strip()[:MAX_LABEL], int(seconds), due, conversation_id)

    def fire(self) -> None:
        """The timer ran out."""
        self.check_running()
        self._fired()

    def cancel(self) -> None:
        """The user cancelled the timer before it ran out."""
        self.check_running()
        self._cancelled()

    def check_running(self) -> None:
        if self.state != SET:
            raise AlreadyGone(f"timer {self.id} is already {self.state}")

    @event(TimerFired)
    def _fired(self) -> None:
        self.state = FIRED

    @event(TimerCancelled)
    def _cancelled(self) -> None:
        self.state = CANCELLED
