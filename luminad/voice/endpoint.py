"""Endpointing: where an utterance starts and ends in a stream of 16 kHz frames.

A pure, synchronous class (no clocks, no I/O): :meth:`Endpointer.add` takes one frame of
``FRAME_MS`` and returns the events it caused; time is counted in samples seen. A frame is
voiced when webrtcvad says so and its RMS energy is above a floor; when webrtcvad is missing
or refuses a frame, an RMS-energy detector decides alone.

An utterance starts after ``start_ms`` of voiced audio (so a click does not start a turn) and
ends after ``hangover_ms`` of unvoiced audio; speech that resumes within the hangover stays in
the same utterance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from luminad.providers.base import STT_SAMPLE_RATE, Pcm16
from luminad.voice.audio import FRAME_MS, rms


class FrameClassifier(Protocol):
    def is_speech(self, frame: Pcm16) -> bool: ...


class EnergyClassifier:
    """Voiced when RMS is above ``threshold`` (int16 scale; 300 ~ -40 dBFS)."""

    name = "energy"

    def __init__(self, threshold: float = 300.0) -> None:
        self.threshold = threshold

    def is_speech(self, frame: Pcm16) -> bool:
        return rms(frame) >= self.threshold


class WebRtcClassifier:
    """webrtcvad with an energy floor; falls back to energy alone if webrtcvad fails."""

    name = "webrtcvad"

    def __init__(
        self, aggressiveness: int = 2, *, floor: float = 60.0, fallback_threshold: float = 300.0
    ) -> None:
        import webrtcvad

        self._vad = webrtcvad.Vad(max(0, min(3, int(aggressiveness))))
        self.floor = floor
        self._fallback = EnergyClassifier(fallback_threshold)

    def is_speech(self, frame: Pcm16) -> bool:
        if rms(frame) < self.floor:
            return False
        try:
            return bool(self._vad.is_speech(frame.astype("<i2").tobytes(), STT_SAMPLE_RATE))
        except Exception:  # a frame webrtcvad refuses: decide by energy
            return self._fallback.is_speech(frame)


def make_classifier(aggressiveness: int = 2, *, prefer: str = "webrtcvad") -> FrameClassifier:
    """webrtcvad when importable (and preferred), else the RMS-energy detector."""
    if prefer == "webrtcvad":
        try:
            return WebRtcClassifier(aggressiveness)
        except ImportError:
            pass
    return EnergyClassifier()


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """An utterance began; ``start_ms`` is where its first voiced frame began."""

    at_ms: float
    start_ms: float
    kind: Literal["speech_start"] = "speech_start"


@dataclass(frozen=True, slots=True)
class SpeechEnded:
    """The utterance ended at ``end_ms``; ``at_ms`` is when the hangover ran out."""

    at_ms: float
    end_ms: float
    kind: Literal["speech_end"] = "speech_end"


@dataclass(frozen=True, slots=True)
class VadChanged:
    """Voice activity for the UI: ``speech`` at a start or a resume, ``silence`` at a pause."""

    at_ms: float
    state: Literal["speech", "silence"]
    kind: Literal["vad"] = "vad"


EndpointEvent = SpeechStarted | SpeechEnded | VadChanged


class Endpointer:
    """Turns frames into speech-start / speech-end / vad events (see the module docstring)."""

    def __init__(
        self,
        classifier: FrameClassifier,
        *,
        hangover_ms: int = 500,
        start_ms: int = 60,
        pause_ms: int = 200,
        frame_ms: int = FRAME_MS,
    ) -> None:
        self.classifier = classifier
        self.frame_ms = frame_ms
        self.hangover_ms = hangover_ms
        self.start_frames = max(1, -(-start_ms // frame_ms))
        self.hangover_frames = max(1, -(-hangover_ms // frame_ms))
        self.pause_frames = max(1, min(self.hangover_frames, -(-pause_ms // frame_ms)))
        self.frames = 0
        self.in_speech = False
        self._voiced_run = 0
        self._unvoiced_run = 0
        self._paused = False
        self._last_voiced_end = 0

    @property
    def now_ms(self) -> float:
        return self.frames * self.frame_ms

    @property
    def paused(self) -> bool:
        """In an utterance, but silent for at least ``pause_ms`` (the hangover is running)."""
        return self.in_speech and self._paused

    @property
    def silence_ms(self) -> float:
        """How long the current utterance has been silent (0 when not in speech)."""
        return self._unvoiced_run * self.frame_ms if self.in_speech else 0.0

    def add(self, frame: Pcm16) -> list[EndpointEvent]:
        voiced = self.classifier.is_speech(frame)
        self.frames += 1
        now = self.now_ms
        events: list[EndpointEvent] = []
        if voiced:
            self._voiced_run += 1
            self._unvoiced_run = 0
            self._last_voiced_end = self.frames
            if not self.in_speech and self._voiced_run >= self.start_frames:
                self.in_speech = True
                self._paused = False
                start = (self.frames - self._voiced_run) * self.frame_ms
                events.append(SpeechStarted(at_ms=now, start_ms=start))
                events.append(VadChanged(at_ms=now, state="speech"))
            elif self.in_speech and self._paused:
                self._paused = False
                events.append(VadChanged(at_ms=now, state="speech"))
        else:
            self._voiced_run = 0
            if self.in_speech:
                self._unvoiced_run += 1
                if self._unvoiced_run >= self.hangover_frames:
                    events.extend(self._end(now))
                elif self._unvoiced_run == self.pause_frames and not self._paused:
                    self._paused = True
                    events.append(VadChanged(at_ms=now, state="silence"))
        return events

    def extend(self, frames: list[Pcm16]) -> list[EndpointEvent]:
        out: list[EndpointEvent] = []
        for f in frames:
            out.extend(self.add(f))
        return out

    def finish(self) -> list[EndpointEvent]:
        """End an open utterance now (the client said ``end``, or the stream closed)."""
        if not self.in_speech:
            self._voiced_run = 0
            return []
        return self._end(self.now_ms)

    def _end(self, now: float) -> list[EndpointEvent]:
        events: list[EndpointEvent] = [
            SpeechEnded(at_ms=now, end_ms=self._last_voiced_end * self.frame_ms)
        ]
        if not self._paused:
            events.append(VadChanged(at_ms=now, state="silence"))
        self.in_speech = False
        self._paused = False
        self._voiced_run = 0
        self._unvoiced_run = 0
        return events
