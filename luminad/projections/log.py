"""The event log as people read it: each event with its position, type, ids and time, its
content decrypted while the key exists and ``[shredded]`` after; bad events shown, not fatal."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid5

import msgspec
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from luminad import protocol
from luminad.domain.content import event_classes
from luminad.keystore import SHREDDED
from luminad.mapper import PrivateMapper, event_name

_EVENT_NS = UUID("5d7e1c2a-9b7f-4d8e-a1c3-2f6b0e9d4c55")

#: Every event type name of the domain -> its topic (the wire's ``type`` filter of the log).
EVENT_TOPICS: dict[str, str] = {cls.__name__: get_topic(cls) for cls in event_classes()}


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
        type=event_name(note.topic),
        aggregate_id=str(aggregate_id),
        version=note.originator_version,
        at=at,
        data=data,
    )
