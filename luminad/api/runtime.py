"""What the HTTP routes work on: :class:`Runtime`, filled in by the server once models load."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from luminad import errors
from luminad.api.open_sessions import OpenSessions
from luminad.settings import Settings

if TYPE_CHECKING:
    from luminad.app import Lumina
    from luminad.providers.registry import Engines
    from luminad.timers import TimerClock

T = TypeVar("T")

#: The most items one list request may ask for.
MAX_PAGE = 1000


class DaemonLoading(errors.EngineUnavailable):
    """The daemon is still loading its models (or failed to)."""

    code = "loading"
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
    #: The voice sessions open now (a timer that fires is spoken in each).
    sessions: OpenSessions = field(default_factory=OpenSessions)
    #: Fires the timers; set once the core is loaded.
    timers: TimerClock | None = None

    def core(self) -> Lumina:
        """The core, or the loading failure (503 while still loading)."""
        if self.lumina is None:
            raise self.failure or DaemonLoading("Lumina is still loading its models.")
        return self.lumina

    def loaded(self) -> tuple[Lumina, Engines]:
        """The core and the engines, or the loading failure."""
        core = self.core()
        if self.engines is None:
            raise self.failure or DaemonLoading("Lumina is still loading its models.")
        return core, self.engines


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a sync core call in a thread (the core is sync and thread-safe)."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def parse_id(raw: str, error: type[errors.LuminaError], what: str) -> UUID:
    """A path id as UUID; a malformed one is simply not found."""
    try:
        return UUID(raw)
    except ValueError:
        raise error(f"No {what} with id {raw[:64]!r}.") from None
