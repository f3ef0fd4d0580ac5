"""End-to-end: the real daemon, real models (whisper.cpp, Qwen2.5 0.5B via llama.cpp, Piper), a
real socket, synthesized speech streamed at real-time pace.

Numbers (partials per second, voice-to-voice, cancel -> last frame) are printed; run with
``-s`` to see them.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from luminad import protocol
from luminad.providers.base import STT_SAMPLE_RATE
from luminad.providers.wer import wer
from luminad.voice.audio import Resampler
from tests.e2e.client import VoiceClient, silence
from tests.support.daemon import Daemon, run_daemon
from tests.support.speech import speak_pcm16

pytestmark = pytest.mark.e2e

QUESTION = "What is the weather like in Paris today?"
RATE = 48000


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    home = tmp_path_factory.mktemp("e2e-voice")
    env = {"LUMINA_LLM": "embedded", "LUMINA_MAX_REPLY_TOKENS": "48"}
    with run_daemon(home, env=env) as d:
        yield d


@pytest.fixture(scope="module")
def question(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    return speak_pcm16(QUESTION, tmp_path_factory.mktemp("speech"), rate=RATE)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _voiced(pcm: np.ndarray) -> np.ndarray:
    """``pcm`` without espeak's leading and trailing silence (so a pause is what it says)."""
    loud = np.flatnonzero(np.abs(pcm) > 300)
    return pcm[loud[0] : loud[-1] + 1]


def _transcribe(daemon: Daemon, pcm: bytes, rate: int) -> str:
    from luminad.providers.whisper import WhisperSTT, ensure_ggml, whisper_source

    stt = WhisperSTT(ensure_ggml(whisper_source(daemon.settings)), threads=2)
    try:
        r = Resampler(rate)
        x = np.frombuffer(pcm, dtype="<i2").astype(np.int16)
        audio = np.concatenate([r.process(x), r.flush()])
        return stt.transcribe_sync(audio[: 29 * STT_SAMPLE_RATE])
    finally:
        stt.close()


async def _voice_turn(
    c: VoiceClient, speech: np.ndarray, *, turns_before: int = 0
) -> tuple[float, float]:
    """Stream lead-in silence + speech + trailing silence; (speech start, speech end) times."""
    await c.stream(silence(0.3, RATE), RATE)
    t_start = time.monotonic()
    t_end = await c.stream(speech, RATE)
    await c.stream(silence(1.2, RATE), RATE)
    await c.wait_for(protocol.TurnTiming, turns_before + 1, within=180)
    return t_start, t_end


async def test_spoken_question_streams_a_spoken_answer(
    daemon: Daemon, question: np.ndarray
) -> None:
    c = await VoiceClient.connect(daemon.ws_url(), daemon.auth_headers)
    try:
        ready = await c.hello(sample_rate=RATE)
        assert ready.history == []
        t_start, t_end = await _voice_turn(c, question)
        # partial transcripts while the user was still speaking, several per second
        partials = [t for t, _ in c.timed(protocol.PartialTranscript) if t <= t_end]
        speech_s = t_end - t_start
        rate = len(partials) / speech_s
        print(
            f"\npartials before the end of speech: {len(partials)} in {speech_s:.2f} s "
            f"({rate:.1f}/s)"
        )
        assert partials, "no partial transcript arrived before the speech ended"
        final = c.of(protocol.FinalTranscript)[0]
        assert "weather" in final.text.lower() and "paris" in final.text.lower(), final.text
        done = c.of(protocol.AssistantDone)[0]
        assert done.turn_id == final.turn_id
        assert done.text.strip(), "empty reply"
        # the first audio arrived while the LLM was still writing
        first_audio = c.frames()[0][0]
        last_delta = c.timed(protocol.AssistantDelta)[-1][0]
        print(f"first audio {1000 * (last_delta - first_audio):.0f} ms before the last delta")
        pcm, rate_out = c.reply_audio(final.turn_id)
        seconds = len(pcm) / 2 / rate_out
        assert seconds >= 0.5
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        assert np.sqrt(np.mean(x * x)) > 300, "reply audio is silent"
        timing = c.of(protocol.TurnTiming)[0]
        print(f"reply: {done.text!r}\naudio {seconds:.1f} s; timing {timing}")
        v2v_client = 1000 * (first_audio - t_end)
        print(
            f"voice-to-voice seen by the client: {v2v_client:.0f} ms "
            f"(daemon: {timing.voice_to_voice_ms} ms)"
        )
        # every stage is there, and they fit together: the first audio follows the endpoint
        # and the final STT pass, and comes before the end of the reply
        stages = {
            name: getattr(timing, name)
            for name in (
                "endpoint_ms",
                "stt_ms",
                "llm_first_token_ms",
                "first_sentence_ms",
                "tts_first_audio_ms",
                "voice_to_voice_ms",
                "total_ms",
            )
        }
        missing = [name for name, v in stages.items() if v is None]
        assert not missing, f"stages missing from turn_timing: {missing}"
        v2v, total = stages["voice_to_voice_ms"], stages["total_ms"]
        assert 0 < stages["stt_ms"] <= v2v <= total
        assert stages["endpoint_ms"] <= v2v
        assert stages["llm_first_token_ms"] <= stages["first_sentence_ms"]
        # the client saw the first audio no sooner than the daemon sent it (the client's clock
        # starts after espeak's trailing silence, the daemon's at the last voiced frame)
        trailing_ms = 1000 * (len(question) - len(_voiced(question))) / RATE
        assert v2v_client + trailing_ms + 100 >= v2v
        # closed loop: whisper hears the reply's words in the reply audio
        heard = _transcribe(daemon, pcm, rate_out)
        spoken = " ".join(c.text for c in c.of(protocol.TtsChunk) if c.text)
        error = wer(spoken, heard)
        print(f"whisper heard: {heard!r}\nWER vs spoken text: {error:.2f}")
        assert set(_words(heard)) & set(_words(spoken))
        assert error <= 0.5
        # stored: the conversation has the user turn and the reply; latency metrics see it
        with daemon.http() as http:
            conv = http.get(f"/v1/conversations/{ready.conversation_id}").json()
            assert [t["role"] for t in conv["turns"]] == ["user", "assistant"]
            assert conv["turns"][0]["text"] == final.text
            assert conv["turns"][1]["text"] == done.text
            metrics = http.get("/v1/metrics/latency").json()
            assert metrics["turns"] >= 1 and metrics["outcomes"]["completed"] >= 1
            assert "voice_to_voice_ms" in metrics["stages"]
    finally:
        await c.close()


async def test_cancel_mid_reply_stops_audio_and_keeps_only_heard(daemon: Daemon) -> None:
    c = await VoiceClient.connect(daemon.ws_url(), daemon.auth_headers)
    try:
        ready = await c.hello(sample_rate=16000)
        await c.send(protocol.Text(text="Tell me a long story about a dragon and a knight."))
        await c.wait_for(protocol.TtsChunk, 2, within=120)
        t_cancel = await c.send(protocol.Cancel(reason="barge_in"))
        cancelled = (await c.wait_for(protocol.Cancelled, within=10))[0]
        await asyncio.sleep(1.5)  # anything still coming would arrive now
        frames = c.frames()
        last_frame = frames[-1][0]
        after = [t for t, _ in frames if t > t_cancel]
        cancel_to_last_ms = max(0.0, 1000 * (last_frame - t_cancel))
        print(
            f"\ncancel -> last audio frame: {cancel_to_last_ms:.1f} ms "
            f"({len(after)} frames after the cancel)"
        )
        cancelled_at = next(t for t, m in c.timed(protocol.Cancelled))
        print(f"cancel -> cancelled message: {1000 * (cancelled_at - t_cancel):.1f} ms")
        assert cancel_to_last_ms < 1000
        assert not c.of(protocol.AssistantDone)
        assert all(t <= cancelled_at for t, _ in frames)
        sent = " ".join(h.text for h in c.of(protocol.TtsChunk) if h.text)
        assert cancelled.heard_text == sent
        with daemon.http() as http:
            conv = http.get(f"/v1/conversations/{ready.conversation_id}").json()
        assert conv["turns"][-1]["role"] == "assistant"
        assert conv["turns"][-1]["interrupted"] is True
        assert conv["turns"][-1]["text"] == cancelled.heard_text
        with daemon.http() as http:  # the interrupted turn is counted, and marked so
            assert http.get("/v1/metrics/latency").json()["outcomes"]["interrupted"] >= 1
        # the session goes on: a new turn works
        await c.send(protocol.Text(text="Thanks, that is enough."))
        await c.wait_for(protocol.AssistantDone, within=120)
    finally:
        await c.close()


async def test_a_thinking_pause_mid_sentence_stays_one_turn(daemon: Daemon, tmp_path: Path) -> None:
    """600 ms of silence in the middle of a sentence: the end-of-turn judge (smart-turn and
    the words) keeps listening, so the user is not cut off: one turn, with both halves."""
    first, second = (
        _voiced(speak_pcm16(text, tmp_path, rate=RATE))
        for text in ("So I was thinking that maybe we could", "go to the beach this weekend.")
    )
    c = await VoiceClient.connect(daemon.ws_url(), daemon.auth_headers)
    try:
        await c.hello(sample_rate=RATE)
        await c.stream(silence(0.3, RATE), RATE)
        await c.stream(first, RATE)
        await c.stream(silence(0.6, RATE), RATE)
        t_end = await c.stream(second, RATE)
        await c.stream(silence(1.5, RATE), RATE)
        await c.wait_for(protocol.TurnTiming, within=180)
        await c.stream(silence(0.5, RATE), RATE)
        finals = c.timed(protocol.FinalTranscript)
        print(f"\nfinal transcripts: {[m.text for _, m in finals]}")
        assert len(finals) == 1, "the pause split the utterance into two turns"
        assert finals[0][0] >= t_end  # no endpoint before the user had finished
        words = _words(finals[0][1].text)
        assert "thinking" in words and "beach" in words
        assert not c.of(protocol.Cancelled)
    finally:
        await c.close()


async def test_speaking_over_the_reply_barges_in(daemon: Daemon, tmp_path: Path) -> None:
    c = await VoiceClient.connect(daemon.ws_url(), daemon.auth_headers)
    try:
        await c.hello(sample_rate=RATE)
        await c.send(protocol.Text(text="Tell me a long story about a dragon and a knight."))
        await c.wait_for(protocol.TtsChunk, 2, within=120)
        t_speak = time.monotonic()
        await c.stream(speak_pcm16("Wait, stop please.", tmp_path, rate=RATE), RATE)
        await c.stream(silence(1.2, RATE), RATE)
        cancelled = (await c.wait_for(protocol.Cancelled, within=10))[0]
        assert cancelled.reason == "barge_in"
        finals = await c.wait_for(protocol.FinalTranscript, 2, within=60)
        assert finals[-1].turn_id != cancelled.turn_id
        assert "stop" in finals[-1].text.lower()
        # the interrupted reply's audio stopped at the barge-in
        t_cancelled = next(t for t, _ in c.timed(protocol.Cancelled))
        old = [t for t, m in c.timed(protocol.TtsChunk) if m.turn_id == cancelled.turn_id]
        assert all(t <= t_cancelled for t in old)
        print(f"\nspeech start -> cancelled (barge-in): {1000 * (t_cancelled - t_speak):.0f} ms")
    finally:
        await c.close()


async def test_reconnect_replays_history(daemon: Daemon) -> None:
    c = await VoiceClient.connect(daemon.ws_url(), daemon.auth_headers)
    try:
        ready = await c.hello(sample_rate=RATE)
        await c.send(protocol.Text(text="My favourite colour is teal."))
        first = (await c.wait_for(protocol.AssistantDone, within=120))[0]
        await c.wait_for(protocol.TurnTiming, within=30)
    finally:
        await c.close()
    c = await VoiceClient.connect(daemon.ws_url(), daemon.auth_headers)
    try:
        again = await c.hello(sample_rate=RATE, conversation_id=ready.conversation_id)
        assert again.conversation_id == ready.conversation_id
        assert [(h.role, h.text) for h in again.history] == [
            ("user", "My favourite colour is teal."),
            ("assistant", first.text),
        ]
    finally:
        await c.close()


async def test_second_spoken_turn_has_the_first_as_context(daemon: Daemon, tmp_path: Path) -> None:
    """On the default embedded model: what the first spoken turn said answers the second."""
    c = await VoiceClient.connect(daemon.ws_url(), daemon.auth_headers)
    try:
        await c.hello(sample_rate=RATE)
        await _voice_turn(c, speak_pcm16("I live in Paris.", tmp_path, rate=RATE))
        await c.stream(silence(0.5, RATE), RATE)
        await _voice_turn(
            c, speak_pcm16("Which city do I live in?", tmp_path, rate=RATE), turns_before=1
        )
        final1, final2 = (f.text for f in c.of(protocol.FinalTranscript)[:2])
        reply2 = c.of(protocol.AssistantDone)[1].text
        print(f"\nheard {final1!r}, {final2!r}; second reply {reply2!r}")
        assert "paris" in final1.lower() and "city" in final2.lower()
        assert "paris" in reply2.lower()
    finally:
        await c.close()


def test_lumina_talk_wav(daemon: Daemon, tmp_path: Path) -> None:
    from lumina_cli.main import main

    from tests.support.speech import read_wav_pcm16, speak_to_wav

    wav = speak_to_wav(QUESTION, tmp_path / "q.wav", rate=RATE)
    out = tmp_path / "reply.wav"
    settings = daemon.settings.replace(runtime_dir=daemon.socket_path.parent)
    assert main(["talk", "--wav", str(wav), "--out", str(out)], settings=settings) == 0
    pcm, rate = read_wav_pcm16(out)
    assert len(pcm) / rate >= 0.5
