"""The user's first person in a reply that restates their question, and memories said to the
user (agent/words.py)."""

import pytest

from luminad.agent.words import about_themselves, to_them, told_to_them


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


@pytest.mark.parametrize(
    ("memory", "said"),
    [
        ("The user has a dog called Rex.", "You have a dog called Rex."),
        ("The user lives in Lyon.", "You live in Lyon."),
        ("The user is nine years old.", "You are nine years old."),
        ("The user was born in Oslo.", "You were born in Oslo."),
        ("The user watches birds.", "You watch birds."),
        ("The user goes hiking on Sundays.", "You go hiking on Sundays."),
        ("The user studies law.", "You study law."),
        ("The user can swim.", "You can swim."),
        ("The user's sister is called Ana.", "Your sister is called Ana."),
        ("Ana is the user's sister.", "Ana is your sister."),
        ("The user thinks their phone is broken.", "You think your phone is broken."),
        # memories in the user's own words (`lumina memories add`, "Remember that my ...")
        ("My cat is called Turing.", "Your cat is called Turing."),
        ("I am allergic to peanuts.", "You are allergic to peanuts."),
        ("My mum calls me Bean.", "Your mum calls you Bean."),
        ("Paris is the capital of France.", "Paris is the capital of France."),
    ],
)  # fmt: skip
def test_a_memory_is_said_to_the_user(memory: str, said: str) -> None:
    assert told_to_them(memory) == said
