from __future__ import annotations

import subprocess
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from luminad.voice.audio import Framer, Resampler
from luminad.voice.endpoint import (
    Endpointer,
    EnergyClassifier,
    SpeechEnded,
    SpeechStarted,
    VadChanged,
    make_classifier,
)

LOUD = np.full(320, 3000, dtype=np.int16)
QUIET = np.zeros(320, dtype=np.int16)


class Scripted:
    """Classifies frames by their first sample: nonzero = voiced."""

    def is_speech(self, frame: np.ndarray) -> bool:
        return bool(frame[0])


def frames(pattern: str) -> list[np.ndarray]:
    """'x' = voiced 20 ms frame, '.' = silent one."""
    return [LOUD if c == "x" else QUIET for c in pattern]


def kinds(events: list[Any]) -> list[str]:
    return [e.kind if e.kind != "vad" else f"vad:{e.state}" for e in events]


def test_start_needs_a_run_of_voiced_frames() -> None:
    ep = Endpointer(Scripted(), start_ms=60, hangover_ms=100)
    assert ep.extend(frames("x.x.xx.")) == []
    ev = ep.extend(frames("xxx"))
    assert kinds(ev) == ["speech_start", "vad:speech"]
    assert isinstance(ev[0], SpeechStarted) and ev[0].start_ms == 7 * 20


def test_end_after_hangover_with_end_time_of_speech() -> None:
    ep = Endpointer(Scripted(), start_ms=40, hangover_ms=100, pause_ms=40)
    ev = ep.extend(frames("xxxx" + "....."))
    assert kinds(ev) == ["speech_start", "vad:speech", "vad:silence", "speech_end"]
    end = ev[-1]
    assert isinstance(end, SpeechEnded)
    assert end.end_ms == 80 and end.at_ms == 180
    assert not ep.in_speech


def test_speech_resumed_within_hangover_stays_one_turn() -> None:
    ep = Endpointer(Scripted(), start_ms=40, hangover_ms=100, pause_ms=40)
    ev = ep.extend(frames("xxx" + "...." + "xx" + "...." + "x" + "....."))
    assert [k for k in kinds(ev) if not k.startswith("vad")] == ["speech_start", "speech_end"]
    assert kinds(ev).count("vad:speech") == 3  # start + two resumes after pauses
    end = next(e for e in ev if isinstance(e, SpeechEnded))
    assert end.end_ms == (3 + 4 + 2 + 4 + 1) * 20


def test_two_utterances() -> None:
    ep = Endpointer(Scripted(), start_ms=20, hangover_ms=60)
    ev = ep.extend(frames("xx..." + "......" + "xx..."))
    assert [k for k in kinds(ev) if not k.startswith("vad")] == [
        "speech_start",
        "speech_end",
        "speech_start",
        "speech_end",
    ]


def test_finish_ends_open_utterance_once() -> None:
    ep = Endpointer(Scripted(), start_ms=20, hangover_ms=500)
    ep.extend(frames("xxx."))
    ev = ep.finish()
    assert kinds(ev) == ["speech_end", "vad:silence"]
    assert ep.finish() == []


def test_silence_ms_tracks_the_pause() -> None:
    ep = Endpointer(Scripted(), start_ms=20, hangover_ms=500)
    ep.extend(frames("xx..."))
    assert ep.silence_ms == 60


def test_energy_classifier() -> None:
    c = EnergyClassifier(300)
    assert c.is_speech(LOUD) and not c.is_speech(QUIET)
    assert not c.is_speech(np.full(320, 100, dtype=np.int16))


def test_energy_fallback_endpointing() -> None:
    ep = Endpointer(make_classifier(prefer="energy"), start_ms=40, hangover_ms=200)
    ev = ep.extend(frames("xxxxx" + "." * 12))
    assert [k for k in kinds(ev) if not k.startswith("vad")] == ["speech_start", "speech_end"]


def test_webrtcvad_on_real_speech(tmp_path: Path) -> None:
    wav = tmp_path / "s.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "Hello there. How are you today?"], check=True)
    with wave.open(str(wav)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    pad = np.zeros(rate, dtype=np.int16)  # 1 s silence either side
    pcm = np.concatenate([pad, pcm, pad])
    r, framer = Resampler(rate), Framer()
    ep = Endpointer(make_classifier(2), hangover_ms=500)
    events = []
    for i in range(0, len(pcm), 1024):
        events += ep.extend(framer.add(r.process(pcm[i : i + 1024])))
    events += ep.extend(framer.add(r.flush()))
    starts = [e for e in events if isinstance(e, SpeechStarted)]
    ends = [e for e in events if isinstance(e, SpeechEnded)]
    assert len(starts) == 1 and len(ends) == 1  # the pause between sentences stays one turn
    speech_s = len(pcm) / rate - 2
    assert 900 <= starts[0].start_ms <= 1200
    assert abs(ends[0].end_ms - (1000 + speech_s * 1000)) < 300
    assert ends[0].at_ms - ends[0].end_ms == pytest.approx(500, abs=20)
    assert any(isinstance(e, VadChanged) for e in events)
