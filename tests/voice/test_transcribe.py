from __future__ import annotations

import asyncio
import uuid

import numpy as np
import pytest

from luminad import protocol
from luminad.providers.base import STT_SAMPLE_RATE
from luminad.voice.outlet import Outlet, Tasks
from luminad.voice.transcribe import Transcriber, stitch
from luminad.voice.tuning import Tuning
from luminad.voice.turn import Turn
from tests.support.fakes import FakeSTT


@pytest.mark.parametrize(
    ("previous", "window", "expected"),
    [
        ("", "hello there", "hello there"),
        ("My name is Ada, remember", "is Ada, remember that I", "My name is Ada, remember that I"),
        # the window's first word was cut in half and misheard
        (
            "My name is Ada, remember",
            "sada remember that I like",
            "My name is Ada, remember that I like",
        ),
        ("What is the weather like", "weather like in Paris", "What is the weather like in Paris"),
        ("one two three", "four five six", "one two three … four five six"),
        ("I would like to know", "this", "I would like to know"),
        # a repeated word anchors on its latest occurrence
        ("the cat and the dog", "the dog barked", "the cat and the dog barked"),
    ],
)
def test_stitch(previous: str, window: str, expected: str) -> None:
    assert stitch(previous, window) == expected


# ---------------------------------------------------------------------- the tail pass
SAMPLES = 2 * STT_SAMPLE_RATE
QUIET = 2 * 320  # two silent 20 ms frames: where the tail pass starts
PAUSE = 3 * 320  # three: the pause, where the turn starts


class Heard:
    """What the client would receive."""

    def __init__(self) -> None:
        self.items: list[protocol.ServerMessage | bytes] = []

    async def send(self, item: protocol.ServerMessage | bytes) -> None:
        self.items.append(item)

    def partials(self) -> list[str]:
        return [m.text for m in self.items if isinstance(m, protocol.PartialTranscript)]


def transcriber(stt: FakeSTT, heard: Heard) -> tuple[Transcriber, Tasks]:
    outlet = Outlet(heard.send, uuid.uuid4())
    tasks = Tasks(outlet, uuid.uuid4())
    return Transcriber(stt, outlet, tasks, Tuning()), tasks


async def test_the_pass_started_in_the_silence_is_the_turns_transcript() -> None:
    stt, heard = FakeSTT(["what time is it"], delay_s=0.05), Heard()
    words, tasks = transcriber(stt, heard)
    turn_id = uuid.uuid4()
    speech = np.zeros(SAMPLES + PAUSE, np.int16)
    words.tail(turn_id, speech[: SAMPLES + QUIET])
    turn = Turn(turn_id=turn_id, source="voice", audio=speech)  # the pause, same silence
    assert await words.final(turn) == "what time is it"
    assert stt.calls == [(SAMPLES + QUIET, False)]  # decoded once, not again at the pause
    await tasks.close()


async def test_a_pass_from_an_earlier_silence_is_not_the_transcript() -> None:
    stt, heard = FakeSTT(["what time is it in Tokyo"], delay_s=0.05), Heard()
    words, tasks = transcriber(stt, heard)
    turn_id = uuid.uuid4()
    speech = np.zeros(SAMPLES + PAUSE, np.int16)
    words.tail(turn_id, speech[: SAMPLES // 2])  # a gap between words, then more speech
    await asyncio.sleep(0.01)
    turn = Turn(turn_id=turn_id, source="voice", audio=speech)
    assert await words.final(turn) == "what time is it in Tokyo"
    # the stale pass was aborted; the whole utterance was decoded at the pause
    assert stt.calls == [(SAMPLES // 2, False), (SAMPLES + PAUSE, False)]
    await tasks.close()


async def test_when_speech_goes_on_the_pass_is_the_next_partial() -> None:
    stt, heard = FakeSTT(["so I was thinking"], default="so I was", delay_s=0.05), Heard()
    words, tasks = transcriber(stt, heard)
    turn_id = uuid.uuid4()
    speech = np.zeros(SAMPLES, np.int16)
    words.tail(turn_id, speech)
    words.follow(turn_id, lambda: speech, lambda: False)  # the user spoke on
    for _ in range(100):
        if heard.partials():
            break
        await asyncio.sleep(0.02)
    assert heard.partials()[0] == "so I was thinking"  # the tail pass was not wasted
    assert stt.calls[0] == (SAMPLES, False)
    await tasks.close()
