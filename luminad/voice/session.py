"""One voice session: audio in, transcripts, a streamed spoken reply, barge-in.

:class:`VoiceSession` is the public face (``start``, ``handle``, ``feed_audio``,
``cancel_reply``, ``close``) of small collaborators, each owning its state:

==================  ===========================================================================
:class:`Intake`     client frames -> bounded queue -> resample -> 20 ms frames -> endpointer
                    (+ the end-of-turn judge at each pause, which reads :class:`SpokenWords`:
                    the speculative turn's transcript, and a hold on its reply)
:class:`Transcriber` partials of the utterance being spoken; each turn's final pass
:class:`TurnRunner` the one turn in flight: its words (stored first) and its reply
:class:`Replier`    context -> agent -> chunker -> bounded sentence queue
:class:`Speaker`    sentences -> TTS -> ``tts_chunk`` + frame, paced
:class:`Outlet`     the ordered, shielded send path;  :class:`Tasks`: every task, one close
==================  ===========================================================================

Where a frame is (DESIGN.md rules 6-8)::

    feed_audio -> Intake queue (128 frames; dropped+counted when full)
      -> Intake loop: resample, frame, Endpointer   (one frame at a time, never waits on a turn)
         -> UtteranceStarted  : Transcriber.follow (partials >= 3/s); barge-in over a reply
         -> UtteranceQuiet    : (with the judge) 40 ms of silence: the final pass of the
                                whole utterance starts (Transcriber.tail; a partial if speech
                                goes on)
         -> UtterancePaused   : partials halt; TurnRunner.speculate (final STT, context, LLM,
                                TTS start now; everything they send waits on the turn's gate)
         -> UtteranceResumed  : the speculative turn is dropped; partials go on
         -> UtteranceEnded    : TurnRunner.confirm opens the gate (the endpoint)
    turn words: final STT -> stored -> final_transcript  (never cancelled once confirmed)
    turn reply: Replier --sentences (16)--> Speaker --tts_chunk+PCM--> Outlet -> client
    handle(control): cancel / end / text / config / ping; never queued behind audio

A typed ``text`` is stored before anything else happens to it; a new turn interrupts the reply
in flight (stored as interrupted with what was heard), never the user's words. One cancel
(``cancel``, speech over the reply, a newer turn) stops the reply's LLM, TTS and sending; closing
the session cancels every task through :class:`Tasks`.

Timings (``turn_timing`` and ``Lumina.time_turn``, ms): ``endpoint_ms`` end of speech ->
endpoint; ``stt_ms`` the final transcription pass; ``llm_first_token_ms`` request -> first
token; ``first_sentence_ms`` request -> first speakable chunk; ``tts_first_audio_ms`` first
chunk -> its audio; ``voice_to_voice_ms`` end of user speech -> first audio frame sent;
``total_ms`` end of user speech -> ``assistant_done``. The end of speech is placed on the wall
clock from the audio stream (the endpoint fired ``hangover`` of audio after it).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING
from uuid import UUID

from luminad import protocol
from luminad.errors import BadMessage, InternetDisabled, LuminaError, UnsupportedProtocol
from luminad.providers.base import STT_SAMPLE_RATE
from luminad.redact import redact
from luminad.voice.audio import check_sample_rate, decode_b64_pcm16, validate_pcm16
from luminad.voice.intake import (
    Intake,
    IntakeEvent,
    UtteranceEnded,
    UtterancePaused,
    UtteranceQuiet,
    UtteranceResumed,
    UtteranceStarted,
)
from luminad.voice.outlet import Outlet, Send, Tasks
from luminad.voice.respond import Replier
from luminad.voice.runner import SessionState, TurnRunner
from luminad.voice.speak import Speaker
from luminad.voice.spoken import SpokenWords
from luminad.voice.transcribe import Transcriber
from luminad.voice.tuning import Tuning
from luminad.voice.turn import Turn, now

if TYPE_CHECKING:
    from luminad.app import Lumina
    from luminad.providers.registry import Engines
    from luminad.settings import Settings
    from luminad.timers import TimerClock

__all__ = ["VoiceSession"]

log = logging.getLogger("luminad.voice")


class VoiceSession:
    """One client's voice session (see the module docstring); the API adapter is thin."""

    def __init__(
        self,
        *,
        app: Lumina,
        engines: Engines,
        settings: Settings,
        send: Send,
        timers: TimerClock | None = None,
    ) -> None:
        from luminad.agent.agent import Responder

        self.app = app
        #: The daemon's timer clock (the set_timer tool arms it); None: no timers here.
        self.timers = timers
        self.engines = engines
        self.settings = settings
        self.session_id = uuid.uuid4()
        self.tuning = Tuning()
        self.state = SessionState()
        self.sample_rate = STT_SAMPLE_RATE
        self.started = False
        self.closed = False
        self.outlet = Outlet(send, self.session_id)
        self.tasks = Tasks(self.outlet, self.session_id)
        self.transcriber = Transcriber(
            engines.stt, self.outlet, self.tasks, self.tuning, alone=self._idle
        )
        agent = Responder(engines.llm, engines.search, max_tokens=settings.max_reply_tokens)
        self.replier = Replier(
            app, agent, self.outlet, timers=timers, search=engines.search, controls=self
        )
        self.speaker = Speaker(engines.tts, self.outlet, self.tuning)
        self.turns = TurnRunner(
            app=app,
            state=self.state,
            outlet=self.outlet,
            tasks=self.tasks,
            transcriber=self.transcriber,
            replier=self.replier,
            speaker=self.speaker,
        )
        self.intake = Intake(
            settings,
            self.tuning,
            self.tasks,
            self._on_intake,
            self.session_id,
            judge=engines.turn,
            words=SpokenWords(self.turns, self.transcriber),
        )

    @property
    def conversation_id(self) -> UUID | None:
        return self.state.conversation_id

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
        avatar_id = _parse_uuid(hello.avatar_id, "avatar_id")
        history: list[protocol.HistoryTurn] = []
        state = self.state
        if hello.conversation_id is not None:
            conv_id = _parse_uuid(hello.conversation_id, "conversation_id")
            assert conv_id is not None
            conv = await asyncio.to_thread(self.app.queries.get_conversation, conv_id)
            history = [
                protocol.HistoryTurn(turn_id=t.turn_id, role=t.role, text=t.text, at=t.at)
                for t in conv.turns
            ]
            if avatar_id is None and conv.avatar_id:
                avatar_id = UUID(conv.avatar_id)
            state.conversation_id = conv_id
        if avatar_id is None:
            avatar_id = self.app.default_avatar_id
        state.avatar = await asyncio.to_thread(self.app.queries.get_avatar, avatar_id)
        if state.conversation_id is None:
            state.conversation_id = await asyncio.to_thread(self.app.start_conversation, avatar_id)
        state.voice = hello.voice
        state.tts = hello.tts
        health = await self._health()
        self.started = True
        self.intake.open(self.sample_rate)
        if self.tuning.prime_llm:
            self.tasks.spawn(self._prime(), name="voice-prime")
        log.info(
            "voice session %s started: conversation %s, %d Hz",
            self.session_id,
            state.conversation_id,
            self.sample_rate,
        )
        return protocol.Ready(
            session_id=str(self.session_id),
            conversation_id=str(state.conversation_id),
            avatar=protocol.AvatarRef(
                id=state.avatar.id, name=state.avatar.name, voice=state.voice_name() or ""
            ),
            history=history,
            health=health,
            internet=state.internet,
        )

    async def handle(self, message: protocol.ClientMessage) -> None:
        """Control lane: never waits behind audio."""
        match message:
            case protocol.Hello():
                raise BadMessage("hello was already received")
            case _ if not self.started:
                raise BadMessage("send hello first")
            case protocol.Ping(nonce=nonce):
                await self.outlet.emit(protocol.Pong(nonce=nonce))
            case protocol.Cancel(reason=reason):
                await self.cancel_reply(reason)
            case protocol.End():
                self.intake.end()
            case protocol.Text(text=text):
                await self._typed(text)
            case protocol.Config(voice=voice, tts=tts, internet=internet):
                if internet is not None:
                    await self.set_internet(internet)
                if voice is not None:
                    self.state.voice = voice or None
                if tts is not None:
                    self.state.tts = tts
            case protocol.Audio(pcm16_b64=b64, sample_rate=rate):
                if rate is not None and rate != self.sample_rate:
                    raise BadMessage(
                        f"audio at {rate} Hz but hello declared {self.sample_rate} Hz",
                        action="Send audio at the sample_rate declared in hello.",
                    )
                self.intake.enqueue(decode_b64_pcm16(b64))
            case _:
                raise BadMessage(f"unexpected message {type(message).__name__}")

    async def feed_audio(self, pcm: bytes) -> None:
        """Data lane: one binary frame at ``hello.sample_rate``; never blocks."""
        if not self.started:
            raise BadMessage("send hello before audio")
        validate_pcm16(pcm)
        self.intake.enqueue(pcm)

    # ------------------------------------------------------------------ what tools change
    async def set_internet(self, on: bool) -> None:
        """Internet mode on or off (``config``, or the local intent)."""
        if on and not (self.settings.internet and self.engines.search is not None):
            raise InternetDisabled(
                "web search is switched off in the daemon's settings",
                action="Set LUMINA_INTERNET=1 and LUMINA_SEARCH_URL, then restart.",
            )
        self.state.internet = on

    async def switch_avatar(self, avatar: protocol.Avatar) -> None:
        """From the next turn on, speak as ``avatar`` (the switch_avatar tool)."""
        self.state.avatar = avatar

    async def announce(self, sentence: str, message: protocol.ServerMessage) -> None:
        """Something the daemon itself has to say (a timer went off): ``message`` now, then
        ``sentence`` spoken (its ``tts_chunk``s carry the id of what is announced)."""
        await self.outlet.emit(message)
        if not (sentence and self.state.tts and self.started and not self.closed):
            return
        match message:
            case protocol.TimerChanged(timer_id=timer_id):
                turn_id = UUID(timer_id)
            case _:
                turn_id = uuid.uuid4()
        turn = Turn(turn_id=turn_id, source="daemon")
        turn.gate.set()
        turn.opened.set()
        spoken: asyncio.Queue[str | None] = asyncio.Queue()
        spoken.put_nowait(sentence)
        spoken.put_nowait(None)
        self.tasks.spawn(
            self.speaker.speak(turn, spoken, self.state.voice_name()), name="voice-announce"
        )

    async def cancel_reply(self, reason: str = "user") -> None:
        """Barge-in: stop the reply in flight, report and store what was heard."""
        await self.turns.cancel(reason)

    async def close(self) -> None:
        """Cancel everything, bounded; store what was heard of a reply in flight."""
        if self.closed:
            return
        self.closed = True
        await self.turns.close()
        await self.tasks.close()
        log.info("voice session %s closed: %s", self.session_id, self.intake.counts())

    # ------------------------------------------------------------------ lanes
    async def _typed(self, text: str) -> None:
        """A typed turn: stored first, then it interrupts the reply in flight and runs."""
        text = text.strip()
        if not text:
            raise BadMessage("text is empty")
        text = redact(text).text  # the do-not-store filter, before it is stored or sent anywhere
        turn = Turn(turn_id=uuid.uuid4(), source="text", text=text)
        assert self.state.conversation_id is not None
        try:
            await asyncio.to_thread(
                self.app.record_utterance,
                self.state.conversation_id,
                text,
                turn_id=turn.turn_id,
                source=self.state.source or "text",
            )
        except LuminaError as exc:
            await self.outlet.error(exc, turn)
            return
        turn.recorded = True
        await self.turns.cancel("user")
        turn.t_speech_end = turn.t_endpoint = now()
        turn.gate.set()
        self.turns.start(turn)

    def _on_intake(self, event: IntakeEvent) -> None:
        """What the endpointer saw, routed to the transcriber and the turn runner."""
        audio, paused = self.intake.audio, self.intake.paused
        match event:
            case UtteranceStarted(turn_id=turn_id):
                self.turns.barge_in()
                self.transcriber.reset()
                self.transcriber.follow(turn_id, audio, paused)
            case UtteranceQuiet(turn_id=turn_id, audio=pcm):
                self.transcriber.tail(turn_id, pcm)  # the words, if this silence is the end
            case UtterancePaused(turn_id=turn_id, audio=pcm):
                self.transcriber.halt()  # whisper is free for the final pass at once
                self.turns.speculate(turn_id, pcm)
            case UtteranceResumed(turn_id=turn_id):
                self.turns.drop_speculative()
                self.transcriber.resume(turn_id, audio, paused)
            case UtteranceEnded(turn_id=turn_id, audio=pcm, speech_end=end, endpoint=at):
                self.transcriber.halt()
                self.turns.confirm(turn_id, pcm, end, at)

    def _idle(self) -> bool:
        """Nothing of this session computes: no reply in flight, no background work of the
        agent (a partial pass may take every core)."""
        turn = self.turns.current
        return (turn is None or turn.finished) and not self.replier.busy

    async def _prime(self) -> None:
        assert self.state.avatar is not None
        profile = await asyncio.to_thread(self.app.queries.get_profile)
        assert self.state.conversation_id is not None
        await self.replier.prime(
            self.state.avatar,
            profile,
            conversation_id=self.state.conversation_id,
            internet=self.state.internet,
        )

    async def _health(self) -> protocol.Health:
        try:
            from luminad.providers.registry import check_health

            return await asyncio.wait_for(check_health(self.engines), 2.0)
        except Exception as exc:
            log.info("health check for ready failed: %s", type(exc).__name__)
            return protocol.Health(ok=False, engines={}, status="unknown")


def _parse_uuid(value: str | None, what: str) -> UUID | None:
    if value is None or value == "":
        return None
    try:
        return UUID(value)
    except ValueError:
        raise BadMessage(f"{what} is not a valid id: {value!r}") from None
