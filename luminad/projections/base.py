"""What every projection shares: the decoded event (:class:`Fact`) and the base class."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from uuid import UUID


@dataclass(frozen=True, slots=True)
class Fact:
    """One event of the log as projections see it (user content already decrypted)."""

    position: int
    #: The event's class (projections match on it, never on a name).
    event: type
    aggregate_id: UUID
    version: int
    #: ISO 8601 UTC timestamp of the event.
    at: str
    data: Mapping[str, Any]

    def id_of(self, name: str) -> str | None:
        """The UUID field ``name`` as a string (None when unset)."""
        value = self.data.get(name)
        return None if value is None else str(value)


class Projection:
    """A read model: applies facts to its tables inside the runner's transaction."""

    name: ClassVar[str]
    #: Event classes this projection applies (User.UserForgotten always purges it).
    handles: ClassVar[frozenset[type]]
    #: Tables holding user rows, each with a ``position`` column.
    user_tables: ClassVar[tuple[str, ...]]

    def prepare(self, facts: Sequence[Fact]) -> None:
        """Work done before the transaction (e.g. batch embedding)."""

    def apply(self, conn: sqlite3.Connection, fact: Fact) -> None:
        raise NotImplementedError

    def purge(self, conn: sqlite3.Connection) -> None:
        """Delete everything of the user (on UserForgotten)."""
        for table in self.user_tables:
            conn.execute(f"DELETE FROM {table}")

    def user_rows(self, conn: sqlite3.Connection, before: int | None = None) -> int:
        """How many user rows the tables hold (written before log position ``before``)."""
        total = 0
        for table in self.user_tables:
            sql = f"SELECT COUNT(*) FROM {table} WHERE position < ?"
            total += conn.execute(sql, (before if before is not None else 2**62,)).fetchone()[0]
        return int(total)
