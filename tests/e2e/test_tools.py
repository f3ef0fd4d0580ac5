"""End-to-end: tools by voice on the real default daemon (issue 10).

The default settings (the embedded Qwen2.5 0.5B; Ollama's address points at a closed port),
whisper.cpp listening and Piper speaking, one session of espeak-ng speech streamed at real-time
pace: a fact remembered and recalled, a name set and asked for, a timer that fires and is
spoken, and a question that must not set a name. Replies are printed; run with ``-s``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from luminad import protocol
from tests.e2e.client import VoiceClient, silence
from tests.support.daemon import Daemon, run_daemon
from tests.support.speech import speak_pcm16

pytestmark = pytest.mark.e2e

RATE = 16000


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    env = {"LUMINA_OLLAMA_HOST": "http://127.0.0.1:9"}
    with run_daemon(tmp_path_factory.mktemp("e2e-tools"), env=env) as d:
        yield d


class Spoken:
    """One session's spoken turns, counted."""

    def __init__(self, client: VoiceClient, speech_dir: Path) -> None:
        self.c = client
        self.dir = speech_dir
        self.turns = 0

    async def say(self, text: str) -> tuple[protocol.FinalTranscript, protocol.AssistantDone]:
        speech = speak_pcm16(text, self.dir, rate=RATE)
        await self.c.stream(silence(0.3, RATE), RATE)
        await self.c.stream(speech, RATE)
        await self.c.stream(silence(1.2, RATE), RATE)
        self.turns += 1
        await self.c.wait_for(protocol.TurnTiming, self.turns, within=240)
        final = self.c.of(protocol.FinalTranscript)[-1]
        done = self.c.of(protocol.AssistantDone)[-1]
        assert done.turn_id == final.turn_id
        print(f"\n{text!r} heard as {final.text!r} -> {done.text!r}")
        return final, done

    def tool_calls(self, turn_id: str) -> list[protocol.ToolCall]:
        return [m for m in self.c.of(protocol.ToolCall) if m.turn_id == turn_id]


def _profile_name(daemon: Daemon) -> str | None:
    with daemon.unix() as client:
        name: str | None = client.get("/v1/profile").json()["preferred_name"]
    return name


async def test_tools_by_voice(daemon: Daemon, tmp_path: Path) -> None:
    c = await VoiceClient.connect(daemon.ws_url(), daemon.auth_headers)
    try:
        await c.hello(sample_rate=RATE)
        s = Spoken(c, tmp_path)

        # a fact, remembered by the local intent, recalled by the model later
        final, _ = await s.say("Remember that my sister's birthday is on May third.")
        (written,) = c.of(protocol.MemoryWritten)
        assert "sister" in written.text.lower() and "birthday" in written.text.lower()
        assert [t.name for t in s.tool_calls(final.turn_id)] == ["remember"]

        # the name: set by the intent, said back without the model
        final, done = await s.say("My name is Sam.")
        assert [t.name for t in s.tool_calls(final.turn_id)] == ["set_preferred_name"]
        assert _profile_name(daemon) == "Sam"
        final, done = await s.say("What is my name?")
        assert "sam" in done.text.lower()

        # not a name: the model answers, the profile keeps "Sam"
        final, done = await s.say("Can you call me back later?")
        assert s.tool_calls(final.turn_id) == []
        assert _profile_name(daemon) == "Sam"

        # a timer: set now, fired in the daemon a few seconds later, and spoken
        final, done = await s.say("Set a timer for three seconds.")
        (call,) = s.tool_calls(final.turn_id)
        assert call.name == "set_timer" and call.arguments["seconds"] == 3 and call.ok
        fired = await c.wait_for(protocol.TimerChanged, 2, within=60)
        assert [m.state for m in fired] == ["set", "fired"]
        timer_id = fired[-1].timer_id
        for _ in range(600):  # the announcement's audio follows the `timer` message, in frames
            pcm, rate = c.reply_audio(timer_id)
            heard = [m.text for m in c.of(protocol.TtsChunk) if m.turn_id == timer_id]
            if len(pcm) / 2 / max(rate, 1) >= 0.5 and "done" in " ".join(heard).lower():
                break  # its last frame came (a run stopped after "Your timer", "is")
            await c.wait_for(protocol.TtsChunk, len(c.of(protocol.TtsChunk)) + 1, within=30)
        assert "timer" in " ".join(heard).lower() and "done" in " ".join(heard).lower()
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        assert np.sqrt(np.mean(x * x)) > 300, "the timer announcement is silent"
        with daemon.unix() as client:
            timers = client.get("/v1/timers").json()
        assert [(t["id"], t["state"]) for t in timers] == [(timer_id, "fired")]

        # a typed timer, cancelled over HTTP: every open session is told
        await c.send(protocol.Text(text="Set a pasta timer for 5 minutes."))
        s.turns += 1
        await c.wait_for(protocol.TurnTiming, s.turns, within=120)
        pasta = c.of(protocol.TimerChanged)[-1]
        assert (pasta.label, pasta.state) == ("pasta", "set")
        with daemon.unix() as client:
            assert client.delete(f"/v1/timers/{pasta.timer_id}").status_code == 204
            again = client.delete(f"/v1/timers/{pasta.timer_id}")
        assert again.status_code == 404 and again.json()["code"] == "timer_not_found"
        cancelled = (await c.wait_for(protocol.TimerChanged, 4, within=30))[-1]
        assert (cancelled.timer_id, cancelled.state) == (pasta.timer_id, "cancelled")

        # the fact comes back into the model's answer
        final, done = await s.say("When is my sister's birthday?")
        assert re.search(r"\bmay\b", done.text.lower()), done.text
        assert re.search(r"\b(3|3rd|third)\b", done.text.lower()), done.text
    finally:
        await c.close()


async def test_a_name_said_in_passing_becomes_the_name(tmp_path: Path) -> None:
    """ "Hi, I'm Maria, nice to meet you." is no command: the model answers it, and its reading
    of the turn's facts (the default model calls no tools) names the user, so the next "What is
    my name?" is answered with it, as after "My name is Maria."."""
    env = {"LUMINA_OLLAMA_HOST": "http://127.0.0.1:9"}
    with run_daemon(tmp_path / "daemon", env=env) as daemon:
        c = await VoiceClient.connect(daemon.ws_url(), daemon.auth_headers)
        try:
            await c.hello(sample_rate=RATE)
            s = Spoken(c, tmp_path)
            final, _ = await s.say("Hi, I'm Maria, nice to meet you.")
            assert s.tool_calls(final.turn_id) == []  # the model answered, no intent ran
            await c.wait_for(protocol.MemoryWritten, 1, within=120)  # after the reply
            for _ in range(100):
                if _profile_name(daemon) is not None:
                    break
                await asyncio.sleep(0.1)
            assert _profile_name(daemon) == "Maria"
            final, done = await s.say("What is my name?")
            assert "maria" in done.text.lower()
        finally:
            await c.close()
