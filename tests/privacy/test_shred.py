"""Deletion that shreds: each memory and each conversation has its own data key, wrapped by the
user's key; deleting one destroys that key, so the log keeps the event but not its content."""

from __future__ import annotations

from uuid import uuid4

import pytest

from luminad.app import Lumina
from luminad.audit import scan_files
from luminad.errors import ConversationNotFound, MemoryNotFound
from luminad.keystore import SHREDDED
from luminad.settings import Settings


def data_of(app: Lumina, aggregate_id: object) -> list[object]:
    return [e.data for e in app.queries.events(limit=10_000) if e.aggregate_id == str(aggregate_id)]


def test_deleting_a_memory_shreds_its_text_in_the_log(app: Lumina, settings: Settings) -> None:
    canary = f"tea-{uuid4().hex[:12]}"
    kept = app.remember("the user likes green tea")
    gone = app.remember(f"the user's favourite blend is {canary}")
    before = [(e.position, e.type) for e in app.queries.events(limit=1000)]

    receipt = app.forget_memory(gone)
    assert (receipt.ok, receipt.deleted, receipt.id) == (True, "memory", str(gone))
    assert receipt.key_destroyed and receipt.events_shredded == 1

    after = app.queries.events(limit=1000)
    assert [(e.position, e.type) for e in after[: len(before)]] == before  # log in order
    assert data_of(app, gone)[0] == SHREDDED
    assert data_of(app, kept)[0] == {
        "text": "the user likes green tea",
        "avatar_id": None,
        "conversation_id": None,
        "turn_id": None,
    }
    assert [m.text for m in app.queries.list_memories()] == ["the user likes green tea"]
    assert scan_files(settings.data_dir, [canary])[1] == {}
    with pytest.raises(MemoryNotFound):
        app.forget_memory(gone)
    app.rebuild_projections()  # a replay does not bring it back
    assert [m.id for m in app.queries.list_memories()] == [str(kept)]


def test_deleting_a_conversation_shreds_its_turns_and_keeps_the_rest(
    app: Lumina, settings: Settings
) -> None:
    canary = f"river-{uuid4().hex[:12]}"
    doomed = app.start_conversation()
    turn = app.record_utterance(doomed, f"we met at the {canary} bridge")
    app.complete_reply(doomed, turn, f"The {canary} bridge, noted.")
    memory = app.remember("the user met someone at a bridge", conversation_id=doomed)
    other = app.start_conversation()
    app.record_utterance(other, "what time is it")

    receipt = app.delete_conversation(doomed)
    assert receipt.deleted == "conversation" and receipt.key_destroyed
    assert receipt.events_shredded == 2  # the utterance and the reply

    with pytest.raises(ConversationNotFound):
        app.queries.get_conversation(doomed)
    assert [c.id for c in app.queries.list_conversations()] == [str(other)]
    shredded = [d for d in data_of(app, doomed) if d == SHREDDED]
    assert len(shredded) == 2
    assert app.queries.get_conversation(other).turns[0].text == "what time is it"
    assert [m.id for m in app.queries.list_memories()] == [str(memory)]  # its own key: kept
    assert scan_files(settings.data_dir, [canary])[1] == {}
    with pytest.raises(ConversationNotFound):
        app.record_utterance(doomed, "hello again")


def test_forget_me_still_destroys_every_key_at_once(app: Lumina) -> None:
    conversation = app.start_conversation()
    app.record_utterance(conversation, "remember the blue door")
    memory = app.remember("the door is blue")
    app.forget_user()
    assert data_of(app, memory)[0] == SHREDDED
    assert SHREDDED in data_of(app, conversation)
    audit = app.queries.audit()
    assert audit.ok, audit.checks
