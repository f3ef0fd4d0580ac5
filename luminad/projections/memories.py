"""Memories read model: text plus a 384-d vector in a sqlite-vec ``vec0`` table, per avatar."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from luminad import protocol
from luminad.domain import Memory
from luminad.keystore import SHREDDED
from luminad.projections.base import Fact, Projection
from luminad.providers.base import Embedder

_COLUMNS = "m.id, m.text, m.avatar_id, m.conversation_id, m.turn_id, m.created_at"


class Memories(Projection):
    name = "memories"
    handles = frozenset({Memory.MemoryRemembered, Memory.MemoryForgotten})
    user_tables: ClassVar[tuple[str, ...]] = ("memories",)

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._vectors: dict[int, bytes] = {}

    def prepare(self, facts: Sequence[Fact]) -> None:
        """Embed every remembered text of the batch in one call."""
        todo = [f for f in facts if f.event is Memory.MemoryRemembered and _readable(f)]
        self._vectors = {}
        if todo:
            vectors = self.embedder.embed([str(f.data["text"]) for f in todo])
            self._vectors = {
                f.position: np.asarray(v, dtype=np.float32).tobytes()
                for f, v in zip(todo, vectors, strict=True)
            }

    def apply(self, conn: sqlite3.Connection, fact: Fact) -> None:
        memory_id = str(fact.aggregate_id)
        _delete(conn, memory_id)
        if fact.event is Memory.MemoryForgotten or not _readable(fact):
            return  # deleted, or shredded (a fold of the log up to a point before it was)
        avatar = fact.id_of("avatar_id")
        cur = conn.execute(
            "INSERT INTO memories (id, text, avatar_id, conversation_id, turn_id, created_at, "
            "position) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                memory_id,
                str(fact.data["text"]),
                avatar,
                fact.id_of("conversation_id"),
                fact.id_of("turn_id"),
                fact.at,
                fact.position,
            ),
        )
        vector = self._vectors.get(fact.position)
        if vector is None:
            vector = self.embedder.embed([str(fact.data["text"])])[0].astype(np.float32).tobytes()
        conn.execute(
            "INSERT INTO memory_vectors (rowid, scope, embedding) VALUES (?, ?, ?)",
            (cur.lastrowid, avatar or "", vector),
        )

    def purge(self, conn: sqlite3.Connection) -> None:
        """Delete every memory and rebuild the vector table: sqlite-vec 0.1.9 leaves deleted
        vectors' bytes in its chunks, so dropping the table is the only way to erase them."""
        conn.execute("DELETE FROM memories")
        (ddl,) = conn.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'memory_vectors'"
        ).fetchone()
        conn.execute("DROP TABLE memory_vectors")
        conn.execute(ddl)

    def user_rows(self, conn: sqlite3.Connection, before: int | None = None) -> int:
        rows = super().user_rows(conn, before)
        if before is None:
            rows += conn.execute("SELECT COUNT(*) FROM memory_vectors").fetchone()[0]
        return int(rows)


def _readable(fact: Fact) -> bool:
    return fact.data.get("text") != SHREDDED


def _delete(conn: sqlite3.Connection, memory_id: str) -> None:
    row = conn.execute("SELECT rowid FROM memories WHERE id = ?", (memory_id,)).fetchone()
    if row is not None:
        conn.execute("DELETE FROM memory_vectors WHERE rowid = ?", (row[0],))
        conn.execute("DELETE FROM memories WHERE rowid = ?", (row[0],))


def _memory(row: Sequence[str | None], score: float | None = None) -> protocol.Memory:
    return protocol.Memory(
        id=str(row[0]),
        text=str(row[1]),
        avatar_id=row[2],
        source=protocol.MemorySource(conversation_id=row[3], turn_id=row[4]),
        created_at=str(row[5]),
        score=score,
    )


def exists(conn: sqlite3.Connection, memory_id: str) -> bool:
    return conn.execute("SELECT 1 FROM memories WHERE id = ?", (memory_id,)).fetchone() is not None


def text_of(conn: sqlite3.Connection, memory_id: str) -> str | None:
    row = conn.execute("SELECT text FROM memories WHERE id = ?", (memory_id,)).fetchone()
    return None if row is None else str(row[0])


def list_for(conn: sqlite3.Connection, avatar_id: str | None) -> list[protocol.Memory]:
    """All memories (``avatar_id`` None), or the avatar's own plus the shared ones."""
    if avatar_id is None:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM memories m ORDER BY position")
    else:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM memories m WHERE avatar_id = ? "
            "OR avatar_id IS NULL ORDER BY position",
            (avatar_id,),
        )
    return [_memory(r) for r in rows]


def search(
    conn: sqlite3.Connection, vector: bytes, avatar_id: str | None, limit: int
) -> list[protocol.Memory]:
    """Nearest memories by cosine similarity (``score`` = 1 - cosine distance)."""
    limit = min(limit, 4096)  # sqlite-vec's largest k
    scope = "" if avatar_id is None else "AND scope IN (?, '')"
    params: tuple[object, ...] = (
        (vector, limit) if avatar_id is None else (vector, limit, avatar_id)
    )
    rows = conn.execute(
        "WITH knn AS (SELECT rowid, distance FROM memory_vectors WHERE embedding MATCH ? "
        f"AND k = ? {scope}) SELECT {_COLUMNS}, knn.distance FROM knn "
        "JOIN memories m ON m.rowid = knn.rowid ORDER BY knn.distance",
        params,
    ).fetchall()
    return [_memory(r[:6], round(1.0 - float(r[6]), 6)) for r in rows]
