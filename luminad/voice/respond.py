"""The replier: a turn's context -> the agent's text deltas -> ``assistant_delta`` + sentences.

:class:`Replier` owns the agent (:class:`~luminad.agent.agent.Responder`) of a session. It builds
each turn's :class:`~luminad.agent.agent.ReplyContext` (history and profile, read while the
final STT pass runs, and the memories the words recall), then streams the reply: deltas go to
the client as they arrive (kept in order until the turn opens, when the turn started
speculatively), and a :class:`~luminad.voice.chunker.SentenceChunker` hands each ready chunk to
the speaker over a bounded queue while the model is still writing. An LLM failure is answered
with ``error`` (``llm_unavailable``); the text so far stays the reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING
from uuid import UUID

from luminad import protocol
from luminad.errors import LlmUnavailable, LuminaError
from luminad.providers.base import ChatMessage
from luminad.voice.chunker import SentenceChunker
from luminad.voice.outlet import Outlet
from luminad.voice.tuning import MEMORY_LIMIT, MEMORY_MIN_SCORE
from luminad.voice.turn import Turn, now

if TYPE_CHECKING:
    from luminad.agent.agent import ReplyContext, Responder
    from luminad.agent.tool_calls import SessionControls, ToolContext
    from luminad.app import Lumina
    from luminad.providers.base import WebSearch
    from luminad.timers import TimerClock

#: History (each message with its turn id) and profile, read before the words are stored.
Base = tuple[list[tuple[str, ChatMessage]], protocol.Profile]

log = logging.getLogger("luminad.voice")

#: The first chunk goes to TTS after this many words even without punctuation: the first audio
#: waits for the LLM to write it and for TTS to speak it, so it is kept short (later chunks are
#: whole sentences).
FIRST_CHUNK_MAX_WORDS = 6


async def produce(
    turn: Turn,
    stream: AsyncIterator[str],
    sentences: asyncio.Queue[str | None] | None,
    out: Outlet,
) -> None:
    """Consume ``stream`` into ``turn.reply``, deltas and sentences; ends the queue with
    ``None``."""
    chunker = SentenceChunker(first_max_words=FIRST_CHUNK_MAX_WORDS)
    turn.t_llm_start = now()
    try:
        async with contextlib.aclosing(stream) as deltas:  # type: ignore[type-var]
            async for delta in deltas:
                if not delta:
                    continue
                if turn.t_first_token is None:
                    turn.t_first_token = now()
                    turn.first_token.set()
                turn.reply += delta
                ready = chunker.add(delta)
                if ready and turn.t_first_sentence is None:
                    turn.t_first_sentence = now()
                if sentences is not None:
                    for s in ready:
                        await sentences.put(s)
                await out.turn_emit(turn, protocol.AssistantDelta(turn_id=turn.id, text=delta))
        rest = chunker.finish()
        if rest and turn.t_first_sentence is None:
            turn.t_first_sentence = now()
        if sentences is not None:
            for s in rest:
                await sentences.put(s)
    except LuminaError as exc:
        turn.outcome = "failed"
        await turn.opened.wait()
        await out.error(exc, turn)
    except Exception as exc:
        log.exception("turn %s: reply failed", turn.id)
        turn.outcome = "failed"
        await turn.opened.wait()
        await out.error(LlmUnavailable(f"the language model failed: {exc}"), turn)
    turn.reply = turn.reply.strip()
    if sentences is not None:
        await sentences.put(None)


def recalled(hits: list[protocol.Memory]) -> list[protocol.Memory]:
    """The hits of a turn's memory search that go into its context."""
    return [m for m in hits if m.score is None or m.score >= MEMORY_MIN_SCORE]


class Replier:
    """The agent of one session, and how a turn's context is built (module docstring)."""

    def __init__(
        self,
        app: Lumina,
        agent: Responder,
        outlet: Outlet,
        *,
        timers: TimerClock | None = None,
        search: WebSearch | None = None,
        controls: SessionControls | None = None,
    ) -> None:
        self._app = app
        self.agent = agent
        self._outlet = outlet
        self._timers = timers
        self._search = search
        self._controls = controls

    @property
    def provider(self) -> str:
        return self.agent.provider

    @property
    def busy(self) -> bool:
        """The agent still works on an earlier turn (the implicit-fact extraction)."""
        return bool(self.agent.background)

    async def base(self, conversation_id: UUID) -> Base:
        """History and profile, read before the utterance is stored (they need no words)."""
        history, profile = await asyncio.gather(
            asyncio.to_thread(self._app.queries.history_turns, conversation_id),
            asyncio.to_thread(self._app.queries.get_profile),
        )
        return history, profile

    async def context(
        self,
        turn: Turn,
        base: asyncio.Future[Base],
        *,
        conversation_id: UUID,
        avatar: protocol.Avatar,
        internet: bool,
    ) -> ReplyContext:
        """The turn's reply context: ``base`` and the memories its words recall (the place
        where everything a reply may use for ``turn`` in ``conversation_id`` is gathered)."""
        from luminad.agent.agent import ReplyContext

        found = await asyncio.to_thread(self._memories, turn.text, UUID(avatar.id))
        history, profile = await base
        if history and history[-1][0] == str(turn.turn_id):
            history = history[:-1]  # read after the words were stored: they are the question
        return ReplyContext(
            avatar=avatar,
            preferred_name=profile.preferred_name,
            preferences=dict(profile.preferences),
            history=[message for _, message in history],
            user_text=turn.text,
            memories=[m.text for m in found],
            internet=internet,
            memory_refs=[protocol.RecordedMemory(id=m.id, score=m.score) for m in found],
            history_turns=list(dict.fromkeys(turn_id for turn_id, _ in history)),
            tools=self._tools(turn, conversation_id, UUID(avatar.id), internet),
        )

    def _tools(
        self, turn: Turn, conversation_id: UUID, avatar_id: UUID, internet: bool
    ) -> ToolContext:
        """What the turn's tools act on; a tool acts only once the turn is committed (its
        words stored and ``final_transcript`` out), so a dropped speculative turn does nothing."""
        from luminad.agent.tool_calls import ToolContext

        async def committed() -> None:
            await turn.opened.wait()

        async def notify(message: protocol.ServerMessage) -> None:
            await self._outlet.emit(message)

        return ToolContext(
            app=self._app,
            conversation_id=conversation_id,
            turn_id=turn.turn_id,
            avatar_id=avatar_id,
            notify=notify,
            internet=internet,
            timers=self._timers,
            search=self._search,
            session=self._controls,
            committed=committed,
        )

    def _memories(self, text: str, avatar_id: UUID) -> list[protocol.Memory]:
        try:
            hits = self._app.queries.search_memories(text, avatar_id=avatar_id, limit=MEMORY_LIMIT)
        except Exception as exc:  # memory recall is best effort
            log.warning("memory search failed: %s", type(exc).__name__)
            return []
        return recalled(hits)

    async def reply(
        self, turn: Turn, ctx: ReplyContext, sentences: asyncio.Queue[str | None] | None
    ) -> None:
        """Stream the reply into ``turn`` (and ``sentences``, when spoken)."""
        turn.provider = self.provider
        turn.record = self.agent.record_of(ctx)  # kept if the reply is cut short
        await produce(turn, self.agent.stream_reply(ctx), sentences, self._outlet)
        turn.sources = list(self.agent.last_sources)
        turn.record = self.agent.record_of(ctx, self.agent.last_web)

    async def prime(
        self,
        avatar: protocol.Avatar,
        profile: protocol.Profile,
        *,
        conversation_id: UUID,
        internet: bool,
    ) -> None:
        """Evaluate the session's prompt once (one token, no tool runs); best effort. The
        prompt is the one a turn sends, tool schemas included, so the model's cache of it is
        what the first turns reuse."""
        from luminad.agent.agent import ReplyContext

        never = Turn(turn_id=uuid.uuid4(), source="text")  # never opened: no tool acts
        ctx = ReplyContext(
            avatar=avatar,
            preferred_name=profile.preferred_name,
            preferences=dict(profile.preferences),
            history=[],
            user_text="Hello.",
            internet=internet,
            tools=self._tools(never, conversation_id, UUID(avatar.id), internet),
        )
        try:
            async with asyncio.timeout(60):
                await self.agent.prime(ctx)
        except Exception as exc:  # the first real turn will report a broken LLM
            log.info("LLM prime failed: %s", type(exc).__name__)
