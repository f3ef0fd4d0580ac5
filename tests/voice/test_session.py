from __future__ import annotations

import asyncio
import base64
import logging
import time
from typing import Any

import numpy as np
import pytest

from luminad import protocol
from luminad.errors import (
    AvatarNotFound,
    BadMessage,
    ConversationNotFound,
    LlmUnavailable,
    SttUnavailable,
    TtsUnavailable,
    UnsupportedProtocol,
)
from luminad.providers.smart_turn import WORDS_END_P, WORDS_MAYBE_P, WORDS_SURE_P, TurnJudge
from luminad.settings import load_settings
from luminad.voice.session import VoiceSession
from tests.voice.fakes import (
    FakeLumina,
    Recorder,
    ScriptedLLM,
    ScriptedSTT,
    espeak,
    fake_engines,
)

RATE = 48000
QUESTION = "What is the weather like in Paris today?"


def make(tmp_path: Any, **engines: Any) -> tuple[VoiceSession, FakeLumina, Recorder, Any]:
    app = FakeLumina()
    rec = Recorder()
    eng = fake_engines(**engines)
    settings = load_settings({"LUMINA_HOME": str(tmp_path)})
    s = VoiceSession(app=app, engines=eng, settings=settings, send=rec)  # type: ignore[arg-type]
    s.tuning.audio_lead_s = 0.2
    s.tuning.prime_llm = False  # tests count LLM calls; priming has its own test
    return s, app, rec, eng


async def stream(
    s: VoiceSession, pcm: np.ndarray, *, rate: int = RATE, frame_ms: int = 20, realtime: float = 0.0
) -> None:
    """Feed ``pcm`` in frames; ``realtime`` 1.0 = real-time pace, 0 = as fast as possible."""
    n = rate * frame_ms // 1000
    for i in range(0, len(pcm), n):
        await s.feed_audio(pcm[i : i + n].astype("<i2").tobytes())
        await asyncio.sleep(frame_ms / 1000 * realtime)


def silence(seconds: float, rate: int = RATE) -> np.ndarray:
    return np.zeros(int(rate * seconds), dtype=np.int16)


def check_pairs(rec: Recorder) -> None:
    """Every tts_chunk header is followed immediately by its binary frame, and only then."""
    items = [m for _, m in rec.items]
    for i, m in enumerate(items):
        if isinstance(m, protocol.TtsChunk):
            assert isinstance(items[i + 1], bytes)
        if isinstance(m, bytes):
            assert isinstance(items[i - 1], protocol.TtsChunk)


async def test_text_turn_streams_reply_audio_and_stores(tmp_path: Any) -> None:
    s, app, rec, eng = make(tmp_path)
    ready = await s.start(protocol.Hello(client="test", sample_rate=RATE))
    assert ready.avatar.name == "Lumina" and ready.avatar.voice == "joe"
    await s.handle(protocol.Text(text="hello there"))
    await rec.wait_for(protocol.TurnTiming)
    types = rec.types()
    assert types[0] == "FinalTranscript"
    assert types.index("AssistantDelta") < types.index("TtsChunk")
    # audio starts before the LLM has finished writing
    first_chunk = types.index("TtsChunk")
    assert "AssistantDelta" in types[first_chunk:]
    assert types[-2:] == ["AssistantDone", "TurnTiming"]
    check_pairs(rec)
    done = rec.of(protocol.AssistantDone)[0]
    assert done.text == eng.llm.reply
    assert "".join(d.text for d in rec.of(protocol.AssistantDelta)) == eng.llm.reply
    chunks = rec.of(protocol.TtsChunk)
    assert [c.seq for c in chunks] == list(range(len(chunks)))
    assert " ".join(c.text for c in chunks if c.text) == eng.llm.reply
    assert eng.tts.spoken[0] == "It is sunny in Paris,"  # first clause early
    timing = rec.of(protocol.TurnTiming)[0]
    assert timing.voice_to_voice_ms is not None and timing.total_ms is not None
    assert timing.llm_first_token_ms is not None and timing.tts_first_audio_ms is not None
    await asyncio.sleep(0.05)
    assert app.calls == ["record_utterance", "complete_reply"]
    assert app.timings and "voice_to_voice_ms" in app.timings[0][1]
    # the next turn sees the first one as context
    await s.handle(protocol.Text(text="and tomorrow?"))
    await rec.wait_for(protocol.TurnTiming, 2)
    last = eng.llm.seen[-1]
    assert [m.content for m in last[-3:]] == ["hello there", eng.llm.reply, "and tomorrow?"]
    await s.close()


async def test_voice_turn_with_partials_and_endpoint(tmp_path: Any) -> None:
    s, app, rec, eng = make(tmp_path)
    s.tuning.partial_interval_s = 0.1
    await s.start(protocol.Hello(client="test", sample_rate=RATE))
    speech = espeak(QUESTION, RATE)
    t0 = asyncio.get_running_loop().time()
    await stream(s, np.concatenate([silence(0.3), speech]), realtime=1.0)
    t_speech_end = asyncio.get_running_loop().time()
    await stream(s, silence(1.0), realtime=1.0)
    await rec.wait_for(protocol.TurnTiming)
    partials = [(t, m) for t, m in rec.items if isinstance(m, protocol.PartialTranscript)]
    assert len([p for t, p in partials if t < t_speech_end]) >= 3 * (t_speech_end - t0 - 0.5)
    finals = rec.of(protocol.FinalTranscript)
    assert len(finals) == 1 and finals[0].text == eng.stt.final
    assert {p.turn_id for _, p in partials} == {finals[0].turn_id}
    vads = [m.state for m in rec.of(protocol.Vad)]
    assert vads[0] == "speech" and vads[-1] == "silence"
    timing = rec.of(protocol.TurnTiming)[0]
    # the endpoint waits the hangover (500 ms) after the end of speech
    assert 400 <= (timing.endpoint_ms or 0) <= 800
    assert timing.voice_to_voice_ms is not None
    # speculative start: the final pass ran before the endpoint, so audio follows it quickly
    assert timing.voice_to_voice_ms < (timing.endpoint_ms or 0) + 300
    assert app.conversations[s.conversation_id][0]["text"] == eng.stt.final  # type: ignore[index]
    await s.close()


async def test_pause_within_hangover_stays_one_turn(tmp_path: Any) -> None:
    s, app, rec, eng = make(tmp_path)
    await s.start(protocol.Hello(client="test", sample_rate=RATE))
    speech = espeak("Hello there", RATE)
    audio = np.concatenate([speech, silence(0.35), speech, silence(0.35), speech, silence(0.8)])
    await stream(s, audio, realtime=0.5)
    await rec.wait_for(protocol.TurnTiming)
    await asyncio.sleep(0.1)
    assert len(rec.of(protocol.FinalTranscript)) == 1
    assert eng.llm.started >= 1 and len(rec.of(protocol.AssistantDone)) == 1
    assert app.calls.count("record_utterance") == 1
    await s.close()


class HeardSound:
    """The judge's sound model: every utterance sounds complete; when it was asked (loop time)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.asked: list[float] = []

    def probability(self, pcm: np.ndarray) -> float:
        self.asked.append(self.loop.time())  # called in a worker thread
        return 0.95


class ReadWords:
    """The judge's words model: every statement reads with P(end of turn) ``p``; by default
    neither whole nor broken off, so only a sure sound ends one."""

    def __init__(self, p: float = WORDS_MAYBE_P) -> None:
        self.p = p

    def probability(self, text: str) -> float:
        return self.p


@pytest.mark.parametrize("words_p", [WORDS_MAYBE_P, WORDS_END_P])
async def test_the_sound_of_a_pause_is_judged_after_the_reply_began(
    tmp_path: Any, words_p: float
) -> None:
    """A statement the rules on the words do not decide, and the words' model reads neither as
    surely whole nor as broken off (at its lowest, or as probably whole), is judged with its
    sound, once the speculative reply has its first token: the model would take a core from the
    reply's prompt evaluation, and a thinking pause after a misheard half sentence has time to
    end. The verdict still ends the turn well before the long hangover."""
    sound = HeardSound(asyncio.get_running_loop())
    s, _app, rec, eng = make(
        tmp_path,
        stt=ScriptedSTT(final="Tell me a fun fact about octopuses."),
        llm=ScriptedLLM(delay=0.3),
        turn=TurnJudge(sound=sound, words=ReadWords(words_p)),  # type: ignore[arg-type]
    )
    await s.start(protocol.Hello(client="test", sample_rate=RATE))
    await stream(s, np.concatenate([espeak("Tell me a fun fact about octopuses.", RATE)]))
    await stream(s, silence(1.6), realtime=1.0)
    await rec.wait_for(protocol.TurnTiming)
    assert len(sound.asked) == 1 and len(eng.llm.first_words) == 1
    assert sound.asked[0] >= eng.llm.first_words[0]
    timing = rec.of(protocol.TurnTiming)[0]
    assert (timing.endpoint_ms or 0) < s.settings.turn_hangover_ms
    assert len(rec.of(protocol.FinalTranscript)) == 1
    await s.close()


class WholeWords:
    """The judge's words' model: every statement reads as surely whole, after ``seconds`` of
    work; when it answered (loop time)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        self.loop = loop
        self.seconds = seconds
        self.answered: list[float] = []

    def probability(self, text: str) -> float:
        time.sleep(self.seconds)  # called in a worker thread
        self.answered.append(self.loop.time())
        return WORDS_SURE_P


async def test_a_command_the_words_model_reads_whole_ends_before_the_reply_thinks(
    tmp_path: Any,
) -> None:
    """A command the rules leave open, read as surely whole by the words' model, ends at once:
    the user does not wait for the reply's first token, nor for the sound, which is not asked.
    The speculative reply waits for the words' model, so the two never share the cores."""
    loop = asyncio.get_running_loop()
    sound, words = HeardSound(loop), WholeWords(loop, 0.2)
    s, _app, rec, eng = make(
        tmp_path,
        stt=ScriptedSTT(final="Turn off the lights in the kitchen."),
        llm=ScriptedLLM(delay=0.3),
        turn=TurnJudge(sound=sound, words=words),  # type: ignore[arg-type]
    )
    await s.start(protocol.Hello(client="test", sample_rate=RATE))
    await stream(s, espeak("Turn off the lights in the kitchen.", RATE))
    await stream(s, silence(1.6), realtime=1.0)
    await rec.wait_for(protocol.TurnTiming)
    assert sound.asked == [] and len(words.answered) == 1
    assert len(eng.llm.first_words) == 1 and eng.llm.first_words[0] >= words.answered[0] + 0.3
    (final_at,) = [t for t, m in rec.items if isinstance(m, protocol.FinalTranscript)]
    assert final_at < eng.llm.first_words[0]  # the endpoint came before the reply's first word
    assert s.intake.judged == s.intake.judged_complete == 1
    await s.close()


class SlowSound(HeardSound):
    """A sound model slower than the long hangover (a loaded machine)."""

    def probability(self, pcm: np.ndarray) -> float:
        time.sleep(1.5)
        return super().probability(pcm)


async def test_a_judge_slower_than_the_hangover_is_counted_and_said(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Under load the judge may answer after the long hangover ended the turn: the user waited
    the whole hangover, and the log says why instead of nothing."""
    s, _app, rec, _eng = make(
        tmp_path,
        stt=ScriptedSTT(final="Tell me a fun fact about octopuses."),
        llm=ScriptedLLM(delay=0.3),
        turn=TurnJudge(sound=SlowSound(asyncio.get_running_loop()), words=ReadWords()),  # type: ignore[arg-type]
    )
    await s.start(protocol.Hello(client="test", sample_rate=RATE))
    with caplog.at_level(logging.INFO, logger="luminad.voice"):
        await stream(s, np.concatenate([espeak("Tell me a fun fact about octopuses.", RATE)]))
        await stream(s, silence(2.5), realtime=1.0)
        await rec.wait_for(protocol.TurnTiming)
        timing = rec.of(protocol.TurnTiming)[0]
        assert (timing.endpoint_ms or 0) >= s.settings.turn_hangover_ms  # the hangover decided
        await s.close()
    assert len(rec.of(protocol.FinalTranscript)) == 1
    said = caplog.text
    assert "the hangover ended the turn before the end-of-turn judge answered" in said
    assert "0 pauses judged, 0 of them complete, 1 ended by the hangover before" in said


async def test_end_message_ends_the_utterance(tmp_path: Any) -> None:
    s, _app, rec, eng = make(tmp_path)
    await s.start(protocol.Hello(client="test", sample_rate=16000))
    await stream(s, espeak(QUESTION, 16000), rate=16000)
    await s.handle(protocol.End())
    finals = await rec.wait_for(protocol.FinalTranscript)
    assert finals[0].text == eng.stt.final
    await rec.wait_for(protocol.TurnTiming)
    await s.close()


async def test_cancel_stops_generation_tts_and_stores_only_heard(tmp_path: Any) -> None:
    llm = ScriptedLLM(
        reply=" ".join(["Once upon a time, there was a very long story."] * 30), delay=0.01
    )
    s, app, rec, _eng = make(tmp_path, llm=llm)
    await s.start(protocol.Hello(client="test", sample_rate=RATE))
    await s.handle(protocol.Text(text="tell me a story"))
    await rec.wait_for(protocol.TtsChunk, 2)
    t_cancel = asyncio.get_running_loop().time()
    await s.handle(protocol.Cancel(reason="user"))
    cancelled = rec.of(protocol.Cancelled)
    assert len(cancelled) == 1 and cancelled[0].reason == "user"
    frames_before = [t for t, m in rec.items if isinstance(m, bytes)]
    assert frames_before[-1] - t_cancel < 0.1
    sent_text = " ".join(c.text for c in rec.of(protocol.TtsChunk) if c.text)
    assert cancelled[0].heard_text == sent_text
    assert cancelled[0].heard_text and len(cancelled[0].heard_text) < len(llm.reply)
    await asyncio.sleep(0.3)
    assert [t for t, m in rec.items if isinstance(m, bytes)] == frames_before  # nothing after
    assert rec.types()[-1] == "Cancelled"
    assert llm.closed == 1  # generation stopped
    assert not rec.of(protocol.AssistantDone)
    assert app.calls == ["record_utterance", "interrupt_reply:user"]
    conv = app.conversations[s.conversation_id]  # type: ignore[index]
    assert conv[-1]["text"] == cancelled[0].heard_text and conv[-1]["int"]
    # the next turn's context has only what was heard
    await s.handle(protocol.Text(text="go on"))
    await rec.wait_for(protocol.TtsChunk, len(rec.of(protocol.TtsChunk)) + 1)
    assert llm.seen[-1][-2].content == cancelled[0].heard_text
    await s.close()
    assert app.calls[-1] == "interrupt_reply:disconnect"


async def test_speaking_during_reply_barges_in(tmp_path: Any) -> None:
    llm = ScriptedLLM(reply=" ".join(["This reply goes on and on."] * 40), delay=0.01)
    s, app, rec, _eng = make(tmp_path, llm=llm)
    await s.start(protocol.Hello(client="test", sample_rate=RATE))
    await s.handle(protocol.Text(text="talk"))
    await rec.wait_for(protocol.TtsChunk, 2)
    await stream(s, espeak("Stop please", RATE), realtime=0.3)
    cancelled = await rec.wait_for(protocol.Cancelled)
    assert cancelled[0].reason == "barge_in"
    await stream(s, silence(0.8), realtime=0.3)
    finals = await rec.wait_for(protocol.FinalTranscript, 2)
    assert finals[-1].turn_id != cancelled[0].turn_id
    await rec.wait_for(protocol.TurnTiming)
    assert "interrupt_reply:barge_in" in app.calls
    await s.close()


async def test_tts_off_sends_no_audio(tmp_path: Any) -> None:
    s, _app, rec, _eng = make(tmp_path)
    await s.start(protocol.Hello(client="test", sample_rate=RATE, tts=False))
    await s.handle(protocol.Text(text="hi"))
    await rec.wait_for(protocol.TurnTiming)
    assert not rec.of(protocol.TtsChunk) and not [m for _, m in rec.items if isinstance(m, bytes)]
    await s.handle(protocol.Config(tts=True, voice="other"))
    await s.handle(protocol.Text(text="hi"))
    await rec.wait_for(protocol.TurnTiming, 2)
    assert rec.of(protocol.TtsChunk)
    await s.close()


@pytest.mark.parametrize(
    ("engine", "exc", "code"),
    [
        ("stt", SttUnavailable("no whisper"), "stt_unavailable"),
        ("stt", RuntimeError("boom"), "stt_unavailable"),
        ("llm", LlmUnavailable("no ollama"), "llm_unavailable"),
        ("llm", RuntimeError("boom"), "llm_unavailable"),
        ("tts", TtsUnavailable("no piper"), "tts_unavailable"),
        ("tts", RuntimeError("boom"), "tts_unavailable"),
    ],
)
async def test_engine_errors_answer_error_and_session_goes_on(
    tmp_path: Any, engine: str, exc: Exception, code: str
) -> None:
    s, _app, rec, eng = make(tmp_path)
    await s.start(protocol.Hello(client="test", sample_rate=16000))
    getattr(eng, engine).fail = exc
    await stream(s, espeak(QUESTION, 16000), rate=16000)
    await s.handle(protocol.End())
    errors = await rec.wait_for(protocol.Error)
    assert errors[0].code == code and errors[0].turn_id
    getattr(eng, engine).fail = None
    n = len(rec.of(protocol.TurnTiming))
    await s.handle(protocol.Text(text="still there?"))
    await rec.wait_for(protocol.TurnTiming, n + 1)
    await s.handle(protocol.Ping(nonce="x"))
    assert rec.of(protocol.Pong)[-1].nonce == "x"
    await s.close()


async def test_local_intents_act_without_the_model(tmp_path: Any) -> None:
    s, app, rec, eng = make(tmp_path)
    await s.start(protocol.Hello(client="test", sample_rate=RATE))
    await s.handle(protocol.Text(text="Remember that I like green tea."))
    (written,) = await rec.wait_for(protocol.MemoryWritten)
    assert written.text == "I like green tea."
    (done,) = await rec.wait_for(protocol.AssistantDone)
    assert done.text == "Okay, I'll remember that."
    (call,) = rec.of(protocol.ToolCall)
    assert call.name == "remember" and call.turn_id == done.turn_id and call.ok
    await rec.wait_for(protocol.TurnTiming, 1)
    await s.handle(protocol.Text(text="My name is Ada."))
    await rec.wait_for(protocol.TurnTiming, 2)
    assert app.preferred_name == "Ada"
    assert eng.llm.started == 0  # both were local intents: no model ran
    # not a name, not a memory: the model answers, nothing is stored
    await s.handle(protocol.Text(text="Can you call me back later?"))
    await rec.wait_for(protocol.TurnTiming, 3)
    await s.handle(protocol.Text(text="Do you remember what I told you yesterday?"))
    await rec.wait_for(protocol.TurnTiming, 4)
    assert app.preferred_name == "Ada" and len(app.memories) == 1
    assert eng.llm.started == 2
    # memories come back into the context of a related question
    await s.handle(protocol.Text(text="what tea do I like?"))
    await rec.wait_for(protocol.TurnTiming, 5)
    assert "You like green tea." in eng.llm.seen[-1][-1].content  # recalled, said to the user
    assert app.calls.count("call_tool:remember") == 1
    await s.close()


async def test_bad_input_answers_errors_and_keeps_going(tmp_path: Any) -> None:
    s, _app, rec, _eng = make(tmp_path)
    with pytest.raises(BadMessage):
        await s.feed_audio(b"\0\0")  # before hello
    with pytest.raises(UnsupportedProtocol):
        await s.start(protocol.Hello(protocol=2))
    with pytest.raises(BadMessage):
        await s.start(protocol.Hello(sample_rate=4000))
    with pytest.raises(AvatarNotFound):
        await s.start(protocol.Hello(avatar_id="00000000-0000-0000-0000-000000000000"))
    with pytest.raises(ConversationNotFound):
        await s.start(protocol.Hello(conversation_id="00000000-0000-0000-0000-000000000000"))
    with pytest.raises(BadMessage):
        await s.start(protocol.Hello(conversation_id="nope"))
    await s.start(protocol.Hello(sample_rate=RATE))
    for bad in (b"", b"\x01", b"\x01\x02\x03"):
        with pytest.raises(BadMessage):
            await s.feed_audio(bad)
    with pytest.raises(BadMessage):
        await s.handle(
            protocol.Audio(pcm16_b64=base64.b64encode(b"\0\0").decode(), sample_rate=16000)
        )
    with pytest.raises(BadMessage):
        await s.handle(protocol.Hello())
    await s.handle(protocol.Audio(pcm16_b64=base64.b64encode(b"\0\0" * 480).decode()))
    await s.handle(protocol.Ping(nonce="1"))
    assert rec.of(protocol.Pong)
    await s.close()


async def test_congested_audio_is_dropped_and_counted_control_still_answers(
    tmp_path: Any,
) -> None:
    s, _app, rec, _eng = make(tmp_path)
    await s.start(protocol.Hello(sample_rate=RATE))
    frame = np.zeros(960, dtype="<i2").tobytes()
    for _ in range(500):  # the listen loop gets no turn to run: the queue fills up
        await s.feed_audio(frame)
    assert s.intake.dropped == 500 - 128
    await s.handle(protocol.Ping(nonce="p"))
    assert rec.of(protocol.Pong)[0].nonce == "p"
    errors = await rec.wait_for(protocol.Error)
    assert [e.code for e in errors] == ["rate_limited"]  # once per congested spell
    await s.close()


async def test_resume_replays_history(tmp_path: Any) -> None:
    s, app, rec, eng = make(tmp_path)
    await s.start(protocol.Hello(sample_rate=RATE))
    await s.handle(protocol.Text(text="first"))
    await rec.wait_for(protocol.TurnTiming)
    await asyncio.sleep(0.05)
    await s.close()
    s2 = VoiceSession(app=app, engines=eng, settings=s.settings, send=Recorder())  # type: ignore[arg-type]
    ready = await s2.start(protocol.Hello(sample_rate=RATE, conversation_id=str(s.conversation_id)))
    assert ready.conversation_id == str(s.conversation_id)
    assert [(h.role, h.text) for h in ready.history] == [
        ("user", "first"),
        ("assistant", eng.llm.reply),
    ]
    await s2.close()


async def test_store_refusal_answers_error_and_session_goes_on(tmp_path: Any) -> None:
    s, app, rec, _eng = make(tmp_path)
    await s.start(protocol.Hello(sample_rate=RATE))
    real = app.record_utterance

    def refuse(*a: Any, **kw: Any) -> Any:
        raise ConversationNotFound("gone")

    app.record_utterance = refuse  # type: ignore[method-assign]
    await s.handle(protocol.Text(text="hello"))
    errors = await rec.wait_for(protocol.Error)
    assert errors[0].code == "conversation_not_found"
    app.record_utterance = real  # type: ignore[method-assign]
    await s.handle(protocol.Text(text="hello again"))
    await rec.wait_for(protocol.TurnTiming)
    await s.close()


async def test_never_two_replies_at_once(tmp_path: Any) -> None:
    llm = ScriptedLLM(reply=" ".join(["A long typed answer goes on."] * 40), delay=0.01)
    s, _app, rec, _eng = make(tmp_path, llm=llm)
    await s.start(protocol.Hello(sample_rate=RATE))
    speech = espeak(QUESTION, RATE)
    half = len(speech) // 2
    await stream(s, speech[:half], realtime=0.5)
    await s.handle(protocol.Text(text="typed while speaking"))  # a reply starts mid-utterance
    await rec.wait_for(protocol.TtsChunk)
    await stream(s, np.concatenate([speech[half:], silence(0.8)]), realtime=0.5)
    cancelled = await rec.wait_for(protocol.Cancelled)
    finals = await rec.wait_for(protocol.FinalTranscript, 2)
    assert cancelled[0].turn_id == finals[0].turn_id  # the typed turn was interrupted
    await rec.wait_for(protocol.TtsChunk, len(rec.of(protocol.TtsChunk)) + 1)
    turns = {c.turn_id for c in rec.of(protocol.TtsChunk)}
    assert turns == {finals[0].turn_id, finals[1].turn_id}
    # after the cancel, only the voice turn's audio is sent
    t_cancel = next(t for t, m in rec.items if isinstance(m, protocol.Cancelled))
    late = [m for t, m in rec.items if isinstance(m, protocol.TtsChunk) and t > t_cancel]
    assert {m.turn_id for m in late} == {finals[1].turn_id}
    await s.close()


async def test_llm_is_primed_with_the_persona_at_start(tmp_path: Any) -> None:
    llm = ScriptedLLM()
    app = FakeLumina()
    s = VoiceSession(
        app=app,  # type: ignore[arg-type]
        engines=fake_engines(llm=llm),  # type: ignore[arg-type]
        settings=load_settings({"LUMINA_HOME": str(tmp_path)}),
        send=Recorder(),
    )
    await s.start(protocol.Hello(sample_rate=RATE))
    for _ in range(100):
        if llm.closed:
            break
        await asyncio.sleep(0.01)
    assert llm.started == 1 and llm.closed == 1  # one token read, then the stream is closed
    assert "You are Lumina." in llm.seen[0][0].content
    await s.close()


async def test_typed_turns_back_to_back_keep_every_word(tmp_path: Any) -> None:
    llm = ScriptedLLM(reply="A reply that takes a little while to write out.", delay=0.01)
    s, app, rec, _eng = make(tmp_path, llm=llm)
    await s.start(protocol.Hello(sample_rate=RATE))
    texts = [f"typed message number {i}" for i in range(60)]
    for text in texts:
        await s.handle(protocol.Text(text=text))
    await rec.wait_for(protocol.TurnTiming)  # the last one runs to its end
    await asyncio.sleep(0.1)
    conv = app.conversations[s.conversation_id]  # type: ignore[index]
    users = [t for t in conv if t["role"] == "user"]
    assert [t["text"] for t in users] == texts
    replies = {t["turn_id"]: t for t in conv if t["role"] == "assistant"}
    assert set(replies) == {t["turn_id"] for t in users}  # each answered or marked interrupted
    assert all(r["int"] for tid, r in replies.items() if tid != users[-1]["turn_id"])
    assert not replies[users[-1]["turn_id"]]["int"]
    # every turn counted: 59 interrupted and one completed timing
    outcomes = [o for _, _, o in app.timings]
    assert outcomes.count("interrupted") == 59 and outcomes.count("completed") == 1
    await s.close()


async def test_cancelled_turn_is_timed_and_marked_interrupted(tmp_path: Any) -> None:
    llm = ScriptedLLM(reply=" ".join(["A long story goes on and on."] * 30), delay=0.01)
    s, app, rec, _eng = make(tmp_path, llm=llm)
    await s.start(protocol.Hello(sample_rate=RATE))
    await s.handle(protocol.Text(text="tell me a story"))
    await rec.wait_for(protocol.TtsChunk, 2)
    await s.handle(protocol.Cancel(reason="user"))
    assert len(app.timings) == 1
    turn_id, timings, outcome = app.timings[0]
    assert outcome == "interrupted"
    assert str(turn_id) == rec.of(protocol.Cancelled)[0].turn_id
    assert timings["voice_to_voice_ms"] <= timings.get("total_ms", float("inf"))
    assert not rec.of(protocol.TurnTiming)  # the client was told `cancelled` instead
    await s.close()


async def test_failed_reply_is_timed_and_marked_failed(tmp_path: Any) -> None:
    s, app, rec, eng = make(tmp_path)
    await s.start(protocol.Hello(sample_rate=RATE))
    eng.llm.fail = LlmUnavailable("no model")
    await s.handle(protocol.Text(text="hello"))
    await rec.wait_for(protocol.TurnTiming)
    assert [o for _, _, o in app.timings] == ["failed"]
    await s.close()
