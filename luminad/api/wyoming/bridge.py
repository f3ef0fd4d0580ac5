"""One voice session driven over Wyoming: its protocol messages become Wyoming events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error as WyomingError
from wyoming.event import Event

from luminad import errors, protocol
from luminad.providers.base import STT_SAMPLE_RATE

if TYPE_CHECKING:
    from luminad.api.runtime import Runtime
    from luminad.voice.session import VoiceSession

#: What turns from Wyoming are recorded as (``UtteranceTranscribed.source``).
SOURCE = "wyoming"
#: Longest audio chunk sent to a Wyoming client (s).
CHUNK_S = 0.5
#: Audio that was not ended by its turn is ended this long after it has played (s).
QUIET_S = 0.5

Write = Callable[[Event], Awaitable[None]]


def audio_events(pcm: bytes, rate: int) -> list[Event]:
    """``audio-chunk`` events of at most :data:`CHUNK_S` for PCM16LE mono at ``rate``."""
    step = max(2, int(rate * CHUNK_S) * 2)
    return [
        AudioChunk(rate=rate, width=2, channels=1, audio=pcm[i : i + step]).event()
        for i in range(0, len(pcm), step)
    ]


def error_event(exc: errors.LuminaError) -> Event:
    text = f"{exc.message} {exc.action}" if exc.action else exc.message
    return WyomingError(text=text, code=exc.code).event()


@dataclass
class SessionBridge:
    """A voice session driven over Wyoming: its protocol messages become Wyoming events.

    ``write`` sends to the Wyoming peer. Spoken audio (``tts_chunk`` + frame) becomes
    ``audio-start`` (once per turn or announcement), ``audio-chunk`` and ``audio-stop`` (at
    ``assistant_done``, at the next turn's audio, or once an announcement, which has no
    ``assistant_done``, has played); ``final_transcript`` becomes ``transcript``; errors become
    ``error``. Turn ends (``assistant_done``, ``cancelled``, an error of a turn) are also put on
    :attr:`ends`.
    """

    runtime: Runtime
    write: Write
    ends: asyncio.Queue[protocol.ServerMessage] = field(default_factory=asyncio.Queue)
    session: VoiceSession | None = None
    _rate: int = 0
    #: The turn (or announcement) whose audio is open, between audio-start and audio-stop.
    _audio_turn: str | None = None
    _chunks: int = 0
    _quiet: asyncio.Task[None] | None = None
    #: Turns whose ``final_transcript`` came and whose end has not: they end their own audio.
    _replying: set[str] = field(default_factory=set)
    #: When the audio sent so far will have finished playing (``time.monotonic()``).
    playing_until: float = 0.0

    async def open(
        self,
        *,
        tts: bool,
        conversation_id: str | None = None,
        prime: bool = True,
        announcements: bool = False,
    ) -> protocol.Ready:
        """Start the voice session; with ``announcements`` it is one of the open sessions the
        daemon speaks in (a timer went off)."""
        from luminad.voice.session import VoiceSession

        app, engines = self.runtime.loaded()
        session = VoiceSession(
            app=app,
            engines=engines,
            settings=self.runtime.settings,
            send=self.send,
            timers=self.runtime.timers,
        )
        session.state.source = SOURCE
        session.tuning.prime_llm = prime
        try:
            ready = await session.start(
                protocol.Hello(
                    client=SOURCE,
                    sample_rate=STT_SAMPLE_RATE,
                    tts=tts,
                    conversation_id=conversation_id,
                )
            )
        except BaseException:
            await session.close()
            raise
        self.session = session
        if announcements:
            self.runtime.sessions.add(session)
        return ready

    async def close(self) -> None:
        if self._quiet is not None:
            self._quiet.cancel()
        if self.session is not None:
            self.runtime.sessions.discard(self.session)
            await self.session.close()
            self.session = None

    async def send(self, item: protocol.ServerMessage | bytes) -> None:
        """The session's send: every message it would put on a WebSocket."""
        match item:
            case bytes() | bytearray() | memoryview():
                await self._audio(bytes(item))
            case protocol.TtsChunk(turn_id=turn_id, sample_rate=rate):
                if self._audio_turn not in (None, turn_id):
                    await self._end_audio()
                self._rate, self._audio_turn = rate, turn_id
            case protocol.FinalTranscript(turn_id=turn_id, text=text):
                self._replying.add(turn_id)
                await self.write(Transcript(text=text).event())
            case protocol.AssistantDone(turn_id=turn_id) | protocol.Cancelled(turn_id=turn_id):
                self._replying.discard(turn_id)
                await self._end_audio()
                self.ends.put_nowait(item)
            case protocol.Error(turn_id=turn_id):
                if turn_id is not None:  # the turn ends; an error without one does not end it
                    await self._end_audio()
                await self.write(WyomingError(text=item.message, code=item.code).event())
                if turn_id is not None:
                    self._replying.discard(turn_id)
                    self.ends.put_nowait(item)
            case _:
                pass

    async def _audio(self, pcm: bytes) -> None:
        start = max(self.playing_until, time.monotonic())
        self.playing_until = start + len(pcm) / 2 / max(self._rate, 1)
        if self._chunks == 0:
            await self.write(AudioStart(rate=self._rate, width=2, channels=1).event())
        self._chunks += 1
        for event in audio_events(pcm, self._rate):
            await self.write(event)
        if self._quiet is not None:
            self._quiet.cancel()
        self._quiet = asyncio.ensure_future(self._stop_when_played(self._chunks))

    async def _stop_when_played(self, chunks: int) -> None:
        """Audio with no ``assistant_done`` (an announcement) ends once it has played."""
        await asyncio.sleep(max(0.0, self.playing_until - time.monotonic()) + QUIET_S)
        if self._chunks == chunks and self._audio_turn not in self._replying:
            await self._end_audio()

    async def _end_audio(self) -> None:
        if self._chunks:
            self._chunks, self._audio_turn = 0, None
            await self.write(AudioStop().event())
