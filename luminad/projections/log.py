"""The event log as people read it: each event with its position, type, ids and time, its
content decrypted while the key exists and ``[shredded]`` after; bad events shown, not fatal."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid5

import msgspec
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from luminad import protocol
from luminad.domain import Avatar, Conversation, Memory, Profile, User
from luminad.keystore import SHREDDED
from luminad.privacy import PrivateMapper, event_type

_EVENT_NS = UUID("5d7e1c2a-9b7f-4d8e-a1c3-2f6b0e9d4c55")

#: Every event type name of the domain -> its topic (for filtering the log by type).
EVENT_TOPICS: dict[str, str] = {
    name: get_topic(attr)
    for agg in (Conversation, Memory, Avatar, Profile, User)
    for name, attr in vars(agg).items()
    if isinstance(attr, type) and issubclass(attr, DomainEvent)
}


def logged_event(mapper: PrivateMapper, note: Notification) -> protocol.LoggedEvent:
    """One notification as a :class:`protocol.LoggedEvent` (never raises on bad data)."""
    aggregate_id = UUID(str(note.originator_id))
    data: dict[str, Any] | str
    at = ""
    try:
        state, readable = mapper.decode_state(note)
        timestamp = state.pop("timestamp", None)
        at = timestamp.isoformat() if hasattr(timestamp, "isoformat") else str(timestamp)
        state.pop("originator_topic", None)
        data = msgspec.to_builtins(state) if readable else SHREDDED  # JSON-native values
    except Exception as e:  # shown, never a crash
        data = {"error": f"cannot decode this event ({type(e).__name__})"}
    return protocol.LoggedEvent(
        position=note.id,
        id=str(uuid5(_EVENT_NS, f"{aggregate_id}:{note.originator_version}")),
        type=event_type(note.topic),
        aggregate_id=str(aggregate_id),
        version=note.originator_version,
        at=at,
        data=data,
    )
