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
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

import numpy as np

from luminad import protocol
from luminad.errors import (
    BadMessage,
    InternetDisabled,
    LuminaError,
    RateLimited,
    UnsupportedProtocol,
)
from luminad.providers.base import STT_SAMPLE_RATE, Pcm16
from luminad.voice import speak as speak_stage
from luminad.voice import transcribe as transcribe_stage
from luminad.voice.audio import Framer, Resampler, check_sample_rate, decode_b64_pcm16
from luminad.voice.audio import validate_pcm16 as _validate_pcm16
from luminad.voice.endpoint import (
    Endpointer,
    SpeechEnded,
    SpeechStarted,
    VadChanged,
    make_classifier,
)
from luminad.voice.memory_policy import decide
from luminad.voice.respond import produce
from luminad.voice.turn import Turn, now

if TYPE_CHECKING:
    from luminad.app import Lumina
    from luminad.providers.registry import Engines
    from luminad.settings import Settings

log = logging.getLogger("luminad.voice")

Send = Callable[[protocol.ServerMessage | bytes], Awaitable[None]]
T = TypeVar("T")

#: Frames (of any length) waiting for the listen loop; more are dropped and counted.
AUDIO_QUEUE_FRAMES = 128
#: Audio kept from before the detected start of speech (ms).
PREROLL_MS = 300
#: Silence (ms) after which the turn starts speculatively (its output waits for the endpoint).
PAUSE_MS = 150
#: An utterance longer than this is ended by force (s).
MAX_UTTERANCE_S = 30.0
#: Partial transcripts: cadence (s) and sliding window (s).
PARTIAL_INTERVAL_S = 0.25
PARTIAL_WINDOW_S = 2.5
#: Longest binary audio frame sent (s); a sentence is cut into frames this long.
TTS_FRAME_S = 0.5
#: How far reply audio may run ahead of real time (s); the rest waits, so a cancel drops it.
AUDIO_LEAD_S = 1.5
#: Bound of every wait for a cancelled task (s).
CANCEL_WAIT_S = 2.0
#: Memories above this similarity go into the reply context.
MEMORY_MIN_SCORE = 0.25


class VoiceSession:
    """One client's voice session (see the module docstring); the API adapter is thin."""

    audio_lead_s: float = AUDIO_LEAD_S
    partial_interval_s: float = PARTIAL_INTERVAL_S
    partial_window_s: float = PARTIAL_WINDOW_S
    #: Decode the final pass greedily too (faster, less accurate than the engine's beam search).
    greedy_final: bool = False
    #: At session start, have the LLM read this avatar's system prompt once (one token), so the
    #: first reply does not pay for it (llama.cpp reuses the evaluated prefix).
    prime_llm: bool = True

    def __init__(self, *, app: Lumina, engines: Engines, settings: Settings, send: Send) -> None:
        self.app = app
        self.engines = engines
        self.settings = settings
        self._send = send
        self.session_id = uuid.uuid4()
        self.conversation_id: UUID | None = None
        self.avatar: protocol.Avatar | None = None
        self.sample_rate = STT_SAMPLE_RATE
        self.voice: str | None = None
        self.tts_enabled = True
        self.internet = False
        self.started = False
        self.closed = False
        #: Audio frames dropped because the queue was full.
        self.dropped_frames = 0
        self.frames_in = 0

        self._audio_q: asyncio.Queue[Pcm16] = asyncio.Queue(maxsize=AUDIO_QUEUE_FRAMES)
        self._send_lock = asyncio.Lock()
        self._pending_sends: set[asyncio.Task[None]] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._send_broken = False
        self._congested = False

        self._resampler: Resampler | None = None
        self._framer = Framer()
        self._endpointer = Endpointer(
            make_classifier(settings.vad_aggressiveness),
            hangover_ms=settings.vad_hangover_ms,
            pause_ms=PAUSE_MS,
        )
        self._preroll: deque[Pcm16] = deque(maxlen=max(1, PREROLL_MS // 20))
        self._utt: list[Pcm16] = []
        self._utt_samples = 0
        self._utt_turn_id: UUID | None = None
        self._partial_task: asyncio.Task[None] | None = None
        self._listen_task: asyncio.Task[None] | None = None

        self._turn: Turn | None = None  # the reply in flight (or speculative)
        self._cancelling: asyncio.Task[None] | None = None
        self._responder: Any = None

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

    async def _cancel_turn(self, turn: Turn, reason: str) -> None:
        assert turn.task is not None
        if not turn.gate.is_set():  # speculative, nothing was sent: drop silently
            await self._stop(turn.task)
            return
        turn.cancelled = True
        await self._stop(turn.task)
        await self._wait_sends()
        heard = turn.heard_text
        await self.emit(protocol.Cancelled(turn_id=turn.id, reason=reason, heard_text=heard))
        await self._store_interrupt(turn, heard, reason)

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

    # ------------------------------------------------------------------ sending
    async def emit(
        self, *items: protocol.ServerMessage | bytes, on_sent: Callable[[], None] | None = None
    ) -> None:
        """Send items back to back (a ``tts_chunk`` header and its frame stay adjacent).

        The write runs in its own task under the send lock and is shielded, so cancelling the
        caller never cuts a frame in half; a broken connection makes later sends no-ops.
        """
        if self._send_broken:
            return
        task = asyncio.ensure_future(self._write(items, on_sent))
        self._pending_sends.add(task)
        task.add_done_callback(self._pending_sends.discard)
        await asyncio.shield(task)

    async def _write(
        self,
        items: Sequence[protocol.ServerMessage | bytes],
        on_sent: Callable[[], None] | None = None,
    ) -> None:
        """Write under the lock; ``on_sent`` runs once every item went out (even if the caller
        was cancelled meanwhile: what was sent was heard)."""
        async with self._send_lock:
            for item in items:
                if self._send_broken:
                    return
                try:
                    await self._send(item)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._send_broken = True
                    log.info("voice session %s: send failed: %r", self.session_id, exc)
                    return
            if on_sent is not None:
                on_sent()

    async def _wait_sends(self) -> None:
        pending = [t for t in self._pending_sends if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=CANCEL_WAIT_S)

    async def error(self, exc: LuminaError, turn: Turn | None = None) -> None:
        await self.emit(
            protocol.Error(
                code=exc.code,
                message=exc.message,
                action=exc.action,
                turn_id=turn.id if turn else None,
            )
        )

    # ------------------------------------------------------------------ audio lane
    def _enqueue(self, data: bytes) -> None:
        pcm = np.frombuffer(data, dtype="<i2").astype(np.int16)
        self.frames_in += 1
        try:
            self._audio_q.put_nowait(pcm)
        except asyncio.QueueFull:
            self.dropped_frames += 1
            if not self._congested:  # once per congested spell: tell the client
                self._congested = True
                self._spawn(
                    self.error(
                        RateLimited(
                            "audio arrives faster than it can be processed: frames are dropped"
                        )
                    ),
                    name="voice-congested",
                )
            if self.dropped_frames in (1, 10, 100) or self.dropped_frames % 1000 == 0:
                log.warning(
                    "voice session %s: audio queue full, %d frames dropped",
                    self.session_id,
                    self.dropped_frames,
                )

    async def _listen(self) -> None:
        """The listening loop: lives for the whole session."""
        while True:
            pcm = await self._audio_q.get()
            if self._audio_q.empty():
                self._congested = False
            try:
                self._ingest(pcm)
            except Exception:
                log.exception("voice session %s: audio frame failed", self.session_id)

    def _drain_audio(self) -> None:
        while True:
            try:
                pcm = self._audio_q.get_nowait()
            except asyncio.QueueEmpty:
                return
            self._ingest(pcm)

    def _ingest(self, pcm: Pcm16) -> None:
        """Resample, frame, endpoint (synchronous; events start tasks, never wait)."""
        assert self._resampler is not None
        for frame in self._framer.add(self._resampler.process(pcm)):
            if self._endpointer.in_speech:
                self._utt.append(frame)
                self._utt_samples += len(frame)
            else:
                self._preroll.append(frame)
            events = self._endpointer.add(frame)
            if events:
                self._on_events(events)
            if self._endpointer.in_speech and self._utt_samples > MAX_UTTERANCE_S * STT_SAMPLE_RATE:
                self._on_events(self._endpointer.finish())

    def _on_events(self, events: Sequence[SpeechStarted | SpeechEnded | VadChanged]) -> None:
        for ev in events:
            if isinstance(ev, SpeechStarted):
                self._on_speech_start()
            elif isinstance(ev, VadChanged):
                self._spawn(self.emit(protocol.Vad(state=ev.state)), name="voice-vad")
                if ev.state == "silence" and self._endpointer.in_speech:
                    self._on_pause()
                elif ev.state == "speech":
                    self._on_resume()
            elif isinstance(ev, SpeechEnded):
                self._on_speech_end(ev)

    def _on_speech_start(self) -> None:
        # The user speaks while a reply is in flight: barge-in.
        turn = self._turn
        if turn is not None and turn.task is not None and not turn.finished:
            self._turn = None
            self._cancelling = self._spawn(
                self._cancel_turn(turn, "barge_in"), name="voice-barge-in"
            )
        self._utt = list(self._preroll)
        self._utt_samples = sum(len(f) for f in self._utt)
        self._preroll.clear()
        self._utt_turn_id = uuid.uuid4()
        self._partial_task = self._spawn(self._partials(self._utt_turn_id), name="voice-partials")

    def _utterance_audio(self) -> Pcm16:
        if not self._utt:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(self._utt)

    def _on_pause(self) -> None:
        """The user paused: start the turn speculatively (gated until the endpoint)."""
        self._drop_speculative()
        if self._utt_turn_id is None:
            return
        if self._partial_task is not None:  # free whisper for the final pass at once
            self._partial_task.cancel()
            self._partial_task = None
        turn = Turn(turn_id=self._utt_turn_id, source="voice", audio=self._utterance_audio())
        self._start_turn(turn)

    def _on_resume(self) -> None:
        self._drop_speculative()
        if self._utt_turn_id is not None and self._partial_task is None:
            self._partial_task = self._spawn(
                self._partials(self._utt_turn_id), name="voice-partials"
            )

    def _drop_speculative(self) -> None:
        turn = self._turn
        if turn is not None and not turn.gate.is_set() and turn.task is not None:
            self._turn = None
            turn.task.cancel()

    def _on_speech_end(self, ev: SpeechEnded) -> None:
        t = now()
        if self._partial_task is not None:
            self._partial_task.cancel()
            self._partial_task = None
        turn = self._turn
        if turn is None or turn.gate.is_set() or turn.turn_id != self._utt_turn_id:
            # no speculative turn for this utterance (e.g. `end` while speaking): start one now
            self._drop_speculative()
            turn = Turn(
                turn_id=self._utt_turn_id or uuid.uuid4(),
                source="voice",
                audio=self._utterance_audio(),
            )
            self._start_turn(turn)
        turn.t_endpoint = t
        turn.t_speech_end = t - max(0.0, ev.at_ms - ev.end_ms) / 1000.0
        turn.gate.set()
        self._utt = []
        self._utt_samples = 0
        self._utt_turn_id = None

    # ------------------------------------------------------------------ partials
    async def _partials(self, turn_id: UUID) -> None:
        await transcribe_stage.partials(
            self.engines.stt,
            str(turn_id),
            self._utterance_audio,
            lambda: self._endpointer.paused,
            self,
            interval_s=self.partial_interval_s,
            window_s=self.partial_window_s,
        )

    # ------------------------------------------------------------------ turns
    def _start_turn(self, turn: Turn) -> None:
        old = self._turn
        if old is not None and old is not turn and old.task is not None and not old.finished:
            # never two replies at once: a new turn interrupts the one in flight
            self._cancelling = self._spawn(self._cancel_turn(old, "user"), name="voice-cancel")
        self._turn = turn
        turn.task = self._spawn(self._run_turn(turn), name=f"voice-turn-{turn.id[:8]}")

    async def _run_turn(self, turn: Turn) -> None:
        """ONE task per turn: STT -> context -> LLM -> chunker -> TTS -> send -> store."""
        if self._cancelling is not None and not self._cancelling.done():
            await asyncio.wait([self._cancelling], timeout=CANCEL_WAIT_S)
        try:
            if turn.source == "voice":
                assert turn.audio is not None
                turn.t_stt_start = now()
                try:
                    turn.text = await transcribe_stage.transcribe(
                        self.engines.stt, turn.audio, partial=self.greedy_final
                    )
                except LuminaError as exc:
                    await turn.gate.wait()
                    await self.error(exc, turn)
                    return
                finally:
                    turn.t_stt_end = now()
            ctx = await self._context(turn)
            failed: LuminaError | None = None
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._commit(turn))
                    if ctx is not None:
                        tg.create_task(self._reply(turn, ctx))
            except* LuminaError as group:  # e.g. the store refused the utterance
                failed = _first_error(group)
            if failed is not None:
                await turn.gate.wait()
                await self.error(failed, turn)
                return
            if ctx is None:
                return
            turn.t_done = now()
            await turn.opened.wait()
            turn.finished = True  # a cancel from now on has nothing left to stop
            # store before telling the client: a client that leaves right after
            # `assistant_done` (or `turn_timing`) finds the turn complete in the store
            conversation_id = self.conversation_id if turn.recorded else None
            if turn.reply and conversation_id is not None:
                await asyncio.to_thread(
                    self.app.complete_reply,
                    conversation_id,
                    turn.turn_id,
                    turn.reply,
                    sources=turn.sources,
                    provider=turn.provider,
                )
            await self.emit(
                protocol.AssistantDone(turn_id=turn.id, text=turn.reply, sources=turn.sources)
            )
            timings = turn.timings()
            if conversation_id is not None:
                await asyncio.to_thread(self.app.time_turn, conversation_id, turn.turn_id, timings)
            await self.emit(_turn_timing(turn.id, turn.provider, timings))
            log.info("turn %s timings %s", turn.id, timings)
        finally:
            turn.finished = turn.finished or not turn.cancelled
            if self._turn is turn and turn.finished:
                self._turn = None

    async def _prime(self) -> None:
        """Evaluate the persona's system prompt once (first token, then stop); best effort."""
        from luminad.agent.agent import ReplyContext

        assert self.avatar is not None
        try:
            profile = await asyncio.to_thread(self.app.get_profile)
            ctx = ReplyContext(
                avatar=self.avatar,
                preferred_name=profile.preferred_name,
                preferences=dict(profile.preferences),
                history=[],
                user_text="Hello.",
            )
            async with asyncio.timeout(20):
                stream: Any = self._responder.stream_reply(ctx)
                async with contextlib.aclosing(stream) as deltas:
                    async for _ in deltas:
                        break
        except Exception as exc:  # the first real turn will report a broken LLM
            log.info("voice session %s: LLM prime failed: %r", self.session_id, exc)

    async def _context(self, turn: Turn) -> Any:
        """History, profile and memories for the reply, read before the utterance is stored."""
        if not turn.text:
            return None
        from luminad.agent.agent import ReplyContext

        assert self.conversation_id is not None and self.avatar is not None
        avatar_uuid = UUID(self.avatar.id)
        history, profile, found = await asyncio.gather(
            asyncio.to_thread(self.app.history_messages, self.conversation_id),
            asyncio.to_thread(self.app.get_profile),
            asyncio.to_thread(self._search_memories, turn.text, avatar_uuid),
        )
        return ReplyContext(
            avatar=self.avatar,
            preferred_name=profile.preferred_name,
            preferences=dict(profile.preferences),
            history=history,
            user_text=turn.text,
            memories=found,
            internet=self.internet,
        )

    def _search_memories(self, text: str, avatar_id: UUID) -> list[str]:
        try:
            hits = self.app.search_memories(text, avatar_id=avatar_id, limit=5)
        except Exception as exc:  # memory recall is best effort
            log.warning("memory search failed: %r", exc)
            return []
        return [m.text for m in hits if m.score is None or m.score >= MEMORY_MIN_SCORE]

    async def _commit(self, turn: Turn) -> None:
        """After the endpoint: final transcript out, utterance and memories stored."""
        await turn.gate.wait()
        await self.emit(protocol.FinalTranscript(turn_id=turn.id, text=turn.text))
        while turn.backlog:  # deltas written before the endpoint, in order
            await self.emit(*turn.backlog.pop(0))
        turn.opened.set()
        if not turn.text or self.conversation_id is None:
            return
        if turn.source == "text" or turn.source == "voice":
            turn.record = asyncio.ensure_future(
                asyncio.to_thread(
                    self.app.record_utterance,
                    self.conversation_id,
                    turn.text,
                    turn_id=turn.turn_id,
                    source=turn.source,
                )
            )
            await asyncio.shield(turn.record)
            turn.recorded = True
        await self._apply_memory_policy(turn)

    async def _apply_memory_policy(self, turn: Turn) -> None:
        decision = decide(turn.text)
        if decision.refused:
            log.info("turn %s: memory request refused (looks like a secret)", turn.id)
            return
        assert self.avatar is not None
        try:
            if decision.preferred_name:
                await asyncio.to_thread(self.app.set_preferred_name, decision.preferred_name)
                text = f"The user's name is {decision.preferred_name}."
                mid = await asyncio.to_thread(
                    self.app.remember,
                    text,
                    avatar_id=UUID(self.avatar.id),
                    conversation_id=self.conversation_id,
                    turn_id=turn.turn_id,
                )
                await self.emit(protocol.MemoryWritten(memory_id=str(mid), text=text))
            if decision.memory:
                mid = await asyncio.to_thread(
                    self.app.remember,
                    decision.memory,
                    avatar_id=UUID(self.avatar.id),
                    conversation_id=self.conversation_id,
                    turn_id=turn.turn_id,
                )
                await self.emit(protocol.MemoryWritten(memory_id=str(mid), text=decision.memory))
        except LuminaError as exc:
            await self.error(exc, turn)

    async def _reply(self, turn: Turn, ctx: Any) -> None:
        """LLM producer and TTS speaker, joined by a bounded queue of sentences."""
        sentences: asyncio.Queue[str | None] = asyncio.Queue(maxsize=16)
        speak = self.tts_enabled
        turn.provider = str(getattr(self._responder, "provider", "") or self.engines.llm.name)
        stream = self._responder.stream_reply(ctx)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(produce(turn, stream, sentences if speak else None, self))
            if speak:
                tg.create_task(
                    speak_stage.speak(
                        turn,
                        sentences,
                        self.engines.tts,
                        self._voice(),
                        self,
                        lead_s=self.audio_lead_s,
                        frame_s=TTS_FRAME_S,
                    )
                )
        turn.sources = list(getattr(self._responder, "last_sources", []) or [])

    async def turn_emit(self, turn: Turn, *items: protocol.ServerMessage | bytes) -> None:
        """Send now if the turn is open, else keep in order until the endpoint opens it."""
        if turn.opened.is_set():
            await self.emit(*items)
        else:
            turn.backlog.append(items)

    async def _store_interrupt(self, turn: Turn, heard: str, reason: str) -> None:
        if self.conversation_id is None:
            return
        if turn.record is not None and not turn.recorded:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(turn.record), CANCEL_WAIT_S)
            turn.recorded = turn.record.done() and not turn.record.cancelled()
        if not turn.recorded:
            return
        await asyncio.to_thread(
            self.app.interrupt_reply, self.conversation_id, turn.turn_id, heard, reason=reason
        )

    # ------------------------------------------------------------------ helpers
    def _voice(self) -> str | None:
        if self.voice:
            return self.voice
        return self.avatar.voice if self.avatar is not None and self.avatar.voice else None

    async def _health(self) -> protocol.Health:
        try:
            from luminad.providers.registry import check_health

            return await asyncio.wait_for(check_health(self.engines), 2.0)
        except Exception as exc:
            log.info("health check for ready failed: %r", exc)
            return protocol.Health(ok=False, engines={}, status="unknown")

    async def _stop(self, task: asyncio.Task[Any]) -> None:
        """Cancel ``task`` and wait for it, bounded; never swallows our own cancellation."""
        if task.done():
            return
        task.cancel()
        await asyncio.wait([task], timeout=CANCEL_WAIT_S)
        if not task.done():
            log.warning("voice session %s: task %s ignored cancel", self.session_id, task)

    def _spawn(self, coro: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error(
                "voice session %s: task %s failed",
                self.session_id,
                task.get_name(),
                exc_info=exc,
            )
            if not self.closed and isinstance(exc, Exception):
                err = exc if isinstance(exc, LuminaError) else LuminaError("internal error")
                self._spawn(self.error(err), name="voice-error")


def _first_error(group: BaseExceptionGroup[LuminaError]) -> LuminaError:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc if isinstance(exc, LuminaError) else LuminaError("internal error")


def _turn_timing(turn_id: str, provider: str, t: dict[str, float]) -> protocol.TurnTiming:
    return protocol.TurnTiming(
        turn_id=turn_id,
        llm_provider=provider,
        endpoint_ms=t.get("endpoint_ms"),
        stt_ms=t.get("stt_ms"),
        llm_first_token_ms=t.get("llm_first_token_ms"),
        first_sentence_ms=t.get("first_sentence_ms"),
        tts_first_audio_ms=t.get("tts_first_audio_ms"),
        voice_to_voice_ms=t.get("voice_to_voice_ms"),
        total_ms=t.get("total_ms"),
    )


def _parse_uuid(value: str | None, what: str) -> UUID | None:
    if value is None or value == "":
        return None
    try:
        return UUID(value)
    except ValueError:
        raise BadMessage(f"{what} is not a valid id: {value!r}") from None
