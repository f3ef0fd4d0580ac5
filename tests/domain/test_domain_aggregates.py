"""The aggregates alone (no store): commands emit past-tense events, invariants refuse."""

from __future__ import annotations

from uuid import uuid4

import pytest

from luminad.domain import Avatar, Conversation, Memory, Profile
from luminad.errors import BadMessage, Conflict


def event_names(aggregate: object) -> list[str]:
    return [type(e).__name__ for e in aggregate.collect_events()]  # type: ignore[attr-defined]


def test_a_turn_is_an_utterance_and_at_most_one_reply() -> None:
    conversation = Conversation(None)
    turn = uuid4()
    conversation.transcribe(turn, "  what time is it  ", "voice")
    conversation.complete_reply(turn, "Nine o'clock.", [], "embedded")
    conversation.time_turn(turn, {"stt_ms": 120.0, "total_ms": 900})
    assert event_names(conversation) == [
        "ConversationStarted",
        "UtteranceTranscribed",
        "ReplyCompleted",
        "TurnTimed",
    ]
    with pytest.raises(Conflict):
        conversation.complete_reply(turn, "again", [], "embedded")
    with pytest.raises(Conflict):
        conversation.interrupt_reply(turn, "", "user")
    with pytest.raises(Conflict):
        conversation.transcribe(turn, "same turn twice", "voice")


def test_replies_need_a_known_turn_and_utterances_need_text() -> None:
    conversation = Conversation(None)
    with pytest.raises(Conflict):
        conversation.complete_reply(uuid4(), "hello", [], "")
    with pytest.raises(Conflict):
        conversation.time_turn(uuid4(), {"stt_ms": 1.0})
    with pytest.raises(BadMessage):
        conversation.transcribe(uuid4(), "   ", "voice")
    turn = uuid4()
    conversation.transcribe(turn, "hi", "text")
    with pytest.raises(Conflict):
        conversation.time_turn(turn, {"stt_ms": -5.0})
    conversation.interrupt_reply(turn, "Hel", "barge_in")
    assert event_names(conversation)[-1] == "ReplyInterrupted"


def test_builtin_avatar_cannot_be_deleted_and_deleted_avatars_refuse_changes() -> None:
    builtin = Avatar.create_builtin()
    with pytest.raises(Conflict):
        builtin.delete()
    avatar = Avatar.create("Pirate", persona="Talk like a pirate.")
    avatar.rename("Pirate")  # unchanged: no event
    avatar.change_voice("amy")
    avatar.delete()
    assert event_names(avatar) == ["AvatarCreated", "AvatarVoiceChanged", "AvatarDeleted"]
    with pytest.raises(Conflict):
        avatar.rename("Ghost")
    with pytest.raises(BadMessage):
        Avatar.create("   ")


def test_builtin_avatar_reset_restores_its_own_prompts() -> None:
    builtin = Avatar.create_builtin()
    builtin.rename("Bob")
    builtin.reset_to_defaults()
    assert builtin.name == "Lumina"
    assert event_names(builtin)[-1] == "AvatarReset"


def test_memory_is_forgotten_once() -> None:
    memory = Memory.remember("likes tea", None, None, None)
    memory.forget()
    with pytest.raises(Conflict):
        memory.forget()
    with pytest.raises(BadMessage):
        Memory.remember("", None, None, None)


def test_profile_records_only_changes() -> None:
    profile = Profile()
    profile.set_preferred_name("Sam")
    profile.set_preferred_name("Sam")
    profile.set_preference("units", "metric")
    assert event_names(profile) == ["ProfileCreated", "PreferredNameSet", "PreferenceSet"]
