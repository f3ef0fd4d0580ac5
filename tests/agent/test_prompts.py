from __future__ import annotations

from luminad.agent.prompts import PromptTemplate, known_facts
from luminad.providers.base import SearchResult


def test_default_prompt_is_one_persona_and_one_style_rule() -> None:
    p = PromptTemplate().system()
    assert p.splitlines() == [
        "You are Lumina, a friendly voice assistant.",
        "Answer in one or two short spoken sentences, in plain English, with no lists or markdown.",
    ]


def test_custom_avatar_name_and_style_replace_ours() -> None:
    p = PromptTemplate().system(
        name="Captain", persona="You are a cheerful pirate who loves the sea.",
        style="Say 'arr' now and then.",
    )  # fmt: skip
    lines = p.splitlines()
    assert lines[0] == "You are a cheerful pirate who loves the sea."
    assert lines[1] == "Your name is Captain."
    assert lines[2:] == ["Say 'arr' now and then."]


def test_known_facts_name_memories_preferences_and_web() -> None:
    facts = known_facts(
        preferred_name="Sam",
        preferences={"units": "metric"},
        memories=["The user's sister is called Ana"],
        web_results=[SearchResult("Paris", "https://example.org", "Paris is the capital.")],
    )
    assert "The user's name is Sam." in facts and "units: metric" in facts
    assert "The user's sister is called Ana." in facts
    assert "Paris is the capital." in facts
    assert known_facts() == ""
    turn = PromptTemplate().user_turn("Hi.", facts)
    assert turn.startswith("(The user's name is Sam.") and turn.endswith(")\nHi.")
    assert PromptTemplate().user_turn("Hi.", "") == "Hi."
