"""The timers: list them, cancel one."""

from __future__ import annotations

from typing import Any

from litestar import delete, get

from luminad import errors, protocol
from luminad.api.runtime import Runtime, call, parse_id
from luminad.timers import timer_message


def timers_routes(runtime: Runtime) -> list[Any]:
    """The route handlers of this area."""

    @get("/v1/timers", tags=["timers"])
    async def list_timers(running: bool = False) -> list[protocol.Timer]:
        return await call(runtime.core().queries.list_timers, running=running)

    @delete("/v1/timers/{timer_id:str}", tags=["timers"], status_code=204)
    async def cancel_timer(timer_id: str) -> None:
        core = runtime.core()
        uid = parse_id(
            timer_id,
            errors.TimerNotFound,
            "timer",
            lambda: [t.id for t in core.queries.list_timers()],
        )
        clock = runtime.timers
        if clock is None:
            raise errors.TimerNotFound(f"No timer with id {timer_id[:64]!r}.")
        timer = await clock.cancel(uid)
        await runtime.sessions.announce("", timer_message(timer))

    return [list_timers, cancel_timer]
