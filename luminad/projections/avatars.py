"""Avatars read model."""

from __future__ import annotations

import sqlite3
from typing import ClassVar

from luminad import protocol
from luminad.domain import Avatar
from luminad.projections.base import Fact, Projection

_COLUMN: dict[type, str] = {
    Avatar.AvatarRenamed: "name",
    Avatar.AvatarPersonaChanged: "persona",
    Avatar.AvatarStyleChanged: "style",
    Avatar.AvatarVoiceChanged: "voice",
}


class Avatars(Projection):
    name = "avatars"
    handles = frozenset(
        {
            Avatar.AvatarCreated,
            Avatar.BuiltinAvatarCreated,
            Avatar.AvatarDeleted,
            Avatar.AvatarReset,
            *_COLUMN,
        }
    )
    user_tables: ClassVar[tuple[str, ...]] = ("avatars",)

    def apply(self, conn: sqlite3.Connection, fact: Fact) -> None:
        avatar_id, d = str(fact.aggregate_id), fact.data
        if fact.event in (Avatar.AvatarCreated, Avatar.BuiltinAvatarCreated):
            conn.execute(
                "INSERT OR REPLACE INTO avatars VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    avatar_id,
                    d["name"],
                    d["persona"],
                    d["style"],
                    d["voice"],
                    int(bool(d.get("builtin"))),
                    fact.at,
                    fact.position,
                ),
            )
        elif fact.event is Avatar.AvatarDeleted:
            conn.execute("DELETE FROM avatars WHERE id = ?", (avatar_id,))
        elif fact.event is Avatar.AvatarReset:
            conn.execute(
                "UPDATE avatars SET name = ?, persona = ?, style = ? WHERE id = ?",
                (d["name"], d["persona"], d["style"], avatar_id),
            )
        else:
            column = _COLUMN[fact.event]
            conn.execute(
                f"UPDATE avatars SET {column} = ? WHERE id = ?", (str(d[column]), avatar_id)
            )

    def purge(self, conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM avatars WHERE builtin = 0")

    def user_rows(self, conn: sqlite3.Connection, before: int | None = None) -> int:
        row = conn.execute(
            "SELECT COUNT(*) FROM avatars WHERE builtin = 0 AND position < ?",
            (before if before is not None else 2**62,),
        ).fetchone()
        return int(row[0])


def _avatar(row: tuple[str, str, str, str, str, int]) -> protocol.Avatar:
    return protocol.Avatar(
        id=row[0], name=row[1], persona=row[2], style=row[3], voice=row[4], builtin=bool(row[5])
    )


def get(conn: sqlite3.Connection, avatar_id: str) -> protocol.Avatar | None:
    row = conn.execute(
        "SELECT id, name, persona, style, voice, builtin FROM avatars WHERE id = ?", (avatar_id,)
    ).fetchone()
    return None if row is None else _avatar(row)


def list_all(conn: sqlite3.Connection) -> list[protocol.Avatar]:
    """Built-in first, then in the order they were created."""
    rows = conn.execute(
        "SELECT id, name, persona, style, voice, builtin FROM avatars "
        "ORDER BY builtin DESC, position"
    )
    return [_avatar(r) for r in rows]
