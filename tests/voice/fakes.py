"""In-memory stand-ins for the voice session's collaborators (unit tests only).

``FakeLumina`` keeps the Core API's behaviour that the session relies on (history without the
current utterance until it is recorded; interrupted replies keep only the heard text).
Engines are scripted: STT returns queued texts, the LLM streams words with a delay, TTS turns
each character into 10 ms of a tone.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Self
from uuid import UUID

import numpy as np
from pydantic_ai.messages import ModelMessage
from pydantic_ai.models.function import AgentInfo, FunctionModel

from luminad import protocol
from luminad.errors import AvatarNotFound, ConversationNotFound, LlmUnavailable
from luminad.providers.base import AudioChunk, ChatMessage
from luminad.providers.llamacpp_model import chat_messages


def _at() -> str:
    return "2026-01-01T00:00:00Z"


@dataclass
class FakeLumina:
    default_avatar_id: UUID = field(default_factory=uuid.uuid4)
    conversations: dict[UUID, list[dict[str, Any]]] = field(default_factory=dict)
    memories: list[protocol.Memory] = field(default_factory=list)
    timings: list[tuple[UUID, dict[str, float], str]] = field(default_factory=list)
    preferred_name: str | None = None
    calls: list[str] = field(default_factory=list)
    #: The reply records stored with each complete_reply.
    records: list[Any] = field(default_factory=list)

    @property
    def queries(self) -> FakeLumina:
        """The fake answers its own queries (Lumina's are :attr:`Lumina.queries`)."""
        return self

    def get_avatar(self, avatar_id: UUID) -> protocol.Avatar:
        if avatar_id != self.default_avatar_id:
            raise AvatarNotFound(f"avatar {avatar_id} not found")
        return protocol.Avatar(
            id=str(avatar_id),
            name="Lumina",
            persona="You are Lumina.",
            style="",
            voice="joe",
            builtin=True,
        )

    def start_conversation(self, avatar_id: UUID | None = None) -> UUID:
        cid = uuid.uuid4()
        self.conversations[cid] = []
        return cid

    def _turns(self, cid: UUID) -> list[dict[str, Any]]:
        if cid not in self.conversations:
            raise ConversationNotFound(f"conversation {cid} not found")
        return self.conversations[cid]

    def record_utterance(
        self, cid: UUID, text: str, *, turn_id: UUID | None = None, source: str = "voice"
    ) -> UUID:
        self.calls.append("record_utterance")
        tid = turn_id or uuid.uuid4()
        self._turns(cid).append({"turn_id": tid, "role": "user", "text": text, "int": False})
        return tid

    def complete_reply(
        self,
        cid: UUID,
        turn_id: UUID,
        text: str,
        *,
        sources: Any = (),
        provider: str = "",
        record: Any = None,
    ) -> None:
        self.calls.append("complete_reply")
        self.records.append(record)
        self._turns(cid).append(
            {"turn_id": turn_id, "role": "assistant", "text": text, "int": False}
        )

    def interrupt_reply(
        self, cid: UUID, turn_id: UUID, heard_text: str, *, reason: str = "user", record: Any = None
    ) -> None:
        self.calls.append(f"interrupt_reply:{reason}")
        self._turns(cid).append(
            {"turn_id": turn_id, "role": "assistant", "text": heard_text, "int": True}
        )

    def time_turn(
        self,
        cid: UUID,
        turn_id: UUID,
        timings_ms: Mapping[str, float],
        *,
        outcome: str = "completed",
    ) -> None:
        self._turns(cid)
        self.timings.append((turn_id, dict(timings_ms), outcome))

    def remember(
        self,
        text: str,
        *,
        avatar_id: UUID | None = None,
        conversation_id: UUID | None = None,
        turn_id: UUID | None = None,
    ) -> UUID:
        mid = uuid.uuid4()
        self.memories.append(
            protocol.Memory(
                id=str(mid),
                text=text,
                avatar_id=str(avatar_id) if avatar_id else None,
                source=protocol.MemorySource(),
                created_at=_at(),
            )
        )
        return mid

    def set_preferred_name(self, name: str) -> None:
        self.preferred_name = name

    def call_tool(
        self,
        cid: UUID,
        turn_id: UUID,
        name: str,
        arguments: Mapping[str, Any],
        result: str,
        *,
        ok: bool = True,
    ) -> None:
        self.calls.append(f"call_tool:{name}")

    def list_avatars(self) -> list[protocol.Avatar]:
        return [self.get_avatar(self.default_avatar_id)]

    def get_profile(self) -> protocol.Profile:
        return protocol.Profile(preferred_name=self.preferred_name)

    def search_memories(
        self, query: str, *, avatar_id: UUID | None = None, limit: int = 10
    ) -> list[protocol.Memory]:
        words = set(query.lower().split())
        return [
            protocol.Memory(
                id=m.id,
                text=m.text,
                avatar_id=m.avatar_id,
                source=m.source,
                created_at=m.created_at,
                score=0.9,
            )
            for m in self.memories
            if words & set(m.text.lower().split())
        ][:limit]

    def history_turns(self, cid: UUID, limit: int = 20) -> list[tuple[str, ChatMessage]]:
        return [(str(t["turn_id"]), ChatMessage(t["role"], t["text"])) for t in self._turns(cid)][
            -limit:
        ]

    def get_conversation(self, cid: UUID) -> protocol.Conversation:
        return protocol.Conversation(
            id=str(cid),
            avatar_id=str(self.default_avatar_id),
            started_at=_at(),
            turns=[
                protocol.Turn(
                    turn_id=str(t["turn_id"]),
                    role=t["role"],
                    text=t["text"],
                    at=_at(),
                    interrupted=t["int"],
                )
                for t in self._turns(cid)
            ],
        )


class ScriptedSTT:
    name = "scripted"

    def __init__(
        self, final: str = "what is the weather like in paris today", delay: float = 0.01
    ) -> None:
        self.final = final
        self.delay = delay
        self.partial_calls = 0
        self.final_calls = 0
        self.fail: Exception | None = None

    async def transcribe(
        self, audio: np.ndarray, *, partial: bool = False, alone: bool = False
    ) -> str:
        await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        if partial:
            self.partial_calls += 1
            words = self.final.split()
            return " ".join(words[: max(1, min(len(words), len(audio) // 8000))])
        self.final_calls += 1
        return self.final

    async def health(self) -> protocol.EngineHealth:
        return protocol.EngineHealth(ok=True, configured=True, reachable=True)


class ScriptedLLM:
    name = "scripted"
    model = "scripted"
    tool_calling = False

    def __init__(
        self,
        reply: str = "It is sunny in Paris, with a light breeze. Enjoy your day!",
        delay: float = 0.005,
    ) -> None:
        self.reply = reply
        self.delay = delay
        #: When each reply's first word was written (loop time).
        self.first_words: list[float] = []
        self.seen: list[list[ChatMessage]] = []
        self.closed = 0
        self.started = 0
        self.fail: Exception | None = None

    def agent_model(self) -> FunctionModel:
        return FunctionModel(stream_function=self._stream, model_name=self.model)

    def aside(self) -> Self:
        return self

    def failure(self, exc: Exception) -> LlmUnavailable:
        return LlmUnavailable(f"scripted model failed: {exc}")

    async def _stream(self, messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
        self.seen.append(chat_messages(messages, info.instructions))
        self.started += 1
        try:
            if self.fail is not None:
                raise self.fail
            for i, word in enumerate(self.reply.split(" ")):
                await asyncio.sleep(self.delay)
                if i == 0:
                    self.first_words.append(asyncio.get_running_loop().time())
                yield word if i == 0 else " " + word
        finally:
            self.closed += 1

    async def health(self) -> protocol.EngineHealth:
        return protocol.EngineHealth(ok=True, configured=True, reachable=True)


class ToneTTS:
    name = "tone"
    sample_rate = 16000

    def __init__(self, delay: float = 0.005, ms_per_char: int = 10) -> None:
        self.delay = delay
        self.ms_per_char = ms_per_char
        self.spoken: list[str] = []
        self.fail: Exception | None = None

    async def synthesize(self, text: str, *, voice: str | None = None) -> AsyncIterator[AudioChunk]:
        await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        self.spoken.append(text)
        n = self.sample_rate * self.ms_per_char * len(text) // 1000
        pcm = (3000 * np.sin(np.arange(n) * 0.1)).astype("<i2").tobytes()
        yield AudioChunk(pcm=pcm, sample_rate=self.sample_rate, text=text)

    def voices(self) -> list[Any]:
        return []

    async def health(self) -> protocol.EngineHealth:
        return protocol.EngineHealth(ok=True, configured=True, reachable=True)


def fake_engines(**kw: Any) -> SimpleNamespace:
    return SimpleNamespace(
        stt=kw.get("stt", ScriptedSTT()),
        llm=kw.get("llm", ScriptedLLM()),
        tts=kw.get("tts", ToneTTS()),
        embedder=None,
        search=None,
        turn=kw.get("turn"),
    )


class Recorder:
    """The session's ``send``: keeps every message (and binary frame) with its arrival time."""

    def __init__(self) -> None:
        self.items: list[tuple[float, Any]] = []
        self.new = asyncio.Event()

    async def __call__(self, item: Any) -> None:
        self.items.append((asyncio.get_running_loop().time(), item))
        self.new.set()

    def of(self, cls: type) -> list[Any]:
        return [m for _, m in self.items if isinstance(m, cls)]

    def types(self) -> list[str]:
        return ["<pcm>" if isinstance(m, bytes) else type(m).__name__ for _, m in self.items]

    async def wait_for(self, cls: type, count: int = 1, within: float = 10.0) -> list[Any]:
        async def _wait() -> list[Any]:
            while len(self.of(cls)) < count:
                self.new.clear()
                await self.new.wait()
            return self.of(cls)

        return await asyncio.wait_for(_wait(), within)


def espeak(text: str, rate: int = 48000) -> np.ndarray:
    """espeak-ng speech of ``text`` as PCM16 at ``rate`` (cached per process)."""
    key = (text, rate)
    if key not in _SPEECH:
        import subprocess
        import tempfile
        import wave

        import soxr

        with tempfile.TemporaryDirectory() as d:
            path = f"{d}/s.wav"
            subprocess.run(["espeak-ng", "-s", "160", "-w", path, text], check=True)
            with wave.open(path) as w:
                src = w.getframerate()
                pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        out = soxr.resample(pcm.astype(np.float32) / 32768, src, rate)
        pcm16 = np.clip(out * 32768, -32768, 32767).astype(np.int16)
        loud = np.flatnonzero(np.abs(pcm16) > 300)  # trim espeak's leading/trailing silence
        _SPEECH[key] = pcm16[loud[0] : loud[-1] + 1] if loud.size else pcm16
    return _SPEECH[key]


_SPEECH: dict[tuple[str, int], np.ndarray] = {}
