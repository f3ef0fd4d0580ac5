"""Engine benchmarks: STT, TTS, LLM (per provider) and embeddings, printed as Markdown tables.

    .venv/bin/python bench/engines.py            # everything (takes a few minutes on 2 cores)
    .venv/bin/python bench/engines.py --write    # also update `## Engines` in bench/RESULTS.md
    .venv/bin/python bench/engines.py --only stt,tts --reps 3

STT: real-time factor and latency for ~2 s / 5 s / 10 s utterances (Piper speech resampled to
16 kHz), tiny.en and base, the partial pass (greedy) and the final pass (greedy with whisper's
temperature fallback), each on the threads the daemon gives it; each model as the daemon
converts it (8-bit Q8_0 matrices) and with float16 matrices, runs interleaved. TTS: time to
first chunk and RTF. LLM: time to first token and tokens/s for the embedded model, an
Ollama-API server (tests/support/ollama_server.py, backed by the embedded model) and the
OpenAI-compatible llama_cpp.server with the same GGUF. Embeddings: ms per sentence (single and
batched).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import soxr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import publish  # noqa: E402
from luminad.providers.base import ChatModel, stream_text  # noqa: E402
from luminad.providers.ggml_convert import convert_ct2_to_ggml  # noqa: E402
from luminad.providers.piper import PiperTTS  # noqa: E402
from luminad.providers.wer import wer  # noqa: E402
from luminad.providers.whisper import WhisperSTT, ensure_ggml, whisper_source  # noqa: E402
from luminad.settings import load_settings  # noqa: E402

UTTERANCES = {
    "2 s": "Please turn on the kitchen lights now.",
    "5 s": (
        "Please remind me to call my sister tomorrow afternoon about the birthday party "
        "on Saturday evening."
    ),
    "10 s": (
        "I would like to plan a trip to the mountains next weekend with two good friends, "
        "so could you find a quiet place to stay near the lake and suggest a few easy walks "
        "that we can do together in the afternoon?"
    ),
}
TTS_TEXTS = {
    "1 sentence": "Sure, I have set a timer for ten minutes.",
    "3 sentences": (
        "Good morning! The weather today is sunny with a light breeze. "
        "You have two meetings this afternoon, the first one at two o'clock."
    ),
}
LLM_SYSTEM = "You are Lumina, a friendly personal assistant."
LLM_TOPICS = ["a lighthouse keeper", "a clockmaker", "a lost kitten", "a mountain guide", "a baker"]
NO_EOS = {0: -100.0, 2: -100.0}  # SmolLM2: run every benchmark generation to max_tokens


def med(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


# --------------------------------------------------------------------------------- STT
def piper_pcm16k(tts: PiperTTS, text: str) -> np.ndarray:
    chunk = tts.synthesize_sentence_sync(text.replace(". ", ", "))  # one chunk, no pause
    audio = np.frombuffer(chunk.pcm, dtype="<i2").astype(np.float32) / 32768
    return np.asarray(
        np.clip(soxr.resample(audio, chunk.sample_rate, 16000) * 32768, -32768, 32767),
        dtype=np.int16,
    )


def time_passes(
    engines: dict[str, WhisperSTT], pcm: np.ndarray, text: str, partial: bool, reps: int
) -> dict[str, tuple[float, float, list[str]]]:
    """Per engine: median latency (s), median WER and what a badly heard pass heard; the
    engines' runs interleaved so the machine's drift falls alike on each."""
    times: dict[str, list[float]] = {k: [] for k in engines}
    errs: dict[str, list[float]] = {k: [] for k in engines}
    misheard: dict[str, list[str]] = {k: [] for k in engines}
    for _ in range(reps):
        for kind, stt in engines.items():
            t0 = time.perf_counter()
            hyp = stt.transcribe_sync(pcm, partial=partial)
            times[kind].append(time.perf_counter() - t0)
            errs[kind].append(wer(text, hyp))
            if errs[kind][-1] > 0.25:
                misheard[kind].append(hyp)
    return {k: (med(times[k]), med(errs[k]), misheard[k]) for k in engines}


def bench_stt(reps: int, log: Callable[[str], None]) -> str:
    """Each model as the daemon converts it (matrices in Q8_0) against the same weights with
    float16 matrices (whisper.cpp's own converter's output), their runs interleaved."""
    settings = load_settings({})
    tts = PiperTTS()
    clips = {k: (v, piper_pcm16k(tts, v)) for k, v in UTTERANCES.items()}
    rows = []
    ratios: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for model in ("tiny.en", "base"):
            source = whisper_source(settings.replace(stt_model=model))
            assert source.vocabulary is not None
            f16 = convert_ct2_to_ggml(
                source.ct2_parts, source.vocabulary, Path(tmp, f"{model}-f16.bin"), matrices="f16"
            )
            engines = {
                "q8_0": WhisperSTT(ensure_ggml(source), model=model, threads=settings.stt_threads),
                "f16": WhisperSTT(f16, model=model, threads=settings.stt_threads),
            }
            for stt in engines.values():
                stt.transcribe_sync(clips["2 s"][1])  # warm up
            for (label, (text, pcm)), partial in itertools.product(clips.items(), (True, False)):
                dur = len(pcm) / 16000
                timed = time_passes(engines, pcm, text, partial, reps)
                decode = "partial (greedy" if partial else "final (greedy with fallback"
                mode = f"{decode}, {engines['q8_0'].last_threads} threads)"
                for kind, (lat, err, misheard) in timed.items():
                    rows.append(
                        (
                            model,
                            kind,
                            label,
                            f"{dur:.1f}",
                            mode,
                            f"{lat * 1000:.0f}",
                            f"{lat / dur:.2f}",
                            f"{err:.2f}",
                        )
                    )
                    log(f"stt {model} {kind} {label} {mode}: {lat * 1000:.0f} ms")
                    for hyp in misheard:
                        log(f"stt {model} {kind} {label} heard {hyp!r}")
                ratios.setdefault(model, []).append(timed["q8_0"][0] / timed["f16"][0])
            for stt in engines.values():
                stt.close()
    headers = ("model", "matrices", "utterance", "audio s", "pass", "latency ms", "RTF", "WER")
    summary = [
        f"- {model}: Q8_0 latency / f16 latency, median over the {len(r)} clip-and-pass rows: "
        f"{med(r):.2f} (range {min(r):.2f}-{max(r):.2f})."
        for model, r in ratios.items()
    ]
    return table(headers, rows) + "\n\n" + "\n".join(summary)


# --------------------------------------------------------------------------------- TTS
def bench_tts(reps: int, log: Callable[[str], None]) -> str:
    tts = PiperTTS()

    async def one(text: str) -> tuple[float, float, float]:
        t0 = time.perf_counter()
        first = 0.0
        audio = 0.0
        async for chunk in tts.synthesize(text):
            if not audio:
                first = time.perf_counter() - t0
            audio += chunk.duration_s
        return first, time.perf_counter() - t0, audio

    asyncio.run(one("Warm up."))
    rows = []
    for label, text in TTS_TEXTS.items():
        runs = [asyncio.run(one(text)) for _ in range(reps)]
        first, total, audio = med([r[0] for r in runs]), med([r[1] for r in runs]), runs[0][2]
        rows.append(
            (
                label,
                f"{audio:.1f}",
                f"{first * 1000:.0f}",
                f"{total * 1000:.0f}",
                f"{total / audio:.3f}",
            )
        )
        log(f"tts {label}: first chunk {first * 1000:.0f} ms")
    return table(("text", "audio s", "first chunk ms", "total ms", "RTF"), rows)


# --------------------------------------------------------------------------------- LLM
_calls = 0


async def time_reply(
    llm: ChatModel, prompt: str, *, max_tokens: int, system: str
) -> tuple[float, int, float]:
    """One request: (seconds to the first token, tokens, tokens per second after it)."""
    t0 = time.perf_counter()
    first = 0.0
    n = 0
    async for _ in stream_text(llm, prompt, max_tokens=max_tokens, system=system):
        if n == 0:
            first = time.perf_counter() - t0
        n += 1
    total = time.perf_counter() - t0
    return first, n, (n - 1) / max(total - first, 1e-6)


async def measure_llm(llm: ChatModel, max_tokens: int) -> tuple[float, int, float]:
    """A new user question each call (the system prompt's KV cache may be reused, as in a chat)."""
    global _calls
    _calls += 1
    topic = LLM_TOPICS[_calls % len(LLM_TOPICS)]
    prompt = f"Tell me a short story about {topic} (#{_calls})."
    return await time_reply(llm, prompt, max_tokens=max_tokens, system=LLM_SYSTEM)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_llm(reps: int, max_tokens: int, log: Callable[[str], None]) -> str:
    import httpx

    from luminad.providers.gguf_files import smollm2_path
    from luminad.providers.llamacpp import EmbeddedLLM
    from luminad.providers.ollama import OllamaLLM
    from luminad.providers.openai_compat import OpenAICompatLLM
    from luminad.providers.threads import engine_threads
    from tests.support.ollama_server import OllamaStub

    threads = engine_threads(load_settings({}).stt_threads)
    embedded = EmbeddedLLM(smollm2_path(), threads=threads)
    embedded.logit_bias = NO_EOS
    rows = []

    def run(name: str, llm: ChatModel) -> None:
        asyncio.run(measure_llm(llm, 8))  # warm up
        runs = [asyncio.run(measure_llm(llm, max_tokens)) for _ in range(reps)]
        first = med([r[0] for r in runs])
        tps = med([r[2] for r in runs])
        rows.append((name, llm.model, f"{first * 1000:.0f}", f"{tps:.1f}", runs[0][1]))
        log(f"llm {name}: first token {first * 1000:.0f} ms, {tps:.1f} tok/s")

    run("embedded (llama.cpp in-process)", embedded)
    with OllamaStub(embedded) as stub:
        run("ollama API (local stub server)", OllamaLLM(stub.url, "llama3.2"))
    embedded.close()

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_path()),
         "--model_alias", "smollm2", "--host", "127.0.0.1", "--port", str(port),
         "--n_threads", str(threads), "--n_threads_batch", str(threads), "--n_ctx", "4096"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
            if time.monotonic() > deadline:
                raise RuntimeError("llama_cpp.server did not start")
        run(
            "openai (llama_cpp.server)",
            OpenAICompatLLM(url, "smollm2", extra_body={"logit_bias": {"0": -100, "2": -100}}),
        )
    finally:
        proc.terminate()
        proc.wait(10)
    return table(("provider", "model", "first token ms", "tokens/s", "tokens"), rows)


# --------------------------------------------------------------------------------- embeddings
def bench_embeddings(reps: int, log: Callable[[str], None]) -> str:
    from luminad.providers.embeddings import MiniLmEmbedder

    emb = MiniLmEmbedder()
    sentences = [f"My sister Ana lives in city number {i} and likes green tea." for i in range(32)]
    emb.embed(sentences[:2])
    single, batch = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        for s in sentences[:8]:
            emb.embed([s])
        single.append((time.perf_counter() - t0) / 8)
        t0 = time.perf_counter()
        emb.embed(sentences)
        batch.append((time.perf_counter() - t0) / len(sentences))
    log(f"embeddings: {med(single) * 1000:.1f} ms single")
    return table(
        ("mode", "ms / sentence"),
        [
            ("one at a time", f"{med(single) * 1000:.1f}"),
            ("batch of 32", f"{med(batch) * 1000:.1f}"),
        ],
    )


# --------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--only", default="stt,tts,llm,embeddings")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--write", action="store_true", help="update `## Engines` in bench/RESULTS.md")
    args = ap.parse_args(argv)
    only = set(args.only.split(","))

    def log(msg: str) -> None:
        print(f"  .. {msg}", file=sys.stderr, flush=True)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    parts = [
        "## Engines",
        "",
        f"`bench/engines.py --reps {args.reps}` on {platform.machine()}, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average at start {load:.1f}.",
        "Each engine runs alone, with the threads the daemon gives it (STT: as printed per pass;",
        "TTS, LLM: `engine_threads()`, half the cores). STT clips are",
        "Piper speech resampled to 16 kHz; each whisper model runs as the daemon converts it",
        "(Q8_0: 8-bit matrices) and with float16 matrices, interleaved; the final pass retries a",
        "derailed decode with a wider window (counted in its latency). LLM runs ban end-of-turn",
        "tokens so every run writes the full token count; first-token time includes prompt",
        "evaluation of a new question.",
    ]
    if "stt" in only:
        parts += [
            "",
            "### Speech-to-text (whisper.cpp, audio context sized to the clip)",
            "",
            bench_stt(args.reps, log),
        ]
    if "tts" in only:
        parts += [
            "",
            "### Text-to-speech (Piper, en_US-joe-medium, 22,050 Hz)",
            "",
            bench_tts(args.reps, log),
        ]
    if "llm" in only:
        parts += [
            "",
            f"### LLM (SmolLM2-135M-Instruct Q4_1, {args.max_tokens} tokens)",
            "",
            bench_llm(args.reps, args.max_tokens, log),
        ]
    if "embeddings" in only:
        parts += [
            "",
            "### Embeddings (all-MiniLM-L6-v2 int8)",
            "",
            bench_embeddings(args.reps, log),
        ]
    publish("Engines", "\n".join(parts) + "\n", write=args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
