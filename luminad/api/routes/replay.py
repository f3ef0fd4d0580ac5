"""``POST /v1/turns/{turn_id}/replay``: re-run a recorded turn (see :mod:`luminad.agent.replay`)."""

from __future__ import annotations

from typing import Any

from litestar import post

from luminad import errors, protocol
from luminad.api.runtime import Runtime, parse_id


def replay_routes(runtime: Runtime) -> list[Any]:
    """The route handlers of this area."""

    @post("/v1/turns/{turn_id:str}/replay", tags=["conversations"], status_code=200)
    async def replay_turn(
        turn_id: str, data: protocol.ReplayRequest | None = None
    ) -> protocol.TurnReplay:
        """Rebuild the turn's context from the log as it stood then and answer it again (text
        only; nothing is written). The body's fields override the recorded model settings."""
        from luminad.agent.replay import Replayer
        from luminad.providers.llm_choice import load_llm

        core, engines = runtime.loaded()
        turn = parse_id(turn_id, errors.TurnNotFound, "turn", core.queries.turn_ids)
        replayer = Replayer(
            core, runtime.settings, engines.llm, lambda settings: load_llm(settings)[0]
        )
        return await replayer.replay(turn, data or protocol.ReplayRequest())

    return [replay_turn]
