from __future__ import annotations

from luminad.agent.prompts import TO_THEM, PromptTemplate, about_user, known_facts
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


def test_the_user_goes_into_the_system_prompt_and_the_turn_s_facts_before_the_words() -> None:
    user = about_user(preferred_name="Sam", preferences={"units": "metric"})
    assert user == "The user's name is Sam. User preferences: units: metric."
    assert about_user() == ""
    facts = known_facts(
        memories=["The user's sister is called Ana"],
        web_results=[SearchResult("Paris", "https://example.org", "Paris is the capital.")],
    )
    assert "Your sister is called Ana." in facts and "Paris is the capital." in facts
    assert "Sam" not in facts and known_facts() == ""
    system = PromptTemplate().system(user=user, facts=facts)
    assert system.splitlines()[2] == user and "Ana" not in system  # the facts: in the turn
    turn = PromptTemplate().user_turn("Hi.", facts)
    assert turn.startswith("(What you know about them: Your sister is called Ana.")
    assert turn.endswith(")\nHi.")
    assert PromptTemplate().user_turn("Hi.", "") == "Hi."
    in_system = PromptTemplate(context="system")
    assert in_system.system(user=user, facts=facts).splitlines()[2:] == [user, facts]
    assert in_system.user_turn("Hi.", facts) == "Hi."


def test_memories_are_said_to_the_user() -> None:
    """A small model recites the facts it is given: "The user has a dog called Rex." came back
    as the answer to "What is my dog called?"; said to the user, the recitation answers them."""
    facts = known_facts(memories=["The user has a dog called Rex.", "I live in Lyon"])
    assert facts == "What you know about them: You have a dog called Rex. You live in Lyon."


def test_a_question_about_the_user_with_nothing_recalled_asks_for_an_answer_to_them() -> None:
    """The default model answers "Where do I live?" from the conversation as the user ("I live
    in Lisbon.") unless told whom the answer is for; only such questions carry the note, and
    not beside memories (it was obeyed to the letter there: "What is my dog called?" ->
    "You.")."""
    assert PromptTemplate().user_turn("How old am I?", "") == f"({TO_THEM})\nHow old am I?"
    in_system = PromptTemplate(context="system")
    assert in_system.user_turn("What are my cats called?", "") == (
        f"({TO_THEM})\nWhat are my cats called?"
    )
    facts = known_facts(memories=["The user lives in Lisbon"])
    assert PromptTemplate().user_turn("Where do I live?", facts) == f"({facts})\nWhere do I live?"
    assert in_system.user_turn("Where do I live?", facts) == "Where do I live?"
    for not_about_them in ("And what about Italy?", "I like tea.", "Why is the sky blue?"):
        assert PromptTemplate().user_turn(not_about_them, "") == not_about_them
