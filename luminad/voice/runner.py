"""The turn runner of a voice session: ONE task per reply.

A turn task does final STT -> context -> Responder.stream_reply -> SentenceChunker -> TTS ->
``tts_chunk`` + binary frame, as a TaskGroup of a producer (LLM) and a speaker (TTS); it stores
the utterance, the reply and the timings through the application service. Cancelling a turn
cancels that one task; the canceller reports ``cancelled`` with what was heard.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from uuid import UUID

from luminad import protocol
from luminad.errors import (
    LuminaError,
)
from luminad.providers.base import ChatMessage
from luminad.voice import speak as speak_stage
from luminad.voice import transcribe as transcribe_stage
from luminad.voice.core import (
    CANCEL_WAIT_S,
    MEMORY_MIN_SCORE,
    TTS_FRAME_S,
    SessionCore,
    log,
)
from luminad.voice.memory_policy import decide
from luminad.voice.respond import produce
from luminad.voice.turn import Turn, now


class TurnRunner(SessionCore):
    """Starts, runs and cancels the reply (see the module docstring)."""

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
        # history and profile are read while the final STT pass runs (they need no transcript)
        base = asyncio.ensure_future(self._base_context())
        try:
            if turn.source == "voice":
                assert turn.audio is not None
                turn.t_stt_start = now()
                try:
                    turn.text = await transcribe_stage.transcribe(
                        self.engines.stt, turn.audio, partial=False
                    )
                except LuminaError as exc:
                    await turn.gate.wait()
                    await self.error(exc, turn)
                    return
                finally:
                    turn.t_stt_end = now()
            ctx = await self._context(turn, base)
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
            if not base.done():
                base.cancel()
            elif not base.cancelled():
                base.exception()  # retrieved (a failed read is reported by the store path)
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

    async def _base_context(self) -> tuple[list[ChatMessage], protocol.Profile]:
        """History and profile, read before the utterance is stored."""
        assert self.conversation_id is not None
        history, profile = await asyncio.gather(
            asyncio.to_thread(self.app.history_messages, self.conversation_id),
            asyncio.to_thread(self.app.get_profile),
        )
        return history, profile

    async def _context(
        self, turn: Turn, base: asyncio.Future[tuple[list[ChatMessage], protocol.Profile]]
    ) -> Any:
        """The reply's context: ``base`` (history, profile) and the memories the text recalls."""
        if not turn.text:
            return None
        from luminad.agent.agent import ReplyContext

        assert self.conversation_id is not None and self.avatar is not None
        avatar_uuid = UUID(self.avatar.id)
        found = await asyncio.to_thread(self._search_memories, turn.text, avatar_uuid)
        history, profile = await base
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
                    source=self.source or turn.source,
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
