from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import numpy as np
import pytest
import soxr

from luminad.errors import ModelMissing
from luminad.providers.base import AudioChunk, TextToSpeech
from luminad.providers.piper import PiperTTS, bundled_voice_path, split_sentences
from luminad.providers.whisper import WhisperSTT
from tests.support.speech import wer


@pytest.fixture(scope="module")
def tts() -> PiperTTS:
    return PiperTTS()


def test_split_sentences() -> None:
    assert split_sentences("Hi there. How are you?\nFine!  ") == [
        "Hi there.",
        "How are you?",
        "Fine!",
    ]
    assert split_sentences("   ") == []
    assert split_sentences('He said "stop." Then left.') == ['He said "stop."', "Then left."]


async def test_one_chunk_per_sentence_at_voice_rate(tts: PiperTTS) -> None:
    assert isinstance(tts, TextToSpeech)
    chunks = [c async for c in tts.synthesize("Hello there. This is the second sentence!")]
    assert [c.text for c in chunks] == ["Hello there.", "This is the second sentence!"]
    assert all(c.sample_rate == 22050 == tts.sample_rate for c in chunks)
    assert all(0.3 < c.duration_s < 5 for c in chunks)
    assert tts.last_first_chunk_ms > 0


async def test_piper_speech_is_understood_by_whisper(tts: PiperTTS, tiny_stt: WhisperSTT) -> None:
    text = "The meeting with the design team starts at nine in the morning."
    chunks = [c async for c in tts.synthesize(text)]
    pcm = np.frombuffer(b"".join(c.pcm for c in chunks), dtype="<i2")
    pcm16k = soxr.resample(pcm.astype(np.float32) / 32768, chunks[0].sample_rate, 16000)
    hyp = await tiny_stt.transcribe((pcm16k * 32767).astype(np.int16))
    assert wer(text, hyp) <= 0.25, hyp


async def test_voice_by_path_and_listing(tts: PiperTTS, tmp_path: Path) -> None:
    src = bundled_voice_path()
    dst = tmp_path / "en_US-copy-medium.onnx"
    dst.symlink_to(src)
    shutil.copy(f"{src}.json", f"{dst}.json")
    other = PiperTTS(str(dst), voice_dirs=[tmp_path])
    ids = {v.id for v in other.voices()}
    assert {"joe", "en_US-copy-medium"} <= ids
    chunks = [c async for c in other.synthesize("Testing a voice by path.", voice=str(dst))]
    assert len(chunks) == 1 and chunks[0].pcm
    by_id = [c async for c in other.synthesize("By id.", voice="en_US-copy-medium")]
    assert by_id and by_id[0].sample_rate == 22050
    health = await other.health()
    assert health.ok and health.model == "en_US-copy-medium"


async def test_unknown_voice_is_a_clear_error(tts: PiperTTS) -> None:
    with pytest.raises(ModelMissing) as exc:
        async for _ in tts.synthesize("hello", voice="no-such-voice"):
            pass
    assert exc.value.action


async def test_cancel_stops_between_sentences(
    tts: PiperTTS, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = tts.synthesize_sentence_sync

    def counting(sentence: str, voice: str | None = None) -> AudioChunk:
        calls.append(sentence)
        return real(sentence, voice)

    monkeypatch.setattr(tts, "synthesize_sentence_sync", counting)
    text = " ".join(f"This is sentence number {i}." for i in range(10))

    async def consume() -> None:
        async for _ in tts.synthesize(text):
            await asyncio.sleep(10)  # the consumer is slow: cancelled while holding chunk one

    task = asyncio.create_task(consume())
    for _ in range(500):  # wait for the first sentence to start
        if calls:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.3)
    assert len(calls) == 1
