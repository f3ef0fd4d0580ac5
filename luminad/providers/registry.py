"""Builds the engines from Settings, prepares models, and checks their health.

- :func:`load_engines`: STT (whisper.cpp, converting the bundled weights on first use), TTS
  (Piper), LLM (``auto``/``embedded``/``ollama``/``openai``), embeddings (CORE's MiniLM) and
  the optional web search; reports progress through a callback.
- :func:`prepare_models`: ``luminad prepare-models`` (install.sh): convert and verify whisper,
  check every other model loads; progress on the console; exit code.
- :func:`check_health`: every engine's health; ``deep`` makes Piper say a fixed sentence and
  whisper transcribe it (word error rate), times each engine on real work.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import numpy as np

from luminad import protocol
from luminad.errors import LuminaError, SttUnavailable
from luminad.protocol import EngineHealth
from luminad.providers.base import (
    STT_SAMPLE_RATE,
    ChatMessage,
    ChatModel,
    Embedder,
    SpeechToText,
    TextToSpeech,
    WebSearch,
)
from luminad.providers.wer import wer
from luminad.settings import Settings

ProgressFn = Callable[[str, float | None, str], None]

#: What Piper says and whisper must hear, for model verification and the deep health check.
CHECK_SENTENCE = "The weather is lovely today, so let us go for a walk in the park."
#: Verification fails above this word error rate.
MAX_VERIFY_WER = 0.34
HEALTH_TIMEOUT_S = 5.0


def _nothing(stage: str, fraction: float | None, message: str) -> None:
    return None


@dataclass
class Engines:
    """The loaded engines (one instance each, shared by all sessions)."""

    stt: SpeechToText
    llm: ChatModel
    tts: TextToSpeech
    embedder: Embedder
    search: WebSearch | None = None
    #: How the LLM was chosen (``auto`` explains its pick here).
    llm_choice: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)

    def close(self) -> None:
        for engine in (self.stt, self.llm):
            close = getattr(engine, "close", None)
            if callable(close):
                close()


# ---------------------------------------------------------------------------------- LLM
class AutoChat:
    """``LUMINA_LLM=auto``: the chosen provider, plus why it was chosen (for health)."""

    def __init__(self, inner: ChatModel, reason: str) -> None:
        self.inner = inner
        self.reason = reason
        self.name = inner.name
        self.model = inner.model

    def stream_chat(
        self, messages: Sequence[ChatMessage], *, max_tokens: int = 200
    ) -> AsyncIterator[str]:
        return self.inner.stream_chat(messages, max_tokens=max_tokens)

    async def health(self) -> EngineHealth:
        h = await self.inner.health()
        return msgspec.structs.replace(
            h, detail=f"auto -> {self.inner.name}: {self.reason}; {h.detail}"
        )

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()


def load_embedded(settings: Settings) -> ChatModel:
    from luminad.providers.llamacpp import EmbeddedLLM, resolve_gguf

    return EmbeddedLLM(resolve_gguf(settings.embedded_model), threads=settings.stt_threads)


def load_llm(settings: Settings, progress: ProgressFn = _nothing) -> tuple[ChatModel, str]:
    """The chat model of ``settings.llm`` and a sentence saying what was chosen."""
    choice = settings.llm.strip().lower()
    if choice == "embedded":
        progress("llm", None, "loading the embedded model")
        llm = load_embedded(settings)
        return llm, f"embedded {llm.model}"
    if choice == "ollama":
        from luminad.providers.ollama import OllamaChat

        return OllamaChat(
            settings.ollama_host, settings.llm_model
        ), f"ollama {settings.ollama_host}"
    if choice == "openai":
        from luminad.providers.openai_compat import OpenAIChat

        llm_o = OpenAIChat(
            settings.openai_base_url, settings.llm_model, api_key=settings.openai_api_key
        )
        return llm_o, f"openai {settings.openai_base_url}"
    if choice != "auto":
        raise LuminaError(
            f"unknown LLM provider {settings.llm!r}",
            action="Set LUMINA_LLM to auto, embedded, ollama or openai.",
        )
    from luminad.providers.ollama import OllamaChat, probe_ollama

    progress("llm", None, f"looking for Ollama at {settings.ollama_host}")
    _reachable, has, _names, detail = probe_ollama(settings.ollama_host, settings.llm_model)
    if has:
        return AutoChat(OllamaChat(settings.ollama_host, settings.llm_model), detail), detail
    progress("llm", None, f"{detail}: loading the embedded model")
    reason = f"{detail}, using the embedded model"
    return AutoChat(load_embedded(settings), reason), reason


# ---------------------------------------------------------------------------------- STT
def _verify_stamp(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def verify_whisper(
    stt: SpeechToText, tts: TextToSpeech, *, sentence: str = CHECK_SENTENCE
) -> tuple[float, str, dict[str, float]]:
    """Piper says ``sentence``, whisper transcribes it: (WER, transcript, timings ms)."""
    return asyncio.run(speak_and_listen(stt, tts, sentence))


async def speak_and_listen(
    stt: SpeechToText, tts: TextToSpeech, sentence: str = CHECK_SENTENCE
) -> tuple[float, str, dict[str, float]]:
    import soxr

    t0 = time.perf_counter()
    first_ms = 0.0
    pcm_parts: list[bytes] = []
    rate = STT_SAMPLE_RATE
    async for chunk in tts.synthesize(sentence):
        if not pcm_parts:
            first_ms = (time.perf_counter() - t0) * 1000
        pcm_parts.append(chunk.pcm)
        rate = chunk.sample_rate
    tts_ms = (time.perf_counter() - t0) * 1000
    audio = np.frombuffer(b"".join(pcm_parts), dtype="<i2").astype(np.float32) / 32768.0
    if rate != STT_SAMPLE_RATE:
        audio = soxr.resample(audio, rate, STT_SAMPLE_RATE)
    pcm16 = np.clip(audio * 32768.0, -32768, 32767).astype(np.int16)
    t1 = time.perf_counter()
    text = await stt.transcribe(pcm16)
    stt_ms = (time.perf_counter() - t1) * 1000
    timings = {
        "tts_first_chunk_ms": round(first_ms, 1),
        "tts_ms": round(tts_ms, 1),
        "audio_ms": round(len(pcm16) / STT_SAMPLE_RATE * 1000, 1),
        "stt_ms": round(stt_ms, 1),
    }
    return wer(sentence, text), text, timings


def load_stt(settings: Settings, progress: ProgressFn = _nothing) -> SpeechToText:
    from luminad.providers.whisper import WhisperSTT, ensure_ggml, whisper_source

    source = whisper_source(settings)
    path = ensure_ggml(source, progress)
    progress(f"stt:{source.name}", None, f"loading whisper {source.name}")
    return WhisperSTT(path, model=source.name, threads=settings.stt_threads)


def ensure_verified(
    settings: Settings, stt: SpeechToText, tts: TextToSpeech, progress: ProgressFn = _nothing
) -> float:
    """Verify a converted whisper model once (cached stamp); a bad conversion is deleted."""
    path: Path | None = getattr(stt, "model_path", None)
    if path is None:
        return 0.0
    stamp = _verify_stamp(path)
    size = path.stat().st_size
    try:
        data = json.loads(stamp.read_text())
        if data.get("size") == size:
            return float(data.get("wer", 0.0))
    except (OSError, ValueError):
        pass
    progress("stt:verify", None, f"checking whisper: Piper says {CHECK_SENTENCE!r}")
    error, text, timings = verify_whisper(stt, tts)
    progress("stt:verify", 1.0, f"whisper heard {text!r} (WER {error:.2f})")
    bundled = path.parent == settings.models_cache_dir
    if error > MAX_VERIFY_WER:
        if bundled:
            path.unlink(missing_ok=True)
        raise SttUnavailable(
            f"whisper model {path.name} failed its check: heard {text!r} (WER {error:.2f})",
            action="Run `luminad prepare-models` again; if it still fails, set "
            "LUMINA_STT_MODEL to a whisper.cpp ggml file.",
        )
    stamp.write_text(json.dumps({"size": size, "wer": error, "heard": text, **timings}))
    return error


# ---------------------------------------------------------------------------------- load
async def warm_up(stt: SpeechToText, tts: TextToSpeech, llm: ChatModel) -> None:
    """One tiny call per local engine, so the first real turn does not pay first-call costs."""
    async for _ in tts.synthesize("Hello."):
        pass
    await stt.transcribe(np.zeros(STT_SAMPLE_RATE, dtype=np.int16), partial=True)
    inner = getattr(llm, "inner", llm)
    if getattr(inner, "name", "") == "embedded":
        async for _ in llm.stream_chat([ChatMessage("user", "Hi")], max_tokens=1):
            pass


def load_engines(settings: Settings, progress: ProgressFn | None = None) -> Engines:
    """Load every engine (sync, heavy: run it in a thread from async code)."""
    report = progress or _nothing
    timings: dict[str, float] = {}

    def timed(stage: str, t0: float) -> None:
        timings[stage] = round((time.perf_counter() - t0) * 1000, 1)
        report(stage, 1.0, f"{stage} ready in {timings[stage] / 1000:.1f} s")

    from luminad.providers.piper import PiperTTS

    t = time.perf_counter()
    report("tts", None, f"loading Piper voice {settings.tts_voice}")
    tts = PiperTTS(
        settings.tts_voice, voice_dirs=[settings.data_dir / "voices"], threads=settings.stt_threads
    )
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
    asyncio.run(warm_up(stt, tts, llm))
    timed("warmup", t)

    search: WebSearch | None = None
    if settings.search_url:
        from luminad.providers.search import SearxngSearch

        search = SearxngSearch(settings.search_url)
    return Engines(
        stt=stt, llm=llm, tts=tts, embedder=embedder, search=search, llm_choice=choice,
        timings_ms=timings,
    )  # fmt: skip


# ---------------------------------------------------------------------------------- prepare
def _console_progress(stage: str, fraction: float | None, message: str) -> None:
    pct = f"{fraction * 100:3.0f}% " if fraction is not None else "     "
    print(f"[{stage:>14}] {pct}{message}", file=sys.stderr, flush=True)


def prepare_models(settings: Settings, progress: ProgressFn | None = None) -> int:
    """``luminad prepare-models``: convert + verify whisper, check the other models load.

    Idempotent and fast when everything is cached. Returns a process exit code.
    """
    report = progress or _console_progress
    failures: list[str] = []
    settings.models_cache_dir.mkdir(parents=True, exist_ok=True)
    tts: TextToSpeech | None = None
    try:
        from luminad.providers.piper import PiperTTS

        report("tts", None, f"loading Piper voice {settings.tts_voice}")
        tts = PiperTTS(
            settings.tts_voice,
            voice_dirs=[settings.data_dir / "voices"],
            threads=settings.stt_threads,
        )
        report("tts", 1.0, "Piper voice ok")
    except LuminaError as exc:
        failures.append(f"TTS: {exc.message}" + (f" -> {exc.action}" if exc.action else ""))
    try:
        stt = load_stt(settings, report)
        if tts is not None:
            error = ensure_verified(settings, stt, tts, report)
            report("stt", 1.0, f"whisper ok (check WER {error:.2f})")
        close = getattr(stt, "close", None)
        if callable(close):
            close()
    except LuminaError as exc:
        failures.append(f"STT: {exc.message}" + (f" -> {exc.action}" if exc.action else ""))
    try:
        from luminad.providers.llamacpp import resolve_gguf

        path = resolve_gguf(settings.embedded_model)
        report("llm", None, f"embedded model {path.name}")
        import llama_cpp  # noqa: F401

        report("llm", 1.0, "llama-cpp-python ok")
    except ImportError:
        failures.append("LLM: llama-cpp-python is not installed -> run ./install.sh")
    except LuminaError as exc:
        failures.append(f"LLM: {exc.message}" + (f" -> {exc.action}" if exc.action else ""))
    try:
        from luminad.providers.embeddings import MiniLmEmbedder

        MiniLmEmbedder().embed(["hello"])
        report("embeddings", 1.0, "embedding model ok")
    except LuminaError as exc:
        failures.append(f"embeddings: {exc.message}")
    for line in failures:
        print(f"error: {line}", file=sys.stderr)
    if not failures:
        print(f"models ready in {settings.models_cache_dir}", file=sys.stderr)
    return 1 if failures else 0


# ---------------------------------------------------------------------------------- health
async def _health_of(name: str, engine: object) -> EngineHealth:
    probe = getattr(engine, "health", None)
    if probe is None:
        return EngineHealth(ok=False, configured=False, reachable=False, detail="no engine")
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S):
            result: EngineHealth = await probe()
            return result
    except TimeoutError:
        return EngineHealth(
            ok=False,
            configured=True,
            reachable=False,
            detail=f"{name} health probe timed out",
            action="Run `lumina doctor` for details.",
        )
    except LuminaError as exc:
        return EngineHealth(
            ok=False, configured=True, reachable=False, detail=exc.message, action=exc.action
        )


async def _deep_llm(llm: ChatModel) -> dict[str, float]:
    t0 = time.perf_counter()
    first = 0.0
    n = 0
    messages = [ChatMessage("user", "Reply with one short sentence: what colour is the sky?")]
    async for _ in llm.stream_chat(messages, max_tokens=24):
        if n == 0:
            first = (time.perf_counter() - t0) * 1000
        n += 1
    total = (time.perf_counter() - t0) * 1000
    gen_s = max((total - first) / 1000, 1e-6)
    return {
        "llm_first_token_ms": round(first, 1),
        "llm_total_ms": round(total, 1),
        "llm_tokens": float(n),
        "llm_tokens_per_s": round((n - 1) / gen_s, 1) if n > 1 else 0.0,
    }


def _with_timings(h: EngineHealth, timings: dict[str, float], **changes: object) -> EngineHealth:
    return msgspec.structs.replace(h, timings_ms={**h.timings_ms, **timings}, **changes)


async def check_health(engines: Engines, *, deep: bool = False) -> protocol.Health:
    """Health of every engine (not the store: the API adds ``store`` from the core)."""
    named: dict[str, object] = {
        "stt": engines.stt,
        "llm": engines.llm,
        "tts": engines.tts,
        "embeddings": engines.embedder,
    }
    if engines.search is not None:
        named["search"] = engines.search
    results = await asyncio.gather(*(_health_of(n, e) for n, e in named.items()))
    health = dict(zip(named, results, strict=True))
    deep_wer: float | None = None
    if deep:
        try:
            async with asyncio.timeout(60):
                deep_wer, heard, t = await speak_and_listen(engines.stt, engines.tts)
            ok_stt = deep_wer <= MAX_VERIFY_WER
            health["tts"] = _with_timings(
                health["tts"], {k: v for k, v in t.items() if k.startswith("tts")}
            )
            health["stt"] = _with_timings(
                health["stt"],
                {"stt_ms": t["stt_ms"], "audio_ms": t["audio_ms"]},
                ok=health["stt"].ok and ok_stt,
                detail=f"{health['stt'].detail}; deep check heard {heard!r} (WER {deep_wer:.2f})",
                action=None
                if ok_stt
                else "Run `luminad prepare-models`, or set LUMINA_STT_MODEL=base.",
            )
        except (LuminaError, TimeoutError) as exc:
            health["stt"] = msgspec.structs.replace(
                health["stt"], ok=False, detail=f"deep check failed: {exc}",
                action="Run `lumina doctor` and `luminad prepare-models`.",
            )  # fmt: skip
        if health["llm"].ok:
            try:
                async with asyncio.timeout(60):
                    lt = await _deep_llm(engines.llm)
                health["llm"] = _with_timings(health["llm"], lt)
            except (LuminaError, TimeoutError) as exc:
                action = exc.action if isinstance(exc, LuminaError) else None
                health["llm"] = msgspec.structs.replace(
                    health["llm"], ok=False, detail=f"deep check failed: {exc}", action=action
                )
        t0 = time.perf_counter()
        await asyncio.to_thread(engines.embedder.embed, ["The deep health check embeds this."])
        health["embeddings"] = _with_timings(
            health["embeddings"], {"embed_ms": round((time.perf_counter() - t0) * 1000, 1)}
        )
    ok = all(h.ok for name, h in health.items() if name != "search")
    return protocol.Health(ok=ok, engines=health, deep_wer=deep_wer)
