"""Turn timings read model: per-stage latency of recent turns (p50/p95)."""

from __future__ import annotations

import sqlite3
from typing import ClassVar

import numpy as np

from luminad import protocol
from luminad.domain import Conversation
from luminad.projections.base import Fact, Projection

STAGES = (
    "endpoint_ms",
    "stt_ms",
    "llm_first_token_ms",
    "first_sentence_ms",
    "tts_first_audio_ms",
    "voice_to_voice_ms",
    "total_ms",
)


class Timings(Projection):
    name = "timings"
    handles = frozenset({Conversation.TurnTimed, Conversation.ConversationDeleted})
    user_tables: ClassVar[tuple[str, ...]] = ("turn_timings",)

    def apply(self, conn: sqlite3.Connection, fact: Fact) -> None:
        conv, turn = str(fact.aggregate_id), fact.id_of("turn_id")
        if fact.event is Conversation.ConversationDeleted:
            conn.execute("DELETE FROM turn_timings WHERE conversation_id = ?", (conv,))
            return
        conn.executemany(
            "INSERT OR REPLACE INTO turn_timings VALUES (?, ?, ?, ?, ?)",
            [
                (conv, turn, stage, float(ms), fact.position)
                for stage, ms in dict(fact.data["timings_ms"]).items()
            ],
        )


def latency(conn: sqlite3.Connection, window: int) -> protocol.LatencyMetrics:
    """p50/p95 per stage over the last ``window`` timed turns."""
    turns = conn.execute(
        "SELECT conversation_id, turn_id FROM turn_timings GROUP BY "
        "conversation_id, turn_id ORDER BY MAX(position) DESC LIMIT ?",
        (window,),
    ).fetchall()
    keys = {(c, t) for c, t in turns}
    values: dict[str, list[float]] = {}
    for conv, turn, stage, ms in conn.execute(
        "SELECT conversation_id, turn_id, stage, ms FROM turn_timings"
    ):
        if (conv, turn) in keys:
            values.setdefault(stage, []).append(ms)
    stages = {}
    for stage in (*STAGES, *sorted(set(values) - set(STAGES))):
        xs = values.get(stage, [])
        stages[stage] = protocol.StageLatency(
            count=len(xs),
            p50_ms=float(np.percentile(xs, 50)) if xs else None,
            p95_ms=float(np.percentile(xs, 95)) if xs else None,
        )
    return protocol.LatencyMetrics(turns=len(turns), stages=stages)
