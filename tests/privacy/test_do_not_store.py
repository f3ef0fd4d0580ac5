"""The do-not-store filter: a secret said or typed is redacted before anything keeps it, never
becomes a memory, and never leaves the machine in a search query."""

from __future__ import annotations

from pathlib import Path

import pytest

from luminad.app import Lumina
from luminad.egress import outgoing_query
from luminad.errors import SecretNotStored
from luminad.redact import redact, redacted_kinds, sentence


def raw_log(app: Lumina) -> bytes:
    return b"".join(n.state for n in app.recorder.select_notifications(0, 10_000))


def test_a_pin_said_in_a_turn_is_kept_only_as_redacted(app: Lumina) -> None:
    conversation = app.start_conversation()
    app.record_utterance(conversation, "my PIN is 4921, please remember it")
    (turn,) = app.queries.get_conversation(conversation).turns
    assert turn.text == "my PIN is [redacted: PIN], please remember it"
    (event,) = app.queries.events(types=["UtteranceTranscribed"])
    assert isinstance(event.data, dict) and "4921" not in str(event.data)
    assert b"4921" not in raw_log(app)
    assert app.queries.search_memories("PIN") == []


@pytest.mark.parametrize(
    "text",
    [
        "my password is hunter2",
        "the door code is 4455",
        "my card number is 4111 1111 1111 1111",
        "my PIN is [redacted: PIN]",  # already redacted: no memory worth keeping either
    ],
)
def test_a_secret_never_becomes_a_memory(app: Lumina, text: str) -> None:
    with pytest.raises(SecretNotStored) as caught:
        app.remember(text)
    assert caught.value.code == "secret_refused" and caught.value.action
    assert app.queries.list_memories() == []  # the remember tool stores through this command too


def test_ordinary_words_about_keys_and_passes_are_kept(app: Lumina) -> None:
    for text in ("I lost my house key", "I need to pass the exam", "I have 3 tokens left"):
        app.remember(text)
    assert [m.text for m in app.queries.list_memories()] == [
        "I lost my house key",
        "I need to pass the exam",
        "I have 3 tokens left",
    ]


def test_the_user_is_told_what_was_not_kept() -> None:
    stored = redact("my pin is 1234 and the wifi password is Sunny77").text
    assert redacted_kinds(stored) == ["PIN", "password"]
    assert sentence(redacted_kinds(stored)) == (
        "I did not keep your PIN and password: secrets are never stored or sent anywhere."
    )


def test_a_search_query_loses_its_secret_or_is_refused() -> None:
    assert (
        outgoing_query("is my PIN 4921 safe to use at a bank") == "is my PIN safe to use at a bank"
    )
    assert "4111" not in outgoing_query("who issued card 4111 1111 1111 1111")
    with pytest.raises(SecretNotStored, match="Not searched"):
        outgoing_query("sk-proj-abc123def456ghi789jkl")


@pytest.mark.parametrize("name", ["secrets.tsv", "secrets_holdout.tsv"])
def test_the_labelled_sets_stay_within_the_targets(name: str) -> None:
    """bench/secret_filter.py's sets: >= 95 % of secrets caught, <= 2 % false alarms."""
    rows = [
        line.split("\t", 1)
        for line in (Path(__file__).parents[2] / "bench" / "data" / name).read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    secrets = [text for label, text in rows if label == "secret"]
    plain = [text for label, text in rows if label == "plain"]
    caught = sum(redact(text).found for text in secrets)
    alarms = [text for text in plain if redact(text).found]
    assert caught >= 0.95 * len(secrets)
    assert len(alarms) <= 0.02 * len(plain), alarms
