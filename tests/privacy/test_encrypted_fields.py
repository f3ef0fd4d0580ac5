"""Every field a user can type is encrypted: a walk over every event class of the domain fails
on any field that can hold a string and is neither ``Encrypted[...]`` nor on the reviewed
allowlist below (so an event added later is covered the moment it exists)."""

from __future__ import annotations

import typing
from typing import Annotated, Any
from uuid import uuid4

from luminad.app import Lumina
from luminad.domain.content import (
    USER_CONTENT,
    aggregate_classes,
    encrypted_fields,
    event_classes,
    field_hints,
)

#: Fields that hold strings but never the user's words, each with why (reviewed by a person).
NOT_PERSONAL: dict[str, str] = {
    "Conversation.UtteranceTranscribed.source": "'voice' or 'text', set by the daemon",
    "Conversation.ReplyCompleted.provider": "name of the LLM engine that answered",
    "Conversation.ReplyInterrupted.reason": "why the reply stopped: 'barge_in', 'cancel', ...",
    "Conversation.TurnTimed.timings_ms": "stage names (keys) to milliseconds",
    "Conversation.TurnTimed.outcome": "'completed', 'interrupted' or 'failed', set by the daemon",
    "Conversation.ToolCalled.name": "the tool's name, from the daemon's fixed tool set",
    "Timer.TimerSet.due_at": "an ISO 8601 time",
    "Avatar.BuiltinAvatarCreated.name": "the built-in avatar's constant defaults",
    "Avatar.BuiltinAvatarCreated.persona": "the built-in avatar's constant defaults",
    "Avatar.BuiltinAvatarCreated.style": "the built-in avatar's constant defaults",
    "Avatar.BuiltinAvatarCreated.voice": "the built-in avatar's constant defaults",
    "Avatar.AvatarReset.name": "back to the built-in constant defaults",
    "Avatar.AvatarReset.persona": "back to the built-in constant defaults",
    "Avatar.AvatarReset.style": "back to the built-in constant defaults",
    "User.UserForgotten.key_ids": "random ids of the destroyed keys",
    "User.UserForgotten.fingerprint_salt": "random salt",
    "User.UserForgotten.fingerprints": "salted hashes of the shredded content's 4-grams",
    "Egress.EgressRequested.kind": "what the request is for: 'web_search'",
    "Egress.EgressRequested.host": "host of the user's own search setting",
}


def holds_text(hint: Any) -> bool:
    """Whether a value of this type can contain a string."""
    if hint is str or hint is Any:
        return True
    return any(holds_text(arg) for arg in typing.get_args(hint) if not isinstance(arg, int))


def is_encrypted(hint: Any) -> bool:
    return typing.get_origin(hint) is Annotated and USER_CONTENT in hint.__metadata__


def test_every_string_field_of_every_event_is_encrypted_or_reviewed() -> None:
    classes = event_classes()
    assert len(classes) >= 20  # the walk finds the events (it is not vacuous)
    plain: list[str] = []
    text_fields: set[str] = set()
    for cls in classes:
        for name, hint in field_hints(cls).items():
            qualified = f"{cls.__qualname__}.{name}"
            if holds_text(hint) and not is_encrypted(hint):
                text_fields.add(qualified)
                if qualified not in NOT_PERSONAL:
                    plain.append(qualified)
    assert plain == [], (
        f"{plain}: annotate these fields Encrypted[...] (luminad.domain.content), or add them "
        "with a reason to NOT_PERSONAL if they can never hold what a user typed or said"
    )
    assert sorted(set(NOT_PERSONAL) - text_fields) == []  # no stale allowlist entry


def test_the_walk_covers_every_aggregate_and_the_fields_users_type() -> None:
    names = {cls.__qualname__ for cls in aggregate_classes()}
    assert {"Conversation", "Memory", "Avatar", "Profile", "User"} <= names
    typed = {
        f"{cls.__qualname__}.{name}" for cls in event_classes() for name in encrypted_fields(cls)
    }
    assert {
        "Conversation.UtteranceTranscribed.text",
        "Conversation.ReplyCompleted.text",
        "Memory.MemoryRemembered.text",
        "Avatar.AvatarCreated.voice",
        "Avatar.AvatarVoiceChanged.voice",
        "Avatar.AvatarCreated.persona",
        "Profile.PreferredNameSet.name",
    } <= typed


def test_an_avatar_voice_is_not_in_the_log_in_plain_text(app: Lumina) -> None:
    canary = f"voice-{uuid4().hex}"
    avatar = app.create_avatar("Robin", voice=f"{canary}-created")
    app.update_avatar(avatar, voice=f"{canary}-changed")
    raw = b"".join(n.state for n in app.recorder.select_notifications(0, 1000))
    assert canary.encode() not in raw
    assert app.queries.get_avatar(avatar).voice == f"{canary}-changed"
