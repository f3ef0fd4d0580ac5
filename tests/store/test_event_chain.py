"""The tamper-evident log: every event is chained to its predecessor by a hash over its stored
bytes; verification names the first position where the log was edited or cut."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from uuid import uuid4

from luminad.app import Lumina, open_lumina
from luminad.settings import Settings, load_settings
from tests.domain.harness import FakeEmbedder, drop_schema, make_settings, postgres_url


def fill(app: Lumina, turns: int = 5) -> None:
    conversation = app.start_conversation()
    for i in range(turns):
        turn = app.record_utterance(conversation, f"question {i}")
        app.complete_reply(conversation, turn, f"answer {i}")
    app.remember("the user likes green tea")
    app.set_preferred_name("Sam")


def last_position(app: Lumina) -> int:
    return app.recorder.max_notification_id() or 0


def run_sql(settings: Settings, statement: str, *params: object) -> None:
    """Change the store behind the daemon's back, the way someone with the file would."""
    if settings.uses_postgres:
        import psycopg

        env = settings.store_env()
        url = settings.store.split("?")[0]
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{env["POSTGRES_SCHEMA"]}"')
            conn.execute(statement.replace("?", "%s"), params)
        return
    conn = sqlite3.connect(settings.events_db_path)
    try:
        conn.execute(statement, params)
        conn.commit()
    finally:
        conn.close()


def events_table(settings: Settings) -> str:
    return "lumina_events" if settings.uses_postgres else "stored_events"


def position_column(settings: Settings) -> str:
    return "notification_id" if settings.uses_postgres else "rowid"


def test_a_written_log_verifies(app: Lumina) -> None:
    fill(app)
    result = app.queries.verify_events()
    assert result.ok and result.broken_at is None
    assert result.events == last_position(app) > 10
    assert len(result.head) == 64 and result.head != "0" * 64
    head = result.head
    app.remember("one more thing")
    after = app.queries.verify_events()
    assert after.ok and after.events == result.events + 1 and after.head != head


def test_one_edited_byte_breaks_the_chain_at_that_event(app: Lumina, settings: Settings) -> None:
    fill(app)
    total = last_position(app)
    victim = total - 4
    (note,) = app.recorder.select_notifications(victim, 1)
    state = bytearray(note.state)
    state[len(state) // 2] ^= 0x01
    table, position = events_table(settings), position_column(settings)
    run_sql(settings, f"UPDATE {table} SET state = ? WHERE {position} = ?", bytes(state), victim)
    result = app.queries.verify_events()
    assert not result.ok
    assert result.broken_at == victim
    assert result.events == victim - 1


def test_a_removed_event_breaks_the_chain_where_it_was(app: Lumina, settings: Settings) -> None:
    fill(app)
    victim = last_position(app) - 6
    table, position = events_table(settings), position_column(settings)
    run_sql(settings, f"DELETE FROM {table} WHERE {position} = ?", victim)
    result = app.queries.verify_events()
    assert not result.ok and result.broken_at == victim


def test_a_removed_last_event_is_seen_too(app: Lumina, settings: Settings) -> None:
    fill(app)
    victim = last_position(app)
    table, position = events_table(settings), position_column(settings)
    run_sql(settings, f"DELETE FROM {table} WHERE {position} = ?", victim)
    result = app.queries.verify_events()
    assert not result.ok and result.broken_at == victim


def test_forget_me_keeps_the_chain_verifiable(app: Lumina) -> None:
    fill(app)
    before = app.queries.verify_events()
    app.forget_user()
    after = app.queries.verify_events()
    assert after.ok
    assert after.events > before.events  # UserForgotten and the avatar reset are chained too
    # the shredded events themselves are unchanged: the chain up to them is the same
    assert app.queries.events(types=["UtteranceTranscribed"], limit=1)[0].data == "[shredded]"


def test_a_log_without_a_chain_is_chained_on_first_start(
    tmp_path: Path, settings: Settings
) -> None:
    first = open_lumina(settings, FakeEmbedder())
    fill(first)
    total = last_position(first)
    first.close()
    chain = "lumina_events_chain" if settings.uses_postgres else "event_chain"
    run_sql(settings, f"DROP TABLE {chain}")  # as written by a daemon before the chain
    again = open_lumina(settings, FakeEmbedder())
    try:
        result = again.queries.verify_events()
        assert result.ok and result.events == total
        again.remember("written after the migration")
        assert again.queries.verify_events().ok
    finally:
        again.close()


def test_two_writers_on_one_postgres_store_keep_one_chain(tmp_path: Path) -> None:
    url = postgres_url()
    store = f"{url}?schema=t_chain_{uuid4().hex[:8]}"
    first = make_settings(tmp_path / "a", store)
    # a second process: the same store and key store, its own read models
    second = load_settings(
        {
            "LUMINA_HOME": str(tmp_path / "b"),
            "LUMINA_CONFIG_DIR": str(first.config_dir),
            "LUMINA_STORE": store,
        }
    )
    one = open_lumina(first, FakeEmbedder())
    two = open_lumina(second, FakeEmbedder())
    try:
        one.remember("the first note makes the data key")
        with ThreadPoolExecutor(2) as pool:
            for done in [
                pool.submit(lambda a=app, n=i: [a.remember(f"note {n}.{k}") for k in range(10)])
                for i, app in enumerate((one, two))
            ]:
                done.result()
        result = two.queries.verify_events()
        assert result.ok and result.events == last_position(one)
    finally:
        one.close()
        two.close()
        drop_schema(url, first.store_env()["POSTGRES_SCHEMA"])


def test_the_chain_covers_whole_event_encryption_at_rest(tmp_path: Path) -> None:
    for home, forget in (("tampered", False), ("forgotten", True)):
        settings = make_settings(tmp_path / home).replace(store_encrypt=True)
        app = open_lumina(settings, FakeEmbedder())
        try:
            fill(app)
            assert app.queries.verify_events().ok
            if forget:
                app.forget_user()
                assert app.queries.verify_events().ok
                continue
            victim = last_position(app) - 3
            run_sql(settings, "DELETE FROM stored_events WHERE rowid = ?", victim)
            result = app.queries.verify_events()
            assert not result.ok and result.broken_at == victim
        finally:
            app.close()
