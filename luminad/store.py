"""The event store: eventsourcing's Application configured from Settings (SQLite or PostgreSQL)
with the privacy mapper that encrypts user content field by field, and a tamper-evident log.

Every stored event has a row in a chain table holding ``sha256(hash of its predecessor || the
event as stored)``, written by the recorder in the same transaction as the event. The hash is
over the stored (sealed, possibly cipher-encrypted) bytes, so destroying a key (forget-me,
deleting a memory) leaves the chain verifiable. :func:`verify_chain` recomputes every link and
names the first position where the log was edited, or where an event was removed. A log written
before the chain existed is chained when the recorder first opens it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Mapper, Notification, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from eventsourcing.utils import Environment, EnvType, get_topic
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from luminad import protocol
from luminad.errors import LuminaError
from luminad.keystore import KeyStore
from luminad.mapper import PrivateMapper
from luminad.settings import Settings


def ensure_postgres_schema(settings: Settings) -> None:
    """eventsourcing creates tables but not the schema they live in."""
    import psycopg
    from psycopg import sql

    env = settings.store_env()
    try:
        with psycopg.connect(
            host=env["POSTGRES_HOST"],
            port=int(env["POSTGRES_PORT"]),
            dbname=env["POSTGRES_DBNAME"],
            user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"],
            connect_timeout=5,
            autocommit=True,
        ) as conn:
            conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                    sql.Identifier(env["POSTGRES_SCHEMA"])
                )
            )
    except psycopg.OperationalError as e:
        raise LuminaError(
            f"the PostgreSQL event store at {env['POSTGRES_HOST']}:{env['POSTGRES_PORT']} "
            f"is not reachable ({type(e).__name__})",
            action="Start PostgreSQL, or set LUMINA_STORE=sqlite.",
        ) from e


# ---------------------------------------------------------------------------- hash chain
#: The predecessor of the first event.
GENESIS = bytes(32)
_PAGE = 2000


def link(previous: bytes, event: StoredEvent) -> bytes:
    """The chain hash of ``event``: SHA-256 over its predecessor's hash and the event exactly as
    stored (id, version, topic, and the state bytes after field sealing, compression and
    cipher), each field length-prefixed. Shredding a key changes no stored byte, so the chain
    stays verifiable after forget-me."""
    originator = event.originator_id
    parts = (
        (originator if isinstance(originator, UUID) else UUID(str(originator))).bytes,
        event.originator_version.to_bytes(8, "big"),
        event.topic.encode(),
        bytes(event.state),
    )
    digest = hashlib.sha256(previous)
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


def chain_links(previous: bytes, events: Sequence[StoredEvent]) -> list[bytes]:
    """The chain hashes of ``events`` appended after a link whose hash is ``previous``."""
    out = []
    for event in events:
        previous = link(previous, event)
        out.append(previous)
    return out


class Chained(Protocol):
    """What :func:`verify_chain` reads from a recorder that keeps the chain."""

    def max_notification_id(self) -> int | None: ...

    def select_links(
        self, after: int, stop: int, limit: int
    ) -> Sequence[tuple[Notification, bytes | None]]:
        """Events after ``after`` up to ``stop`` in log order, each with its stored chain hash
        (None when the event has no chain row)."""
        ...

    def first_orphan_link(self) -> int | None:
        """The first position with a chain row but no event (a removed event)."""
        ...


def verify_chain(recorder: Chained) -> protocol.ChainVerification:
    """Recompute every link from the stored bytes; name the first position where it breaks."""
    stop = recorder.max_notification_id() or 0
    orphan = recorder.first_orphan_link()
    previous, count, after = GENESIS, 0, 0
    while True:
        page = recorder.select_links(after, stop, _PAGE)
        for note, stored in page:
            if orphan is not None and orphan < note.id:
                return _broken(count, previous, orphan)
            if stored is None or stored != link(previous, note):
                return _broken(count, previous, note.id)
            previous, count = stored, count + 1
        if len(page) < _PAGE:
            break
        after = page[-1][0].id
    if orphan is not None:
        return _broken(count, previous, orphan)
    return protocol.ChainVerification(ok=True, events=count, head=previous.hex())


def _broken(count: int, previous: bytes, position: int) -> protocol.ChainVerification:
    return protocol.ChainVerification(
        ok=False, events=count, head=previous.hex(), broken_at=position
    )


class ChainedSQLiteRecorder(SQLiteApplicationRecorder):
    """eventsourcing's SQLite recorder that writes each event's chain row in the same
    transaction as the event (table ``event_chain``: position -> hash)."""

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS event_chain "
            "(position INTEGER PRIMARY KEY, hash BLOB NOT NULL)",
        ]

    def create_table(self) -> None:
        """Tables, then the chain of a log written before there was one (migration)."""
        super().create_table()
        with self.datastore.transaction(commit=True) as c:
            c.execute("SELECT EXISTS (SELECT 1 FROM event_chain)")
            if c.fetchone()[0]:
                return
            previous, after = GENESIS, 0
            while True:
                c.execute(
                    f"SELECT rowid, * FROM {self.events_table_name} WHERE rowid>? "
                    "ORDER BY rowid LIMIT ?",
                    (after, _PAGE),
                )
                rows = c.fetchall()
                hashes = chain_links(previous, [self._note(row) for row in rows])
                c.executemany(
                    "INSERT INTO event_chain VALUES (?, ?)",
                    [(row["rowid"], h) for row, h in zip(rows, hashes, strict=True)],
                )
                if len(rows) < _PAGE:
                    return
                previous, after = hashes[-1], rows[-1]["rowid"]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        assert ids is not None
        c.execute("SELECT hash FROM event_chain ORDER BY position DESC LIMIT 1")
        head = c.fetchone()
        hashes = chain_links(GENESIS if head is None else bytes(head[0]), stored_events)
        c.executemany("INSERT INTO event_chain VALUES (?, ?)", list(zip(ids, hashes, strict=True)))
        return ids

    def _note(self, row: Any) -> Notification:
        return Notification(
            id=row["rowid"],
            originator_id=self.convert_originator_id(row["originator_id"]),
            originator_version=row["originator_version"],
            topic=row["topic"],
            state=row["state"],
        )

    def select_links(
        self, after: int, stop: int, limit: int
    ) -> list[tuple[Notification, bytes | None]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT e.rowid, e.*, c.hash FROM {self.events_table_name} e "
                "LEFT JOIN event_chain c ON c.position = e.rowid "
                "WHERE e.rowid > ? AND e.rowid <= ? ORDER BY e.rowid LIMIT ?",
                (after, stop, limit),
            )
            return [
                (self._note(row), None if row["hash"] is None else bytes(row["hash"]))
                for row in c.fetchall()
            ]

    def first_orphan_link(self) -> int | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT MIN(position) FROM event_chain WHERE position NOT IN "
                f"(SELECT rowid FROM {self.events_table_name})"
            )
            found: int | None = c.fetchone()[0]
            return found


class ChainedPostgresRecorder(PostgresApplicationRecorder):
    """eventsourcing's PostgreSQL recorder that writes each event's chain row in the same
    transaction as the event, while the events table is locked (table ``<events>_chain``)."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        schema = Identifier(datastore.schema)
        events = Identifier(events_table_name)
        chain = Identifier(f"{events_table_name}_chain")
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {}.{} "
                "(position bigint PRIMARY KEY, hash bytea NOT NULL)"
            ).format(schema, chain)
        )
        self._lock = SQL("LOCK TABLE {}.{} IN EXCLUSIVE MODE").format(schema, events)
        self._head = SQL("SELECT hash FROM {}.{} ORDER BY position DESC LIMIT 1").format(
            schema, chain
        )
        self._insert_link = SQL("INSERT INTO {}.{} VALUES (%s, %s)").format(schema, chain)
        self._select_page = SQL(
            "SELECT e.*, c.hash FROM {0}.{1} e LEFT JOIN {0}.{2} c "
            "ON c.position = e.notification_id "
            "WHERE e.notification_id > %s AND e.notification_id <= %s "
            "ORDER BY e.notification_id LIMIT %s"
        ).format(schema, events, chain)
        self._first_orphan = SQL(
            "SELECT MIN(c.position) AS position FROM {0}.{2} c WHERE "
            "NOT EXISTS (SELECT 1 FROM {0}.{1} e WHERE e.notification_id = c.position)"
        ).format(schema, events, chain)

    def create_table(self) -> None:
        """Tables, then the chain of a log written before there was one (migration)."""
        super().create_table()
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._lock)
            curs.execute(self._head)
            if curs.fetchone() is not None:
                return
            previous, after = GENESIS, 0
            while True:
                curs.execute(self._select_page, (after, 2**62, _PAGE))
                notes = [self._note(row) for row in curs.fetchall()]
                hashes = chain_links(previous, notes)
                curs.executemany(
                    self._insert_link,
                    [(n.id, h) for n, h in zip(notes, hashes, strict=True)],
                )
                if len(notes) < _PAGE:
                    return
                previous, after = hashes[-1], notes[-1].id

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        assert ids is not None
        curs.execute(self._head)  # the events table is locked until this transaction ends
        head = curs.fetchone()
        hashes = chain_links(GENESIS if head is None else bytes(head["hash"]), stored_events)
        curs.executemany(self._insert_link, list(zip(ids, hashes, strict=True)))
        return ids

    @staticmethod
    def _note(row: DictRow) -> Notification:
        return Notification(
            id=row["notification_id"],
            originator_id=row["originator_id"],
            originator_version=row["originator_version"],
            topic=row["topic"],
            state=bytes(row["state"]),
        )

    def select_links(
        self, after: int, stop: int, limit: int
    ) -> list[tuple[Notification, bytes | None]]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_page, (after, stop, limit))
            return [
                (self._note(row), None if row["hash"] is None else bytes(row["hash"]))
                for row in curs.fetchall()
            ]

    def first_orphan_link(self) -> int | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._first_orphan)
            row = curs.fetchone()
            return None if row is None else row["position"]


class EventLog(Application[UUID]):
    """The eventsourcing Application underneath :class:`Lumina`: store, mapper, repository.

    (Lumina wraps it rather than subclassing it because Lumina's public ``events()`` query
    would shadow the Application's ``events`` event store.)
    """

    name = "Lumina"

    def __init__(self, env: dict[str, str], keys: KeyStore) -> None:
        self.keys = keys
        super().__init__(env)

    @classmethod
    def from_settings(cls, settings: Settings, keys: KeyStore) -> EventLog:
        # Cached aggregates (fast-forwarded from the store) spare every command the replay of
        # its conversation's history; Lumina evicts what a failed command touched.
        recorder = ChainedPostgresRecorder if settings.uses_postgres else ChainedSQLiteRecorder
        env = settings.store_env() | {
            "APPLICATION_RECORDER_TOPIC": get_topic(recorder),
            "AGGREGATE_CACHE_MAXSIZE": "256",
            "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
        }
        if settings.store_encrypt:
            env |= {
                "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
                "CIPHER_KEY": keys.store_cipher_key(),
            }
        return cls(env, keys)

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        """Only what Settings derived: the process environment never configures the store."""
        return Environment(name, dict(env or {}))

    def construct_mapper(self) -> Mapper[UUID]:
        return PrivateMapper(
            self.construct_transcoder(),
            self.keys,
            compressor=self.factory.compressor(),
            cipher=self.factory.cipher(),
        )

    def verify(self) -> protocol.ChainVerification:
        """Check the hash chain of the whole log (see :func:`verify_chain`)."""
        assert isinstance(self.recorder, ChainedSQLiteRecorder | ChainedPostgresRecorder)
        return verify_chain(self.recorder)
