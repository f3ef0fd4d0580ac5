"""Runs the projections: migrations, catch-up by polling the notification log, rebuild.

eventsourcing's ProjectionRunner refuses SQLite (no subscriptions), so :class:`ReadModels`
polls ``select_notifications`` after its tracking position. Each batch is applied in one
SQLite transaction that also moves every projection's tracking row, so a crash at any moment
leaves rows and positions in step: catch-up resumes with no gap and no duplicate. An event that
cannot be decoded or applied is recorded in ``bad_events`` and skipped, never a crash.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Notification

from luminad.domain import User
from luminad.mapper import PrivateMapper, event_name
from luminad.projections.avatars import Avatars
from luminad.projections.base import Fact, Projection
from luminad.projections.conversations import Conversations
from luminad.projections.memories import Memories
from luminad.projections.profile import ProfileView
from luminad.projections.timers import Timers
from luminad.projections.timings import Timings
from luminad.providers.base import Embedder
from luminad.settings import Settings, package_data
from luminad.sqlite import UnreadableDatabase, compact, connect, is_plain, rekey, shred_file

log = logging.getLogger(__name__)
MIGRATIONS_DIR = package_data("migrations")
BATCH = 1000


def migrate(conn: sqlite3.Connection, directory: Path = MIGRATIONS_DIR) -> int:
    """Apply every ``NNNN_*.sql`` newer than the ``schema_version``, each in one transaction
    (``BEGIN IMMEDIATE``, so two processes starting together apply it once); returns the
    version."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    version = 0
    for path in sorted(directory.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = int(
                conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0
            )
            number = int(path.name[:4])
            if number > version:
                for statement in _statements(path.read_text()):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version VALUES (?)", (number,))
                version = number
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return version


def _statements(script: str) -> list[str]:
    """Split an SQL script into complete statements."""
    out, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            out.append(buffer.strip())
            buffer = ""
    return out


def to_fact(mapper: PrivateMapper, note: Notification) -> Fact:
    """Decode one notification (raises on corrupt, unknown or un-upcastable events)."""
    domain_event = mapper.to_domain_event(note)
    state: dict[str, Any] = dict(vars(domain_event))
    timestamp = state.pop("timestamp")
    for key in ("originator_id", "originator_version", "originator_topic"):
        state.pop(key, None)
    if not isinstance(timestamp, datetime):
        raise TypeError("event timestamp is not a datetime")
    return Fact(
        position=note.id,
        event=type(domain_event),
        aggregate_id=UUID(str(note.originator_id)),
        version=note.originator_version,
        at=timestamp.isoformat(),
        data=state,
    )


class ReadModels:
    """Every read model in one SQLCipher file (``settings.read_db_path``) keyed from the key
    store. A plain file of an older install is shredded and rebuilt encrypted from the log."""

    def __init__(self, path: Path, embedder: Embedder, key: bytes) -> None:
        self.path = path
        if is_plain(path):
            log.info("read models: replacing the plain file with an encrypted one")
            shred_file(path)
        try:
            self.conn = connect(path, key=key)
        except UnreadableDatabase:  # e.g. a crash between re-keying it and saving the new key
            log.warning("read models: not readable with the key store's key; rebuilt from the log")
            shred_file(path)
            self.conn = connect(path, key=key)
        migrate(self.conn)
        self.projections: list[Projection] = [
            Conversations(),
            Memories(embedder),
            Avatars(),
            ProfileView(),
            Timings(),
            Timers(),
        ]
        self.conn.executemany(
            "INSERT OR IGNORE INTO tracking VALUES (?, 0)", [(p.name,) for p in self.projections]
        )

    def positions(self) -> dict[str, int]:
        return dict(self.conn.execute("SELECT projection, position FROM tracking").fetchall())

    def position(self) -> int:
        """The log position every projection has reached."""
        return min(self.positions().get(p.name, 0) for p in self.projections)

    def bad_events(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM bad_events").fetchone()[0])

    def catch_up(
        self, recorder: ApplicationRecorder, mapper: PrivateMapper, *, stop: int | None = None
    ) -> int:
        """Apply every event after the tracking positions (up to ``stop``, when given);
        returns how many were read."""
        seen = 0
        while True:
            positions = self.positions()
            start = min(positions.get(p.name, 0) for p in self.projections)
            notes = recorder.select_notifications(start, BATCH, stop=stop, inclusive_of_start=False)
            if not notes:
                return seen
            self._apply_batch(notes, mapper)
            seen += len(notes)

    def _apply_batch(self, notes: Sequence[Notification], mapper: PrivateMapper) -> None:
        facts: list[Fact] = []
        bad: list[tuple[int, str, str]] = []
        for note in notes:
            try:
                facts.append(to_fact(mapper, note))
            except Exception as e:  # bad data never stops replay
                bad.append((note.id, event_name(note.topic), type(e).__name__))
        for projection in self.projections:
            projection.prepare([f for f in facts if f.event in projection.handles])
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            positions = self.positions()  # again, inside the transaction: another process
            for projection in self.projections:  # may have applied some of these already
                done = positions.get(projection.name, 0)
                for fact in facts:
                    if fact.position > done:
                        self._apply_one(projection, fact, bad)
                conn.execute(
                    "UPDATE tracking SET position = MAX(position, ?) WHERE projection = ?",
                    (notes[-1].id, projection.name),
                )
            conn.executemany("INSERT OR IGNORE INTO bad_events VALUES (?, ?, ?)", bad)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if bad:
            log.warning(
                "skipped %d undecodable event(s) at positions %s",
                len(bad),
                [b[0] for b in bad][:10],
            )

    def _apply_one(
        self, projection: Projection, fact: Fact, bad: list[tuple[int, str, str]]
    ) -> None:
        forgotten = fact.event is User.UserForgotten
        if not forgotten and fact.event not in projection.handles:
            return
        self.conn.execute("SAVEPOINT fact")
        try:
            if forgotten:
                projection.purge(self.conn)
            else:
                projection.apply(self.conn, fact)
        except Exception as e:
            self.conn.execute("ROLLBACK TO fact")
            name = fact.event.__name__
            bad.append((fact.position, name, f"{projection.name}: {type(e).__name__}"))
        self.conn.execute("RELEASE fact")

    def user_rows(self, before: int | None = None) -> int:
        """Rows of user data in every read model (written before log position ``before``)."""
        return sum(p.user_rows(self.conn, before) for p in self.projections)

    def orphan_vectors(self) -> int:
        """Vectors whose memory row is gone (must be 0: deleting a memory deletes its vector)."""
        return int(
            self.conn.execute(
                "SELECT COUNT(*) FROM memory_vectors"
                " WHERE rowid NOT IN (SELECT rowid FROM memories)"
            ).fetchone()[0]
        )

    def compact(self) -> None:
        """Checkpoint the WAL and VACUUM (secure_delete is on): no freed page keeps data."""
        compact(self.conn)

    def rekey(self, key: bytes) -> None:
        """Re-encrypt the whole file under a new key (copies of the old file stay locked)."""
        rekey(self.conn, key)

    def drop_all(self) -> None:
        """Drop every read-model table, then recreate them empty."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        for sql in (
            "SELECT name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL TABLE%'",
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'",
        ):
            for (name,) in conn.execute(sql).fetchall():
                conn.execute(f'DROP TABLE IF EXISTS "{name}"')
        conn.execute("COMMIT")
        migrate(self.conn)
        self.conn.executemany(
            "INSERT OR IGNORE INTO tracking VALUES (?, 0)", [(p.name,) for p in self.projections]
        )
        self.compact()

    def close(self) -> None:
        self.conn.close()


def rebuild_all(settings: Settings) -> None:
    """Drop every read model and rebuild it from the event log (``luminad rebuild-projections``)."""
    from luminad.app import open_lumina
    from luminad.providers.embeddings import MiniLmEmbedder

    app = open_lumina(settings, MiniLmEmbedder())
    try:
        count = app.rebuild_projections()
        print(f"rebuilt read models from {count} events")
    finally:
        app.close()
