from __future__ import annotations

import pytest

from luminad.voice.memory_policy import MemoryDecision, decide, is_secret


@pytest.mark.parametrize(
    ("said", "memory", "name"),
    [
        ("Remember that I like green tea.", "I like green tea", None),
        ("please remember my sister is called Ana", "My sister is called Ana", None),
        ("My name is Ada.", None, "Ada"),
        ("call me ada lovelace please", None, "Ada"),
        (
            "Hi, my name is Grace Hopper and remember that I take my coffee black",
            "I take my coffee black",
            "Grace Hopper",
        ),
        ("What is the weather like in Paris today?", None, None),
        ("I remember", None, None),
    ],
)
def test_decide(said: str, memory: str | None, name: str | None) -> None:
    d = decide(said)
    assert d.memory == memory
    assert d.preferred_name == name
    assert not d.refused


@pytest.mark.parametrize(
    "said",
    [
        "Remember that my password is hunter2",
        "remember my PIN is 4321",
        "Remember my card number 4111 1111 1111 1111",
        "remember that my social security number is 123-45-6789",
        "remember my api key sk-abcdefghijklmnopqrstuvwx",
        "Remember my bank account number is 12345678",
    ],
)
def test_secrets_are_refused(said: str) -> None:
    assert decide(said) == MemoryDecision(refused=True)


def test_is_secret_ignores_plain_numbers() -> None:
    assert not is_secret("I have 3 cats and 1234 books")
    assert not is_secret("my phone has 2 cameras")
