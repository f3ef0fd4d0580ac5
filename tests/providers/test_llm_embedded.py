from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from luminad.errors import ModelMissing
from luminad.providers import gguf_files
from luminad.providers.base import ChatMessage, ChatModel, Progress
from luminad.providers.gguf_files import QWEN_FILE, resolve_gguf, smollm2_path
from luminad.providers.llamacpp import EmbeddedLLM
from luminad.providers.threads import CORES, Cores

#: SmolLM2 end-of-text / end-of-turn token ids, banned so a generation runs to max_tokens.
NO_EOS = {0: -100.0, 2: -100.0}
COUNT = [ChatMessage("user", "Count from 1 to 300, separated by commas.")]


async def test_streams_deltas(embedded_llm: EmbeddedLLM) -> None:
    assert isinstance(embedded_llm, ChatModel)
    deltas = [
        d
        async for d in embedded_llm.stream_tokens(
            [
                ChatMessage("system", "You are a helpful assistant. Answer briefly."),
                ChatMessage("user", "What is the capital of France?"),
            ],
            max_tokens=40,
        )
    ]
    assert len(deltas) > 1  # token by token, not one blob
    assert "paris" in "".join(deltas).lower()


async def test_multi_turn_sees_history(embedded_llm: EmbeddedLLM) -> None:
    messages = [
        ChatMessage("user", "The secret word is banana."),
        ChatMessage("assistant", "Okay, the secret word is banana."),
        ChatMessage("user", "What is the secret word?"),
    ]
    reply = "".join([d async for d in embedded_llm.stream_tokens(messages, max_tokens=30)])
    assert "banana" in reply.lower()


async def test_max_tokens_bounds_the_reply(embedded_llm: EmbeddedLLM) -> None:
    before = embedded_llm.tokens_generated
    deltas = [d async for d in embedded_llm.stream_tokens(COUNT, max_tokens=8)]
    assert 1 <= len(deltas) <= 8
    assert embedded_llm.tokens_generated - before <= 8


async def test_closing_the_stream_stops_generation(
    embedded_llm: EmbeddedLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded_llm, "logit_bias", NO_EOS)  # would run all 1000 tokens
    stream = embedded_llm.stream_tokens(COUNT, max_tokens=1000)
    n = 0
    async for _ in stream:
        n += 1
        if n == 5:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    at_close = embedded_llm.tokens_generated
    await asyncio.sleep(0.5)
    assert embedded_llm.tokens_generated - at_close <= 1


async def test_cancelling_the_task_stops_generation(
    embedded_llm: EmbeddedLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded_llm, "logit_bias", NO_EOS)  # would run all 1000 tokens
    got: list[str] = []

    async def consume() -> None:
        async for d in embedded_llm.stream_tokens(COUNT, max_tokens=1000):
            got.append(d)

    task = asyncio.create_task(consume())
    for _ in range(600):
        if len(got) >= 3:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    at_cancel = embedded_llm.tokens_generated
    await asyncio.sleep(0.5)
    assert embedded_llm.tokens_generated - at_cancel <= 1
    # the model is free again: a new request is served at once
    reply = [d async for d in embedded_llm.stream_tokens(COUNT, max_tokens=3)]
    assert reply


def test_missing_gguf_is_clear(tmp_path: Path) -> None:
    with pytest.raises(ModelMissing) as exc:
        resolve_gguf("/nope/model.gguf", tmp_path)
    assert exc.value.action and "LUMINA_EMBEDDED_MODEL" in exc.value.action
    assert resolve_gguf("smollm2", tmp_path) == smollm2_path()


def test_qwen_is_assembled_once_and_checked(tmp_path: Path) -> None:
    progress = Progress()
    path = resolve_gguf("", tmp_path, progress)
    assert path == tmp_path / QWEN_FILE and path.stat().st_size == gguf_files.QWEN_SIZE
    fractions = [f for stage, f, _ in progress.events if stage == "llm" and f is not None]
    assert len(fractions) >= 5 and fractions == sorted(fractions) and fractions[-1] == 1.0
    again = Progress()
    assert resolve_gguf("qwen", tmp_path, again) == path
    assert again.events == []  # verified before: not assembled again


def test_qwen_with_the_wrong_checksum_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gguf_files, "QWEN_SHA256", "0" * 64)
    with pytest.raises(ModelMissing) as exc:
        resolve_gguf("", tmp_path)
    assert "SHA-256" in exc.value.message and exc.value.action
    assert list(tmp_path.iterdir()) == []  # nothing half-written is left to load


def test_tool_calling_follows_the_chat_template(
    qwen_llm: EmbeddedLLM, embedded_llm: EmbeddedLLM
) -> None:
    assert qwen_llm.template_has_tools and qwen_llm.tool_calling  # Qwen's template: tools
    assert not embedded_llm.template_has_tools  # SmolLM2's has none
    embedded_llm.offer_tools = True
    try:
        assert not embedded_llm.tool_calling
    finally:
        embedded_llm.offer_tools = False


def test_the_reply_steps_down_to_its_share_while_another_engine_computes(
    embedded_llm: EmbeddedLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spinning thread pools oversubscribed run many times slower: once TTS speaks the first
    chunk (another engine of the process computes), the next tokens are written on the LLM's
    share of the cores; the LLM stops counting as running when its stream is closed."""
    monkeypatch.setattr(embedded_llm, "logit_bias", NO_EOS)
    tts = object()
    tokens = embedded_llm.generate_sync(COUNT, max_tokens=20)
    next(tokens)
    assert not CORES.alone(tts)  # the LLM computes
    with CORES.running(tts):
        next(tokens)  # a token written while TTS runs sets the next one's threads
        assert embedded_llm.last_gen_threads == embedded_llm.threads
    tokens.close()
    assert CORES.alone(tts)


def test_cores_know_which_engines_compute() -> None:
    cores, stt, llm = Cores(), object(), object()
    assert cores.alone(llm)
    with cores.running(stt):
        assert not cores.alone(llm) and cores.alone(stt)
        with cores.running(stt):  # a second pass of the same engine
            pass
        assert not cores.alone(llm)
    assert cores.alone(llm)
