"""One user turn and its reply: the state the stages hand along, and its timings.

The turn runner (:mod:`~luminad.voice.runner`) owns the :class:`Turn` in flight; the stages
(:mod:`~luminad.voice.transcribe`, :mod:`~luminad.voice.respond`, :mod:`~luminad.voice.speak`)
fill in its text, reply, heard words and time marks.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

from luminad import protocol
from luminad.providers.base import Pcm16

#: How a turn ended: its reply was complete, cut short (cancel, barge-in, a newer turn, the
#: client left), or failed (an engine or the store).
Outcome = Literal["completed", "interrupted", "failed"]


def now() -> float:
    return time.monotonic()


def _set_event() -> asyncio.Event:
    event = asyncio.Event()
    event.set()
    return event


def ms(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    return round((b - a) * 1000.0, 1)


@dataclass
class Turn:
    """State of one user turn and its reply (owned by the session, mutated by the turn task)."""

    turn_id: UUID
    source: str  # "voice" | "text"
    audio: Pcm16 | None = None
    text: str = ""
    #: Set when the endpoint confirmed the utterance: the turn may send and store.
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    #: Set once ``text`` is final (transcribed, or typed).
    transcribed: asyncio.Event = field(default_factory=asyncio.Event)
    #: Set once ``final_transcript`` is out: replies may stream.
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    #: Set once the reply's first token is out (its prompt is evaluated) or no reply comes.
    first_token: asyncio.Event = field(default_factory=asyncio.Event)
    #: Clear while the end-of-turn judge may still read ``text`` with its words' model: the
    #: reply computes nothing before it is set again, so the two never share the cores (set
    #: when no judge reads).
    judge_idle: asyncio.Event = field(default_factory=_set_event)
    #: The user's words: final STT -> (endpoint) -> stored -> ``final_transcript``. Never
    #: cancelled once the endpoint confirmed the turn (the user's words are never dropped).
    words: asyncio.Task[None] | None = None
    #: The reply: context -> LLM -> chunker -> TTS -> send -> store (cancel stops it).
    task: asyncio.Task[None] | None = None
    recorded: bool = False
    reply: str = ""
    heard: list[str] = field(default_factory=list)
    backlog: list[tuple[protocol.ServerMessage | bytes, ...]] = field(default_factory=list)
    sources: list[protocol.Source] = field(default_factory=list)
    #: What made the reply (stored with it, for replay); set once the context is built.
    record: protocol.ReplyRecord | None = None
    audio_sent_s: float = 0.0
    finished: bool = False
    cancelled: bool = False
    outcome: Outcome = "completed"
    provider: str = ""
    # wall-clock marks (monotonic s)
    t_speech_end: float | None = None
    t_endpoint: float | None = None
    t_stt_start: float | None = None
    t_stt_end: float | None = None
    t_llm_start: float | None = None
    t_first_token: float | None = None
    t_first_sentence: float | None = None
    t_first_synth: float | None = None
    t_first_audio_sent: float | None = None
    t_done: float | None = None

    @property
    def id(self) -> str:
        return str(self.turn_id)

    @property
    def heard_text(self) -> str:
        return " ".join(t for t in self.heard if t).strip()

    def timings(self) -> dict[str, float]:
        values = {
            "endpoint_ms": ms(self.t_speech_end, self.t_endpoint)
            if self.source == "voice"
            else None,
            "stt_ms": ms(self.t_stt_start, self.t_stt_end),
            "llm_first_token_ms": ms(self.t_llm_start, self.t_first_token),
            "first_sentence_ms": ms(self.t_llm_start, self.t_first_sentence),
            "tts_first_audio_ms": ms(self.t_first_sentence, self.t_first_synth),
            "voice_to_voice_ms": ms(self.t_speech_end, self.t_first_audio_sent),
            "total_ms": ms(self.t_speech_end, self.t_done),
        }
        return {k: max(0.0, v) for k, v in values.items() if v is not None}


def heard(turn: Turn, words: str, seconds: float) -> None:
    """A tts frame went out: its words count as heard."""
    if turn.t_first_audio_sent is None:
        turn.t_first_audio_sent = now()
    turn.heard.append(words)
    turn.audio_sent_s += seconds
