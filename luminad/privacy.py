"""Privacy: per-user data keys, field-level encryption of events, forget-me and its audit.

User content inside events (the fields :data:`luminad.domain.USER_CONTENT` names) is sealed
with AES-GCM under the user's current data key before it reaches the event store; ids, types,
timestamps and sizes stay readable. Keys live in :mod:`luminad.keystore`, outside the event
store (a 0600 JSON file in the config dir, or the OS keyring). Forgetting the user destroys
every data key: the events stay, in order, but their content reads ``[shredded]`` from then on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import msgspec
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    ApplicationRecorder,
    Cipher,
    Compressor,
    Mapper,
    Notification,
    StoredEvent,
    Transcoder,
)
from eventsourcing.utils import get_topic, resolve_topic

from luminad import domain, protocol
from luminad.domain import USER_CONTENT
from luminad.keystore import KeyStore
from luminad.sqlite import compact, sqlite_module

if TYPE_CHECKING:
    from luminad.app import Lumina

_JSON = msgspec.json.Encoder()


# ---------------------------------------------------------------------------- mapper
class PrivateMapper(Mapper[UUID]):
    """eventsourcing's Mapper, sealing user-content fields on the way in, opening them on the
    way out (``[shredded]`` when their key is gone)."""

    def __init__(
        self,
        transcoder: Transcoder,
        keys: KeyStore,
        *,
        compressor: Compressor | None = None,
        cipher: Cipher | None = None,
    ) -> None:
        super().__init__(transcoder, compressor=compressor, cipher=cipher)
        self.keys = keys

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        state = dict(vars(domain_event))
        for name in USER_CONTENT.get(type(domain_event).__name__, ()):
            state[name] = self.keys.seal(name, state[name])
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        try:
            stored = _JSON.encode({key: _plain(value) for key, value in state.items()})
        except TypeError:
            stored = self.transcoder.encode(state)
        if self.compressor:
            stored = self.compressor.compress(stored)
        if self.cipher:
            stored = self.cipher.encrypt(stored)
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=get_topic(type(domain_event)),
            state=stored,
        )

    def decode_state(self, stored: StoredEvent) -> tuple[dict[str, Any], bool]:
        """The event's fields with user content opened, and whether all of it could be."""
        raw = stored.state
        if self.cipher:
            raw = self.cipher.decrypt(raw)
        if self.compressor:
            raw = self.compressor.decompress(raw)
        state: dict[str, Any] = self.transcoder.decode(raw)
        readable = True
        for name in USER_CONTENT.get(event_type(stored.topic), ()):
            if name in state:
                state[name], ok = self.keys.unseal(name, state[name])
                readable = readable and ok
        return state, readable

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        cls = resolve_topic(stored_event.topic)
        state, _ = self.decode_state(stored_event)
        state["originator_id"] = UUID(str(stored_event.originator_id))
        state["originator_version"] = stored_event.originator_version
        from_version = state.pop("class_version", 1)
        while from_version < getattr(cls, "class_version", 1):
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return event  # type: ignore[no-any-return]


def _plain(value: Any) -> Any:
    """``value`` in eventsourcing's JSON transcoding, for the flat types events carry (a fast
    path: msgspec instead of ``json``); raises TypeError for anything else."""
    kind = type(value)
    if kind is str or kind is UUID:
        return value if kind is str else {"_type_": "uuid_hex", "_data_": value.hex}
    if value is None or kind is int or kind is float or kind is bool:
        return value
    if kind is datetime:
        return {"_type_": "datetime_iso", "_data_": value.isoformat()}
    if kind is list and all(type(v) is str for v in value):
        return value
    if kind is dict and all(type(v) in (str, int, float) for v in value.values()):
        return value
    raise TypeError(kind.__name__)


def event_type(topic: str) -> str:
    """``luminad.domain.memory:Memory.MemoryRemembered`` -> ``MemoryRemembered``."""
    return topic.rpartition(":")[2].rpartition(".")[2]


def content_topics() -> list[str]:
    """Topics of every event type that carries user content."""
    aggregates = (domain.Conversation, domain.Memory, domain.Avatar, domain.Profile)
    return [
        get_topic(getattr(agg, name))
        for agg in aggregates
        for name in USER_CONTENT
        if hasattr(agg, name)
    ]


def iter_notifications(
    recorder: ApplicationRecorder,
    *,
    topics: list[str] | None = None,
    after: int = 0,
    stop: int | None = None,
    page: int = 5000,
) -> Iterator[Notification]:
    """Notifications in log order (optionally of some topics, after/up to a position)."""
    start = after
    while True:
        batch = recorder.select_notifications(
            start, page, stop=stop, topics=topics or (), inclusive_of_start=False
        )
        yield from batch
        if len(batch) < page:
            return
        start = batch[-1].id


# ---------------------------------------------------------------------------- forget me
def forget_user(app: Lumina) -> protocol.ForgetReceipt:
    """Record UserForgotten, destroy every data key, purge every read model and compact the
    SQLite files so no plaintext survives on disk; answer a receipt."""
    started = time.perf_counter()
    app.catch_up()
    rows_before = app.read.user_rows()
    previous, _ = last_forgetting(app)  # content before it is shredded already
    shredded = sum(
        1 for _ in iter_notifications(app.recorder, topics=content_topics(), after=previous)
    )
    key_ids = app.keys.key_ids()
    user = app.user()
    user.forget(key_ids, shredded)
    builtin = app.builtin_avatar()
    builtin.reset_to_defaults()
    app.log.save(builtin, user)
    _destroy_and_compact(app, key_ids)
    return protocol.ForgetReceipt(
        ok=True,
        forgotten_at=user.modified_on.isoformat(),
        events_shredded=shredded,
        rows_purged=rows_before - app.read.user_rows(),
        key_id=",".join(key_ids),
        duration_ms=round((time.perf_counter() - started) * 1000, 1),
    )


def _destroy_and_compact(app: Lumina, key_ids: list[str]) -> None:
    app.keys.destroy(key_ids)
    app.forget_cached_aggregates()  # they hold decrypted values
    app.catch_up()
    app.read.compact()
    if app.settings.store_env()["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        conn = sqlite_module().connect(
            str(app.settings.events_db_path), isolation_level=None, timeout=10
        )
        try:
            compact(conn)
        finally:
            conn.close()


def last_forgetting(app: Lumina) -> tuple[int, list[str]]:
    """Log position and key ids of the latest UserForgotten (0, [] when never forgotten)."""
    topic = get_topic(domain.User.UserForgotten)  # type: ignore[attr-defined]
    last = None
    for note in iter_notifications(app.recorder, topics=[topic]):
        last = note
    if last is None:
        return 0, []
    state, _ = app.private_mapper.decode_state(last)
    return last.id, list(state["key_ids"])


def finish_forgetting(app: Lumina) -> None:
    """After a crash between recording UserForgotten and destroying the keys, finish the job."""
    _, key_ids = last_forgetting(app)
    alive = [k for k in key_ids if app.keys.aead(k) is not None]
    if alive:
        _destroy_and_compact(app, alive)


def audit(app: Lumina, canaries: Sequence[str] = ()) -> protocol.Audit:
    """Re-check a forgetting: key gone, no content decrypts, read models hold nothing of the
    user, and no canary string is in the raw bytes of any file in the data dir."""
    position, key_ids = last_forgetting(app)
    checks = [
        protocol.AuditCheck(
            name="user_forgotten",
            ok=position > 0,
            detail=f"forgotten at log position {position}"
            if position
            else "the user has not asked to be forgotten",
        )
    ]
    alive = [k for k in key_ids if app.keys.aead(k) is not None]
    checks.append(
        protocol.AuditCheck(
            name="keys_destroyed",
            ok=not alive,
            detail=f"{len(key_ids)} key(s) destroyed, {len(alive)} still in the key store",
        )
    )
    total = readable = 0
    if position:
        for note in iter_notifications(app.recorder, topics=content_topics(), stop=position):
            total += 1
            try:
                readable += app.private_mapper.decode_state(note)[1]
            except Exception:  # undecodable data is unreadable too
                continue
    checks.append(
        protocol.AuditCheck(
            name="events_unreadable",
            ok=readable == 0,
            detail=f"{total} events with user content before the forgetting, {readable} decrypt",
        )
    )
    rows = app.read.user_rows(before=position) if position else 0
    orphans = app.read.orphan_vectors()
    checks.append(
        protocol.AuditCheck(
            name="read_models_purged",
            ok=rows == 0 and orphans == 0,
            detail=f"{rows} rows from before the forgetting, {orphans} orphan vectors",
        )
    )
    files, hits = scan_files(app.settings.data_dir, canaries)
    checks.append(
        protocol.AuditCheck(
            name="canary_scan",
            ok=not hits,
            detail=f"{len(canaries)} canaries, {files} files scanned, "
            + (f"hits in {sorted(hits)}" if hits else "0 hits"),
        )
    )
    return protocol.Audit(ok=all(c.ok for c in checks), checks=checks)


def scan_files(root: Path, canaries: Sequence[str]) -> tuple[int, dict[str, int]]:
    """Raw-byte search of every file under ``root``: (files scanned, hits per file name)."""
    needles = [c.encode() for c in canaries if c]
    overlap = max((len(n) for n in needles), default=1) - 1
    files, hits = 0, {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        files += 1
        count, tail = 0, b""
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 22):
                window = tail + chunk
                count += sum(window.count(n) for n in needles)
                tail = window[-overlap:] if overlap else b""
        if count:
            hits[path.name] = count
    return files, hits
