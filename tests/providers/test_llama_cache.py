"""The default model keeps its evaluated conversation: a history window that moves on, and the
note that leaves the user's words once they are history, shift the cache instead of evaluating
the history again, and requests beside the conversation run on a second context."""

from __future__ import annotations

import pytest

from luminad.providers.base import ChatMessage
from luminad.providers.llama_cache import MIN_REUSED, common_prefix, stretches
from luminad.providers.llamacpp import EmbeddedLLM

SYSTEM = ChatMessage("system", "You are Lumina, a friendly voice assistant. Answer briefly.")
HISTORY = [
    ChatMessage("user", "My sister Anna lives in Lisbon and works as a nurse."),
    ChatMessage("assistant", "That sounds lovely. Lisbon is a beautiful city by the sea."),
    ChatMessage("user", "She has two cats called Pixel and Mango."),
    ChatMessage("assistant", "Pixel and Mango are fun names for cats!"),
    ChatMessage("user", "Next month I am flying to Lisbon to see her for a week."),
    ChatMessage("assistant", "How exciting! A week in Lisbon with your sister will be great."),
]


def reply(llm: EmbeddedLLM, messages: list[ChatMessage], max_tokens: int = 12) -> str:
    return "".join(llm.generate_sync(messages, max_tokens=max_tokens))


def test_common_prefix() -> None:
    assert common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2
    assert common_prefix([1, 2], [1, 2, 3]) == 2
    assert common_prefix([], [1]) == 0 and common_prefix([9], [1]) == 0


def test_stretches_are_found_in_order_past_each_cut() -> None:
    prefix, first, second = [1, 2, 3], list(range(10, 20)), list(range(30, 42))
    # the window dropped [90, 91]; the note [92, 93, 94] left the words `second`
    cached = [*prefix, 90, 91, *first, 92, 93, 94, *second, 50, 51]
    new = [*prefix, *first, *second, 60, 61]
    assert stretches(cached, new, len(prefix)) == [(5, len(first)), (18, len(second))]
    # a run shorter than MIN_REUSED is evaluated again, and nothing after it is looked for
    short = [*prefix, *first[: MIN_REUSED - 1], 70, *second]
    assert stretches(cached, short, len(prefix)) == []


def warm_and_cold(llm: EmbeddedLLM, question: str) -> tuple[str, str, int, int]:
    """The reply to ``question`` once the history window dropped its oldest turn: from a cold
    model, and from the model that had the whole conversation cached (shifted); with the prompt
    tokens kept by the shift and the prompt's length."""
    stepped = [SYSTEM, *HISTORY[2:], ChatMessage("user", question)]
    llm._llm.reset()  # cold: nothing cached
    cold = reply(llm, stepped)
    reply(llm, [SYSTEM, *HISTORY], max_tokens=2)  # the conversation before the step
    reused = llm._reuse.reused
    warm = reply(llm, stepped)
    prompt = len(llm._reuse.tokens([m.template_dict() for m in stepped], ()))
    return cold, warm, llm._reuse.reused - reused, prompt


@pytest.mark.parametrize(
    ("question", "said"),
    [("What are the names of her cats?", ("pixel", "mango")), ("Where am I flying?", ("lisbon",))],
)
def test_a_window_step_reuses_the_history_and_answers_from_it(
    qwen_llm: EmbeddedLLM, question: str, said: tuple[str, ...]
) -> None:
    cold, warm, kept, prompt = warm_and_cold(qwen_llm, question)
    assert all(word in cold.lower() for word in said), cold
    # the four kept history messages were shifted, not evaluated again
    assert kept >= 40, f"only {kept} of {prompt} prompt tokens reused"
    # Shifted keys are rotated to their new positions, not computed there: not bit-identical to
    # a cold evaluation, so the wording may differ ("cats!" for "cats." with llama.cpp built for
    # AVX-512), but what the kept history says must be there (left unshifted, the model said
    # "I'm flying on a plane.").
    assert all(word in warm.lower() for word in said), f"warm {warm!r}, cold {cold!r}"


def test_a_window_step_and_a_dropped_note_keep_all_the_history_before_the_last_reply(
    qwen_llm: EmbeddedLLM,
) -> None:
    # the last turn had a note in front of the user's words; in the next prompt the window has
    # stepped past the first exchange and the words are history, without their note
    noted = ChatMessage(
        "user", f"(What you know about them: Anna is their sister.)\n{HISTORY[4].content}"
    )
    reply(qwen_llm, [SYSTEM, *HISTORY[:4], noted], max_tokens=2)
    stepped = [SYSTEM, *HISTORY[2:], ChatMessage("user", "What are the names of her cats?")]
    reused = qwen_llm._reuse.reused
    said = reply(qwen_llm, stepped)
    kept = qwen_llm._reuse.reused - reused

    def length(messages: list[ChatMessage]) -> int:
        return len(qwen_llm._reuse.tokens([m.template_dict() for m in messages], ()))

    # both stretches: the two messages before the note and the words after it (the chat
    # template's tokens at the two cuts may tokenize apart)
    assert kept >= length([SYSTEM, *HISTORY[2:5]]) - length([SYSTEM]) - 4
    assert "pixel" in said.lower() and "mango" in said.lower(), said


def test_requests_aside_leave_the_conversation_cached(qwen_llm: EmbeddedLLM) -> None:
    conversation = [SYSTEM, *HISTORY, ChatMessage("user", "What are the names of her cats?")]
    reply(qwen_llm, conversation, max_tokens=2)
    cached = list(qwen_llm._llm._input_ids)
    aside = qwen_llm.aside()
    assert aside is qwen_llm.aside() and aside is not qwen_llm
    said = reply(aside, [ChatMessage("user", "Say the word 'yes'.")], max_tokens=4)
    assert said.strip()
    assert list(qwen_llm._llm._input_ids) == cached
