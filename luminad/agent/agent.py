"""The Responder: every reply goes through one PydanticAI agent.

Our :class:`~luminad.providers.base.ChatModel` (embedded, Ollama, OpenAI-compatible) is wrapped
as a PydanticAI ``FunctionModel`` whose stream function converts PydanticAI's messages back
into :class:`ChatMessage` and streams the provider's deltas, so every provider is prompted the
same way and persona/tool work plugs in here. Text streams token by token
(``stream_text(delta=True, debounce_by=None)``). Closing or cancelling the reply stream closes
the provider stream, which stops generation. No instrumentation or telemetry is enabled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic_ai import Agent
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    SystemPromptPart,
    TextPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.settings import ModelSettings

from luminad import protocol
from luminad.agent.prompts import system_prompt
from luminad.errors import LlmUnavailable, LuminaError
from luminad.providers.base import ChatMessage, ChatModel, SearchResult, WebSearch

log = logging.getLogger(__name__)

#: Turns of history sent to the model (older ones are dropped).
HISTORY_TURNS = 12
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
    memories: Sequence[str] = ()
    internet: bool = False


def _text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return " ".join(c for c in content if isinstance(c, str))
    return str(content)


def to_chat_messages(
    messages: Sequence[ModelMessage], instructions: str | None
) -> list[ChatMessage]:
    """PydanticAI's message list as the provider's chat messages (system first)."""
    out: list[ChatMessage] = []
    if instructions:
        out.append(ChatMessage("system", instructions))
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, SystemPromptPart) and part.content:
                    out.append(ChatMessage("system", part.content))
                elif isinstance(part, UserPromptPart):
                    out.append(ChatMessage("user", _text_of(part.content)))
        elif isinstance(message, ModelResponse):
            text = "".join(p.content for p in message.parts if isinstance(p, TextPart))
            if text:
                out.append(ChatMessage("assistant", text))
    # one system message: small models follow a single leading system prompt best
    systems = [m.content for m in out if m.role == "system"]
    rest = [m for m in out if m.role != "system"]
    return ([ChatMessage("system", "\n".join(systems))] if systems else []) + rest


def to_model_messages(history: Sequence[ChatMessage]) -> list[ModelMessage]:
    """Our history as PydanticAI messages (system messages are left to the instructions)."""
    out: list[ModelMessage] = []
    for m in history:
        if m.role == "user":
            out.append(ModelRequest(parts=[UserPromptPart(content=m.content)]))
        elif m.role == "assistant":
            out.append(ModelResponse(parts=[TextPart(content=m.content)]))
    return out


def chat_model_as_pydantic(llm: ChatModel, default_max_tokens: int = 200) -> FunctionModel:
    """Wrap a ChatModel as a streaming PydanticAI model."""

    async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
        settings = info.model_settings or {}
        max_tokens = int(settings.get("max_tokens") or default_max_tokens)
        chat = to_chat_messages(messages, info.instructions)
        gen = llm.stream_chat(chat, max_tokens=max_tokens)
        produced = False
        try:
            async for delta in gen:
                produced = True
                yield delta
            if not produced:
                yield ""  # PydanticAI needs one item; an empty reply is still a reply
        finally:
            aclose = getattr(gen, "aclose", None)
            if aclose is not None:
                await aclose()

    return FunctionModel(stream_function=stream, model_name=f"{llm.name}:{llm.model}")


@dataclass
class Responder:
    """Streams the assistant's reply for a :class:`ReplyContext` as text deltas."""

    llm: ChatModel
    search: WebSearch | None = None
    max_tokens: int = 200
    #: Web sources used by the most recent reply (empty unless internet mode searched).
    last_sources: list[protocol.Source] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.agent: Agent[None, str] = Agent(
            chat_model_as_pydantic(self.llm, self.max_tokens),
            output_type=str,
            name="lumina",
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

    def instructions(self, ctx: ReplyContext, web: Sequence[SearchResult] = ()) -> str:
        return system_prompt(
            name=ctx.avatar.name,
            persona=ctx.avatar.persona,
            style=ctx.avatar.style,
            preferred_name=ctx.preferred_name,
            preferences=ctx.preferences,
            memories=ctx.memories,
            web_results=web,
        )

    async def stream_reply(self, ctx: ReplyContext) -> AsyncIterator[str]:
        """Text deltas of the reply; closing/cancelling the iterator stops generation."""
        web = await self._web_results(ctx)
        self.last_sources = [protocol.Source(title=r.title, url=r.url) for r in web]
        history = to_model_messages(list(ctx.history)[-2 * HISTORY_TURNS :])
        settings: ModelSettings = {"max_tokens": self.max_tokens}
        try:
            async with self.agent.run_stream(
                ctx.user_text,
                message_history=history,
                instructions=self.instructions(ctx, web),
                model_settings=settings,
            ) as result:
                async for delta in result.stream_text(delta=True, debounce_by=None):
                    if delta:
                        yield delta
        except LuminaError:
            raise
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except Exception as exc:
            raise LlmUnavailable(f"the language model failed: {type(exc).__name__}: {exc}") from exc
