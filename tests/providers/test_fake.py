from __future__ import annotations

import asyncio

import numpy as np

from luminad.providers.base import ChatModel, Embedder, SpeechToText, TextToSpeech, stream_text
from tests.support.fakes import FakeEmbedder, FakeLLM, FakeSTT, FakeTTS, fake_engines


async def test_fakes_follow_the_protocols() -> None:
    engines = fake_engines(transcripts=["hello there"], replies=["Hi. How are you?"])
    assert isinstance(engines.stt, SpeechToText) and isinstance(engines.llm, ChatModel)
    assert isinstance(engines.tts, TextToSpeech) and isinstance(engines.embedder, Embedder)
    assert await engines.stt.transcribe(np.zeros(10, np.int16), partial=True) == "hello there"
    assert await engines.stt.transcribe(np.zeros(10, np.int16)) == "hello there"
    deltas = [d async for d in stream_text(engines.llm, "hi", max_tokens=20)]
    assert "".join(deltas) == "Hi. How are you?" and len(deltas) == 4
    chunks = [c async for c in engines.tts.synthesize("Hi. How are you?")]
    assert [c.text for c in chunks] == ["Hi.", "How are you?"]


def test_fake_embedder_is_deterministic_and_normalised() -> None:
    emb = FakeEmbedder()
    a, b, c = emb.embed(["green tea", "green tea", "red wine"])
    assert np.allclose(a, b) and abs(float(np.linalg.norm(a)) - 1) < 1e-6
    assert float(a @ c) < 0.99


async def test_fake_llm_counts_tokens_and_stops() -> None:
    llm = FakeLLM(["one two three four five"], delay_s=0)
    stream = stream_text(llm, "x", max_tokens=20)
    async for _ in stream:
        break
    await stream.aclose()  # type: ignore[attr-defined]
    await asyncio.sleep(0.05)
    assert llm.tokens_generated == 1
    assert FakeSTT(default="x").default == "x" and FakeTTS().sample_rate == 16000
