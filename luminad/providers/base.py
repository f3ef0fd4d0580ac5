"""The engine Protocols: speech-to-text, chat model, text-to-speech, embeddings, web search.

Each is small and async where it does I/O; blocking libraries run in threads inside the
implementation. Every engine has ``health()`` returning :class:`luminad.protocol.EngineHealth`
(configured / reachable / model, and an ``action`` when not ok). Real implementations live in
the sibling modules; scripted fakes for unit tests live in ``tests/support/fakes.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from luminad.protocol import EngineHealth

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
class ChatMessage:
    """One message of a chat: ``system``, ``user`` or ``assistant``."""

    role: Literal["system", "user", "assistant"]
    content: str


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

    async def transcribe(self, audio: Pcm16, *, partial: bool = False) -> str:
        """Text of ``audio``. ``partial`` asks for a fast interim pass (greedy)."""
        ...

    async def health(self) -> EngineHealth: ...


@runtime_checkable
class ChatModel(Protocol):
    """Streams a reply for a list of messages; closing/cancelling the stream stops generation."""

    #: Provider name: "embedded", "ollama" or "openai".
    name: str
    model: str

    def stream_chat(
        self, messages: Sequence[ChatMessage], *, max_tokens: int = 200
    ) -> AsyncIterator[str]:
        """Yield text deltas as the model writes them."""
        ...

    async def health(self) -> EngineHealth: ...


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
