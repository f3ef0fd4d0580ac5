"""The ollama provider against a local server speaking Ollama's API (support/ollama_server)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from luminad.errors import LlmUnavailable
from luminad.providers.base import ChatMessage
from luminad.providers.llamacpp import EmbeddedLLM
from luminad.providers.ollama import OllamaChat
from luminad.providers.registry import AutoChat, check_health, load_llm
from luminad.settings import Settings
from tests.support.ollama_server import OllamaStub

#: SmolLM2 end-of-text / end-of-turn token ids, banned so a generation runs to max_tokens.
NO_EOS = {0: -100.0, 2: -100.0}
COUNT = [ChatMessage("user", "Count from 1 to 300, separated by commas.")]


@pytest.fixture(scope="module")
def stub(embedded_llm: EmbeddedLLM) -> Iterator[OllamaStub]:
    with OllamaStub(embedded_llm) as server:
        yield server


def test_stub_speaks_ollama_api(stub: OllamaStub) -> None:
    assert httpx.get(f"{stub.url}/api/version").json()["version"]
    tags = httpx.get(f"{stub.url}/api/tags").json()
    assert tags["models"][0]["name"] == "llama3.2:latest"


async def test_streams_multi_turn_chat(stub: OllamaStub) -> None:
    llm = OllamaChat(stub.url, "llama3.2")
    messages = [
        ChatMessage("user", "The secret word is banana."),
        ChatMessage("assistant", "Okay, the secret word is banana."),
        ChatMessage("user", "What is the secret word?"),
    ]
    deltas = [d async for d in llm.stream_chat(messages, max_tokens=30)]
    assert len(deltas) > 1
    assert "banana" in "".join(deltas).lower()
    sent = stub.requests[-1]
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["options"]["num_predict"] == 30 and sent["stream"] is True


async def test_cancel_stops_server_generation(
    stub: OllamaStub, embedded_llm: EmbeddedLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded_llm, "logit_bias", NO_EOS)  # would run all 1000 tokens
    llm = OllamaChat(stub.url, "llama3.2")
    got: list[str] = []

    async def consume() -> None:
        async for d in llm.stream_chat(COUNT, max_tokens=1000):
            got.append(d)

    task = asyncio.create_task(consume())
    for _ in range(1000):
        if len(got) >= 5:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.3)
    at_cancel = embedded_llm.tokens_generated
    await asyncio.sleep(0.7)
    assert embedded_llm.tokens_generated - at_cancel <= 1
    assert stub.disconnects >= 1


async def test_missing_model_says_pull(stub: OllamaStub) -> None:
    llm = OllamaChat(stub.url, "mistral")
    with pytest.raises(LlmUnavailable) as exc:
        _ = [d async for d in llm.stream_chat(COUNT, max_tokens=5)]
    assert exc.value.action and "ollama pull mistral" in exc.value.action
    h = await llm.health()
    assert h.reachable and not h.ok and h.action and "ollama pull mistral" in h.action


async def test_auto_picks_ollama_when_it_has_the_model(
    stub: OllamaStub, shared_settings: Settings
) -> None:
    llm, why = load_llm(shared_settings.replace(llm="auto", ollama_host=stub.url))
    assert isinstance(llm, AutoChat) and llm.name == "ollama"
    assert "has llama3.2" in why
    h = await llm.health()
    assert h.ok and "auto -> ollama" in h.detail
    reply = [d async for d in llm.stream_chat(COUNT, max_tokens=4)]
    assert reply


async def test_auto_skips_ollama_without_the_model(
    stub: OllamaStub, shared_settings: Settings
) -> None:
    llm, why = load_llm(
        shared_settings.replace(llm="auto", ollama_host=stub.url, llm_model="mistral")
    )
    assert llm.name == "embedded" and "lacks mistral" in why
    from luminad.providers.registry import Engines
    from tests.support.fakes import FakeEmbedder, FakeSTT, FakeTTS

    health = await check_health(
        Engines(stt=FakeSTT(), llm=llm, tts=FakeTTS(), embedder=FakeEmbedder())
    )
    assert "auto -> embedded" in health.engines["llm"].detail
    close = getattr(llm, "close", None)
    if close:
        close()
