from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from pydantic_ai import RunContext
from pydantic_ai.messages import ModelMessage, ModelRequest, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel
from pydantic_ai.toolsets import FunctionToolset

from luminad import protocol
from luminad.agent.agent import ReplyContext, Responder
from luminad.agent.prompts import TO_THEM
from luminad.errors import LlmUnavailable
from luminad.providers.base import ChatMessage, SearchResult
from luminad.providers.llamacpp import EmbeddedLLM
from tests.support.fakes import FakeLLM, FakeSearch

#: SmolLM2 end-of-text / end-of-turn token ids, banned so a generation runs to max_tokens.
NO_EOS = {0: -100.0, 2: -100.0}


def ctx(avatar: protocol.Avatar, text: str, **kw: object) -> ReplyContext:
    base: dict[str, object] = {"preferred_name": None, "preferences": {}, "history": []}
    base.update(kw)
    return ReplyContext(avatar=avatar, user_text=text, **base)  # type: ignore[arg-type]


async def test_prompt_reaches_the_model_through_pydantic_ai(lumina_avatar: protocol.Avatar) -> None:
    llm = FakeLLM(["Sure thing, Sam, you like tea."], delay_s=0)
    responder = Responder(llm)
    history = [ChatMessage("user", "Hi"), ChatMessage("assistant", "Hello!")]
    reply = ctx(lumina_avatar, "Who am I?", preferred_name="Sam", history=history,
                memories=["Sam likes tea."])  # fmt: skip
    deltas = [d async for d in responder.stream_reply(reply)]
    # token-level, no debouncing: one delta per token once the opening three words (held to
    # turn them to the user, see the next test) are out
    assert deltas == ["Sure thing, Sam, ", "you ", "like ", "tea."]
    (sent,) = llm.requests
    assert [m.role for m in sent] == ["system", "user", "assistant", "user"]
    # one persona, one style rule, who the user is: the same all session (cached)
    assert sent[0].content == (
        "You are Lumina, a friendly voice assistant.\n"
        "Answer in one or two short spoken sentences, in plain English, with no lists or markdown."
        "\nThe user's name is Sam."
    )
    assert [m.content for m in sent[1:3]] == ["Hi", "Hello!"]
    # what it recalls this turn comes with the question, said to the user
    assert sent[3].content == "(What you know about them: Sam likes tea.)\nWho am I?"
    assert responder.provider == "fake:fake-llm"


async def test_an_answer_restating_the_user_s_question_as_theirs_is_said_to_them(
    lumina_avatar: protocol.Avatar,
) -> None:
    """The default model answers "What is my cat called?" with "My cat is called Turing." and
    "What am I allergic to?" with "I am allergic to peanuts.": the user hears it said to them.
    Its own "I" stays ("I'm not sure"), and so does every reply to anything else."""
    said = {
        "What is my cat called?": ("My cat is called Turing.", "Your cat is called Turing."),
        "What am I allergic to?": ("I am allergic to peanuts.", "You are allergic to peanuts."),
        "Where do I live?": ("I live in Lyon.", "You live in Lyon."),
        "Where am I going?": ("I'm not sure, sorry.", "I'm not sure, sorry."),
        "Tell me about my cat.": ("My cat is lovely.", "My cat is lovely."),
        "What is my name?": ("Sam.", "Sam."),
    }
    for question, (written, heard) in said.items():
        responder = Responder(FakeLLM([written], delay_s=0))
        deltas = [d async for d in responder.stream_reply(ctx(lumina_avatar, question))]
        assert "".join(deltas) == heard, question


async def test_an_answer_restating_a_memory_as_the_user_s_is_said_to_them(
    lumina_avatar: protocol.Avatar,
) -> None:
    """Given "You are nine years old." (the memory "The user is nine years old." said to them),
    the default model answered "How old am I?" with "I am 9 years old.": the reply's opening
    is turned when a memory recalled for the question, or a clause the user said before, opens
    the same way said to the user."""
    said = {
        ("How old am I?", "The user is nine years old."): (
            "I am 9 years old.", "You are 9 years old."),
        ("What are my cats called?", "The user has two cats called Pixel and Mango."): (
            "I have two cats called Pixel and Mango.", "You have two cats called Pixel and Mango."),
        ("How old am I?", "The user was born in 2016."): (
            "I am not sure.", "I am not sure."),
        ("What is my dog called?", "The user has a dog called Rex."): (
            "I have no idea, sorry.", "I have no idea, sorry."),
    }  # fmt: skip
    for (question, memory), (written, heard) in said.items():
        responder = Responder(FakeLLM([written], delay_s=0))
        reply = ctx(lumina_avatar, question, memories=[memory])
        deltas = [d async for d in responder.stream_reply(reply)]
        assert "".join(deltas) == heard, question

    # what the user said earlier in the conversation counts as a memory does
    history = [ChatMessage("user", "My name is Leo and I am nine years old."),
               ChatMessage("assistant", "Nice to meet you, Leo!")]  # fmt: skip
    responder = Responder(FakeLLM(["I am nine years old."], delay_s=0))
    reply = ctx(lumina_avatar, "How old am I?", history=history)
    assert "".join([d async for d in responder.stream_reply(reply)]) == "You are nine years old."


async def test_facts_can_go_into_the_system_prompt(lumina_avatar: protocol.Avatar) -> None:
    from luminad.agent.prompts import PromptTemplate

    llm = FakeLLM(["Hi Sam."], delay_s=0)
    responder = Responder(llm, prompt=PromptTemplate(context="system"))
    _ = [d async for d in responder.stream_reply(ctx(lumina_avatar, "Who am I?",
                                                     preferred_name="Sam"))]  # fmt: skip
    (sent,) = llm.requests
    assert "The user's name is Sam." in sent[0].content
    assert sent[-1].content == f"({TO_THEM})\nWho am I?"


async def test_real_model_answers_in_persona(
    qwen_llm: EmbeddedLLM, lumina_avatar: protocol.Avatar
) -> None:
    responder = Responder(qwen_llm, max_tokens=40)
    question = ctx(lumina_avatar, "What is the capital of France?", preferred_name="Sam")
    deltas = [d async for d in responder.stream_reply(question)]
    assert len(deltas) > 2
    assert "paris" in "".join(deltas).lower()


@dataclass
class Deps:
    """Stands in for the turn's ToolContext."""

    user: str
    #: Web pages the turn's tools read (the Responder lists them as the reply's sources).
    web: list[SearchResult] = field(default_factory=list)


class ToolCallingFake:
    """Calls ``remember`` first, then answers with what the tool returned."""

    name = "fake"
    model = "tool-calling"
    tool_calling = True

    def agent_model(self) -> FunctionModel:
        return FunctionModel(stream_function=self._stream)

    def failure(self, exc: Exception) -> LlmUnavailable:
        return LlmUnavailable(str(exc))

    async def health(self) -> protocol.EngineHealth:
        return protocol.EngineHealth(ok=True, configured=True, reachable=True)

    async def _stream(
        self, messages: list[ModelMessage], info: AgentInfo
    ) -> AsyncIterator[str | DeltaToolCalls]:
        last = messages[-1]
        returned = [p for p in last.parts if isinstance(p, ToolReturnPart)]
        if isinstance(last, ModelRequest) and returned:
            yield f"Done: {returned[0].content}"
            return
        assert [t.name for t in info.function_tools] == ["remember"]
        yield {0: DeltaToolCall(name="remember", json_args='{"fact": "Ana is my sister"}')}


async def test_tools_run_with_the_turn_context(lumina_avatar: protocol.Avatar) -> None:
    toolset: FunctionToolset[Deps] = FunctionToolset()
    calls: list[tuple[str, str]] = []

    @toolset.tool
    def remember(run: RunContext[Deps], fact: str) -> str:
        """Store a fact the user wants you to remember."""
        calls.append((run.deps.user, fact))
        return "stored"

    # the model's own call (local intents, which would match first, are tested in test_intents)
    responder = Responder(ToolCallingFake(), toolset=toolset, intents=None)
    turn = ctx(lumina_avatar, "Remember Ana is my sister.", tools=Deps(user="sam"))
    deltas = [d async for d in responder.stream_reply(turn)]
    assert calls == [("sam", "Ana is my sister")]
    assert "".join(deltas) == "Done: stored"  # only the answer is spoken, never the call


async def test_cancel_stops_real_generation(
    embedded_llm: EmbeddedLLM, lumina_avatar: protocol.Avatar, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded_llm, "logit_bias", NO_EOS)  # would run all 1000 tokens
    responder = Responder(embedded_llm, max_tokens=1000)
    got: list[str] = []

    async def consume() -> None:
        async for d in responder.stream_reply(
            ctx(lumina_avatar, "Count from 1 to 300, separated by commas.")
        ):
            got.append(d)

    task = asyncio.create_task(consume())
    for _ in range(1000):
        if len(got) >= 3:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    at_cancel = embedded_llm.tokens_generated
    await asyncio.sleep(0.5)
    assert embedded_llm.tokens_generated - at_cancel <= 1


async def test_closing_the_reply_stops_generation(
    embedded_llm: EmbeddedLLM, lumina_avatar: protocol.Avatar, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded_llm, "logit_bias", NO_EOS)  # would run all 1000 tokens
    responder = Responder(embedded_llm, max_tokens=1000)
    stream = responder.stream_reply(ctx(lumina_avatar, "Count from 1 to 300, separated by commas."))
    async for _ in stream:
        break
    await stream.aclose()  # type: ignore[attr-defined]
    at_close = embedded_llm.tokens_generated
    await asyncio.sleep(0.5)
    assert embedded_llm.tokens_generated - at_close <= 1


async def test_internet_mode_searches_and_reports_sources(lumina_avatar: protocol.Avatar) -> None:
    llm = FakeLLM(["Paris."], delay_s=0)
    search = FakeSearch()
    responder = Responder(llm, search)
    _ = [d async for d in responder.stream_reply(ctx(lumina_avatar, "Capital of France?"))]
    assert search.queries == [] and responder.last_sources == []
    _ = [
        d
        async for d in responder.stream_reply(
            ctx(lumina_avatar, "Capital of France?", internet=True)
        )
    ]
    assert search.queries == ["Capital of France?"]
    assert responder.last_sources == [
        protocol.Source(title="Paris", url="https://example.org/paris")
    ]
    assert "Paris is the capital of France." in llm.requests[-1][-1].content


async def test_empty_reply_and_odd_history(lumina_avatar: protocol.Avatar) -> None:
    llm = FakeLLM(["", "Fine."], delay_s=0)
    responder = Responder(llm)
    assert [d async for d in responder.stream_reply(ctx(lumina_avatar, "hi"))] == []
    # an interrupted reply that was never heard leaves two user turns in a row
    history = [ChatMessage("user", "first"), ChatMessage("user", "second")]
    deltas = [d async for d in responder.stream_reply(ctx(lumina_avatar, "third", history=history))]
    assert "".join(deltas) == "Fine."
    assert [m.content for m in llm.requests[-1] if m.role == "user"] == ["first", "second", "third"]


def test_no_telemetry() -> None:
    import importlib.util

    responder = Responder(FakeLLM())
    assert responder.agent.instrument is False
    assert importlib.util.find_spec("logfire") is None  # pydantic-ai-slim: no logfire at all
