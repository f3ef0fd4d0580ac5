"""The local intent router: every labelled utterance of bench/intents.py routes as labelled
(commands to their tool with the right arguments, questions and remarks to the model)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.intents import AVATARS, LABELLED
from luminad.agent.intents import IntentRouter, default_router
from luminad.agent.tools import current_time, set_preferred_name


@pytest.fixture(scope="module")
def router() -> IntentRouter:
    return default_router()


@pytest.mark.parametrize(("text", "intent", "arguments"), LABELLED)
def test_routes_as_labelled(
    router: IntentRouter, text: str, intent: str | None, arguments: dict[str, Any] | None
) -> None:
    found = router.match(text, lambda: AVATARS)
    if intent is None:
        assert found is None, f"{text!r} must go to the model, not {found}"
        return
    assert found is not None and found.intent == intent
    if arguments is not None:
        assert dict(found.arguments) == arguments


def test_a_match_names_the_tool_it_runs(router: IntentRouter) -> None:
    found = router.match("Call me Sam.")
    assert found is not None and found.tool is set_preferred_name
    assert found.tool_name == "set_preferred_name"
    what_time = router.match("what time is it")
    assert what_time is not None and what_time.tool is current_time


def test_switch_to_needs_a_known_avatar(router: IntentRouter) -> None:
    assert router.match("Switch to Nova.", lambda: ["Lumina"]) is None
    found = router.match("Switch to Nova.", lambda: ["Lumina", "Nova"])
    assert found is not None and found.arguments == {"name": "Nova"}
    # with the word "avatar" the tool answers even for an unknown name
    assert router.match("Switch avatar to Nova.", lambda: ["Lumina"]) is not None


def test_a_name_stated_in_one_clause_of_a_longer_message_is_found(router: IntentRouter) -> None:
    for said, name in [
        ("Hi, my name is Dana and I live in Lyon.", "Dana"),
        ("My name is Leo and I am nine years old.", "Leo"),
        ("Hello, my name is Ada. What can you do?", "Ada"),
    ]:
        assert router.match(said) is None  # no intent as a whole: the model answers it
        found = router.name_clause(said)
        assert found is not None and found.arguments == {"name": name}, said
    for no_name in ("My name is not important, what time is it?", "I live in Lyon.",
                    "What is my name and where do I live?"):  # fmt: skip
        assert router.name_clause(no_name) is None
