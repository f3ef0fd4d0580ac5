"""Voice-loop benchmark: N spoken turns through the real pipeline, against a naive baseline
and the "limit".

Each turn streams espeak-ng speech (48 kHz) at real-time pace into a fresh
:class:`luminad.voice.session.VoiceSession` wired to the real engines (whisper.cpp, the
configured LLM, Piper) and store, followed by silence as a real client sends, until the turn's
``turn_timing`` arrives. Then, with the same engines and the same utterance:

* **naive sequential baseline**: wait for the endpoint (the hangover), transcribe the whole
  utterance, generate the whole reply, synthesize the whole reply: first audio only after all of
  it (what a simple record -> transcribe -> chat -> speak loop does);
* **limit**: the raw model times measured alone and summed: hangover + final STT pass + LLM
  time to the first speakable chunk (the chunker's first clause) + TTS of that chunk (no
  queues, no events, no sockets, no speculation).

Prints p50/p95 per stage and writes the table under ``## Voice loop`` in bench/RESULTS.md
(``--write``). Usage: ``.venv/bin/python bench/voice.py --turns 8 --write``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from luminad import protocol  # noqa: E402
from luminad.projections.timings import STAGES  # noqa: E402
from luminad.settings import load_settings  # noqa: E402

UTTERANCES = [
    "What is the weather like in Paris today?",
    "Can you suggest a good book to read?",
    "How do I make a cup of green tea?",
    "What time is it in Tokyo right now?",
    "Tell me a fun fact about octopuses.",
    "What should I cook for dinner tonight?",
    "How far away is the moon?",
    "Give me a tip for sleeping better.",
]
RATE = 48000
FRAME_MS = 20
BEAM = 1
PAUSE_MS = 0  # 0: the session's default


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    xs = sorted(values)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def speak(text: str, tmp: Path) -> np.ndarray:
    from tests.support.speech import speak_pcm16

    pcm = speak_pcm16(text, tmp, rate=RATE)
    loud = np.flatnonzero(np.abs(pcm) > 300)  # trim espeak's silence: the user's speech only
    return pcm[loud[0] : loud[-1] + 1] if loud.size else pcm


class Recorder:
    def __init__(self) -> None:
        self.items: list[tuple[float, Any]] = []

    async def __call__(self, item: Any) -> None:
        self.items.append((time.monotonic(), item))

    def of(self, cls: type) -> list[Any]:
        return [m for _, m in self.items if isinstance(m, cls)]


async def pipeline_turn(
    app: Any, engines: Any, settings: Any, speech: np.ndarray
) -> dict[str, Any]:
    from luminad.voice.session import VoiceSession

    rec = Recorder()
    if PAUSE_MS:
        VoiceSession.pause_ms = PAUSE_MS
    s = VoiceSession(app=app, engines=engines, settings=settings, send=rec)
    s.audio_lead_s = 1e9  # do not pace reply audio: the bench measures latency, not playback
    await s.start(protocol.Hello(client="bench", sample_rate=RATE))
    step = RATE * FRAME_MS // 1000
    lead = np.zeros(int(0.3 * RATE), dtype=np.int16)
    audio = np.concatenate([lead, speech])
    start = time.monotonic()
    n = 0

    async def feed(chunk: np.ndarray) -> None:
        nonlocal n
        await s.feed_audio(chunk.astype("<i2").tobytes())
        n += 1
        delay = start + n * FRAME_MS / 1000 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    for i in range(0, len(audio), step):
        await feed(audio[i : i + step])
    t_speech_end = time.monotonic()
    silence = np.zeros(step, dtype=np.int16)
    deadline = t_speech_end + 120
    while not rec.of(protocol.TurnTiming) and time.monotonic() < deadline:
        await feed(silence)
    partials = [t for t, m in rec.items if isinstance(m, protocol.PartialTranscript)]
    frames = [t for t, m in rec.items if isinstance(m, bytes)]
    await s.close()
    timing = rec.of(protocol.TurnTiming)
    finals = rec.of(protocol.FinalTranscript)
    done = rec.of(protocol.AssistantDone)
    t_speech_start = start + len(lead) / RATE
    return {
        "timing": timing[0] if timing else None,
        "final": finals[0].text if finals else "",
        "reply": done[0].text if done else "",
        "client_v2v_ms": 1000 * (frames[0] - t_speech_end) if frames else None,
        "partials_per_s": len([t for t in partials if t <= t_speech_end])
        / max(1e-3, t_speech_end - t_speech_start),
        "errors": [e.code for e in rec.of(protocol.Error)],
        "spec_started": s.speculative_started,
        "spec_dropped": s.speculative_dropped,
    }


async def baseline_and_limit(
    engines: Any, settings: Any, app: Any, speech: np.ndarray
) -> dict[str, float]:
    """Naive sequential loop and the raw model times, on the same utterance."""
    from luminad.agent.agent import ReplyContext, Responder
    from luminad.voice.audio import Resampler
    from luminad.voice.chunker import SentenceChunker
    from luminad.voice.respond import FIRST_CHUNK_MAX_WORDS

    hangover = float(settings.vad_hangover_ms)
    r = Resampler(RATE)
    audio16 = np.concatenate([r.process(speech), r.flush()])

    t0 = time.perf_counter()
    text = await engines.stt.transcribe(audio16, partial=False)
    stt_ms = 1000 * (time.perf_counter() - t0)

    avatar = app.get_avatar(app.default_avatar_id)
    ctx = ReplyContext(
        avatar=avatar, preferred_name=None, preferences={}, history=[], user_text=text
    )
    responder = Responder(engines.llm, None, max_tokens=settings.max_reply_tokens)
    t0 = time.perf_counter()
    first_token_ms: float | None = None
    reply = ""
    chunker = SentenceChunker(first_max_words=FIRST_CHUNK_MAX_WORDS)
    first_sentence = ""
    first_chunk_ms: float | None = None
    async for delta in responder.stream_reply(ctx):
        if first_token_ms is None:
            first_token_ms = 1000 * (time.perf_counter() - t0)
        reply += delta
        if not first_sentence:
            ready = chunker.add(delta)
            if ready:
                first_sentence = ready[0]
                first_chunk_ms = 1000 * (time.perf_counter() - t0)
    llm_full_ms = 1000 * (time.perf_counter() - t0)
    if not first_sentence:
        first_sentence = (chunker.finish() or [reply])[0]
        first_chunk_ms = llm_full_ms

    t0 = time.perf_counter()
    async for _ in engines.tts.synthesize(reply):
        pass
    tts_full_ms = 1000 * (time.perf_counter() - t0)

    t0 = time.perf_counter()
    agen = engines.tts.synthesize(first_sentence)
    async for _ in agen:
        break
    with contextlib.suppress(Exception):
        await agen.aclose()
    tts_first_ms = 1000 * (time.perf_counter() - t0)

    return {
        "naive_v2v_ms": hangover + stt_ms + llm_full_ms + tts_full_ms,
        "limit_v2v_ms": hangover + stt_ms + (first_chunk_ms or 0.0) + tts_first_ms,
        "raw_stt_ms": stt_ms,
        "raw_llm_first_token_ms": first_token_ms or 0.0,
        "raw_llm_first_chunk_ms": first_chunk_ms or 0.0,
        "raw_llm_full_ms": llm_full_ms,
        "raw_tts_first_ms": tts_first_ms,
        "raw_tts_full_ms": tts_full_ms,
    }


def fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.0f}"


async def run(turns: int) -> tuple[str, dict[str, Any]]:
    from luminad.app import open_lumina
    from luminad.providers.registry import load_engines
    from luminad.voice.session import VoiceSession

    home = Path(tempfile.mkdtemp(prefix="bench-voice-"))
    env = dict(os.environ)
    env["LUMINA_HOME"] = str(home)
    env.setdefault("LUMINA_CACHE_DIR", str(load_settings({}).cache_dir))
    env.setdefault("LUMINA_LLM", "embedded")
    settings = load_settings(env)
    engines = await asyncio.to_thread(load_engines, settings)  # it runs its own warm-up loop
    if hasattr(engines.stt, "beam_size"):
        engines.stt.beam_size = BEAM
    app = open_lumina(settings, engines.embedder)
    tmp = home / "speech"
    tmp.mkdir()
    rows: list[dict[str, Any]] = []
    try:
        # warm-up turn (first whisper/llama calls allocate buffers); not counted
        await pipeline_turn(app, engines, settings, speak(UTTERANCES[0], tmp))
        for i in range(turns):
            text = UTTERANCES[i % len(UTTERANCES)]
            speech = speak(text, tmp)
            p = await pipeline_turn(app, engines, settings, speech)
            b = await baseline_and_limit(engines, settings, app, speech)
            t = p["timing"]
            row = {"utterance": text, **p, **b}
            for k in STAGES:
                row[k] = getattr(t, k) if t is not None else None
            rows.append(row)
            print(
                f"turn {i + 1}/{turns}: v2v {fmt(row['voice_to_voice_ms'])} ms "
                f"(client {fmt(p['client_v2v_ms'])}), naive {fmt(b['naive_v2v_ms'])} ms, "
                f"limit {fmt(b['limit_v2v_ms'])} ms, partials {p['partials_per_s']:.1f}/s; "
                f"heard {p['final']!r}; errors {p['errors']}",
                flush=True,
            )
    finally:
        app.close()
        with contextlib.suppress(Exception):
            engines.close()

    def col(key: str) -> list[float]:
        return [float(r[key]) for r in rows if r.get(key) is not None]

    lines = [
        "| stage (ms) | p50 | p95 |",
        "|---|---:|---:|",
    ]
    for k in STAGES:
        lines.append(f"| {k} | {fmt(pct(col(k), 0.5))} | {fmt(pct(col(k), 0.95))} |")
    lines.append(
        f"| voice_to_voice_ms seen by the client | {fmt(pct(col('client_v2v_ms'), 0.5))} | "
        f"{fmt(pct(col('client_v2v_ms'), 0.95))} |"
    )
    lines += [
        "",
        "| comparison (ms) | p50 | p95 |",
        "|---|---:|---:|",
    ]
    for k, label in [
        ("voice_to_voice_ms", "pipeline: end of speech -> first audio"),
        ("naive_v2v_ms", "naive sequential: hangover + STT + full reply + full TTS"),
        ("limit_v2v_ms", "limit: hangover + STT + LLM first chunk + TTS first chunk"),
        ("raw_stt_ms", "raw final STT"),
        ("raw_llm_first_token_ms", "raw LLM first token"),
        ("raw_llm_first_chunk_ms", "raw LLM first speakable chunk (first clause)"),
        ("raw_llm_full_ms", "raw LLM full reply"),
        ("raw_tts_first_ms", "raw TTS first chunk"),
        ("raw_tts_full_ms", "raw TTS full reply"),
    ]:
        lines.append(f"| {label} | {fmt(pct(col(k), 0.5))} | {fmt(pct(col(k), 0.95))} |")
    v2v = pct(col("voice_to_voice_ms"), 0.5)
    naive = pct(col("naive_v2v_ms"), 0.5)
    limit = pct(col("limit_v2v_ms"), 0.5)
    stt_burst = getattr(getattr(engines.stt, "passes", None), "burst", "?")
    summary = {
        "turns": len(rows),
        "v2v_p50": v2v,
        "naive_p50": naive,
        "limit_p50": limit,
        "speedup_vs_naive": (naive / v2v) if v2v and naive else None,
        "overhead_vs_limit": ((v2v - limit) / limit) if v2v and limit else None,
        "partials_per_s": statistics.median(col("partials_per_s")) if rows else None,
        "spec_started": int(sum(col("spec_started"))),
        "spec_dropped": int(sum(col("spec_dropped"))),
        "pause_ms": PAUSE_MS or VoiceSession.pause_ms,
        "load": os.getloadavg(),
        "llm": getattr(engines.llm, "name", "?") + ":" + getattr(engines.llm, "model", "?"),
        "stt": settings.stt_model,
        "hangover_ms": settings.vad_hangover_ms,
        "max_reply_tokens": settings.max_reply_tokens,
        "final": (f"beam {BEAM}" if BEAM > 1 else "greedy with temperature fallback")
        + f", {stt_burst} threads when the machine is quiet",
    }
    return "\n".join(lines), summary


def section(table: str, s: dict[str, Any]) -> str:
    def f(v: Any, spec: str = ".0f") -> str:
        return "—" if v is None else format(v, spec)

    load = ", ".join(f"{x:.1f}" for x in s["load"])
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    over = s["overhead_vs_limit"]
    over_pct = f(100 * over if over is not None else None, "+.0f")
    return (
        "## Voice loop\n\n"
        f"`bench/voice.py --turns {s['turns']}` ({when}): "
        f"{s['turns']} spoken turns (espeak-ng, 48 kHz, real-time pace) through VoiceSession with "
        f"the real engines (STT {s['stt']}, LLM {s['llm']}, Piper joe; max_reply_tokens "
        f"{s['max_reply_tokens']}; final STT pass: {s['final']}), hangover {s['hangover_ms']} ms; "
        "the naive baseline and the "
        f"limit measured in the same run on the same utterances. Load average at the end: {load} "
        "(2 cores, shared with other test runs).\n\n"
        f"{table}\n\n"
        f"- voice-to-voice p50 **{f(s['v2v_p50'])} ms** (target ≤ 700 ms incl. endpointing); "
        f"first audio **{f(s['speedup_vs_naive'], '.1f')}×** sooner than the naive loop "
        f"(target ≥ 3×); pipeline vs limit: **{over_pct} %** "
        "(target ≤ +10 %; negative = the speculative start during the hangover beats the "
        "sequential sum).\n"
        f"- partial transcripts while speaking: median {f(s['partials_per_s'], '.1f')}/s.\n"
        f"- speculative start after {s['pause_ms']} ms of silence: {s['spec_started']} started, "
        f"{s['spec_dropped']} dropped because the user went on speaking.\n"
    )


def write_results(text: str) -> None:
    path = ROOT / "bench" / "RESULTS.md"
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(r"^## Voice loop\n.*?(?=^## |\Z)", re.S | re.M)
    new = pattern.sub(text + "\n", old) if pattern.search(old) else old.rstrip() + "\n\n" + text
    path.write_text(new)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--turns", type=int, default=8)
    ap.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    ap.add_argument(
        "--beam", type=int, default=1, help="final STT pass: beam size (1 = greedy + fallback)"
    )
    ap.add_argument(
        "--pause-ms", type=int, default=0, help="silence before the speculative start (0: default)"
    )
    args = ap.parse_args()
    global BEAM, PAUSE_MS
    BEAM = args.beam
    PAUSE_MS = args.pause_ms
    table, summary = asyncio.run(run(args.turns))
    text = section(table, summary)
    print()
    print(text)
    if args.write:
        write_results(text)
        print("written to bench/RESULTS.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
