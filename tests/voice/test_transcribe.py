from __future__ import annotations

import pytest

from luminad.voice.transcribe import stitch


@pytest.mark.parametrize(
    ("previous", "window", "expected"),
    [
        ("", "hello there", "hello there"),
        ("My name is Ada, remember", "is Ada, remember that I", "My name is Ada, remember that I"),
        # the window's first word was cut in half and misheard
        (
            "My name is Ada, remember",
            "sada remember that I like",
            "My name is Ada, remember that I like",
        ),
        ("What is the weather like", "weather like in Paris", "What is the weather like in Paris"),
        ("one two three", "four five six", "one two three … four five six"),
        ("I would like to know", "this", "I would like to know"),
        # a repeated word anchors on its latest occurrence
        ("the cat and the dog", "the dog barked", "the cat and the dog barked"),
    ],
)
def test_stitch(previous: str, window: str, expected: str) -> None:
    assert stitch(previous, window) == expected
