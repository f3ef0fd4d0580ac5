"""Read models: rebuilt == live, idempotent replay, migrations, vector deletes, bad data."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any
from uuid import uuid4

import numpy as np
from eventsourcing.persistence import StoredEvent

from luminad.app import Lumina, open_lumina
from luminad.projections.runner import ReadModels, rebuild_all
from luminad.providers.embeddings import MiniLmEmbedder
from luminad.settings import Settings
from tests.domain.harness import FakeEmbedder, make_settings

TABLES = {
    "conversations": "SELECT * FROM conversations ORDER BY id",
    "turns": "SELECT * FROM turns ORDER BY position, role",
    "memories": "SELECT id, text, avatar_id, conversation_id, turn_id, created_at, position "
    "FROM memories ORDER BY id",
    "avatars": "SELECT * FROM avatars ORDER BY id",
    "profile": "SELECT * FROM profile ORDER BY key",
    "turn_timings": "SELECT * FROM turn_timings ORDER BY position, stage",
    "bad_events": "SELECT * FROM bad_events ORDER BY position",
    "tracking": "SELECT * FROM tracking ORDER BY projection",
}


def dump(read: ReadModels) -> dict[str, Any]:
    conn = read.conn
    out: dict[str, Any] = {name: conn.execute(sql).fetchall() for name, sql in TABLES.items()}
    vectors = conn.execute(
        "SELECT m.id, v.scope, v.embedding FROM memory_vectors v "
        "JOIN memories m ON m.rowid = v.rowid ORDER BY m.id"
    ).fetchall()
    out["vector_keys"] = [(i, s) for i, s, _ in vectors]
    out["vectors"] = [np.frombuffer(e, dtype=np.float32) for _, _, e in vectors]
    return out


def assert_same(live: dict[str, Any], rebuilt: dict[str, Any]) -> None:
    for name in (*TABLES, "vector_keys"):
        assert rebuilt[name] == live[name], name
    assert len(live["vectors"]) == len(rebuilt["vectors"])
    for a, b in zip(live["vectors"], rebuilt["vectors"], strict=True):
        assert float(a @ b) > 0.99  # int8 activations quantize per batch: equal up to noise


def populate(app: Lumina) -> None:
    pirate = app.create_avatar("Pirate", persona="Arr.")
    gone = app.create_avatar("Ghost")
    app.delete_avatar(gone)
    conversation = app.start_conversation(pirate)
    for i in range(6):
        turn = app.record_utterance(conversation, f"question {i} about boats")
        if i % 2:
            app.complete_reply(conversation, turn, f"answer {i}")
        else:
            app.interrupt_reply(conversation, turn, f"ans{i}", reason="barge_in")
        app.time_turn(conversation, turn, {"stt_ms": 10.0 * i, "total_ms": 100.0 + i})
        memory = app.remember(
            f"user fact {i} about sailing",
            avatar_id=pirate if i % 2 else None,
            conversation_id=conversation,
            turn_id=turn,
        )
        if i == 3:
            app.forget_memory(memory)
    app.set_preferred_name("Sam")
    app.set_preference("units", "metric")
    app.update_avatar(pirate, name="Captain", voice="amy")


def test_rebuilt_read_models_equal_the_live_ones(app: Lumina) -> None:
    populate(app)
    app.forget_user()
    populate(app)  # life goes on after a forgetting, under a new key
    live = dump(app.read)
    app.rebuild_projections()
    assert_same(live, dump(app.read))
    app.read.conn.execute("UPDATE tracking SET position = 0")  # replay everything again
    app.catch_up()
    assert_same(live, dump(app.read))


def test_luminad_rebuild_projections_with_the_real_embedder(settings: Settings) -> None:
    app = open_lumina(settings, MiniLmEmbedder())
    populate(app)
    live = dump(app.read)
    app.close()
    rebuild_all(settings)
    again = open_lumina(settings, MiniLmEmbedder())
    try:
        assert_same(live, dump(again.read))
        (version,) = again.read.conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        assert version >= 1
    finally:
        again.close()


def test_deleting_a_memory_removes_it_from_vector_search(settings: Settings) -> None:
    app = open_lumina(settings, MiniLmEmbedder())
    try:
        tea = app.remember("The user drinks green tea every morning.")
        app.remember("The user's dog is called Rex.")
        app.remember("The user works as a nurse at night.")
        assert app.queries.search_memories("what does the user like to drink?")[0].id == str(tea)
        vectors = app.read.conn.execute("SELECT COUNT(*) FROM memory_vectors").fetchone()[0]
        app.forget_memory(tea)
        found = app.queries.search_memories("green tea every morning", limit=10)
        assert str(tea) not in {m.id for m in found}
        assert len(found) == 2
        assert app.read.conn.execute("SELECT COUNT(*) FROM memory_vectors").fetchone()[0] == (
            vectors - 1
        )
        assert app.read.orphan_vectors() == 0
    finally:
        app.close()


def test_bad_events_are_shown_and_counted_never_a_crash(app: Lumina) -> None:
    conversation = app.start_conversation()
    good = app.record_utterance(conversation, "before the bad data")
    topic = "luminad.domain.conversation:Conversation.UtteranceTranscribed"
    app.recorder.insert_events(
        [
            StoredEvent(
                originator_id=uuid4(),
                originator_version=1,
                topic="luminad.domain.gone:Gone.Vanished",
                state=b'{"x": 1}',
            ),
            StoredEvent(
                originator_id=uuid4(),
                originator_version=1,
                topic=topic,
                state=b"\x00\xffnot json at all",
            ),
            StoredEvent(
                originator_id=uuid4(),
                originator_version=1,
                topic=topic,
                state=b'{"timestamp": {"_type_": "datetime_iso", "_data_": '
                b'"2026-01-01T00:00:00+00:00"}, "source": "voice"}',
            ),
            StoredEvent(
                originator_id=uuid4(),
                originator_version=1,
                topic=topic,
                state=b'{"timestamp": {"_type_": "datetime_iso", "_data_": '
                b'"2026-01-01T00:00:00+00:00"}, "turn_id": {"_type_": "uuid_hex", '
                b'"_data_": "' + uuid4().hex.encode() + b'"}, "source": "voice", '
                b'"text": "enc1:0123456789abcdef:AAAAAAAAAAAAAAAAAAAAAAAAAAAA"}',
            ),
            StoredEvent(
                originator_id=uuid4(),
                originator_version=1,  # no upcast from v0
                topic="luminad.domain.conversation:Conversation.ConversationStarted",
                state=b'{"class_version": 0, "avatar_id": null}',
            ),
        ]
    )
    app.catch_up()  # no exception
    assert app.read.bad_events() == 4  # unknown type, not JSON, missing field, no upcast
    assert "4 undecodable" in app.queries.store_health().detail
    listed = app.queries.events(after=0, limit=100)
    assert [e.type for e in listed][-5:] == [
        "Vanished",
        "UtteranceTranscribed",
        "UtteranceTranscribed",
        "UtteranceTranscribed",
        "ConversationStarted",
    ]
    assert isinstance(listed[-4].data, dict) and "error" in listed[-4].data
    assert listed[-2].data == "[shredded]"
    later = app.record_utterance(conversation, "after the bad data", turn_id=uuid4())
    turns = [t.turn_id for t in app.queries.get_conversation(conversation).turns]
    assert str(good) in turns and str(later) in turns
    app.rebuild_projections()
    assert app.read.bad_events() == 4


def test_migrations_are_versioned_and_applied_once(app: Lumina) -> None:
    conn: sqlite3.Connection = app.read.conn
    from luminad.projections.runner import migrate

    version = migrate(conn)
    assert migrate(conn) == version
    assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == version


def test_read_models_ahead_of_a_fresh_event_store_are_rebuilt(tmp_path: Path) -> None:
    first = make_settings(tmp_path / "a")
    app = open_lumina(first, FakeEmbedder())
    for i in range(5):
        app.remember(f"fact {i}")
    app.close()
    second = first.replace(data_dir=tmp_path / "b")  # an empty event store
    second.ensure_dirs()
    shutil.copy(first.read_db_path, second.read_db_path)
    again = open_lumina(second, FakeEmbedder())
    try:
        assert again.queries.list_memories() == []
        assert [a.name for a in again.queries.list_avatars()] == ["Lumina"]
    finally:
        again.close()
