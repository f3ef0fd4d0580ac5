"""The audio intake of a voice session: the listening loop and the endpoint's events.

Binary frames are queued (bounded; dropped and counted when full) and the listening loop, alive
for the whole session, resamples, frames and endpoints them synchronously; the endpoint's events
start the partial ticker (while the user speaks) and the turn: speculatively at the first pause,
gated until the end of speech confirms it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from uuid import UUID

import numpy as np

from luminad import protocol
from luminad.errors import (
    RateLimited,
)
from luminad.providers.base import STT_SAMPLE_RATE, Pcm16
from luminad.voice import transcribe as transcribe_stage
from luminad.voice.core import (
    MAX_UTTERANCE_S,
    PARTIAL_HOLD_SILENCE_MS,
    SessionCore,
    log,
)
from luminad.voice.endpoint import (
    SpeechEnded,
    SpeechStarted,
    VadChanged,
)
from luminad.voice.turn import Turn, now


class AudioIntake(SessionCore):
    """The audio lane (see the module docstring)."""

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
        self.speculative_started += 1
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
            self.speculative_dropped += 1

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
            lambda: self._endpointer.silence_ms >= PARTIAL_HOLD_SILENCE_MS,
            self,
            interval_s=self.partial_interval_s,
            window_s=self.partial_window_s,
        )
