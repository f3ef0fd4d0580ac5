"""The voice session's shared state, its send path and its task helpers.

:class:`SessionCore` is the base of :class:`~luminad.voice.session.VoiceSession`: the state
created per session, ``emit`` (ordered, shielded writes under one lock) and ``error``, and
bounded task helpers (spawn, stop). The audio intake (:mod:`~luminad.voice.intake`) and the
turn runner (:mod:`~luminad.voice.runner`) build on it; the tuning constants live here.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from luminad import protocol
from luminad.errors import (
    LuminaError,
)
from luminad.providers.base import STT_SAMPLE_RATE, Pcm16
from luminad.voice.audio import Framer, Resampler
from luminad.voice.endpoint import (
    Endpointer,
    make_classifier,
)
from luminad.voice.turn import Turn

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
#: No partial pass starts after this much silence (ms): the final pass may need whisper soon.
PARTIAL_HOLD_SILENCE_MS = 40
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


class SessionCore:
    """State, sending and task helpers shared by the intake and the turn runner."""

    audio_lead_s: float = AUDIO_LEAD_S
    partial_interval_s: float = PARTIAL_INTERVAL_S
    partial_window_s: float = PARTIAL_WINDOW_S
    #: At session start, have the LLM read this avatar's system prompt once (one token), so the
    #: first reply does not pay for it (llama.cpp reuses the evaluated prefix).
    prime_llm: bool = True
    #: Silence (ms) after which the turn starts speculatively.
    pause_ms: int = PAUSE_MS
    #: Recorded as every utterance's source instead of "voice"/"text" (e.g. "wyoming").
    source: str | None = None

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
        #: Turns started speculatively at a pause and dropped (the user went on speaking).
        self.speculative_dropped = 0
        #: Turns started speculatively (each pause within an utterance starts one).
        self.speculative_started = 0

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
            pause_ms=self.pause_ms,
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

    async def turn_emit(self, turn: Turn, *items: protocol.ServerMessage | bytes) -> None:
        """Send now if the turn is open, else keep in order until the endpoint opens it."""
        if turn.opened.is_set():
            await self.emit(*items)
        else:
            turn.backlog.append(items)

    # ------------------------------------------------------------------ provided elsewhere
    def _start_turn(self, turn: Turn) -> None:
        """Run ``turn`` as the one reply in flight (:class:`~luminad.voice.runner.TurnRunner`)."""
        raise NotImplementedError

    async def _cancel_turn(self, turn: Turn, reason: str) -> None:
        """Cancel ``turn``, report and store what was heard (the turn runner)."""
        raise NotImplementedError

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
