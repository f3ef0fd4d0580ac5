"""Turn timings read model: per-stage latency of recent turns (p50/p95) and how they ended."""

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
    user_tables: ClassVar[tuple[str, ...]] = ("turn_timings", "turn_outcomes")

    def apply(self, conn: sqlite3.Connection, fact: Fact) -> None:
        conv, turn = str(fact.aggregate_id), fact.id_of("turn_id")
        if fact.event is Conversation.ConversationDeleted:
            for table in self.user_tables:
                conn.execute(f"DELETE FROM {table} WHERE conversation_id = ?", (conv,))
            return
        conn.executemany(
            "INSERT OR REPLACE INTO turn_timings VALUES (?, ?, ?, ?, ?)",
            [
                (conv, turn, stage, float(ms), fact.position)
                for stage, ms in dict(fact.data["timings_ms"]).items()
            ],
        )
        conn.execute(
            "INSERT OR REPLACE INTO turn_outcomes VALUES (?, ?, ?, ?)",
            (conv, turn, str(fact.data.get("outcome") or "completed"), fact.position),
        )


def latency(conn: sqlite3.Connection, window: int) -> protocol.LatencyMetrics:
    """p50/p95 per stage over the last ``window`` timed turns (every outcome), and how many
    of them completed, were interrupted or failed."""
    turns = conn.execute(
        "SELECT t.conversation_id, t.turn_id, COALESCE(o.outcome, 'completed') FROM ("
        " SELECT conversation_id, turn_id, MAX(position) AS position FROM ("
        "  SELECT conversation_id, turn_id, position FROM turn_timings UNION ALL"
        "  SELECT conversation_id, turn_id, position FROM turn_outcomes)"
        " GROUP BY conversation_id, turn_id) AS t LEFT JOIN turn_outcomes AS o"
        " ON o.conversation_id = t.conversation_id AND o.turn_id = t.turn_id"
        " ORDER BY t.position DESC LIMIT ?",
        (window,),
    ).fetchall()
    keys = {(c, t) for c, t, _ in turns}
    outcomes = {"completed": 0, "interrupted": 0, "failed": 0}
    for _, _, outcome in turns:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
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
    return protocol.LatencyMetrics(turns=len(turns), stages=stages, outcomes=outcomes)
