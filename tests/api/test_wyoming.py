"""The Wyoming server against the ``wyoming`` library's own client (what Home Assistant uses):
describe, transcribe espeak speech, synthesize speech that whisper hears back, and agent turns
that remember what an earlier turn said.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.handle import Handled
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeVoice

from luminad.providers.wer import wer
from tests.support.daemon import Daemon, run_daemon
from tests.support.speech import speak_pcm16

pytestmark = pytest.mark.e2e

#: The rate Home Assistant's microphones usually send; the daemon converts it.
MIC_RATE = 22050


@pytest.fixture(scope="module")
def wyoming_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    home = tmp_path_factory.mktemp("wyoming")
    with run_daemon(home, env={"LUMINA_WYOMING": "1", "LUMINA_WYOMING_PORT": "0"}) as d:
        yield d


def _client(daemon: Daemon) -> AsyncTcpClient:
    url = urlparse(daemon.ready["wyoming"])
    assert url.hostname == "127.0.0.1" and url.port
    return AsyncTcpClient(url.hostname, url.port)


async def _exchange(
    daemon: Daemon, events: list[Event], done: Callable[[Event], bool]
) -> list[Event]:
    """Send ``events`` on one connection; the events received until ``done`` says so."""
    received: list[Event] = []
    async with _client(daemon) as client:
        for event in events:
            await client.write_event(event)
        while True:
            event = await asyncio.wait_for(client.read_event(), 300)
            assert event is not None, "the daemon closed the connection"
            received.append(event)
            if done(event):
                return received


def _speech_events(pcm: np.ndarray, rate: int) -> list[Event]:
    raw = pcm.astype("<i2").tobytes()
    step = 1024 * 2
    return [
        Transcribe(language="en").event(),
        AudioStart(rate=rate, width=2, channels=1).event(),
        *(
            AudioChunk(rate=rate, width=2, channels=1, audio=raw[i : i + step]).event()
            for i in range(0, len(raw), step)
        ),
        AudioStop().event(),
    ]


def _transcribe(daemon: Daemon, pcm: np.ndarray, rate: int) -> str:
    got = asyncio.run(
        _exchange(daemon, _speech_events(pcm, rate), lambda e: Transcript.is_type(e.type))
    )
    return Transcript.from_event(got[-1]).text


def test_describe_lists_asr_tts_and_the_agent(wyoming_daemon: Daemon) -> None:
    got = asyncio.run(
        _exchange(wyoming_daemon, [Describe().event()], lambda e: Info.is_type(e.type))
    )
    info = Info.from_event(got[-1])
    assert [m.name for p in info.asr for m in p.models] == ["tiny.en"]
    assert "joe" in [v.name for p in info.tts for v in p.voices]
    assert [p.name for p in info.handle] == ["lumina"]


def test_transcribe_speech_sent_at_another_rate(wyoming_daemon: Daemon, tmp_path: Path) -> None:
    said = "Please turn on the kitchen lights"
    text = _transcribe(wyoming_daemon, speak_pcm16(said, tmp_path, rate=MIC_RATE), MIC_RATE)
    assert wer(said, text) <= 0.2, text


def test_synthesize_speaks_words_whisper_hears_back(wyoming_daemon: Daemon) -> None:
    said = "The library opens at nine in the morning."
    got = asyncio.run(
        _exchange(
            wyoming_daemon,
            [Synthesize(text=said, voice=SynthesizeVoice(name="joe")).event()],
            lambda e: AudioStop.is_type(e.type),
        )
    )
    start = AudioStart.from_event(got[0])
    assert (start.width, start.channels) == (2, 1)
    chunks = [AudioChunk.from_event(e) for e in got if AudioChunk.is_type(e.type)]
    assert {c.rate for c in chunks} == {start.rate}
    pcm = np.frombuffer(b"".join(c.audio for c in chunks), dtype="<i2")
    assert len(pcm) / start.rate > 1.0
    heard = _transcribe(wyoming_daemon, pcm, start.rate)
    assert wer(said, heard) <= 0.25, heard


def _handle(daemon: Daemon, text: str, context: dict[str, str] | None = None) -> Handled:
    got = asyncio.run(
        _exchange(
            daemon,
            [Transcript(text=text, context=context).event()],
            lambda e: e.type in ("handled", "not-handled", "error"),
        )
    )
    assert Handled.is_type(got[-1].type), got[-1]
    return Handled.from_event(got[-1])


def test_handle_answers_with_an_earlier_turns_memory(wyoming_daemon: Daemon) -> None:
    first = _handle(wyoming_daemon, "My name is Ada.")
    assert first.text and first.context and first.context["conversation_id"]
    # a new conversation: only the memory of the first can know the name
    second = _handle(wyoming_daemon, "What is my name?")
    assert second.context and second.context["conversation_id"] != first.context["conversation_id"]
    assert "ada" in (second.text or "").lower(), second.text
    # both turns are events like any other, recorded with their source
    with wyoming_daemon.unix() as http:
        conversation = http.get(f"/v1/conversations/{first.context['conversation_id']}").json()
        assert [t["text"] for t in conversation["turns"] if t["role"] == "user"] == [
            "My name is Ada."
        ]
        events = http.get("/v1/events", params={"type": "UtteranceTranscribed"}).json()
    assert {e["data"]["source"] for e in events} == {"wyoming"}


def test_handle_continues_a_conversation_given_its_context(wyoming_daemon: Daemon) -> None:
    first = _handle(wyoming_daemon, "I am planning a trip to Lisbon.")
    assert first.context
    second = _handle(wyoming_daemon, "Which city did I just mention?", first.context)
    assert second.context == first.context
    assert "lisbon" in (second.text or "").lower(), second.text


def test_home_assistants_own_conversation_id_continues_one_conversation(
    wyoming_daemon: Daemon,
) -> None:
    # Home Assistant sends its own conversation id (a ULID) and never ours back
    ha = {"conversation_id": "01JD5Q3W7Z9X8V6T4R2P0N8M6K"}
    first = _handle(wyoming_daemon, "My favourite fruit is the mango.", ha)
    second = _handle(wyoming_daemon, "Which fruit did I just mention?", ha)
    assert first.context and second.context
    assert first.context["conversation_id"] == second.context["conversation_id"]
    with wyoming_daemon.unix() as http:
        turns = http.get(f"/v1/conversations/{first.context['conversation_id']}").json()["turns"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user", "assistant"]


def test_handle_with_a_stale_context_starts_a_new_conversation(wyoming_daemon: Daemon) -> None:
    stale = {"conversation_id": "00000000-0000-4000-8000-000000000000"}
    reply = _handle(wyoming_daemon, "Hello there.", stale)
    assert reply.text and reply.context
    assert reply.context["conversation_id"] != stale["conversation_id"]
