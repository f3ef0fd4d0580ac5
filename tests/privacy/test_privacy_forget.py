"""Field-level encryption, forget-me by crypto-shredding, and the audit that re-checks it."""

from __future__ import annotations

import shutil
import sqlite3
import stat
from pathlib import Path
from uuid import uuid4

import pytest

from luminad.app import Lumina, open_lumina
from luminad.audit import scan_files
from luminad.errors import AvatarNotFound, ConversationNotFound, LuminaError
from luminad.keystore import SHREDDED
from luminad.settings import Settings
from luminad.sqlite import UnreadableDatabase, connect, is_plain
from tests.domain.harness import FakeEmbedder, make_settings


def raw_event_states(app: Lumina) -> bytes:
    return b"".join(n.state for n in app.recorder.select_notifications(0, 100_000))


def fill(app: Lumina, canary: str, n: int = 50) -> list[str]:
    """n utterances, replies and memories carrying the canary (plus profile and an avatar)."""
    avatar = app.create_avatar(f"Spy {canary}", persona=f"Keep {canary} secret.")
    conversation = app.start_conversation(avatar)
    for i in range(n):
        turn = app.record_utterance(conversation, f"my lucky word {i} is {canary}")
        if i % 5 == 4:
            app.interrupt_reply(conversation, turn, f"I heard {canary}", reason="barge_in")
        else:
            app.complete_reply(conversation, turn, f"Noted: {canary} number {i}")
        app.remember(
            f"the user's lucky word {i} is {canary}",
            avatar_id=avatar,
            conversation_id=conversation,
            turn_id=turn,
        )
    app.set_preferred_name(f"Agent {canary}"[:60])
    app.set_preference("codeword", canary)
    app.update_avatar(app.default_avatar_id, name=f"Lumi {canary}"[:60], voice="amy")
    return [str(conversation)]


def test_user_content_is_encrypted_in_the_event_store_and_the_read_models(
    app: Lumina, settings: Settings
) -> None:
    canary = f"CANARY-{uuid4().hex[:20]}"
    fill(app, canary, n=3)
    assert canary.encode() not in raw_event_states(app)
    assert app.queries.events(types=["UtteranceTranscribed"])[0].data["text"].endswith(canary)  # type: ignore[index]
    assert app.queries.get_profile().preferred_name == f"Agent {canary}"[:60]
    files, hits = scan_files(settings.data_dir, [canary])
    assert files >= 2 and hits == {}
    schema = scan_files(settings.data_dir, ["CREATE TABLE", "memory_vectors"])[1]
    assert not any(name.startswith("read") for name in schema)  # not even the read schema
    assert not is_plain(settings.read_db_path)
    with pytest.raises(sqlite3.DatabaseError):  # "file is not a database" without the key
        sqlite3.connect(settings.read_db_path).execute("SELECT * FROM sqlite_master").fetchall()
    keys = settings.keys_path
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    assert settings.data_dir not in keys.parents


def test_forget_me_leaves_no_canary_and_a_log_that_still_replays(
    app: Lumina, settings: Settings
) -> None:
    canary = f"CANARY-{uuid4().hex[:20]}"
    (conversation,) = fill(app, canary)
    before = app.queries.events(limit=10_000)
    live = app.queries.audit([canary])
    assert live.ok, live.checks  # a live user: everything encrypted, keys private

    receipt = app.forget_user()
    assert receipt.ok and receipt.key_id
    assert receipt.events_shredded >= 150 + 3
    assert receipt.rows_purged >= 150
    assert receipt.duration_ms < 5_000

    files, hits = scan_files(settings.data_dir, [canary])
    assert files >= 2 and hits == {}
    audit = app.queries.audit([canary])
    assert audit.ok, audit.checks
    assert {c.name for c in audit.checks} >= {
        "keys_destroyed",
        "events_unreadable",
        "read_models_purged",
        "canary_scan",
    }

    after = app.queries.events(limit=10_000)
    assert [(e.position, e.type, e.aggregate_id) for e in after[: len(before)]] == [
        (e.position, e.type, e.aggregate_id) for e in before
    ]
    assert after[-1].type == "UserForgotten"
    content = [
        e
        for e in after
        if e.type
        in {"UtteranceTranscribed", "ReplyCompleted", "ReplyInterrupted", "MemoryRemembered"}
    ]
    assert len(content) == 150 and all(e.data == SHREDDED for e in content)

    with pytest.raises(ConversationNotFound):
        app.queries.get_conversation(conversation)
    assert app.queries.list_conversations() == [] and app.queries.list_memories() == []
    assert app.queries.search_memories("lucky word") == []
    assert app.queries.get_profile().preferred_name is None
    (builtin,) = app.queries.list_avatars()
    assert builtin.name == "Lumina" and builtin.voice == "amy"

    # life goes on under a new key, and the audit still holds
    new = app.start_conversation()
    app.record_utterance(new, "a fresh start")
    assert app.queries.get_conversation(new).turns[0].text == "a fresh start"
    assert app.queries.audit([canary]).ok
    app.rebuild_projections()
    assert app.queries.get_conversation(new).turns[0].text == "a fresh start"
    assert scan_files(settings.data_dir, [canary])[1] == {}


def test_after_forgetting_the_same_values_can_be_set_again(app: Lumina) -> None:
    app.set_preferred_name("Sam")
    app.set_preference("units", "metric")
    pirate = app.create_avatar("Pirate")
    app.update_avatar(app.default_avatar_id, persona="Be brief.")
    assert app.forget_user().events_shredded == 4
    app.set_preferred_name("Sam")  # the cached Profile must not think it is unchanged
    app.set_preference("units", "metric")
    assert app.queries.get_profile().preferred_name == "Sam"
    assert app.queries.get_profile().preferences == {"units": "metric"}
    assert app.queries.get_avatar(app.default_avatar_id).persona != "Be brief."
    app.update_avatar(app.default_avatar_id, persona="Be brief.")
    assert app.queries.get_avatar(app.default_avatar_id).persona == "Be brief."
    with pytest.raises(AvatarNotFound):
        app.queries.get_avatar(pirate)
    assert app.forget_user().events_shredded == 3  # only what was written since


def test_forgetting_survives_a_crash_before_the_key_is_destroyed(
    settings: Settings, embedder: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = f"CANARY-{uuid4().hex[:20]}"
    app = open_lumina(settings, embedder)
    fill(app, canary, n=2)

    def crash(key_ids: list[str]) -> None:
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(app.keys, "destroy", crash)
    with pytest.raises(KeyboardInterrupt):
        app.forget_user()
    app.close()
    again = open_lumina(settings, embedder)  # finishes the forgetting
    try:
        assert again.queries.audit([canary]).ok
    finally:
        again.close()


def test_whole_event_encryption_at_rest(tmp_path: Path, embedder: FakeEmbedder) -> None:
    settings = make_settings(tmp_path / "enc").replace(store_encrypt=True)
    app = open_lumina(settings, embedder)
    try:
        conversation = app.start_conversation()
        app.record_utterance(conversation, "hello")
        assert b"avatar_id" not in raw_event_states(app)
        assert app.queries.get_conversation(conversation).turns[0].text == "hello"
    finally:
        app.close()


def test_the_keyring_key_store_says_what_to_do_when_unavailable(
    tmp_path: Path, embedder: FakeEmbedder
) -> None:
    settings = make_settings(tmp_path / "kr").replace(key_store="keyring")
    try:
        import keyring  # noqa: F401
    except ImportError:
        with pytest.raises(LuminaError) as info:
            open_lumina(settings, embedder)
        assert info.value.action and "keyring" in info.value.action


def test_a_plain_read_model_of_an_older_install_is_rebuilt_encrypted(
    settings: Settings, embedder: FakeEmbedder
) -> None:
    canary = f"CANARY-{uuid4().hex[:20]}"
    app = open_lumina(settings, embedder)
    conversation = app.start_conversation()
    app.record_utterance(conversation, f"the old install knew {canary}")
    app.close()
    path = settings.read_db_path
    path.unlink()  # what an older version left: the same read models in a plain file
    plain = sqlite3.connect(path)
    plain.execute("CREATE TABLE old_rows (text TEXT)")
    plain.execute("INSERT INTO old_rows VALUES (?)", (canary,))
    plain.commit()
    plain.close()
    assert is_plain(path)

    again = open_lumina(settings, embedder)
    try:
        assert not is_plain(path)
        assert again.queries.get_conversation(conversation).turns[0].text.endswith(canary)
        assert scan_files(settings.data_dir, [canary])[1] == {}
    finally:
        again.close()


def test_the_audit_finds_plaintext_of_a_forgotten_user_without_being_told_what(
    app: Lumina, settings: Settings
) -> None:
    conversation = app.start_conversation()
    app.record_utterance(conversation, "my grandmother grew tomatoes behind the old mill")
    app.remember("the user's grandmother grew tomatoes")
    receipt = app.forget_user()
    assert receipt.fingerprints >= 6
    audit = app.queries.audit()  # no canaries given
    checks = {c.name: c for c in audit.checks}
    assert audit.ok and checks["no_plaintext"].ok, audit.checks
    assert "none found" in checks["no_plaintext"].detail

    # a copy that escaped (say, a stray export) is found by the fingerprints alone
    (settings.data_dir / "export.txt").write_text("... She Grew tomatoes behind the OLD mill ...")
    audit = app.queries.audit()
    checks = {c.name: c for c in audit.checks}
    assert not audit.ok and not checks["no_plaintext"].ok
    assert "export.txt" in checks["no_plaintext"].detail
    # the fingerprints are not the content
    raw = b"".join(n.state for n in app.recorder.select_notifications(0, 1000))
    assert b"tomatoes" not in raw


def test_a_healthy_install_that_was_never_forgotten_passes_the_audit(app: Lumina) -> None:
    conversation = app.start_conversation()
    app.record_utterance(conversation, "hello there")
    app.remember("the user likes mornings")
    audit = app.queries.audit()
    assert audit.ok, audit.checks
    assert {c.name for c in audit.checks} == {
        "key_store_private",
        "events_encrypted",
        "read_models_encrypted",
    }


def test_the_audit_fails_when_a_key_file_is_readable_by_others(
    app: Lumina, settings: Settings
) -> None:
    app.remember("the user likes mornings")
    settings.keys_path.chmod(0o644)
    audit = app.queries.audit()
    (check,) = [c for c in audit.checks if c.name == "key_store_private"]
    assert not audit.ok and not check.ok and "keys.json 644" in check.detail


def test_a_copy_of_the_read_models_taken_before_forget_me_stays_locked(
    app: Lumina, settings: Settings, tmp_path: Path
) -> None:
    conversation = app.start_conversation()
    app.record_utterance(conversation, "the spare key is under the blue flowerpot")
    app.read.compact()  # everything in the main file
    copy = tmp_path / "copy.sqlite"
    shutil.copy(settings.read_db_path, copy)
    old_key = app.keys.read_models_key()
    connect(copy, key=old_key).close()  # the copy opens with the key of its day
    app.forget_user()
    assert app.keys.read_models_key() != old_key
    with pytest.raises(UnreadableDatabase):
        connect(copy, key=app.keys.read_models_key())


def test_read_models_that_the_key_no_longer_opens_are_rebuilt_from_the_log(
    settings: Settings, embedder: FakeEmbedder
) -> None:
    app = open_lumina(settings, embedder)
    memory = app.remember("the user likes green tea")
    app.keys.rotate_read_models_key(lambda key: None)  # a crash between saving and re-keying
    app.close()
    again = open_lumina(settings, embedder)
    try:
        assert [m.id for m in again.queries.list_memories()] == [str(memory)]
    finally:
        again.close()
