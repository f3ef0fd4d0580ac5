"""Timers read model: every timer with its label, state and due time."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import ClassVar, cast

from luminad import protocol
from luminad.domain import Timer
from luminad.projections.base import Fact, Projection

_COLUMNS = "id, label, state, due_at, created_at"


class Timers(Projection):
    name = "timers"
    handles = frozenset({Timer.TimerSet, Timer.TimerFired, Timer.TimerCancelled})
    user_tables: ClassVar[tuple[str, ...]] = ("timers",)

    def apply(self, conn: sqlite3.Connection, fact: Fact) -> None:
        timer = str(fact.aggregate_id)
        if fact.event is Timer.TimerSet:
            conn.execute(
                "INSERT OR REPLACE INTO timers VALUES (?, ?, 'set', ?, ?, ?)",
                (timer, str(fact.data["label"]), str(fact.data["due_at"]), fact.at, fact.position),
            )
            return
        state = "fired" if fact.event is Timer.TimerFired else "cancelled"
        conn.execute(
            "UPDATE timers SET state = ?, position = ? WHERE id = ?", (state, fact.position, timer)
        )


def _timer(row: Sequence[str]) -> protocol.Timer:
    state = cast("protocol.TimerState", row[2])
    return protocol.Timer(id=row[0], label=row[1], state=state, due_at=row[3], created_at=row[4])


def get(conn: sqlite3.Connection, timer_id: str) -> protocol.Timer | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM timers WHERE id = ?", (timer_id,)).fetchone()
    return None if row is None else _timer(row)


def list_all(conn: sqlite3.Connection, *, running: bool = False) -> list[protocol.Timer]:
    """Every timer (newest first), or only those still running (soonest first)."""
    if running:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM timers WHERE state = 'set' ORDER BY due_at, position"
        )
    else:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM timers ORDER BY position DESC")
    return [_timer(r) for r in rows]
