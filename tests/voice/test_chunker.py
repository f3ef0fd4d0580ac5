from __future__ import annotations

import pytest

from luminad.voice.chunker import SentenceChunker, speakable


def run(deltas: list[str], **kw: int) -> tuple[list[list[str]], list[str]]:
    c = SentenceChunker(**kw)
    steps = [c.add(d) for d in deltas]
    return steps, c.finish()


def chars(text: str) -> list[str]:
    return list(text)


def test_sentences_stream_out_as_they_complete() -> None:
    text = "It is sunny. Take a hat! Will it rain? No."
    c = SentenceChunker()
    got: list[str] = []
    ready_at: list[int] = []
    for i, ch in enumerate(text):
        new = c.add(ch)
        got += new
        ready_at += [i] * len(new)
    got += c.finish()
    assert got == ["It is sunny.", "Take a hat!", "Will it rain?", "No."]
    # each sentence is ready as soon as the next white space arrives, before the reply ends
    assert ready_at == [12, 24, 38]


def test_first_clause_comes_early_then_whole_sentences() -> None:
    steps, rest = run(
        chars("Paris is lovely today, with clear skies and a light breeze, so enjoy it. Bye now.")
    )
    flat = [s for step in steps for s in step] + rest
    assert flat == [
        "Paris is lovely today,",
        "with clear skies and a light breeze, so enjoy it.",
        "Bye now.",
    ]


def test_short_first_clause_is_not_cut() -> None:
    steps, rest = run(chars("Yes, it is. Good."))
    assert [s for step in steps for s in step] + rest == ["Yes, it is.", "Good."]


def test_abbreviations_numbers_and_initials_do_not_split() -> None:
    text = "Dr. Smith paid 3.50 dollars, e.g. for J. R. tea at 5 p.m. today. Done."
    steps, rest = run(
        [text[i : i + 4] for i in range(0, len(text), 4)],
        first_clause_min_words=99,
        first_max_words=99,
    )
    assert [s for step in steps for s in step] + rest == [
        "Dr. Smith paid 3.50 dollars, e.g. for J. R. tea at 5 p.m. today.",
        "Done.",
    ]


def test_long_unpunctuated_first_chunk_is_cut_at_a_word() -> None:
    words = " ".join(f"w{i}" for i in range(30))
    steps, rest = run(
        [words[i : i + 3] for i in range(0, len(words), 3)], first_max_words=8, max_words=10
    )
    flat = [s for step in steps for s in step] + rest
    assert flat[0] == " ".join(f"w{i}" for i in range(8))
    assert all(len(x.split()) <= 10 for x in flat)
    assert " ".join(flat) == words


def test_newlines_markdown_and_empty_pieces() -> None:
    steps, rest = run(["**Hello** there\n", "- item `one`\n", "...\n", "end"])
    assert [s for step in steps for s in step] + rest == ["Hello there", "item one", "end"]


@pytest.mark.parametrize("delta_size", [1, 2, 5, 50])
def test_chunking_does_not_depend_on_delta_size(delta_size: int) -> None:
    text = "The weather in Paris is mild today. Expect some sun, and a little wind! Enjoy."
    steps, rest = run([text[i : i + delta_size] for i in range(0, len(text), delta_size)])
    flat = [s for step in steps for s in step] + rest
    assert " ".join(flat) == text
    assert flat[0] == "The weather in Paris is mild today."


def test_speakable() -> None:
    assert speakable("## Title\n  *a*  **b** `c`") == "Title a b c"


def test_finish_empty() -> None:
    assert SentenceChunker().finish() == []
