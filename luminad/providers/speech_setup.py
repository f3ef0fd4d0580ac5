"""Loading the speech engines and checking them against each other.

Piper says :data:`CHECK_SENTENCE` and whisper must hear it: once per converted whisper model
(:func:`ensure_verified`, a cached stamp) and on every deep health check.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from luminad.errors import SttUnavailable
from luminad.providers.base import (
    STT_SAMPLE_RATE,
    ProgressFn,
    SpeechToText,
    TextToSpeech,
    no_progress,
)
from luminad.providers.blocking import run_blocking
from luminad.providers.wer import wer
from luminad.settings import Settings

#: What Piper says and whisper must hear, for model verification and the deep health check.
CHECK_SENTENCE = "The weather is lovely today, so let us go for a walk in the park."
#: Verification fails above this word error rate.
MAX_VERIFY_WER = 0.34


def _verify_stamp(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def verify_whisper(
    stt: SpeechToText, tts: TextToSpeech, *, sentence: str = CHECK_SENTENCE
) -> tuple[float, str, dict[str, float]]:
    """Piper says ``sentence``, whisper transcribes it: (WER, transcript, timings ms)."""
    return run_blocking(speak_and_listen(stt, tts, sentence))


async def speak_and_listen(
    stt: SpeechToText, tts: TextToSpeech, sentence: str = CHECK_SENTENCE
) -> tuple[float, str, dict[str, float]]:
    """Piper says ``sentence``, whisper transcribes it: (WER, transcript, timings ms)."""
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


def load_tts(settings: Settings) -> TextToSpeech:
    """The Piper voice of ``settings.tts_voice``."""
    from luminad.providers.piper import PiperTTS

    return PiperTTS(
        settings.tts_voice, voice_dirs=[settings.data_dir / "voices"], threads=settings.stt_threads
    )


def load_stt(settings: Settings, progress: ProgressFn = no_progress) -> SpeechToText:
    """whisper.cpp with the configured model (converted from the bundled weights if needed)."""
    from luminad.providers.whisper import WhisperSTT, ensure_ggml, whisper_source

    source = whisper_source(settings)
    path = ensure_ggml(source, progress)
    progress(f"stt:{source.name}", None, f"loading whisper {source.name}")
    return WhisperSTT(path, model=source.name, threads=settings.stt_threads)


def ensure_verified(
    settings: Settings, stt: SpeechToText, tts: TextToSpeech, progress: ProgressFn = no_progress
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
