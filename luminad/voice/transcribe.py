"""The transcriber: sliding-window partials while the user speaks, and the final pass.

:class:`Transcriber` owns the speech-to-text engine's time. While the user speaks, a partial
pass starts every ``interval_s`` on the last ``window_s`` of the utterance (greedy; longer
utterances are shown whole by stitching each window onto the previous partial); when one
takes longer, the ticks it overlaps are skipped, so the stream keeps up in real time on two
cores. A partial pass takes every core when nothing else of the session computes (the caller's
``alone``: no reply in flight), else its share. No partial pass starts once the user went
silent, and the final pass aborts a partial pass in flight (whisper.cpp stops at its next
check: within a decoder step, or once the encoder is done, which it cannot interrupt: ~0.4 ms
per position, ~75 ms for a 2.5 s window), and partials wait while a final pass runs. The final
pass of a turn started speculatively at a pause is the turn's transcript when the endpoint
confirms it (nothing is decoded twice). Engine failures become
:class:`~luminad.errors.SttUnavailable`.

With the end-of-turn judge the final pass starts even earlier, after 40 ms of silence
(:meth:`Transcriber.tail`): a pass of the whole utterance, of final quality. If the user speaks
on, its words are the next partial (nothing wasted); if the silence becomes the pause, they are
the turn's transcript, 20 ms sooner than a pass started at the pause, and the judge reads them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from luminad import protocol
from luminad.errors import LuminaError, SttUnavailable
from luminad.providers.base import STT_SAMPLE_RATE, Pcm16, SpeechToText
from luminad.voice.outlet import Outlet, Tasks
from luminad.voice.tuning import Tuning
from luminad.voice.turn import Turn, now

#: While the user is silent, how often the partial loop looks whether speech resumed (s).
RECHECK_S = 0.04
#: Utterances up to this long (s) get the final pass at their first silence (a longer one's
#: pass would hold the partials up at every short gap).
TAIL_MAX_S = 4.0


@dataclass
class _Tail:
    """A final-quality pass of the whole utterance ``turn_id``, started at a silence."""

    turn_id: UUID
    samples: int
    job: asyncio.Task[str]
    shown: bool = False


def _norm(word: str) -> str:
    return "".join(c for c in word.lower() if c.isalnum())


def stitch(previous: str, window_text: str) -> str:
    """Join the partial of a sliding window onto the previous partial of the same utterance.

    The window has dropped the utterance's start, so its text begins somewhere inside the
    previous text: find where (an anchor of 1-3 words, allowing the window's first two words to
    be garbled where the audio was cut) and keep what came before. Without an anchor the window
    text follows an ellipsis (a one- or two-word pass is taken for a garbled one and dropped).
    """
    prev, new = previous.split(), window_text.split()
    if not prev or not new:
        return window_text
    prev_n, new_n = [_norm(w) for w in prev], [_norm(w) for w in new]
    for k in (3, 2, 1):
        for skip in (0, 1, 2):
            anchor = new_n[skip : skip + k]
            if len(anchor) < k or not all(anchor):
                continue
            for i in range(len(prev_n) - k, -1, -1):
                if prev_n[i : i + k] == anchor:
                    return " ".join(prev[:i] + new[skip:])
    if len(new) <= 2:  # a garbled pass over a window cut mid-word: keep what was shown
        return previous
    return f"{previous} … {window_text}"


class Transcriber:
    """Partials of the utterance being spoken, and each turn's final pass (module docstring)."""

    def __init__(
        self,
        stt: SpeechToText,
        outlet: Outlet,
        tasks: Tasks,
        tuning: Tuning,
        *,
        alone: Callable[[], bool] = lambda: False,
    ) -> None:
        self._stt = stt
        #: Whether nothing else of this session computes (no reply in flight, no background
        #: work of the agent): a partial pass may then take every core.
        self._alone = alone
        self._outlet = outlet
        self._tasks = tasks
        self._tuning = tuning
        self._loop: asyncio.Task[None] | None = None
        self._pass: asyncio.Task[str] | None = None
        self._tail: _Tail | None = None
        self._finals = 0
        #: The latest partial transcript of the utterance being spoken ("" at its start).
        self.partial_text = ""
        #: Partial transcripts sent in this session.
        self.partials_sent = 0

    # ------------------------------------------------------------------ partials
    def follow(self, turn_id: UUID, audio: Callable[[], Pcm16], paused: Callable[[], bool]) -> None:
        """Send partials of the utterance ``turn_id`` (``audio()`` so far) until :meth:`halt`;
        no pass starts while ``paused()``."""
        self.halt()
        self._loop = self._tasks.spawn(
            self._partials(turn_id, audio, paused), name="voice-partials"
        )

    def resume(self, turn_id: UUID, audio: Callable[[], Pcm16], paused: Callable[[], bool]) -> None:
        """Go on with the partials of the same utterance (the user spoke again after a pause)."""
        if self._loop is None:
            shown = self.partial_text
            self._loop = self._tasks.spawn(
                self._partials(turn_id, audio, paused, shown=shown), name="voice-partials"
            )

    def halt(self) -> None:
        """Stop the partials (the user paused, or the utterance ended)."""
        if self._loop is not None:
            self._loop.cancel()
            self._loop = None

    def reset(self) -> None:
        """A new utterance begins: forget the previous one's partial text."""
        self.halt()
        self._drop_tail()
        self.partial_text = ""

    def tail(self, turn_id: UUID, audio: Pcm16) -> None:
        """The user fell silent in the utterance ``turn_id`` (``audio`` so far): its final pass
        starts now. A partial pass in flight missed the end of speech: it is aborted."""
        if self._finals or len(audio) > TAIL_MAX_S * STT_SAMPLE_RATE:
            return
        self._drop_tail()
        self._abort_partial()
        job = self._tasks.spawn(self.transcribe(audio, partial=False), name="voice-stt-tail")
        self._tail = _Tail(turn_id, len(audio), job)

    def _abort_partial(self) -> asyncio.Task[str] | None:
        """Abort the partial pass in flight (it missed the end of speech); returns it, to wait
        for (whisper.cpp stops at its next check), or None."""
        job = self._pass
        if job is None or job.done():
            return None
        job.cancel()
        return job

    def _drop_tail(self) -> None:
        if self._tail is not None and not self._tail.job.done():
            self._tail.job.cancel()
        self._tail = None

    def _tail_of(self, turn: Turn) -> _Tail | None:
        """The tail pass that heard all of ``turn``'s speech: started in the same silence."""
        tail = self._tail
        assert turn.audio is not None
        silence = self._tuning.smart_pause_ms * STT_SAMPLE_RATE // 1000
        if tail is None or tail.turn_id != turn.turn_id:
            return None
        return tail if 0 <= len(turn.audio) - tail.samples <= silence else None

    async def _partials(
        self,
        turn_id: UUID,
        audio: Callable[[], Pcm16],
        paused: Callable[[], bool],
        *,
        shown: str = "",
    ) -> None:
        interval_s = self._tuning.partial_interval_s
        window_samples = int(self._tuning.partial_window_s * STT_SAMPLE_RATE)
        next_start = now() + interval_s
        while True:
            await asyncio.sleep(max(0.0, next_start - now()))
            next_start = max(next_start + interval_s, now())
            if paused() or self._finals:
                # the user may be done, or a final pass runs: leave whisper to the final pass
                next_start = now() + min(interval_s, RECHECK_S)
                continue
            tail = self._tail
            if tail is not None and tail.turn_id == turn_id and not tail.shown:
                # the user spoke on after a silent frame: the tail pass is the next partial
                tail.shown = True
                await asyncio.wait([tail.job])
                job, whole = tail.job, True
            else:
                utterance = audio()
                window = utterance[-window_samples:]
                if len(window) < STT_SAMPLE_RATE // 4:
                    continue
                whole = len(utterance) <= window_samples
                job = self._pass = asyncio.ensure_future(
                    transcribe(self._stt, window, partial=True, alone=self._alone())
                )
                try:
                    await asyncio.wait([job])
                finally:
                    if not job.done():
                        job.cancel()
                    self._pass = None
            if job.cancelled() or job.exception() is not None:
                continue  # aborted by a final pass, or failed (the final pass reports errors)
            text = job.result()
            if not text:
                continue
            shown = text if whole else stitch(shown, text)
            self.partial_text = shown
            self.partials_sent += 1
            # every pass, changed or not: the client sees that it keeps up
            await self._outlet.emit(protocol.PartialTranscript(turn_id=str(turn_id), text=shown))

    # ------------------------------------------------------------------ final pass
    async def final(self, turn: Turn) -> str:
        """The turn's transcript (greedy with fallback, every core when quiet): the tail pass
        when it heard all of the turn's speech, else a pass of its own, which aborts a partial
        pass in flight first. ``stt_ms`` is the turn's wait for it."""
        assert turn.audio is not None
        self._finals += 1
        try:
            tail = self._tail_of(turn)
            if tail is not None:
                turn.t_stt_start = now()
                await asyncio.wait([tail.job])
                if not tail.job.cancelled() and tail.job.exception() is None:
                    turn.t_stt_end = now()
                    return tail.job.result()
            self._drop_tail()
            aborted = self._abort_partial()
            if aborted is not None:
                with contextlib.suppress(BaseException):
                    await asyncio.wait([aborted], timeout=1.0)
            turn.t_stt_start = now()
            try:
                return await self.transcribe(turn.audio, partial=False)
            finally:
                turn.t_stt_end = now()
        finally:
            self._finals -= 1

    async def transcribe(self, audio: Pcm16, *, partial: bool) -> str:
        return await transcribe(self._stt, audio, partial=partial)


async def transcribe(stt: SpeechToText, audio: Pcm16, *, partial: bool, alone: bool = False) -> str:
    """One pass of ``stt`` over ``audio``, white space collapsed; engine failures become
    :class:`~luminad.errors.SttUnavailable`."""
    try:
        text = await stt.transcribe(audio, partial=partial, alone=alone)
    except (asyncio.CancelledError, LuminaError):
        raise
    except Exception as exc:
        raise SttUnavailable(f"speech recognition failed: {type(exc).__name__}") from exc
    return " ".join(text.split())
