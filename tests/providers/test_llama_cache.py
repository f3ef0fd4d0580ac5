"""The default model keeps its evaluated conversation: a history window that moves on shifts
the cache instead of evaluating the history again, and requests beside the conversation run on
a second context."""

from __future__ import annotations

from luminad.providers.base import ChatMessage
from luminad.providers.llama_cache import common_prefix
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
QUESTION = ChatMessage("user", "What are the names of her cats?")


def reply(llm: EmbeddedLLM, messages: list[ChatMessage], max_tokens: int = 12) -> str:
    return "".join(llm.generate_sync(messages, max_tokens=max_tokens))


def test_common_prefix() -> None:
    assert common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2
    assert common_prefix([1, 2], [1, 2, 3]) == 2
    assert common_prefix([], [1]) == 0 and common_prefix([9], [1]) == 0


def test_a_window_step_reuses_the_history_and_answers_as_a_cold_model(
    qwen_llm: EmbeddedLLM,
) -> None:
    stepped = [SYSTEM, *HISTORY[2:], QUESTION]  # the window dropped the oldest turn
    qwen_llm._llm.reset()  # cold: nothing cached
    cold = reply(qwen_llm, stepped)
    assert "pixel" in cold.lower() or "mango" in cold.lower()

    reply(qwen_llm, [SYSTEM, *HISTORY], max_tokens=2)  # the conversation before the step
    reused = qwen_llm._reuse.reused
    warm = reply(qwen_llm, stepped)
    kept = qwen_llm._reuse.reused - reused
    history_tokens = len(qwen_llm._reuse.tokens([m.template_dict() for m in stepped], ()))
    # the four kept history messages were shifted, not evaluated again
    assert kept >= 40, f"only {kept} of {history_tokens} prompt tokens reused"
    assert warm == cold


def test_requests_aside_leave_the_conversation_cached(qwen_llm: EmbeddedLLM) -> None:
    conversation = [SYSTEM, *HISTORY, QUESTION]
    reply(qwen_llm, conversation, max_tokens=2)
    cached = list(qwen_llm._llm._input_ids)
    aside = qwen_llm.aside()
    assert aside is qwen_llm.aside() and aside is not qwen_llm
    said = reply(aside, [ChatMessage("user", "Say the word 'yes'.")], max_tokens=4)
    assert said.strip()
    assert list(qwen_llm._llm._input_ids) == cached
