"""Scenarios through the application service, against SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID, uuid4

import pytest

from luminad import protocol
from luminad.app import Lumina, open_lumina
from luminad.errors import (
    AvatarNotFound,
    BadMessage,
    Conflict,
    ConversationNotFound,
    LuminaError,
    MemoryNotFound,
)
from luminad.providers.base import ChatMessage
from luminad.settings import Settings
from tests.domain.harness import FakeEmbedder, make_settings


def test_conversation_turns_are_read_back_in_order(app: Lumina) -> None:
    conversation = app.start_conversation()
    first = app.record_utterance(conversation, "What's the weather?")
    app.complete_reply(
        conversation,
        first,
        "Sunny and warm.",
        sources=[protocol.Source(title="Forecast", url="https://example.org")],
        provider="embedded",
    )
    second = app.record_utterance(conversation, "Tell me a long story", source="text")
    app.interrupt_reply(conversation, second, "Once upon a time", reason="barge_in")

    got = app.queries.get_conversation(conversation)
    assert got.avatar_id == str(app.default_avatar_id)
    assert [(t.role, t.text, t.interrupted) for t in got.turns] == [
        ("user", "What's the weather?", False),
        ("assistant", "Sunny and warm.", False),
        ("user", "Tell me a long story", False),
        ("assistant", "Once upon a time", True),
    ]
    assert [t.turn_id for t in got.turns] == [str(first)] * 2 + [str(second)] * 2
    assert app.queries.history_messages(conversation, limit=3) == [
        ChatMessage("assistant", "Sunny and warm."),
        ChatMessage("user", "Tell me a long story"),
        ChatMessage("assistant", "Once upon a time"),
    ]
    assert [c.id for c in app.queries.list_conversations()] == [str(conversation)]


def test_history_window_moves_in_steps_so_the_prompt_prefix_stays_cached(app: Lumina) -> None:
    conversation = app.start_conversation()
    firsts, sizes = [], []
    for n in range(15):
        turn = app.record_utterance(conversation, f"question {n}", source="text")
        app.complete_reply(conversation, turn, f"answer {n}")
        window = app.queries.history_messages(conversation, limit=20)
        assert window[-1] == ChatMessage("assistant", f"answer {n}")
        firsts.append(window[0].content)
        sizes.append(len(window))
    # full at 10 turns; then it starts 5 turns later and stays there for 5 turns
    assert firsts == ["question 0"] * 10 + ["question 5"] * 5
    assert max(sizes) == 20
    assert sizes[10:] == [12, 14, 16, 18, 20]


def test_commands_on_unknown_things_raise_their_not_found(app: Lumina) -> None:
    with pytest.raises(ConversationNotFound):
        app.record_utterance(uuid4(), "hello")
    with pytest.raises(ConversationNotFound):
        app.queries.get_conversation(uuid4())
    with pytest.raises(AvatarNotFound):
        app.start_conversation(uuid4())
    with pytest.raises(MemoryNotFound):
        app.forget_memory(uuid4())
    conversation = app.start_conversation()
    turn = app.record_utterance(conversation, "hi", turn_id=UUID(int=7))
    assert turn == UUID(int=7)
    app.complete_reply(conversation, turn, "hello")
    with pytest.raises(Conflict):
        app.complete_reply(conversation, turn, "hello again")


def test_avatars_lifecycle(app: Lumina) -> None:
    (builtin,) = app.queries.list_avatars()
    assert (builtin.name, builtin.voice, builtin.builtin) == ("Lumina", "joe", True)
    pirate = app.create_avatar("Pirate", persona="Talk like a pirate.", style="Short.")
    app.update_avatar(pirate, name="Captain", voice="amy", style="Shorter.")
    got = app.queries.get_avatar(pirate)
    assert (got.name, got.persona, got.style, got.voice, got.builtin) == (
        "Captain",
        "Talk like a pirate.",
        "Shorter.",
        "amy",
        False,
    )
    assert [a.name for a in app.queries.list_avatars()] == ["Lumina", "Captain"]
    with pytest.raises(Conflict):
        app.delete_avatar(app.default_avatar_id)
    app.delete_avatar(pirate)
    with pytest.raises(AvatarNotFound):
        app.queries.get_avatar(pirate)
    with pytest.raises(AvatarNotFound):
        app.update_avatar(pirate, name="Ghost")
    app.update_avatar(app.default_avatar_id, voice="amy")
    assert app.queries.get_avatar(app.default_avatar_id).voice == "amy"


def test_memories_are_scoped_per_avatar_with_provenance(app: Lumina) -> None:
    pirate = app.create_avatar("Pirate")
    conversation = app.start_conversation(pirate)
    turn = app.record_utterance(conversation, "I love green tea")
    own = app.remember(
        "user loves green tea", avatar_id=pirate, conversation_id=conversation, turn_id=turn
    )
    shared = app.remember("user has a cat named Tom")
    other = app.remember("user prefers coffee", avatar_id=app.default_avatar_id)

    assert {m.id for m in app.queries.list_memories()} == {str(own), str(shared), str(other)}
    assert {m.id for m in app.queries.list_memories(pirate)} == {str(own), str(shared)}
    found = app.queries.search_memories("green tea", avatar_id=pirate)
    assert found[0].id == str(own)
    assert found[0].score is not None and found[0].score > 0.5
    assert found[0].source == protocol.MemorySource(
        conversation_id=str(conversation), turn_id=str(turn)
    )
    assert str(other) not in {m.id for m in found}
    assert app.queries.search_memories("coffee")[0].id == str(other)


def test_profile_and_latency(app: Lumina) -> None:
    app.set_preferred_name("Sam")
    app.set_preference("units", "metric")
    app.set_preference("units", "imperial")
    assert app.queries.get_profile() == protocol.Profile(
        preferred_name="Sam", preferences={"units": "imperial"}
    )
    conversation = app.start_conversation()
    for ms in range(1, 21):
        turn = app.record_utterance(conversation, f"turn {ms}")
        app.time_turn(conversation, turn, {"stt_ms": float(ms), "voice_to_voice_ms": ms * 10.0})
    metrics = app.queries.latency()
    assert metrics.turns == 20
    assert metrics.stages["stt_ms"].count == 20
    assert metrics.stages["stt_ms"].p50_ms == pytest.approx(10.5)
    assert metrics.stages["voice_to_voice_ms"].p95_ms == pytest.approx(190.5)
    assert app.queries.latency(window=5).stages["stt_ms"].p50_ms == pytest.approx(18.0)
    assert metrics.outcomes == {"completed": 20, "interrupted": 0, "failed": 0}


def test_interrupted_and_failed_turns_are_counted_in_the_latency(app: Lumina) -> None:
    conversation = app.start_conversation()
    for i, outcome in enumerate(["completed", "interrupted", "interrupted", "failed"]):
        turn = app.record_utterance(conversation, f"turn {i}")
        app.time_turn(conversation, turn, {"voice_to_voice_ms": 100.0 * (i + 1)}, outcome=outcome)
    metrics = app.queries.latency()
    assert metrics.turns == 4
    assert metrics.outcomes == {"completed": 1, "interrupted": 2, "failed": 1}
    assert metrics.stages["voice_to_voice_ms"].count == 4  # the p95 includes the barge-ins
    turn = app.record_utterance(conversation, "one more")
    with pytest.raises(Conflict):
        app.time_turn(conversation, turn, {}, outcome="lost")


def test_event_log_in_order_with_type_filter(app: Lumina) -> None:
    conversation = app.start_conversation()
    turn = app.record_utterance(conversation, "hello there")
    app.complete_reply(conversation, turn, "hi")
    events = app.queries.events()
    assert [e.type for e in events] == [
        "BuiltinAvatarCreated",
        "ConversationStarted",
        "UtteranceTranscribed",
        "ReplyCompleted",
    ]
    assert [e.position for e in events] == sorted(e.position for e in events)
    utterance = events[2]
    assert isinstance(utterance.data, dict) and utterance.data["text"] == "hello there"
    assert utterance.aggregate_id == str(conversation) and utterance.version == 2
    only = app.queries.events(types=["ReplyCompleted"])
    assert [e.type for e in only] == ["ReplyCompleted"]
    assert app.queries.events(after=events[1].position, limit=1)[0].type == "UtteranceTranscribed"
    assert app.queries.store_health().ok


def test_state_survives_reopening(settings: Settings, embedder: FakeEmbedder) -> None:
    app = open_lumina(settings, embedder)
    conversation = app.start_conversation()
    app.record_utterance(conversation, "remember me")
    memory = app.remember("user is called Sam")
    app.close()
    again = open_lumina(settings, embedder)
    try:
        assert again.queries.get_conversation(conversation).turns[0].text == "remember me"
        assert again.queries.list_memories()[0].id == str(memory)
        assert len(again.queries.list_avatars()) == 1
        turn = again.record_utterance(conversation, "still here")
        assert again.queries.get_conversation(conversation).turns[-1].turn_id == str(turn)
    finally:
        again.close()


def test_a_refused_command_leaves_no_trace(app: Lumina) -> None:
    avatar = app.create_avatar("Pirate")
    with pytest.raises(BadMessage):
        app.update_avatar(avatar, name="Captain", persona="x" * 5000)  # rename ok, persona not
    assert app.queries.get_avatar(avatar).name == "Pirate"
    app.update_avatar(avatar, voice="amy")
    assert (app.queries.get_avatar(avatar).name, app.queries.get_avatar(avatar).voice) == (
        "Pirate",
        "amy",
    )
    assert [e.type for e in app.queries.events(types=["AvatarRenamed"])] == []


def test_an_unreachable_postgres_says_what_to_do(tmp_path: Path, embedder: FakeEmbedder) -> None:
    settings = make_settings(tmp_path, "postgresql://postgres:x@127.0.0.1:1/nowhere")
    with pytest.raises(LuminaError) as info:
        open_lumina(settings, embedder)
    assert info.value.action and "LUMINA_STORE=sqlite" in info.value.action
