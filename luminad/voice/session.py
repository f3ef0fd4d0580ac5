"""One voice session: audio in, transcripts, a streamed spoken reply, barge-in.

Shape (DESIGN.md rules 6-8)::

    feed_audio --(bounded queue; dropped+counted when full)--> listen loop (whole session)
        resample -> 20 ms frames -> Endpointer --vad/speech_start/pause/speech_end-->
            partial ticker (sliding window STT, >= 3/s)      while the user speaks
            turn task (ONE per reply)                        from the first pause on
    handle(control) -- cancel / end / text / config / ping: never queued behind audio

A turn task does final STT -> context -> Responder.stream_reply -> SentenceChunker -> TTS ->
``tts_chunk`` + binary frame, as a TaskGroup of a producer (LLM) and a speaker (TTS). It starts
*speculatively* when the user pauses: everything it would send waits on the turn's gate, which
the endpoint opens (hangover over, or the client's ``end``). Speech that resumes within the
hangover cancels it silently, so the final transcript, the LLM's first tokens and the first
audio are usually ready by the time the hangover ends. Cancelling a turn (``cancel``, or the user
speaking while it plays) cancels that one task; the canceller then reports ``cancelled`` with
the text of the audio frames already sent and stores only that (``interrupt_reply``).

Timings (``turn_timing`` and ``Lumina.time_turn``, ms): ``endpoint_ms`` end of speech ->
endpoint; ``stt_ms`` the final transcription pass; ``llm_first_token_ms`` request -> first
token; ``first_sentence_ms`` request -> first speakable chunk; ``tts_first_audio_ms`` first
chunk -> its audio; ``voice_to_voice_ms`` end of user speech -> first audio frame sent;
``total_ms`` end of user speech -> ``assistant_done``. The end of speech is placed on the wall
clock from the audio stream (the endpoint fired ``hangover`` of audio after it).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from uuid import UUID

from luminad import protocol
from luminad.errors import (
    BadMessage,
    InternetDisabled,
    UnsupportedProtocol,
)
from luminad.voice.audio import Resampler, check_sample_rate, decode_b64_pcm16
from luminad.voice.audio import validate_pcm16 as _validate_pcm16
from luminad.voice.core import (  # noqa: F401  (re-exported: the session's tunables)
    AUDIO_LEAD_S,
    AUDIO_QUEUE_FRAMES,
    CANCEL_WAIT_S,
    MAX_UTTERANCE_S,
    PARTIAL_INTERVAL_S,
    PARTIAL_WINDOW_S,
    PAUSE_MS,
    PREROLL_MS,
    TTS_FRAME_S,
    Send,
    log,
)
from luminad.voice.intake import AudioIntake
from luminad.voice.runner import TurnRunner
from luminad.voice.turn import Turn, now

__all__ = ["VoiceSession"]


class VoiceSession(AudioIntake, TurnRunner):
    """One client's voice session (see the module docstring); the API adapter is thin.

    The audio lane is :class:`~luminad.voice.intake.AudioIntake`, the reply task
    :class:`~luminad.voice.runner.TurnRunner`, the shared state and the send path
    :class:`~luminad.voice.core.SessionCore`; this class is the public API.
    """

    # ------------------------------------------------------------------ public API
    async def start(self, hello: protocol.Hello) -> protocol.Ready:
        """Open or resume the conversation; answers the ``ready`` message (not sent here)."""
        if self.started:
            raise BadMessage("hello was already received")
        if hello.protocol != protocol.PROTOCOL_VERSION:
            raise UnsupportedProtocol(
                f"protocol {hello.protocol} is not supported (this daemon speaks "
                f"{protocol.PROTOCOL_VERSION})"
            )
        self.sample_rate = check_sample_rate(hello.sample_rate)
        self._resampler = Resampler(self.sample_rate)
        avatar_id = _parse_uuid(hello.avatar_id, "avatar_id")
        history: list[protocol.HistoryTurn] = []
        if hello.conversation_id is not None:
            conv_id = _parse_uuid(hello.conversation_id, "conversation_id")
            assert conv_id is not None
            conv = await asyncio.to_thread(self.app.get_conversation, conv_id)
            history = [
                protocol.HistoryTurn(turn_id=t.turn_id, role=t.role, text=t.text, at=t.at)
                for t in conv.turns
            ]
            if avatar_id is None and conv.avatar_id:
                avatar_id = UUID(conv.avatar_id)
            self.conversation_id = conv_id
        if avatar_id is None:
            avatar_id = self.app.default_avatar_id
        self.avatar = await asyncio.to_thread(self.app.get_avatar, avatar_id)
        if self.conversation_id is None:
            self.conversation_id = await asyncio.to_thread(self.app.start_conversation, avatar_id)
        self.voice = hello.voice
        self.tts_enabled = hello.tts
        from luminad.agent.agent import Responder

        self._responder = Responder(
            self.engines.llm, self.engines.search, max_tokens=self.settings.max_reply_tokens
        )
        health = await self._health()
        self.started = True
        self._listen_task = self._spawn(self._listen(), name="voice-listen")
        if self.prime_llm:
            self._spawn(self._prime(), name="voice-prime")
        log.info(
            "voice session %s started: conversation %s, %d Hz",
            self.session_id,
            self.conversation_id,
            self.sample_rate,
        )
        return protocol.Ready(
            session_id=str(self.session_id),
            conversation_id=str(self.conversation_id),
            avatar=protocol.AvatarRef(
                id=self.avatar.id, name=self.avatar.name, voice=self._voice() or ""
            ),
            history=history,
            health=health,
            internet=self.internet,
        )

    async def handle(self, message: protocol.ClientMessage) -> None:
        """Control lane: never waits behind audio."""
        match message:
            case protocol.Hello():
                raise BadMessage("hello was already received")
            case _ if not self.started:
                raise BadMessage("send hello first")
            case protocol.Ping(nonce=nonce):
                await self.emit(protocol.Pong(nonce=nonce))
            case protocol.Cancel(reason=reason):
                await self.cancel_reply(reason)
            case protocol.End():
                self._drain_audio()
                self._on_events(self._endpointer.finish())
            case protocol.Text(text=text):
                text = text.strip()
                if not text:
                    raise BadMessage("text is empty")
                await self.cancel_reply("user")
                turn = Turn(turn_id=uuid.uuid4(), source="text", text=text)
                t0 = now()
                turn.t_speech_end = turn.t_endpoint = t0
                turn.gate.set()
                self._start_turn(turn)
            case protocol.Config(voice=voice, tts=tts, internet=internet):
                if internet and not (self.settings.internet and self.engines.search is not None):
                    raise InternetDisabled(
                        "web search is switched off in the daemon's settings",
                        action="Set LUMINA_INTERNET=1 and LUMINA_SEARCH_URL, then restart.",
                    )
                if voice is not None:
                    self.voice = voice or None
                if tts is not None:
                    self.tts_enabled = tts
                if internet is not None:
                    self.internet = internet
            case protocol.Audio(pcm16_b64=b64, sample_rate=rate):
                if rate is not None and rate != self.sample_rate:
                    raise BadMessage(
                        f"audio at {rate} Hz but hello declared {self.sample_rate} Hz",
                        action="Send audio at the sample_rate declared in hello.",
                    )
                self._enqueue(decode_b64_pcm16(b64))
            case _:
                raise BadMessage(f"unexpected message {type(message).__name__}")

    async def feed_audio(self, pcm: bytes) -> None:
        """Data lane: one binary frame at ``hello.sample_rate``; never blocks."""
        if not self.started:
            raise BadMessage("send hello before audio")
        _validate_pcm16(pcm)
        self._enqueue(pcm)

    async def cancel_reply(self, reason: str = "user") -> None:
        """Barge-in: stop the reply in flight, report and store what was heard."""
        turn = self._turn
        if turn is None or turn.task is None or turn.finished:
            return
        self._turn = None
        await self._cancel_turn(turn, reason)

    async def close(self) -> None:
        """Cancel everything, bounded; store what was heard of a reply in flight."""
        if self.closed:
            return
        self.closed = True
        turn = self._turn
        self._turn = None
        if turn is not None and not turn.finished:
            turn.cancelled = True
        tasks = [t for t in self._tasks if not t.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=CANCEL_WAIT_S)
        if turn is not None and turn.gate.is_set() and not turn.finished:
            heard = turn.heard_text
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self._store_interrupt(turn, heard, "disconnect"), CANCEL_WAIT_S
                )
        log.info(
            "voice session %s closed: %d frames in, %d dropped",
            self.session_id,
            self.frames_in,
            self.dropped_frames,
        )


def _parse_uuid(value: str | None, what: str) -> UUID | None:
    if value is None or value == "":
        return None
    try:
        return UUID(value)
    except ValueError:
        raise BadMessage(f"{what} is not a valid id: {value!r}") from None
