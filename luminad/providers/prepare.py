"""``luminad prepare-models`` (run by install.sh): convert and verify whisper, assemble and
verify the embedded LLM's GGUF, check the other models load; progress on the console, an exit
code.
"""

from __future__ import annotations

import sys

from luminad.errors import LuminaError
from luminad.providers.base import ProgressFn, TextToSpeech, close_engine
from luminad.providers.speech_setup import ensure_verified, load_stt, load_tts
from luminad.settings import Settings


def _console_progress(stage: str, fraction: float | None, message: str) -> None:
    pct = f"{fraction * 100:3.0f}% " if fraction is not None else "     "
    print(f"[{stage:>14}] {pct}{message}", file=sys.stderr, flush=True)


def _failure(what: str, exc: LuminaError) -> str:
    return f"{what}: {exc.message}" + (f" -> {exc.action}" if exc.action else "")


def prepare_models(settings: Settings, progress: ProgressFn | None = None) -> int:
    """``luminad prepare-models``: convert + verify whisper, check the other models load.

    Idempotent and fast when everything is cached. Returns a process exit code.
    """
    report = progress or _console_progress
    failures: list[str] = []
    settings.models_cache_dir.mkdir(parents=True, exist_ok=True)
    tts: TextToSpeech | None = None
    try:
        report("tts", None, f"loading Piper voice {settings.tts_voice}")
        tts = load_tts(settings)
        report("tts", 1.0, "Piper voice ok")
    except LuminaError as exc:
        failures.append(_failure("TTS", exc))
    try:
        stt = load_stt(settings, report)
        if tts is not None:
            error = ensure_verified(settings, stt, tts, report)
            report("stt", 1.0, f"whisper ok (check WER {error:.2f})")
        close_engine(stt)
    except LuminaError as exc:
        failures.append(_failure("STT", exc))
    try:
        from luminad.providers.gguf_files import resolve_gguf

        report("llm", None, "checking the embedded model")
        path = resolve_gguf(settings.embedded_model, settings.models_cache_dir, report)
        report("llm", None, f"embedded model {path.name}")
        import llama_cpp  # noqa: F401

        report("llm", 1.0, "llama-cpp-python ok")
    except ImportError:
        failures.append("LLM: llama-cpp-python is not installed -> run ./install.sh")
    except LuminaError as exc:
        failures.append(_failure("LLM", exc))
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
