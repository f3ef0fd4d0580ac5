"""Conversations read model: each conversation's turns in log order."""

from __future__ import annotations

import sqlite3
from typing import ClassVar

from luminad import protocol
from luminad.domain import Conversation
from luminad.projections.base import Fact, Projection
from luminad.providers.base import ChatMessage

#: Messages of history a reply is given (the newest ones).
HISTORY_MESSAGES = 20


class Conversations(Projection):
    name = "conversations"
    handles = frozenset(
        {
            Conversation.ConversationStarted,
            Conversation.UtteranceTranscribed,
            Conversation.ReplyCompleted,
            Conversation.ReplyInterrupted,
            Conversation.ConversationDeleted,
        }
    )
    user_tables: ClassVar[tuple[str, ...]] = ("conversations", "turns")

    def apply(self, conn: sqlite3.Connection, fact: Fact) -> None:
        conv = str(fact.aggregate_id)
        if fact.event is Conversation.ConversationDeleted:
            conn.execute("DELETE FROM turns WHERE conversation_id = ?", (conv,))
            conn.execute("DELETE FROM conversations WHERE id = ?", (conv,))
            return
        if fact.event is Conversation.ConversationStarted:
            conn.execute(
                "INSERT OR REPLACE INTO conversations VALUES (?, ?, ?, ?)",
                (conv, fact.id_of("avatar_id"), fact.at, fact.position),
            )
            return
        if fact.event is Conversation.UtteranceTranscribed:
            role, text, interrupted = "user", fact.data["text"], 0
        elif fact.event is Conversation.ReplyCompleted:
            role, text, interrupted = "assistant", fact.data["text"], 0
        else:
            role, text, interrupted = "assistant", fact.data["heard_text"], 1
        conn.execute(
            "INSERT OR REPLACE INTO turns SELECT ?, ?, ?, ?, ?, ?, ? "
            "WHERE EXISTS (SELECT 1 FROM conversations WHERE id = ?)",
            (
                conv,
                fact.id_of("turn_id"),
                role,
                str(text),
                fact.at,
                interrupted,
                fact.position,
                conv,
            ),
        )


def exists(conn: sqlite3.Connection, conversation_id: str) -> bool:
    row = conn.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,))
    return row.fetchone() is not None


def _turns(conn: sqlite3.Connection, conversation_id: str) -> list[protocol.Turn]:
    rows = conn.execute(
        "SELECT turn_id, role, text, at, interrupted FROM turns "
        "WHERE conversation_id = ? ORDER BY position",
        (conversation_id,),
    )
    return [
        protocol.Turn(turn_id=t, role=r, text=x, at=a, interrupted=bool(i))
        for t, r, x, a, i in rows
    ]


def get(conn: sqlite3.Connection, conversation_id: str) -> protocol.Conversation | None:
    row = conn.execute(
        "SELECT id, avatar_id, started_at FROM conversations WHERE id = ?", (conversation_id,)
    ).fetchone()
    if row is None:
        return None
    return protocol.Conversation(
        id=row[0], avatar_id=row[1], started_at=row[2], turns=_turns(conn, row[0])
    )


def list_recent(conn: sqlite3.Connection, limit: int) -> list[protocol.Conversation]:
    """The most recently started conversations first."""
    rows = conn.execute(
        "SELECT id, avatar_id, started_at FROM conversations ORDER BY position DESC LIMIT ?",
        (limit,),
    ).fetchall()
    return [
        protocol.Conversation(id=i, avatar_id=a, started_at=s, turns=_turns(conn, i))
        for i, a, s in rows
    ]


def history_turns(
    conn: sqlite3.Connection, conversation_id: str, limit: int
) -> list[tuple[str, ChatMessage]]:
    """The newest messages (at most ``limit``), each with its turn id; an interrupted reply
    holds only what the user heard.

    The window's start moves in steps of half the limit, so it holds ``limit / 2`` to ``limit``
    messages: between two steps every reply's prompt begins with the previous one and llama.cpp
    evaluates only the newest turn. A window sliding by one turn changed the prompt right after
    the system prompt on every turn once it was full (Qwen 0.5B: first token 0.3-0.8 s for the
    first 12 turns, 7-10 s from the 13th on).
    """
    where = "FROM turns WHERE conversation_id = ? AND text != ''"
    (total,) = conn.execute(f"SELECT COUNT(*) {where}", (conversation_id,)).fetchone()
    step = max(1, limit // 2)
    start = max(0, int(total) - limit)
    start += -start % step  # rounded up to a step
    rows = conn.execute(
        f"SELECT turn_id, role, text {where} ORDER BY position LIMIT -1 OFFSET ?",
        (conversation_id, start),
    ).fetchall()
    return [(turn, ChatMessage(role=role, content=text)) for turn, role, text in rows]


def find_turn(conn: sqlite3.Connection, turn_id: str) -> tuple[str, int] | None:
    """The conversation of a turn and the log position of its utterance (None when unknown)."""
    row = conn.execute(
        "SELECT conversation_id, position FROM turns WHERE turn_id = ? AND role = 'user'",
        (turn_id,),
    ).fetchone()
    return None if row is None else (str(row[0]), int(row[1]))


def user_turn_ids(conn: sqlite3.Connection) -> list[str]:
    """Every turn with an utterance, in every conversation (for id prefixes)."""
    return [str(r[0]) for r in conn.execute("SELECT turn_id FROM turns WHERE role = 'user'")]


def turn_ids(conn: sqlite3.Connection, conversation_id: str) -> list[str]:
    """The conversation's turns (those with an utterance), oldest first."""
    rows = conn.execute(
        "SELECT turn_id FROM turns WHERE conversation_id = ? AND role = 'user' ORDER BY position",
        (conversation_id,),
    )
    return [str(r[0]) for r in rows]
