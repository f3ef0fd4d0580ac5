"""The turn runner: the one turn in flight, from the user's words to the stored reply.

:class:`TurnRunner` owns the turn in flight and runs two tasks per turn:

- **words** (:meth:`TurnRunner._words`): the final STT pass (voice), then, once the endpoint
  confirmed the utterance, the user's words are stored *before anything else happens to them*,
  then ``final_transcript`` goes out and the turn opens (its backlog of deltas follows). Once
  the endpoint confirmed the turn this task is never cancelled: a cancel waits for it.
- **reply** (:meth:`TurnRunner._reply`): context -> :class:`~luminad.voice.respond.Replier`
  (LLM -> chunker) and :class:`~luminad.voice.speak.Speaker` (TTS -> frames) joined by a
  bounded sentence queue in one TaskGroup; then the reply, ``assistant_done``, the timing.

A turn started at a pause is *speculative*: its output waits on the turn's gate, which the
endpoint opens; speech that resumes drops it silently. Cancelling a confirmed turn (``cancel``,
barge-in, a newer turn, the client leaving) stops the reply task (LLM, TTS and sending at
once), reports ``cancelled`` with the words already sent and stores only those. Every turn that
reached the store gets a timing event marked ``completed``, ``interrupted`` or ``failed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

from luminad import protocol
from luminad.errors import LuminaError
from luminad.providers.base import Pcm16
from luminad.redact import redact, redacted_kinds, sentence
from luminad.voice.outlet import CANCEL_WAIT_S, Outlet, Tasks
from luminad.voice.respond import Replier
from luminad.voice.speak import Speaker
from luminad.voice.transcribe import Transcriber
from luminad.voice.tuning import SENTENCE_QUEUE
from luminad.voice.turn import Turn, now

if TYPE_CHECKING:
    from luminad.app import Lumina

log = logging.getLogger("luminad.voice")


@dataclass
class SessionState:
    """What the client chose for its session (hello and config)."""

    conversation_id: UUID | None = None
    avatar: protocol.Avatar | None = None
    voice: str | None = None
    tts: bool = True
    internet: bool = False
    #: Recorded as every utterance's source instead of "voice"/"text" (e.g. "wyoming").
    source: str | None = None

    def voice_name(self) -> str | None:
        if self.voice:
            return self.voice
        return self.avatar.voice if self.avatar is not None and self.avatar.voice else None


class TurnRunner:
    """Starts, runs, confirms and cancels turns (see the module docstring)."""

    def __init__(
        self,
        *,
        app: Lumina,
        state: SessionState,
        outlet: Outlet,
        tasks: Tasks,
        transcriber: Transcriber,
        replier: Replier,
        speaker: Speaker,
    ) -> None:
        self._app = app
        self._state = state
        self._outlet = outlet
        self._tasks = tasks
        self._transcriber = transcriber
        self._replier = replier
        self._speaker = speaker
        #: The turn in flight (speculative, or confirmed and not finished).
        self.current: Turn | None = None
        self._cancelling: asyncio.Task[None] | None = None
        #: Turns started speculatively at a pause, and dropped (the user went on speaking).
        self.speculative_started = 0
        self.speculative_dropped = 0

    # ------------------------------------------------------------------ lifecycle
    def start(self, turn: Turn) -> None:
        """Run ``turn`` as the one turn in flight; a confirmed turn in flight is interrupted."""
        old = self.current
        if old is not None and old is not turn and not old.finished:
            self._cancelling = self._tasks.spawn(self._cancel(old, "user"), name="voice-cancel")
        self.current = turn
        turn.words = self._tasks.spawn(self._words(turn), name=f"voice-words-{turn.id[:8]}")
        turn.task = self._tasks.spawn(self._reply(turn), name=f"voice-turn-{turn.id[:8]}")

    def speculate(self, turn_id: UUID, audio: Pcm16) -> None:
        """The user paused: start the turn on what was said so far, gated until the endpoint."""
        self.drop_speculative()
        turn = Turn(turn_id=turn_id, source="voice", audio=audio)
        self.speculative_started += 1
        self.start(turn)

    def drop_speculative(self) -> None:
        """Speech resumed: the speculative turn (nothing of it was sent) goes, silently."""
        turn = self.current
        if turn is not None and not turn.gate.is_set():
            self.current = None
            for task in (turn.words, turn.task):
                if task is not None:
                    task.cancel()
            self.speculative_dropped += 1

    def confirm(self, turn_id: UUID, audio: Pcm16, speech_end: float, endpoint: float) -> None:
        """The endpoint: the speculative turn of this utterance (or a new one) goes ahead."""
        turn = self.current
        if turn is None or turn.gate.is_set() or turn.turn_id != turn_id:
            self.drop_speculative()
            turn = Turn(turn_id=turn_id, source="voice", audio=audio)
            self.start(turn)
        turn.t_endpoint = endpoint
        turn.t_speech_end = speech_end
        turn.gate.set()

    def barge_in(self) -> None:
        """The user started speaking over the reply in flight."""
        turn = self.current
        if turn is not None and turn.gate.is_set() and not turn.finished:
            self.current = None
            self._cancelling = self._tasks.spawn(
                self._cancel(turn, "barge_in"), name="voice-barge-in"
            )

    async def cancel(self, reason: str) -> None:
        """Stop the reply in flight (the client's ``cancel``, or a typed turn)."""
        turn = self.current
        if turn is None or turn.finished:
            return
        self.current = None
        await self._cancel(turn, reason)

    async def close(self) -> None:
        """The client left: what was heard of a reply in flight is stored (tasks are cancelled
        by the session's :class:`~luminad.voice.outlet.Tasks` right after)."""
        turn = self.current
        self.current = None
        if turn is not None and turn.gate.is_set() and not turn.finished:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._cancel(turn, "disconnect", tell=False), CANCEL_WAIT_S)

    async def _cancel(self, turn: Turn, reason: str, *, tell: bool = True) -> None:
        if not turn.gate.is_set():  # speculative, nothing was sent: drop silently
            for task in (turn.task, turn.words):
                await self._tasks.stop(task)
            return
        turn.cancelled = True
        turn.outcome = "interrupted"
        await self._tasks.stop(turn.task)
        # the user's words are stored whatever happens to the reply
        if turn.words is not None and not turn.words.done():
            await asyncio.wait([turn.words], timeout=4 * CANCEL_WAIT_S)
        await self._outlet.drain()
        heard = turn.heard_text
        if tell:
            await self._outlet.emit(
                protocol.Cancelled(turn_id=turn.id, reason=reason, heard_text=heard)
            )
        if turn.recorded and self._state.conversation_id is not None:
            cid = self._state.conversation_id
            await asyncio.to_thread(
                self._app.interrupt_reply,
                cid,
                turn.turn_id,
                heard,
                reason=reason,
                record=turn.record,
            )
            await self._time(turn, send=False)  # the client was told `cancelled`
        turn.finished = True

    # ------------------------------------------------------------------ the words
    async def _words(self, turn: Turn) -> None:
        """Final STT -> endpoint -> stored -> ``final_transcript`` -> the turn opens."""
        try:
            if turn.source == "voice":
                try:
                    # the do-not-store filter, before the words are stored or sent anywhere
                    turn.text = redact(await self._transcriber.final(turn)).text
                except LuminaError as exc:
                    turn.outcome = "failed"
                    turn.transcribed.set()
                    await turn.gate.wait()
                    await self._outlet.error(exc, turn)
                    return
            turn.transcribed.set()
            await turn.gate.wait()
            cid = self._state.conversation_id
            if turn.text and not turn.recorded and cid is not None:
                try:
                    await asyncio.to_thread(
                        self._app.record_utterance,
                        cid,
                        turn.text,
                        turn_id=turn.turn_id,
                        source=self._state.source or turn.source,
                    )
                except LuminaError as exc:
                    turn.outcome = "failed"
                    if turn.task is not None:
                        turn.task.cancel()  # no reply to words that were not kept
                    await self._outlet.error(exc, turn)
                    return
                turn.recorded = True
            await self._outlet.emit(protocol.FinalTranscript(turn_id=turn.id, text=turn.text))
            if kinds := redacted_kinds(turn.text):
                await self._outlet.emit(
                    protocol.SecretRedacted(turn_id=turn.id, kinds=kinds, message=sentence(kinds))
                )
            while turn.backlog:  # deltas written before the endpoint, in order
                await self._outlet.emit(*turn.backlog.pop(0))
        finally:
            turn.transcribed.set()
            turn.opened.set()

    # ------------------------------------------------------------------ the reply
    async def _reply(self, turn: Turn) -> None:
        """Context -> LLM -> chunker -> TTS -> send; then stored, ``assistant_done``, timing."""
        if self._cancelling is not None and not self._cancelling.done():
            await asyncio.wait([self._cancelling], timeout=CANCEL_WAIT_S)
        state = self._state
        assert state.conversation_id is not None and state.avatar is not None
        # history and profile are read while the final STT pass runs (they need no words)
        base = asyncio.ensure_future(self._replier.base(state.conversation_id))
        try:
            await turn.transcribed.wait()
            if not turn.text or turn.outcome == "failed":
                return
            await turn.judge_idle.wait()  # the judge's words' model first, on every core
            ctx = await self._replier.context(
                turn,
                base,
                conversation_id=state.conversation_id,
                avatar=state.avatar,
                internet=state.internet,
            )
            sentences: asyncio.Queue[str | None] | None = (
                asyncio.Queue(maxsize=SENTENCE_QUEUE) if state.tts else None
            )
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._replier.reply(turn, ctx, sentences))
                if sentences is not None:
                    tg.create_task(self._speaker.speak(turn, sentences, state.voice_name()))
            turn.t_done = now()
            assert turn.words is not None
            await asyncio.wait([turn.words])
            if not turn.recorded:  # the store refused the words (reported by the words task)
                return
            turn.finished = True  # a cancel from now on has nothing left to stop
            # store before telling the client: a client that leaves right after
            # `assistant_done` (or `turn_timing`) finds the turn complete in the store
            if turn.reply:
                await asyncio.to_thread(
                    self._app.complete_reply,
                    state.conversation_id,
                    turn.turn_id,
                    turn.reply,
                    sources=turn.sources,
                    provider=turn.provider,
                    record=turn.record,
                )
            await self._outlet.emit(
                protocol.AssistantDone(turn_id=turn.id, text=turn.reply, sources=turn.sources)
            )
            await self._time(turn)
        finally:
            turn.first_token.set()  # no (more) reply: nobody waits for its first token
            if not base.done():
                base.cancel()
            elif not base.cancelled():
                base.exception()  # retrieved (a failed read is reported by the store path)
            turn.finished = turn.finished or not turn.cancelled
            if self.current is turn and turn.finished:
                self.current = None

    async def _time(self, turn: Turn, *, send: bool = True) -> None:
        """Store the turn's timing (marked with its outcome), then send ``turn_timing``."""
        timings = turn.timings()
        cid = self._state.conversation_id
        if cid is not None:
            await asyncio.to_thread(
                self._app.time_turn, cid, turn.turn_id, timings, outcome=turn.outcome
            )
        if send:
            await self._outlet.emit(
                protocol.TurnTiming(
                    turn_id=turn.id,
                    llm_provider=turn.provider,
                    endpoint_ms=timings.get("endpoint_ms"),
                    stt_ms=timings.get("stt_ms"),
                    llm_first_token_ms=timings.get("llm_first_token_ms"),
                    first_sentence_ms=timings.get("first_sentence_ms"),
                    tts_first_audio_ms=timings.get("tts_first_audio_ms"),
                    voice_to_voice_ms=timings.get("voice_to_voice_ms"),
                    total_ms=timings.get("total_ms"),
                )
            )
        log.info("turn %s %s timings %s", turn.id, turn.outcome, timings)
