"""The health of every engine; ``deep`` also times each one on real work.

The deep check makes Piper say a fixed sentence and whisper transcribe it (word error rate),
streams a short LLM reply and embeds one sentence.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import msgspec

from luminad import protocol
from luminad.errors import LuminaError
from luminad.protocol import EngineHealth
from luminad.providers.base import ChatModel, stream_text
from luminad.providers.speech_setup import MAX_VERIFY_WER, speak_and_listen

if TYPE_CHECKING:
    from luminad.providers.registry import Engines

HEALTH_TIMEOUT_S = 5.0


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
    prompt = "Reply with one short sentence: what colour is the sky?"
    async for _ in stream_text(llm, prompt, max_tokens=24):
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
