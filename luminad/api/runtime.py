"""What the HTTP routes work on: :class:`Runtime`, filled in by the server once models load."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
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
#: The shortest id prefix accepted in place of a whole id.
MIN_ID_PREFIX = 4


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


def parse_id(
    raw: str,
    error: type[errors.LuminaError],
    what: str,
    known: Callable[[], Iterable[str]] | None = None,
) -> UUID:
    """A path id as UUID. With ``known`` (the ids that exist) also a unique prefix of one, of at
    least :data:`MIN_ID_PREFIX` characters (the CLI's tables show 8). Unknown or malformed: not
    found; a prefix of several: ``bad_message`` naming how many."""
    try:
        return UUID(raw)
    except ValueError:
        pass
    prefix = raw.strip().lower()
    if known is not None and len(prefix) >= MIN_ID_PREFIX:
        matches = sorted({k for k in known() if k.startswith(prefix)})
        if len(matches) == 1:
            return UUID(matches[0])
        if matches:
            raise errors.BadMessage(
                f"The id prefix {raw[:64]!r} matches {len(matches)} {what} ids.",
                action="Give more characters of the id (the list shows them).",
            )
    raise error(f"No {what} with id {raw[:64]!r}.")


def avatar_ids(core: Lumina) -> Callable[[], list[str]]:
    """The ids of every avatar, for :func:`parse_id`'s prefixes."""
    return lambda: [a.id for a in core.queries.list_avatars()]
