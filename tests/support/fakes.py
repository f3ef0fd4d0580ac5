"""Scripted fakes of every engine, for unit tests only (kept out of the luminad package).

They honour the Protocols in :mod:`luminad.providers.base` with predictable, fast behaviour:

- :class:`FakeSTT` returns queued transcripts (or a fixed text), optionally after a delay.
- :class:`FakeLLM` streams a scripted reply word by word with a delay per token and counts the
  tokens it produced, so cancellation tests can check that generation stopped.
- :class:`FakeTTS` turns each sentence into a short tone (10 ms per character).
- :class:`FakeEmbedder` maps text to deterministic unit vectors (equal texts -> equal vectors;
  texts sharing words are closer).
- :class:`FakeSearch` returns fixed results.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Self

import numpy as np
import numpy.typing as npt
from pydantic_ai.messages import ModelMessage
from pydantic_ai.models.function import AgentInfo, FunctionModel

from luminad.errors import LlmUnavailable
from luminad.protocol import EngineHealth
from luminad.providers.base import AudioChunk, ChatMessage, Pcm16, SearchResult, VoiceInfo
from luminad.providers.llamacpp_model import chat_messages
from luminad.providers.registry import Engines

_OK = EngineHealth(ok=True, configured=True, reachable=True, model="fake", detail="scripted fake")


class FakeSTT:
    name = "fake-stt"
    model = "fake"

    def __init__(
        self, texts: Iterable[str] = (), *, default: str = "", delay_s: float = 0.0
    ) -> None:
        self.queue: deque[str] = deque(texts)
        self.default = default
        self.delay_s = delay_s
        self.calls: list[tuple[int, bool]] = []  # (samples, partial)

    async def transcribe(self, audio: Pcm16, *, partial: bool = False, alone: bool = False) -> str:
        self.calls.append((len(audio), partial))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if partial:
            return self.queue[0] if self.queue else self.default
        return self.queue.popleft() if self.queue else self.default

    async def health(self) -> EngineHealth:
        return _OK


class FakeLLM:
    """Streams ``replies`` in turn (the last one repeats), one word-token per ``delay_s``.

    ``requests`` holds each request as chat messages (system prompt first)."""

    name = "fake"
    model = "fake-llm"
    tool_calling = False

    def __init__(
        self, replies: Iterable[str] = ("Hello from the fake model.",), *, delay_s: float = 0.01
    ) -> None:
        self.replies: list[str] = list(replies) or [""]
        self.delay_s = delay_s
        self.tokens_generated = 0
        self.requests: list[list[ChatMessage]] = []
        self._next = 0

    def agent_model(self) -> FunctionModel:
        return FunctionModel(stream_function=self._stream, model_name=self.model)

    def aside(self) -> Self:
        return self

    def failure(self, exc: Exception) -> LlmUnavailable:
        return LlmUnavailable(f"fake model failed: {exc}")

    async def _stream(self, messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
        self.requests.append(chat_messages(messages, info.instructions))
        reply = self.replies[min(self._next, len(self.replies) - 1)]
        self._next += 1
        max_tokens = int((info.model_settings or {}).get("max_tokens") or 200)
        yield ""  # PydanticAI needs one item; an empty reply is still a reply
        for token in re.findall(r"\S+\s*", reply)[:max_tokens]:
            await asyncio.sleep(self.delay_s)
            self.tokens_generated += 1
            yield token

    async def health(self) -> EngineHealth:
        return _OK


class FakeTTS:
    name = "fake-tts"
    model = "fake"

    def __init__(self, sample_rate: int = 16000, *, delay_s: float = 0.0) -> None:
        self.sample_rate = sample_rate
        self.delay_s = delay_s
        self.spoken: list[str] = []

    async def synthesize(self, text: str, *, voice: str | None = None) -> AsyncIterator[AudioChunk]:
        for sentence in (s.strip() for s in re.split(r"(?<=[.!?])\s+", text)):
            if not sentence:
                continue
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            n = int(self.sample_rate * 0.01 * len(sentence))
            t = np.arange(n) / self.sample_rate
            pcm = (3000 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()
            self.spoken.append(sentence)
            yield AudioChunk(pcm=pcm, sample_rate=self.sample_rate, text=sentence)

    def voices(self) -> list[VoiceInfo]:
        return [
            VoiceInfo(
                id="joe", name="fake", language="en_US", sample_rate=self.sample_rate, path=""
            )
        ]

    async def health(self) -> EngineHealth:
        return _OK


class FakeEmbedder:
    name = "fake-embedder"
    dim = 384

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()) or [""]:
                digest = hashlib.sha256(word.encode()).digest()
                out[i, int.from_bytes(digest[:4], "little") % self.dim] += 1.0
            out[i] /= max(float(np.linalg.norm(out[i])), 1e-12)
        return out

    async def health(self) -> EngineHealth:
        return _OK


@dataclass
class FakeSearch:
    results: list[SearchResult] = field(
        default_factory=lambda: [
            SearchResult("Paris", "https://example.org/paris", "Paris is the capital of France.")
        ]
    )
    name: str = "fake-search"
    queries: list[str] = field(default_factory=list)

    async def search(self, query: str, *, limit: int = 5) -> list[SearchResult]:
        self.queries.append(query)
        return self.results[:limit]

    async def health(self) -> EngineHealth:
        return _OK


def fake_engines(
    *,
    transcripts: Iterable[str] = (),
    replies: Iterable[str] = ("Hello from the fake model.",),
    llm_delay_s: float = 0.01,
) -> Engines:
    """An :class:`~luminad.providers.registry.Engines` made of fakes."""
    return Engines(
        stt=FakeSTT(transcripts),
        llm=FakeLLM(replies, delay_s=llm_delay_s),
        tts=FakeTTS(),
        embedder=FakeEmbedder(),
        search=FakeSearch(),
        llm_choice="fake",
    )
