"""Builds the engines from Settings: the entry point of the providers.

- :func:`load_engines`: STT (whisper.cpp, converting the bundled weights on first use), TTS
  (Piper), LLM (``auto``/``embedded``/``ollama``/``openai``, see :mod:`.llm_choice`),
  embeddings (CORE's MiniLM), the end-of-turn judge (:mod:`.smart_turn`) and the optional web
  search; reports progress through a callback.
- :func:`prepare_models` (:mod:`.prepare`): ``luminad prepare-models``.
- :func:`check_health` (:mod:`.health`): every engine's health, optionally deep.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np

from luminad.errors import ModelMissing
from luminad.providers.base import (
    STT_SAMPLE_RATE,
    ChatModel,
    Embedder,
    ProgressFn,
    SpeechToText,
    TextToSpeech,
    WebSearch,
    close_engine,
    no_progress,
    stream_text,
)
from luminad.providers.blocking import run_blocking
from luminad.providers.health import check_health
from luminad.providers.llm_choice import AutoChat, load_llm
from luminad.providers.prepare import prepare_models
from luminad.providers.smart_turn import SmartTurn, TurnJudge
from luminad.providers.speech_setup import ensure_verified, load_stt, load_tts
from luminad.providers.text_turn import TextTurn
from luminad.providers.threads import quiet_blas
from luminad.settings import Settings

__all__ = [
    "AutoChat",
    "Engines",
    "check_health",
    "load_engines",
    "load_llm",
    "load_turn_judge",
    "prepare_models",
    "warm_up",
]


@dataclass
class Engines:
    """The loaded engines (one instance each, shared by all sessions)."""

    stt: SpeechToText
    llm: ChatModel
    tts: TextToSpeech
    embedder: Embedder
    search: WebSearch | None = None
    #: The end-of-turn judge (``end_of_turn=smart``); None: silence alone ends a turn.
    turn: TurnJudge | None = None
    #: How the LLM was chosen (``auto`` explains its pick here).
    llm_choice: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)

    def close(self) -> None:
        """Free the native models (whisper.cpp, llama.cpp, the end of turn's words model)."""
        for engine in (self.stt, self.llm, self.turn.words if self.turn else None):
            close_engine(engine)


async def warm_up(stt: SpeechToText, tts: TextToSpeech, llm: ChatModel) -> None:
    """One tiny call per local engine, so the first real turn does not pay first-call costs."""
    async for _ in tts.synthesize("Hello."):
        pass
    await stt.transcribe(np.zeros(STT_SAMPLE_RATE, dtype=np.int16), partial=True)
    if llm.name == "embedded":
        async for _ in stream_text(llm, "Hi", max_tokens=1):
            pass
        if not llm.tool_calling:  # its implicit-fact extraction runs aside: load that now,
            await asyncio.to_thread(llm.aside)  # not during the user's next utterance


def load_engines(settings: Settings, progress: ProgressFn | None = None) -> Engines:
    """Load every engine (sync, heavy: run it in a thread from async code).

    Safe to call with an event loop running (the warm-up then runs on its own loop in a
    worker thread), but it blocks that loop for the whole load.
    """
    report = progress or no_progress
    timings: dict[str, float] = {}
    quiet_blas()

    def timed(stage: str, t0: float) -> None:
        timings[stage] = round((time.perf_counter() - t0) * 1000, 1)
        report(stage, 1.0, f"{stage} ready in {timings[stage] / 1000:.1f} s")

    t = time.perf_counter()
    report("tts", None, f"loading Piper voice {settings.tts_voice}")
    tts = load_tts(settings)
    timed("tts", t)

    t = time.perf_counter()
    stt = load_stt(settings, report)
    ensure_verified(settings, stt, tts, report)
    timed("stt", t)

    t = time.perf_counter()
    llm, choice = load_llm(settings, report)
    timed("llm", t)

    from luminad.providers.embeddings import MiniLmEmbedder

    t = time.perf_counter()
    report("embeddings", None, "loading the embedding model")
    embedder = MiniLmEmbedder()
    timed("embeddings", t)

    t = time.perf_counter()
    report("warmup", None, "warming up speech, voice and language model")
    run_blocking(warm_up(stt, tts, llm))
    timed("warmup", t)

    t = time.perf_counter()
    turn = load_turn_judge(settings)
    if turn is not None:
        turn.sound.probability(np.zeros(STT_SAMPLE_RATE, dtype=np.int16))  # warm-ups
        turn.words.probability("hello")
        timed("turn", t)

    search: WebSearch | None = None
    if settings.search_url:
        from luminad.providers.search import SearxngSearch

        search = SearxngSearch(settings.search_url)
    return Engines(
        stt=stt, llm=llm, tts=tts, embedder=embedder, search=search, turn=turn,
        llm_choice=choice, timings_ms=timings,
    )  # fmt: skip


def load_turn_judge(settings: Settings) -> TurnJudge | None:
    """The end-of-turn judge for ``end_of_turn=smart`` (the smart-turn model and the words'
    model); None for ``silence``."""
    choice = settings.end_of_turn.strip().lower()
    if choice == "silence":
        return None
    if choice != "smart":
        raise ModelMissing(
            f"LUMINA_END_OF_TURN={settings.end_of_turn!r} is neither smart nor silence",
            action="Set LUMINA_END_OF_TURN to smart (the default) or silence.",
        )
    return TurnJudge(SmartTurn(), TextTurn())
