"""The event mapper: eventsourcing's Mapper sealing the user's content field by field.

Fields an event class declares ``Encrypted[...]`` (:mod:`luminad.domain.content`) are sealed with
AES-GCM under the user's data key (:mod:`luminad.keystore`) before they reach the event store;
ids, types, timestamps and sizes stay readable. A value whose key is gone reads ``[shredded]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
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

from luminad.domain.content import encrypted_fields, event_classes, has_own_key
from luminad.keystore import KeyStore

_JSON = msgspec.json.Encoder()


class PrivateMapper(Mapper[UUID]):
    """eventsourcing's Mapper, sealing ``Encrypted`` fields on the way in, opening them on the
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
        owner = domain_event.originator_id if has_own_key(type(domain_event)) else None
        for name in encrypted_fields(type(domain_event)):
            state[name] = self.keys.seal(name, state[name], owner)
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
        for name in encrypted_fields(resolve_topic(stored.topic)):
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


def event_name(topic: str) -> str:
    """``luminad.domain.memory:Memory.MemoryRemembered`` -> ``MemoryRemembered`` (for display
    and for the wire: code matches events by class)."""
    return topic.rpartition(":")[2].rpartition(".")[2]


def content_topics() -> list[str]:
    """Topics of every event class that carries user content."""
    return [get_topic(cls) for cls in event_classes() if encrypted_fields(cls)]


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
