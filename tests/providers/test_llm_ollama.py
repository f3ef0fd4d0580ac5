"""The ollama provider (PydanticAI's OpenAIChatModel + OllamaProvider) against a local server
speaking Ollama's API (support/ollama_server), through the real Responder."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest
from pydantic_ai.toolsets import FunctionToolset

from luminad import protocol
from luminad.agent.agent import ReplyContext, Responder
from luminad.agent.tool_calls import ToolContext
from luminad.errors import LlmUnavailable
from luminad.providers.base import ChatMessage, stream_text
from luminad.providers.llamacpp import EmbeddedLLM
from luminad.providers.ollama import OllamaLLM
from luminad.providers.registry import AutoChat, check_health, load_llm
from luminad.settings import Settings
from tests.support.ollama_server import OllamaStub

#: SmolLM2 end-of-text / end-of-turn token ids, banned so a generation runs to max_tokens.
NO_EOS = {0: -100.0, 2: -100.0}
COUNT = "Count from 1 to 300, separated by commas."
AVATAR = protocol.Avatar(id="a1", name="Lumina", persona="", style="", voice="joe", builtin=True)


def ctx(
    text: str, history: list[ChatMessage] | None = None, tools: ToolContext | None = None
) -> ReplyContext:
    return ReplyContext(avatar=AVATAR, preferred_name=None, preferences={},
                        history=history or [], user_text=text, tools=tools)  # fmt: skip


@pytest.fixture(scope="module")
def stub(embedded_llm: EmbeddedLLM) -> Iterator[OllamaStub]:
    with OllamaStub(embedded_llm) as server:
        yield server


def test_stub_speaks_ollama_api(stub: OllamaStub) -> None:
    assert httpx.get(f"{stub.url}/api/version").json()["version"]
    tags = httpx.get(f"{stub.url}/api/tags").json()
    assert tags["models"][0]["name"] == "llama3.2:latest"


async def test_streams_multi_turn_chat(stub: OllamaStub) -> None:
    responder = Responder(OllamaLLM(stub.url, "llama3.2"), max_tokens=30)
    history = [
        ChatMessage("user", "The secret word is banana."),
        ChatMessage("assistant", "Okay, the secret word is banana."),
    ]
    deltas = [d async for d in responder.stream_reply(ctx("What is the secret word?", history))]
    assert len(deltas) > 1
    assert "banana" in "".join(deltas).lower()
    sent = stub.requests[-1]
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "user"]
    assert sent["stream"] is True
    assert sent["max_tokens"] == 30


async def test_tools_are_offered_natively(stub: OllamaStub) -> None:
    toolset: FunctionToolset[object] = FunctionToolset()

    @toolset.tool_plain
    def remember(fact: str) -> str:
        """Store a fact the user wants you to remember."""
        return "Stored."

    async def notify(message: protocol.ServerMessage) -> None:
        return None

    tools = ToolContext(
        app=None,  # type: ignore[arg-type]
        conversation_id=uuid.uuid4(), turn_id=uuid.uuid4(), avatar_id=uuid.uuid4(),
        notify=notify,
    )  # fmt: skip
    responder = Responder(OllamaLLM(stub.url, "llama3.2"), max_tokens=20, toolset=toolset)
    _ = [d async for d in responder.stream_reply(ctx("Hello.", tools=tools))]
    (tool,) = stub.requests[-1]["tools"]
    assert tool["function"]["name"] == "remember"
    assert "remember" in tool["function"]["description"]
    _ = [d async for d in responder.stream_reply(ctx("Hello."))]  # no tool context: no tools
    assert "tools" not in stub.requests[-1]


async def test_cancel_stops_server_generation(
    stub: OllamaStub, embedded_llm: EmbeddedLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded_llm, "logit_bias", NO_EOS)  # would run all 1000 tokens
    responder = Responder(OllamaLLM(stub.url, "llama3.2"), max_tokens=1000)
    got: list[str] = []
    disconnects = stub.disconnects

    async def consume() -> None:
        async for d in responder.stream_reply(ctx(COUNT)):
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
    assert stub.disconnects > disconnects


async def test_missing_model_says_pull(stub: OllamaStub) -> None:
    llm = OllamaLLM(stub.url, "mistral")
    with pytest.raises(LlmUnavailable) as exc:
        _ = [d async for d in Responder(llm).stream_reply(ctx(COUNT))]
    assert exc.value.action and "ollama pull mistral" in exc.value.action
    h = await llm.health()
    assert h.reachable and not h.ok and h.action and "ollama pull mistral" in h.action


async def test_unreachable_ollama_says_start_it() -> None:
    llm = OllamaLLM("http://127.0.0.1:9", "llama3.2")
    with pytest.raises(LlmUnavailable) as exc:
        _ = [d async for d in Responder(llm).stream_reply(ctx("hi"))]
    assert exc.value.action and "ollama serve" in exc.value.action


async def test_auto_picks_ollama_when_it_has_the_model(
    stub: OllamaStub, shared_settings: Settings
) -> None:
    llm, why = load_llm(shared_settings.replace(llm="auto", ollama_host=stub.url))
    assert isinstance(llm, AutoChat) and llm.name == "ollama"
    assert "has llama3.2" in why
    h = await llm.health()
    assert h.ok and "auto -> ollama" in h.detail
    reply = [d async for d in stream_text(llm, COUNT, max_tokens=4)]
    assert reply


async def test_auto_skips_ollama_without_the_model(
    stub: OllamaStub, shared_settings: Settings
) -> None:
    llm, why = load_llm(
        shared_settings.replace(
            llm="auto", ollama_host=stub.url, llm_model="mistral", embedded_model="smollm2"
        )
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
