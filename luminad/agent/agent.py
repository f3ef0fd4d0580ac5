"""The Responder: every reply goes through one PydanticAI agent.

The agent's model is the chat model's own PydanticAI ``Model`` (``ChatModel.agent_model()``):
``OpenAIChatModel`` for Ollama and OpenAI-compatible servers, :class:`LlamaCppModel` for the
embedded GGUF. Models that can call tools are offered the toolset with ``deps=ctx.tools``; the
agent runs a called tool and asks the model again with its result, and only the text of the
model's answers is streamed, token by token. Closing or cancelling the reply stream closes the
model's stream, which stops generation (barge-in). No instrumentation or telemetry is enabled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart
from pydantic_ai.settings import ModelSettings
from pydantic_ai.toolsets import AbstractToolset, FunctionToolset

from luminad import protocol
from luminad.agent.implicit_memory import remember_implicit_facts, worth_extracting
from luminad.agent.intents import IntentRouter, default_router
from luminad.agent.prompts import PromptTemplate, about_user, known_facts
from luminad.agent.tool_calls import ToolContext
from luminad.agent.tools import TOOLSET
from luminad.agent.words import OPENING_WORDS, about_themselves, to_them
from luminad.errors import LuminaError
from luminad.providers.base import ChatMessage, ChatModel, SearchResult, WebSearch, text_delta

log = logging.getLogger(__name__)

SEARCH_TIMEOUT_S = 6.0


@dataclass(frozen=True)
class ReplyContext:
    """Everything one reply needs; built by the voice session / API per turn."""

    avatar: protocol.Avatar
    preferred_name: str | None
    preferences: Mapping[str, str]
    #: Earlier user/assistant turns (without the current utterance).
    history: Sequence[ChatMessage]
    user_text: str
    #: Memories recalled for this turn (above the similarity threshold).
    memories: Sequence[str] = ()
    internet: bool = False
    #: What the tools act on (the app, conversation, turn...); None: no tools this turn.
    tools: ToolContext | None = None
    #: Ids and similarity scores of ``memories`` (recorded with the reply, for replay).
    memory_refs: Sequence[protocol.RecordedMemory] = ()
    #: Turn ids of ``history``, oldest first (recorded with the reply, for replay).
    history_turns: Sequence[str] = ()


def to_model_messages(history: Sequence[ChatMessage]) -> list[ModelMessage]:
    """Our history as PydanticAI messages (system messages are left to the instructions)."""
    out: list[ModelMessage] = []
    for m in history:
        if m.role == "user":
            out.append(ModelRequest.user_text_prompt(m.content))
        elif m.role == "assistant":
            out.append(ModelResponse(parts=[TextPart(content=m.content)]))
    return out


@dataclass
class Responder:
    """Streams the assistant's reply for a :class:`ReplyContext` as text deltas."""

    llm: ChatModel
    search: WebSearch | None = None
    max_tokens: int = 200
    #: Sampling temperature of every reply (None: the chat model's own).
    temperature: float | None = None
    #: Offered to models that can call tools, on turns that carry a tool context.
    toolset: AbstractToolset[ToolContext] | None = TOOLSET
    #: Local intents, tried before the model on turns that carry a tool context.
    intents: IntentRouter | None = field(default_factory=default_router)
    prompt: PromptTemplate = field(default_factory=PromptTemplate)
    #: Web results used by the most recent reply (empty unless internet mode searched).
    last_web: list[SearchResult] = field(default_factory=list)
    #: Implicit-fact extractions still running (models without tools).
    background: set[asyncio.Task[list[str]]] = field(default_factory=set)

    def __post_init__(self) -> None:
        # deps: the turn's ToolContext, or None on a turn without tools
        self.agent: Agent[Any, str] = Agent(
            self.llm.agent_model(), output_type=str, name="lumina", deps_type=object
        )
        self.agent.instrument = False  # no OpenTelemetry/logfire spans, ever

    @property
    def provider(self) -> str:
        """``provider:model`` of the chat model answering (recorded with each reply)."""
        return f"{self.llm.name}:{self.llm.model}"

    async def _web_results(self, ctx: ReplyContext) -> list[SearchResult]:
        if not (ctx.internet and self.search is not None and ctx.user_text.strip()):
            return []
        try:
            async with asyncio.timeout(SEARCH_TIMEOUT_S):
                return await self.search.search(ctx.user_text, limit=3)
        except (TimeoutError, LuminaError, OSError) as exc:
            log.warning("web search failed: %s", type(exc).__name__)
            return []

    def prompt_of(self, ctx: ReplyContext, web: Sequence[SearchResult] = ()) -> tuple[str, str]:
        """(instructions, user turn) of a reply."""
        facts = known_facts(memories=ctx.memories, web_results=web)
        system = self.prompt.system(
            name=ctx.avatar.name,
            persona=ctx.avatar.persona,
            style=ctx.avatar.style,
            user=about_user(preferred_name=ctx.preferred_name, preferences=ctx.preferences),
            facts=facts,
        )
        return system, self.prompt.user_turn(ctx.user_text, facts)

    def _toolsets(self, ctx: ReplyContext) -> list[AbstractToolset[ToolContext]]:
        if self.toolset is None or ctx.tools is None or not self.llm.tool_calling:
            return []
        return [self.toolset]

    async def stream_reply(self, ctx: ReplyContext) -> AsyncIterator[str]:
        """Text deltas of the reply; closing/cancelling the iterator stops generation.

        A model that cannot call tools gets the user's facts out of the turn afterwards, in
        the background (:mod:`.implicit_memory`). A local intent (:mod:`.intents`) is tried
        first: when one matches, its tool runs and its sentence is the reply, no model runs; a
        name stated in one clause of the message is set before the model answers it."""
        if ctx.tools is not None and self.intents is not None:
            said = await self.intents.handle(ctx.user_text, ctx.tools)
            if said is not None:
                self.last_web = list(ctx.tools.web)
                yield said
                return
            await self.intents.name_in_passing(ctx.user_text, ctx.tools)
        web = await self._web_results(ctx)
        self.last_web = web
        async with (
            aclosing(self._run(ctx, web, self.max_tokens)) as deltas,
            aclosing(said_to_them(ctx.user_text, deltas, told_before(ctx))) as replies,
        ):
            async for delta in replies:
                yield delta  # closing this generator closes _run in the same task
        if ctx.tools is not None:  # pages the model's web_search calls read
            self.last_web = [*web, *ctx.tools.web]
        if ctx.tools is not None and not self.llm.tool_calling and worth_extracting(ctx.user_text):
            task = asyncio.create_task(self._remember(ctx.user_text, ctx.tools))
            self.background.add(task)
            task.add_done_callback(self.background.discard)

    async def _remember(self, user_text: str, tools: ToolContext) -> list[str]:
        """The implicit facts of a turn, asked of the model's context beside the conversation
        (so the next reply finds the conversation still evaluated)."""
        try:
            llm = await asyncio.to_thread(self.llm.aside)
        except LuminaError as exc:
            log.info("implicit fact extraction unavailable: %s", exc)
            return []
        return await remember_implicit_facts(llm, user_text, tools)

    @property
    def last_sources(self) -> list[protocol.Source]:
        """Web sources used by the most recent reply."""
        return [protocol.Source(title=r.title, url=r.url) for r in self.last_web]

    def record_of(
        self, ctx: ReplyContext, web: Sequence[SearchResult] = ()
    ) -> protocol.ReplyRecord:
        """What made the reply to ``ctx`` (stored with it; :mod:`.replay` rebuilds from it):
        the model and its settings, the prompt's version, the memories and history turns by
        id, the tools offered and the web results used."""
        offered = self._toolsets(ctx)
        return protocol.ReplyRecord(
            avatar_id=ctx.avatar.id,
            prompt_version=self.prompt.version,
            memories=list(ctx.memory_refs),
            history=list(ctx.history_turns),
            model=self.provider,
            max_tokens=self.max_tokens,
            temperature=self.temperature
            if self.temperature is not None
            else getattr(self.llm, "temperature", None),
            tools_offered=sorted(
                name for t in offered if isinstance(t, FunctionToolset) for name in t.tools
            ),
            web_results=[
                protocol.WebResult(title=r.title, url=r.url, snippet=r.snippet) for r in web
            ],
        )

    async def prime(self, ctx: ReplyContext) -> None:
        """Evaluate the session's prompt (persona, style, tool schemas) once, so the first
        turn finds it cached: one token, no tool can run, no web search."""
        async with aclosing(self._run(ctx, (), 1)) as deltas:
            async for _ in deltas:
                pass

    async def _run(
        self, ctx: ReplyContext, web: Sequence[SearchResult], max_tokens: int
    ) -> AsyncGenerator[str]:
        history = to_model_messages(ctx.history)  # the window: conversations.history_turns
        instructions, user_turn = self.prompt_of(ctx, web)
        settings: ModelSettings = {"max_tokens": max_tokens}
        if self.temperature is not None:
            settings["temperature"] = self.temperature
        try:
            async with self.agent.iter(
                user_turn,
                message_history=history,
                instructions=instructions,
                model_settings=settings,
                deps=ctx.tools,
                toolsets=self._toolsets(ctx),
            ) as run:
                async for node in run:
                    if not Agent.is_model_request_node(node):
                        continue
                    async with node.stream(run.ctx) as stream:
                        async for event in stream:
                            if text := text_delta(event):
                                yield text
                        calls = stream.response.tool_calls
                    if not calls:
                        return  # a plain answer (maybe empty) ends the reply: nothing to run
        except LuminaError:
            raise
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except Exception as exc:
            raise self.llm.failure(exc) from exc


def told_before(ctx: ReplyContext) -> list[str]:
    """What the reply may restate as the user's own: the memories recalled for the turn and
    what the user said earlier in the conversation."""
    return [*ctx.memories, *(m.content for m in ctx.history if m.role == "user")]


async def said_to_them(
    question: str, deltas: AsyncIterator[str], memories: Sequence[str] = ()
) -> AsyncGenerator[str]:
    """The reply's deltas; to a question the user asks about themselves, its first words are
    held back and turned to them (:func:`~luminad.agent.words.to_them`): the default model
    restates such a question, or what it knows of them (``memories``, :func:`told_before`),
    as the user ("What is my cat called?" -> "My cat is called Turing."). Only such a reply
    waits, and for three words' tokens at most."""
    if about_themselves(question):
        opening = ""
        async for delta in deltas:
            opening += delta
            # words complete: the last one only once something follows it
            whole = len(opening.split()) - (opening[-1:].isalnum() or opening[-1:] == "'")
            if whole >= OPENING_WORDS:
                break  # the rest of the same stream follows below
        if opening:
            yield to_them(question, opening, memories)
    async for delta in deltas:
        yield delta
