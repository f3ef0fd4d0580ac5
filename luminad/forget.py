"""Forget-me's effect on disk: which content a forgetting shreds, destroying the data keys, and
compacting the SQLite files so no freed page keeps plaintext.

:class:`luminad.app.Lumina` runs the use case (it records ``UserForgotten`` with the one
``save()``); this module owns the key store, the log and the files' part of it, and knows
nothing of the application.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.utils import get_topic, resolve_topic

from luminad.domain import User
from luminad.domain.content import encrypted_fields
from luminad.fingerprint import texts_of
from luminad.keystore import SHREDDED, KeyStore
from luminad.mapper import PrivateMapper, content_topics, iter_notifications
from luminad.projections.runner import ReadModels
from luminad.sqlite import compact, sqlite_module


class Shredder:
    """Destroys data keys and erases what they opened from the read models and the files."""

    def __init__(
        self,
        recorder: ApplicationRecorder,
        mapper: PrivateMapper,
        keys: KeyStore,
        read: ReadModels,
        events_db: Path | None,
    ) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.keys = keys
        self.read = read
        #: The SQLite event store file (None on PostgreSQL).
        self.events_db = events_db

    def last_forgetting(self) -> tuple[int, dict[str, Any]]:
        """Log position and fields of the latest UserForgotten (0, {} when never forgotten)."""
        last = None
        for note in iter_notifications(self.recorder, topics=[get_topic(User.UserForgotten)]):
            last = note
        if last is None:
            return 0, {}
        state, _ = self.mapper.decode_state(last)
        return last.id, state

    def content(self, *, after: int = 0) -> tuple[int, list[str]]:
        """How many events with user content the log holds after a position, and every
        readable string of that content (one pass)."""
        events, texts = 0, []
        for note in iter_notifications(self.recorder, topics=content_topics(), after=after):
            events += 1
            state, _ = self.mapper.decode_state(note)
            for name in encrypted_fields(resolve_topic(note.topic)):
                texts += [t for t in texts_of(state.get(name)) if t != SHREDDED]
        return events, texts

    def owner_content_events(self, owner: UUID) -> int:
        """How many of one aggregate's events carry user content."""
        return sum(
            1
            for stored in self.recorder.select_events(owner)
            if encrypted_fields(resolve_topic(stored.topic))
        )

    def alive(self, key_ids: list[str]) -> list[str]:
        """Those of ``key_ids`` still in the key store."""
        return [k for k in key_ids if self.keys.aead(k) is not None]

    def destroy(self, key_ids: list[str]) -> None:
        """Destroy the keys for good: what they sealed reads ``[shredded]`` from now on."""
        self.keys.destroy(key_ids)

    def compact(self) -> None:
        """Re-key the read models (a copy of the file taken before stays locked for good), then
        checkpoint and VACUUM them and the SQLite event store (secure_delete)."""
        self.keys.rotate_read_models_key(self.read.rekey)
        self.read.compact()
        if self.events_db is not None:
            conn = sqlite_module().connect(str(self.events_db), isolation_level=None, timeout=10)
            try:
                compact(conn)
            finally:
                conn.close()
