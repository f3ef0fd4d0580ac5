"""The user's first person in a reply that restates their question (agent/words.py)."""

import pytest

from luminad.agent.words import about_themselves, to_them


@pytest.mark.parametrize(
    ("question", "written", "heard"),
    [
        ("When is my sister's birthday?", "My sister's birthday is on March 3rd.",
         "Your sister's birthday is on March 3rd."),
        ("Where am I going this weekend?", "I'm going hiking in the Alps!",
         "You're going hiking in the Alps!"),
        ("Which country did I ask about first?", "I asked about France first.",
         "You asked about France first."),
        ("Where was I born?", "I was born in Oslo.", "You were born in Oslo."),
        ("What is my name?", " my name is Sam", " your name is Sam"),
        # not a restatement of the question: the assistant's own "I" and "my"
        ("How old am I?", "I am not sure how old you are.", "I am not sure how old you are."),
        ("What is my name?", "My guess is Sam.", "My guess is Sam."),
        # "You asked you about ..." would be worse
        ("Who did I ask you about?", "I asked you about Apollo 11.",
         "I asked you about Apollo 11."),
    ],
)  # fmt: skip
def test_a_restated_question_is_said_to_the_user(question: str, written: str, heard: str) -> None:
    assert about_themselves(question)
    assert to_them(question, written) == heard


def test_only_questions_about_the_user_are_about_themselves() -> None:
    assert not about_themselves("I live in Lyon.")
    assert not about_themselves("What is the capital of France?")
