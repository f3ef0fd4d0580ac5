"""The intake: client audio -> 16 kHz frames -> where utterances start, pause and end.

:class:`Intake` owns the audio lane of a session: a bounded queue of the client's frames
(dropped and counted when full, the client told once per congested spell), the streaming
resampler, the 20 ms framer, the endpointer, the pre-roll and the samples of the utterance being
spoken. Its loop, alive for the whole session, handles one queued frame at a time, synchronously,
and hands what the endpointer saw to the session as :data:`IntakeEvent` values (it never waits
on a turn); ``vad`` messages for the UI it sends itself.

The end of an utterance: with a :class:`~luminad.providers.smart_turn.TurnJudge` (the
default), the final pass of the utterance starts at ``QUIET_MS`` of silence, and each pause of
``smart_pause_ms`` (60 ms) asks the judge once whether the turn is complete, from the rules on
the words of that pass, then, when they do not decide (a statement, a command), the words'
model, then the sound: complete ends the utterance at once, otherwise the endpointer's long
hangover (``LUMINA_TURN_HANGOVER_MS``) decides, so a thinking pause does not cut the user off.
The words' model runs before the speculative reply computes anything (the reply waits for it,
60-100 ms on two cores for a short command), so a command it reads as surely whole ends as soon
as a question does plus that; when it is less sure, the sound is heard too, after the reply's
first token (at most ``THOUGHT_WAIT_S``): the verdict then only has to come before the reply's
first audio, and a thinking pause after a misheard half sentence has time to end. (Asking the
sound again later in the pause cut a 600 ms thinking pause short: a misheard "Remind me what we
talk to mount." scored 0.15 at the pause and 0.98 after 400 ms.)
Without a judge the fixed hangover (``LUMINA_VAD_HANGOVER_MS``) alone ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

import numpy as np

from luminad import protocol
from luminad.errors import RateLimited
from luminad.providers.base import STT_SAMPLE_RATE, Pcm16
from luminad.providers.smart_turn import TurnJudge
from luminad.settings import Settings
from luminad.voice.audio import Framer, Resampler
from luminad.voice.endpoint import (
    Endpointer,
    EndpointEvent,
    SpeechEnded,
    SpeechStarted,
    VadChanged,
    make_classifier,
)
from luminad.voice.outlet import Tasks
from luminad.voice.spoken import Words
from luminad.voice.tuning import (
    AUDIO_QUEUE_FRAMES,
    MAX_UTTERANCE_S,
    PARTIAL_HOLD_SILENCE_MS,
    PREROLL_MS,
    Tuning,
)
from luminad.voice.turn import now

log = logging.getLogger("luminad.voice")


@dataclass(frozen=True, slots=True)
class UtteranceStarted:
    """The user began speaking; the utterance (and the turn it becomes) is ``turn_id``."""

    turn_id: UUID


@dataclass(frozen=True, slots=True)
class UtteranceQuiet:
    """``QUIET_MS`` of silence inside the utterance (with the end-of-turn judge): maybe a gap
    between words, maybe its end; ``audio`` is everything said so far."""

    turn_id: UUID
    audio: Pcm16


@dataclass(frozen=True, slots=True)
class UtterancePaused:
    """The user went silent mid-utterance; ``audio`` is everything said so far."""

    turn_id: UUID
    audio: Pcm16


@dataclass(frozen=True, slots=True)
class UtteranceResumed:
    """The user spoke again within the hangover: the same utterance goes on."""

    turn_id: UUID


@dataclass(frozen=True, slots=True)
class UtteranceEnded:
    """The endpoint: the utterance is over. ``speech_end`` and ``endpoint`` are monotonic
    times (the end of speech placed on the wall clock from the audio stream)."""

    turn_id: UUID
    audio: Pcm16
    speech_end: float
    endpoint: float


IntakeEvent = (
    UtteranceStarted | UtteranceQuiet | UtterancePaused | UtteranceResumed | UtteranceEnded
)

#: Silence (ms) at which the final pass of the utterance starts (:class:`UtteranceQuiet`):
#: two frames, as most gaps between words are one (espeak-ng at 175 wpm: 85 gaps of 20 ms,
#: 17 of 40 ms and 9 longer ones in the benchmark's 27 phrases).
QUIET_MS = 40
#: Longest wait for the speculative turn's final transcript when the judge needs the words (s).
WORDS_WAIT_S = 1.5
#: Longest wait of the judge's sound model for the speculative reply's first token (s).
THOUGHT_WAIT_S = 0.5


@dataclass(frozen=True, slots=True)
class _Pause:
    """A pause being judged: its utterance, the audio so far, the intake's mark when it began
    (:meth:`Intake._moved_on`) and what lets the speculative reply go on once the words' model
    has read the words."""

    turn_id: UUID
    audio: Pcm16
    mark: int
    release: Callable[[], None]


class Intake:
    """The audio lane of one session (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        tuning: Tuning,
        tasks: Tasks,
        on_event: Callable[[IntakeEvent], None],
        session_id: UUID,
        *,
        judge: TurnJudge | None = None,
        words: Words | None = None,
    ) -> None:
        self._settings = settings
        self._judge = judge if words is not None else None
        self._words = words
        self._tuning = tuning
        self._tasks = tasks
        self._on_event = on_event
        self._session_id = session_id
        self._queue: asyncio.Queue[Pcm16] = asyncio.Queue(maxsize=AUDIO_QUEUE_FRAMES)
        self._congested = False
        self._resampler: Resampler | None = None
        self._framer = Framer()
        self._endpointer: Endpointer | None = None
        self._preroll: deque[Pcm16] = deque(maxlen=max(1, PREROLL_MS // 20))
        self._frames: list[Pcm16] = []
        self._samples = 0
        #: The utterance being spoken (None between utterances).
        self.turn_id: UUID | None = None
        #: Client frames received, and dropped because the queue was full.
        self.frames_in = 0
        self.dropped = 0
        #: Pauses judged, how many of them ended the turn, and how many the hangover ended
        #: before the judge answered (a judge too slow, e.g. on a loaded machine).
        self.judged = 0
        self.judged_complete = 0
        self.judged_late = 0
        self._pause_mark = 0  # changes whenever the user speaks again or the utterance ends

    def counts(self) -> str:
        """What the lane saw, for the session's closing log line."""
        return (
            f"{self.frames_in} frames in, {self.dropped} dropped; {self.judged} pauses judged, "
            f"{self.judged_complete} of them complete, {self.judged_late} ended by the hangover "
            "before the judge answered"
        )

    def open(self, sample_rate: int) -> None:
        """Start listening to audio at ``sample_rate`` (after ``hello``)."""
        self._resampler = Resampler(sample_rate)
        self._endpointer = Endpointer(
            make_classifier(self._settings.vad_aggressiveness),
            hangover_ms=self._settings.turn_hangover_ms
            if self._judge is not None
            else self._settings.vad_hangover_ms,
            pause_ms=self._tuning.smart_pause_ms
            if self._judge is not None
            else self._tuning.pause_ms,
        )
        self._tasks.spawn(self._run(), name="voice-intake")

    # ------------------------------------------------------------------ the lane
    def enqueue(self, data: bytes) -> None:
        """One client frame (validated PCM16); never blocks."""
        pcm = np.frombuffer(data, dtype="<i2").astype(np.int16)
        self.frames_in += 1
        try:
            self._queue.put_nowait(pcm)
        except asyncio.QueueFull:
            self.dropped += 1
            if not self._congested:  # once per congested spell: tell the client
                self._congested = True
                self._tasks.spawn(
                    self._tasks.outlet.error(
                        RateLimited(
                            "audio arrives faster than it can be processed: frames are dropped"
                        )
                    ),
                    name="voice-congested",
                )
            if self.dropped in (1, 10, 100) or self.dropped % 1000 == 0:
                log.warning(
                    "voice session %s: audio queue full, %d frames dropped",
                    self._session_id,
                    self.dropped,
                )

    async def _run(self) -> None:
        while True:
            pcm = await self._queue.get()
            if self._queue.empty():
                self._congested = False
            try:
                self._ingest(pcm)
            except Exception:
                log.exception("voice session %s: audio frame failed", self._session_id)

    def end(self) -> None:
        """The client said ``end``: what is queued is heard, then the utterance ends now."""
        while True:
            try:
                pcm = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            self._ingest(pcm)
        if self._endpointer is not None:
            self._handle(self._endpointer.finish())

    def _ingest(self, pcm: Pcm16) -> None:
        assert self._resampler is not None and self._endpointer is not None
        for frame in self._framer.add(self._resampler.process(pcm)):
            if self._endpointer.in_speech:
                self._frames.append(frame)
                self._samples += len(frame)
            else:
                self._preroll.append(frame)
            self._handle(self._endpointer.add(frame))
            silence = self._endpointer.silence_ms if self._endpointer.in_speech else 0.0
            if silence == QUIET_MS and self._judge is not None and self.turn_id:
                self._on_event(UtteranceQuiet(self.turn_id, self.audio()))
            if self._endpointer.in_speech and self._samples > MAX_UTTERANCE_S * STT_SAMPLE_RATE:
                self._handle(self._endpointer.finish())

    # ------------------------------------------------------------------ the utterance
    def audio(self) -> Pcm16:
        """The utterance so far (16 kHz), pre-roll included."""
        if not self._frames:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(self._frames)

    def paused(self) -> bool:
        """The user has been silent long enough that no partial pass should start."""
        e = self._endpointer
        return e is not None and e.silence_ms >= PARTIAL_HOLD_SILENCE_MS

    def _handle(self, events: list[EndpointEvent]) -> None:
        assert self._endpointer is not None
        started = False
        for ev in events:
            if isinstance(ev, SpeechStarted):
                started = True
                self._frames = list(self._preroll)
                self._samples = sum(len(f) for f in self._frames)
                self._preroll.clear()
                self.turn_id = uuid.uuid4()
                self._on_event(UtteranceStarted(self.turn_id))
            elif isinstance(ev, VadChanged):
                self._tasks.send(protocol.Vad(state=ev.state), name="voice-vad")
                if self.turn_id is None:
                    continue
                if ev.state == "silence" and self._endpointer.in_speech:
                    audio = self.audio()
                    self._on_event(UtterancePaused(self.turn_id, audio))
                    self._ask_judge(audio)
                elif ev.state == "speech" and not started:
                    self._pause_mark += 1
                    self._on_event(UtteranceResumed(self.turn_id))
            elif isinstance(ev, SpeechEnded):
                self._pause_mark += 1
                t = now()
                self._on_event(
                    UtteranceEnded(
                        turn_id=self.turn_id or uuid.uuid4(),
                        audio=self.audio(),
                        speech_end=t - max(0.0, ev.at_ms - ev.end_ms) / 1000.0,
                        endpoint=t,
                    )
                )
                self._frames = []
                self._samples = 0
                self.turn_id = None

    # ------------------------------------------------------------------ end of turn
    def _ask_judge(self, audio: Pcm16) -> None:
        if self._judge is not None and self._words is not None and self.turn_id is not None:
            # held before the reply can reach its LLM
            release = self._words.hold(self.turn_id)
            pause = _Pause(self.turn_id, audio, self._pause_mark, release)
            self._tasks.spawn(self._ask(self._judge, pause), name="voice-judge")

    async def _ask(self, judge: TurnJudge, pause: _Pause) -> None:
        """Judge a pause; a complete turn ends the utterance now."""
        try:
            answer = await self._verdict(judge, pause)
        finally:
            pause.release()
        if answer is None:
            return
        complete, how = answer
        log.info(
            "voice session %s: pause judged %s by %s",
            self._session_id,
            "complete" if complete else "open",
            how,
        )
        self.judged += 1
        if complete and self._endpointer is not None:
            self.judged_complete += 1
            self._handle(self._endpointer.finish())

    async def _verdict(self, judge: TurnJudge, pause: _Pause) -> tuple[bool, str] | None:
        """Whether the turn is complete and what decided it, each judge asked only when the one
        before left it open: the rules on the words of the speculative final transcript (a model
        beside that pass would slow it down on two cores), the words' model alone (the
        speculative reply waits for it, so it runs alone, on every core), then the sound with
        the words' model. None: the user spoke again, or the utterance ended, meanwhile."""
        assert self._words is not None
        try:
            text = await asyncio.wait_for(self._words.final(pause.turn_id), WORDS_WAIT_S)
        except TimeoutError:
            text, _ = self._words.now(pause.turn_id)
        if self._moved_on(pause):
            return None
        complete = judge.by_words(text)
        if complete is not None:
            return complete, "the words"
        words_p = await asyncio.to_thread(judge.words.probability, text)
        pause.release()
        if self._moved_on(pause):
            return None
        complete = judge.by_words_model(words_p)
        how = f"the words' model (p {words_p:.1e})"
        if complete is not None:
            return complete, how
        # the sound after the speculative reply's prompt evaluation: begun beside the model,
        # that evaluation runs on its share of the cores to the end (llama.cpp sets a batch's
        # threads once)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._words.thought(pause.turn_id), THOUGHT_WAIT_S)
        if self._moved_on(pause):
            return None
        sound_p = await asyncio.to_thread(judge.sound.probability, pause.audio)
        if self._moved_on(pause):
            return None
        return judge.verdict(sound_p, words_p, text), f"the sound (p {sound_p:.2f}) and {how}"

    def _moved_on(self, pause: _Pause) -> bool:
        """Whether the user spoke again, or the utterance ended, while the judge worked on
        ``pause``. An utterance the long hangover ended first is counted and logged: the judge
        was too slow for it (a loaded machine), and the user waited the whole hangover."""
        if pause.mark == self._pause_mark:
            return False
        if self.turn_id != pause.turn_id:
            self.judged_late += 1
            log.info(
                "voice session %s: the hangover ended the turn before the end-of-turn judge "
                "answered",
                self._session_id,
            )
        return True
