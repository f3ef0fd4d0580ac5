"""The engine Protocols: speech-to-text, chat model, text-to-speech, embeddings, web search.

Each is small and async where it does I/O; blocking libraries run in threads inside the
implementation. Every engine has ``health()`` returning :class:`luminad.protocol.EngineHealth`
(configured / reachable / model, and an ``action`` when not ok). Real implementations live in
the sibling modules; scripted fakes for unit tests live in ``tests/support/fakes.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from luminad.protocol import EngineHealth

if TYPE_CHECKING:
    from pydantic_ai.models import Model

    from luminad.errors import LlmUnavailable

#: Rate (Hz) of all audio handed to speech-to-text.
STT_SAMPLE_RATE = 16000
Pcm16 = npt.NDArray[np.int16]
#: Reports loading progress: ``(stage, fraction done or None, message)``.
ProgressFn = Callable[[str, float | None, str], None]


def no_progress(stage: str, fraction: float | None, message: str) -> None:
    """A :data:`ProgressFn` that reports nothing."""
    return None


def close_engine(engine: object) -> None:
    """Call the engine's ``close()`` if it has one (native models free their memory)."""
    close = getattr(engine, "close", None)
    if callable(close):
        close()


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call the model wrote: the tool's name and its arguments."""

    name: str
    arguments: Mapping[str, Any]
    id: str = ""


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a chat: ``system``, ``user``, ``assistant`` (maybe calling tools) or
    ``tool`` (a tool's result)."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str
    tool_calls: tuple[ToolCall, ...] = ()

    def template_dict(self) -> dict[str, Any]:
        """The message as chat templates read it (OpenAI's message shape)."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [
                {"type": "function", "id": c.id,
                 "function": {"name": c.name, "arguments": dict(c.arguments)}}
                for c in self.tool_calls
            ]  # fmt: skip
        return out


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """PCM16LE mono audio for one piece of text."""

    pcm: bytes
    sample_rate: int
    text: str

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate


@dataclass(frozen=True, slots=True)
class VoiceInfo:
    """An installed Piper voice."""

    id: str
    name: str
    language: str
    sample_rate: int
    path: str


@dataclass(frozen=True, slots=True)
class SearchResult:
    title: str
    url: str
    snippet: str = ""


@dataclass(slots=True)
class Progress:
    """Receives model-loading progress (``stage``, fraction 0..1 or None, message)."""

    events: list[tuple[str, float | None, str]] = field(default_factory=list)

    def __call__(self, stage: str, fraction: float | None, message: str) -> None:
        self.events.append((stage, fraction, message))


@runtime_checkable
class SpeechToText(Protocol):
    """Transcribes 16 kHz mono PCM16."""

    name: str

    async def transcribe(self, audio: Pcm16, *, partial: bool = False, alone: bool = False) -> str:
        """Text of ``audio``. ``partial`` asks for a fast interim pass (greedy); ``alone``
        says nothing else in this process computes meanwhile (a final pass always runs alone:
        the LLM and TTS wait for its words), so the pass may take every core."""
        ...

    async def health(self) -> EngineHealth: ...


@runtime_checkable
class ChatModel(Protocol):
    """A language model the agent talks to through PydanticAI.

    ``agent_model()`` is the PydanticAI ``Model`` (closing or cancelling its stream stops the
    generation); ``tool_calling`` says whether to offer it the tools; ``failure`` turns an error
    of a request into :class:`~luminad.errors.LlmUnavailable` with what to do.
    """

    #: Provider name: "embedded", "ollama" or "openai".
    name: str
    model: str

    @property
    def tool_calling(self) -> bool: ...

    def agent_model(self) -> Model: ...

    def aside(self) -> ChatModel:
        """The model for requests beside the conversation (the implicit-fact extraction), so
        they do not evict the conversation's evaluated prompt: the embedded model's second
        context; a server model is its own (blocking: may load a context)."""
        ...

    def failure(self, exc: Exception) -> LlmUnavailable: ...

    async def health(self) -> EngineHealth: ...


def text_delta(event: object) -> str:
    """The text a PydanticAI stream event adds (empty for tool calls and other events)."""
    from pydantic_ai.messages import PartDeltaEvent, PartStartEvent, TextPart, TextPartDelta

    if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart):
        return event.part.content
    if isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
        return event.delta.content_delta
    return ""


async def stream_text(
    llm: ChatModel, prompt: str, *, max_tokens: int, system: str = ""
) -> AsyncIterator[str]:
    """Text deltas of one plain request (no persona, no tools): warm-up, health, benchmarks."""
    from pydantic_ai.direct import model_request_stream
    from pydantic_ai.messages import ModelRequest, SystemPromptPart, UserPromptPart

    from luminad.errors import LuminaError

    system_part = [SystemPromptPart(system)] if system else []
    try:
        async with model_request_stream(
            llm.agent_model(),
            [ModelRequest(parts=[*system_part, UserPromptPart(prompt)])],
            model_settings={"max_tokens": max_tokens},
        ) as stream:
            async for event in stream:
                if text := text_delta(event):
                    yield text
    except LuminaError:
        raise
    except Exception as exc:
        raise llm.failure(exc) from exc


@runtime_checkable
class TextToSpeech(Protocol):
    """Speaks text, one chunk per sentence, at the voice's own rate."""

    name: str
    sample_rate: int

    def synthesize(self, text: str, *, voice: str | None = None) -> AsyncIterator[AudioChunk]: ...

    def voices(self) -> list[VoiceInfo]: ...

    async def health(self) -> EngineHealth: ...


@runtime_checkable
class Embedder(Protocol):
    """Sentence embeddings, L2-normalised. Synchronous: read-model projections call it."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """An array of shape (len(texts), dim)."""
        ...

    async def health(self) -> EngineHealth: ...


@runtime_checkable
class WebSearch(Protocol):
    name: str

    async def search(self, query: str, *, limit: int = 5) -> list[SearchResult]: ...

    async def health(self) -> EngineHealth: ...
